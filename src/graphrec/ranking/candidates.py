"""Stage one of two-stage recommendation: candidate retrieval from a vector index, seen items excluded.

A user's query vector is searched in an index of item vectors (ids = item_idx). To return `n_candidates` unseen
items, the search asks for ``n_candidates + seen(u)`` neighbours: at least `n_candidates` of those are unseen.
Users are grouped by that request size, rounded up to a power of two, so each group is one batched search.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from graphrec.errors import ConfigError

# The evaluator's own helpers, so two-stage metrics are defined exactly like full-ranking ones.
from graphrec.evaluation.metrics import canonical_csr, hit_matrix, per_user_metrics, validate_ks
from graphrec.index import VectorIndex
from graphrec.retrieval import check_k, check_users, combine_exclude, rank_candidates


@dataclass
class Candidates:
    """Per user (row): candidate item indices and their retrieval scores, best first.

    ``items`` int64 (n, c) and ``scores`` float32 (n, c), padded on the right with -1 / -inf when fewer than c
    unseen items were found; ``user_idx`` (n,) says whose row is whose.
    """

    user_idx: np.ndarray
    items: np.ndarray
    scores: np.ndarray

    @property
    def valid(self) -> np.ndarray:
        return self.items >= 0


def is_member(items: np.ndarray, matrix: sp.csr_matrix, rows: np.ndarray) -> np.ndarray:
    """Boolean (n, c): is `items[i, j]` a stored entry of row `rows[i]` of `matrix`? (-1 is never one.)"""
    scores = np.where(items >= 0, 0.0, -np.inf)  # hit_matrix treats -inf as padding
    return hit_matrix(np.maximum(items, 0), scores, matrix, rows, matrix.shape[1])


def retrieve(
    index: VectorIndex,
    user_vectors: np.ndarray,
    user_idx: np.ndarray,
    exclude: sp.csr_matrix | Sequence[sp.csr_matrix] | None,
    n_candidates: int = 200,
) -> Candidates:
    """The `n_candidates` best unseen items of each user in `user_idx` according to `index`.

    `user_vectors` holds one row per user of `exclude` (all users); `exclude` (users × items, or a list of such
    matrices, united) marks the items a user must not get back (training items; plus validation items when
    evaluating on test).
    """
    n_candidates = check_k(n_candidates, "n_candidates")
    user_idx = check_users(user_idx, len(user_vectors))
    seen = combine_exclude(exclude, (len(user_vectors), len(index)))
    items = np.full((len(user_idx), n_candidates), -1, dtype=np.int64)
    scores = np.full((len(user_idx), n_candidates), -np.inf, dtype=np.float32)
    wanted = n_candidates + np.diff(seen.indptr)[user_idx]
    sizes = np.minimum(2 ** np.ceil(np.log2(np.maximum(wanted, 1))).astype(np.int64), max(len(index), 1))
    for size in np.unique(sizes):
        group = np.flatnonzero(sizes == size)
        rows = user_idx[group]
        found_scores, found = index.search(user_vectors[rows], int(size))
        keep = (found >= 0) & ~is_member(found, seen, rows)
        # Stable-move the kept entries of each row to the front, then cut to n_candidates.
        order = np.argsort(~keep, axis=1, kind="stable")[:, :n_candidates]
        kept = np.take_along_axis(keep, order, axis=1)
        width = order.shape[1]
        items[group, :width] = np.where(kept, np.take_along_axis(found, order, axis=1), -1)
        scores[group, :width] = np.where(kept, np.take_along_axis(found_scores, order, axis=1), -np.inf)
    return Candidates(user_idx, items, scores)


def top_k_of(candidates: Candidates, scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The `k` best candidates of each row by `scores` (n, c), best first, padded -1/-inf; ties by the smaller
    item index (graphrec.retrieval.rank_candidates)."""
    return rank_candidates(candidates.items, scores, k)


def evaluate_ranked(
    items: np.ndarray, scores: np.ndarray, user_idx: np.ndarray, target: sp.csr_matrix, ks: list[int]
) -> dict[str, float]:
    """Recall/NDCG/… of ranked lists (rows of `items`, padding score -inf) against `target`, with exactly the
    definitions of :func:`graphrec.evaluation.evaluate_embeddings` (users without targets skipped)."""
    ks = validate_ks(ks, target.shape[1])
    if max(ks) > items.shape[1]:
        raise ConfigError(f"ks contains {max(ks)} but the lists hold only {items.shape[1]} items")
    target = canonical_csr(target, target.shape, "target")
    num_targets = np.diff(target.indptr)[user_idx]
    with_targets = num_targets > 0
    rows = np.asarray(user_idx)[with_targets]
    hits = hit_matrix(np.maximum(items[with_targets], 0), scores[with_targets], target, rows, target.shape[1])
    per_user = per_user_metrics(hits, num_targets[with_targets], ks)
    result: dict[str, float] = {name: float(v.mean()) if len(rows) else 0.0 for name, v in per_user.items()}
    result["num_users"] = len(rows)
    return result
