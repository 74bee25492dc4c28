"""Data-parallel training and evaluation on torch.distributed, launched by torchrun (one process per rank).

``torchrun --nproc_per_node=2 -m graphrec train --config ...`` sets RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR and
MASTER_PORT; :func:`distributed_from_env` reads them and joins the process group (gloo for CPU tensors, plus nccl for
CUDA tensors when CUDA is available). The :class:`~graphrec.training.trainer.Trainer` takes the resulting
:class:`Distributed` and calls its hooks; there is no second trainer.

**Batches.** Every rank builds the same objective with the same seed, so every rank draws the same global batches
(`train.batch_size` is the *global*, effective batch) with the same negatives. Each rank keeps a contiguous slice
of each global batch (:meth:`Distributed.shard_batch`, about batch_size / world_size rows), so the ranks together
see exactly the batches of a 1-process run.

**Consistent embeddings: explicit gradient all-reduce, not DistributedDataParallel.** Every rank holds a full
replica of the model (embedding tables included). After ``loss.backward()`` on its slice, each rank scales its
gradients by its share of the global batch (rows on this rank / rows in the batch: exact for an uneven last batch,
and the per-slice means then add up to the global mean) and one ``all_reduce(SUM)`` over a single flat buffer makes
every replica's gradient the 1-process gradient, up to float summation order; the same Adam step then keeps the
replicas identical. DDP is not used because graphrec's losses do not go through ``module.forward()`` (they call
``model.embeddings()``, ``encode()`` or ``sampled_embeddings()``), and DDP prepares its gradient reduction in
``forward()``; it also averages gradients with equal weights, which is wrong for an uneven last batch. For models of
this size one flat all-reduce per step is what DDP's bucketing would do anyway.

**Why replicated rather than sharded embedding tables.** Sharding the tables by rows (TorchRec-style: each rank
owns a range of users/items, lookups and gradients travel by all-to-all) is what a graph whose tables exceed one
machine's memory needs, and it makes the exchanged gradient proportional to the rows a batch touches rather than
to the tables. But full-graph propagation (LightGCN/NGCF) reads every row at every layer, so sharded tables would
need an all-gather of every layer anyway, and graphrec's tables are small (Gowalla: 70,839 × 64 floats = 18 MB), so
replication is simpler and keeps training identical to one process.

**Partitioned instead.** ``train.partitioned = true`` (LightGCN) does not replicate: Ã, the tables and Adam's state
are split by node owner and layers exchange halo rows (:mod:`graphrec.training.partitioned`); this module's process
group and hooks (barrier, rank 0's clock) are reused.

**Limits.** With full propagation each rank still propagates the whole graph (the loss and its gradient are what
the ranks split); for sampled (``model.fanouts``) and item-pair (PinSAGE/GraphSAGE) batches the computation graph
is drawn for the global batch, so the split is over the loss rows too. Data parallelism therefore pays off most
when the per-row work dominates (large batches, dynamic negatives, evaluation).

**Artifacts and evaluation.** Rank 0 alone writes checkpoints and run files; the others wait at a barrier.
Validation splits the evaluated users into contiguous slices, each rank computes per-user metric values for its
slice, and all values are gathered (in user order) before one mean: never an average of per-rank metrics.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch
import torch.distributed as dist

from graphrec.errors import ConfigError
from graphrec.graph.shards import shard_range
from graphrec.models.base import Recommender

logger = logging.getLogger(__name__)

REQUIRED_ENV = ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")


def backend() -> str:
    """The process-group backend: gloo on CPU; with CUDA, nccl for CUDA tensors and gloo for CPU tensors."""
    return "cpu:gloo,cuda:nccl" if torch.cuda.is_available() else "gloo"


def launched_world(environ: Mapping[str, str] = os.environ) -> tuple[int, int, int] | None:
    """(rank, world_size, local_rank) from a torchrun-style environment, or None when not launched that way (or with
    a world of one, which needs no process group)."""
    if "WORLD_SIZE" not in environ and "RANK" not in environ:
        return None
    missing = [name for name in REQUIRED_ENV if not environ.get(name)]
    if missing:
        raise ConfigError(
            f"distributed launch: environment variables {', '.join(missing)} are not set (got RANK="
            f"{environ.get('RANK')!r}, WORLD_SIZE={environ.get('WORLD_SIZE')!r}); launch with torchrun"
        )
    try:
        rank, world = int(environ["RANK"]), int(environ["WORLD_SIZE"])
        local = int(environ.get("LOCAL_RANK", rank))
    except ValueError as exc:
        raise ConfigError(
            f"distributed launch: RANK, WORLD_SIZE and LOCAL_RANK must be integers, got "
            f"{environ.get('RANK')!r}, {environ.get('WORLD_SIZE')!r}, {environ.get('LOCAL_RANK')!r}"
        ) from exc
    if world < 1 or not 0 <= rank < world:
        raise ConfigError(f"distributed launch: need 0 <= RANK < WORLD_SIZE, got RANK={rank}, WORLD_SIZE={world}")
    return None if world == 1 else (rank, world, local)


def is_main_process() -> bool:
    """True unless this process is a non-zero rank of a launched world (for printing from the CLI)."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank() == 0
    return os.environ.get("RANK", "0") == "0"


