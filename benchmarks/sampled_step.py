"""Seconds per training step and peak RSS: full propagation vs sampled computation graphs (model.fanouts).

Loads DATA (a LightGCN directory; all of train.txt, no validation split), builds LightGCN (dim 64, 3 layers), then
runs Adam steps on the first batches of epoch 1 (BPR, dns64) and prints one JSON line: load and build seconds, the
first batch's seconds (it includes the DNS score cache), the median step, steps per epoch, the size of the last
step's computation graph and the process's peak RSS. Run one mode per process so the RSS is the mode's own.

    python benchmarks/sampled_step.py /tmp/synth10m --fanouts 10,10,10 --batch 8192 --steps 6
    python benchmarks/sampled_step.py /tmp/synth10m --batch 8192 --steps 6        # full propagation
"""

from __future__ import annotations

import argparse
import json
import resource
import time

import numpy as np
import torch

from graphrec.config import RunConfig, apply_overrides
from graphrec.data import load_dataset
from graphrec.models import build_model
from graphrec.training.objectives import make_objective
from graphrec.training.trainer import _make_optimizer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data")
    parser.add_argument("--fanouts", help="e.g. 10,10,10 (default: full propagation)")
    parser.add_argument("--batch", type=int, default=8192)
    parser.add_argument("--steps", type=int, default=6)
    args = parser.parse_args()
    overrides = [
        f"data.path={args.data}",
        "data.valid_ratio=0.0",
        "train.negative_candidates=64",
        f"train.batch_size={args.batch}",
    ]
    if args.fanouts:
        overrides.append(f"model.fanouts=[{args.fanouts}]")
    config = apply_overrides(RunConfig(seed=2020), overrides)
    started = time.perf_counter()
    dataset = load_dataset(config.data, config.seed)
    load_s, started = time.perf_counter() - started, time.perf_counter()
    torch.manual_seed(0)
    model = build_model(config.model, dataset.num_users, dataset.num_items, dataset.train)
    build_s = time.perf_counter() - started
    objective = make_objective(model, dataset, config.train, config.seed)
    optimizer = _make_optimizer(model, config.train.lr, config.train.weight_decay)
    batches = objective.epoch(0)
    started = time.perf_counter()
    batch = next(batches)
    first_s, times = time.perf_counter() - started, []
    for step in range(args.steps):
        started = time.perf_counter()
        if step:
            batch = next(batches)
        loss = objective.loss(batch)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        times.append(time.perf_counter() - started)
    graph = getattr(batch, "graph", None)
    print(
        json.dumps(
            {
                "data": args.data,
                "fanouts": args.fanouts or "full",
                "batch": args.batch,
                "users": dataset.num_users,
                "items": dataset.num_items,
                "train_edges": int(dataset.train.nnz),
                "load_s": round(load_s, 2),
                "build_s": round(build_s, 2),
                "first_batch_s": round(first_s, 2),
                "step_s_median": round(float(np.median(times[1:] or times)), 3),
                "steps_per_epoch": objective.num_batches,
                "graph_nodes_edges": [len(graph.input_nodes), graph.num_edges()] if graph is not None else None,
                "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
            }
        )
    )


if __name__ == "__main__":
    main()
