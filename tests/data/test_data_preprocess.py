"""Cleaning steps: every removal counted; k-core against a slow reference."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from graphrec.data.preprocess import deduplicate, kcore, to_implicit
from graphrec.errors import DataError
from graphrec.seeding import numpy_rng


def _reference_kcore(df: pd.DataFrame, min_user: int, min_item: int) -> set[tuple[int, int]]:
    rows = set(zip(df["user_id"], df["item_id"], strict=True))
    while True:
        users: dict[int, int] = {}
        items: dict[int, int] = {}
        for u, i in rows:
            users[u] = users.get(u, 0) + 1
            items[i] = items.get(i, 0) + 1
        kept = {(u, i) for u, i in rows if users[u] >= min_user and items[i] >= min_item}
        if kept == rows:
            return rows
        rows = kept


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("min_user,min_item", [(2, 2), (3, 5), (5, 1), (1, 4)])
def test_kcore_matches_reference(seed: int, min_user: int, min_item: int) -> None:
    rng = numpy_rng(seed)
    pairs = {(int(u), int(i)) for u, i in zip(rng.zipf(1.6, 400) % 60, rng.zipf(1.4, 400) % 80, strict=True)}
    df = pd.DataFrame(sorted(pairs), columns=["user_id", "item_id"])
    result, removed = kcore(df, min_user, min_item)
    assert set(zip(result["user_id"], result["item_id"], strict=True)) == _reference_kcore(df, min_user, min_item)
    assert removed == len(df) - len(result)
    if len(result):
        assert result.groupby("user_id").size().min() >= min_user
        assert result.groupby("item_id").size().min() >= min_item


def test_kcore_disabled_keeps_everything() -> None:
    df = pd.DataFrame({"user_id": [1, 2], "item_id": [3, 4]})
    result, removed = kcore(df, 0, 1)
    assert removed == 0 and len(result) == 2


def test_deduplicate_keeps_latest_and_counts() -> None:
    df = pd.DataFrame({"user_id": [1, 1, 2, 1, 2], "item_id": [5, 5, 5, 5, 6], "timestamp": [30, 10, 1, 20, 2]})
    result, removed = deduplicate(df)
    assert removed == 2
    assert result.to_dict("list") == {"user_id": [1, 2, 2], "item_id": [5, 5, 6], "timestamp": [30, 1, 2]}


def test_deduplicate_without_timestamps() -> None:
    df = pd.DataFrame({"user_id": ["a", "a", "a", "b"], "item_id": ["x", "y", "x", "x"]})
    result, removed = deduplicate(df)
    assert removed == 1 and len(result) == 3
    assert not result.duplicated(["user_id", "item_id"]).any()


def test_to_implicit_threshold_and_counts() -> None:
    df = pd.DataFrame({"user_id": [1, 1, 2], "item_id": [1, 2, 3], "rating": [4.0, 3.0, 5.0]})
    result, removed = to_implicit(df, 4.0)
    assert removed == 1 and result["rating"].tolist() == [4.0, 5.0]
    same, none_removed = to_implicit(df, None)
    assert none_removed == 0 and len(same) == 3
    with pytest.raises(DataError, match=re.escape("set data.rating_col")):
        to_implicit(df.drop(columns="rating"), 4.0)
    assert np.isfinite(result["rating"]).all()
