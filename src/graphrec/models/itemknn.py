"""ItemKNN: item-based collaborative filtering by cosine similarity of the training matrix's item columns
(Sarwar et al., WWW 2001; Deshpande & Karypis, TOIS 2004) — a model that only scores, with no per-item embedding.

    sim(i, j) = r_iᵀ r_j / (‖r_i‖ ‖r_j‖ + shrink)        r_i: column i of the binary user × item matrix R
    S[i, ·]   = sim(i, ·) restricted to the num_neighbours most similar items j ≠ i (the rest are 0)
    f(u, v)   = Σ_{j ∈ history(u)} S[j, v] = (R S)[u, v]

Fitted in closed form by :meth:`ItemKNN.fit` (no gradient steps). S is computed in row chunks of RᵀR, each densified
under a cell budget and cut to its top-N, so memory stays O(chunk · num_items + num_items · N). The neighbour
table is two persistent buffers, `neighbour_idx` (I × N, −1 padded) and `neighbour_sim` (I × N), so a run's
`model.safetensors` round-trips; ties in the top-N keep the smaller item index.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch

from graphrec.config.models import ItemKNNConfig
from graphrec.models._checks import binary_history
from graphrec.models.base import Objective, Recommender
from graphrec.models.scoring import SparseItemScorer

CELL_BUDGET = 1 << 24  # dense similarity cells per chunk (64 MiB of float32)


class ItemKNN(Recommender):
    """Item–item cosine neighbours; f(u, v) = Σ_{j ∈ history(u)} S[j, v]."""

    name = "itemknn"
    objective = Objective.CLOSED_FORM
    config: ItemKNNConfig
    neighbour_idx: torch.Tensor
    neighbour_sim: torch.Tensor

    def __init__(self, num_users: int, num_items: int, config: ItemKNNConfig, train: sp.spmatrix) -> None:
        super().__init__(num_users, num_items, config, train)
        self.history = binary_history(train, num_users, num_items)
        self.top_n = min(config.num_neighbours, max(num_items - 1, 1))
        self.register_buffer("neighbour_idx", torch.full((num_items, self.top_n), -1, dtype=torch.int64))
        self.register_buffer("neighbour_sim", torch.zeros(num_items, self.top_n))

    @torch.no_grad()
    def fit(self) -> None:
        """The neighbour table from the training matrix (a loaded run reads it from its checkpoint instead)."""
        index, value = cosine_neighbours(self.history, self.top_n, self.config.shrink)
        self.neighbour_idx.copy_(torch.from_numpy(index))
        self.neighbour_sim.copy_(torch.from_numpy(value))

    def similarity(self) -> sp.csr_matrix:
        """S as a sparse (num_items × num_items) matrix."""
        index, value = self.neighbour_idx.numpy(), self.neighbour_sim.numpy()
        rows = np.repeat(np.arange(self.num_items), index.shape[1])
        keep = index.ravel() >= 0
        return sp.csr_matrix(
            (value.ravel()[keep], (rows[keep], index.ravel()[keep])), shape=(self.num_items, self.num_items)
        )

    def scorer(self) -> SparseItemScorer:
        return SparseItemScorer(self.history, self.similarity())


def cosine_neighbours(history: sp.csr_matrix, top_n: int, shrink: float) -> tuple[np.ndarray, np.ndarray]:
    """(index, similarity), each (num_items, top_n): every item's top_n cosine neighbours (itself excluded), best
    first, ties by smaller index; rows with fewer neighbours are padded with index −1 and similarity 0."""
    num_items = history.shape[1]
    by_item = sp.csr_matrix(history.T)
    norms = np.sqrt(np.asarray(by_item.multiply(by_item).sum(axis=1)).ravel())
    index = np.full((num_items, top_n), -1, dtype=np.int64)
    value = np.zeros((num_items, top_n), dtype=np.float32)
    chunk = max(1, CELL_BUDGET // max(num_items, 1))
    for start in range(0, num_items, chunk):
        rows = np.arange(start, min(start + chunk, num_items))
        dense = np.asarray((by_item[rows] @ history).toarray(), dtype=np.float64)
        dense /= norms[rows, None] * norms[None, :] + shrink + 1e-12
        dense[np.arange(len(rows)), rows] = 0.0  # an item is not its own neighbour
        top = _top_columns(dense, top_n)
        picked = np.take_along_axis(dense, top, axis=1)
        found = picked > 0
        index[rows] = np.where(found, top, -1)
        value[rows] = np.where(found, picked, 0.0).astype(np.float32)
    return index, value


def _top_columns(dense: np.ndarray, top_n: int) -> np.ndarray:
    """Column indices of each row's top_n values, best first; equal values → smaller column first."""
    columns = np.broadcast_to(np.arange(dense.shape[1]), dense.shape)
    if top_n >= dense.shape[1]:
        return np.lexsort((columns, -dense), axis=1)
    cut = -np.partition(-dense, top_n - 1, axis=1)[:, top_n - 1 : top_n]  # each row's top_n-th largest value
    above, tied = dense > cut, dense == cut
    need = top_n - above.sum(axis=1, keepdims=True)
    chosen = above | (tied & (np.cumsum(tied, axis=1) <= need))  # ties at the cut: smallest columns first
    picked = np.nonzero(chosen)[1].reshape(len(dense), top_n)  # row-major: each row's columns ascending
    values = np.take_along_axis(dense, picked, axis=1)
    return np.take_along_axis(picked, np.lexsort((picked, -values), axis=1), axis=1)
