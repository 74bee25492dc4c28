"""Partitioned LightGCN training steps: 1 process vs W gloo processes, one thread each (issue 18).

Each process holds only its rows of Ã, of the layer-0 table and of Adam's moments (graphrec.training.partitioned).
Per configuration: seconds per step (median over the timed steps after one warm-up step), seconds inside the
exchanges, bytes received per step, the bytes each rank holds (graph + table + Adam) and its resident memory, and
the partition's cut fraction and halo rows. The 1-process row is the same code with a world of one (it equals
graphrec's LightGCN step, tests/training/test_partitioned.py) and, for reference, graphrec's replicated LightGCN step
(model.embeddings() + the edge loss) in the same process.

    python benchmarks/partitioned.py --data ../shared/data/gowalla --worlds 1 2 --out /tmp/part_gowalla.json
    graphrec synth --edges 10000000 --out /tmp/synth10m
    python benchmarks/partitioned.py --data /tmp/synth10m --worlds 1 2 --steps 4 --out /tmp/part_synth.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import sys
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.distributed as dist  # noqa: E402
import torch.multiprocessing as mp  # noqa: E402

from graphrec.config.models import LightGCNConfig  # noqa: E402
from graphrec.data import DataConfig, load_dataset  # noqa: E402
from graphrec.graph.partition import make_partition, partition_report  # noqa: E402
from graphrec.training.halo import ExchangeStats  # noqa: E402
from graphrec.training.partitioned import PartitionedLightGCN  # noqa: E402


def rss_mb() -> tuple[float, float]:
    """(current, peak) resident memory of this process in MB, from /proc/self/status."""
    fields = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines() if ":" in line)
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


def global_batches(train, steps: int, batch: int, candidates: int, seed: int) -> list:
    """steps + 1 global batches (the first a warm-up), the same on every rank: EdgeObjective's stream."""
    from itertools import islice

    from graphrec.config.train import EdgeTrainConfig
    from graphrec.training.objectives import EdgeBatches

    config = EdgeTrainConfig(batch_size=batch, negative_candidates=candidates)
    return list(islice(EdgeBatches(train, config, seed).epoch(), steps + 1))


def partitioned_steps(args: argparse.Namespace, rank: int, world: int) -> dict:
    torch.set_num_threads(1)
    dataset = load_dataset(DataConfig(path=str(args.data), valid_ratio=0.0), seed=2020)
    train = dataset.train
    started = time.perf_counter()
    partition = make_partition(train, world, args.partitioner)
    partition_s = time.perf_counter() - started
    report = partition_report(train, partition) if rank == 0 else None
    stats = ExchangeStats()
    config = LightGCNConfig(embedding_dim=args.dim, num_layers=args.layers)
    model = PartitionedLightGCN(train, config, partition, rank, seed=2020, stats=stats, halo_exchange=args.halo)
    halo_mode = "all_gather" if model.halo_plan.gather_positions is not None else "all_to_all"
    batches = global_batches(train, args.steps, args.batch, args.candidates, seed=2020)
    del dataset, train  # a rank keeps its rows, not the interactions
    optimizer = torch.optim.Adam(model.parameters(), lr=0.001)
    times, exchange_s, received = [], [], []
    for step, (users, positives, cands) in enumerate(batches):
        stats.reset()
        if world > 1:
            dist.barrier()
        t = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        loss = model.batch_loss(users, positives, cands, "bpr", 1e-4)
        loss.backward()
        optimizer.step()
        if step:  # the first step warms up allocators and gloo's buffers
            times.append(time.perf_counter() - t)
            exchange_s.append(stats.seconds)
            received.append(stats.bytes_received)
    current, peak = rss_mb()
    return {
        "rank": rank,
        "step_s": float(np.median(times)),
        "exchange_s": float(np.median(exchange_s)),
        "bytes_received_per_step": int(np.median(received)),
        "held_bytes": model.held_bytes(),
        "rss_mb": round(current, 1),
        "peak_rss_mb": round(peak, 1),
        "partition_s": round(partition_s, 2),
        "halo_exchange": halo_mode,
        "report": report,
    }


