"""load_dataset: given directories, single interaction files, unseen policy, stats and error wording."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from graphrec.data import DataConfig, Dataset, generate_demo_dir, generate_interactions, load_dataset
from graphrec.errors import ConfigError, DataError, DataFileNotFoundError

DIR_HINT = "a data directory holds train.txt and test.txt (and optionally valid.txt) in the LightGCN format"


def _check_matrices(ds: Dataset) -> None:
    for name in ("train", "valid", "test"):
        matrix = ds.split(name)
        assert isinstance(matrix, sp.csr_matrix) and matrix.dtype == np.float32
        assert matrix.shape == (ds.num_users, ds.num_items)
        assert matrix.has_sorted_indices and matrix.has_canonical_format
        assert np.all(matrix.data == 1.0)
    assert ds.train.multiply(ds.valid).nnz == 0 and ds.train.multiply(ds.test).nnz == 0
    assert np.all(np.diff(ds.train.indptr) >= 1), "every user has a training item"
    stats = ds.stats
    assert (stats["num_users"], stats["num_items"]) == (ds.num_users, ds.num_items)
    assert (stats["num_train"], stats["num_valid"], stats["num_test"]) == (ds.train.nnz, ds.valid.nnz, ds.test.nnz)


def _write(path: Path, lines: list[str]) -> None:
    path.write_text("\n".join(lines) + "\n")


def test_load_generated_lightgcn_dir(tmp_path: Path) -> None:
    generate_demo_dir(tmp_path, seed=0)
    ds = load_dataset(DataConfig(path=str(tmp_path)), seed=1)
    _check_matrices(ds)
    assert ds.user_ids.ids == list(range(ds.num_users)), "integer ids 0..n-1 map to themselves"
    assert ds.num_users == 500 and ds.valid.nnz > 0
    assert ds.train.nnz + ds.valid.nnz + ds.test.nnz == 10_000 - ds.stats["unseen"]["test"]["rows"]
    again = load_dataset(DataConfig(path=str(tmp_path)), seed=1)
    assert (again.valid != ds.valid).nnz == 0, "validation carve is seeded"
    other = load_dataset(DataConfig(path=str(tmp_path), seed=2), seed=1)
    assert (other.valid != ds.valid).nnz > 0, "data.seed overrides the run seed"


def test_given_valid_file_duplicates_and_overlap(tmp_path: Path) -> None:
    _write(tmp_path / "train.txt", ["0 0 1 1 2", "1 2 3", "2 0 3"])
    _write(tmp_path / "valid.txt", ["0 3", "1 0"])
    _write(tmp_path / "test.txt", ["0 2 3", "2 1 1"])
    ds = load_dataset(DataConfig(path=str(tmp_path)), seed=0)
    _check_matrices(ds)
    assert ds.stats["duplicates"] == 1
    assert ds.stats["heldout_overlap_train"] == {"valid": 0, "test": 1}  # test (0, 2) is a training positive
    assert ds.stats["heldout_duplicates"] == {"valid": 0, "test": 1}
    assert ds.valid.toarray().tolist() == [[0, 0, 0, 1], [1, 0, 0, 0], [0, 0, 0, 0]]
    assert ds.test.toarray().tolist() == [[0, 0, 0, 1], [0, 0, 0, 0], [0, 1, 0, 0]]


def test_unseen_drop_counts_and_warns(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    _write(tmp_path / "train.txt", ["0 0 1", "1 1 2"])
    _write(tmp_path / "valid.txt", ["0 2"])
    _write(tmp_path / "test.txt", ["0 2 7", "1 0", "5 1 8", "6 9"])
    with caplog.at_level(logging.WARNING, logger="graphrec.data.loading"):
        ds = load_dataset(DataConfig(path=str(tmp_path), unseen_policy="drop"), seed=0)
    assert ds.stats["unseen"] == {
        "valid": {"rows": 0, "users": 0, "items": 0},
        "test": {"rows": 4, "users": 2, "items": 3},
    }
    assert ds.test.nnz == 2 and ds.num_items == 3 and ds.unseen is None
    assert any("test.txt: dropped 4 of 6 rows" in r.getMessage() for r in caplog.records)


def test_unseen_miss_is_the_default_and_keeps_the_pairs(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    _write(tmp_path / "train.txt", ["0 0 1", "1 1 2"])
    _write(tmp_path / "valid.txt", ["0 2"])
    _write(tmp_path / "test.txt", ["0 2 7", "1 0", "5 1 8", "6 9", "6 9"])
    with caplog.at_level(logging.INFO, logger="graphrec.data.loading"):
        ds = load_dataset(DataConfig(path=str(tmp_path)), seed=0)
    assert ds.stats["unseen"]["test"] == {"rows": 5, "users": 2, "items": 3} and ds.stats["unseen_policy"] == "miss"
    assert ds.test.nnz == 2 and ds.num_items == 3  # the matrices hold what training knows
    assert ds.unseen is not None and ds.unseen["valid"][0].size == 0
    users, items = ds.unseen["test"]
    distinct_pairs = sorted(zip(users.tolist(), items.tolist(), strict=True))
    assert distinct_pairs == [(0, 7), (5, 1), (5, 8), (6, 9)]
    assert any("test.txt: kept as misses 5 of 7 rows" in r.getMessage() for r in caplog.records)


def test_unseen_error_names_file_count_and_id(tmp_path: Path) -> None:
    _write(tmp_path / "train.txt", ["0 0 1", "1 1 2"])
    _write(tmp_path / "test.txt", ["0 2 7", "1 0 8"])
    with pytest.raises(DataError) as err:
        load_dataset(DataConfig(path=str(tmp_path), unseen_policy="error"), seed=0)
    assert str(err.value) == (
        "test.txt: 2 rows name users or items never seen in training (first: item id 7); "
        'set data.unseen_policy = "miss" to count them as misses (or "drop" to drop them), or fix the split'
    )


def test_missing_directory_and_files(tmp_path: Path) -> None:
    with pytest.raises(DataFileNotFoundError) as err:
        load_dataset(DataConfig(path=str(tmp_path / "nope")), seed=0)
    assert str(err.value) == f"data directory '{tmp_path / 'nope'}' does not exist; {DIR_HINT}"
    _write(tmp_path / "train.txt", ["0 1"])
    with pytest.raises(DataFileNotFoundError) as err:
        load_dataset(DataConfig(path=str(tmp_path)), seed=0)
    assert str(err.value) == f"directory '{tmp_path}' has no test.txt; {DIR_HINT}"


def test_no_source_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"set data.path .* or set data.interactions"):
        load_dataset(DataConfig(), seed=0)


@pytest.mark.parametrize("split", ["auto", "random", "leave_last", "temporal"])
def test_load_interactions_file(tmp_path: Path, split: str) -> None:
    frame = generate_interactions(num_users=80, num_items=60, interactions_per_user=10, seed=2)
    frame["rating"] = np.where(np.arange(len(frame)) % 7 == 0, 1.0, 5.0)
    frame = pd.concat([frame, frame.iloc[:5]])  # five duplicate rows
    path = tmp_path / "ratings.csv"
    frame.to_csv(path, index=False)
    config = DataConfig(interactions=str(path), split=split, rating_threshold=3.0, min_user_interactions=3)
    ds = load_dataset(config, seed=0)
    _check_matrices(ds)
    assert ds.stats["implicit_dropped"] == int((frame["rating"] < 3).sum())
    assert ds.stats["duplicates"] == int(frame[frame["rating"] >= 3].duplicated(["user_id", "item_id"]).sum())
    assert ds.stats["split"] == ("user_temporal" if split == "auto" else split)  # the file has timestamps
    dropped = sum(v["rows"] for v in ds.stats["unseen"].values())
    assert ds.train.nnz + ds.valid.nnz + ds.test.nnz + dropped + ds.stats["kcore_dropped"] == (
        len(frame) - ds.stats["implicit_dropped"] - ds.stats["duplicates"]
    )
    if split == "leave_last":
        assert ds.test.getnnz(axis=1).max() == 1 and ds.valid.getnnz(axis=1).max() == 1


def test_split_settings_are_checked(tmp_path: Path) -> None:
    generate_demo_dir(tmp_path, seed=0, num_users=20, num_items=15, interactions_per_user=4)
    with pytest.raises(ConfigError, match=r'data.split: expected "auto" or "given" while data.path is set'):
        DataConfig(path=str(tmp_path), split="random")
    with pytest.raises(ConfigError, match=r'data.split: expected one of "auto", "given", .*, got "bogus"'):
        DataConfig(path=str(tmp_path), split="bogus")
    with pytest.raises(ConfigError, match=r'data.unseen_policy: expected one of "miss", "drop", "error", got "keep"'):
        DataConfig(path=str(tmp_path), unseen_policy="keep")
    with pytest.raises(ConfigError, match=r'"given" needs data.path'):
        DataConfig(interactions=str(tmp_path / "train.txt"), split="given")
    changed = DataConfig(path=str(tmp_path))
    changed.split = "random"  # changed in place after it was built: load_dataset checks again, before reading
    with pytest.raises(ConfigError, match=r"data.split: expected"):
        load_dataset(changed, seed=0)


def test_temporal_split_without_timestamps(tmp_path: Path) -> None:
    path = tmp_path / "inter.csv"
    generate_interactions(num_users=10, with_timestamps=False).to_csv(path, index=False)
    with pytest.raises(DataError, match="choose split='random'"):
        load_dataset(DataConfig(interactions=str(path), split="leave_last"), seed=0)


def test_holdout_items_leaves_the_split_alone_and_withholds_the_items(tmp_path: Path) -> None:
    path = tmp_path / "inter.csv"
    generate_interactions(num_users=120, num_items=80, seed=3).to_csv(path, index=False)
    full = load_dataset(DataConfig(interactions=str(path), split="user_temporal"), seed=0)
    cut = load_dataset(DataConfig(interactions=str(path), split="user_temporal", holdout_items=0.1), seed=0)
    withheld = cut.stats["holdout_item_ids"]
    assert len(withheld) == round(0.1 * full.num_items)
    assert not set(withheld) & set(cut.item_ids.ids)
    assert cut.num_items == full.num_items - len(withheld)

    def pairs(ds: Dataset, name: str) -> set[tuple[int, int]]:
        coo = ds.split(name).tocoo()
        return {(ds.user_ids.id_of(int(u)), ds.item_ids.id_of(int(i))) for u, i in zip(coo.row, coo.col, strict=True)}

    for name in ("train", "test"):  # the same split, minus the withheld items' rows
        expected = {(u, i) for u, i in pairs(full, name) if i not in set(withheld)}
        assert pairs(cut, name) == expected
    with pytest.raises(ConfigError, match=r"data.holdout_items: expected a float in \[0, 1\), got 1.0"):
        DataConfig(interactions=str(path), holdout_items=1.0)


def test_auto_split_is_per_user_temporal_with_timestamps(tmp_path: Path, caplog) -> None:
    frame = generate_interactions(num_users=40, num_items=30, interactions_per_user=10, seed=3)
    path = tmp_path / "ratings.csv"
    frame.rename(columns={"user_id": "userId", "item_id": "movieId"}).to_csv(path, index=False)
    with caplog.at_level(logging.INFO, logger="graphrec.data.loading"):
        auto = load_dataset(DataConfig(interactions=str(path)), seed=0)
    assert auto.stats["split"] == "user_temporal"
    assert "split 'auto' is 'user_temporal'" in caplog.text and "train on the future" in caplog.text
    explicit = load_dataset(DataConfig(interactions=str(path), split="user_temporal"), seed=0)
    assert (auto.test != explicit.test).nnz == 0
    frame.drop(columns="timestamp").to_csv(path, index=False)
    assert load_dataset(DataConfig(interactions=str(path)), seed=0).stats["split"] == "random"
