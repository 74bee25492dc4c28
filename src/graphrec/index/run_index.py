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
    run_dir: str | Path, kind: str = "hnsw", out: str | Path | None = None, **options: Any
) -> dict[str, Any]:
    """Build an index of `kind` over the run's item embeddings, save it with the item ids into `out`
    (default RUN_DIR/index) and return a report: kind, num_items, dim, build_seconds, path, options (all of the
    index's options, defaults included)."""
    from graphrec.runs import load_run

    run = load_run(run_dir)
    out = Path(out) if out is not None else Path(run_dir) / DEFAULT_DIRNAME
    _, item_emb = run.embeddings()
    vectors = item_emb.detach().cpu().numpy().astype(np.float32)
    started = time.perf_counter()
    index = build_index(vectors, kind, **options)
    build_seconds = time.perf_counter() - started
    index.save(out)
    run.item_ids.save(out / ITEM_IDS_FILE)
    logger.info("indexed %d items (%s) in %.2f s into %s", len(index), kind, build_seconds, out)
    return {"kind": kind, "num_items": len(index), "dim": index.dim, "build_seconds": round(build_seconds, 3),
            "path": str(out), "options": index.options()}


def load_run_index(directory: str | Path) -> tuple[VectorIndex, IdMap]:
    """The index saved by :func:`build_run_index` and its item id map (position i ↔ item id)."""
    directory = Path(directory)
    index = load_index(directory)
    if not (directory / ITEM_IDS_FILE).is_file():
        raise RunDirError(f"index directory '{directory}' has no {ITEM_IDS_FILE}; build it with 'graphrec index'")
    item_ids = IdMap.load(directory / ITEM_IDS_FILE, kind="item")
    if len(item_ids) != len(index):
        raise DataError(f"index '{directory}' holds {len(index)} vectors but {ITEM_IDS_FILE} lists {len(item_ids)} "
                        f"items; rebuild it with 'graphrec index'")
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
