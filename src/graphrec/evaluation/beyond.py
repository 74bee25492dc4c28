"""Beyond-accuracy metrics of top-K recommendation lists: coverage, concentration, novelty, popularity bias, and
accuracy by user-activity and item-popularity bucket.

Notation: ``U`` the evaluated users known to training (users unknown to training have no list and are left out
here), ``L_u`` user ``u``'s top-K list (the items it was recommended, training and validation items excluded as in
the accuracy metrics; shorter than K only when fewer items are left), ``I`` the ``N`` items of the run, ``c_i`` item
``i``'s training interactions (its popularity), ``C = Σ_i c_i``, ``H_u`` user ``u``'s training items.

* ``coverage@K = |∪_u L_u| / N``: the share of the catalogue recommended to anyone;
* ``gini@K``: the Gini index of the recommendation counts ``n_i = |{u : i ∈ L_u}|`` over all ``N`` items, sorted
  ascending ``n_(1) ≤ … ≤ n_(N)``: ``G = Σ_j (2j − N − 1) n_(j) / (N Σ_j n_(j))``; 0 when every item is
  recommended equally often, ``(N − 1) / N`` when one item takes every slot (0 without recommendations);
* ``novelty@K = (1/|U|) Σ_u (1/|L_u|) Σ_{i ∈ L_u} −log2 p(i)`` with ``p(i) = max(c_i, 1) / C`` (the mean
  self-information of a recommended item; an item without training interactions counts as having one);
* ``avg_popularity@K = (1/|U|) Σ_u (1/|L_u|) Σ_{i ∈ L_u} c_i`` and
  ``popularity_ratio@K = avg_popularity@K / ((1/|U'|) Σ_{u ∈ U'} (1/|H_u|) Σ_{i ∈ H_u} c_i)``, ``U'`` the users
  of ``U`` with a training item (``history_popularity``, the denominator, is reported too): above 1, the lists
  lean to more popular items than the users' own histories;
* by user activity: ``U`` in four buckets by the quartiles ``q1 ≤ q2 ≤ q3`` of the training degree ``|H_u|`` over
  ``U`` (``activity_q1``: ``|H_u| ≤ q1``; ``q2``: ``q1 < |H_u| ≤ q2``; ``q3``: ``q2 < |H_u| ≤ q3``; ``q4``:
  ``|H_u| > q3``; ties can leave a bucket empty), and ``recall@K`` / ``ndcg@K`` averaged over each bucket's users
  (the accuracy metrics' own per-user values);
* by item popularity: the head is the fewest most popular items (ties: smaller item index first) whose
  interactions make up at least 20% of ``C``; the tail is every other item. For a bucket ``B`` and a user with
  ``T_B(u) = T(u) ∩ B ≠ ∅`` (``T(u)`` its held-out items the run knows), ``r^B_j = 1`` when the item at rank ``j``
  is in ``T_B(u)``: ``recall_B@K = Σ_j r^B_j / |T_B(u)|`` and ``ndcg_B@K = Σ_{j ≤ K} r^B_j / log2(j + 1)`` over
  ``Σ_{j ≤ min(K, |T_B(u)|)} 1 / log2(j + 1)``, averaged over the users with ``T_B(u) ≠ ∅``.

Bucket results are keyed ``recall@K[activity_q1]``, ``ndcg@K[head]``, …, with the users averaged in
``users[activity_q1]``, ``users[head]``, … (a bucket without users has no metric keys), and ``head_items``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import scipy.sparse as sp

from graphrec.evaluation.metrics import hit_matrix, per_user_metrics

HEAD_SHARE = 0.2
ACTIVITY_BUCKETS = ("activity_q1", "activity_q2", "activity_q3", "activity_q4")
ITEM_BUCKETS = ("head", "tail")

Number = float | int


def item_popularity(train: sp.csr_matrix) -> np.ndarray:
    """int64 (num_items,): each item's training interactions ``c_i`` (stored entries of its column)."""
    return np.bincount(sp.csr_matrix(train).indices, minlength=train.shape[1]).astype(np.int64)


def recommendation_counts(top: np.ndarray, k: int, num_items: int) -> np.ndarray:
    """int64 (num_items,): how many of the top-`k` lists (rows of `top`, -1 padding ignored) hold each item."""
    items = top[:, :k]
    return np.bincount(items[items >= 0], minlength=num_items).astype(np.int64)


def coverage(top: np.ndarray, k: int, num_items: int) -> float:
    """``coverage@k``: distinct items in the top-`k` lists over `num_items`."""
    return float(np.count_nonzero(recommendation_counts(top, k, num_items)) / num_items) if num_items else 0.0


def gini(counts: np.ndarray) -> float:
    """The Gini index of non-negative `counts` (module docstring); 0 for an empty or all-zero vector."""
    c = np.sort(np.asarray(counts, dtype=np.float64))
    n, total = len(c), float(c.sum())
    if n == 0 or total == 0:
        return 0.0
    weights = 2 * np.arange(1, n + 1, dtype=np.float64) - n - 1
    return float(weights @ c / (n * total))


def _per_list_mean(top: np.ndarray, k: int, item_values: np.ndarray) -> np.ndarray:
    """Each non-empty top-`k` list's mean of `item_values` over its items."""
    items = top[:, :k]
    valid = items >= 0
    sums = np.where(valid, item_values[np.maximum(items, 0)], 0.0).sum(axis=1)
    lengths = valid.sum(axis=1)
    return sums[lengths > 0] / lengths[lengths > 0]


