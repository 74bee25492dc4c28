"""Seeded, vectorised train / held-out splits of an interactions DataFrame.

Every function returns ``(kept, held_out)`` DataFrames whose rows partition the input (original row order kept
within each). Per-user splits never take a user's last training item: a user with n interactions holds out at most
n - 1 of them, so users with a single interaction keep it in training. Randomness comes only from the `rng` passed
in (build it with :func:`graphrec.seeding.numpy_rng`), so a seed fixes the split.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from graphrec.errors import DataError

logger = logging.getLogger(__name__)


def _rank_within_user(users: np.ndarray, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(rank of each row within its user by ascending key (ties: row order), user's row count per row)."""
    order = np.argsort(keys, kind="stable")  # two stable sorts == lexsort by (user, key, row)
    order = order[np.argsort(users[order], kind="stable")]
    sorted_users = users[order]
    counts = np.bincount(users, minlength=users.max(initial=-1) + 1)
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    rank = np.empty(len(users), dtype=np.int64)
    rank[order] = np.arange(len(users)) - starts[sorted_users]
    return rank, counts[users]


def _newest_first_rank(users: np.ndarray, timestamps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rank of each row among its user's rows, newest first (equal timestamps: the later row is newer)."""
    ascending, counts = _rank_within_user(users, timestamps)
    return counts - 1 - ascending, counts


def _held_out_count(counts: np.ndarray, ratio: float) -> np.ndarray:
    """Per-user number of held-out rows: round(n * ratio) (halves up), capped at n - 1."""
    wanted = np.floor(counts * ratio + 0.5).astype(np.int64)
    return np.minimum(wanted, counts - 1)


def _keep_one_per_item(df: pd.DataFrame, held: np.ndarray) -> np.ndarray:
    """Un-hold one row of every item whose rows would all be held out, so no item leaves training entirely."""
    items, _ = pd.factorize(df["item_id"])
    total = np.bincount(items, minlength=items.max(initial=-1) + 1)
    held_count = np.bincount(items[held], minlength=len(total))
    stranded = held & (held_count == total)[items]
    if stranded.any():
        rows = np.flatnonzero(stranded)
        _, first = np.unique(items[rows], return_index=True)
        held = held.copy()
        held[rows[first]] = False
        logger.debug("kept %d items in training that would otherwise have left it", len(first))
    return held


def _partition(df: pd.DataFrame, held: np.ndarray, what: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    kept, out = df.loc[~held].reset_index(drop=True), df.loc[held].reset_index(drop=True)
    logger.info("%s: %d rows kept, %d held out", what, len(kept), len(out))
    return kept, out


def _require_timestamp(df: pd.DataFrame, split: str) -> np.ndarray:
    if "timestamp" not in df.columns:
        raise DataError(
            f"split '{split}' needs timestamps, but the interactions have no timestamp column; "
            "set data.timestamp_col to the timestamp column or choose split='random'"
        )
    return df["timestamp"].to_numpy(dtype=np.float64)


def _check_ratio(ratio: float, name: str) -> None:
    if not 0.0 <= ratio < 1.0:
        raise DataError(f"{name} must be in [0, 1), got {ratio}; use e.g. 0.2")


def split_random(df: pd.DataFrame, test_ratio: float, rng: np.random.Generator) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per user, hold out a random round(n * test_ratio) of its n rows (at most n - 1).

    An item none of whose rows would stay in training keeps one of them there (so slightly fewer may be held out).
    """
    _check_ratio(test_ratio, "test_ratio")
    users, _ = pd.factorize(df["user_id"])
    rank, counts = _rank_within_user(users, rng.random(len(df)))
    held = _keep_one_per_item(df, rank < _held_out_count(counts, test_ratio))
    return _partition(df, held, "random split")


def split_leave_last(df: pd.DataFrame, n: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per user, hold out its `n` latest rows by timestamp (ties: the later row is newer), keeping at least one."""
    if n < 1:
        raise DataError(f"leave_last_n must be at least 1, got {n}")
    timestamps = _require_timestamp(df, "leave_last")
    users, _ = pd.factorize(df["user_id"])
    newest_first, counts = _newest_first_rank(users, timestamps)
    return _partition(df, newest_first < np.minimum(n, counts - 1), f"leave-last-{n} split")


def split_temporal(df: pd.DataFrame, cut_quantile: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Global cut: rows with timestamp after the `cut_quantile` quantile of all timestamps are held out.

    Users or items first seen after the cut appear only in the held-out part; the loader's unseen policy decides
    what happens to them.
    """
    if not 0.0 < cut_quantile < 1.0:
        raise DataError(f"temporal_cut must be in (0, 1), got {cut_quantile}; use e.g. 0.8")
    timestamps = _require_timestamp(df, "temporal")
    cut = float(np.quantile(timestamps, cut_quantile))
    logger.info("temporal split at timestamp %g (quantile %g)", cut, cut_quantile)
    return _partition(df, timestamps > cut, "temporal split")


def carve_validation(
    train_df: pd.DataFrame, valid_ratio: float, rng: np.random.Generator, temporal: bool = False
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per user, move round(n * valid_ratio) training rows (at most n - 1) to validation.

    `temporal` takes each user's latest rows (needs timestamps); otherwise a random subset where, as in
    :func:`split_random`, an item never leaves training entirely.
    """
    _check_ratio(valid_ratio, "valid_ratio")
    if valid_ratio == 0:  # nothing moves: skip the O(n log n) per-user ranking (seconds at 10M rows)
        return _partition(train_df, np.zeros(len(train_df), dtype=bool), "validation carve")
    users, _ = pd.factorize(train_df["user_id"])
    if temporal:
        rank, counts = _newest_first_rank(users, _require_timestamp(train_df, "temporal validation"))
        return _partition(train_df, rank < _held_out_count(counts, valid_ratio), "temporal validation carve")
    rank, counts = _rank_within_user(users, rng.random(len(train_df)))
    held = _keep_one_per_item(train_df, rank < _held_out_count(counts, valid_ratio))
    return _partition(train_df, held, "validation carve")
