"""Index a run's item embeddings: what ``graphrec index RUN_DIR`` builds and what serving loads.

The index directory holds the index (see :mod:`graphrec.index.base`) plus ``item_ids.json``: position i of the
index is the item with external id ``item_ids[i]``. New items are appended to both together.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from graphrec.data import IdMap
from graphrec.errors import ConfigError, DataError, RunDirError
from graphrec.index.base import VectorIndex, build_index, load_index

logger = logging.getLogger(__name__)

ITEM_IDS_FILE = "item_ids.json"
DEFAULT_DIRNAME = "index"


def build_run_index(
    item_vectors: np.ndarray, item_ids: IdMap, out: str | Path, kind: str = "hnsw", **options: Any
) -> dict[str, Any]:
    """Build an index of `kind` over a run's item vectors (row i is the item ``item_ids`` maps to i), save it with
    the item ids into `out` and return a report: kind, num_items, dim, build_seconds, path, options (all of the
    index's options, defaults included).

    The caller loads the run (``graphrec index`` does, into RUN_DIR/index by default): this module stays below
    :mod:`graphrec.runs`."""
    vectors = np.asarray(item_vectors, dtype=np.float32)
    if vectors.ndim != 2 or len(vectors) != len(item_ids):
        raise DataError(
            f"item vectors must be a ({len(item_ids)}, dim) matrix, one row per item id, got shape "
            f"{vectors.shape}; pass the run's item embeddings with its item ids"
        )
    out = Path(out)
    started = time.perf_counter()
    index = build_index(vectors, kind, **options)
    build_seconds = time.perf_counter() - started
    index.save(out)
    item_ids.save(out / ITEM_IDS_FILE)
    logger.info("indexed %d items (%s) in %.2f s into %s", len(index), kind, build_seconds, out)
    return {
        "kind": kind,
        "num_items": len(index),
        "dim": index.dim,
        "build_seconds": round(build_seconds, 3),
        "path": str(out),
        "options": index.options(),
    }


def load_run_index(directory: str | Path) -> tuple[VectorIndex, IdMap]:
    """The index saved by :func:`build_run_index` and its item id map (position i ↔ item id)."""
    directory = Path(directory)
    index = load_index(directory)
    if not (directory / ITEM_IDS_FILE).is_file():
        raise RunDirError(f"index directory '{directory}' has no {ITEM_IDS_FILE}; build it with 'graphrec index'")
    item_ids = IdMap.load(directory / ITEM_IDS_FILE, kind="item")
    if len(item_ids) != len(index):
        raise DataError(
            f"index '{directory}' holds {len(index)} vectors but {ITEM_IDS_FILE} lists {len(item_ids)} "
            f"items; rebuild it with 'graphrec index'"
        )
    return index, item_ids


def parse_index_options(pairs: Sequence[str]) -> dict[str, Any]:
    """``["ef_search=256", "m=32"]`` → ``{"ef_search": 256, "m": 32}`` (integer values, as every option is)."""
    options: dict[str, Any] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise ConfigError(f"index option must look like NAME=VALUE, got '{pair}'; e.g. --set ef_search=256")
        try:
            options[name.strip()] = int(value)
        except ValueError:
            raise ConfigError(f"index option {name.strip()} must be an integer, got '{value}'") from None
    return options
