"""The related-item task (PinSAGE §4.2): for held-out related pairs (q, i), rank i among all items by embedding
similarity to q (q itself excluded) and report

    hit_rate@K  = (1/n) Σ 1[rank(q, i) ≤ K]
    mrr         = (1/n) Σ 1 / rank(q, i)
    mrr_scaled  = (1/n) Σ 1 / ⌈rank(q, i) / 100⌉     (the paper's MRR, ranks scaled by 100 for a huge catalogue)

with rank 1 = most similar. Similarity is the dot product of the final embeddings (what serving uses).

Two protocols, and each result says which it used (``protocol``), because their numbers are not comparable with each
other nor with the full-ranking user metrics of :mod:`graphrec.evaluation.metrics`:

* ``full`` (the default): i is ranked among every item but q;
* ``sampled`` (``sample_size = n``): the PinSAGE paper's protocol, i ranked among one fixed uniform sample of n
  items (the paper: 5M of its billions of pins), shared by every query, q and i left out of it. A smaller pool gives
  higher hit rates: a sampled figure is labelled as such wherever it is printed, never set beside full-ranking ones.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch

from graphrec.errors import ConfigError, DataError
from graphrec.retrieval import capped_chunk_size
from graphrec.seeding import Stream, numpy_rng

FULL = "full"
SAMPLED = "sampled"


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


def protocol_label(metrics: dict[str, float | int | str]) -> str:
    """How a result of :func:`evaluate_related` was ranked, in words, for every table and log line that shows it."""
    if metrics.get("protocol") == SAMPLED:
        return f"sampled protocol: rank among {metrics['sample_size']:,} random items (PinSAGE §4.2), not full ranking"
    return "full ranking among all items but the query"


def related_sample(num_items: int, sample_size: int, seed: int) -> np.ndarray:
    """The fixed pool of the sampled protocol: `sample_size` distinct item indices, sorted, drawn with `seed`."""
    if not 1 <= sample_size <= num_items:
        raise ConfigError(
            f"related-item sample_size must be between 1 and the {num_items} items, got {sample_size}; e.g. "
            f"{min(1000, num_items)} (or no sample_size, for full ranking)"
        )
    return np.sort(numpy_rng(seed, Stream.RELATED_SAMPLE).choice(num_items, size=sample_size, replace=False))


@torch.no_grad()
def related_item_ranks(
    item_emb: torch.Tensor, pairs: np.ndarray, chunk_size: int = 2048, pool: np.ndarray | None = None
) -> np.ndarray:
    """1-based rank of i among all items but q (or, with `pool`, among the pool's items but q and i), by
    <z_q, z_·> (ties count against i: rank = 1 + #strictly higher + #equal others), for each pair (q, i)."""
    if len(pairs) == 0:
        raise DataError("no held-out related pairs to evaluate; the split has no held-out items for known users")
    ranks = np.empty(len(pairs), dtype=np.int64)
    chunk_size = capped_chunk_size(chunk_size, item_emb.shape[0])
    pool_t = None if pool is None else torch.from_numpy(pool)
    candidates = item_emb if pool_t is None else item_emb[pool_t]
    for start in range(0, len(pairs), chunk_size):
        q = torch.from_numpy(pairs[start : start + chunk_size, 0])
        i = torch.from_numpy(pairs[start : start + chunk_size, 1])
        rows = torch.arange(len(q))
        scores = item_emb[q] @ candidates.T
        if pool_t is None:  # the target's score from the same product as its competitors': ties stay exact
            target = scores[rows, i].unsqueeze(1)
        else:
            target = (item_emb[q] @ item_emb[i].T).diagonal().unsqueeze(1)
        at_least = scores >= target
        if pool_t is None:
            at_least[rows, q] = False
            at_least[rows, i] = False
        else:  # q and i are not competitors even when the pool holds them
            at_least &= (pool_t[None, :] != q[:, None]) & (pool_t[None, :] != i[:, None])
        ranks[start : start + len(q)] = (1 + at_least.sum(dim=1)).numpy()
    return ranks


def related_item_metrics(ranks: np.ndarray, ks: tuple[int, ...] = (10,)) -> dict[str, float | int | str]:
    metrics: dict[str, float | int | str] = {f"hit_rate@{k}": float(np.mean(ranks <= k)) for k in ks}
    metrics["mrr"] = float(np.mean(1.0 / ranks))
    metrics["mrr_scaled"] = float(np.mean(1.0 / np.ceil(ranks / 100.0)))
    metrics["num_pairs"] = len(ranks)
    metrics["protocol"] = FULL
    return metrics


def evaluate_related(
    item_emb: torch.Tensor,
    pairs: np.ndarray,
    ks: tuple[int, ...] = (10,),
    sample_size: int | None = None,
    seed: int = 0,
) -> dict[str, float | int | str]:
    """Hit rate@K, MRR and the paper's scaled MRR of held-out pairs, with ``protocol`` ("full", or "sampled" with
    ``sample_size``: see the module docstring)."""
    pool = None if sample_size is None else related_sample(item_emb.shape[0], sample_size, seed)
    metrics = related_item_metrics(related_item_ranks(item_emb, pairs, pool=pool), ks)
    if pool is not None:
        metrics.update(protocol=SAMPLED, sample_size=int(sample_size or 0), sample_seed=seed)
    return metrics
