"""Two-stage recommendation in one call: retrieve candidates from an index, re-score them with a ranker."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp

from graphrec.index import VectorIndex
from graphrec.ranking.candidates import retrieve, top_k_of
from graphrec.ranking.rankers import Ranker, RankingContext
from graphrec.retrieval import check_k


def two_stage(
    index: VectorIndex,
    context: RankingContext,
    user_idx: np.ndarray,
    k: int,
    ranker: Ranker | None = None,
    n_candidates: int = 200,
    exclude: sp.csr_matrix | Sequence[sp.csr_matrix] | None = None,
    chunk_size: int = 1024,
) -> tuple[np.ndarray, np.ndarray]:
    """The top-`k` items of each user: `n_candidates` unseen items from `index` (excluding `exclude`, default the
    context's history), re-ranked by `ranker` (None: keep the retrieval order and scores).

    Returns ``(items, scores)`` (len(user_idx), k), int64 item indices and float32 scores, padded -1 / -inf.
    Users are processed `chunk_size` at a time, so memory is chunk_size × n_candidates × dim floats.
    """
    k = check_k(k)
    user_idx = np.asarray(user_idx, dtype=np.int64).reshape(-1)
    exclude = context.history if exclude is None else exclude
    items = np.full((len(user_idx), k), -1, dtype=np.int64)
    scores = np.full((len(user_idx), k), -np.inf, dtype=np.float32)
    for start in range(0, len(user_idx), chunk_size):
        rows = slice(start, start + chunk_size)
        candidates = retrieve(index, context.user_emb, user_idx[rows], exclude, n_candidates)
        ranked = candidates.scores if ranker is None else ranker.score(candidates, context)
        items[rows], scores[rows] = top_k_of(candidates, ranked, k)
    return items, scores