@dataclasses.dataclass
class Distributed:
    """This process's place in an initialised process group, with the hooks the trainer calls."""

    rank: int
    world_size: int
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def barrier(self) -> None:
        dist.barrier()

    def from_main(self, value: float) -> float:
        """Rank 0's `value` on every rank (decisions such as the time budget must agree)."""
        tensor = torch.tensor([value], dtype=torch.float64)
        dist.broadcast(tensor, src=0)
        return float(tensor.item())

    def from_main_object(self, value: str) -> str:
        """Rank 0's string on every rank (e.g. a run directory named after the time)."""
        holder = [value]
        dist.broadcast_object_list(holder, src=0)
        return str(holder[0])

    def broadcast_parameters(self, model: torch.nn.Module) -> None:
        """Rank 0's parameters and buffers on every rank (replicas start equal even if seeding differed)."""
        for tensor in list(model.parameters()) + list(model.buffers()):
            if tensor.layout == torch.strided:
                dist.broadcast(tensor.data, src=0)

    def shard_batch(self, batch: Any) -> tuple[Any, float]:
        """This rank's contiguous slice of a global batch, and its share of the batch's rows."""
        size, fields = _batch_rows(batch)
        start, stop = shard_range(size, self.rank, self.world_size)
        if isinstance(batch, tuple):
            local = tuple(part[start:stop] for part in batch)
        else:
            local = dataclasses.replace(batch, **{name: getattr(batch, name)[start:stop] for name in fields})
        return local, (stop - start) / size if size else 0.0

    def all_reduce_gradients(self, model: torch.nn.Module, share: float, loss: float) -> float:
        """Make every parameter's gradient the global batch's (Σ_r share_r · grad_r) with one all-reduce; return
        the global loss Σ_r share_r · loss_r. A parameter without a gradient on every rank keeps none (as Adam
        would skip it in one process)."""
        params = [p for p in model.parameters() if p.requires_grad]
        parts = [(p.grad.reshape(-1) if p.grad is not None else p.new_zeros(p.numel())) * share for p in params]
        flags = torch.tensor([float(p.grad is not None) for p in params] + [loss * share], dtype=torch.float32)
        flat = torch.cat([*parts, flags])
        dist.all_reduce(flat, op=dist.ReduceOp.SUM)
        offset = 0
        for p, has_grad in zip(params, flat[-len(params) - 1 : -1].tolist(), strict=True):
            chunk = flat[offset : offset + p.numel()].view_as(p)
            offset += p.numel()
            p.grad = chunk.clone() if has_grad > 0 else None
        return float(flat[-1])

    def gather_rows(self, local: torch.Tensor) -> torch.Tensor:
        """Concatenation in rank order of every rank's `local` rows (row counts may differ by rank)."""
        counts = [torch.zeros(1, dtype=torch.int64) for _ in range(self.world_size)]
        dist.all_gather(counts, torch.tensor([local.shape[0]], dtype=torch.int64))
        longest = int(max(c.item() for c in counts))
        padded = local.new_zeros((longest, *local.shape[1:]))
        padded[: local.shape[0]] = local
        gathered = [torch.empty_like(padded) for _ in range(self.world_size)]
        dist.all_gather(gathered, padded.contiguous())
        return torch.cat([g[: int(c.item())] for g, c in zip(gathered, counts, strict=True)])

    def evaluate_embeddings(
        self, user_emb: torch.Tensor, item_emb: torch.Tensor, target: Any, exclude: Any, ks: list[int], chunk_size: int
    ) -> dict[str, float]:
        """`evaluate_embeddings` with the users split across ranks: per-user values gathered, then one mean."""
        from graphrec.retrieval import DotScorer

        return self.evaluate_scorer(DotScorer(user_emb, item_emb), target, exclude, ks, chunk_size)

    def evaluate_scorer(
        self, scorer: Any, target: Any, exclude: Any, ks: list[int], chunk_size: int, unseen: Any = None
    ) -> dict[str, float]:
        """`evaluate_scorer` with the users split across ranks: per-user values gathered, then one mean."""
        from graphrec.evaluation.metrics import evaluate_scorer_users, mean_metrics, users_with_targets

        rows = users_with_targets(target, unseen)
        start, stop = shard_range(len(rows), self.rank, self.world_size)
        _, per_user = evaluate_scorer_users(
            scorer, target, exclude, ks, chunk_size, rows=rows[start:stop], unseen=unseen
        )
        names = list(per_user)
        local = torch.from_numpy(np.stack([per_user[name] for name in names], axis=1).reshape(-1, len(names)))
        everything = self.gather_rows(local).numpy()
        assert everything.shape[0] == len(rows), "every evaluated user is gathered exactly once"
        result = mean_metrics(
            {name: everything[:, j] for j, name in enumerate(names)}, unseen.users if unseen is not None else 0
        )
        return result if unseen is None else {**result, **unseen.report()}

    def evaluate_model(
        self, model: Recommender, dataset: Any, split: str, ks: list[int], chunk_size: int
    ) -> dict[str, float]:
        """`evaluate_model` on this rank's replica (identical on every rank), users split across ranks."""
        from graphrec.evaluation.metrics import dataset_unseen, split_inputs

        scorer, exclude = split_inputs(model, dataset, split)
        return self.evaluate_scorer(
            scorer, dataset.split(split), exclude, ks, chunk_size, dataset_unseen(dataset, split)
        )


