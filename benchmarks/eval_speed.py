"""Time full-ranking evaluation of every Gowalla test user (29,858 × 40,981 items, training items masked).

python benchmarks/eval_speed.py RUN_DIR [--data ../shared/data/gowalla] [--repeat 5] [--chunk-size 2048]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch

from graphrec.data import DataConfig, load_dataset
from graphrec.evaluation import evaluate_embeddings
from graphrec.runs import load_run

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "gowalla")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--chunk-size", type=int, default=2048)
    args = parser.parse_args()
    run = load_run(args.run_dir)
    dataset = load_dataset(DataConfig(path=str(args.data), valid_ratio=0.0), seed=0)
    user_emb, item_emb = run.embeddings()
    timings = []
    for _ in range(args.repeat):
        started = time.perf_counter()
        metrics = evaluate_embeddings(user_emb, item_emb, dataset.test, dataset.train, [20], args.chunk_size)
        timings.append(time.perf_counter() - started)
    print(
        json.dumps(
            {
                "num_users": metrics["num_users"],
                "threads": torch.get_num_threads(),
                "seconds_median": round(statistics.median(timings), 3),
                "seconds_min": round(min(timings), 3),
                "seconds_all": [round(t, 3) for t in timings],
            }
        )
    )


if __name__ == "__main__":
    main()
