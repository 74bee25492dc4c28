"""Neighbour-sampled computation graphs (``model.fanouts``) when Ã is partitioned across ranks.

The graph of :mod:`graphrec.graph.sampled` (D_K = the seeds, D_{k-1} = D_k plus the new nodes among their sampled
neighbours, uniform draws with replacement weighted Ã_vu · d_v / f, all edges kept where d_v ≤ f), built when no
rank holds all of Ã: a node's neighbours are drawn *by its owner*, from the owner's rows. Per layer the requesting
rank sends its D_k to the owners (one :func:`~graphrec.training.halo.exchange_plan`, whose send list is exactly the
owner's rows to sample), each owner draws for the rows asked of it with its own generator, and the draws travel
back with two all-to-alls (counts per node, then the neighbours and weights). The layer-0 rows of D_0 are then
fetched from their owners with the differentiable fetch, so gradients return to the owners' tables.

With every fan-out at least the largest degree nothing is drawn and the result is full propagation on the seeds
(tested against one-process LightGCN); otherwise it is the same unbiased estimate as one process, with other draws.
"""

from __future__ import annotations

import numpy as np
import torch

from graphrec.graph.partition import Partition
from graphrec.graph.sampled import SampledGraph, SampledLayer
from graphrec.training.halo import ExchangeStats, RowExchange, exchange_plan, start_all_to_all


class PartitionedNeighbourSampler:
    """Samples computation graphs of any seeds from this rank's rows of Ã and the other ranks' (collectively).

    Args:
        adj: this rank's rows of Ã over local columns [own nodes; halo] (torch CSR, as PartitionedLightGCN holds).
        columns: global node id of each local column (own nodes, then the halo).
        partition: the node owners. rank: this rank. fanouts: draws per node for layers 1..K.
    """

    def __init__(
        self,
        adj: torch.Tensor,
        columns: np.ndarray,
        partition: Partition,
        rank: int,
        fanouts: list[int],
        stats: ExchangeStats,
    ) -> None:
        self.crow = adj.crow_indices().numpy().astype(np.int64)
        self.col = adj.col_indices().numpy()
        self.values = adj.values().numpy()
        self.columns = columns
        self.degree = np.diff(self.crow)
        self.partition, self.rank, self.fanouts, self.stats = partition, rank, [int(f) for f in fanouts], stats

    def sample(self, seeds: np.ndarray, rng: np.random.Generator) -> SampledGraph:
        """The computation graph of `seeds` (global ids, deduplicated and sorted here). Collective: every rank calls
        it once per step, with its own seeds (possibly none) and its own generator."""
        seeds = np.unique(np.asarray(seeds, dtype=np.int64))
        nodes, layers = seeds, []
        for fanout in reversed(self.fanouts):
            layer, nodes = self._layer(nodes, fanout, rng)
            layers.append(layer)
        layers.reverse()
        return SampledGraph(seeds, nodes, layers)

    def _layer(self, dst: np.ndarray, fanout: int, rng: np.random.Generator) -> tuple[SampledLayer, np.ndarray]:
        plan = exchange_plan(self.partition, self.rank, dst, self.stats)
        counts, neighbours, weights = self._draw(plan.send_index.numpy(), fanout, rng)
        counts, neighbours, weights = self._return(plan, counts, neighbours, weights)
        crow = np.r_[0, np.cumsum(counts)].astype(np.int64)
        new = np.setdiff1d(neighbours, dst)  # sorted, not yet in dst
        src = np.concatenate([dst, new])
        order = np.argsort(src, kind="stable")
        col = order[np.searchsorted(src[order], neighbours)]
        return SampledLayer(len(dst), len(src), crow, col.astype(np.int64), weights.astype(np.float32)), src

    def _draw(self, rows: np.ndarray, fanout: int, rng: np.random.Generator) -> tuple[np.ndarray, ...]:
        """For local rows: (edges per row, neighbour global ids, weights), as NeighbourSampler._layer draws."""
        degree = self.degree[rows]
        sampled = degree > fanout
        counts = np.where(sampled, fanout, degree)
        starts = np.repeat(np.r_[0, np.cumsum(counts)][:-1], counts)
        offset = np.arange(int(counts.sum()), dtype=np.int64) - starts
        row_sampled = np.repeat(sampled, counts)
        offset[row_sampled] = rng.integers(0, np.repeat(degree[sampled], fanout))
        edge = np.repeat(self.crow[rows], counts) + offset
        scale = np.where(row_sampled, np.repeat(degree / max(fanout, 1), counts), 1.0)
        return counts, self.columns[self.col[edge]], (self.values[edge] * scale).astype(np.float32)

    def _return(
        self, plan: RowExchange, counts: np.ndarray, neighbours: np.ndarray, weights: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The owners' draws back at the requesting ranks, in the requested order."""
        counts_t = torch.from_numpy(counts.astype(np.int64))
        got_counts = start_all_to_all(counts_t, plan.recv_counts, plan.send_counts, self.stats).wait().numpy()
        edges_out, edges_in = _block_sums(counts, plan.send_counts), _block_sums(got_counts, plan.recv_counts)
        packed = torch.from_numpy(np.stack([neighbours.astype(np.float64), weights.astype(np.float64)], axis=1))
        got = start_all_to_all(packed, edges_in, edges_out, self.stats).wait().numpy()
        got_nodes, got_weights = got[:, 0].astype(np.int64), got[:, 1].astype(np.float32)
        # received rows are grouped by owner (plan.restore maps them to requested positions): reorder whole runs
        restore = plan.restore.numpy()
        starts = np.r_[0, np.cumsum(got_counts)][:-1]
        by_request = np.empty_like(restore)
        by_request[restore] = np.arange(len(restore))  # requested position j is received row by_request[j]
        counts_req = got_counts[by_request]
        picks = np.repeat(starts[by_request], counts_req) + (
            np.arange(int(counts_req.sum())) - np.repeat(np.r_[0, np.cumsum(counts_req)][:-1], counts_req)
        )
        return counts_req, got_nodes[picks], got_weights[picks]


def _block_sums(values: np.ndarray, blocks: list[int]) -> list[int]:
    """Sums of consecutive runs of `values` of the given lengths."""
    edges = np.r_[0, np.cumsum(blocks)].astype(np.int64)
    totals = np.r_[0, np.cumsum(values)]
    return [int(totals[edges[i + 1]] - totals[edges[i]]) for i in range(len(blocks))]
