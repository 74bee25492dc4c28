"""Configuration of where interactions come from and how they are split."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class DataConfig:
    """Where the interactions live and how they become train / valid / test.

    Either `path` (a directory holding `train.txt` + `test.txt`, optionally `valid.txt`, in the LightGCN format
    `user item item …`) or `interactions` (one file: CSV/TSV, Parquet or a RecBole `.inter` file) must be set.
    """

    path: str | None = None
    interactions: str | None = None
    format: str = "auto"  # auto | lightgcn | csv | tsv | parquet | recbole
    user_col: str = "user_id"
    item_col: str = "item_id"
    rating_col: str | None = "rating"
    timestamp_col: str | None = "timestamp"
    sep: str | None = None  # None: inferred from the extension (',' for .csv, '\t' for .tsv/.inter)
    rating_threshold: float | None = None  # implicit feedback: keep rows with rating >= threshold
    min_user_interactions: int = 0  # k-core filtering (applied iteratively with min_item_interactions)
    min_item_interactions: int = 0
    split: str = "auto"  # auto (given files, else random) | given | random | leave_last | temporal | user_temporal
    test_ratio: float = 0.2  # random / user_temporal: per-user fraction (random / newest) held out for test
    valid_ratio: float = 0.1  # fraction of each user's training items carved out for validation
    leave_last_n: int = 1  # leave_last: the N latest items of each user go to test (and N more to valid)
    temporal_cut: float = 0.8  # temporal: quantile of timestamps; later interactions go to test
    unseen_policy: str = "miss"  # miss (scored as misses) | drop (counted, logged) | error: held-out ids unseen in train
    # Inductive evaluation: this share of the training items (seeded) is withheld from training entirely — after the
    # split, so valid/test are the same as without it; their ids are listed in the run's data_stats.json.
    holdout_items: float = 0.0
    seed: int | None = None  # None: the run's seed
