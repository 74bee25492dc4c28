"""The edge objective plus a contrastive term, for models that declare
:class:`~graphrec.models.base.ContrastiveViews` (SimGCL, XSimGCL).

Same edges, batches and negative candidates as :class:`~graphrec.training.objectives.EdgeObjective` for the same
seed. Each step the model makes its training forward (:meth:`ContrastiveViews.contrastive_forward`) with the
generator ``torch_generator(seed, NOISE_STREAM, epoch, step)``, so resuming at an epoch boundary redraws exactly the
noise an uninterrupted run would have drawn. The loss is

    edge loss (BPR / BCE on the forward's `users` / `items`, negatives the hardest of `train.negative_candidates` by
    those scores) + train.l2_reg × L2(batch's ego embeddings)
    + λ · (InfoNCE_τ(user views, over the batch's unique users) + InfoNCE_τ(item views, over its unique positives))

with λ = ``model.contrast_weight`` and τ = ``model.temperature``. Under torchrun each rank contrasts the users and
items of its own slice of the batch (the negatives of the InfoNCE are that slice's), with the same noise on every
rank.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import torch

from graphrec.config.train import EdgeTrainConfig
from graphrec.data.dataset import Dataset
from graphrec.errors import ConfigError
from graphrec.losses import info_nce
from graphrec.models.base import ContrastiveViews, EmbeddingRecommender
from graphrec.seeding import Stream, torch_generator
from graphrec.training.objectives import EdgeObjective

NOISE_STREAM = Stream.CONTRASTIVE_NOISE  # torch_generator stream of the views' noise (keys: epoch, step)


@dataclass
class ContrastiveBatch:
    users: torch.Tensor  # (B,) user_idx
    positives: torch.Tensor  # (B,) item_idx
    candidates: torch.Tensor  # (B, N, M) negative candidates
    epoch: int  # keys of the step's noise generator
    step: int


class ContrastiveEdgeObjective(EdgeObjective):
    """EdgeObjective on the model's training forward, plus λ · InfoNCE between its two views."""

    def __init__(self, model: EmbeddingRecommender, dataset: Dataset, train: EdgeTrainConfig, seed: int) -> None:
        if not isinstance(model, ContrastiveViews):
            raise ConfigError(
                f"model '{model.name}' has no contrastive views (simgcl and xsimgcl have); train it with the edge "
                "objective (graphrec.training.objectives.make_objective picks the objective by model)"
            )
        super().__init__(model, dataset, train, seed)
        self.views: ContrastiveViews = model
        self.seed = seed

    def epoch(self, epoch: int) -> Iterator[ContrastiveBatch]:  # type: ignore[override]  # own batch type; batches are opaque to the trainer
        for step, (users, positives, candidates) in enumerate(super().epoch(epoch)):
            yield ContrastiveBatch(users, positives, candidates, epoch, step)

    def loss(self, batch: ContrastiveBatch) -> torch.Tensor:  # type: ignore[override]  # the batches of epoch() above
        forward = self.views.contrastive_forward(torch_generator(self.seed, NOISE_STREAM, batch.epoch, batch.step))
        edge = self.edge_loss(batch.users, batch.positives, batch.candidates, forward.users, forward.items)
        return edge + self.views.contrast_weight * self.contrastive_loss(batch, forward.user_views, forward.item_views)

    def contrastive_loss(
        self,
        batch: ContrastiveBatch,
        user_views: tuple[torch.Tensor, torch.Tensor],
        item_views: tuple[torch.Tensor, torch.Tensor],
    ) -> torch.Tensor:
        """InfoNCE over the batch's unique users plus InfoNCE over its unique positive items."""
        users, items = torch.unique(batch.users), torch.unique(batch.positives)
        tau = self.views.temperature
        return info_nce(user_views[0][users], user_views[1][users], tau) + info_nce(
            item_views[0][items], item_views[1][items], tau
        )
