"""LightGCN trained with the graph and the tables partitioned across ranks (issue 18).

Rank r owns the nodes of a :class:`~graphrec.graph.partition.Partition`: their rows of Ã (columns renumbered to
[own nodes; halo nodes]), their layer-0 embedding rows and, through the optimizer, those rows' Adam state. Nothing
else is held: no rank has all of Ã, all of a table or all of any layer.

**A layer.** E^{(k+1)}[own] = Ã[own, own] E^{(k)}[own] + Ã[own, halo] E^{(k)}[halo]: the halo rows travel from
their owners by one asynchronous exchange (:mod:`graphrec.training.halo`) while the own-column product runs. The
backward needs Ãᵀ g, and because Ã is symmetric (Ãᵀ g)[own] = Ã[own, :] g: the same two blocks times g and the
gradient's halo, fetched with the same plan. So a layer's backward is another forward-direction exchange and another
local product, and no rank stores a transposed block.

**A batch.** Every rank draws the same global batch (same seed, as in data-parallel training); rank r keeps the
rows whose user it owns and fetches, with one differentiable exchange, the final rows of the items they name (the
backward carries the gradients to the owners). Its loss is its rows' share of the global loss (mean over the local
rows × local rows / batch rows); the L2 penalty on layer-0 rows is taken by each row's owner (users: the rows'
rank; items: their owners, who know the global batch's items: uniform negatives are drawn identically everywhere,
dynamic ones are all-gathered once chosen). So the ranks' losses add up to the one-process loss and their gradients
to the one-process gradient; Adam is elementwise, so Adam on each rank's rows is Adam on the whole table.

**Initialisation** does not depend on the partition: node v's layer-0 row is drawn N(0, init_std²) from the
generator of v's block of INIT_BLOCK nodes, so any world size starts from the same tables.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch
import torch.distributed as dist
from torch import nn

from graphrec.config.models import PropagationConfig
from graphrec.graph.adjacency import to_torch_csr
from graphrec.graph.partition import Partition
from graphrec.losses import get_loss
from graphrec.models.lightgcn import resolve_layer_weights
from graphrec.samplers.dynamic import select_hardest
from graphrec.seeding import Stream, torch_generator
from graphrec.training.halo import (
    ExchangeStats,
    RowExchange,
    choose_halo_plan,
    exchange_plan,
    gather_plan,
    send_rows,
    start_send_rows,
)
from graphrec.training.partitioned_sampling import PartitionedNeighbourSampler

logger = logging.getLogger(__name__)

INIT_BLOCK = 65536  # nodes per initialisation generator: any partition draws the same rows


def normalised_degrees(train: sp.spmatrix) -> tuple[sp.csr_matrix, np.ndarray]:
    """R with duplicates summed (float32), and 1/sqrt(degree) of every node of A = [[0, R], [Rᵀ, 0]] (0 where
    isolated): the two things every rank needs to build its rows of Ã = D^-1/2 A D^-1/2."""
    csr = sp.csr_matrix(train, dtype=np.float32, copy=True)
    csr.sum_duplicates()
    csr.sort_indices()
    degree = np.concatenate([np.asarray(csr.sum(axis=1), dtype=np.float64).ravel(),
                             np.asarray(csr.sum(axis=0), dtype=np.float64).ravel()])  # fmt: skip
    inv_sqrt = np.zeros_like(degree)
    inv_sqrt[degree > 0] = degree[degree > 0] ** -0.5
    return csr, inv_sqrt


def local_adjacency(train: sp.spmatrix, partition: Partition, rank: int) -> tuple[torch.Tensor, np.ndarray]:
    """Rank's rows of Ã as a torch CSR matrix over local columns [own nodes; halo nodes], and the halo's global
    node ids (ascending). Values are computed as `normalized_adjacency` computes them."""
    csr, inv_sqrt = normalised_degrees(train)
    num_users = csr.shape[0]
    own = partition.nodes(rank)
    own_users, own_items = own[own < num_users], own[own >= num_users] - num_users
    user_rows = csr[own_users]
    item_rows = sp.csr_matrix(csr[:, own_items].T)
    item_rows.sort_indices()
    width_all = partition.num_nodes
    user_part = sp.csr_matrix(
        (user_rows.data, user_rows.indices + num_users, user_rows.indptr), (len(own_users), width_all)
    )
    item_part = sp.csr_matrix((item_rows.data, item_rows.indices, item_rows.indptr), (len(own_items), width_all))
    rows = sp.csr_matrix(sp.vstack([user_part, item_part], format="csr"))
    row_of = own[np.repeat(np.arange(len(own)), np.diff(rows.indptr))]
    values = (rows.data.astype(np.float64) * inv_sqrt[row_of] * inv_sqrt[rows.indices]).astype(np.float32)
    remote = partition.owner[rows.indices] != rank
    halo = np.unique(rows.indices[remote])
    local_col = partition.local_index[rows.indices].copy()
    local_col[remote] = len(own) + np.searchsorted(halo, rows.indices[remote])
    adj = to_torch_csr(sp.csr_matrix((values, local_col, rows.indptr), shape=(len(own), len(own) + len(halo))))
    return adj, halo.astype(np.int64)


def initial_rows(nodes: np.ndarray, dim: int, std: float, seed: int) -> torch.Tensor:
    """Layer-0 rows of the given global nodes, each drawn from its INIT_BLOCK's generator (partition-free)."""
    out = torch.empty((len(nodes), dim))
    blocks = nodes // INIT_BLOCK
    for block in np.unique(blocks):
        mine = np.flatnonzero(blocks == block)
        table = torch.empty((INIT_BLOCK, dim)).normal_(
            0.0, std, generator=torch_generator(seed, Stream.PARTITIONED_INIT, int(block))
        )
        out[torch.from_numpy(mine)] = table[torch.from_numpy(nodes[mine] - block * INIT_BLOCK)]
    return out


