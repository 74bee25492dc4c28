"""ChebyCF (Kim, Sung, Han and Lee, "Graph Spectral Filtering with Chebyshev Interpolation for Recommendation",
SIGIR 2025): a training-free graph filter on the normalised item graph, a model that only scores.

    R̃   = D_U^{-1/2} R D_I^{-1/2}        P̃ = R̃ᵀR̃        L̃ = I − 2P̃      (spectrum of L̃ in [−1, 1])
    x_u = r_u D_I^{-β}                                            (degree normalisation, power β)
    s_u = ( x_u Σ_{k=0..K} c_k T_k(L̃)  +  α · x_u V_η V_ηᵀ ) D_I^{β}

The first term is a degree-K polynomial in L̃, the Chebyshev interpolant of the "plateau" transfer function

    h(λ) = ½ − ½ · sign(λ) · |λ|^φ       (λ ∈ [−1, 1]; h(−1) = 1 passes the lowest frequency, h(1) = 0)

at the K + 1 Chebyshev nodes λ_j = cos(π (j + ½) / (K + 1)): c_k = (2 − δ_k0)/(K + 1) Σ_j h(λ_j) T_k(λ_j). The
flatness φ shapes the filter: φ = 1 gives h(L̃) = P̃ (GF-CF's linear filter), larger φ a flatter middle band with
sharper ends. It is applied with the three-term recurrence, one application of P̃ per degree
(graphrec.graph.itemfilter: dense under `model.dense_budget_mb`, else two sparse products per batch of users). The
second term is an ideal low-pass filter through V_η, the top-η (`rank`) right singular vectors of R̃ (torch's seeded
randomized SVD; skipped when α = 0); V_η and the item degrees are persistent buffers, so a loaded run scores without
recomputing the SVD.

The official code (github.com/chanwoo0806/ChebyCF) evaluates h at the Chebyshev extrema cos(πj/K), rounded to three
decimals, and pairs those values with the nodes above; this module interpolates h at the nodes themselves (the
paper's Chebyshev interpolation), which gives a slightly less steep filter at equal φ.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import scipy.sparse as sp
import torch

from graphrec.config.models import ChebyCFConfig
from graphrec.graph.itemfilter import (
    IdealFilter,
    ItemGraph,
    chebyshev_coefficients,
    chebyshev_filter,
    degree_power,
)
from graphrec.models._lowpass import LowPassFilter
from graphrec.models.scoring import HistoryScorer

__all__ = ["ChebyCF", "ChebyCFScorer", "plateau"]


def plateau(flatness: float) -> Callable[[np.ndarray], np.ndarray]:
    """The coefficients' transfer function h(λ) = ½ − ½ sign(λ) |λ|^φ, as a function of λ ∈ [−1, 1]."""

    def transfer(points: np.ndarray) -> np.ndarray:
        return 0.5 - 0.5 * np.sign(points) * np.abs(points) ** flatness

    return transfer


class ChebyCF(LowPassFilter):
    """s_u = (r_u D^{-β} Σ_k c_k T_k(L̃) + α r_u D^{-β} V_η V_ηᵀ) D^{β}; fitted in closed form (:meth:`fit`)."""

    name = "chebycf"
    config: ChebyCFConfig

    def __init__(self, num_users: int, num_items: int, config: ChebyCFConfig, train: sp.spmatrix) -> None:
        super().__init__(num_users, num_items, config, train, (config.alpha, config.rank, config.svd_seed))
        self.coefficients = chebyshev_coefficients(plateau(config.flatness), config.order)

    def scorer(self) -> ChebyCFScorer:
        ideal = IdealFilter(self.singular_vectors, self.item_degree, 0.0) if self.config.alpha > 0 else None
        degree, power = self.item_degree.numpy(), self.config.degree_power
        scaling = (degree_power(degree, -power), degree_power(degree, power))  # D_I^{-β}, D_I^{β}
        return ChebyCFScorer(self.history, self.graph, self.coefficients, ideal, self.config.alpha, scaling)


class ChebyCFScorer(HistoryScorer):
    """Scores and item–item similarities of a fitted ChebyCF (see the module docstring)."""

    def __init__(
        self,
        history: sp.csr_matrix,
        graph: ItemGraph,
        coefficients: np.ndarray,
        ideal: IdealFilter | None,
        alpha: float,
        scaling: tuple[np.ndarray, np.ndarray],
    ) -> None:
        self.history, self.graph, self.coefficients, self.ideal, self.alpha = history, graph, coefficients, ideal, alpha
        self.num_users, self.num_items = int(history.shape[0]), int(history.shape[1])
        self._pre, self._post = scaling

    def score_history(self, rows: sp.csr_matrix) -> torch.Tensor:
        """Scores of histories `rows` (B × num_items, binary)."""
        signal = sp.csr_matrix(sp.csr_matrix(rows, dtype=np.float32).multiply(self._pre[None, :]), dtype=np.float32)
        scores = torch.from_numpy(chebyshev_filter(self.graph, signal, self.coefficients))
        if self.ideal is not None:
            scores.add_(torch.from_numpy(self.ideal.apply(signal)), alpha=self.alpha)
        return scores.mul_(torch.from_numpy(self._post))
