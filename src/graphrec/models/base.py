"""The model interface: one base class every recommender implements, and the capabilities some of them declare.

Every model scores: :meth:`Recommender.scorer` returns a :class:`Scorer`, a pure computation over the model's
current state whose ``score(user_idx)`` is the (B × num_items) score matrix. Everything else a caller may need is a
*capability*, an abstract class a model inherits when it has it, so that callers narrow with ``isinstance`` on a
declared type instead of probing attributes by name:

- :class:`EmbeddingRecommender` — f(u, v) = <U_u, I_v> over final embeddings (`embeddings()`), the layer-0 tables
  for the L2 penalty (`ego_embeddings()`); trained by the objective it declares (edges, item pairs, skip-gram);
  exportable and indexable (ANN).
- :class:`SampledPropagation` — mini-batch training on sampled computation graphs (`model.fanouts`).
- :class:`ShardedInference` — final embeddings computed in row shards across ranks (`graphrec embed`).
- :class:`InductiveItems` — items unseen in training embedded from their features and users: a pure
  :meth:`~InductiveItems.plan_items` / :meth:`~InductiveItems.embed_items`, and the separate mutating step
  :meth:`~InductiveItems.add_items`.
- :class:`UsersFromItems` — user vectors derived from item vectors (so appending items recomputes users cheaply).
- :class:`SelectsOnValidation` — a closed-form model that chooses some of its settings on the validation split
  (blend: its weights), through the :class:`~graphrec.evaluation.validation.ValidationSplit` the trainer hands it.
- :class:`ContrastiveViews` — edge training plus an InfoNCE term between two views the model makes each step
  (`graphrec.training.contrastive`; simgcl, xsimgcl).

Which training objective a model wants is declared by its class attribute ``objective`` (an :class:`Objective`);
which extra inputs it is built with, by ``inputs`` (:class:`ModelInput` members).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import scipy.sparse as sp
import torch
from torch import nn

from graphrec.config.models import ModelConfig, Objective  # Objective: declared beside each model's config
from graphrec.models.scoring import DotScorer, Scorer

if TYPE_CHECKING:
    from graphrec.evaluation.validation import ValidationSplit


class ModelInput(str, Enum):
    """Extra inputs a model can be built with, beyond the training matrix (saved beside a run as NAME.npy)."""

    ITEM_FEATURES = "item_features"  # (num_items, F) float32 feature matrix
    TRAIN_TIMESTAMPS = "train_timestamps"  # timestamps of the training edges in CSR order


Gather = Callable[[torch.Tensor], torch.Tensor]  # every rank's rows, concatenated in rank order


class Recommender(nn.Module, ABC):
    """A model built as ``cls(num_users, num_items, config, train, **inputs)``, `train` the binary user × item CSR
    training matrix; `inputs` the :class:`ModelInput` entries the class lists in ``inputs``."""

    name: ClassVar[str]
    objective: ClassVar[Objective] = Objective.EDGES
    inputs: ClassVar[tuple[ModelInput, ...]] = ()

    def __init__(self, num_users: int, num_items: int, config: ModelConfig, train: sp.csr_matrix) -> None:
        super().__init__()
        self.num_users = num_users
        self.num_items = num_items
        self.config = config

    @property
    def trainable(self) -> bool:
        """Whether the model takes gradient steps (False: fitted in closed form at construction)."""
        return self.objective is not Objective.CLOSED_FORM

    def fit(self) -> None:
        """Closed-form models (``objective`` CLOSED_FORM) compute their state here, once, when trained; a loaded run
        gets that state from its checkpoint instead. Nothing to do for the others."""

    @abstractmethod
    def scorer(self) -> Scorer:
        """A scorer over the model's current state (computed without gradients; call in eval mode)."""

    @torch.no_grad()
    def score(self, user_idx: torch.Tensor) -> torch.Tensor:
        """Scores of every item for the given users, shape (len(user_idx), num_items)."""
        return self.scorer().score(user_idx)


