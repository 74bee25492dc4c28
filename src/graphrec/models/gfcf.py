"""GF-CF (Shen et al., "How Powerful is Graph Convolution for Recommendation?", CIKM 2021): a training-free graph
filter on the normalised item–item graph, a model that only scores.

    R̃   = D_U^{-1/2} R D_I^{-1/2}                       (D_U, D_I: user and item degrees of the binary R)
    s_u = r_u R̃ᵀR̃  +  α · r_u D_I^{-1/2} V_k V_kᵀ D_I^{1/2}

The first term is the linear low-pass filter R̃ᵀR̃; the second an ideal low-pass filter through V_k, the top-`rank`
right singular vectors of R̃. R̃ᵀR̃ (I × I) is never formed: a batch of users is scored as (R_u R̃ᵀ) R̃, two sparse
products, plus ((R_u D_I^{-1/2}) V_k)(V_kᵀ D_I^{1/2}), dense B × k × I. The SVD is torch's seeded randomized
`svd_lowrank`; V_k and the item degrees are persistent buffers, so a loaded run scores without recomputing.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch

from graphrec.config.models import GFCFConfig
from graphrec.graph.spectral import normalized_interactions
from graphrec.models._checks import binary_history
from graphrec.models.base import Objective, Recommender
from graphrec.models.scoring import HistoryScorer

SVD_OVERSAMPLE = 16  # extra directions of the randomized range finder (accuracy of the top `rank`)
SVD_ITERATIONS = 4  # power iterations of the randomized SVD


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
        self._normalised: sp.csr_matrix | None = None

    @property
    def normalised(self) -> sp.csr_matrix:
        """R̃ = D_U^{-1/2} R D_I^{-1/2} (zero-degree rows and columns stay zero)."""
        if self._normalised is None:
            self._normalised = normalized_interactions(self.history)
        return self._normalised

    @torch.no_grad()
    def fit(self) -> None:
        """The item degrees and V_k, the top-`rank` right singular vectors of R̃."""
        self.item_degree.copy_(torch.from_numpy(np.asarray(self.history.sum(axis=0)).ravel().astype(np.float32)))
        coo = self.normalised.tocoo()
        indices = torch.from_numpy(np.vstack([coo.row, coo.col]).astype(np.int64))
        values = torch.from_numpy(coo.data.astype(np.float32))
        matrix = torch.sparse_coo_tensor(indices, values, coo.shape, check_invariants=True)
        q = min(self.rank + SVD_OVERSAMPLE, *coo.shape)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.config.svd_seed)
            _, _, v = torch.svd_lowrank(matrix.coalesce(), q=q, niter=SVD_ITERATIONS)
        self.singular_vectors.copy_(v[:, : self.rank])

    def scorer(self) -> GFCFScorer:
        return GFCFScorer(self.history, self.normalised, self.singular_vectors, self.item_degree, self.config.alpha)


class GFCFScorer(HistoryScorer):
    """Scores and item–item similarities of a fitted GF-CF (see the module docstring)."""

    def __init__(
        self,
        history: sp.csr_matrix,
        normalised: sp.csr_matrix,
        vectors: torch.Tensor,
        item_degree: torch.Tensor,
        alpha: float,
    ) -> None:
        self.history, self.normalised, self.alpha = history, normalised, alpha
        self._normalised_t = sp.csr_matrix(normalised.T)
        self.num_users, self.num_items = int(history.shape[0]), int(history.shape[1])
        degree = item_degree.numpy().astype(np.float64)
        self._inv_sqrt = np.where(degree > 0, 1.0 / np.sqrt(np.maximum(degree, 1e-12)), 0.0).astype(np.float32)
        self._sqrt = np.sqrt(degree).astype(np.float32)
        self._vectors = vectors.numpy()
        self._right = (self._vectors.T * self._sqrt[None, :]).astype(np.float32)  # V_kᵀ D_I^{1/2}

    def score_history(self, rows: sp.csr_matrix) -> torch.Tensor:
        """Scores of histories `rows` (B × num_items, binary)."""
        rows = sp.csr_matrix(rows, dtype=np.float32)
        # (r R̃ᵀ) densified, then R̃ᵀ times it: a sparse × dense product (the sparse × sparse one would build a
        # B × num_items sparse result, nearly dense, at several times the memory)
        left = np.asarray((rows @ self.normalised.T).toarray(), dtype=np.float32)
        linear = np.asarray(self._normalised_t @ left.T, dtype=np.float32).T
        ideal = (rows.multiply(self._inv_sqrt[None, :]).tocsr() @ self._vectors) @ self._right
        return torch.from_numpy(linear + self.alpha * ideal.astype(np.float32))

    def score(self, user_idx: torch.Tensor) -> torch.Tensor:
        return self.score_history(self.history[np.asarray(user_idx, dtype=np.int64)])

    def similar(self, item_idx: torch.Tensor) -> torch.Tensor:
        """The filter applied to one-item histories: row i of R̃ᵀR̃ + α D_I^{-1/2} V_k V_kᵀ D_I^{1/2}."""
        idx = np.asarray(item_idx, dtype=np.int64)
        rows = sp.csr_matrix(
            (np.ones(len(idx), dtype=np.float32), (np.arange(len(idx)), idx)), shape=(len(idx), self.num_items)
        )
        return self.score_history(rows)
