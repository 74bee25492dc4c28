"""The one small interface every recommender implements."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar

import scipy.sparse as sp
import torch
from torch import nn

from graphrec.models.config import ModelConfig


class Recommender(nn.Module, ABC):
    """A model whose score is a dot product of final user and item embeddings: f(u, v) = <U_u, I_v>.

    Subclasses are built as ``cls(num_users, num_items, config, train)`` where `train` is the binary
    user × item CSR training matrix (graph models build their adjacency from it).
    """

    name: ClassVar[str]
    trainable: ClassVar[bool] = True  # False: fitted in closed form, no gradient steps (e.g. Popularity)

    def __init__(self, num_users: int, num_items: int, config: ModelConfig, train: sp.csr_matrix) -> None:
        super().__init__()
        self.num_users = num_users
        self.num_items = num_items
        self.config = config

    @abstractmethod
    def embeddings(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Final (user, item) embeddings, shapes (num_users, d) and (num_items, d); differentiable in train mode."""

    def ego_embeddings(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Layer-0 (user, item) embedding tables, the targets of the L2 penalty; defaults to `embeddings()`."""
        return self.embeddings()

    @torch.no_grad()
    def score(self, user_idx: torch.Tensor) -> torch.Tensor:
        """Scores of every item for the given users, shape (len(user_idx), num_items)."""
        users, items = self.embeddings()
        return users[user_idx] @ items.T
