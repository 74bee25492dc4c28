"""Approximate inner-product search with faiss: HNSW graphs (IndexHNSWFlat) and inverted files (IndexIVFFlat).

Both store the raw vectors (no compression), so the scores they return are exact inner products; only the
candidate set is approximate. Both accept new vectors without a rebuild: HNSW links a new vector into the graph,
IVF files it under its nearest centroid (the centroids are trained once, on the first vectors added).
"""

from __future__ import annotations

import logging
import math
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any

import numpy as np

from graphrec.errors import DataError, RunDirError
from graphrec.index.base import as_vectors, check_options, padded, register_backend, write_meta
from graphrec.io import atomic_write
from graphrec.retrieval import check_k

logger = logging.getLogger(__name__)

FAISS_FILE = "index.faiss"


def _faiss() -> Any:
    loader_log = logging.getLogger("faiss.loader")
    if loader_log.level == logging.NOTSET:  # faiss logs every SIMD variant it tries at INFO: noise in the CLI
        loader_log.setLevel(logging.WARNING)
    try:
        import faiss
    except ImportError as exc:  # the faiss backends are an optional extra
        raise DataError(
            "the hnsw and ivf index kinds need faiss; pip install 'graphrec[serve]' or use kind 'exact'"
        ) from exc
    return faiss


class _FaissIndex(ABC):
    """What HNSW and IVF share: validation, padding, save and load around a faiss index object."""

    kind = ""
    dim: int
    _index: Any

    def __len__(self) -> int:
        return 0 if self._index is None else int(self._index.ntotal)

    def add(self, vectors: np.ndarray) -> None:
        rows = as_vectors(vectors, self.dim)
        if len(rows):
            self._prepare(rows)
            self._index.add(rows)

    def _prepare(self, rows: np.ndarray) -> None:  # noqa: B027 - an optional hook: a no-op unless overridden
        """Hook run before an add: IVF creates and trains its index on the first vectors."""

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        k = check_k(k)
        queries = as_vectors(queries, self.dim, "queries")
        n = len(self)
        if n == 0 or len(queries) == 0:
            return padded(np.empty((len(queries), 0), np.float32), np.empty((len(queries), 0), np.int64), k)
        self._set_search_params()
        scores, ids = self._index.search(queries, min(k, n))
        return padded(scores, ids.astype(np.int64), k)

    def _set_search_params(self) -> None:  # noqa: B027 - an optional hook: a no-op unless overridden
        """Hook: push the current search option (ef_search / nprobe) into the faiss object."""

    @abstractmethod
    def options(self) -> dict[str, Any]:
        """The backend's options (what `make_index` was given, with defaults filled in)."""

    def save(self, directory: Path) -> None:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        if self._index is not None:
            self._set_search_params()
            atomic_write(directory / FAISS_FILE, lambda tmp: _faiss().write_index(self._index, str(tmp)))
        else:
            (directory / FAISS_FILE).unlink(missing_ok=True)
        write_meta(directory, self, self.options())


class HNSWIndex(_FaissIndex):
    """faiss IndexHNSWFlat with inner-product metric.

    Options: ``m`` — graph degree (default 32); ``ef_construction`` — candidate list while inserting (default
    200); ``ef_search`` — candidate list while searching (default 256; raised to k when k is larger): the knob
    that trades query time for recall, and may be changed on a built index. On the Gowalla LightGCN embeddings
    (41k items, dim 64) 256 gives Recall@20 0.989 relative to exact, 128 gives 0.977 (BENCHMARKS.md).
    """

    kind = "hnsw"

    def __init__(self, dim: int, m: int = 32, ef_construction: int = 200, ef_search: int = 256) -> None:
        check_options("hnsw", {"m": m, "ef_construction": ef_construction, "ef_search": ef_search})
        faiss = _faiss()
        self.dim, self.m, self.ef_construction, self.ef_search = dim, int(m), int(ef_construction), int(ef_search)
        self._index = faiss.IndexHNSWFlat(dim, self.m, faiss.METRIC_INNER_PRODUCT)
        self._index.hnsw.efConstruction = self.ef_construction

    def _set_search_params(self) -> None:
        self._index.hnsw.efSearch = self.ef_search

    def options(self) -> dict[str, Any]:
        return {"m": self.m, "ef_construction": self.ef_construction, "ef_search": self.ef_search}


class IVFIndex(_FaissIndex):
    """faiss IndexIVFFlat with inner-product metric and an exact (flat) coarse quantizer.

    Options: ``nlist`` — number of inverted lists (default: 4·sqrt(n), at most n/39, for the n
    vectors of the first batch added);
    ``nprobe`` — lists scanned per query (default 128; may be changed on a built index; on Gowalla's 41k items,
    810 lists, 128 gives Recall@20 0.995 relative to exact and 64 gives 0.976). The centroids are
    k-means centroids of the first batch of vectors added; later vectors join their nearest list unchanged.
    """

    kind = "ivf"

    def __init__(self, dim: int, nlist: int | None = None, nprobe: int = 128) -> None:
        check_options("ivf", {"nlist": nlist, "nprobe": nprobe})
        self.dim, self.nlist, self.nprobe = dim, None if nlist is None else int(nlist), int(nprobe)
        self._index = None

    def _prepare(self, rows: np.ndarray) -> None:
        if self._index is not None:
            return
        faiss = _faiss()
        # Auto: the usual 4·sqrt(n) lists, but no more than n/39 so k-means has the 39 points per list faiss asks.
        auto = min(round(4 * math.sqrt(len(rows))), len(rows) // 39)
        wanted = self.nlist if self.nlist is not None else max(1, auto)
        nlist = max(1, min(wanted, len(rows)))
        if nlist < wanted:
            logger.warning(
                "ivf index: %d lists requested but only %d vectors to train on; using %d lists",
                wanted,
                len(rows),
                nlist,
            )
        quantizer = faiss.IndexFlatIP(self.dim)
        index = faiss.IndexIVFFlat(quantizer, self.dim, nlist, faiss.METRIC_INNER_PRODUCT)
        index.cp.seed = 1234  # fixed k-means seed: the same vectors give the same lists
        index.train(rows)
        self._quantizer, self._index, self.nlist = quantizer, index, nlist  # keep the quantizer alive

    def _set_search_params(self) -> None:
        assert self.nlist is not None  # set by _prepare, which ran before any vector was added
        self._index.nprobe = min(self.nprobe, self.nlist)

    def options(self) -> dict[str, Any]:
        return {"nlist": self.nlist, "nprobe": self.nprobe}


def _read(directory: Path) -> Any:
    path = directory / FAISS_FILE
    if not path.is_file():
        raise RunDirError(f"index directory '{directory}' has no {FAISS_FILE}; rebuild it with 'graphrec index'")
    return _faiss().read_index(str(path))


def _load_hnsw(directory: Path, meta: dict[str, Any]) -> HNSWIndex:
    index = HNSWIndex(int(meta["dim"]), **meta["options"])
    index._index = _read(directory)
    index._index.hnsw.efConstruction = index.ef_construction
    return index


def _load_ivf(directory: Path, meta: dict[str, Any]) -> IVFIndex:
    index = IVFIndex(int(meta["dim"]), **meta["options"])
    if meta["num_vectors"] > 0 or (directory / FAISS_FILE).is_file():
        index._index = _read(directory)
        index.nlist = int(index._index.nlist)
    return index


register_backend("hnsw", HNSWIndex, _load_hnsw)
register_backend("ivf", IVFIndex, _load_ivf)
