"""Brute-force inner-product search in numpy: the reference every approximate backend is measured against."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from graphrec.errors import RunDirError
from graphrec.index.base import as_vectors, check_options, padded, register_backend, write_meta
from graphrec.io import atomic_write
from graphrec.retrieval import check_k, top_k

VECTORS_FILE = "vectors.npy"


class ExactIndex:
    """Scores every stored vector for every query, ranked by graphrec.retrieval.top_k (ties: the smaller id
    first), so results are exact and deterministic.

    Options: ``chunk_size`` — queries scored at once (memory is a few chunk_size × n arrays; default 512).
    """

    kind = "exact"

    def __init__(self, dim: int, chunk_size: int = 512) -> None:
        self.dim = dim
        self.chunk_size = check_options("exact", {"chunk_size": chunk_size})["chunk_size"]
        # Rows [0, n) of a buffer that doubles when full, so a stream of small adds costs amortised O(m).
        self._buffer = np.empty((0, dim), dtype=np.float32)
        self._n = 0

    def __len__(self) -> int:
        return self._n

    @property
    def vectors(self) -> np.ndarray:
        """The stored vectors (a read-only view of rows 0..n-1)."""
        view = self._buffer[: self._n]
        view.flags.writeable = False
        return view

    def add(self, vectors: np.ndarray) -> None:
        rows = as_vectors(vectors, self.dim)
        needed = self._n + len(rows)
        if needed > len(self._buffer):
            grown = np.empty((max(needed, 2 * len(self._buffer)), self.dim), dtype=np.float32)
            grown[: self._n] = self._buffer[: self._n]
            self._buffer = grown
        self._buffer[self._n : needed] = rows
        self._n = needed

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        k = check_k(k)
        queries = as_vectors(queries, self.dim, "queries")
        k_eff = min(k, self._n)
        scores = np.empty((len(queries), k_eff), dtype=np.float32)
        ids = np.empty((len(queries), k_eff), dtype=np.int64)
        stored = self._buffer[: self._n]
        for start in range(0, len(queries), self.chunk_size):
            block = queries[start : start + self.chunk_size] @ stored.T
            if k_eff:
                scores[start : start + len(block)], ids[start : start + len(block)] = top_k(block, k_eff)
        return padded(scores, ids, k)

    def options(self) -> dict[str, Any]:
        return {"chunk_size": self.chunk_size}

    def save(self, directory: Path) -> None:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        stored = np.ascontiguousarray(self._buffer[: self._n])
        atomic_write(directory / VECTORS_FILE, lambda tmp: _save_npy(tmp, stored))
        write_meta(directory, self, self.options())


def _save_npy(path: Path, array: np.ndarray) -> None:
    with open(path, "wb") as handle:
        np.save(handle, array, allow_pickle=False)


def _load(directory: Path, meta: dict[str, Any]) -> ExactIndex:
    path = directory / VECTORS_FILE
    if not path.is_file():
        raise RunDirError(f"exact index directory '{directory}' has no {VECTORS_FILE}; rebuild it")
    index = ExactIndex(int(meta["dim"]), **meta.get("options", {}))
    index.add(np.load(path, allow_pickle=False))
    return index


register_backend("exact", ExactIndex, _load)
