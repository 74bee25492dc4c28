"""Personalised PageRank over items (item → user → item steps), by batched power iteration, and the hard-negative
rank window PinSAGE samples from (items ranked "high but not too high" for the query).

With P the item → item transition of one walk step (row-stochastic: D_i⁻¹ Aᵀ D_u⁻¹ A for the binary user × item
matrix A), the PPR vector of a source item s solves  x = α e_s + (1 − α) x P.  A batch of sources is a dense
(B × num_items) matrix iterated with two sparse products per step, never materialising the item × item matrix.

On catalogues of 10⁵ items a dense batch costs seconds per step, so :meth:`ItemPageRank.one_step` also gives the
truncated walk of a single step, sparsely: its ranking (the source aside) is that of e_s P, the items reachable
through one shared user, weighted by the walk's probabilities.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from graphrec.errors import ConfigError


class ItemPageRank:
    """Batched personalised PageRank on the item–user–item graph of a training matrix."""

    def __init__(self, train: sp.spmatrix, restart_prob: float = 0.15) -> None:
        if not 0.0 < restart_prob < 1.0:
            raise ConfigError(f"restart_prob must be in (0, 1), got {restart_prob}; the usual value is 0.15")
        a = sp.csr_matrix(train, dtype=np.float64)
        a.sum_duplicates()
        a.data[:] = 1.0
        self.restart_prob = restart_prob
        self.num_items = a.shape[1]
        item_deg = np.asarray(a.sum(axis=0)).ravel()
        user_deg = np.asarray(a.sum(axis=1)).ravel()
        self._item_user = (sp.diags(_safe_inverse(item_deg)) @ a.T).tocsr()  # D_i⁻¹ Aᵀ
        self._user_item = (sp.diags(_safe_inverse(user_deg)) @ a).tocsr()  # D_u⁻¹ A
        self._dangling = item_deg == 0  # items without users: their mass returns to the source

    def scores(self, sources: np.ndarray, num_iters: int = 30, tol: float = 1e-6) -> np.ndarray:
        """(len(sources), num_items) PPR scores (rows sum to 1), iterated until the L1 change < `tol`."""
        sources = np.asarray(sources, dtype=np.int64)
        restart = np.zeros((sources.size, self.num_items))
        restart[np.arange(sources.size), sources] = 1.0
        x = restart.copy()
        alpha = self.restart_prob
        for _ in range(num_iters):
            stuck = x[:, self._dangling].sum(axis=1, keepdims=True)
            walked = np.asarray((self._user_item.T @ (self._item_user.T @ x.T)).T)
            new = alpha * restart + (1 - alpha) * (walked + stuck * restart)
            change = np.abs(new - x).sum(axis=1).max(initial=0.0)
            x = new
            if change < tol:
                break
        return x

    def one_step(self, sources: np.ndarray) -> sp.csr_matrix:
        """(len(sources), num_items) sparse e_s P: the one-step item → user → item walk from each source."""
        sources = np.asarray(sources, dtype=np.int64)
        return sp.csr_matrix(self._item_user[sources] @ self._user_item)


def sparse_rank_window(scores: sp.csr_matrix, sources: np.ndarray, low: int, high: int) -> np.ndarray:
    """:func:`rank_window` over the stored entries of sparse `scores` only: items without a stored score are not
    ranked (they fill no rank), so a row reaching fewer than `high` items gets -1 beyond its last one."""
    _check_window(low, high)
    scores = sp.csr_matrix(scores)
    rows = np.repeat(np.arange(scores.shape[0]), np.diff(scores.indptr))
    keep = (scores.indices != np.asarray(sources)[rows]) & (scores.data > 0)
    rows, items, values = rows[keep], scores.indices[keep].astype(np.int64), scores.data[keep]
    order = np.lexsort((items, -values, rows))  # per row: score descending, then smaller item first
    rows, items = rows[order], items[order]
    starts = np.searchsorted(rows, np.arange(scores.shape[0]))
    rank = np.arange(rows.size) - starts[rows]
    inside = (rank >= low) & (rank < high)
    out = np.full((scores.shape[0], high - low), -1, dtype=np.int64)
    out[rows[inside], rank[inside] - low] = items[inside]
    return out


def rank_window(
    scores: np.ndarray,
    sources: np.ndarray,
    low: int,
    high: int,
    exclude: sp.csr_matrix | None = None,
) -> np.ndarray:
    """Items at ranks [low, high) of each row's scores (rank 0 = highest; the source itself and the items of
    `exclude`'s row for that source are removed before ranking; ties by smaller item index). Shape (B, high − low);
    -1 where a row has fewer ranked items."""
    _check_window(low, high)
    scores = np.array(scores, dtype=np.float64)
    rows = np.arange(scores.shape[0])
    scores[rows, sources] = -np.inf
    if exclude is not None:
        sub = sp.csr_matrix(exclude)[sources]
        scores[np.repeat(rows, np.diff(sub.indptr)), sub.indices] = -np.inf
    high_eff = min(high, scores.shape[1])
    # Order by (score desc, item asc): argsort of -score is stable, so equal scores keep item order.
    order = np.argsort(-scores, axis=1, kind="stable")[:, low:high_eff]
    valid = np.isfinite(np.take_along_axis(scores, order, axis=1))
    out = np.full((scores.shape[0], high - low), -1, dtype=np.int64)
    out[:, : order.shape[1]] = np.where(valid, order, -1)
    return out


def _check_window(low: int, high: int) -> None:
    if not 0 <= low < high:
        raise ConfigError(f"hard-negative rank window must satisfy 0 <= low < high, got [{low}, {high})")


def window_bounds(num_items: int, window: tuple[float, float]) -> tuple[int, int]:
    """A rank window in items: values ≤ 1 are fractions of the catalogue, larger values absolute ranks.

    PinSAGE samples ranks 2000–5000 of billions of pins; on a catalogue of thousands the same idea needs a window
    that scales with the catalogue, hence fractions by default.
    """
    low, high = (round(v * num_items) if v <= 1 else int(v) for v in window)
    high = max(high, low + 1)
    if low >= num_items:
        raise ConfigError(
            f"hard-negative window {window} starts at rank {low}, beyond the {num_items} items; use fractions "
            "(e.g. [0.02, 0.05]) or smaller ranks"
        )
    return low, min(high, num_items)


def _safe_inverse(values: np.ndarray) -> np.ndarray:
    out = np.zeros_like(values, dtype=np.float64)
    np.divide(1.0, values, out=out, where=values > 0)
    return out
