"""Uniform negative sampling and shuffled mini-batches of training edges.

Both classes own one numpy generator derived with :func:`graphrec.seeding.numpy_rng` and expose
``state_dict()`` / ``load_state_dict()`` with the generator's bit-generator state (plain JSON-serialisable ints
and strings), so that a resumed run draws exactly the numbers an uninterrupted run would have drawn.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Iterator
from typing import Any

import numpy as np
import scipy.sparse as sp

from graphrec.errors import ConfigError, DataError
from graphrec.seeding import Stream, numpy_rng

logger = logging.getLogger(__name__)

SAMPLER_STREAM = Stream.NEGATIVES  # numpy_rng stream of UniformNegativeSampler
BATCHER_STREAM = Stream.EDGE_BATCHES  # numpy_rng stream of EdgeBatcher
MAX_REJECTION_ROUNDS = 16  # afterwards the remaining draws are made exactly by rank (see `_draw_by_rank`)


def _binary_csr(train: sp.spmatrix | sp.sparray) -> sp.csr_matrix:
    """`train` as CSR with sorted, duplicate-free indices and no stored zeros (copied only when needed)."""
    csr = sp.csr_matrix(train)
    if not csr.has_canonical_format or (csr.data.size and not np.all(csr.data != 0)):
        csr = csr.copy()
        csr.sum_duplicates()
        csr.eliminate_zeros()
    return csr


def _rng_state(rng: np.random.Generator) -> dict[str, Any]:
    """A deep copy of the generator's bit-generator state (JSON-serialisable for PCG64)."""
    return copy.deepcopy(dict(rng.bit_generator.state))


def _set_rng_state(rng: np.random.Generator, state: dict[str, Any]) -> None:
    """Restore a state produced by `_rng_state`, checking the bit generator matches."""
    expected = type(rng.bit_generator).__name__
    if state.get("bit_generator") != expected:
        raise ConfigError(f"sampler state is for bit generator {state.get('bit_generator')!r}, expected {expected!r}")
    rng.bit_generator.state = copy.deepcopy(state)


