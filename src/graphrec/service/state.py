"""What the service serves from: user and item vectors, id lookups, seen items, popularity and the ANN index.

Reads (recommendations, similar items) take no lock except around the index search: writers publish every change
so that a reader running at any moment sees a consistent state. A writer first fills vector rows, then appends the
external id, then makes the row findable (seen lists, the index, the id lookup), and replaces arrays rather than
editing them where a reader could see half of an edit. Writers themselves are serialised by the caller
(:mod:`graphrec.service.writes`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch

from graphrec.data.idmap import IdMap
from graphrec.index import VectorIndex
from graphrec.models.scoring import HistoryScorer
from graphrec.retrieval import check_k, rank_candidates, top_k

logger = logging.getLogger(__name__)

_EMPTY = np.zeros(0, dtype=np.int64)


class Rows:
    """A growable array of rows: a buffer with spare capacity, replaced (not resized in place) when full."""

    def __init__(self, initial: np.ndarray, spare: float = 0.25) -> None:
        count = len(initial)
        self._data = np.zeros((count + max(64, int(count * spare)), *initial.shape[1:]), dtype=initial.dtype)
        self._data[:count] = initial
        self._count = count

    def __len__(self) -> int:
        return self._count

    @property
    def data(self) -> np.ndarray:
        """The whole buffer; rows past len(self) are unused."""
        return self._data

    def view(self) -> np.ndarray:
        return self._data[: self._count]

    def append(self, rows: np.ndarray) -> int:
        """Append rows; return the position of the first."""
        start, count = self._count, len(rows)
        if start + count > len(self._data):
            grown = np.zeros((max(2 * len(self._data), start + count), *self._data.shape[1:]), self._data.dtype)
            grown[:start] = self._data[:start]
            self._data = grown  # readers holding the old buffer keep a consistent copy
        self._data[start : start + count] = rows
        self._count = start + count
        return start


@dataclass(frozen=True)
class Ranked:
    """A ranked answer: internal item positions and scores, best first, and the fallback used (None or "popular")."""

    items: np.ndarray
    scores: np.ndarray
    fallback: str | None = None


class ServingState:
    """Vectors, ids, seen items, popularity and the index; all mutation methods are called by one writer at a time."""

    def __init__(
        self,
        user_ids: Sequence[Any],
        item_ids: Sequence[Any],
        user_vectors: np.ndarray,
        item_vectors: np.ndarray,
        seen: sp.csr_matrix,
        index: VectorIndex | None,
        candidates: int = 200,
        popularity_refresh_s: float = 1.0,
        scorer: HistoryScorer | None = None,
    ) -> None:
        """`index` None with a `scorer`: the exact scoring path of a model that only scores (ItemKNN): every
        recommendation scores the user's current history against all items, and vectors are zero-width."""
        assert (index is None) == (scorer is not None), "either an index over item vectors or an exact scorer"
        assert index is None or len(index) == len(item_vectors) == len(item_ids)
        assert len(user_vectors) == len(user_ids) and len(item_vectors) == len(item_ids)
        self.users = _served_ids(user_ids, "user")
        self.items = _served_ids(item_ids, "item")
        self.user_vectors = Rows(np.ascontiguousarray(user_vectors, dtype=np.float32))
        self.item_vectors = Rows(np.ascontiguousarray(item_vectors, dtype=np.float32))
        self.trained_user_vectors = self.user_vectors.view().copy()  # fold-in blends away from these
        self.num_trained_users = len(user_ids)
        seen = seen.tocsr()
        self._seen_indptr, self._seen_indices = seen.indptr, seen.indices.astype(np.int64)
        self._seen_extra: dict[int, np.ndarray] = {}  # user → sorted items seen since training (not in `seen`)
        self.popularity = Rows(np.asarray(seen.sum(axis=0)).ravel().astype(np.float64))
        self.index = index
        self.scorer = scorer
        self.candidates = candidates
        self._index_lock = threading.Lock()  # faiss indexes may not be searched while they are being added to
        self._popular_order = _EMPTY
        self._popular_at = -np.inf
        self._popularity_refresh_s = popularity_refresh_s

    # ----------------------------------------------------------------------------------------------- reads
    def trained_seen(self, user_idx: int) -> np.ndarray:
        if user_idx >= self.num_trained_users:
            return _EMPTY
        return self._seen_indices[self._seen_indptr[user_idx] : self._seen_indptr[user_idx + 1]]

    def extra_seen(self, user_idx: int) -> np.ndarray:
        return self._seen_extra.get(user_idx, _EMPTY)

    def seen_items(self, user_idx: int) -> np.ndarray:
        base, extra = self.trained_seen(user_idx), self._seen_extra.get(user_idx)
        return base if extra is None else np.concatenate([base, extra])

    def recommend(self, user_id: Any, k: int) -> Ranked:
        """Top-k unseen items: index candidates (depth max(candidates, k), seen removed) ranked by exact score
        (graphrec.retrieval: ties by the smaller item index). Unknown users, and users without interactions or
        with a zero vector, get the popular items."""
        k = check_k(k)
        user_idx = self.users.lookup(user_id)
        if user_idx is None:
            return self.popular(k, _EMPTY)
        seen = self.seen_items(user_idx)
        if self.scorer is not None:
            return self._score_exactly(seen, k)
        vector = self.user_vectors.data[user_idx].copy()
        if len(seen) == 0 or not vector.any():
            return self.popular(k, seen)
        depth = max(self.candidates, k)
        candidates = self._search(vector, depth + len(seen))
        if len(seen):
            mask = np.zeros(len(self.item_vectors), dtype=bool)  # ~µs; np.isin sorts, ~5x slower here
            mask[seen] = True
            candidates = candidates[~mask[candidates]]
        return self._rank(candidates[:depth], vector, k)

    def similar(self, item_id: Any, k: int) -> Ranked:
        """The k items nearest the item by inner product (itself excluded; ties by the smaller item index);
        popular items for a zero vector."""
        k = check_k(k)
        item_idx = self.items.index(item_id)
        if self.scorer is not None:
            scores = self.scorer.similar(torch.tensor([item_idx])).numpy()[0]
            scores[item_idx] = -np.inf
            return self._top(scores, k)
        vector = self.item_vectors.data[item_idx].copy()
        if not vector.any():
            return self.popular(k, np.array([item_idx]))
        candidates = self._search(vector, k + 1)
        return self._rank(candidates[candidates != item_idx], vector, k)

    def popular(self, k: int, exclude: np.ndarray) -> Ranked:
        """The k most popular items not in `exclude` (ties by the smaller item index)."""
        k = check_k(k)
        order = self._popular_items()
        top = order[: k + len(exclude)]
        if len(exclude):
            top = top[~np.isin(top, exclude)]
        items, scores = rank_candidates(top, self.popularity.data[top], k)
        return Ranked(items, scores, "popular")

    def _popular_items(self) -> np.ndarray:
        """Items by popularity (retrieval.top_k's order), re-sorted at most every popularity_refresh_s seconds
        (a sort is ~ms per call)."""
        now = time.monotonic()
        if now - self._popular_at >= self._popularity_refresh_s or len(self._popular_order) == 0:
            counts = self.popularity.view()
            self._popular_order = top_k(counts[None, :], len(counts))[1][0] if len(counts) else _EMPTY
            self._popular_at = now
        return self._popular_order

    def _score_exactly(self, seen: np.ndarray, k: int) -> Ranked:
        """A model that only scores: the user's current history against every item; popular items without one."""
        assert self.scorer is not None
        if len(seen) == 0:
            return self.popular(k, seen)
        history = sp.csr_matrix(
            (np.ones(len(seen), dtype=np.float32), (np.zeros(len(seen), dtype=np.int64), seen)),
            shape=(1, self.scorer.num_items),
        )
        scores = self.scorer.score_history(history).numpy()[0]
        scores[seen] = -np.inf
        return self._top(scores, k)

    def _top(self, scores: np.ndarray, k: int) -> Ranked:
        """The k best of a full score row, -inf (masked) excluded."""
        values, order = top_k(np.asarray(scores, dtype=np.float32)[None, :], k)  # ties: smaller index first
        keep = np.isfinite(values[0])
        return Ranked(order[0][keep], values[0][keep])

    def _search(self, vector: np.ndarray, depth: int) -> np.ndarray:
        assert self.index is not None
        depth = max(1, min(depth, len(self.index)))
        with self._index_lock:
            _, ids = self.index.search(vector[None, :], depth)
        ids = ids[0]
        return ids[ids >= 0]

    def _rank(self, candidates: np.ndarray, vector: np.ndarray, k: int) -> Ranked:
        """The candidates ranked by exact score, best first (graphrec.retrieval.rank_candidates)."""
        items, scores = rank_candidates(candidates, self.item_vectors.data[candidates] @ vector, k)
        return Ranked(items, scores)

    def item_entries(self, ranked: Ranked) -> list[dict[str, Any]]:
        id_of = self.items.id_of
        pairs = zip(ranked.items.tolist(), ranked.scores.tolist(), strict=True)
        return [{"item_id": id_of(i), "score": float(s)} for i, s in pairs]

    # ------------------------------------------------------------------------------------- mutation (one writer)
    def add_user(self, user_id: Any, vector: np.ndarray, seen: np.ndarray) -> int:
        """A user new to the service, with the items they have seen; findable by id only once complete."""
        start = self.user_vectors.append(np.asarray(vector, dtype=np.float32)[None, :])
        self._seen_extra[start] = seen
        idx = self.users.append(user_id)
        assert idx == start
        return idx

    def set_user_vector(self, user_idx: int, vector: np.ndarray) -> None:
        self.user_vectors.data[user_idx] = vector  # one row copy under the GIL: readers see old or new

    def set_extra_seen(self, user_idx: int, items: np.ndarray) -> None:
        self._seen_extra[user_idx] = items

    def count_interactions(self, items: np.ndarray) -> None:
        np.add.at(self.popularity.data, items, 1.0)

    def add_items(self, item_ids: Sequence[Any], vectors: np.ndarray) -> np.ndarray:
        """Publish new items: vectors, ids, popularity rows, then the index (so a hit always resolves)."""
        assert self.index is not None, "a model that only scores takes no new items"  # refused before: 422
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        start = self.item_vectors.append(vectors)
        self.popularity.append(np.zeros(len(vectors)))
        for item_id in item_ids:
            self.items.append(item_id)
        with self._index_lock:
            self.index.add(vectors)
        assert len(self.index) == len(self.items) == len(self.item_vectors)
        return np.arange(start, start + len(vectors))


def _served_ids(ids: Sequence[Any], kind: str) -> IdMap:
    """The service's id map: graphrec's one matching rule (graphrec.data.idmap), appended to in place."""
    served = IdMap(ids, kind=kind, owner="service")
    served.prepare_string_lookup()
    return served