class EmbeddingRecommender(Recommender):
    """A model whose score is a dot product of final user and item embeddings: f(u, v) = <U_u, I_v>."""

    @abstractmethod
    def embeddings(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Final (user, item) embeddings, shapes (num_users, d) and (num_items, d); differentiable in train mode."""

    def ego_embeddings(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Layer-0 (user, item) embedding tables, the targets of the L2 penalty; defaults to `embeddings()`."""
        return self.embeddings()

    @torch.no_grad()
    def scorer(self) -> DotScorer:
        users, items = self.embeddings()
        return DotScorer(users.detach(), items.detach())


class SampledPropagation(ABC):
    """Training on neighbour-sampled computation graphs (`model.fanouts`, graphrec.training.sampled)."""

    @property
    @abstractmethod
    def fanouts(self) -> list[int] | None:
        """Neighbours drawn per node for layers 1..K when training sampled; None: full propagation."""

    @abstractmethod
    def propagation_matrix(self) -> torch.Tensor:
        """The propagation matrix (torch CSR, (users + items) square) the neighbour sampler draws from."""

    @abstractmethod
    def sampled_embeddings(self, graph: Any, sparse: bool = False) -> torch.Tensor:
        """Final embeddings of `graph.seeds` (rows in seed order) over the sampled graph (graph.sampled)."""


class ShardedInference(ABC):
    """Final embeddings computed in shards: each rank computes its own rows of every layer exactly once."""

    sharding: ClassVar[str]  # how, in words, for reports ("row-sharded propagation", …)

    @abstractmethod
    def shard_embeddings(
        self, users: tuple[int, int], items: tuple[int, int], world: int, gather: Gather
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(user rows users[0]:users[1], item rows items[0]:items[1]) of the final embeddings. `gather` hands every
        rank the rows of all ranks (in rank order, each rank owning ``shard_range(n, rank, world)`` of users and of
        items); every rank calls it the same number of times."""


class UsersFromItems(ABC):
    """User vectors are a function of the item vectors."""

    @abstractmethod
    def users_from_items(self, items: torch.Tensor) -> torch.Tensor:
        """User embeddings (num_users, d) given every item's embedding `items`."""


class InductiveItems(ABC):
    """Items unseen in training embedded from their features and the users who engaged with them."""

    @property
    @abstractmethod
    def feature_width(self) -> int:
        """Number of feature values a new item needs (0: the model takes no features)."""

    @abstractmethod
    def plan_items(self, features: np.ndarray | None, item_users: list[np.ndarray]) -> Any:
        """Pure: what adding these items would do (the grown graph and the new items' embeddings), the model
        unchanged. `item_users[j]` are the user_idx of new item j; `features` one row per new item or None."""

    def embed_items(self, features: np.ndarray | None, item_users: list[np.ndarray]) -> torch.Tensor:
        """Pure: embeddings of the new items (one row each), the model unchanged."""
        return self.planned_embeddings(self.plan_items(features, item_users))

    @abstractmethod
    def planned_embeddings(self, plan: Any) -> torch.Tensor:
        """The new items' embeddings of a plan."""

    @abstractmethod
    def add_items(self, plan: Any) -> np.ndarray:
        """The mutating step: grow the model by a plan of :meth:`plan_items`; return the new items' indices."""


class SelectsOnValidation(ABC):
    """A closed-form model that chooses some of its settings on the validation split (blend: its weights).

    When the run is trained, the trainer calls :meth:`select` once, after :meth:`Recommender.fit`, with the split;
    the choice is kept in persistent buffers, so a loaded run does not choose again."""

    @abstractmethod
    def select(self, split: ValidationSplit | None) -> dict[str, Any]:
        """Choose on `split` (None: the data has no validation split) and return what was chosen and how, as a
        JSON-able report (the trainer saves it as the run's selection.json)."""


@dataclass
class ContrastiveForward:
    """One training forward of a :class:`ContrastiveViews` model (all tensors differentiable)."""

    users: torch.Tensor  # (num_users, d): what the edge loss (BPR / BCE) and dynamic negatives score
    items: torch.Tensor  # (num_items, d)
    user_views: tuple[torch.Tensor, torch.Tensor]  # two (num_users, d) views of every user, contrasted row by row
    item_views: tuple[torch.Tensor, torch.Tensor]  # two (num_items, d) views of every item


class ContrastiveViews(ABC):
    """Trained by the edge objective plus λ · InfoNCE(τ) between two views of the batch's users and of its items
    (graphrec.training.contrastive). Scoring (`embeddings()`) stays deterministic: views are for training only."""

    @property
    @abstractmethod
    def temperature(self) -> float:
        """τ of the InfoNCE."""

    @property
    @abstractmethod
    def contrast_weight(self) -> float:
        """λ: the InfoNCE term's weight next to the edge loss."""

    @abstractmethod
    def contrastive_forward(self, generator: torch.Generator) -> ContrastiveForward:
        """This step's embeddings and views; every random draw from `generator` (the step's own stream)."""
