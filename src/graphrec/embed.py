"""Distributed inference: every node embedding of a run, computed in shards across ranks, then merged.

PinSAGE's MapReduce step on torch.distributed: ``torchrun --nproc_per_node=2 -m graphrec embed RUN_DIR --out DIR``
(or plain ``graphrec embed``, a world of one). Rank r owns a contiguous slice of the users and a contiguous slice
of the items. Layer by layer, each rank computes the next-layer representation of its own rows only, and one
all-gather (the "shuffle" between MapReduce rounds) hands every rank the full layer for the next round, so each
node's representation at each layer is computed exactly once across the world:

- Models that declare :class:`graphrec.models.base.ShardedInference` compute their own rows of every layer:
  LightGCN E^{(k+1)}[own rows] = Ã[own rows] E^{(k)} (a row slice of the sparse product); PinSAGE / GraphSAGE each
  layer over the rank's items with the fixed inference neighbourhoods, users as weighted means of the gathered
  final items (see each model's ``shard_embeddings``).
- Other embedding models (MF: the tables; NGCF, popularity): the full embeddings on every rank, sliced
  ("replicated"). Models that only score (itemknn) have no embeddings to write and are refused.

Each rank writes ``shards/{user,item}-shard-RRRRR-of-WWWWW.npy`` with a JSON sidecar (rows, seconds) on its own;
rank 0 then merges them, streaming through memory maps, into ``user_embeddings.npy`` / ``item_embeddings.npy``
beside ``user_ids.json`` / ``item_ids.json`` (the layout of ``graphrec export``). Across machines, DIR must be on
a filesystem every node can see (rank 0 reads the others' shards).
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import torch

from graphrec.config.train import EdgeTrainConfig
from graphrec.errors import RunDirError, UnsupportedError
from graphrec.graph.shards import shard_range
from graphrec.io import atomic_save_npy, atomic_write, atomic_write_text
from graphrec.models.base import EmbeddingRecommender, Gather, Recommender, ShardedInference
from graphrec.rundir import load_run, read_ids, read_run_config, read_train_edges
from graphrec.training.distributed import distributed_from_env
from graphrec.training.partitioned_io import embed_partitioned

logger = logging.getLogger(__name__)

KINDS = ("user", "item")


def embed_run(run_dir: str | Path, out_dir: str | Path) -> dict[str, Any]:
    """Compute every user and item embedding of a run, sharded across the torchrun world (or in one process), and
    merge the shards into `out_dir`; return a summary (timings per phase, rows, method)."""
    with distributed_from_env() as distributed:
        rank, world = (distributed.rank, distributed.world_size) if distributed else (0, 1)
        out_dir = Path(out_dir)
        started = time.perf_counter()
        if is_partitioned_run(Path(run_dir)):
            barrier = distributed.barrier if distributed is not None else (lambda: None)
            return embed_partitioned(run_inputs(Path(run_dir)), out_dir, rank, world, barrier)
        run = load_run(run_dir)
        loaded = time.perf_counter()
        gather = distributed.gather_rows if distributed is not None else (lambda rows: rows)
        users, items, method = shard_embeddings(run.model, rank, world, gather)
        computed = time.perf_counter()
        for kind, rows in zip(KINDS, (users, items), strict=True):
            _write_shard(out_dir, kind, rank, world, rows, {"method": method, "seconds": round(computed - loaded, 3)})
        if distributed is not None:
            distributed.barrier()  # every shard is on disk before rank 0 merges
        summary: dict[str, Any] = {
            "run_dir": str(run_dir),
            "out_dir": str(out_dir),
            "world_size": world,
            "method": method,
            "num_users": len(run.user_ids),
            "num_items": len(run.item_ids),
            "load_seconds": round(loaded - started, 3),
            "compute_seconds": round(computed - loaded, 3),
            "shard_write_seconds": round(time.perf_counter() - computed, 3),
        }
        if rank == 0:
            merge_started = time.perf_counter()
            for kind, total in zip(KINDS, (len(run.user_ids), len(run.item_ids)), strict=True):
                merge_shards(out_dir, kind, world, total)
            run.user_ids.save(out_dir / "user_ids.json")
            run.item_ids.save(out_dir / "item_ids.json")
            summary["merge_seconds"] = round(time.perf_counter() - merge_started, 3)
            summary["wall_seconds"] = round(time.perf_counter() - started, 3)
            atomic_write_text(out_dir / "embed_summary.json", json.dumps(summary, indent=2))
        if distributed is not None:
            distributed.barrier()  # the merged files exist once any rank returns
        return summary


def is_partitioned_run(run_dir: Path) -> bool:
    """Whether the run was trained with train.partitioned (its embeddings are then computed the same way)."""
    if not (run_dir / "config.json").is_file():
        return False  # load_run says what is missing
    config = read_run_config(run_dir)
    return isinstance(config.train, EdgeTrainConfig) and config.train.partitioned


def run_inputs(run_dir: Path) -> SimpleNamespace:
    """What a partitioned embed reads of a run: its config, ids and training edges (no model is built)."""
    config = read_run_config(run_dir)
    user_ids, item_ids = read_ids(run_dir / "user_ids.json", "user"), read_ids(run_dir / "item_ids.json", "item")
    train = read_train_edges(run_dir, len(user_ids), len(item_ids))
    return SimpleNamespace(config=config, train=train, user_ids=user_ids, item_ids=item_ids, run_dir=run_dir)


@torch.no_grad()
def shard_embeddings(model: Recommender, rank: int, world: int, gather: Gather) -> tuple[np.ndarray, np.ndarray, str]:
    """(this rank's user rows, its item rows, method): the slices ``shard_range(num_users | num_items, rank, world)``
    of the model's final embeddings, each representation computed once across ranks where the model declares
    :class:`~graphrec.models.base.ShardedInference`; other embedding models compute everything on every rank and
    slice it ("replicated")."""
    if not isinstance(model, EmbeddingRecommender):
        raise UnsupportedError(
            f"graphrec embed writes user and item embeddings; model '{model.name}' has none (it "
            "only scores); use graphrec recommend --all for its recommendations"
        )
    model.eval()
    users = shard_range(model.num_users, rank, world)
    items = shard_range(model.num_items, rank, world)
    if isinstance(model, ShardedInference):
        user_rows, item_rows = model.shard_embeddings(users, items, world, gather)
        method = model.sharding
    else:
        all_users, all_items = model.embeddings()
        user_rows, item_rows = all_users[slice(*users)], all_items[slice(*items)]
        method = "replicated"
    return _as_array(user_rows), _as_array(item_rows), method


def _as_array(rows: torch.Tensor) -> np.ndarray:
    return np.ascontiguousarray(rows.detach().cpu().numpy(), dtype=np.float32)


def shard_path(out_dir: Path, kind: str, rank: int, world: int) -> Path:
    return out_dir / "shards" / f"{kind}-shard-{rank:05d}-of-{world:05d}.npy"


def _write_shard(out_dir: Path, kind: str, rank: int, world: int, rows: np.ndarray, info: dict[str, Any]) -> None:
    path = shard_path(out_dir, kind, rank, world)
    atomic_save_npy(path, rows)
    sidecar = {"kind": kind, "rank": rank, "world_size": world, "rows": int(rows.shape[0]), **info}
    atomic_write_text(path.with_suffix(".json"), json.dumps(sidecar, indent=2))


def merge_shards(out_dir: Path, kind: str, world: int, total: int) -> Path:
    """Concatenate the `world` shards of `kind` (rank order) into ``{kind}_embeddings.npy``, through memory maps so
    the merge holds one shard at a time; raise RunDirError when a shard is missing or the rows do not add up."""
    shards = [shard_path(out_dir, kind, rank, world) for rank in range(world)]
    missing = [str(p) for p in shards if not p.is_file()]
    if missing:
        raise RunDirError(
            f"cannot merge {kind} embeddings: shard(s) {', '.join(missing)} missing; rerun graphrec "
            "embed with the same world size"
        )
    arrays = [np.load(p, mmap_mode="r", allow_pickle=False) for p in shards]
    rows = sum(a.shape[0] for a in arrays)
    if rows != total or len({a.shape[1] for a in arrays}) != 1:
        raise RunDirError(
            f"cannot merge {kind} embeddings: shards hold {rows} rows of widths "
            f"{sorted({a.shape[1] for a in arrays})}, expected {total} rows of one width"
        )
    target = out_dir / f"{kind}_embeddings.npy"

    def write(tmp: Path) -> None:
        merged = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32, shape=(total, arrays[0].shape[1]))
        start = 0
        for array in arrays:
            merged[start : start + array.shape[0]] = array
            start += array.shape[0]
        merged.flush()
        del merged

    atomic_write(target, write)
    return target


__all__ = ["embed_run", "merge_shards", "shard_embeddings", "shard_path"]
