"""What one training step optimises. An objective yields the epoch's batches and turns a batch into a loss.

- :class:`EdgeObjective` — user–item edges with sampled negatives, BPR / BCE plus L2 on the batch's ego embeddings
  (MF, LightGCN, NGCF); `train.negative_candidates` > 1 turns on dynamic negative sampling.
- :class:`graphrec.training.contrastive.ContrastiveEdgeObjective` — the edge objective plus an InfoNCE term
  between two views, for models that declare :class:`~graphrec.models.base.ContrastiveViews` (SimGCL, XSimGCL).
- :class:`graphrec.training.item_pairs.ItemPairObjective` — related item pairs with shared, hard and curriculum
  negatives and a max-margin loss (PinSAGE, GraphSAGE), chosen for models whose ``objective`` is "item_pairs".
- :class:`graphrec.training.skipgram.SkipGramObjective` — skip-gram with negative sampling over the (centre,
  context) pairs of random walks on the user–item graph (DeepWalk, node2vec), for ``objective`` "skip_gram".

Objectives own their random state and expose ``state_dict()`` / ``load_state_dict()`` for exact resume.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Protocol, cast

import numpy as np
import scipy.sparse as sp
import torch

from graphrec.config.train import EdgeTrainConfig, TrainConfig
from graphrec.data.dataset import Dataset
from graphrec.errors import ConfigError
from graphrec.losses import get_loss, l2_penalty
from graphrec.models.base import ContrastiveViews, EmbeddingRecommender, Recommender, SampledPropagation
from graphrec.models.base import Objective as ModelObjective
from graphrec.samplers import EdgeBatcher, UniformNegativeSampler
from graphrec.samplers.dynamic import select_hardest
from graphrec.seeding import Stream


class Objective(Protocol):
    num_batches: int

    def epoch(self, epoch: int) -> Iterator[Any]: ...

    def loss(self, batch: Any) -> torch.Tensor: ...

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


class EdgeBatches:
    """The edge batches of an epoch with their negative candidates (B, N, M): the same stream for a model trained
    in one process, data-parallel or partitioned (every rank draws the same global batches)."""

    def __init__(self, interactions: sp.spmatrix, train: EdgeTrainConfig, seed: int) -> None:
        self.train = train
        self.batcher = EdgeBatcher(interactions, train.batch_size, seed=seed, stream=Stream.EDGE_BATCHES)
        self.sampler = UniformNegativeSampler(interactions, seed=seed, stream=Stream.NEGATIVES)
        self.num_batches = self.batcher.num_batches

    def epoch(self) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
        train = self.train
        for users, positives in self.batcher.epoch():
            candidates = self.sampler.sample(users, train.num_negatives * train.negative_candidates)
            candidates = candidates.reshape(len(users), train.num_negatives, train.negative_candidates)
            yield torch.from_numpy(users), torch.from_numpy(positives), torch.from_numpy(candidates)

    def state_dict(self) -> dict[str, Any]:
        return {"batcher": self.batcher.state_dict(), "sampler": self.sampler.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.batcher.load_state_dict(state["batcher"])
        self.sampler.load_state_dict(state["sampler"])


class EdgeObjective:
    """BPR / BCE over shuffled training edges, with uniform or dynamic (hardest-of-M) negatives."""

    def __init__(self, model: EmbeddingRecommender, dataset: Dataset, train: EdgeTrainConfig, seed: int) -> None:
        self.model, self.train = model, train
        self.loss_fn = get_loss(train.loss)
        self.batches = EdgeBatches(dataset.train, train, seed)
        self.num_batches = self.batches.num_batches

    def epoch(self, epoch: int) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
        return self.batches.epoch()

    def loss(self, batch: tuple[torch.Tensor, torch.Tensor, torch.Tensor]) -> torch.Tensor:
        """Candidates (B, N, M) are reduced to N negatives per user (the hardest of M) before the loss."""
        user_emb, item_emb = self.model.embeddings()
        return self.edge_loss(*batch, user_emb, item_emb)

    def edge_loss(
        self,
        users: torch.Tensor,
        positives: torch.Tensor,
        candidates: torch.Tensor,
        user_emb: torch.Tensor,
        item_emb: torch.Tensor,
    ) -> torch.Tensor:
        """The edge loss of a batch scored by (user_emb, item_emb), negatives the hardest of the candidates by
        those scores, plus train.l2_reg × the L2 penalty on the batch's ego embeddings."""
        ego_users, ego_items = self.model.ego_embeddings()
        if candidates.shape[2] == 1:
            negatives = candidates[:, :, 0]
        else:
            negatives = select_hardest(candidates, user_emb[users].detach(), item_emb.detach())
        loss = self.loss_fn(user_emb[users], item_emb[positives], item_emb[negatives])
        reg = l2_penalty(ego_users[users], ego_items[positives], ego_items[negatives], batch_size=len(users))
        return loss + self.train.l2_reg * reg

    def state_dict(self) -> dict[str, Any]:
        return self.batches.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.batches.load_state_dict(state)


def make_objective(model: Recommender, dataset: Dataset, train: TrainConfig, seed: int) -> Objective:
    """The objective the model declares (``model.objective``: EDGES, ITEM_PAIRS or SKIP_GRAM), given its train
    section (the objective's class) and the run's seed; with sampled propagation configured (``model.fanouts``),
    edges on sampled computation graphs (`graphrec.training.sampled`); for a ContrastiveViews model, edges plus its
    contrastive term (`graphrec.training.contrastive`)."""
    if not isinstance(model, EmbeddingRecommender) or model.objective is ModelObjective.CLOSED_FORM:
        raise ConfigError(f"model '{model.name}' is fitted in closed form and has no training objective")
    if isinstance(model, SampledPropagation) and model.fanouts is not None:
        from graphrec.training.sampled import SampledEdgeObjective

        return SampledEdgeObjective(model, dataset, cast(EdgeTrainConfig, train), seed, model.fanouts)
    if isinstance(model, ContrastiveViews):
        from graphrec.training.contrastive import ContrastiveEdgeObjective

        return ContrastiveEdgeObjective(model, dataset, cast(EdgeTrainConfig, train), seed)
    if model.objective is ModelObjective.ITEM_PAIRS:
        from graphrec.config.train import ItemPairTrainConfig
        from graphrec.models.itemgraph import ItemGraphModel
        from graphrec.training.item_pairs import ItemPairObjective

        _require(model, ItemGraphModel, "item-pair", "item-graph models (pinsage, graphsage) only")
        return ItemPairObjective(cast(ItemGraphModel, model), dataset, cast(ItemPairTrainConfig, train), seed)
    if model.objective is ModelObjective.SKIP_GRAM:
        from graphrec.config.train import SkipGramTrainConfig
        from graphrec.models.deepwalk import DeepWalk
        from graphrec.training.skipgram import SkipGramObjective

        _require(
            model,
            DeepWalk,
            "skip-gram",
            "random-walk node embeddings (deepwalk, node2vec) only; subclass graphrec.models.deepwalk.DeepWalk or "
            "declare another objective",
        )
        return SkipGramObjective(cast(DeepWalk, model), dataset, cast(SkipGramTrainConfig, train), seed)
    return EdgeObjective(model, dataset, cast(EdgeTrainConfig, train), seed)


def _require(model: Recommender, cls: type, objective: str, trains: str) -> None:
    """ConfigError unless `model` is a `cls`, the only kind of model the `objective` objective trains."""
    if not isinstance(model, cls):
        raise ConfigError(f"model '{model.name}' declares the {objective} objective, which trains {trains}")


def as_int64(values: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(values, dtype=np.int64))
