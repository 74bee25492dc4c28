"""Synthetic generator: deterministic, planted communities, LightGCN files that read back."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from graphrec.data import generate_demo_dir, generate_interactions
from graphrec.data.readers import read_lightgcn_txt
from graphrec.data.synthetic import write_lightgcn_dir


def test_generator_is_deterministic() -> None:
    first, again = generate_interactions(seed=3), generate_interactions(seed=3)
    pd.testing.assert_frame_equal(first, again)
    assert not first.equals(generate_interactions(seed=4))


def test_generator_shape() -> None:
    df = generate_interactions(num_users=50, num_items=40, interactions_per_user=7, seed=1)
    assert len(df) == 350 and list(df.columns) == ["user_id", "item_id", "timestamp"]
    assert (df.groupby("user_id").size() == 7).all()
    assert not df.duplicated(["user_id", "item_id"]).any()
    assert df["item_id"].between(0, 39).all()
    assert (df.groupby("user_id")["timestamp"].diff().dropna() > 0).all()
    assert "timestamp" not in generate_interactions(num_users=5, with_timestamps=False).columns


def test_planted_communities() -> None:
    df = generate_interactions(seed=0)
    users, items = np.asarray(df.attrs["user_community"]), np.asarray(df.attrs["item_community"])
    within = np.mean(users[df["user_id"]] == items[df["item_id"]])
    assert within > 0.8  # noise 0.1: most interactions fall inside the user's community
    assert (
        np.mean(generate_interactions(seed=0, noise=1.0).pipe(lambda f: users[f["user_id"]] == items[f["item_id"]]))
        < 0.4
    )
    counts = np.bincount(df["item_id"], minlength=300)
    assert counts.max() > 3 * np.median(counts)  # popularity skew inside communities


def test_write_lightgcn_dir_round_trip(tmp_path: Path) -> None:
    train = pd.DataFrame({"user_id": [2, 0, 2, 0], "item_id": [5, 1, 3, 9]})
    test = pd.DataFrame({"user_id": [0], "item_id": [4]})
    write_lightgcn_dir(train, test, tmp_path, df_valid=test)
    assert (tmp_path / "train.txt").read_text() == "0 1 9\n2 5 3\n"
    assert (tmp_path / "test.txt").read_text() == "0 4\n"
    assert (tmp_path / "valid.txt").is_file()
    back = read_lightgcn_txt(tmp_path / "train.txt")
    assert back.to_dict("list") == {"user_id": [0, 0, 2, 2], "item_id": [1, 9, 5, 3]}


def test_demo_dir_is_deterministic(tmp_path: Path) -> None:
    a, b = generate_demo_dir(tmp_path / "a", seed=5), generate_demo_dir(tmp_path / "b", seed=5)
    for name in ("train.txt", "test.txt"):
        assert (a / name).read_text() == (b / name).read_text()
    train, test = read_lightgcn_txt(a / "train.txt"), read_lightgcn_txt(a / "test.txt")
    assert len(train) + len(test) == 500 * 20
    assert abs(len(test) / 10_000 - 0.2) < 0.02
