"""Neighbour-sampled computation graphs on the user–item graph, for mini-batch LightGCN / NGCF training.

Full propagation touches every edge on every step: a step costs O(nnz · d · K) however small the batch. Here a
step touches only the K-hop *sampled* neighbourhood of the batch's nodes (its users, positive and negative items):

* Node sets, from the output down: D_K = the seeds; D_{k-1} = D_k followed by the new nodes among the neighbours
  sampled for D_k. Every D_k is a prefix of D_{k-1}, so the seeds are the first rows at every layer, and the
  input rows D_0 are at most ``seeds × Π_k (1 + fanout_k)`` (usually far fewer: neighbourhoods overlap).
* Layer k turns E^{(k-1)} on D_{k-1} into E^{(k)} on D_k with a sparse (|D_k| × |D_{k-1}|) matrix. A node v of
  degree d_v ≤ f_k (the layer's fan-out) keeps all its edges with the full graph's weights Ã_vu = 1/sqrt(d_v d_u);
  otherwise f_k neighbours are drawn uniformly *with replacement* and each gets Ã_vu · d_v / f_k. So
  E[sampled row] = Ã row · E^{(k-1)} (an unbiased estimate of full propagation, with the full graph's degrees in
  the normalisation), and with every fan-out ≥ the maximum degree the result *is* full propagation on those rows.
  Drawing with replacement keeps the cost per node O(f_k) whatever its degree (a hub with 10⁵ neighbours costs as
  much as any other).
* Layer k's sampling is independent of layer k−1's, and each node is sampled once per layer and batch, so a node
  shared by many seeds is computed once.

Sampling is numpy on the CSR arrays of Ã (``crow``, ``col``, ``values``), seeded by the caller.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch
import torch.nn.functional as F

from graphrec.graph.adjacency import csr_tensor


@dataclass
class SampledLayer:
    """One propagation step: rows = the first `num_dst` nodes of the layer's input, in CSR form over the input, and
    the transpose (CSR over the outputs), which the backward pass multiplies by."""

    num_dst: int
    num_src: int
    crow: np.ndarray  # (num_dst + 1,) int64
    col: np.ndarray  # (nnz,) int64 positions in the input node list
    weight: np.ndarray  # (nnz,) float32
    transpose: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None  # (crow, col, weight) of the transpose

    def __post_init__(self) -> None:
        if self.transpose is None:
            t = sp.csr_matrix((self.weight, self.col, self.crow), shape=(self.num_dst, self.num_src)).T.tocsr()
            self.transpose = (t.indptr.astype(np.int64), t.indices.astype(np.int64), t.data)

    def aggregate(self, x: torch.Tensor) -> torch.Tensor:
        """Σ_u w_vu x_u for the `num_dst` output rows, from `x` with one row per input node."""
        forward = _csr(self.crow, self.col, self.weight, (self.num_dst, self.num_src))
        assert self.transpose is not None  # built by __post_init__
        backward = _csr(*self.transpose, (self.num_src, self.num_dst))
        return _SampledSpMM.apply(forward, backward, x)


def _csr(crow: np.ndarray, col: np.ndarray, weight: np.ndarray, shape: tuple[int, int]) -> torch.Tensor:
    return csr_tensor(torch.from_numpy(crow), torch.from_numpy(col), torch.from_numpy(weight), shape)


class _SampledSpMM(torch.autograd.Function):
    """y = A x with the backward A^T g from a transpose built once in numpy (torch's own CSR backward converts the
    matrix on every call and measured several times slower)."""

    @staticmethod
    def forward(ctx: Any, adj: torch.Tensor, adj_t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:  # FunctionCtx
        ctx.adj_t = adj_t
        return torch.sparse.mm(adj, x)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[None, None, torch.Tensor]:
        return None, None, torch.sparse.mm(ctx.adj_t, grad.contiguous())


@dataclass
class SampledGraph:
    """`input_nodes` (D_0, global node ids: users 0..U−1, item v at U + v) feed `layers` (bottom-up); the first
    `num_seeds` rows of every layer are `seeds` (sorted, unique)."""

    seeds: np.ndarray
    input_nodes: np.ndarray
    layers: list[SampledLayer]

    @property
    def num_seeds(self) -> int:
        return len(self.seeds)

    def positions(self, nodes: np.ndarray | torch.Tensor) -> torch.Tensor:
        """Rows of the seed outputs for `nodes` (global ids, every one a seed)."""
        nodes = np.asarray(nodes, dtype=np.int64)
        pos = np.searchsorted(self.seeds, nodes)
        assert np.array_equal(self.seeds[np.minimum(pos, len(self.seeds) - 1)], nodes), "every node must be a seed"
        return torch.from_numpy(pos)

    def num_edges(self) -> int:
        return sum(len(layer.col) for layer in self.layers)


class NeighbourSampler:
    """Samples `SampledGraph`s from the normalised adjacency Ã (a torch CSR tensor, shared without a copy)."""

    def __init__(self, adj: torch.Tensor, fanouts: list[int]) -> None:
        self.crow = adj.crow_indices().numpy()
        self.col = adj.col_indices().numpy()
        self.values = adj.values().numpy()
        self.degree = np.diff(self.crow).astype(np.int64)
        self.fanouts = [int(f) for f in fanouts]
        # Node id -> position in the current layer's node list (-1: absent); reset after each layer, so a layer's
        # work stays O(its edges) even though the table spans the graph (one int64 per node, like `degree`).
        self._position = np.full(len(self.degree), -1, dtype=np.int64)

    def sample(self, seeds: np.ndarray, rng: np.random.Generator) -> SampledGraph:
        """The computation graph of `seeds` (global node ids; deduplicated and sorted here)."""
        seeds = np.unique(np.asarray(seeds, dtype=np.int64))
        nodes, layers = seeds, []
        for fanout in reversed(self.fanouts):  # from the output layer K down to layer 1
            layer, nodes = self._layer(nodes, fanout, rng)
            layers.append(layer)
        layers.reverse()
        return SampledGraph(seeds, nodes, layers)

    def _layer(self, dst: np.ndarray, fanout: int, rng: np.random.Generator) -> tuple[SampledLayer, np.ndarray]:
        """Edges of every node in `dst` (all of them, or `fanout` uniform draws) and the layer's input nodes."""
        degree = self.degree[dst]
        sampled = degree > fanout
        counts = np.where(sampled, fanout, degree)
        crow = np.r_[0, np.cumsum(counts)]
        offset = np.arange(crow[-1], dtype=np.int64) - np.repeat(crow[:-1], counts)
        row_sampled = np.repeat(sampled, counts)
        offset[row_sampled] = rng.integers(0, np.repeat(degree[sampled], fanout))
        edge = np.repeat(self.crow[dst].astype(np.int64), counts) + offset
        neighbour = self.col[edge].astype(np.int64)
        scale = np.where(row_sampled, np.repeat(degree / fanout, counts), 1.0)
        weight = (self.values[edge] * scale).astype(np.float32)
        position = self._position
        position[dst] = np.arange(len(dst))
        new = np.unique(neighbour[position[neighbour] < 0])  # sorted, not yet in dst
        src = np.concatenate([dst, new])
        position[new] = np.arange(len(dst), len(src))
        col = position[neighbour]
        position[src] = -1
        return SampledLayer(len(dst), len(src), crow, col, weight), src


def gather_rows(
    user_table: torch.Tensor, item_table: torch.Tensor, nodes: np.ndarray, num_users: int, sparse: bool = False
) -> torch.Tensor:
    """Rows of [user_table; item_table] for global node ids `nodes`, without concatenating the tables (the cost is
    O(len(nodes)), not O(users + items)). `sparse`: the tables' gradients are sparse rows (see `LazyAdam`)."""
    nodes = np.asarray(nodes, dtype=np.int64)
    is_user = nodes < num_users
    users = F.embedding(torch.from_numpy(nodes[is_user]), user_table, sparse=sparse)
    items = F.embedding(torch.from_numpy(nodes[~is_user] - num_users), item_table, sparse=sparse)
    order = np.concatenate([np.flatnonzero(is_user), np.flatnonzero(~is_user)])
    inverse = np.empty_like(order)
    inverse[order] = np.arange(len(order))
    return torch.cat([users, items])[torch.from_numpy(inverse)]
