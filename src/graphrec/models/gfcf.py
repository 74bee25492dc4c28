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
from graphrec.graph.itemfilter import IdealFilter, ItemGraph
from graphrec.models._lowpass import LowPassFilter
from graphrec.models.scoring import HistoryScorer


class GFCF(LowPassFilter):
    """s_u = r_u R̃ᵀR̃ + α · r_u D_I^{-1/2} V_k V_kᵀ D_I^{1/2}; fitted in closed form (:meth:`fit`)."""

    name = "gfcf"
    config: GFCFConfig

    def __init__(self, num_users: int, num_items: int, config: GFCFConfig, train: sp.spmatrix) -> None:
        super().__init__(num_users, num_items, config, train, (config.alpha, config.rank, config.svd_seed))

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