def replicated_steps(args: argparse.Namespace) -> dict:
    """graphrec's LightGCN step (full tables, Ã replicated) in this process, for reference."""
    from graphrec.losses import bpr_loss, l2_penalty
    from graphrec.models.lightgcn import LightGCN
    from graphrec.samplers.dynamic import select_hardest

    torch.set_num_threads(1)
    dataset = load_dataset(DataConfig(path=str(args.data), valid_ratio=0.0), seed=2020)
    config = LightGCNConfig(embedding_dim=args.dim, num_layers=args.layers)
    model = LightGCN(dataset.num_users, dataset.num_items, config, dataset.train)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.001)
    times = []
    for step, (users, positives, cands) in enumerate(global_batches(dataset.train, args.steps, args.batch, args.candidates, 2020)):
        t = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        user_emb, item_emb = model.embeddings()
        negatives = cands[:, :, 0] if cands.shape[2] == 1 else select_hardest(cands, user_emb[users].detach(), item_emb.detach())
        ego_u, ego_i = model.ego_embeddings()
        loss = bpr_loss(user_emb[users], item_emb[positives], item_emb[negatives])
        loss = loss + 1e-4 * l2_penalty(ego_u[users], ego_i[positives], ego_i[negatives], batch_size=len(users))
        loss.backward()
        optimizer.step()
        if step:
            times.append(time.perf_counter() - t)
    return {"step_s": float(np.median(times)), "peak_rss_mb": round(rss_mb()[1], 1)}


def _worker(rank: int, world: int, port: int, args: argparse.Namespace, out: str) -> None:
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world)
    try:
        result = partitioned_steps(args, rank, world)
        Path(f"{out}.rank{rank}").write_text(json.dumps(result))
        dist.barrier()
    finally:
        dist.destroy_process_group()


def run_world(args: argparse.Namespace, world: int) -> list[dict]:
    if world == 1:
        return [partitioned_steps(args, 0, 1)]
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    stem = str(args.out) + f".w{world}"
    mp.start_processes(_worker, args=(world, port, args, stem), nprocs=world, start_method="spawn")
    return [json.loads(Path(f"{stem}.rank{r}").read_text()) for r in range(world)]