def _batch_rows(batch: Any) -> tuple[int, tuple[str, ...]]:
    """(rows, per-row fields) of a batch of any objective: edge tuples (users, positives, candidates), sampled-path
    batches and item-pair batches. Fields shared by the whole batch (a sampled graph, shared negatives) stay whole."""
    if isinstance(batch, tuple):
        return len(batch[0]), ()
    rows_of = {
        "SampledBatch": ("users", "positives", "negatives"),
        "ContrastiveBatch": ("users", "positives", "candidates"),
        "PairBatch": ("queries", "items", "hard"),
    }
    fields = rows_of.get(type(batch).__name__)
    if fields is None:
        raise TypeError(f"distributed training cannot split batches of type {type(batch).__name__}")
    return len(getattr(batch, fields[0])), fields


@contextmanager
def distributed_from_env() -> Iterator[Distributed | None]:
    """Join the process group described by the torchrun environment for the duration of the block (None when the
    process was not launched into a world of two or more). A group that already exists is reused and kept."""
    world = launched_world()
    if world is None:
        yield None
        return
    rank, world_size, local_rank = world
    created = not dist.is_initialized()
    if created:
        dist.init_process_group(backend=backend())
        logger.info("rank %d of %d joined the process group (%s)", rank, world_size, dist.get_backend())
    try:
        yield Distributed(dist.get_rank(), dist.get_world_size(), local_rank)
    finally:
        if created:
            dist.destroy_process_group()
