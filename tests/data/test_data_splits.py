"""Splits: partitions, seeded determinism, leave-last takes the latest, every user keeps a training item."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from graphrec.data.splits import carve_validation, split_leave_last, split_random, split_temporal
from graphrec.errors import DataError
from graphrec.seeding import numpy_rng


def _interactions(seed: int = 0, num_users: int = 60) -> pd.DataFrame:
    rng = numpy_rng(seed, 5)
    counts = rng.integers(1, 15, num_users)
    users = np.repeat(np.arange(num_users), counts)
    items = np.concatenate([rng.choice(40, size=c, replace=False) for c in counts])
    return pd.DataFrame({"user_id": users, "item_id": items, "timestamp": rng.permutation(len(users)) * 10})


def _pairs(df: pd.DataFrame) -> set[tuple[int, int]]:
    return set(zip(df["user_id"], df["item_id"], strict=True))


def _check_partition(df: pd.DataFrame, kept: pd.DataFrame, out: pd.DataFrame) -> None:
    assert len(kept) + len(out) == len(df)
    assert _pairs(kept).isdisjoint(_pairs(out))
    assert _pairs(kept) | _pairs(out) == _pairs(df)
    assert set(kept["user_id"]) == set(df["user_id"]), "every user keeps at least one training item"


def test_split_random_properties() -> None:
    df = _interactions()
    train, test = split_random(df, 0.3, numpy_rng(1))
    _check_partition(df, train, test)
    sizes = df.groupby("user_id").size()
    held = test.groupby("user_id").size().reindex(sizes.index, fill_value=0)
    assert (held[sizes == 1] == 0).all(), "single-interaction users keep it in train"
    assert (held <= np.floor(sizes * 0.3 + 0.5)).all()
    assert abs(len(test) / len(df) - 0.3) < 0.06
    assert set(df["item_id"]) == set(train["item_id"]), "no item leaves training entirely"


def test_split_random_is_seeded() -> None:
    df = _interactions()
    first = split_random(df, 0.2, numpy_rng(3))[1]
    again = split_random(df, 0.2, numpy_rng(3))[1]
    other = split_random(df, 0.2, numpy_rng(4))[1]
    pd.testing.assert_frame_equal(first, again)
    assert _pairs(first) != _pairs(other)


def test_leave_last_takes_the_latest() -> None:
    df = _interactions()
    train, test = split_leave_last(df, 2)
    _check_partition(df, train, test)
    for user, group in df.groupby("user_id"):
        n_test = min(2, len(group) - 1)
        latest = set(group.nlargest(n_test, "timestamp")["item_id"]) if n_test else set()
        assert set(test.loc[test["user_id"] == user, "item_id"]) == latest


def test_leave_last_ties_prefer_later_rows() -> None:
    df = pd.DataFrame({"user_id": [1, 1, 1], "item_id": [7, 8, 9], "timestamp": [5, 5, 5]})
    _, test = split_leave_last(df, 1)
    assert test["item_id"].tolist() == [9]


def test_temporal_needs_timestamps() -> None:
    df = _interactions().drop(columns="timestamp")
    for call in (
        lambda: split_leave_last(df, 1),
        lambda: split_temporal(df, 0.8),
        lambda: carve_validation(df, 0.1, numpy_rng(0), temporal=True),
    ):
        fix = "set data.timestamp_col to the timestamp column or choose split='random'"
        with pytest.raises(DataError, match=re.escape(fix)):
            call()


def test_temporal_global_cut() -> None:
    df = _interactions()
    train, test = split_temporal(df, 0.75)
    assert len(train) + len(test) == len(df)
    assert train["timestamp"].max() < test["timestamp"].min()
    assert abs(len(test) / len(df) - 0.25) < 0.02


@pytest.mark.parametrize("temporal", [False, True])
def test_carve_validation(temporal: bool) -> None:
    df = _interactions()
    train, valid = carve_validation(df, 0.25, numpy_rng(9), temporal=temporal)
    _check_partition(df, train, valid)
    again = carve_validation(df, 0.25, numpy_rng(9), temporal=temporal)[1]
    pd.testing.assert_frame_equal(valid, again)
    if temporal:
        for user, group in valid.groupby("user_id"):
            assert group["timestamp"].min() > train.loc[train["user_id"] == user, "timestamp"].max()


def test_zero_ratio_holds_nothing_out() -> None:
    df = _interactions()
    train, valid = carve_validation(df, 0.0, numpy_rng(0))
    assert len(valid) == 0 and len(train) == len(df)
