"""GF-CF (Shen et al., "How Powerful is Graph Convolution for Recommendation?", CIKM 2021): a training-free graph
filter on the normalised item–item graph, a model that only scores.

    R̃   = D_U^{-1/2} R D_I^{-1/2}                       (D_U, D_I: user and item degrees of the binary R)
    s_u = r_u R̃ᵀR̃  +  α · r_u D_I^{-1/2} V_k V_kᵀ D_I^{1/2}

The first term is the linear low-pass filter P̃ = R̃ᵀR̃ (graphrec.graph.itemfilter: dense under
`model.dense_budget_mb`, else two sparse products per batch of users); the second an ideal low-pass filter through
V_k, the top-`rank` right singular vectors of R̃ (torch's seeded randomized SVD). V_k and the item degrees are
persistent buffers, so a loaded run scores without recomputing the SVD.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch

from graphrec.config.models import GFCFConfig
from graphrec.graph.itemfilter import IdealFilter, ItemGraph, top_right_singular_vectors
from graphrec.models._checks import binary_history
from graphrec.models.base import Objective, Recommender
from graphrec.models.scoring import HistoryScorer


class GFCF(Recommender):
    """s_u = r_u R̃ᵀR̃ + α · r_u D_I^{-1/2} V_k V_kᵀ D_I^{1/2}; fitted in closed form (:meth:`fit`)."""

    name = "gfcf"
    objective = Objective.CLOSED_FORM
    config: GFCFConfig
    singular_vectors: torch.Tensor
    item_degree: torch.Tensor

    def __init__(self, num_users: int, num_items: int, config: GFCFConfig, train: sp.spmatrix) -> None:
        super().__init__(num_users, num_items, config, train)
        self.history = binary_history(train, num_users, num_items)
        self.rank = min(config.rank, num_users, num_items)
        self.register_buffer("singular_vectors", torch.zeros(num_items, self.rank))
        self.register_buffer("item_degree", torch.zeros(num_items))
        self._graph: ItemGraph | None = None

    @property
    def graph(self) -> ItemGraph:
        """P̃ = R̃ᵀR̃ with R̃ = D_U^{-1/2} R D_I^{-1/2}, built on first use (a loaded run builds it, no SVD)."""
        if self._graph is None:
            self._graph = ItemGraph(self.history, 0.5, 0.5, self.config.dense_budget_mb * 1e6)
        return self._graph

    @torch.no_grad()
    def fit(self) -> None:
        """The item degrees and V_k, the top-`rank` right singular vectors of R̃."""
        self.item_degree.copy_(torch.from_numpy(np.asarray(self.history.sum(axis=0)).ravel().astype(np.float32)))
        vectors = top_right_singular_vectors(self.graph.normalised, self.rank, self.config.svd_seed)
        self.singular_vectors.copy_(vectors)

    def scorer(self) -> GFCFScorer:
        ideal = IdealFilter(self.singular_vectors, self.item_degree, 0.5)
        return GFCFScorer(self.history, self.graph, ideal, self.config.alpha)


class GFCFScorer(HistoryScorer):
    """Scores and item–item similarities of a fitted GF-CF (see the module docstring)."""

    def __init__(self, history: sp.csr_matrix, graph: ItemGraph, ideal: IdealFilter, alpha: float) -> None:
        self.history, self.graph, self.ideal, self.alpha = history, graph, ideal, alpha
        self.num_users, self.num_items = int(history.shape[0]), int(history.shape[1])

    def score_history(self, rows: sp.csr_matrix) -> torch.Tensor:
        """Scores of histories `rows` (B × num_items, binary)."""
        rows = sp.csr_matrix(rows, dtype=np.float32)
        return torch.from_numpy(self.graph.propagate(rows) + self.alpha * self.ideal.apply(rows))
