"""Fetching rows of a node-partitioned matrix from their owners, differentiably: the halo exchange.

A rank holds only its own nodes' rows (its slice of E^{(k)} at each layer). :class:`RowExchange` is a plan, built
once collectively from the global nodes each rank needs: which of its local rows every rank sends to every other,
and how many it receives. :meth:`RowExchange.fetch` then moves the rows with one ``all_to_all_single`` (the
requested rows come back in the requested order); its backward runs the same exchange in reverse, and each owner
adds the gradients arriving for its rows (a row sent to several ranks sums their gradients), so a loss computed
from fetched rows trains the owner's table as if the rows had been local.

Every rank must call ``fetch`` on the same plans in the same order, forward and backward: callers make every
fetched tensor part of the loss (a rank with nothing to fetch still joins the collective with zero rows).

:func:`exchange_plan` is the single-process form used when world_size is 1 (no process group; requested rows are
all local) so the partitioned code path runs, and is tested, without torch.distributed.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
import torch.distributed as dist

from graphrec.graph.partition import Partition

logger = logging.getLogger(__name__)


@dataclasses.dataclass
class ExchangeStats:
    """Bytes this rank sent and received through exchanges (forward and backward), and seconds spent in them."""

    bytes_sent: int = 0
    bytes_received: int = 0
    seconds: float = 0.0
    calls: int = 0

    def reset(self) -> None:
        self.bytes_sent = self.bytes_received = self.calls = 0
        self.seconds = 0.0


@dataclasses.dataclass
class RowExchange:
    """One fetch pattern: `send_index` (this rank's local rows to send, grouped by destination rank),
    `send_counts[s]` rows to rank s, `recv_counts[s]` rows from rank s, and `restore`: position in the requested
    order of each received row (received rows arrive grouped by source rank)."""

    send_index: torch.Tensor
    send_counts: list[int]
    recv_counts: list[int]
    restore: torch.Tensor
    world_size: int
    stats: ExchangeStats
    # all-gather form (halo only): every rank's row count, and each requested row's place in the gathered rows
    gather_sizes: list[int] | None = None
    gather_positions: torch.Tensor | None = None

    def fetch(self, local: torch.Tensor) -> torch.Tensor:
        """Rows of the requested nodes (requested order), from this rank's `local` rows and every other rank's."""
        out: torch.Tensor = _Fetch.apply(local, self)
        return out


def exchange_plan(
    partition: Partition, rank: int, requested: np.ndarray, stats: ExchangeStats | None = None
) -> RowExchange:
    """The plan fetching global nodes `requested` (any owners, repeats allowed) to `rank`. Collective: every rank
    calls it with its own request, in the same order of calls."""
    world = partition.world_size
    requested = np.asarray(requested, dtype=np.int64)
    owners = partition.owner[requested]
    order = np.argsort(owners, kind="stable")  # received rows come grouped by source rank
    recv_counts = np.bincount(owners, minlength=world).astype(np.int64)
    wanted = torch.from_numpy(partition.local_index[requested[order]])  # owner-local rows, grouped by owner
    if world == 1:
        send_index, send_counts = wanted, recv_counts
    else:
        send_counts_t = torch.empty(world, dtype=torch.int64)
        dist.all_to_all_single(send_counts_t, torch.from_numpy(recv_counts))
        send_counts = send_counts_t.numpy()
        send_index = torch.empty(int(send_counts.sum()), dtype=torch.int64)
        dist.all_to_all_single(send_index, wanted, send_counts.tolist(), recv_counts.tolist())
        if stats is not None:  # the requests themselves: one int64 per row asked of another rank, and the counts
            stats.bytes_received += 8 * (int(send_counts.sum()) - int(send_counts[rank]) + world)
    restore = torch.from_numpy(order)
    return RowExchange(
        send_index, [int(c) for c in send_counts], [int(c) for c in recv_counts], restore, world,
        stats if stats is not None else ExchangeStats(),
    )  # fmt: skip


def gather_plan(partition: Partition, rank: int, requested: np.ndarray, stats: ExchangeStats) -> RowExchange:
    """The all-gather form of :func:`exchange_plan`: every rank receives every other rank's rows and keeps the
    requested ones. More bytes (all rows, not the halo) but one collective without per-destination packing; the
    better choice when the halo is most of the other ranks' rows. Only :func:`send_rows` takes it."""
    sizes = partition.sizes().astype(np.int64)
    offsets = np.r_[0, np.cumsum(sizes)[:-1]]
    requested = np.asarray(requested, dtype=np.int64)
    positions = offsets[partition.owner[requested]] + partition.local_index[requested]
    empty = torch.zeros(0, dtype=torch.int64)
    return RowExchange(
        empty, [0] * partition.world_size, [0] * partition.world_size, empty, partition.world_size, stats,
        [int(n) for n in sizes], torch.from_numpy(positions),
    )  # fmt: skip


def choose_halo_plan(
    partition: Partition, rank: int, halo: np.ndarray, stats: ExchangeStats, width: int, trials: int = 3
) -> RowExchange:
    """The all-to-all or the all-gather plan for the halo, whichever moves a (own rows × width) float32 layer
    faster here: each timed `trials` times, the slowest rank's best time decides, so every rank picks the same."""
    plans = {
        "all_to_all": exchange_plan(partition, rank, halo, stats),
        "all_gather": gather_plan(partition, rank, halo, stats),
    }
    if partition.world_size == 1:
        return plans["all_to_all"]
    probe = torch.zeros((int(partition.sizes()[rank]), width))
    timings = []
    for plan in plans.values():
        best = float("inf")
        for _ in range(trials):
            started = time.perf_counter()
            send_rows(plan, probe)
            best = min(best, time.perf_counter() - started)
        timings.append(best)
    slowest = torch.tensor(timings, dtype=torch.float64)
    dist.all_reduce(slowest, op=dist.ReduceOp.MAX)
    stats.reset()  # the probes are not training traffic
    name = list(plans)[int(torch.argmin(slowest))]
    logger.info("halo exchange: %s (all_to_all %.4f s, all_gather %.4f s per layer)", name, *slowest.tolist())
    return plans[name]


def send_rows(plan: RowExchange, local: torch.Tensor) -> torch.Tensor:
    """The requested rows (requested order) gathered from every rank's `local` rows; no autograd."""
    return start_send_rows(plan, local).wait()


@dataclasses.dataclass
class PendingRows:
    """Rows in flight: `wait()` returns them. Between the two, the caller computes what does not need them, so
    the exchange overlaps that work."""

    stats: ExchangeStats
    work: Any
    finish: Callable[[], torch.Tensor]

    def wait(self) -> torch.Tensor:
        started = time.perf_counter()
        if self.work is not None:
            self.work.wait()
        out = self.finish()
        self.stats.seconds += time.perf_counter() - started  # the exposed (not overlapped) exchange time
        return out


def start_all_to_all(
    rows: torch.Tensor, out_counts: list[int], in_counts: list[int], stats: ExchangeStats
) -> PendingRows:
    """Start moving `rows`, grouped by destination rank (in_counts[s] rows for rank s), to rows grouped by source
    rank (out_counts[s] from rank s), counting the bytes that leave and reach this rank. A world of one moves
    nothing."""
    started = time.perf_counter()
    stats.calls += 1
    if len(out_counts) == 1:
        return PendingRows(stats, None, lambda: rows)
    rows = rows.contiguous()
    out = rows.new_empty((sum(out_counts), *rows.shape[1:]))
    work = dist.all_to_all_single(out, rows, out_counts, in_counts, async_op=True)
    row_bytes = rows.element_size() * int(np.prod(rows.shape[1:], dtype=np.int64))
    own = dist.get_rank()
    stats.bytes_sent += row_bytes * (sum(in_counts) - in_counts[own])
    stats.bytes_received += row_bytes * (sum(out_counts) - out_counts[own])
    stats.seconds += time.perf_counter() - started
    return PendingRows(stats, work, lambda: out)


def start_send_rows(plan: RowExchange, local: torch.Tensor) -> PendingRows:
    """Start :func:`send_rows` without waiting for it (an asynchronous all-to-all or all-gather)."""
    if plan.gather_positions is not None:
        return _start_all_gather(plan, local)
    moving = start_all_to_all(local[plan.send_index], plan.recv_counts, plan.send_counts, plan.stats)
    return PendingRows(plan.stats, None, lambda: _restored(plan, moving.wait()))


def _restored(plan: RowExchange, received: torch.Tensor) -> torch.Tensor:
    out = torch.empty_like(received)
    out[plan.restore] = received
    return out


def _start_all_gather(plan: RowExchange, local: torch.Tensor) -> PendingRows:
    """Every rank's rows, concatenated in rank order, then the requested ones picked."""
    assert plan.gather_sizes is not None and plan.gather_positions is not None
    positions, sizes = plan.gather_positions, plan.gather_sizes
    plan.stats.calls += 1
    if plan.world_size == 1:
        return PendingRows(plan.stats, None, lambda: local[positions])
    longest = max(sizes)
    padded = local.new_zeros((longest, *local.shape[1:]))
    padded[: local.shape[0]] = local
    parts = [torch.empty_like(padded) for _ in range(plan.world_size)]
    work = dist.all_gather(parts, padded, async_op=True)
    row_bytes = local.element_size() * int(np.prod(local.shape[1:], dtype=np.int64))
    plan.stats.bytes_received += row_bytes * longest * (plan.world_size - 1)
    plan.stats.bytes_sent += row_bytes * longest * (plan.world_size - 1)
    return PendingRows(
        plan.stats, work, lambda: torch.cat([p[:n] for p, n in zip(parts, sizes, strict=True)])[positions]
    )


def return_rows(plan: RowExchange, rows: torch.Tensor, num_local: int) -> torch.Tensor:
    """The reverse of :func:`send_rows`: each requested row's values sent back to its owner and added into a
    (num_local × …) array of the owner's rows (the gradient of `send_rows`)."""
    assert plan.gather_positions is None, "the all-gather form is forward-only (the halo of a symmetric Ã)"
    returned = start_all_to_all(rows[plan.restore], plan.send_counts, plan.recv_counts, plan.stats).wait()
    local = rows.new_zeros((num_local, *rows.shape[1:]))
    local.index_add_(0, plan.send_index, returned)
    return local


class _Fetch(torch.autograd.Function):
    """Forward: :func:`send_rows`; backward: :func:`return_rows` of the gradient."""

    @staticmethod
    def forward(ctx: Any, local: torch.Tensor, plan: RowExchange) -> torch.Tensor:
        ctx.plan, ctx.num_local = plan, local.shape[0]
        return send_rows(plan, local)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        return return_rows(ctx.plan, grad, ctx.num_local), None
