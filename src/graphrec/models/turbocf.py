"""Turbo-CF (Park, Shin & Shin, "Turbo-CF: Matrix Decomposition-Free Graph Filtering for Fast Recommendation",
SIGIR 2024): a training-free polynomial graph filter on an item graph whose edge weights are regulated entry by
entry, a model that only scores.

    R̃   = D_U^{-β} R D_I^{-(1−β)}                 (D_U, D_I: user and item degrees of the binary R)
    P   = (R̃ᵀR̃)^∘s                                (element-wise power s)
    s_u = r_u f(P),  f one of the paper's polynomial low-pass filters:
          linear     f(P) = P
          quadratic  f(P) = 2P − P²
          cubic      f(P) = P + 0.01(−P³ + 10P² − 29P)

The element-wise power needs P itself, not only its action, so P is held explicitly
(graphrec.graph.itemfilter.ExplicitItemGraph): dense when the I × I matrix fits `model.dense_budget_mb`, else
sparse (8 bytes per nonzero), which must fit the same budget — the fit is refused with what it would need
otherwise. r_u P is one sparse product per chunk of users; each further power of P a sparse × dense product
(nnz(P) multiply-adds per user), so the quadratic and cubic filters cost far more than the linear one on large
catalogues. Turbo-CF has no fitted parameters: P is a function of the training history, formed by :meth:`fit` (so an
over-budget graph fails at train time) and, in a loaded run, rebuilt from the stored history on first use.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch

from graphrec.config.models import TurboCFConfig
from graphrec.graph.itemfilter import ExplicitItemGraph
from graphrec.models._checks import binary_history
from graphrec.models.base import Objective, Recommender
from graphrec.models.scoring import HistoryScorer

# f(P) = Σ_k c_k P^k, coefficients of P¹, P², P³ (the paper's filters)
FILTER_COEFFICIENTS: dict[str, tuple[float, ...]] = {
    "linear": (1.0,),
    "quadratic": (2.0, -1.0),
    "cubic": (1.0 - 0.29, 0.1, -0.01),
}

__all__ = ["FILTER_COEFFICIENTS", "TurboCF", "TurboCFScorer"]


class TurboCF(Recommender):
    """s_u = r_u f(P), P = (R̃ᵀR̃)^∘s with R̃ = D_U^{-β} R D_I^{-(1−β)} (see the module docstring)."""

    name = "turbocf"
    objective = Objective.CLOSED_FORM
    config: TurboCFConfig

    def __init__(self, num_users: int, num_items: int, config: TurboCFConfig, train: sp.spmatrix) -> None:
        super().__init__(num_users, num_items, config, train)
        self.history = binary_history(train, num_users, num_items)
        self._graph: ExplicitItemGraph | None = None

    @property
    def graph(self) -> ExplicitItemGraph:
        """P = (R̃ᵀR̃)^∘s, formed on first use."""
        if self._graph is None:
            beta = self.config.beta
            budget = self.config.dense_budget_mb * 1e6
            self._graph = ExplicitItemGraph(self.history, beta, 1.0 - beta, self.config.power, budget)
        return self._graph

    @torch.no_grad()
    def fit(self) -> None:
        """Form P now (nothing is learned: a loaded run forms it again from the training history)."""
        _ = self.graph

    def scorer(self) -> TurboCFScorer:
        return TurboCFScorer(self.history, self.graph, FILTER_COEFFICIENTS[self.config.filter])


class TurboCFScorer(HistoryScorer):
    """Scores and item–item similarities of Turbo-CF: histories times the polynomial f(P)."""

    def __init__(self, history: sp.csr_matrix, graph: ExplicitItemGraph, coefficients: tuple[float, ...]) -> None:
        self.history, self.graph, self.coefficients = history, graph, coefficients
        self.num_users, self.num_items = int(history.shape[0]), int(history.shape[1])

    def filter_rows(self, rows: sp.csr_matrix) -> np.ndarray:
        """r f(P) = ((c_K r P + c_{K−1} r) P + …) P in nested form: one application of P per degree."""
        *lower, top = self.coefficients
        out = self.graph.propagate(rows)
        out *= np.float32(top)
        for coef in reversed(lower):
            out = self.graph.propagate(_plus_scaled(out, coef, rows))
        return out

    def score_history(self, rows: sp.csr_matrix) -> torch.Tensor:
        """Scores of histories `rows` (B × num_items, binary)."""
        return torch.from_numpy(self.filter_rows(sp.csr_matrix(rows, dtype=np.float32)))


def _plus_scaled(out: np.ndarray, coef: float, rows: sp.csr_matrix) -> np.ndarray:
    """out + coef · rows (rows sparse), in place."""
    coo = rows.tocoo()
    out[coo.row, coo.col] += np.float32(coef) * coo.data
    return out
