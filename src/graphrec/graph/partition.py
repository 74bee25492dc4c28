"""Node partitions of the user–item graph across ranks, and what they cost in exchanged rows.

The node axis is Ã's: users 0..U-1, then items U..U+I-1. A :class:`Partition` gives every node an owner rank; the
owner holds the node's row of Ã, its embedding row and that row's optimizer state. Propagating one layer on rank r
needs, besides its own rows, the *halo*: the nodes outside r adjacent to r's nodes, fetched from their owners.

Two partitioners:

* :func:`edge_balanced` (the default): contiguous blocks of users and contiguous blocks of items, cut where the
  running degree sum crosses r/world of the total, so every rank holds about 2E/world nonzeros of Ã (the work of a
  layer) whatever the degree skew. Ids are not reordered, so the halo is whatever the id order gives.
* :func:`min_cut`: METIS (pymetis) on the bipartite graph with node weights 1 + degree, which keeps the same
  balance while cutting fewer edges, hence a smaller halo.

:func:`partition_report` measures both: the cut fraction (interactions whose user and item have different owners)
and the halo rows each layer exchanges.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

import numpy as np
import scipy.sparse as sp

from graphrec.config.train import PARTITIONERS
from graphrec.errors import ConfigError
from graphrec.graph.adjacency import bipartite_adjacency

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class Partition:
    """An owner rank for each of the U + I nodes, and each node's row in its owner's local tables.

    Attributes:
        owner: (U + I,) int32, the rank owning each node.
        world_size: number of ranks.
        method: the partitioner that produced it.
    """

    owner: np.ndarray
    world_size: int
    method: str
    num_users: int

    def __post_init__(self) -> None:
        assert self.owner.ndim == 1 and (self.owner.size == 0 or self.owner.max() < self.world_size)
        local = np.empty(self.owner.size, dtype=np.int64)
        for rank in range(self.world_size):
            mine = self.owner == rank
            local[mine] = np.arange(int(mine.sum()))
        object.__setattr__(self, "local_index", local)

    local_index: np.ndarray = dataclasses.field(init=False, repr=False)

    @property
    def num_nodes(self) -> int:
        return int(self.owner.size)

    def nodes(self, rank: int) -> np.ndarray:
        """Global node indices owned by `rank`, ascending (its users, then its items): its local row order."""
        return np.flatnonzero(self.owner == rank).astype(np.int64)

    def sizes(self) -> np.ndarray:
        """Nodes owned by each rank."""
        return np.bincount(self.owner, minlength=self.world_size)


def _balanced_cuts(degree: np.ndarray, world: int) -> np.ndarray:
    """Owner of each of a contiguous run of nodes: blocks cut where the running degree sum (plus one per node, so
    isolated nodes still spread) crosses r/world of the total."""
    weight = np.cumsum(degree.astype(np.float64) + 1.0)
    total = weight[-1] if weight.size else 0.0
    # node j goes to the rank whose share contains the midpoint of its weight interval
    mid = weight - (degree + 1.0) / 2.0
    return np.minimum((mid * world / max(total, 1.0)).astype(np.int32), world - 1)


def edge_balanced(train: sp.spmatrix, world_size: int) -> Partition:
    """Contiguous user blocks and item blocks balanced by degree: rank r owns user block r and item block r."""
    _check_world(world_size)
    csr = sp.csr_matrix(train)
    user_degree = np.diff(csr.indptr)
    item_degree = np.bincount(csr.indices, minlength=csr.shape[1])
    owner = np.concatenate([_balanced_cuts(user_degree, world_size), _balanced_cuts(item_degree, world_size)])
    return Partition(owner.astype(np.int32), world_size, "edge-balanced", csr.shape[0])


def min_cut(train: sp.spmatrix, world_size: int, seed: int = 0) -> Partition:
    """METIS k-way partition of the bipartite graph, node weights 1 + degree (so each part holds about the same
    share of Ã's nonzeros), edges unweighted. Needs pymetis (``pip install 'graphrec[partition]'``)."""
    _check_world(world_size)
    pymetis = _pymetis()
    num_users = train.shape[0]
    adj = bipartite_adjacency(train)
    degree = np.diff(adj.indptr)
    if world_size == 1:
        return Partition(np.zeros(adj.shape[0], dtype=np.int32), 1, "min-cut", num_users)
    options = pymetis.Options(seed=seed)
    _, membership = pymetis.part_graph(
        world_size,
        pymetis.CSRAdjacency(adj.indptr.astype(np.int64), adj.indices.astype(np.int64)),
        vweights=(degree + 1).astype(np.int64),
        options=options,
    )
    return Partition(np.asarray(membership, dtype=np.int32), world_size, "min-cut", num_users)


def make_partition(train: sp.spmatrix, world_size: int, method: str, seed: int = 0) -> Partition:
    """The partition `method` names (one of PARTITIONERS)."""
    if method == "edge-balanced":
        return edge_balanced(train, world_size)
    if method == "min-cut":
        return min_cut(train, world_size, seed)
    raise ConfigError(f"partitioner: unknown method {method!r}; choose one of {', '.join(PARTITIONERS)}")


def halo_nodes(adj: sp.csr_matrix, partition: Partition, rank: int) -> np.ndarray:
    """Nodes outside `rank` adjacent to its nodes (the rows it fetches per layer), ascending."""
    rows = partition.nodes(rank)
    columns = np.unique(sp.csr_matrix(adj)[rows].indices)
    return columns[partition.owner[columns] != rank].astype(np.int64)


def partition_report(train: sp.spmatrix, partition: Partition) -> dict[str, Any]:
    """Cut fraction, per-rank nodes, nonzeros of Ã and halo rows, and the rows one layer exchanges in total."""
    csr = sp.csr_matrix(train)
    users = np.repeat(np.arange(csr.shape[0]), np.diff(csr.indptr))
    owner = partition.owner
    cut = float(np.mean(owner[users] != owner[csr.shape[0] + csr.indices])) if csr.nnz else 0.0
    adj = bipartite_adjacency(csr)
    degree = np.diff(adj.indptr)
    halos = [len(halo_nodes(adj, partition, r)) for r in range(partition.world_size)]
    return {
        "method": partition.method,
        "world_size": partition.world_size,
        "cut_fraction": round(cut, 4),
        "nodes": partition.sizes().tolist(),
        "nonzeros": [int(degree[owner == r].sum()) for r in range(partition.world_size)],
        "halo_rows": halos,
        "exchanged_rows_per_layer": int(sum(halos)),
        "exchanged_share_of_nodes": round(sum(halos) / max(partition.num_nodes, 1), 4),
    }


def _check_world(world_size: int) -> None:
    if world_size < 1:
        raise ConfigError(f"partition: world_size must be at least 1, got {world_size}")


def _pymetis() -> Any:
    try:
        import pymetis
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ConfigError(
            "partitioner 'min-cut' needs pymetis, which is not installed; install it with "
            "pip install 'graphrec[partition]', or use the default 'edge-balanced'"
        ) from exc
    return pymetis
