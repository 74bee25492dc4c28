"""EASE (Steck, "Embarrassingly Shallow Autoencoders for Sparse Data", WWW 2019): closed-form item–item regression,
a model that only scores.

    P = (XᵀX + λI)⁻¹,   B = I − P · diag(1 / diag(P))   (so diag(B) = 0),   s_u = x_u B

X is the binary user × item training matrix. The fit holds dense I × I matrices (the Gram matrix, its inverse, B),
so it is refused above `model.max_items` items with the memory it would need; B (I × I float32) is a persistent
buffer, so a loaded run scores without refitting.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch

from graphrec.config.models import EASEConfig
from graphrec.errors import ConfigError
from graphrec.models._checks import binary_history
from graphrec.models.base import Objective, Recommender
from graphrec.models.scoring import HistoryScorer

DENSE_COPIES = 3  # I × I float32 matrices alive at once during the fit (Gram, inverse, B)


class EASE(Recommender):
    """s_u = x_u B with B = I − P·diag(1/diag(P)), P = (XᵀX + λI)⁻¹; fitted in closed form (:meth:`fit`)."""

    name = "ease"
    objective = Objective.CLOSED_FORM
    config: EASEConfig
    weights: torch.Tensor

    def __init__(self, num_users: int, num_items: int, config: EASEConfig, train: sp.spmatrix) -> None:
        super().__init__(num_users, num_items, config, train)
        history = binary_history(train, num_users, num_items)
        if num_items > config.max_items:
            need = DENSE_COPIES * num_items * num_items * 4 / 2**30
            raise ConfigError(
                f"model.max_items: EASE fits dense item × item matrices and this data has {num_items:,} items "
                f"(~{need:.1f} GiB), more than model.max_items = {config.max_items:,}; raise model.max_items if the "
                "memory is there, or use gfcf or itemknn (sparse)"
            )
        self.history = history
        self.register_buffer("weights", torch.zeros(num_items, num_items))

    @torch.no_grad()
    def fit(self) -> None:
        """B from the Gram matrix of the training data (float64 for the inverse, stored as float32)."""
        gram = torch.from_numpy(np.asarray((self.history.T @ self.history).toarray(), dtype=np.float64))
        gram.diagonal().add_(self.config.l2)
        inverse = torch.cholesky_inverse(torch.linalg.cholesky(gram))
        del gram
        weights = inverse / (-inverse.diagonal())[None, :]
        weights.diagonal().zero_()
        self.weights.copy_(weights.float())

    def scorer(self) -> EASEScorer:
        return EASEScorer(self.history, self.weights)


class EASEScorer(HistoryScorer):
    """s = x B for histories x; similar(i) = row i of B."""

    def __init__(self, history: sp.csr_matrix, weights: torch.Tensor) -> None:
        self.history, self._weights = history, weights.numpy()
        self.num_users, self.num_items = int(history.shape[0]), int(history.shape[1])

    def score_history(self, history: sp.csr_matrix) -> torch.Tensor:
        return torch.from_numpy(np.asarray(sp.csr_matrix(history, dtype=np.float32) @ self._weights, np.float32))

    def similar(self, item_idx: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(self._weights[np.asarray(item_idx, dtype=np.int64)]))
