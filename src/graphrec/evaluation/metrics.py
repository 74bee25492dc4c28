"""Full-ranking top-K evaluation, identical in definition to the official LightGCN evaluator.

For every user ``u`` with at least one target item, all items are scored with ``<U_u, I_v>``; items in the
exclusion set (the training items, plus the validation items when evaluating on test) get score ``-inf``.
Let ``r_1..r_K`` be the hit indicators of the top-K list (``r_j = 1`` when the item at rank ``j`` is in
``T(u)``, the user's target items; an excluded item never counts as a hit). Then

* ``recall@K    = sum_j r_j / |T(u)|``
* ``precision@K = sum_j r_j / K``
* ``ndcg@K      = DCG / IDCG`` with ``DCG = sum_{j=1..K} r_j / log2(j + 1)`` and
  ``IDCG = sum_{j=1..min(K, |T(u)|)} 1 / log2(j + 1)``
* ``hit_rate@K  = 1 if sum_j r_j > 0 else 0``
* ``mrr@K       = 1 / j*`` where ``j*`` is the rank of the first hit within the top K, or ``0`` without one

Every metric is averaged over the users with ``|T(u)| >= 1``; users without targets are skipped entirely and
``num_users`` reports how many were averaged. Scores are computed chunk by chunk of users into one preallocated
buffer, so memory is ``chunk_size × num_items`` floats and the results do not depend on the chunk size.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp
import torch

from graphrec.errors import ConfigError, DataError

if TYPE_CHECKING:
    from graphrec.data.dataset import Dataset
    from graphrec.models.base import Recommender

logger = logging.getLogger(__name__)

METRIC_NAMES: tuple[str, ...] = ("recall", "ndcg", "precision", "hit_rate", "mrr")


def _canonical_csr(matrix: sp.spmatrix | sp.sparray, shape: tuple[int, int], what: str) -> sp.csr_matrix:
    """`matrix` as CSR with sorted, duplicate-free indices and no stored zeros; copies only when needed."""
    csr = sp.csr_matrix(matrix)
    if csr.shape != shape:
        raise DataError(f"{what} matrix has shape {csr.shape}, expected {shape}; pass a users × items matrix")
    if not csr.has_canonical_format or (csr.data.size and not np.all(csr.data != 0)):
        csr = csr.copy()
        csr.sum_duplicates()
        csr.eliminate_zeros()
    return csr


def _combine_exclude(
    exclude: sp.spmatrix | sp.sparray | Sequence[sp.spmatrix | sp.sparray] | None, shape: tuple[int, int]
) -> sp.csr_matrix:
    """The union of the exclusion matrices' nonzero patterns, as one canonical CSR matrix."""
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
    return _canonical_csr(combined, shape, "exclude")


