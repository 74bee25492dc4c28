"""A slow, obviously-correct per-user implementation of the full-ranking metrics, for testing."""

from __future__ import annotations

import math

import numpy as np
import scipy.sparse as sp


def reference_metrics(
    user_emb: np.ndarray,
    item_emb: np.ndarray,
    target: sp.csr_matrix,
    exclude: list[sp.csr_matrix],
    ks: list[int],
) -> dict[str, float]:
    """Per-user Python loops over float64 scores; assumes no score ties among non-excluded items."""
    scores_all = np.asarray(user_emb, dtype=np.float64) @ np.asarray(item_emb, dtype=np.float64).T
    num_users, num_items = scores_all.shape
    sums = {f"{m}@{k}": 0.0 for k in ks for m in ("recall", "ndcg", "precision", "hit_rate", "mrr")}
    counted = 0
    for u in range(num_users):
        targets = {int(i) for i, v in zip(target[u].indices, target[u].data, strict=True) if v != 0}
        if not targets:
            continue
        counted += 1
        excluded = set()
        for mat in exclude:
            excluded |= {int(i) for i, v in zip(mat[u].indices, mat[u].data, strict=True) if v != 0}
        allowed = [i for i in range(num_items) if i not in excluded]
        ranked = sorted(allowed, key=lambda i: -scores_all[u, i])
        for k in ks:
            top = ranked[:k]
            r = [1 if i in targets else 0 for i in top] + [0] * (k - len(top))
            n_hits = sum(r)
            dcg = sum(r[j - 1] / math.log2(j + 1) for j in range(1, k + 1))
            idcg = sum(1 / math.log2(j + 1) for j in range(1, min(k, len(targets)) + 1))
            first = next((j for j in range(1, k + 1) if r[j - 1]), None)
            sums[f"recall@{k}"] += n_hits / len(targets)
            sums[f"precision@{k}"] += n_hits / k
            sums[f"ndcg@{k}"] += dcg / idcg
            sums[f"hit_rate@{k}"] += 1.0 if n_hits > 0 else 0.0
            sums[f"mrr@{k}"] += 1.0 / first if first else 0.0
    result = {name: value / counted if counted else 0.0 for name, value in sums.items()}
    result["num_users"] = counted
    return result
