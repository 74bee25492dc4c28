"""Contiguous row shards of users and items across ranks, and the row slices of a CSR matrix they need."""

from __future__ import annotations

import numpy as np
import torch

from graphrec.graph.adjacency import csr_tensor


def shard_range(n: int, rank: int, world_size: int) -> tuple[int, int]:
    """[start, stop) of rank's contiguous slice of n rows; sizes differ by at most one, in rank order."""
    return n * rank // world_size, n * (rank + 1) // world_size


def node_rows(users: tuple[int, int], items: tuple[int, int], num_users: int) -> np.ndarray:
    """Rows of the (users + items) node axis owned by a rank: its users, then its items."""
    return np.concatenate([np.arange(*users), num_users + np.arange(*items)]).astype(np.int64)


def gathered_order(num_users: int, num_items: int, world: int) -> np.ndarray:
    """Node of each row of a gather over ranks of `node_rows` (rank 0's users, rank 0's items, rank 1's users, …)."""
    return np.concatenate(
        [node_rows(shard_range(num_users, r, world), shard_range(num_items, r, world), num_users) for r in range(world)]
    )


def csr_rows(adj: torch.Tensor, rows: np.ndarray) -> torch.Tensor:
    """The given rows of a torch CSR matrix, as a CSR matrix (rows in the given order)."""
    crow, col, values = adj.crow_indices().numpy(), adj.col_indices(), adj.values()
    starts, counts = crow[rows], crow[rows + 1] - crow[rows]
    picks = np.repeat(starts - np.concatenate([[0], np.cumsum(counts)[:-1]]), counts) + np.arange(counts.sum())
    picks_t = torch.from_numpy(picks.astype(np.int64))
    new_crow = torch.from_numpy(np.concatenate([[0], np.cumsum(counts)])).to(col.dtype)  # int32 kept: faster mm
    return csr_tensor(new_crow, col[picks_t], values[picks_t], (len(rows), adj.shape[1]))
