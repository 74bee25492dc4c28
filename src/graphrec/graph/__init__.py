"""The interaction graph: sparse (normalised) adjacency matrices and sparse propagation."""

from graphrec.graph.adjacency import (
    SymmetricSpMM,
    bipartite_adjacency,
    csr_tensor,
    normalized_adjacency,
    propagate,
    to_torch_csr,
)
from graphrec.graph.dropout import SymmetricEdgeDropout, symmetric_pair_ids

__all__ = [
    "SymmetricEdgeDropout",
    "SymmetricSpMM",
    "bipartite_adjacency",
    "csr_tensor",
    "normalized_adjacency",
    "propagate",
    "symmetric_pair_ids",
    "to_torch_csr",
]
