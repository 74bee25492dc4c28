"""Cleaning steps applied to raw interactions before splitting.

Each step returns ``(frame, removed)`` where `removed` counts the rows it dropped, and logs that count at INFO, so
nothing is dropped silently. All steps are vectorised and keep the surviving rows in their original order.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from graphrec.errors import DataError

logger = logging.getLogger(__name__)


def to_implicit(df: pd.DataFrame, threshold: float | None) -> tuple[pd.DataFrame, int]:
    """Keep the rows with ``rating >= threshold`` (explicit → implicit feedback); None keeps every row."""
    if threshold is None:
        return df, 0
    if "rating" not in df.columns:
        raise DataError(
            f"data.rating_threshold = {threshold} needs a rating column, but the interactions have none; "
            "set data.rating_col to the rating column or unset data.rating_threshold"
        )
    keep = df["rating"].to_numpy() >= threshold
    removed = int(len(df) - keep.sum())
    logger.info("implicit feedback: dropped %d of %d rows with rating < %g", removed, len(df), threshold)
    return df.loc[keep].reset_index(drop=True), removed


def deduplicate(df: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """Keep one row per (user, item): the one with the latest timestamp if there is one, else the last one."""
    if "timestamp" in df.columns:
        ordered = df.sort_values("timestamp", kind="stable")
        kept = ordered.drop_duplicates(["user_id", "item_id"], keep="last").sort_index()
    else:
        kept = df.drop_duplicates(["user_id", "item_id"], keep="last")
    removed = len(df) - len(kept)
    if removed:
        logger.info("deduplicated: removed %d repeated (user, item) rows of %d", removed, len(df))
    return kept.reset_index(drop=True), int(removed)


def kcore(df: pd.DataFrame, min_user: int, min_item: int) -> tuple[pd.DataFrame, int]:
    """Iteratively drop users with < `min_user` and items with < `min_item` interactions until both hold."""
    if min_user <= 1 and min_item <= 1:
        return df, 0
    users, _ = pd.factorize(df["user_id"])
    items, _ = pd.factorize(df["item_id"])
    alive = np.ones(len(df), dtype=bool)
    rounds = 0
    while True:
        rounds += 1
        user_counts = np.bincount(users[alive], minlength=users.max(initial=-1) + 1)
        item_counts = np.bincount(items[alive], minlength=items.max(initial=-1) + 1)
        keep = alive & (user_counts[users] >= min_user) & (item_counts[items] >= min_item)
        if keep.sum() == alive.sum():
            break
        alive = keep
    removed = int(len(df) - alive.sum())
    logger.info(
        "k-core (users >= %d, items >= %d): removed %d of %d rows in %d rounds",
        min_user,
        min_item,
        removed,
        len(df),
        rounds,
    )
    return df.loc[alive].reset_index(drop=True), removed
