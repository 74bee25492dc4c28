"""Most-popular baseline: every user gets the items with the most training interactions."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch

from graphrec.config.models import PopularityConfig
from graphrec.models._checks import check_train
from graphrec.models.base import EmbeddingRecommender, Objective


class Popularity(EmbeddingRecommender):
    """f(u, v) = c_v, the number of training interactions of item v (the same ranking for every user).

    Closed form, nothing to train (`objective = Objective.CLOSED_FORM`). As embeddings: users = 1 (U × 1), items = c
    (I × 1), float32, so <U_u, I_v> = c_v exactly (counts below 2^24 are exact in float32). Tied items get
    equal scores; their order is whatever the (deterministic) top-k of the caller gives — no fractional
    tie-breaker is added because float32 cannot hold one exactly next to counts in the thousands.
    The counts are a persistent buffer `item_counts`, so `state_dict()` save/load round-trips.
    """

    name = "popularity"
    objective = Objective.CLOSED_FORM
    item_counts: torch.Tensor

    def __init__(self, num_users: int, num_items: int, config: PopularityConfig, train: sp.spmatrix) -> None:
        super().__init__(num_users, num_items, config, train)
        check_train(train, num_users, num_items)
        counts = np.asarray(sp.csc_matrix(train).getnnz(axis=0), dtype=np.float32)
        self.register_buffer("item_counts", torch.from_numpy(counts).reshape(num_items, 1))

    def embeddings(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(ones (U × 1), item_counts (I × 1))."""
        users = torch.ones(self.num_users, 1, dtype=self.item_counts.dtype, device=self.item_counts.device)
        return users, self.item_counts
