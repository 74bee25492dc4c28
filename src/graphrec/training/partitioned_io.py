"""Reading and writing the tables of a partitioned LightGCN, each rank touching only its own rows.

``model.safetensors`` of a partitioned run has the layout of any LightGCN run (``model.user_embedding.weight``,
then ``model.item_embedding.weight``, float32), so one-process tools read it as usual; partitioned processes map
the file and read or write their rows in place. :func:`embed_partitioned` is ``graphrec embed`` for such runs: the
final embeddings computed with the run's partition (or a new one for another world size) and written, row by row
of each rank, into ``user_embeddings.npy`` / ``item_embeddings.npy``.
"""

from __future__ import annotations

import json
import os
import struct
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from graphrec.errors import RunDirCorruptError
from graphrec.graph.partition import Partition, make_partition
from graphrec.io import atomic_write_text
from graphrec.training.partitioned import PartitionedLightGCN

TABLES = ("model.user_embedding.weight", "model.item_embedding.weight")


def write_partitioned_tables(
    path: Path, model: PartitionedLightGCN, partition: Partition, meta: dict[str, Any], barrier: Any
) -> None:
    """A LightGCN ``model.safetensors`` (user and item tables) that every rank fills with its own rows: rank 0
    writes the header and sizes the file, each rank writes its rows through a memory map, rank 0 renames the
    finished file into place. Collective."""
    num_users, dim = partition.num_users, model.embedding.shape[1]
    num_items = partition.num_nodes - num_users
    user_bytes, item_bytes = num_users * dim * 4, num_items * dim * 4
    header = {
        "model.user_embedding.weight": {"dtype": "F32", "shape": [num_users, dim], "data_offsets": [0, user_bytes]},
        "model.item_embedding.weight": {
            "dtype": "F32", "shape": [num_items, dim], "data_offsets": [user_bytes, user_bytes + item_bytes],
        },
        "__metadata__": {"graphrec": json.dumps(meta)},
    }  # fmt: skip
    encoded = json.dumps(header).encode()
    encoded += b" " * (-len(encoded) % 8)
    partial = path.with_name(path.name + ".partial")
    if model.rank == 0:
        with open(partial, "wb") as handle:
            handle.write(struct.pack("<Q", len(encoded)) + encoded)
            handle.truncate(8 + len(encoded) + user_bytes + item_bytes)
    barrier()
    rows = np.memmap(partial, dtype=np.float32, mode="r+", offset=8 + len(encoded), shape=(partition.num_nodes, dim))
    rows[model.nodes] = model.embedding.detach().numpy()
    rows.flush()
    del rows
    barrier()
    if model.rank == 0:
        os.replace(partial, path)
    barrier()


def table_rows(path: Path, num_users: int, num_items: int, dim: int) -> np.memmap:
    """The (users + items) × dim layer-0 rows of a LightGCN model.safetensors, memory-mapped read-only (users then
    items: the node order of Ã). RunDirCorruptError when the file does not hold the two float32 tables in order."""
    with open(path, "rb") as handle:
        size = struct.unpack("<Q", handle.read(8))[0]
        header = json.loads(handle.read(size))
    want = [[num_users, dim], [num_items, dim]]
    got = [header.get(name, {}).get("shape") for name in TABLES]
    offsets = [header.get(name, {}).get("data_offsets") for name in TABLES]
    dtypes = {header.get(name, {}).get("dtype") for name in TABLES}
    if got != want or dtypes != {"F32"} or not offsets[0] or offsets[0][1] != offsets[1][0]:
        raise RunDirCorruptError(
            f"{path}: expected float32 tables of shapes {want} stored users then items, got shapes {got} with "
            f"offsets {offsets}; the file is damaged or from another run: train the run again"
        )
    start = 8 + size + offsets[0][0]
    return np.memmap(path, dtype=np.float32, mode="r", offset=start, shape=(num_users + num_items, dim))


def read_owners(run_dir: Path, num_nodes: int) -> np.ndarray | None:
    """The node owners a partitioned run saved (``partition.npy``), or None when it has none; RunDirCorruptError
    unless it is one non-negative integer per user and item."""
    path = run_dir / "partition.npy"
    if not path.is_file():
        return None
    try:
        owner = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise RunDirCorruptError(
            f"{path}: expected a .npy file of node owners, got one numpy cannot read ({exc})"
        ) from None
    if owner.shape != (num_nodes,) or owner.dtype.kind not in "iu" or (owner.size and owner.min() < 0):
        raise RunDirCorruptError(
            f"{path}: expected {num_nodes} non-negative integer owners (one per user and item), got shape "
            f"{owner.shape} of {owner.dtype}; the file is damaged or from another run: train the run again"
        )
    return owner.astype(np.int32)


def embed_partitioned(run: Any, out_dir: Path, rank: int, world: int, barrier: Callable[[], None]) -> dict[str, Any]:
    """Every user and item embedding of a partitioned run, each rank computing and writing only its own rows.
    `run`: the run's (config, train matrix, id maps, directory) as `graphrec.embed` reads them, without a model."""
    started = time.perf_counter()
    config, train, run_dir = run.config, run.train, run.run_dir
    num_users, num_items = train.shape
    owner = read_owners(run_dir, num_users + num_items)
    if owner is not None and int(owner.max(initial=0)) + 1 == world:
        partition = Partition(owner, world, config.train.partitioner, num_users)
    else:  # another world size than training's: a fresh partition of the same kind
        partition = make_partition(train, world, config.train.partitioner, seed=config.seed)
    model = PartitionedLightGCN(train, config.model, partition, rank, config.seed)
    rows = table_rows(run_dir / "model.safetensors", num_users, num_items, config.model.embedding_dim)
    with torch.no_grad():
        model.embedding.copy_(torch.from_numpy(np.asarray(rows[model.nodes])))
        final = model().numpy()
    del rows
    computed = time.perf_counter()
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / f"{kind}_embeddings.npy" for kind in ("user", "item")]
    partial = [p.with_name(p.name + ".partial") for p in paths]
    if rank == 0:
        for path, count in zip(partial, (num_users, num_items), strict=True):
            np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(count, final.shape[1])).flush()
    barrier()
    users = model.nodes < num_users
    for path, nodes, values in zip(
        partial, (model.nodes[users], model.nodes[~users] - num_users), (final[users], final[~users]), strict=True
    ):
        array = np.lib.format.open_memmap(path, mode="r+")
        array[nodes] = values
        array.flush()
        del array
    barrier()
    summary = {
        "run_dir": str(run_dir), "out_dir": str(out_dir), "world_size": world,
        "method": f"partitioned ({partition.method})", "num_users": num_users, "num_items": num_items,
        "compute_seconds": round(computed - started, 3), "write_seconds": round(time.perf_counter() - computed, 3),
    }  # fmt: skip
    if rank == 0:
        for tmp, path in zip(partial, paths, strict=True):
            os.replace(tmp, path)
        run.user_ids.save(out_dir / "user_ids.json")
        run.item_ids.save(out_dir / "item_ids.json")
        atomic_write_text(out_dir / "embed_summary.json", json.dumps(summary, indent=2))
    barrier()
    return summary