class _HaloPropagate(torch.autograd.Function):
    """y = Ã[own, own] x + Ã[own, halo] x_halo; backward: the same with g (Ã symmetric)."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, blocks: LocalBlocks, plan: RowExchange) -> torch.Tensor:
        ctx.blocks, ctx.plan = blocks, plan
        return blocks.product(plan, x)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None, None]:
        return ctx.blocks.product(ctx.plan, grad.contiguous()), None, None


class LocalBlocks:
    """A rank's rows of Ã split by column: `inner` (own columns) and `boundary` (halo columns), so the product with
    the own rows runs while the halo rows are still in flight."""

    def __init__(self, adj: torch.Tensor, num_own: int) -> None:
        rows = _scipy(adj)
        self.inner, self.boundary = (
            to_torch_csr(sp.csr_matrix(part)) for part in (rows[:, :num_own], rows[:, num_own:])
        )

    def product(self, plan: RowExchange, x: torch.Tensor) -> torch.Tensor:
        """inner @ x + boundary @ (halo rows of x), the exchange overlapping the first product (no autograd)."""
        with torch.no_grad():
            pending = start_send_rows(plan, x)
            y = torch.sparse.mm(self.inner, x)
            halo = pending.wait()
            if self.boundary.values().numel():
                y = y + torch.sparse.mm(self.boundary, halo)
            return y

    def nbytes(self) -> int:
        return sum(
            t.numel() * t.element_size()
            for m in (self.inner, self.boundary)
            for t in (m.crow_indices(), m.col_indices(), m.values())
        )


def _scipy(adj: torch.Tensor) -> sp.csr_matrix:
    crow, col, values = adj.crow_indices().numpy(), adj.col_indices().numpy(), adj.values().numpy()
    return sp.csr_matrix((values, col, crow), shape=tuple(adj.shape))


class PartitionedLightGCN(nn.Module):
    """This rank's part of a LightGCN: its rows of Ã and of the layer-0 table (`embedding`, own nodes × d, in
    `partition.nodes(rank)` order).

    Args:
        train: U × I interaction matrix (every rank reads it to build its rows; it is not kept).
        config: embedding_dim, num_layers, layer_weights, init_std (of model.name = "lightgcn").
        partition: the owner of every node. rank: this process's rank.
        seed: the run's seed (initialisation). stats: where the exchanges count bytes and seconds.
        halo_exchange: "all_to_all" (only the halo rows), "all_gather" (every rank's rows), or "auto" (whichever
            measures faster at construction; every rank agrees).
    """

    def __init__(
        self,
        train: sp.spmatrix,
        config: PropagationConfig,
        partition: Partition,
        rank: int,
        seed: int,
        stats: ExchangeStats | None = None,
        halo_exchange: str = "auto",
    ) -> None:
        super().__init__()
        self.partition, self.rank, self.num_users = partition, rank, partition.num_users
        self.alpha = resolve_layer_weights(config)
        self.num_layers = config.num_layers
        self.stats = stats if stats is not None else ExchangeStats()
        self.nodes = partition.nodes(rank)
        adj, self.halo = local_adjacency(train, partition, rank)
        self.blocks = LocalBlocks(adj, len(self.nodes))
        del adj  # the two blocks hold the same nonzeros
        self.halo_plan = (
            choose_halo_plan(partition, rank, self.halo, self.stats, config.embedding_dim)
            if halo_exchange == "auto"
            else (gather_plan if halo_exchange == "all_gather" else exchange_plan)(
                partition, rank, self.halo, self.stats
            )
        )
        self.embedding = nn.Parameter(initial_rows(self.nodes, config.embedding_dim, config.init_std, seed))

    def sampler(self, fanouts: list[int]) -> PartitionedNeighbourSampler:
        """A neighbour sampler over this rank's rows of Ã (for model.fanouts training)."""
        columns = np.concatenate([self.nodes, self.halo])
        rows = to_torch_csr(sp.csr_matrix(sp.hstack([_scipy(self.blocks.inner), _scipy(self.blocks.boundary)])))
        return PartitionedNeighbourSampler(rows, columns, self.partition, self.rank, fanouts, self.stats)

    def held_bytes(self) -> dict[str, int]:
        """Bytes of this rank's graph rows (CSR arrays) and layer-0 table (Adam's two moments double the latter)."""
        graph = self.blocks.nbytes()
        table = self.embedding.numel() * self.embedding.element_size()
        return {"graph": graph, "table": table, "optimizer": 2 * table}

    def forward(self) -> torch.Tensor:
        """Σ_k α_k E^{(k)} on this rank's nodes (own nodes × d)."""
        x = self.embedding
        out = self.alpha[0] * x
        for k in range(1, self.num_layers + 1):
            x = _HaloPropagate.apply(x, self.blocks, self.halo_plan)
            out = out + self.alpha[k] * x
        return out

    def batch_loss(
        self, users: torch.Tensor, positives: torch.Tensor, candidates: torch.Tensor, loss: str, l2_reg: float
    ) -> torch.Tensor:
        """This rank's share of the global batch's loss (user_idx, positive item_idx, candidates (B, N, M)):
        the rows whose user it owns. Collective: every rank calls it with the same global batch.

        With dynamic negatives (M > 1) the candidates' final rows are fetched without gradients to choose the
        hardest, and the chosen negatives are all-gathered: every owner then knows which of its item rows the
        batch uses, and takes their L2 term itself (with uniform negatives every rank knows them already). Only
        the final rows of the positives and chosen negatives travel with gradients."""
        user_nodes, batch_size = users.numpy(), len(users)
        owners = self.partition.owner[user_nodes]
        mine = torch.from_numpy(np.flatnonzero(owners == self.rank))
        final = self()
        local_users = torch.from_numpy(self.partition.local_index[user_nodes[mine.numpy()]])
        user_final, user_ego = final[local_users], self.embedding[local_users]
        if candidates.shape[2] == 1:
            all_negatives = candidates[:, :, 0]
        else:
            chosen = self._hardest(final.detach(), user_final.detach(), candidates[mine])
            all_negatives = self._gather_rows_by_owner(chosen, owners, candidates.shape[:2])
        negatives, mine_positives = all_negatives[mine], positives[mine]
        wanted, position = _unique_positions(
            np.concatenate([mine_positives.numpy(), negatives.numpy().ravel()]) + self.num_users,
            self.partition.num_nodes,
        )
        fetched = exchange_plan(self.partition, self.rank, wanted, self.stats).fetch(final)
        at = torch.from_numpy(position)
        count = len(mine_positives)
        finals = (user_final, fetched[at[:count]], fetched[at[count:]].reshape(*negatives.shape, -1))
        anchor = fetched.sum() * 0.0  # keeps the exchange in the graph on a rank with no rows (backward is collective)
        share = _share_of_loss(finals, (user_ego,), loss, l2_reg, batch_size)
        return anchor + share + l2_reg * self._own_item_penalty(positives, all_negatives, batch_size)

    def _hardest(self, final: torch.Tensor, user_vectors: torch.Tensor, candidates: torch.Tensor) -> torch.Tensor:
        """The highest-scored of each row's candidates (B, N, M) → (B, N) item_idx, scored by the current final
        rows fetched from their owners without gradients. Collective."""
        wanted, position = _unique_positions(candidates.numpy().ravel() + self.num_users, self.partition.num_nodes)
        rows = send_rows(exchange_plan(self.partition, self.rank, wanted, self.stats), final)
        at = torch.from_numpy(position).reshape(candidates.shape)
        best = select_hardest(at, user_vectors, rows)
        return torch.from_numpy(wanted - self.num_users)[best]

    def _gather_rows_by_owner(self, local: torch.Tensor, owners: np.ndarray, shape: tuple[int, ...]) -> torch.Tensor:
        """The global batch's (B, N) array from each rank's rows (the rows whose user it owns). Collective."""
        world = self.partition.world_size
        if world == 1:
            return local
        counts = np.bincount(owners, minlength=world)
        padded = local.new_zeros((int(counts.max()), *local.shape[1:]))
        padded[: len(local)] = local
        parts = [torch.empty_like(padded) for _ in range(world)]
        dist.all_gather(parts, padded)
        out = local.new_empty(shape)
        for rank, part in enumerate(parts):
            out[torch.from_numpy(np.flatnonzero(owners == rank))] = part[: counts[rank]]
        return out

    def _own_item_penalty(self, positives: torch.Tensor, negatives: torch.Tensor, batch_size: int) -> torch.Tensor:
        """0.5 × Σ ||e_v||² / batch size over the global batch's positive and negative items that this rank owns
        (each counted as often as it occurs, as the one-process penalty counts them)."""
        items = np.concatenate([positives.numpy(), negatives.numpy().ravel()]) + self.num_users
        items = items[self.partition.owner[items] == self.rank]
        counts = np.bincount(self.partition.local_index[items], minlength=len(self.nodes))
        touched = np.flatnonzero(counts)
        rows = self.embedding[torch.from_numpy(touched)]
        weights = torch.from_numpy(counts[touched].astype(np.float32))
        return 0.5 * (weights * rows.pow(2).sum(dim=1)).sum() / batch_size

    def sampled_batch_loss(
        self,
        users: torch.Tensor,
        positives: torch.Tensor,
        negatives: torch.Tensor,
        loss: str,
        l2_reg: float,
        sampler: PartitionedNeighbourSampler,
        rng: np.random.Generator,
    ) -> torch.Tensor:
        """:meth:`batch_loss` (negatives (B, N) already chosen) over this rank's rows' sampled computation graph
        instead of full propagation: only the graph's input rows are fetched. Collective."""
        user_nodes = users.numpy()
        mine = torch.from_numpy(np.flatnonzero(self.partition.owner[user_nodes] == self.rank))
        users, positives, negatives = users[mine], positives[mine], negatives[mine]
        u = self.num_users
        seeds = np.concatenate([users.numpy(), u + positives.numpy(), u + negatives.numpy().ravel()])
        graph = sampler.sample(seeds, rng)
        x = exchange_plan(self.partition, self.rank, graph.input_nodes, self.stats).fetch(self.embedding)
        n = graph.num_seeds
        ego, out = x[:n], self.alpha[0] * x[:n]
        for k, layer in enumerate(graph.layers, start=1):
            x = layer.aggregate(x)
            out = out + self.alpha[k] * x[:n]
        at = [graph.positions(users.numpy()), graph.positions(u + positives.numpy())]
        at.append(graph.positions(u + negatives.numpy().ravel()))
        shape = (*negatives.shape, -1)
        finals = (out[at[0]], out[at[1]], out[at[2]].reshape(shape))
        egos = (ego[at[0]], ego[at[1]], ego[at[2]])
        return ego.sum() * 0.0 + _share_of_loss(finals, egos, loss, l2_reg, len(user_nodes))


def _unique_positions(ids: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """(the distinct ids ascending, each id's position among them) for ids in [0, size): np.unique with
    return_inverse by marking a table instead of sorting (a step's ids number 10⁵–10⁶)."""
    mark = np.zeros(size, dtype=bool)
    mark[ids] = True
    index = np.cumsum(mark) - 1
    return np.flatnonzero(mark).astype(np.int64), index[ids].astype(np.int64)


def _share_of_loss(
    finals: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
    egos: tuple[torch.Tensor, ...],
    loss: str,
    l2_reg: float,
    batch_size: int,
) -> torch.Tensor:
    """This rank's rows' part of the global batch loss: their mean loss × their share of the batch, plus l2_reg ×
    0.5 × their layer-0 rows' squared norms / batch size (EdgeObjective's loss, summed over ranks)."""
    rows = finals[0].shape[0]
    if rows == 0:
        return finals[0].new_zeros(())
    squares = sum(e.pow(2).sum() for e in egos)
    return rows / batch_size * get_loss(loss)(*finals) + l2_reg * 0.5 * squares / batch_size
