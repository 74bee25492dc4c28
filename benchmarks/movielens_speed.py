"""PinSAGE speed on MovieLens latest-small: producer–consumer mini-batches and layer-wise inference.

    python benchmarks/movielens_speed.py [--data ../shared/data/movielens-small] [--epochs 2] [--run RUN_DIR]

1. Training with neighbourhood sampling in-process (train.num_workers = 0) against DataLoader worker processes
   (1 and 2) that build the next batches (pairs, shared + hard negatives, sampled computation graphs) while the model
   trains. Same batches in every case (each batch is a pure function of seed, epoch and batch number).
2. Inference of every item's embedding (RUN_DIR: a trained PinSAGE run, default bench_runs/movielens/pinsage):
   layer-wise (each node's layer-k representation computed once) against the naive per-node computation (each
   item's own K-hop computation graph, nothing shared; timed on a sample and extrapolated, as stated) and against
   per-batch computation graphs (shared only inside a batch of 512).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from datetime import date
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from graphrec.config import apply_overrides, load_config  # noqa: E402
from graphrec.runs import load_run, train  # noqa: E402
from movielens import data_overrides  # noqa: E402


def producer_consumer(args: argparse.Namespace) -> dict[str, float]:
    seconds = {}
    for workers in (0, 1, 2):
        config = apply_overrides(
            load_config(ROOT / "configs" / "movielens_pinsage.toml"),
            data_overrides(args.data)
            + [
                f"train.epochs={args.epochs}",
                "train.show_progress=false",
                f"train.num_workers={workers}",
                "train.eval_every=1000",
            ],
        )
        summary = train(config, args.out / f"workers{workers}")
        seconds[f"num_workers={workers}"] = summary["train_seconds"] / summary["epochs_run"]
        print(json.dumps({"num_workers": workers, "s_per_epoch": seconds[f"num_workers={workers}"]}), flush=True)
    return seconds


@torch.no_grad()
def inference(run_dir: Path, sample: int) -> dict[str, float]:
    run = load_run(run_dir)
    model = run.model
    started = time.perf_counter()
    model.inference_table  # noqa: B018 - the fixed neighbourhoods, shared by all three paths
    table_s = time.perf_counter() - started
    started = time.perf_counter()
    layerwise = model.item_embeddings()
    layerwise_s = time.perf_counter() - started
    items = np.arange(model.num_items)
    started = time.perf_counter()
    batched = torch.cat([model.encode_items(items[i : i + 512]) for i in range(0, len(items), 512)])
    batched_s = time.perf_counter() - started
    chosen = np.random.default_rng(0).choice(items, size=min(sample, len(items)), replace=False)
    started = time.perf_counter()
    naive = torch.cat([model.encode_items(np.array([i])) for i in chosen])
    naive_s = (time.perf_counter() - started) * len(items) / len(chosen)
    return {
        "items": int(model.num_items),
        "neighbourhood_table_s": table_s,
        "layerwise_s": layerwise_s,
        "per_batch_512_s": batched_s,
        "naive_per_node_s (extrapolated from %d items)" % len(chosen): naive_s,
        "max_abs_diff_batched": float((batched - layerwise).abs().max()),
        "max_abs_diff_naive": float((naive - layerwise[torch.from_numpy(chosen)]).abs().max()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "movielens-small")
    parser.add_argument("--out", type=Path, default=ROOT / "bench_runs" / "movielens_speed")
    parser.add_argument("--run", type=Path, default=ROOT / "bench_runs" / "movielens" / "pinsage")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--sample", type=int, default=1000, help="items timed one by one on the naive path")
    parser.add_argument("--skip-training", action="store_true")
    args = parser.parse_args()
    result = {"inference": inference(args.run, args.sample)}
    print(json.dumps(result), flush=True)
    if not args.skip_training:
        result["train_s_per_epoch"] = producer_consumer(args)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(result, indent=2))
    print(
        f"Measured {date.today().isoformat()} on {platform.node()} ({os.cpu_count()} cores), "
        f"command: python {' '.join(sys.argv)}"
    )
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
