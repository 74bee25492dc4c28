"""Distributed inference: every node embedding of a run, computed in shards across ranks, then merged.

PinSAGE's MapReduce step on torch.distributed: ``torchrun --nproc_per_node=2 -m graphrec embed RUN_DIR --out DIR``
(or plain ``graphrec embed``, a world of one). Rank r owns a contiguous slice of the users and a contiguous slice
of the items. Layer by layer, each rank computes the next-layer representation of its own rows only, and one
all-gather (the "shuffle" between MapReduce rounds) hands every rank the full layer for the next round, so each
node's representation at each layer is computed exactly once across the world:

- LightGCN: E^{(k+1)}[own rows] = Ã[own rows] E^{(k)} (a row slice of the sparse product), E = Σ_k α_k E^{(k)}.
- PinSAGE / GraphSAGE: each layer over the rank's items with the fixed inference neighbourhoods, as
  ``ItemGraphModel.item_embeddings`` does for all items; users are weighted means of the gathered final items.
- Other models (MF: the tables; NGCF, popularity): the full embeddings on every rank, sliced ("replicated").

Each rank writes ``shards/{user,item}-shard-RRRRR-of-WWWWW.npy`` with a JSON sidecar (rows, seconds) on its own;
rank 0 then merges them, streaming through memory maps, into ``user_embeddings.npy`` / ``item_embeddings.npy``
beside ``user_ids.json`` / ``item_ids.json`` (the layout of ``graphrec export``). Across machines, DIR must be on
a filesystem every node can see (rank 0 reads the others' shards).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from graphrec.errors import RunDirError
from graphrec.graph.adjacency import csr_tensor
from graphrec.io import atomic_write, atomic_write_text
from graphrec.models.base import Recommender
from graphrec.training.distributed import distributed_from_env, shard_range

logger = logging.getLogger(__name__)

Gather = Callable[[torch.Tensor], torch.Tensor]  # every rank's rows, concatenated in rank order
KINDS = ("user", "item")


def embed_run(run_dir: str | Path, out_dir: str | Path) -> dict[str, Any]:
    """Compute every user and item embedding of a run, sharded across the torchrun world (or in one process), and
    merge the shards into `out_dir`; return a summary (timings per phase, rows, method)."""
    from graphrec.runs import load_run

    with distributed_from_env() as distributed:
        rank, world = (distributed.rank, distributed.world_size) if distributed else (0, 1)
        out_dir = Path(out_dir)
        started = time.perf_counter()
        run = load_run(run_dir)
        loaded = time.perf_counter()
        gather = distributed.gather_rows if distributed is not None else (lambda rows: rows)
        users, items, method = shard_embeddings(run.model, rank, world, gather)
        computed = time.perf_counter()
        for kind, rows in zip(KINDS, (users, items)):
            _write_shard(out_dir, kind, rank, world, rows, {"method": method, "seconds": round(computed - loaded, 3)})
        if distributed is not None:
            distributed.barrier()  # every shard is on disk before rank 0 merges
        summary: dict[str, Any] = {
            "run_dir": str(run_dir), "out_dir": str(out_dir), "world_size": world, "method": method,
            "num_users": len(run.user_ids), "num_items": len(run.item_ids), "load_seconds": round(loaded - started, 3),
            "compute_seconds": round(computed - loaded, 3),
            "shard_write_seconds": round(time.perf_counter() - computed, 3),
        }
        if rank == 0:
            merge_started = time.perf_counter()
            for kind, total in zip(KINDS, (len(run.user_ids), len(run.item_ids))):
                merge_shards(out_dir, kind, world, total)
            run.user_ids.save(out_dir / "user_ids.json")
            run.item_ids.save(out_dir / "item_ids.json")
            summary["merge_seconds"] = round(time.perf_counter() - merge_started, 3)
            summary["wall_seconds"] = round(time.perf_counter() - started, 3)
            atomic_write_text(out_dir / "embed_summary.json", json.dumps(summary, indent=2))
        if distributed is not None:
            distributed.barrier()  # the merged files exist once any rank returns
        return summary


@torch.no_grad()
def shard_embeddings(model: Recommender, rank: int, world: int, gather: Gather) -> tuple[np.ndarray, np.ndarray, str]:
    """(this rank's user rows, its item rows, method): the slices ``shard_range(num_users | num_items, rank, world)``
    of the model's final embeddings, each representation computed once across ranks where the model allows."""
    from graphrec.models.itemgraph import ItemGraphModel
    from graphrec.models.lightgcn import LightGCN

    model.eval()
    users = shard_range(model.num_users, rank, world)
    items = shard_range(model.num_items, rank, world)
    if isinstance(model, LightGCN):
        user_rows, item_rows = _lightgcn_shard(model, users, items, world, gather)
        method = "row-sharded propagation"
    elif isinstance(model, ItemGraphModel):
        user_rows, item_rows = _itemgraph_shard(model, users, items, gather)
        method = "layer-wise item shards"
    else:
        all_users, all_items = model.embeddings()
        user_rows, item_rows = all_users[slice(*users)], all_items[slice(*items)]
        method = "replicated"
    return _as_array(user_rows), _as_array(item_rows), method


def _lightgcn_shard(model: Any, users: tuple[int, int], items: tuple[int, int], world: int,
                    gather: Gather) -> tuple[torch.Tensor, torch.Tensor]:
    """Σ_k α_k E^{(k)} on this rank's users and items, propagating only their rows of Ã at every layer."""
    num_users = model.num_users
    own = _node_rows(users, items, num_users)
    order = np.concatenate([_node_rows(shard_range(model.num_users, r, world), shard_range(model.num_items, r, world),
                                       num_users) for r in range(world)])  # gathered row i is node order[i]
    rows_adj = _csr_rows(model.adj, own)
    x = torch.cat([model.user_embedding.weight, model.item_embedding.weight], dim=0).detach()
    out = model.alpha[0] * x[torch.from_numpy(own)]
    for k in range(1, model.num_layers + 1):
        local = torch.sparse.mm(rows_adj, x) if rows_adj.values().numel() else x.new_zeros((len(own), x.shape[1]))
        out = out + model.alpha[k] * local
        if k < model.num_layers:
            x = torch.empty_like(x)
            x[torch.from_numpy(order)] = gather(local)
    count = users[1] - users[0]
    return out[:count], out[count:]


def _node_rows(users: tuple[int, int], items: tuple[int, int], num_users: int) -> np.ndarray:
    """Rows of the (users + items) node axis owned by a rank: its users, then its items."""
    return np.concatenate([np.arange(*users), num_users + np.arange(*items)]).astype(np.int64)


def _csr_rows(adj: torch.Tensor, rows: np.ndarray) -> torch.Tensor:
    """The given rows of a torch CSR matrix, as a CSR matrix (rows in the given order)."""
    crow, col, values = adj.crow_indices().numpy(), adj.col_indices(), adj.values()
    starts, counts = crow[rows], crow[rows + 1] - crow[rows]
    picks = np.repeat(starts - np.concatenate([[0], np.cumsum(counts)[:-1]]), counts) + np.arange(counts.sum())
    picks_t = torch.from_numpy(picks.astype(np.int64))
    new_crow = torch.from_numpy(np.concatenate([[0], np.cumsum(counts)])).to(col.dtype)  # int32 kept: faster mm
    return csr_tensor(new_crow, col[picks_t], values[picks_t], (len(rows), adj.shape[1]))


def _itemgraph_shard(model: Any, users: tuple[int, int], items: tuple[int, int],
                     gather: Gather) -> tuple[torch.Tensor, torch.Tensor]:
    """Layer-wise inference of ItemGraphModel.item_embeddings on this rank's items; users from all gathered items."""
    from graphrec.graph.blocks import Block
    from graphrec.models.itemgraph import INFERENCE_CHUNK, _torch_block  # the model's own block conversion

    table = model.inference_table
    own = np.arange(*items)
    h = model.input_features(torch.arange(model.num_items))
    local = h[torch.from_numpy(own)]
    for depth, layer in enumerate(model.layers):
        parts = [layer(h, _torch_block(Block(rows, rows, table.index[rows], table.weight[rows])))
                 for rows in (own[s:s + INFERENCE_CHUNK] for s in range(0, len(own), INFERENCE_CHUNK))]
        local = torch.cat(parts) if parts else h.new_zeros((0, model.config.embedding_dim))  # an empty slice
        if depth < len(model.layers) - 1:
            h = gather(local)  # the next layer reads neighbours from every rank's slice
    item_rows = model.output(local)
    all_items = gather(item_rows)
    weights = model.user_weights[users[0]:users[1]]
    user_rows = torch.from_numpy(np.asarray(weights @ all_items.numpy(), dtype=np.float32))
    return user_rows, item_rows


def _as_array(rows: torch.Tensor) -> np.ndarray:
    return np.ascontiguousarray(rows.detach().cpu().numpy(), dtype=np.float32)


def shard_path(out_dir: Path, kind: str, rank: int, world: int) -> Path:
    return out_dir / "shards" / f"{kind}-shard-{rank:05d}-of-{world:05d}.npy"


def _write_shard(out_dir: Path, kind: str, rank: int, world: int, rows: np.ndarray, info: dict[str, Any]) -> None:
    path = shard_path(out_dir, kind, rank, world)
    atomic_write(path, lambda tmp: _save_npy(tmp, rows))
    sidecar = {"kind": kind, "rank": rank, "world_size": world, "rows": int(rows.shape[0]), **info}
    atomic_write_text(path.with_suffix(".json"), json.dumps(sidecar, indent=2))


def _save_npy(path: Path, array: np.ndarray) -> None:
    with open(path, "wb") as handle:
        np.save(handle, array, allow_pickle=False)


def merge_shards(out_dir: Path, kind: str, world: int, total: int) -> Path:
    """Concatenate the `world` shards of `kind` (rank order) into ``{kind}_embeddings.npy``, through memory maps so
    the merge holds one shard at a time; raise RunDirError when a shard is missing or the rows do not add up."""
    shards = [shard_path(out_dir, kind, rank, world) for rank in range(world)]
    missing = [str(p) for p in shards if not p.is_file()]
    if missing:
        raise RunDirError(f"cannot merge {kind} embeddings: shard(s) {', '.join(missing)} missing; rerun graphrec "
                          "embed with the same world size")
    arrays = [np.load(p, mmap_mode="r", allow_pickle=False) for p in shards]
    rows = sum(a.shape[0] for a in arrays)
    if rows != total or len({a.shape[1] for a in arrays}) != 1:
        raise RunDirError(f"cannot merge {kind} embeddings: shards hold {rows} rows of widths "
                          f"{sorted({a.shape[1] for a in arrays})}, expected {total} rows of one width")
    target = out_dir / f"{kind}_embeddings.npy"

    def write(tmp: Path) -> None:
        merged = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32, shape=(total, arrays[0].shape[1]))
        start = 0
        for array in arrays:
            merged[start:start + array.shape[0]] = array
            start += array.shape[0]
        merged.flush()
        del merged

    atomic_write(target, write)
    return target


__all__ = ["embed_run", "merge_shards", "shard_embeddings", "shard_path"]
