"""Offline batch recommendation: the top-K unseen items of every user of a run, written to one Parquet file.

Users are scored a chunk at a time (chunk_size × num_items floats in memory) and every chunk is appended to the
Parquet file as a row group, so memory stays bounded whatever the number of users. The file has one row per
(user, rank)::

    user_id   the external user id (int64 when every id is an integer, else string)
    rank      1 = best, int32
    item_id   the external item id (int64 / string, as user_id)
    score     the model's score (dot product of the embeddings), float32

Items the user interacted with in training are never recommended; a user with fewer than k unseen items gets
fewer rows.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from graphrec.errors import ConfigError
from graphrec.evaluation import top_k_items
from graphrec.io import atomic_write

logger = logging.getLogger(__name__)


def _id_array(ids: list[int | str]) -> tuple[np.ndarray, Any]:
    """The ids as a numpy array and its Parquet type: int64 when all ids are ints, else their string form."""
    import pyarrow as pa

    if all(isinstance(v, int) for v in ids):
        return np.asarray(ids, dtype=np.int64), pa.int64()
    return np.asarray([str(v) for v in ids], dtype=object), pa.string()


def _chunks(num_users: int, chunk_size: int, show_progress: bool) -> Iterator[np.ndarray]:
    starts = range(0, num_users, chunk_size)
    if show_progress:
        from tqdm.auto import tqdm

        starts = tqdm(starts, desc="recommending", unit="chunk", total=len(starts))
    for start in starts:
        yield np.arange(start, min(start + chunk_size, num_users), dtype=np.int64)


def recommend_all(
    run_dir: Any, k: int, out: str | Path, chunk_size: int = 2048, show_progress: bool = True
) -> dict[str, Any]:
    """Write the top-`k` unseen items of every user of the run (a directory or a LoadedRun) to Parquet `out`.

    Returns a report: num_users, rows, k, seconds, path.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    from graphrec.runs import LoadedRun, load_run

    if k < 1:
        raise ConfigError(f"--k must be at least 1, got {k}")
    if chunk_size < 1:
        raise ConfigError(f"chunk_size must be positive, got {chunk_size}")
    started = time.perf_counter()
    run = run_dir if isinstance(run_dir, LoadedRun) else load_run(run_dir)
    user_emb, item_emb = run.embeddings()
    user_ids, user_type = _id_array(run.user_ids.ids)
    item_ids, item_type = _id_array(run.item_ids.ids)
    schema = pa.schema([("user_id", user_type), ("rank", pa.int32()), ("item_id", item_type),
                        ("score", pa.float32())])
    rows_written = 0

    def write(tmp: Path) -> None:
        nonlocal rows_written
        with pq.ParquetWriter(tmp, schema) as writer:
            for users in _chunks(len(run.user_ids), chunk_size, show_progress):
                items, scores = top_k_items(user_emb, item_emb, users, k, run.train, chunk_size=chunk_size)
                keep = items >= 0  # padding when a user has fewer than k unseen items
                rows, ranks = np.nonzero(keep)
                table = pa.table({"user_id": pa.array(user_ids[users[rows]], type=user_type),
                                  "rank": pa.array(ranks.astype(np.int32) + 1),
                                  "item_id": pa.array(item_ids[items[keep]], type=item_type),
                                  "score": pa.array(scores[keep].astype(np.float32))}, schema=schema)
                writer.write_table(table)
                rows_written += len(rows)

    atomic_write(out, write)
    seconds = time.perf_counter() - started
    logger.info("wrote %d recommendations for %d users to %s in %.1f s", rows_written, len(run.user_ids), out,
                seconds)
    return {"num_users": len(run.user_ids), "rows": rows_written, "k": k, "seconds": round(seconds, 3),
            "path": str(out)}
