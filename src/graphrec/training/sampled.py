"""BPR / BCE on neighbour-sampled computation graphs (``model.fanouts``): LightGCN, NGCF, GCN and GAT mini-batches
whose cost is bounded by the batch, not the graph.

Same edges, batches and negative candidates as :class:`~graphrec.training.objectives.EdgeObjective` for the same
seed; what changes is the forward. Each batch's seeds (its users, positive and negative items) get their final
embeddings from ``model.sampled_embeddings`` over a graph sampled by :class:`graphrec.graph.sampled.NeighbourSampler`
with the generator ``numpy_rng(seed, SAMPLED_STREAM, epoch, step)``, so resuming at an epoch boundary redraws exactly
the graphs an uninterrupted run would have drawn.

Dynamic negative sampling (``train.negative_candidates`` = M > 1) needs scores for B × M candidates; propagating all
of them would undo the sampling, so candidates are ranked with a *score cache*: the full-propagation embeddings
computed without gradients at the start of each epoch and, with ``train.score_refresh_steps`` = R > 0, every R steps
(each refresh is one O(nnz · d · K) pass; once per epoch is the order of one epoch of sampled steps; memory
O((users + items) · d), the size of the embedding tables). The loss itself always uses the current sampled
embeddings. Validation and inference use full propagation (``model.embeddings()``, layer by layer).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader
from torch.utils.data import Dataset as TorchDataset

from graphrec.config.train import EdgeTrainConfig
from graphrec.data.dataset import Dataset
from graphrec.errors import ConfigError
from graphrec.graph.sampled import NeighbourSampler, SampledGraph
from graphrec.losses import l2_penalty
from graphrec.models.base import EmbeddingRecommender, SampledPropagation
from graphrec.samplers.dynamic import select_hardest
from graphrec.seeding import Stream, numpy_rng
from graphrec.training.item_pairs import whole_batch
from graphrec.training.objectives import EdgeObjective

SAMPLED_STREAM = Stream.SAMPLED_NEIGHBOURS  # numpy_rng stream of the neighbour sampling (keys: epoch, step)


@dataclass
class SampledBatch:
    users: torch.Tensor  # (B,) user_idx
    positives: torch.Tensor  # (B,) item_idx
    negatives: torch.Tensor  # (B, N) item_idx
    graph: SampledGraph


class _GraphProducer(TorchDataset):
    """Step → SampledBatch: the step's computation graph drawn with numpy_rng(seed, SAMPLED_STREAM, epoch, step),
    so any worker draws what the trainer's process would."""

    def __init__(self, neighbours: NeighbourSampler, seed: int, epoch: int, num_users: int) -> None:
        self.neighbours, self.seed, self.epoch, self.num_users = neighbours, seed, epoch, num_users
        self.items: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, step: int) -> SampledBatch:
        return self.batch(step, *self.items[step])

    def batch(self, step: int, users: torch.Tensor, positives: torch.Tensor, negatives: torch.Tensor) -> SampledBatch:
        seeds = np.concatenate(
            [users.numpy(), self.num_users + positives.numpy(), self.num_users + negatives.numpy().ravel()]
        )
        graph = self.neighbours.sample(seeds, numpy_rng(self.seed, SAMPLED_STREAM, self.epoch, step))
        return SampledBatch(users, positives, negatives, graph)


class SampledEdgeObjective(EdgeObjective):
    """EdgeObjective with the forward restricted to each batch's sampled computation graph."""

    def __init__(
        self, model: EmbeddingRecommender, dataset: Dataset, train: EdgeTrainConfig, seed: int, fanouts: list[int]
    ) -> None:
        if not isinstance(model, SampledPropagation):
            raise ConfigError(
                f"model.fanouts: model '{model.config.name}' has no sampled propagation "
                "(lightgcn, ngcf, gcn and gat have); unset model.fanouts"
            )
        super().__init__(model, dataset, train, seed)
        self.propagation: SampledPropagation = model
        self.sparse = train.sparse_updates
        self.neighbours = NeighbourSampler(model.propagation_matrix(), fanouts)
        self.seed, self.num_users = seed, dataset.num_users
        self._cache: tuple[torch.Tensor, torch.Tensor] | None = None

    def epoch(self, epoch: int) -> Iterator[SampledBatch]:  # type: ignore[override]  # own batch type; batches are opaque to the trainer
        """Batches of the epoch, each with its negatives chosen and its computation graph drawn (in background
        processes with train.num_workers > 0: the same graphs, each a function of (seed, epoch, step))."""
        edges = self._edges(epoch)
        graphs = _GraphProducer(self.neighbours, self.seed, epoch, self.num_users)
        if self.train.num_workers == 0:
            for step, (users, positives, negatives) in enumerate(edges):
                yield graphs.batch(step, users, positives, negatives)
            return
        # the negatives of the whole epoch first (a config rule keeps them independent of the epoch's updates),
        # then the workers draw the graphs while the model trains on the ones already drawn
        graphs.items = list(edges)
        yield from DataLoader(
            graphs, batch_size=None, shuffle=False, num_workers=self.train.num_workers, collate_fn=whole_batch,
            prefetch_factor=4,
        )  # fmt: skip

    def _edges(self, epoch: int) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
        """(users, positives, negatives) of each step: the hardest candidates by the score cache with DNS."""
        dns, refresh = self.train.negative_candidates > 1, self.train.score_refresh_steps
        for step, (users, positives, candidates) in enumerate(super().epoch(epoch)):
            if dns and (step == 0 or (refresh and step % refresh == 0)):
                self._cache = self._score_cache()  # the model after `step` updates of this epoch
            if candidates.shape[2] == 1:
                yield users, positives, candidates[:, :, 0]
            else:
                assert self._cache is not None  # filled at step 0 whenever dns
                yield users, positives, select_hardest(candidates, self._cache[0][users], self._cache[1])

    @torch.no_grad()
    def _score_cache(self) -> tuple[torch.Tensor, torch.Tensor]:
        was_training = self.model.training
        self.model.eval()  # no dropout in the scores
        users, items = self.model.embeddings()
        self.model.train(was_training)
        return users.detach(), items.detach()

    def loss(self, batch: SampledBatch) -> torch.Tensor:  # type: ignore[override]  # the batches of epoch() above
        graph, users, positives, negatives = batch.graph, batch.users, batch.positives, batch.negatives
        out = self.propagation.sampled_embeddings(graph, sparse=self.sparse)
        user_e = out[graph.positions(users.numpy())]
        pos_e = out[graph.positions(self.num_users + positives.numpy())]
        neg_e = out[graph.positions(self.num_users + negatives.numpy().ravel())].reshape(*negatives.shape, -1)
        ego_users, ego_items = self.model.ego_embeddings()
        rows = [
            F.embedding(idx, table, sparse=self.sparse)
            for idx, table in ((users, ego_users), (positives, ego_items), (negatives, ego_items))
        ]
        reg = l2_penalty(*rows, batch_size=len(users))
        return self.loss_fn(user_e, pos_e, neg_e) + self.train.l2_reg * reg
