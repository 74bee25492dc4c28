"""Vector indexes for inner-product retrieval: exact (numpy, the reference) and faiss HNSW / IVF."""

from graphrec.index import exact as _exact  # noqa: F401 - registers the "exact" backend
from graphrec.index import faiss_index as _faiss_index  # noqa: F401 - registers "hnsw" and "ivf"
from graphrec.index.base import VectorIndex, available_kinds, build_index, load_index, make_index
from graphrec.index.run_index import build_run_index, load_run_index, parse_index_options

__all__ = [
    "VectorIndex",
    "available_kinds",
    "build_index",
    "build_run_index",
    "load_index",
    "load_run_index",
    "make_index",
    "parse_index_options",
]