def novelty(top: np.ndarray, k: int, popularity: np.ndarray) -> float:
    """``novelty@k``: the mean over users of their list's mean ``−log2 p(i)``, ``p(i) = max(c_i, 1) / C``."""
    total = max(int(popularity.sum()), 1)
    information = -np.log2(np.maximum(popularity, 1) / total)
    per_user = _per_list_mean(top, k, information)
    return float(per_user.mean()) if len(per_user) else 0.0


def average_popularity(top: np.ndarray, k: int, popularity: np.ndarray) -> float:
    """``avg_popularity@k``: the mean over users of their list's mean training popularity ``c_i``."""
    per_user = _per_list_mean(top, k, popularity.astype(np.float64))
    return float(per_user.mean()) if len(per_user) else 0.0


def history_popularity(train: sp.csr_matrix, rows: np.ndarray, popularity: np.ndarray) -> float:
    """The mean over the users `rows` with a training item of their training items' mean popularity."""
    history = sp.csr_matrix(train)[rows]
    history.data = np.ones_like(history.data, dtype=np.float64)
    degree = np.diff(history.indptr)
    sums = history @ popularity.astype(np.float64)
    has = degree > 0
    return float((sums[has] / degree[has]).mean()) if has.any() else 0.0


def activity_buckets(train: sp.csr_matrix, rows: np.ndarray) -> np.ndarray:
    """int (len(rows),) bucket 0..3 of each user by the quartiles of training degree over `rows` (docstring)."""
    degree = np.diff(sp.csr_matrix(train).indptr)[rows]
    if len(degree) == 0:
        return np.zeros(0, dtype=np.int64)
    edges = np.quantile(degree, [0.25, 0.5, 0.75])
    return np.searchsorted(edges, degree, side="left").astype(np.int64)


def head_items(popularity: np.ndarray, share: float = HEAD_SHARE) -> np.ndarray:
    """bool (num_items,): the fewest most popular items (ties: smaller index first) holding ≥ `share` of the
    interactions (none when there are none)."""
    head = np.zeros(len(popularity), dtype=bool)
    total = int(popularity.sum())
    if total == 0:
        return head
    order = np.argsort(-popularity, kind="stable")
    count = int(np.searchsorted(np.cumsum(popularity[order]), share * total, side="left")) + 1
    head[order[:count]] = True
    return head


def bucket_accuracy(
    top: np.ndarray, target: sp.csr_matrix, rows: np.ndarray, items: np.ndarray, ks: Sequence[int]
) -> tuple[dict[str, float], int]:
    """``recall@K`` and ``ndcg@K`` with the targets restricted to the items `items` (bool mask), averaged over
    the users of `rows` with such a target; and how many users that is."""
    restricted = sp.csr_matrix(sp.csr_matrix(target) @ sp.diags(items.astype(np.float64)))
    restricted.eliminate_zeros()
    restricted.sort_indices()
    num_targets = np.diff(restricted.indptr)[rows]
    keep = num_targets > 0
    if not keep.any():
        return {}, 0
    valid = np.where(top[keep] >= 0, 0.0, -np.inf)
    hits = hit_matrix(top[keep], valid, restricted, rows[keep], target.shape[1])
    values = per_user_metrics(hits, num_targets[keep], ks)
    out = {f"{m}@{k}": float(values[f"{m}@{k}"].mean()) for k in ks for m in ("recall", "ndcg")}
    return out, int(keep.sum())


def beyond_metrics(
    top: np.ndarray,
    rows: np.ndarray,
    train: sp.csr_matrix,
    target: sp.csr_matrix,
    ks: Sequence[int],
    per_user: Mapping[str, np.ndarray],
) -> dict[str, Number]:
    """Every metric of the module docstring, for every K in `ks`: `top` int64 (len(rows), ≥ max(ks)) the users'
    ranked lists (-1 padded), `rows` their user indices, `train` and `target` users × items, `per_user` the
    accuracy metrics' per-user values over `rows` (for the activity buckets)."""
    num_items = train.shape[1]
    popularity = item_popularity(train)
    history = history_popularity(train, rows, popularity)
    out: dict[str, Number] = {}
    for k in ks:
        out[f"coverage@{k}"] = coverage(top, k, num_items)
        out[f"gini@{k}"] = gini(recommendation_counts(top, k, num_items))
        out[f"novelty@{k}"] = novelty(top, k, popularity)
        out[f"avg_popularity@{k}"] = average_popularity(top, k, popularity)
        out[f"popularity_ratio@{k}"] = out[f"avg_popularity@{k}"] / history if history else 0.0
    out["history_popularity"] = history
    out.update(_activity_results(train, rows, ks, per_user))
    head = head_items(popularity)
    out["head_items"] = int(head.sum())
    for name, items in zip(ITEM_BUCKETS, (head, ~head), strict=True):
        values, users = bucket_accuracy(top, target, rows, items, ks)
        out[f"users[{name}]"] = users
        out.update({f"{metric}[{name}]": value for metric, value in values.items()})
    return out


def _activity_results(
    train: sp.csr_matrix, rows: np.ndarray, ks: Sequence[int], per_user: Mapping[str, np.ndarray]
) -> dict[str, Number]:
    buckets = activity_buckets(train, rows)
    out: dict[str, Number] = {}
    for b, name in enumerate(ACTIVITY_BUCKETS):
        members = buckets == b
        out[f"users[{name}]"] = int(members.sum())
        if members.any():
            for k in ks:
                for metric in ("recall", "ndcg"):
                    out[f"{metric}@{k}[{name}]"] = float(per_user[f"{metric}@{k}"][members].mean())
    return out