def modelled_ranks(args: argparse.Namespace, result: dict) -> list[dict]:
    """Per-rank cost at larger worlds, from the measured 1-process compute and the exact halo and batch rows.

    Assumptions (also in docs/scaling.md): compute per rank = measured 1-process step x (largest rank's share of
    Ã's nonzeros) / the parallel efficiency measured at 2 ranks with the same partitioner (1-process step x share,
    over the 2-rank step less its exposed exchange time): the sparse products dominate, and whatever kept 2 ranks
    from halving the work is assumed to stay; bytes per rank per step = 2K halo fetches (forward and backward) of d
    float32 per row for the largest halo, plus the batch exchange (d floats per remote item row with uniform
    negatives, 2d with dynamic ones, forward and backward) from a real batch; messages = (W - 1) peers x (2K + 4)
    exchanges per step at 20 µs each; the network moves the stated Gbit/s per rank in each direction, and nothing
    overlaps compute."""
    dataset = load_dataset(DataConfig(path=str(args.data), valid_ratio=0.0), seed=2020)
    one = next(r for r in result["runs"] if r["world"] == 1)["ranks"][0]
    efficiency = {}
    for run in result["runs"]:
        if run["world"] == 2 and run["partitioner"] not in efficiency:
            share2 = max(run["ranks"][0]["report"]["nonzeros"]) / sum(run["ranks"][0]["report"]["nonzeros"])
            busy = max(r["step_s"] - r["exchange_s"] for r in run["ranks"])
            efficiency[run["partitioner"]] = min(one["step_s"] * share2 / busy, 1.0)
    users, positives, cands = global_batches(dataset.train, 1, args.batch, args.candidates, 2020)[0]
    rows = []
    for partitioner in args.partitioners:
        for world in args.model_ranks:
            partition = make_partition(dataset.train, world, partitioner)
            report = partition_report(dataset.train, partition)
            share = max(report["nonzeros"]) / sum(report["nonzeros"])
            owner = partition.owner
            batch_rows = 0
            for rank in range(world):
                mine = owner[users.numpy()] == rank
                items = np.unique(np.concatenate([positives.numpy()[mine], cands.numpy()[mine].ravel()]))
                batch_rows = max(batch_rows, int((owner[dataset.num_users + items] != rank).sum()))
            halo_bytes = 2 * args.layers * max(report["halo_rows"]) * args.dim * 4
            batch_bytes = 2 * batch_rows * (1 if args.candidates == 1 else 2) * args.dim * 4
            compute = one["step_s"] * share / efficiency.get(partitioner, 1.0)
            for gbit in (10, 100):
                network = (halo_bytes + batch_bytes) / (gbit * 1e9 / 8) + (world - 1) * (2 * args.layers + 4) * 20e-6
                rows.append({
                    "partitioner": partitioner, "world": world, "cut_fraction": report["cut_fraction"],
                    "largest_nonzero_share": round(share, 4), "largest_halo_rows": max(report["halo_rows"]),
                    "bytes_per_rank_step": halo_bytes + batch_bytes, "compute_s": round(compute, 4),
                    "efficiency_at_2": round(efficiency.get(partitioner, 1.0), 3), "network_gbit": gbit, "network_s": round(network, 4), "step_s": round(compute + network, 4),
                    "speedup_vs_1": round(one["step_s"] / (compute + network), 2),
                })  # fmt: skip
                print(json.dumps(rows[-1]), flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "gowalla")
    parser.add_argument("--worlds", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--partitioners", nargs="+", default=["edge-balanced", "min-cut"])
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--batch", type=int, default=8192)
    parser.add_argument("--candidates", type=int, default=1, help="negative candidates (1 = uniform, >1 = dynamic)")
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--layers", type=int, default=3)
    parser.add_argument("--halo", nargs="+", default=["auto"], choices=["auto", "all_to_all", "all_gather"])
    parser.add_argument("--replicated", action="store_true", help="also time graphrec's replicated LightGCN step")
    parser.add_argument("--model-ranks", type=int, nargs="*", default=[8, 64], help="worlds of the modelled table")
    parser.add_argument("--out", type=Path, default=Path("/tmp/partitioned.json"))
    args = parser.parse_args()
    result: dict = {
        "date": date.today().isoformat(),
        "machine": f"{platform.node()} ({os.cpu_count()} cores), OMP_NUM_THREADS={os.environ['OMP_NUM_THREADS']}",
        "command": "python " + " ".join(sys.argv),
        "runs": [],
    }
    if args.replicated:
        result["replicated"] = replicated_steps(args)
        print("replicated:", result["replicated"], flush=True)
    halos = args.halo
    for partitioner in args.partitioners:
        for world in args.worlds:
            if world == 1 and partitioner != args.partitioners[0]:
                continue  # a world of one has nothing to partition
            for halo in halos if world > 1 else ["all_to_all"]:
                args.partitioner, args.halo = partitioner, halo
                ranks = run_world(args, world)
                row = {"world": world, "partitioner": partitioner, "halo": halo, "ranks": ranks}
                result["runs"].append(row)
                print(json.dumps({k: v for k, v in row.items() if k != "ranks"}), json.dumps(ranks), flush=True)
                args.out.write_text(json.dumps(result, indent=2))
    if args.model_ranks:
        result["modelled"] = modelled_ranks(args, result)
    args.out.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
