"""DeepWalk: one vector per user and item, learnt by skip-gram with negative sampling over random walks."""

from __future__ import annotations

from typing import ClassVar

import scipy.sparse as sp
import torch
from torch import nn

from graphrec.config.models import DeepWalkConfig, Objective
from graphrec.models._checks import check_train
from graphrec.models.base import EmbeddingRecommender


class DeepWalk(EmbeddingRecommender):
    """DeepWalk (Perozzi, Al-Rfou & Skiena, KDD 2014) on the user–item bipartite graph.

    Nodes are the users 0..U−1 and the items U..U+I−1 of one table `node_embedding.weight` ((U + I) × d, initialised
    N(0, init_std²) from torch's global generator). Training (graphrec.training.skipgram) walks the graph uniformly
    and, for every walk node v, every context node c at most `window` steps away and K noise nodes n_k drawn
    ∝ degree^`negative_power` (default 0: uniform; word2vec's 0.75 is one key away), minimises skip-gram with
    negative sampling (Mikolov et al., NeurIPS 2013):

        L(v, c) = −log σ(z_vᵀ z_c) − Σ_{k=1..K} log σ(−z_vᵀ z_{n_k})

    One vector per node plays both the centre and the context role (the single mapping f of Grover & Leskovec's
    objective, eq. 2; word2vec's separate output vectors are not kept), so z_uᵀ z_i grows with how often u and i
    co-occur within a window of the walks — similarity(u, i) ≈ z_uᵀ z_i, near a shifted log co-occurrence ratio
    (Levy & Goldberg, NeurIPS 2014). Scores are f(u, i) = z_uᵀ z_i, as for MF.
    """

    name = "deepwalk"
    objective: ClassVar[Objective] = Objective.SKIP_GRAM
    config: DeepWalkConfig

    def __init__(self, num_users: int, num_items: int, config: DeepWalkConfig, train: sp.spmatrix) -> None:
        super().__init__(num_users, num_items, config, train)
        check_train(train, num_users, num_items)
        self.node_embedding = nn.Embedding(num_users + num_items, config.embedding_dim)
        nn.init.normal_(self.node_embedding.weight, std=config.init_std)

    @property
    def walk_bias(self) -> tuple[float, float]:
        """node2vec's (p, q) of the training walks; DeepWalk's walks are uniform: (1, 1)."""
        return 1.0, 1.0

    @property
    def node_table(self) -> torch.Tensor:
        """The (U + I) × d table of z_v (users 0..U−1, items U..U+I−1) the skip-gram objective trains."""
        return self.node_embedding.weight

    def embeddings(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(user rows, item rows) of the node table; detached under `torch.no_grad()`."""
        table = self.node_embedding.weight
        if not torch.is_grad_enabled():
            table = table.detach()
        return table[: self.num_users], table[self.num_users :]
