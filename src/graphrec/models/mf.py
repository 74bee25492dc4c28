"""Matrix factorisation: f(u, v) = <e_u, e_v> with free embedding tables."""

from __future__ import annotations

import scipy.sparse as sp
import torch
from torch import nn

from graphrec.config.models import MFConfig
from graphrec.models._checks import check_train, init_tables
from graphrec.models.base import EmbeddingRecommender


class MF(EmbeddingRecommender):
    """Matrix factorisation (the BPR-MF model): f(u, v) = e_u^T e_v, e ∈ R^d.

    Tables `user_embedding.weight` (U × d) and `item_embedding.weight` (I × d) are initialised
    N(0, init_std²) from torch's global generator (seed it before construction for reproducibility).
    Final embeddings are the tables themselves, so `ego_embeddings() == embeddings()`.
    """

    name = "mf"

    def __init__(self, num_users: int, num_items: int, config: MFConfig, train: sp.spmatrix) -> None:
        super().__init__(num_users, num_items, config, train)
        check_train(train, num_users, num_items)
        self.user_embedding = nn.Embedding(num_users, config.embedding_dim)
        self.item_embedding = nn.Embedding(num_items, config.embedding_dim)
        init_tables(self.user_embedding, self.item_embedding, config, train)

    def embeddings(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(user table, item table); detached under `torch.no_grad()` like every model's computed output."""
        users, items = self.user_embedding.weight, self.item_embedding.weight
        if not torch.is_grad_enabled():
            return users.detach(), items.detach()
        return users, items

    def ego_embeddings(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The same tables (layer 0 is the final layer)."""
        return self.user_embedding.weight, self.item_embedding.weight