class UniformNegativeSampler:
    """Draws items uniformly from those that are *not* training positives of the given user.

    Sampling is vectorised rejection: draw every negative at once, find the draws that hit a positive by binary
    search in the sorted keys ``user * num_items + item``, and redraw only those. After `MAX_REJECTION_ROUNDS`
    rounds (only reached for users who interacted with nearly every item) the remaining draws are made exactly
    by rank among the user's allowed items, so the loop is bounded and the result is always uniform.
    """

    def __init__(self, train: sp.spmatrix | sp.sparray, seed: int, stream: int = SAMPLER_STREAM) -> None:
        csr = _binary_csr(train)
        self.num_users, self.num_items = csr.shape
        self._indptr = csr.indptr.astype(np.int64)
        self._degree = np.diff(self._indptr)
        self._keys = np.repeat(np.arange(self.num_users, dtype=np.int64), self._degree) * self.num_items + csr.indices
        # Positive p_j (j-th of its user) shifted by j: the r-th allowed item is r + #{j : p_j - j <= r}.
        local = np.arange(csr.nnz, dtype=np.int64) - np.repeat(self._indptr[:-1], self._degree)
        self._shifted = self._keys - local
        self._rng = numpy_rng(seed, stream)

    def sample(self, user_idx: np.ndarray, num_negatives: int) -> np.ndarray:
        """An int64 array of shape ``(len(user_idx), num_negatives)`` of non-positive items for each user."""
        users = np.asarray(user_idx, dtype=np.int64).reshape(-1)
        if num_negatives < 1:
            raise ConfigError(f"num_negatives must be at least 1, got {num_negatives}")
        self._check_users(users)
        rows = np.repeat(users, num_negatives)
        items = self._rng.integers(0, self.num_items, size=rows.size, dtype=np.int64)
        bad = np.flatnonzero(self._is_positive(rows, items))
        rounds = 0
        while bad.size and rounds < MAX_REJECTION_ROUNDS:
            items[bad] = self._rng.integers(0, self.num_items, size=bad.size, dtype=np.int64)
            bad = bad[self._is_positive(rows[bad], items[bad])]
            rounds += 1
        if bad.size:
            logger.debug("exact rank sampling for %d draws after %d rejection rounds", bad.size, rounds)
            items[bad] = self._draw_by_rank(rows[bad])
        return items.reshape(len(users), num_negatives)

    def _check_users(self, users: np.ndarray) -> None:
        """Raise unless every user index is valid and has at least one non-positive item."""
        if users.size == 0:
            return
        if users.min() < 0 or users.max() >= self.num_users:
            raise DataError(f"user indices must lie in [0, {self.num_users}), got [{users.min()}, {users.max()}]")
        full = users[self._degree[users] >= self.num_items]
        if full.size:
            raise DataError(
                f"user index {int(full[0])} has interacted with all {self.num_items} items, so no negative item "
                "exists; drop such users from the training data"
            )

    def _is_positive(self, rows: np.ndarray, items: np.ndarray) -> np.ndarray:
        """Boolean mask: is `items[i]` a training positive of `rows[i]`?"""
        if self._keys.size == 0:
            return np.zeros(rows.shape, dtype=bool)
        query = rows * self.num_items + items
        pos = np.minimum(np.searchsorted(self._keys, query), self._keys.size - 1)
        return self._keys[pos] == query

    def _draw_by_rank(self, rows: np.ndarray) -> np.ndarray:
        """Exact uniform draws among each row's allowed items: pick a rank r, map it to the r-th allowed item."""
        ranks = self._rng.integers(0, self.num_items - self._degree[rows], dtype=np.int64)
        query = rows * self.num_items + ranks
        below = np.searchsorted(self._shifted, query, side="right") - self._indptr[rows]
        return ranks + below

    def state_dict(self) -> dict[str, Any]:
        """The generator state; JSON-serialisable."""
        return {"rng": _rng_state(self._rng)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from a state returned by `state_dict`."""
        _set_rng_state(self._rng, state["rng"])


class EdgeBatcher:
    """Mini-batches of all training edges, in a fresh seeded random order every epoch.

    ``epoch()`` (or iterating the batcher) draws one permutation of the edges and yields ``(user_idx,
    pos_item_idx)`` int64 arrays of at most `batch_size` edges; every edge appears exactly once per epoch. The
    state saved by ``state_dict()`` is the generator state, so saving between epochs resumes with the next
    epoch's order exactly (saving mid-epoch resumes with the next epoch too).
    """

    def __init__(
        self, train: sp.spmatrix | sp.sparray, batch_size: int, seed: int, stream: int = BATCHER_STREAM
    ) -> None:
        if batch_size < 1:
            raise ConfigError(f"batch_size must be at least 1, got {batch_size}")
        coo = _binary_csr(train).tocoo()
        self.users = coo.row.astype(np.int64)
        self.items = coo.col.astype(np.int64)
        self.batch_size = int(batch_size)
        self._rng = numpy_rng(seed, stream)

    @property
    def num_edges(self) -> int:
        return int(self.users.size)

    @property
    def num_batches(self) -> int:
        """Batches per epoch: ceil(num_edges / batch_size)."""
        return -(-self.num_edges // self.batch_size)

    def epoch(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Yield the batches of one epoch; the permutation is drawn when the first batch is requested."""
        order = self._rng.permutation(self.num_edges)
        for start in range(0, self.num_edges, self.batch_size):
            batch = order[start : start + self.batch_size]
            yield self.users[batch], self.items[batch]

    def __iter__(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        return self.epoch()

    def __len__(self) -> int:
        return self.num_batches

    def state_dict(self) -> dict[str, Any]:
        """The generator state; JSON-serialisable."""
        return {"rng": _rng_state(self._rng)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from a state returned by `state_dict`."""
        _set_rng_state(self._rng, state["rng"])
