"""Sampled computation graphs for item-graph convolutions (PinSAGE's on-the-fly convolutions, GraphSAGE's
minibatch Algorithm 2): numpy only, so worker processes can build them while the model trains.

For seeds S and K layers, the graph holds node sets S_K = unique(S), S_{k-1} = unique(S_k ∪ N(S_k)), and per layer a
block mapping every node of S_k to its own position and its neighbours' positions in S_{k-1}. Each node's layer-k
representation is therefore computed once per batch, however many seeds share it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from graphrec.graph.walks import ItemGraph, Neighbourhoods, top_neighbours

NeighbourFn = Callable[[np.ndarray], Neighbourhoods]


@dataclass
class Block:
    """One layer: `dst` nodes, `self_pos` (n_dst,) and `nbr_pos` (n_dst, T; -1 = none) positions in the layer's
    source nodes, and the neighbours' importance weights (n_dst, T)."""

    dst: np.ndarray
    self_pos: np.ndarray
    nbr_pos: np.ndarray
    weight: np.ndarray


@dataclass
class ComputationGraph:
    """`input_nodes` feed the first block; `blocks` run bottom-up; the last block's dst are the output nodes."""

    input_nodes: np.ndarray
    blocks: list[Block]

    @property
    def output_nodes(self) -> np.ndarray:
        return self.blocks[-1].dst if self.blocks else self.input_nodes

    def positions(self, nodes: np.ndarray) -> np.ndarray:
        """Rows of the output for `nodes` (all of which must be outputs)."""
        return np.searchsorted(self.output_nodes, nodes)


def build_computation_graph(
    seeds: np.ndarray,
    neighbours: NeighbourFn,
    num_layers: int,
    forbidden: np.ndarray | None = None,
    num_items: int = 0,
) -> ComputationGraph:
    """The K-layer computation graph of `seeds`.

    `forbidden` holds sorted keys ``a * num_items + b`` of (node, neighbour) pairs that must not be aggregated —
    the training pairs' own edges, so that a pair's label never leaks through its neighbourhoods.
    """
    nodes = np.unique(np.asarray(seeds, dtype=np.int64))
    blocks: list[Block] = []
    for _ in range(num_layers):
        hood = neighbours(nodes)
        index, weight = hood.index, hood.weight
        if forbidden is not None and forbidden.size:
            index, weight = _drop_forbidden(nodes, index, weight, forbidden, num_items)
        src = np.union1d(nodes, index[index >= 0])
        nbr_pos = np.where(index >= 0, np.searchsorted(src, np.maximum(index, 0)), -1)
        blocks.append(Block(nodes, np.searchsorted(src, nodes), nbr_pos, weight))
        nodes = src
    blocks.reverse()
    return ComputationGraph(nodes, blocks)


def _drop_forbidden(
    nodes: np.ndarray,
    index: np.ndarray,
    weight: np.ndarray,
    forbidden: np.ndarray,
    num_items: int,
) -> tuple[np.ndarray, np.ndarray]:
    keys = nodes[:, None] * num_items + np.maximum(index, 0)
    pos = np.minimum(np.searchsorted(forbidden, keys), forbidden.size - 1)
    hit = (forbidden[pos] == keys) & (index >= 0)
    if not hit.any():
        return index, weight
    index = np.where(hit, -1, index)
    weight = np.where(hit, 0.0, weight).astype(np.float32)
    total = weight.sum(axis=1, keepdims=True)
    np.divide(weight, total, out=weight, where=total > 0)
    return index, weight


def pair_keys(queries: np.ndarray, items: np.ndarray, num_items: int) -> np.ndarray:
    """Sorted forbidden keys for pairs (q, i): both directions."""
    q, i = np.asarray(queries, dtype=np.int64), np.asarray(items, dtype=np.int64)
    return np.unique(np.concatenate([q * num_items + i, i * num_items + q]))


class RandomWalkNeighbours:
    """PinSAGE sampling: each call runs fresh walks and keeps the top-T items by visit count."""

    def __init__(
        self, graph: ItemGraph, top_t: int, num_walks: int, walk_length: int, rng: np.random.Generator
    ) -> None:
        self.graph, self.top_t, self.num_walks, self.walk_length, self.rng = graph, top_t, num_walks, walk_length, rng

    def __call__(self, nodes: np.ndarray) -> Neighbourhoods:
        return self.graph.neighbourhoods(nodes, self.top_t, self.num_walks, self.walk_length, self.rng)


class PixieNeighbours:
    """PinSAGE sampling with the Pixie walk: early-stopped walks with restart; top-T items by visit count."""

    PIXIE_MIN_VISITS = 4  # n_v: an item counts towards the early stop once visited this often

    def __init__(self, graph: ItemGraph, top_t: int, max_steps: int, rng: np.random.Generator) -> None:
        self.graph, self.top_t, self.max_steps, self.rng = graph, top_t, max_steps, rng

    def __call__(self, nodes: np.ndarray) -> Neighbourhoods:
        nodes = np.asarray(nodes, dtype=np.int64)
        visits = self.graph.pixie_visits(
            nodes, self.rng, max_steps=self.max_steps, n_p=self.top_t, n_v=self.PIXIE_MIN_VISITS
        )
        return top_neighbours(visits, nodes, self.top_t)


class UniformNeighbours:
    """GraphSAGE sampling: a fixed-size uniform sample (with replacement) of one-step item neighbours."""

    def __init__(self, graph: ItemGraph, sample_size: int, rng: np.random.Generator) -> None:
        self.graph, self.sample_size, self.rng = graph, sample_size, rng

    def __call__(self, nodes: np.ndarray) -> Neighbourhoods:
        nodes = np.asarray(nodes, dtype=np.int64)
        drawn = self.graph.step(np.repeat(nodes, self.sample_size), self.rng).reshape(len(nodes), self.sample_size)
        isolated = self.graph.item_degree[nodes] == 0
        drawn[isolated] = -1
        weight = np.where(drawn >= 0, 1.0 / self.sample_size, 0.0).astype(np.float32)
        return Neighbourhoods(drawn, weight)


class ExactNeighbours:
    """PinSAGE inference: top-T by expected visit counts (the many-walks limit), computed for just the nodes asked."""

    def __init__(self, graph: ItemGraph, top_t: int, walk_length: int) -> None:
        self.graph, self.top_t, self.walk_length = graph, top_t, walk_length

    def __call__(self, nodes: np.ndarray) -> Neighbourhoods:
        return self.graph.exact_neighbourhoods(nodes, self.top_t, self.walk_length)


class TableNeighbours:
    """Fixed neighbourhoods (inference): a lookup into a precomputed table."""

    def __init__(self, table: Neighbourhoods) -> None:
        self.table = table

    def __call__(self, nodes: np.ndarray) -> Neighbourhoods:
        return Neighbourhoods(self.table.index[nodes], self.table.weight[nodes])
