"""Full-ranking evaluation when the final embeddings are partitioned across ranks (no rank holds every item).

Each rank owns some users and some items (a :class:`~graphrec.graph.partition.Partition`) and their final rows.
Users are evaluated by their owner, in rounds of `chunk_size` users per rank:

1. the round's user rows are all-gathered, so every rank has every rank's chunk (W × chunk rows, not all users);
2. every rank scores them against its own items, masks the training (and validation) items among them, and keeps
   its top K with global item indices;
3. an all-to-all hands each user's W partial lists back to the user's owner, which merges them (score descending,
   then item index ascending: the tie rule of `graphrec.retrieval.top_k`, so the merged list is the list a full
   ranking over all items gives) and computes the user's metrics as `evaluate_scorer` does.

The means are sums all-reduced over ranks divided by the number of evaluated users (plus unseen users, as zeros).
Per round a rank holds W × chunk × (own items) scores, never the whole catalogue's.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch
import torch.distributed as dist

from graphrec.evaluation.metrics import (
    METRIC_NAMES,
    UnseenTargets,
    canonical_csr,
    hit_matrix,
    per_user_metrics,
    users_with_targets,
    validate_ks,
)
from graphrec.graph.partition import Partition
from graphrec.retrieval import combine_exclude, mask_seen, top_k


@torch.no_grad()
def evaluate_partitioned(
    final: torch.Tensor,
    partition: Partition,
    rank: int,
    target: sp.csr_matrix,
    exclude: sp.csr_matrix | list[sp.csr_matrix] | None,
    ks: list[int],
    chunk_size: int = 2048,
    unseen: UnseenTargets | None = None,
) -> dict[str, float]:
    """Mean metrics of the users with targets, from this rank's `final` rows (partition.nodes(rank) order).
    Collective: every rank calls it. `target` / `exclude` are U × I; a rank reads only its users' target rows and
    its items' exclude columns."""
    num_users, world = partition.num_users, partition.world_size
    num_items = partition.num_nodes - num_users
    ks = validate_ks(ks, num_items)
    max_k = max(ks)
    own = partition.nodes(rank)
    own_items = own[own >= num_users] - num_users
    user_rows, item_rows = final[: len(own) - len(own_items)], final[len(own) - len(own_items) :]
    target = canonical_csr(target, (num_users, num_items), "target")
    exclude_own = sp.csr_matrix(combine_exclude(exclude, (num_users, num_items))[:, own_items])
    num_targets = np.diff(target.indptr).astype(np.int64) + (unseen.per_user if unseen is not None else 0)
    mine = users_with_targets(target, unseen)
    mine = mine[partition.owner[mine] == rank]
    sums: dict[str, float] = {}
    rounds = _max_over_ranks(-(-len(mine) // chunk_size), world)
    for step in range(rounds):
        chunk = mine[step * chunk_size : (step + 1) * chunk_size]
        users, embeddings, counts = _gather_chunk(chunk, user_rows[partition.local_index[chunk]], world)
        scores = embeddings @ item_rows.T
        mask_seen(scores, exclude_own, users)
        values, local = top_k(scores, max_k) if item_rows.shape[0] else (scores[:, :0], scores[:, :0].long())
        ids = torch.from_numpy(own_items)[local] if local.numel() else local
        values, ids = _pad(values, ids, max_k, num_items)
        top_val, top_idx = _merge(*_return_to_owners(values, ids, counts, world), max_k)
        hits = hit_matrix(top_idx, top_val, target, chunk, num_items)
        for name, metric in per_user_metrics(hits, num_targets[chunk], ks).items():
            sums[name] = sums.get(name, 0.0) + float(metric.sum())
    names = [f"{m}@{k}" for k in ks for m in METRIC_NAMES]
    totals = torch.tensor([sums.get(name, 0.0) for name in names] + [float(len(mine))], dtype=torch.float64)
    if world > 1:
        dist.all_reduce(totals)
    count = int(totals[-1]) + (unseen.users if unseen is not None else 0)
    result: dict[str, float] = {name: float(totals[j]) / count if count else 0.0 for j, name in enumerate(names)}
    result["num_users"] = count
    return result if unseen is None else {**result, **unseen.report()}


def _max_over_ranks(value: int, world: int) -> int:
    if world == 1:
        return value
    tensor = torch.tensor([value], dtype=torch.int64)
    dist.all_reduce(tensor, op=dist.ReduceOp.MAX)
    return int(tensor.item())


def _gather_chunk(chunk: np.ndarray, rows: torch.Tensor, world: int) -> tuple[np.ndarray, torch.Tensor, list[int]]:
    """Every rank's chunk of users and their rows, in rank order, and each rank's count."""
    if world == 1:
        return chunk, rows.contiguous(), [len(chunk)]
    counts_t = [torch.zeros(1, dtype=torch.int64) for _ in range(world)]
    dist.all_gather(counts_t, torch.tensor([len(chunk)], dtype=torch.int64))
    counts = [int(c) for c in counts_t]
    longest = max(counts)
    padded = torch.zeros((longest, rows.shape[1] + 1), dtype=torch.float64)
    padded[: len(chunk), 0] = torch.from_numpy(chunk.astype(np.float64))  # user indices are exact in float64
    padded[: len(chunk), 1:] = rows.double()
    parts = [torch.empty_like(padded) for _ in range(world)]
    dist.all_gather(parts, padded)
    stacked = torch.cat([p[:c] for p, c in zip(parts, counts, strict=True)])
    return stacked[:, 0].long().numpy(), stacked[:, 1:].to(rows.dtype).contiguous(), counts


def _pad(values: torch.Tensor, ids: torch.Tensor, k: int, num_items: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Lists shorter than k (a rank with fewer than k items) padded with -inf at item index num_items."""
    short = k - values.shape[1]
    if short <= 0:
        return values, ids
    return (
        torch.cat([values, values.new_full((values.shape[0], short), float("-inf"))], dim=1),
        torch.cat([ids, ids.new_full((ids.shape[0], short), num_items)], dim=1),
    )


def _return_to_owners(
    values: torch.Tensor, ids: torch.Tensor, counts: list[int], world: int
) -> tuple[np.ndarray, np.ndarray]:
    """This rank's users' partial lists from every rank: (own chunk, W·k) values and item indices."""
    if world == 1:
        return values.numpy(), ids.numpy()
    k = values.shape[1]
    packed = torch.cat([values.double(), ids.double()], dim=1)
    mine = counts[dist.get_rank()]
    out = packed.new_empty((mine * world, 2 * k))
    dist.all_to_all_single(out, packed.contiguous(), [mine] * world, counts)
    blocks = out.reshape(world, mine, 2 * k)
    merged_values = torch.cat(list(blocks[:, :, :k]), dim=1).float().numpy()
    merged_ids = torch.cat(list(blocks[:, :, k:]), dim=1).long().numpy()
    return merged_values, merged_ids


def _merge(values: np.ndarray, ids: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The best k of each row: score descending, then item index ascending."""
    order = np.lexsort((ids, -values.astype(np.float64)), axis=1)[:, :k]
    return np.take_along_axis(values, order, axis=1), np.take_along_axis(ids, order, axis=1).astype(np.int64)
