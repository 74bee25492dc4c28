"""The related-item task (PinSAGE §4.2): for held-out related pairs (q, i), rank i among all items by embedding
similarity to q (q itself excluded) and report

    hit_rate@K  = (1/n) Σ 1[rank(q, i) ≤ K]
    mrr         = (1/n) Σ 1 / rank(q, i)
    mrr_scaled  = (1/n) Σ 1 / ⌈rank(q, i) / 100⌉     (the paper's MRR, ranks scaled by 100 for a huge catalogue)

with rank 1 = most similar. Similarity is the dot product of the final embeddings (what serving uses).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch

from graphrec.errors import DataError
from graphrec.retrieval import capped_chunk_size


def last_item_pairs(train: sp.csr_matrix, held_out: sp.csr_matrix, timestamps: np.ndarray | None) -> np.ndarray:
    """Held-out related pairs (q, i): q = the user's newest training item (by timestamp; without timestamps, the
    highest-indexed), i = each of the user's held-out items — the item engaged with next."""
    train, held_out = sp.csr_matrix(train), sp.csr_matrix(held_out)
    users = np.repeat(np.arange(train.shape[0]), np.diff(train.indptr))
    keys = timestamps if timestamps is not None else np.zeros(train.nnz)
    order = np.lexsort((train.indices, keys, users))
    last_of_user = np.full(train.shape[0], -1, dtype=np.int64)
    last_of_user[users[order]] = train.indices[order]  # later rows overwrite: the newest item wins
    coo = held_out.tocoo()
    queries = last_of_user[coo.row]
    keep = (queries >= 0) & (queries != coo.col)
    return np.stack([queries[keep], coo.col[keep].astype(np.int64)], axis=1)


@torch.no_grad()
def related_item_ranks(item_emb: torch.Tensor, pairs: np.ndarray, chunk_size: int = 2048) -> np.ndarray:
    """1-based rank of i among all items but q, by <z_q, z_·> (ties count against i: rank = 1 + #strictly higher
    + #equal others), for each pair (q, i)."""
    if len(pairs) == 0:
        raise DataError("no held-out related pairs to evaluate; the split has no held-out items for known users")
    ranks = np.empty(len(pairs), dtype=np.int64)
    chunk_size = capped_chunk_size(chunk_size, item_emb.shape[0])
    for start in range(0, len(pairs), chunk_size):
        q = torch.from_numpy(pairs[start : start + chunk_size, 0])
        i = torch.from_numpy(pairs[start : start + chunk_size, 1])
        scores = item_emb[q] @ item_emb.T
        scores[torch.arange(len(q)), q] = -torch.inf
        target = scores[torch.arange(len(q)), i].unsqueeze(1)
        higher = (scores > target).sum(dim=1)
        ties = (scores == target).sum(dim=1) - 1
        ranks[start : start + len(q)] = (1 + higher + ties).numpy()
    return ranks


def related_item_metrics(ranks: np.ndarray, ks: tuple[int, ...] = (10,)) -> dict[str, float]:
    metrics = {f"hit_rate@{k}": float(np.mean(ranks <= k)) for k in ks}
    metrics["mrr"] = float(np.mean(1.0 / ranks))
    metrics["mrr_scaled"] = float(np.mean(1.0 / np.ceil(ranks / 100.0)))
    metrics["num_pairs"] = len(ranks)
    return metrics


def evaluate_related(item_emb: torch.Tensor, pairs: np.ndarray, ks: tuple[int, ...] = (10,)) -> dict[str, float]:
    """Hit rate@K, MRR and the paper's scaled MRR of held-out pairs."""
    return related_item_metrics(related_item_ranks(item_emb, pairs), ks)
