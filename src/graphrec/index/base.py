"""The vector-index interface, the backend registry, and the metadata file every saved index carries.

An index stores float32 vectors of one dimension and answers maximum-inner-product queries. Ids are row
positions: the first vector added is id 0, the next 1, and so on in insertion order, so a caller keeps one list
of external ids beside the index (``item_ids.json``) and appends to both together.

A saved index is a directory holding ``index.json`` (kind, dim, number of vectors, the backend's options) and the
backend's own files (``vectors.npy`` for exact, ``index.faiss`` for the faiss backends).
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from graphrec.errors import ConfigError, DataError, RunDirError, UnknownNameError
from graphrec.io import atomic_write_text

META_FILE = "index.json"
FORMAT_VERSION = 1


@runtime_checkable
class VectorIndex(Protocol):
    """Inner-product search over vectors whose ids are their row positions 0..n-1 in insertion order."""

    kind: str
    dim: int

    def __len__(self) -> int: ...

    def add(self, vectors: np.ndarray) -> None:
        """Append float32 (m, dim) vectors as ids len(self)..len(self)+m-1, without rebuilding the index."""

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(scores, ids) of shape (q, k): float32 best first and int64, padded with -inf / -1 past len(self)."""

    def options(self) -> dict[str, Any]:
        """The backend's options (defaults filled in), as make_index takes them."""

    def save(self, directory: Path) -> None:
        """Write the index into `directory` (created if needed); :func:`load_index` reads it back."""


Loader = Callable[[Path, dict[str, Any]], VectorIndex]
_FACTORIES: dict[str, Callable[..., VectorIndex]] = {}
_LOADERS: dict[str, Loader] = {}


def register_backend(kind: str, factory: Callable[..., VectorIndex], loader: Loader) -> None:
    """Make `kind` available to make_index (``factory(dim, **options)``) and load_index (``loader(dir, meta)``)."""
    _FACTORIES[kind] = factory
    _LOADERS[kind] = loader


def available_kinds() -> list[str]:
    return sorted(_FACTORIES)


def _check_kind(kind: str) -> None:
    if kind not in _FACTORIES:
        raise UnknownNameError(f"unknown index kind '{kind}'; choose one of: {', '.join(available_kinds())}")


def make_index(kind: str, dim: int, **options: Any) -> VectorIndex:
    """An empty index of `kind` for `dim`-dimensional vectors; `options` are the backend's own (see its class)."""
    _check_kind(kind)
    if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)) or dim < 1:
        raise ConfigError(f"index dimension must be a positive integer, got {dim!r}")
    factory = _FACTORIES[kind]
    allowed = [name for name in inspect.signature(factory).parameters if name != "dim"]
    for name in options:
        if name not in allowed:
            raise ConfigError(f"unknown option '{name}' for a {kind} index; valid options: {', '.join(allowed)}")
    return factory(int(dim), **options)


def build_index(vectors: np.ndarray, kind: str = "hnsw", **options: Any) -> VectorIndex:
    """An index of `kind` holding `vectors` (n, dim) as ids 0..n-1."""
    array = np.asarray(vectors)
    if array.ndim != 2:
        raise DataError(f"vectors to index must be a 2-D (n, dim) array, got shape {array.shape}")
    index = make_index(kind, array.shape[1], **options)
    index.add(array)
    return index


def load_index(directory: str | Path) -> VectorIndex:
    """The index saved in `directory` by its ``save``."""
    directory = Path(directory)
    meta_path = directory / META_FILE
    if not meta_path.is_file():
        what = "does not exist" if not directory.exists() else f"has no {META_FILE}"
        raise RunDirError(f"index directory '{directory}' {what}; build one with 'graphrec index RUN_DIR'")
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    if meta.get("format_version") != FORMAT_VERSION:
        raise DataError(
            f"index '{directory}' has format version {meta.get('format_version')!r}, this graphrec reads "
            f"{FORMAT_VERSION}; rebuild it with 'graphrec index'"
        )
    _check_kind(meta["kind"])
    index = _LOADERS[meta["kind"]](directory, meta)
    if len(index) != meta["num_vectors"] or index.dim != meta["dim"]:
        raise DataError(
            f"index '{directory}' holds {len(index)} vectors of dim {index.dim} but {META_FILE} says "
            f"{meta['num_vectors']} of dim {meta['dim']}; the directory is inconsistent, rebuild it"
        )
    return index


def write_meta(directory: Path, index: VectorIndex, options: dict[str, Any]) -> None:
    """Write ``index.json`` last, so a directory with metadata always has its data file beside it."""
    meta = {
        "format_version": FORMAT_VERSION,
        "kind": index.kind,
        "dim": index.dim,
        "num_vectors": len(index),
        "options": options,
    }
    atomic_write_text(directory / META_FILE, json.dumps(meta, indent=2))


def as_vectors(vectors: np.ndarray, dim: int, what: str = "vectors") -> np.ndarray:
    """`vectors` as a C-contiguous float32 (m, dim) array; a 1-D array of length dim is one row."""
    array = np.asarray(vectors)
    if array.ndim == 1 and array.shape[0] == dim:
        array = array[None, :]
    if array.ndim != 2 or array.shape[1] != dim:
        raise DataError(
            f"{what} must have shape (m, {dim}) for this index, got shape {array.shape}; "
            f"use vectors of the dimension the index was built with"
        )
    array = np.ascontiguousarray(array, dtype=np.float32)
    if not np.isfinite(array).all():
        raise DataError(f"{what} contain NaN or infinite values; pass finite vectors")
    return array


def check_options(kind: str, options: dict[str, Any]) -> dict[str, Any]:
    """Reject option values that are not positive integers (None means "automatic"); return the options."""
    for name, value in options.items():
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ConfigError(f"{kind} index option {name} must be a positive integer, got {value!r}")
    return options


def padded(scores: np.ndarray, ids: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(scores, ids) widened to k columns with -inf / -1, and -inf wherever an id is -1."""
    q, have = ids.shape
    out_scores = np.full((q, k), -np.inf, dtype=np.float32)
    out_ids = np.full((q, k), -1, dtype=np.int64)
    out_scores[:, :have] = np.where(ids >= 0, scores, -np.inf)
    out_ids[:, :have] = ids
    return out_scores, out_ids
