"""Retrieval: the one place that turns scores into ranked items.

Every surface that ranks items — evaluation, ``recommend``, ``recommend --all``, the service (recommend, similar,
the popularity fallback), two-stage ranking, the exact vector index and ``similar`` — ranks through this module,
so they all agree on:

* **the k check** — :func:`check_k`, one message for every caller;
* **masking of seen items** — :func:`mask_seen` sets excluded (user, item) scores to ``-inf``; a masked item is
  never returned (lists are padded with item ``-1`` / score ``-inf`` instead);
* **the tie rule** — items are ordered by score, highest first, and **equal scores put the smaller item index
  first**. The rule is applied per row, so the result does not depend on how rows are chunked, on the number of
  threads, or on whether the scores came as a torch tensor or a numpy array (:func:`top_k`,
  :func:`rank_candidates`);
* **chunking under the score budget** — a chunk of users scored against every item holds at most
  :data:`MAX_CHUNK_SCORES` scores (:func:`capped_chunk_size`, :func:`user_chunks`).

Models are seen through :class:`Scorer`: ``score(user_idx) -> (B, num_items)``. Embedding models score with a dot
product (:class:`DotScorer`); a model without per-item embeddings only has to implement ``score``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Protocol, TypeVar, runtime_checkable

import numpy as np
import scipy.sparse as sp
import torch

from graphrec.errors import ConfigError, DataError

# At most this many scores (rows × items, float32: 512 MiB) per chunk: 2048 users × 2M items would be 16 GiB.
MAX_CHUNK_SCORES = 2**27
_BLOCK = 64  # columns per block of the pruned top-k

Array = TypeVar("Array", torch.Tensor, np.ndarray)


# ------------------------------------------------------------------------------------------------ the k check


def check_k(k: object, name: str = "k") -> int:
    """`k` as an int, or a ConfigError: k must be an integer ≥ 1 (`name` is the argument's name in the message)."""
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ConfigError(f"{name}: expected an integer ≥ 1, got {k!r}; ask for at least one item")
    return int(k)


# ------------------------------------------------------------------------------------------------ scorers


@runtime_checkable
class Scorer(Protocol):
    """What retrieval needs from a model: a score for every (user, item) pair of a batch of users."""

    num_items: int

    def score(self, user_idx: torch.Tensor) -> torch.Tensor:
        """float32 (len(user_idx), num_items) scores of the users `user_idx` (int64), computed without grad."""
        ...


class DotScorer:
    """The embedding models' scorer: ``score(u) = user_emb[u] @ item_emb.T`` (on CPU, float32)."""

    def __init__(self, user_emb: torch.Tensor, item_emb: torch.Tensor) -> None:
        if user_emb.dim() != 2 or item_emb.dim() != 2 or user_emb.shape[1] != item_emb.shape[1]:
            raise DataError(
                f"embeddings must be (num_users, d) and (num_items, d), got {tuple(user_emb.shape)} and "
                f"{tuple(item_emb.shape)}; pass two 2-D tensors of the same width"
            )
        self.user_emb = user_emb.detach().cpu().float().contiguous()
        self.item_emb = item_emb.detach().cpu().float()
        self._items_t = self.item_emb.T
        self.num_users = int(user_emb.shape[0])
        self.num_items = int(item_emb.shape[0])

    @torch.no_grad()
    def similar(self, item_idx: torch.Tensor) -> torch.Tensor:
        """Item–item scores ``item_emb[i] @ item_emb.T`` of the items `item_idx`."""
        return (self.item_emb[item_idx] @ self._items_t).contiguous()

    @torch.no_grad()
    def score(self, user_idx: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
        """Scores of `user_idx`; with `out` (a contiguous (B, num_items) float32 buffer) written into it."""
        users = self.user_emb[user_idx]
        if out is None:
            return (users @ self._items_t).contiguous()
        return torch.mm(users, self._items_t, out=out)


def check_users(user_idx: np.ndarray, num_users: int) -> np.ndarray:
    """`user_idx` as a flat int64 array, or a DataError when an index lies outside [0, num_users)."""
    user_idx = np.asarray(user_idx, dtype=np.int64).reshape(-1)
    if user_idx.size and (user_idx.min() < 0 or user_idx.max() >= num_users):
        raise DataError(
            f"user indices must lie in [0, {num_users}), got range [{user_idx.min()}, "
            f"{user_idx.max()}]; pass internal user indices of this model"
        )
    return user_idx


# ------------------------------------------------------------------------------------------------ masking


def combine_exclude(
    exclude: sp.spmatrix | sp.sparray | Sequence[sp.spmatrix | sp.sparray] | None, shape: tuple[int, int]
) -> sp.csr_matrix:
    """The union of the exclusion matrices' nonzero patterns, as one CSR matrix (sorted, no duplicates)."""
    if exclude is None:
        parts: list[sp.spmatrix | sp.sparray] = []
    elif isinstance(exclude, (list, tuple)):
        parts = list(exclude)
    else:
        parts = [exclude]
    combined = sp.csr_matrix(shape, dtype=np.float32)
    for part in parts:
        mat = sp.csr_matrix(part, dtype=np.float32)
        if mat.shape != shape:
            raise DataError(f"exclude matrix has shape {mat.shape}, expected {shape}; pass a users × items matrix")
        combined = combined + abs(mat)
    combined.sum_duplicates()
    combined.eliminate_zeros()
    return combined


def gather_rows(indptr: np.ndarray, indices: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(local_row, col) int64 coordinates of the stored entries of CSR `rows`, local_row indexing into `rows`."""
    starts = indptr[rows].astype(np.int64)
    counts = indptr[rows + 1].astype(np.int64) - starts
    total = int(counts.sum())
    local = np.repeat(np.arange(len(rows), dtype=np.int64), counts)
    offsets = np.arange(total, dtype=np.int64) - np.repeat(np.cumsum(counts) - counts - starts, counts)
    return local, indices[offsets].astype(np.int64)


def mask_seen(scores: torch.Tensor, seen: sp.csr_matrix, rows: np.ndarray) -> None:
    """Set `scores[i, j] = -inf` in place wherever item j is in row `rows[i]` of `seen` (scores contiguous)."""
    local, cols = gather_rows(seen.indptr, seen.indices, rows)
    if local.size:
        flat = torch.from_numpy(local * scores.shape[1] + cols)
        scores.view(-1).index_fill_(0, flat, float("-inf"))


# ------------------------------------------------------------------------------------------------ top-k


def top_k(scores: Array, k: int) -> tuple[Array, Array]:
    """The min(k, m) best entries of each row of `scores` (n, m): (values, column indices int64), best first.

    Ties: equal scores put the smaller column index first — also at the cut, so which of several tied items
    make the list is decided by index too. Per row, so chunking never changes a row's answer. Numpy in, numpy
    out (the work is done in torch on a zero-copy view).
    """
    k = check_k(k)
    if isinstance(scores, np.ndarray):
        values, indices = _top_k_torch(torch.from_numpy(np.ascontiguousarray(scores)), k)
        return values.numpy(), indices.numpy()
    return _top_k_torch(scores, k)


def _top_k_torch(scores: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    n, m = scores.shape
    k = min(k, m)
    if k == 0 or n == 0:
        return scores[:, :k], torch.zeros((n, k), dtype=torch.int64)
    values, indices, ambiguous = _candidates(scores, k)
    if ambiguous.any():
        rows = torch.nonzero(ambiguous).flatten()
        values[rows], indices[rows] = _exact_with_ties(scores[rows], values[rows, k - 1], k)
    # Canonical order inside the chosen k (by index, then a stable sort by score, descending), needed only where
    # equal values sit side by side: torch.topk's order of ties is unspecified.
    tied = ambiguous | (values[:, 1:] == values[:, :-1]).any(dim=1)
    if tied.any():
        rows = torch.nonzero(tied).flatten()
        by_index, order = torch.sort(indices[rows], dim=1)
        ordered, order_v = torch.sort(values[rows].gather(1, order), dim=1, descending=True, stable=True)
        values[rows], indices[rows] = ordered, by_index.gather(1, order_v)
    return values, indices


def _candidates(scores: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The k best entries of each row up to ties, and which rows have a tie at the cut (so the set is ambiguous).

    Columns are pruned by blocks: the k best entries lie in the k blocks (of _BLOCK columns) with the largest
    maxima, plus the ragged tail. A row is ambiguous when another candidate equals its k-th best, or when a block
    left out has a maximum as large as the k-th best (it could hold an equal entry with a smaller index).
    """
    n, m = scores.shape
    num_blocks = m // _BLOCK
    if num_blocks < 4 * k:
        width = min(k + 1, m)
        values, indices = torch.topk(scores, width, dim=1, largest=True, sorted=True)
        ambiguous = values[:, k - 1] == values[:, k] if width > k else torch.zeros(n, dtype=torch.bool)
        return values[:, :k].contiguous(), indices[:, :k].contiguous(), ambiguous
    block_max = scores[:, : num_blocks * _BLOCK].reshape(n, num_blocks, _BLOCK).amax(dim=2)
    best_blocks = torch.topk(block_max, k, dim=1, sorted=False).indices
    left_out_max = block_max.scatter(1, best_blocks, float("-inf")).amax(dim=1)  # the best block not chosen
    cand = (best_blocks.unsqueeze(2) * _BLOCK + torch.arange(_BLOCK)).reshape(n, k * _BLOCK)
    cand = torch.cat([cand, torch.arange(num_blocks * _BLOCK, m).expand(n, -1)], dim=1)
    cand_scores = scores.gather(1, cand)
    values, pos = torch.topk(cand_scores, k, dim=1, largest=True, sorted=True)  # k + 1 would cost twice as much
    kth = values[:, k - 1].contiguous()
    ambiguous = ((cand_scores >= kth[:, None]).sum(dim=1) > k) | (left_out_max >= kth)
    return values, cand.gather(1, pos), ambiguous


def _exact_with_ties(rows: torch.Tensor, kth: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The k best entries of each row given its k-th best value `kth`: everything above it, then the entries
    equal to it with the smallest column indices (vectorised over the rows, O(rows × m))."""
    above = rows > kth[:, None]
    equal = rows == kth[:, None]
    need = k - above.sum(dim=1, keepdim=True)
    chosen = above | (equal & (torch.cumsum(equal, dim=1) <= need))
    if int(chosen.sum()) != rows.shape[0] * k:
        raise DataError("scores contain NaN; a model must produce finite scores (or -inf for masked items)")
    indices = torch.nonzero(chosen)[:, 1].reshape(rows.shape[0], k)  # row-major: ascending columns
    return rows.gather(1, indices), indices


def padded_top_k(scores: torch.Tensor, k: int) -> tuple[np.ndarray, np.ndarray]:
    """:func:`top_k` of masked scores as (items int64, scores float32) of width k: masked (-inf) entries and
    columns past the number of items become item -1 / score -inf."""
    values, indices = top_k(scores, k)
    values_np, indices_np = values.numpy().astype(np.float32), indices.numpy().astype(np.int64)
    items = np.full((scores.shape[0], k), -1, dtype=np.int64)
    out = np.full((scores.shape[0], k), -np.inf, dtype=np.float32)
    valid = values_np > -np.inf
    width = values_np.shape[1]
    items[:, :width] = np.where(valid, indices_np, -1)
    out[:, :width] = np.where(valid, values_np, -np.inf)
    return items, out


def rank_candidates(items: np.ndarray, scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The k best of each row of candidate `items` (n, c) (item indices, -1 = padding) by `scores` (n, c), with
    the tie rule of :func:`top_k` on the item index (not the candidate's position). 1-D inputs are one row.

    Returns (items int64, scores float32) of width k, padded with -1 / -inf (padding and -inf scores never rank).
    """
    k = check_k(k)
    one_row = np.ndim(items) == 1
    items2 = np.atleast_2d(np.asarray(items, dtype=np.int64))
    values = np.where(items2 >= 0, np.atleast_2d(np.asarray(scores, dtype=np.float64)), -np.inf)
    order = np.lexsort((np.where(items2 >= 0, items2, np.iinfo(np.int64).max), -values), axis=1)[:, :k]
    top_values = np.take_along_axis(values, order, axis=1)
    out_items = np.full((len(items2), k), -1, dtype=np.int64)
    out_scores = np.full((len(items2), k), -np.inf, dtype=np.float32)
    width = order.shape[1]
    keep = top_values > -np.inf
    out_items[:, :width] = np.where(keep, np.take_along_axis(items2, order, axis=1), -1)
    out_scores[:, :width] = np.where(keep, top_values, -np.inf)
    if one_row:
        keep_row = out_items[0] >= 0
        return out_items[0][keep_row], out_scores[0][keep_row]
    return out_items, out_scores


# ------------------------------------------------------------------------------------------------ chunking


def capped_chunk_size(chunk_size: int, num_items: int) -> int:
    """Rows scored at once against all `num_items` items: `chunk_size`, lowered so that a chunk's score matrix
    holds at most MAX_CHUNK_SCORES scores (every full-ranking loop goes through this)."""
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, (int, np.integer)) or chunk_size < 1:
        raise ConfigError(f"chunk_size: expected an integer ≥ 1, got {chunk_size!r}; score at least one row at once")
    return min(chunk_size, max(1, MAX_CHUNK_SCORES // max(num_items, 1)))


def user_chunks(
    rows: np.ndarray, chunk_size: int, num_items: int, progress: str | None = None
) -> Iterator[tuple[int, np.ndarray]]:
    """(start, rows[start:start + size]) for consecutive chunks of `rows` under the score budget; `progress`
    names a progress bar (None: no bar)."""
    size = capped_chunk_size(chunk_size, num_items)
    starts: Iterator[int] | range = range(0, len(rows), size)
    if progress is not None:
        from tqdm.auto import tqdm

        starts = tqdm(starts, desc=progress, unit="chunk", leave=False)
    for start in starts:
        yield start, rows[start : start + size]


# ------------------------------------------------------------------------------------------------ batch ranking


@torch.no_grad()
def top_k_items(
    scorer: Scorer,
    user_idx: np.ndarray,
    k: int,
    exclude: sp.csr_matrix | Sequence[sp.csr_matrix] | None,
    chunk_size: int = 2048,
    num_users: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The `k` best non-excluded items of each user in `user_idx`, best first, ties by smaller item index.

    Returns ``(items, scores)``, int64 and float32 (len(user_idx), k); a user with fewer than `k` non-excluded
    items gets a row padded with item -1 / score -inf. `exclude` is users × items (or a list of such, united);
    its rows (or `num_users` when nothing is excluded) bound the user indices.
    """
    k = check_k(k)
    num_items = scorer.num_items
    user_idx = np.asarray(user_idx, dtype=np.int64).reshape(-1)
    if num_users is None:
        num_users = _rows_of(exclude) if exclude is not None else int(user_idx.max(initial=-1)) + 1
    user_idx = check_users(user_idx, num_users)
    seen = combine_exclude(exclude, (num_users, num_items))
    items = np.full((len(user_idx), k), -1, dtype=np.int64)
    scores = np.full((len(user_idx), k), -np.inf, dtype=np.float32)
    for start, rows in user_chunks(user_idx, chunk_size, num_items):
        chunk = scorer.score(torch.from_numpy(rows)).float().contiguous()
        mask_seen(chunk, seen, rows)
        items[start : start + len(rows)], scores[start : start + len(rows)] = padded_top_k(chunk, k)
    return items, scores


def _rows_of(exclude: sp.csr_matrix | Sequence[sp.csr_matrix]) -> int:
    first = exclude[0] if isinstance(exclude, (list, tuple)) else exclude
    if not isinstance(first, (sp.spmatrix, sp.sparray)):
        raise DataError(
            f"exclude: expected a sparse users × items matrix (or a list of them), got "
            f"{type(first).__name__}; pass e.g. the run's training matrix"
        )
    return int(first.shape[0])
