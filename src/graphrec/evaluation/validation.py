"""What a model that chooses its own settings sees of the validation split (:class:`ValidationSplit`).

The trainer builds one from its dataset and eval section and hands it to a model declaring
:class:`graphrec.models.base.SelectsOnValidation` (blend: its weights). The model never reads the dataset: it asks
the split to score candidate scorers, with the evaluation that reports the run's validation metrics (training
items excluded, held-out data unknown to training counted as misses).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import scipy.sparse as sp

from graphrec.evaluation.metrics import (
    CandidateScores,
    UnseenTargets,
    dataset_unseen,
    evaluate_candidates_users,
    evaluate_scorer,
    mean_metrics,
)
from graphrec.retrieval import Scorer

if TYPE_CHECKING:
    from graphrec.data.dataset import Dataset


@dataclass(frozen=True)
class ValidationSplit:
    """The validation targets, what is excluded from ranking, the cut-offs and the metric to choose by."""

    target: sp.csr_matrix
    exclude: list[sp.csr_matrix]
    ks: list[int]
    metric: str
    chunk_size: int = 2048
    unseen: UnseenTargets | None = None

    @classmethod
    def of(cls, dataset: Dataset, ks: list[int], metric: str, chunk_size: int = 2048) -> ValidationSplit | None:
        """The valid split of `dataset` (training items excluded); None when the dataset has no validation data."""
        if dataset.valid.nnz == 0:
            return None
        return cls(dataset.valid, [dataset.train], list(ks), metric, chunk_size, dataset_unseen(dataset, "valid"))

    def evaluate(self, scorer: Scorer) -> dict[str, float]:
        """Every metric of `scorer` on the split (what the trainer reports as the run's validation metrics)."""
        return evaluate_scorer(scorer, self.target, self.exclude, self.ks, self.chunk_size, unseen=self.unseen)

    def evaluate_candidates(self, candidates: CandidateScores, count: int, num_items: int) -> list[dict[str, float]]:
        """Every metric of `count` candidate scorings evaluated in one pass over the users (see
        :func:`graphrec.evaluation.metrics.evaluate_candidates_users`); equal to :meth:`evaluate` of each."""
        _, per_candidate = evaluate_candidates_users(
            candidates, count, num_items, self.target, self.exclude, self.ks, self.chunk_size, unseen=self.unseen
        )
        unseen_users = self.unseen.users if self.unseen is not None else 0
        results = [mean_metrics(per_user, unseen_users) for per_user in per_candidate]
        if self.unseen is not None:
            for result in results:
                result.update(self.unseen.report())
        return results
