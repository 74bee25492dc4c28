"""Offline batch recommendation: the top-K unseen items of every user of a run, written to one Parquet file.

Users are scored a chunk at a time (chunk_size × num_items floats in memory) and every chunk is appended to the
Parquet file as a row group, so memory stays bounded whatever the number of users. The file has one row per
(user, rank)::

    user_id   the external user id (int64 when every id is an integer, else string)
    rank      1 = best, int32
    item_id   the external item id (int64 / string, as user_id)
    score     the model's score (dot product of the embeddings), float32

Items the user interacted with in training are never recommended; a user with fewer than k unseen items gets
fewer rows. Ranking is :func:`graphrec.retrieval.top_k_items` (ties: smaller item index first). This module sits
below run directories: the caller loads the run and passes its scorer, id lists and seen-item matrix.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from graphrec.errors import DataError
from graphrec.io import atomic_write
from graphrec.progress import progress_shown
from graphrec.retrieval import Scorer, capped_chunk_size, check_k, top_k_items

logger = logging.getLogger(__name__)


def _id_array(ids: list[int | str]) -> tuple[np.ndarray, Any]:
    """The ids as a numpy array and its Parquet type: int64 when all ids are ints, else their string form."""
    import pyarrow as pa

    if all(isinstance(v, int) for v in ids):
        return np.asarray(ids, dtype=np.int64), pa.int64()
    return np.asarray([str(v) for v in ids], dtype=object), pa.string()


def _chunks(num_users: int, chunk_size: int, show_progress: bool | None) -> Iterator[np.ndarray]:
    starts = range(0, num_users, chunk_size)
    if progress_shown(show_progress):
        from tqdm.auto import tqdm

        starts = tqdm(starts, desc="recommending", unit="chunk", total=len(starts))
    for start in starts:
        yield np.arange(start, min(start + chunk_size, num_users), dtype=np.int64)


def recommend_all(
    scorer: Scorer,
    user_ids: Sequence[int | str],
    item_ids: Sequence[int | str],
    seen: sp.csr_matrix,
    k: int,
    out: str | Path,
    chunk_size: int = 2048,
    show_progress: bool | None = None,
) -> dict[str, Any]:
    """Write the top-`k` unseen items of every user to Parquet `out`: users `user_ids` (position = user_idx) scored
    by `scorer`, items `item_ids`, `seen` (users × items) never recommended.

    Returns a report: num_users, rows, k, seconds, path.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    k = min(check_k(k), scorer.num_items)  # beyond the catalogue: every unseen item, no padding allocated
    chunk_size = capped_chunk_size(chunk_size, scorer.num_items)
    if seen.shape != (len(user_ids), len(item_ids)) or scorer.num_items != len(item_ids):
        raise DataError(
            f"seen matrix {seen.shape} and scorer ({scorer.num_items} items) do not match "
            f"{len(user_ids)} users × {len(item_ids)} items; pass the run's own matrices"
        )
    started = time.perf_counter()
    user_arr, user_type = _id_array(list(user_ids))
    item_arr, item_type = _id_array(list(item_ids))
    schema = pa.schema([("user_id", user_type), ("rank", pa.int32()), ("item_id", item_type), ("score", pa.float32())])
    rows_written = 0

    def write(tmp: Path) -> None:
        nonlocal rows_written
        with pq.ParquetWriter(tmp, schema) as writer:
            for users in _chunks(len(user_ids), chunk_size, show_progress):
                items, scores = top_k_items(scorer, users, k, seen, chunk_size=chunk_size)
                keep = items >= 0  # padding when a user has fewer than k unseen items
                rows, ranks = np.nonzero(keep)
                table = pa.table(
                    {
                        "user_id": pa.array(user_arr[users[rows]], type=user_type),
                        "rank": pa.array(ranks.astype(np.int32) + 1),
                        "item_id": pa.array(item_arr[items[keep]], type=item_type),
                        "score": pa.array(scores[keep].astype(np.float32)),
                    },
                    schema=schema,
                )
                writer.write_table(table)
                rows_written += len(rows)

    atomic_write(out, write)
    seconds = time.perf_counter() - started
    logger.info("wrote %d recommendations for %d users to %s in %.1f s", rows_written, len(user_ids), out, seconds)
    return {"num_users": len(user_ids), "rows": rows_written, "k": k, "seconds": round(seconds, 3), "path": str(out)}