def _gather_rows(indptr: np.ndarray, indices: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(local_row, col) int64 coordinates of the stored entries of CSR `rows`, local_row indexing into `rows`."""
    starts = indptr[rows].astype(np.int64)
    counts = indptr[rows + 1].astype(np.int64) - starts
    total = int(counts.sum())
    local = np.repeat(np.arange(len(rows), dtype=np.int64), counts)
    offsets = np.arange(total, dtype=np.int64) - np.repeat(np.cumsum(counts) - counts - starts, counts)
    return local, indices[offsets].astype(np.int64)


def _mask_scores(scores: torch.Tensor, exclude: sp.csr_matrix, rows: np.ndarray) -> None:
    """Set `scores[i, j] = -inf` in place wherever item j is excluded for user `rows[i]` (scores contiguous)."""
    local, cols = _gather_rows(exclude.indptr, exclude.indices, rows)
    if local.size:
        flat = torch.from_numpy(local * scores.shape[1] + cols)
        scores.view(-1).index_fill_(0, flat, float("-inf"))


def row_topk(scores: torch.Tensor, k: int, block: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    """``torch.topk(scores, k, dim=1)`` (sorted, largest first), computed faster by pruning blocks of columns.

    The k largest entries of a row lie in the k blocks (of `block` consecutive columns) with the largest block
    maxima: an entry outside them is beaten by k block maxima. So only those k × block candidates, plus the
    ragged tail of columns, go through the final topk. Identical to torch.topk except for the order of ties.
    """
    n, m = scores.shape
    num_blocks = m // block
    if num_blocks < 4 * k:
        return torch.topk(scores, k, dim=1, largest=True, sorted=True)
    block_max = scores[:, : num_blocks * block].reshape(n, num_blocks, block).amax(dim=2)
    best_blocks = torch.topk(block_max, k, dim=1, sorted=False).indices
    cand = (best_blocks.unsqueeze(2) * block + torch.arange(block)).reshape(n, k * block)
    cand = torch.cat([cand, torch.arange(num_blocks * block, m).expand(n, -1)], dim=1)
    values, pos = torch.topk(scores.gather(1, cand), k, dim=1, largest=True, sorted=True)
    return values, cand.gather(1, pos)


def _hit_matrix(
    top_idx: np.ndarray, top_val: np.ndarray, target: sp.csr_matrix, rows: np.ndarray, num_items: int
) -> np.ndarray:
    """Boolean (n, k) matrix: is `top_idx[i, j]` a target item of user `rows[i]` (and not a masked item)?"""
    local, cols = _gather_rows(target.indptr, target.indices, rows)
    keys = local * num_items + cols  # sorted: rows ascend locally and CSR column indices are sorted
    query = np.arange(len(rows), dtype=np.int64)[:, None] * num_items + top_idx
    pos = np.searchsorted(keys, query)
    found = keys[np.minimum(pos, max(len(keys) - 1, 0))] == query if len(keys) else np.zeros(query.shape, bool)
    return found & (top_val > -np.inf)


def _per_user_metrics(hits: np.ndarray, num_targets: np.ndarray, ks: Sequence[int]) -> dict[str, np.ndarray]:
    """Every metric for every K in `ks`, one float64 value per user (row of `hits`)."""
    max_k = hits.shape[1]
    discounts = 1.0 / np.log2(np.arange(2, max_k + 2, dtype=np.float64))
    ideal = np.cumsum(discounts)
    hits_f = hits.astype(np.float64)
    out: dict[str, np.ndarray] = {}
    for k in ks:
        h = hits_f[:, :k]
        n_hits = h.sum(axis=1)
        first = np.argmax(hits[:, :k], axis=1)
        out[f"recall@{k}"] = n_hits / num_targets
        out[f"precision@{k}"] = n_hits / k
        out[f"ndcg@{k}"] = (h * discounts[:k]).sum(axis=1) / ideal[np.minimum(k, num_targets) - 1]
        out[f"hit_rate@{k}"] = (n_hits > 0).astype(np.float64)
        out[f"mrr@{k}"] = np.where(n_hits > 0, 1.0 / (first + 1), 0.0)
    return out


def _validate_ks(ks: Sequence[int], num_items: int) -> list[int]:
    """`ks` as a list of positive ints no larger than the number of items."""
    out = [int(k) for k in ks]
    if not out or any(k < 1 for k in out):
        raise ConfigError(f"ks must be a non-empty list of positive integers, got {list(ks)}; e.g. ks = [10, 20]")
    if max(out) > num_items:
        raise ConfigError(f"ks contains {max(out)} but there are only {num_items} items; use smaller cut-offs")
    return out


def _check_embeddings(user_emb: torch.Tensor, item_emb: torch.Tensor) -> None:
    """Raise unless the embeddings are 2-D with the same dimension."""
    if user_emb.dim() != 2 or item_emb.dim() != 2 or user_emb.shape[1] != item_emb.shape[1]:
        raise DataError(
            f"embeddings must be (num_users, d) and (num_items, d), got {tuple(user_emb.shape)} and "
            f"{tuple(item_emb.shape)}"
        )


def _chunks(rows: np.ndarray, chunk_size: int, show_progress: bool) -> Iterator[tuple[int, np.ndarray]]:
    """(start, slice) pairs of consecutive slices of `rows` of at most `chunk_size`, optionally with a progress bar."""
    starts: Iterator[int] | range = range(0, len(rows), chunk_size)
    if show_progress:
        from tqdm.auto import tqdm

        starts = tqdm(starts, desc="evaluating", unit="chunk", leave=False)
    for start in starts:
        yield start, rows[start : start + chunk_size]


@torch.no_grad()
def evaluate_embeddings(
    user_emb: torch.Tensor,
    item_emb: torch.Tensor,
    target: sp.csr_matrix,
    exclude: sp.csr_matrix | list[sp.csr_matrix] | None,
    ks: list[int],
    chunk_size: int = 2048,
    show_progress: bool = False,
) -> dict[str, float]:
    """Full-ranking metrics (see the module docstring) of `user_emb @ item_emb.T` against `target`.

    Returns ``recall@K``, ``ndcg@K``, ``precision@K``, ``hit_rate@K`` and ``mrr@K`` for every K in `ks`, plus
    ``num_users`` (the int count of users with at least one target, over which everything is averaged).
    """
    _, per_user = evaluate_users(user_emb, item_emb, target, exclude, ks, chunk_size, show_progress=show_progress)
    return mean_metrics(per_user)


def mean_metrics(per_user: dict[str, np.ndarray]) -> dict[str, float]:
    """The metrics of `evaluate_embeddings` from per-user values: one mean per metric, plus ``num_users``."""
    n = len(next(iter(per_user.values()))) if per_user else 0
    result: dict[str, float] = {name: (float(v.mean()) if n else 0.0) for name, v in per_user.items()}
    result["num_users"] = n
    if n == 0:
        logger.warning("no user has a target item; every metric is reported as 0.0")
    return result


# At most this many scores (rows × items, float32: 512 MiB) per chunk: 2048 users × 2M items would be 16 GiB.
MAX_CHUNK_SCORES = 2**27


def capped_chunk_size(chunk_size: int, num_items: int) -> int:
    """Rows scored at once against all `num_items` items: `chunk_size`, lowered to keep a chunk's score matrix
    within MAX_CHUNK_SCORES (every full-ranking loop goes through this, so memory is bounded on any catalogue)."""
    return min(chunk_size, max(1, MAX_CHUNK_SCORES // max(num_items, 1)))


def users_with_targets(target: sp.csr_matrix) -> np.ndarray:
    """int64 indices of the users with at least one target item, ascending (the users metrics average over)."""
    return np.flatnonzero(np.diff(sp.csr_matrix(target).indptr) > 0).astype(np.int64)


@torch.no_grad()
def evaluate_users(
    user_emb: torch.Tensor,
    item_emb: torch.Tensor,
    target: sp.csr_matrix,
    exclude: sp.csr_matrix | list[sp.csr_matrix] | None,
    ks: list[int],
    chunk_size: int = 2048,
    rows: np.ndarray | None = None,
    show_progress: bool = False,
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Per-user metric values: ``(rows, {"recall@K": float64 (len(rows),), ...})`` for the users `rows` (default:
    :func:`users_with_targets`; every given user must have a target). Used by `evaluate_embeddings` and by the
    distributed evaluation, which gathers these values from every rank before taking one mean."""
    _check_embeddings(user_emb, item_emb)
    num_users, num_items = user_emb.shape[0], item_emb.shape[0]
    ks = _validate_ks(ks, num_items)
    if chunk_size < 1:
        raise ConfigError(f"chunk_size must be positive, got {chunk_size}")
    target = _canonical_csr(target, (num_users, num_items), "target")
    excl = _combine_exclude(exclude, (num_users, num_items))
    users_u = user_emb.detach().cpu().float().contiguous()
    items_t = item_emb.detach().cpu().float().T
    num_targets_all = np.diff(target.indptr).astype(np.int64)
    rows_all = users_with_targets(target) if rows is None else np.asarray(rows, dtype=np.int64)
    assert (num_targets_all[rows_all] > 0).all(), "evaluate_users: every user must have a target item"
    # Per-user values, summed once at the end, so the result is bit-identical for every chunk size.
    per_user = {f"{m}@{k}": np.zeros(len(rows_all)) for k in ks for m in METRIC_NAMES}
    chunk_size = capped_chunk_size(chunk_size, num_items)
    buffer = torch.empty((min(chunk_size, max(len(rows_all), 1)), num_items), dtype=torch.float32)
    max_k = max(ks)
    for start, chunk in _chunks(rows_all, chunk_size, show_progress):
        scores = buffer[: len(chunk)]
        torch.mm(users_u[torch.from_numpy(chunk)], items_t, out=scores)
        _mask_scores(scores, excl, chunk)
        top_val, top_idx = row_topk(scores, max_k)
        hits = _hit_matrix(top_idx.numpy().astype(np.int64), top_val.numpy(), target, chunk, num_items)
        for name, values in _per_user_metrics(hits, num_targets_all[chunk], ks).items():
            per_user[name][start : start + len(chunk)] = values
    return rows_all, per_user


def evaluate_model(
    model: Recommender, dataset: Dataset, split: str, ks: list[int], chunk_size: int = 2048
) -> dict[str, float]:
    """Evaluate `model` on `split` ("valid": train items excluded; "test": train and valid items excluded).

    The model is put in eval mode under ``torch.no_grad()`` and restored to its previous mode afterwards.
    """
    user_emb, item_emb, exclude = split_inputs(model, dataset, split)
    return evaluate_embeddings(user_emb, item_emb, dataset.split(split), exclude, ks, chunk_size)


def split_inputs(
    model: Recommender, dataset: Dataset, split: str
) -> tuple[torch.Tensor, torch.Tensor, list[sp.csr_matrix]]:
    """What evaluating `model` on `split` needs: its embeddings (eval mode, no grad) and the matrices to exclude."""
    if split == "valid":
        exclude = [dataset.train]
    elif split == "test":
        exclude = [dataset.train, dataset.valid]
    else:
        raise ConfigError(f"cannot evaluate on split '{split}'; choose one of: valid, test")
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            user_emb, item_emb = model.embeddings()
    finally:
        model.train(was_training)
    return user_emb, item_emb, exclude


@torch.no_grad()
def top_k_items(
    user_emb: torch.Tensor,
    item_emb: torch.Tensor,
    user_idx: np.ndarray,
    k: int,
    exclude: sp.csr_matrix | None,
    chunk_size: int = 2048,
) -> tuple[np.ndarray, np.ndarray]:
    """The `k` highest-scoring non-excluded items of each user in `user_idx`, best first.

    Returns ``(indices, scores)``, int64 and float32 arrays of shape ``(len(user_idx), k)``. Excluded items are
    never returned: when a user has fewer than `k` non-excluded items, the row is padded on the right with
    index ``-1`` and score ``-inf``. Ties in score are broken arbitrarily.
    """
    _check_embeddings(user_emb, item_emb)
    num_users, num_items = user_emb.shape[0], item_emb.shape[0]
    if k < 1:
        raise ConfigError(f"k must be a positive integer, got {k}")
    user_idx = np.asarray(user_idx, dtype=np.int64).reshape(-1)
    if user_idx.size and (user_idx.min() < 0 or user_idx.max() >= num_users):
        raise DataError(f"user indices must lie in [0, {num_users}), got range [{user_idx.min()}, {user_idx.max()}]")
    excl = _combine_exclude(exclude, (num_users, num_items))
    k_eff = min(k, num_items)
    indices = np.full((len(user_idx), k), -1, dtype=np.int64)
    values = np.full((len(user_idx), k), -np.inf, dtype=np.float32)
    users_u = user_emb.detach().cpu().float()
    items_t = item_emb.detach().cpu().float().T
    chunk_size = capped_chunk_size(chunk_size, num_items)
    for start in range(0, len(user_idx), chunk_size):
        rows = user_idx[start : start + chunk_size]
        scores = (users_u[torch.from_numpy(rows)] @ items_t).contiguous()
        _mask_scores(scores, excl, rows)
        top_val, top_idx = row_topk(scores, k_eff)
        top_val_np, top_idx_np = top_val.numpy(), top_idx.numpy().astype(np.int64)
        valid = top_val_np > -np.inf
        indices[start : start + len(rows), :k_eff] = np.where(valid, top_idx_np, -1)
        values[start : start + len(rows), :k_eff] = np.where(valid, top_val_np, -np.inf)
    return indices, values
