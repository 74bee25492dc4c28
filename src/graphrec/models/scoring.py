"""Scorers: what a model's state turns into for ranking. A scorer answers ``score(user_idx)`` with a (B × num_items)
float32 matrix and ``similar(item_idx)`` with a (B × num_items) item–item matrix; both are pure.

- :class:`DotScorer` (graphrec.retrieval) — final embeddings: score = U[u] · Iᵀ, similar = I[i] · Iᵀ.
- :class:`SparseItemScorer` — a user's item history times an item–item matrix: score = R[u] · S, similar = S[i]
  (item-neighbourhood models such as ItemKNN, which have no per-item embedding).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Protocol

import numpy as np
import scipy.sparse as sp
import torch

from graphrec.retrieval import DotScorer
from graphrec.retrieval import Scorer as RankingScorer

__all__ = ["DotScorer", "HistoryScorer", "Scorer", "SparseItemScorer", "one_hot_rows"]


class Scorer(RankingScorer, Protocol):
    """What a model's state becomes for ranking: retrieval's Scorer (``num_items``, ``score``) plus the user count
    and item–item scores."""

    num_users: int

    def similar(self, item_idx: torch.Tensor) -> torch.Tensor:
        """(len(item_idx), num_items) float32 item–item similarities, no gradient."""
        ...


class HistoryScorer(ABC):
    """A scorer of models that only score, as a function of the user's item history: any history can be scored,
    so the service serves such a model exactly from the user's current interactions. A training user's scores are
    its row of `history` scored; item–item scores are one-item histories scored (override where a model holds the
    item–item rows themselves)."""

    num_users: int
    num_items: int
    history: sp.csr_matrix  # the training users' binary histories (num_users × num_items)

    @abstractmethod
    def score_history(self, history: sp.csr_matrix) -> torch.Tensor:
        """(B, num_items) scores of B binary item histories (B × num_items)."""

    def score(self, user_idx: torch.Tensor) -> torch.Tensor:
        """(len(user_idx), num_items) scores of the training users."""
        return self.score_history(self.history[np.asarray(user_idx, dtype=np.int64)])

    def similar(self, item_idx: torch.Tensor) -> torch.Tensor:
        """(len(item_idx), num_items) item–item scores: the model applied to one-item histories."""
        return self.score_history(one_hot_rows(item_idx, self.num_items))


class SparseItemScorer(HistoryScorer):
    """f(u, v) = Σ_{j ∈ history(u)} S[j, v]: a sparse user × item history R times a sparse item × item matrix S."""

    def __init__(self, history: sp.csr_matrix, similarity: sp.csr_matrix) -> None:
        if history.shape[1] != similarity.shape[0] or similarity.shape[0] != similarity.shape[1]:
            raise ValueError(f"history {history.shape} and similarity {similarity.shape} do not compose")
        self.history = sp.csr_matrix(history, dtype=np.float32)
        self.similarity = sp.csr_matrix(similarity, dtype=np.float32)
        self.num_users, self.num_items = int(history.shape[0]), int(similarity.shape[1])

    def similar(self, item_idx: torch.Tensor) -> torch.Tensor:
        rows = self.similarity[np.asarray(item_idx, dtype=np.int64)]
        return torch.from_numpy(np.asarray(rows.toarray(), dtype=np.float32))

    def score_history(self, history: sp.csr_matrix) -> torch.Tensor:
        """Scores for histories not in the training matrix (e.g. a user the service has seen since)."""
        return torch.from_numpy(np.asarray((sp.csr_matrix(history) @ self.similarity).toarray(), dtype=np.float32))


def one_hot_rows(item_idx: torch.Tensor | np.ndarray, num_items: int) -> sp.csr_matrix:
    """One-item histories (len(item_idx) × num_items): what a HistoryScorer's `similar` scores."""
    idx = np.asarray(item_idx, dtype=np.int64)
    ones = np.ones(len(idx), dtype=np.float32)
    return sp.csr_matrix((ones, (np.arange(len(idx)), idx)), shape=(len(idx), num_items))
