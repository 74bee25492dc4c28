"""Tune a training-free graph filter (bspm) on the Gowalla tuning split (tuning/train.txt + tuning/valid.txt; never
reads test.txt): the item graph and each rank's SVD are computed once, then every variant scores the same fixed
random subset of validation users (or all of them with --users 0).

    python benchmarks/tune_filters.py --users 8000 --variant official:sharpen_solver=rk4,sharpen_time=2.5,\\
        ideal_weight=0.2,rank=448 --variant t2:sharpen_solver=rk4,sharpen_time=2.0,ideal_weight=0.2,rank=448

Results (validation Recall@20 / NDCG@20 per variant, seconds) go to benchmarks/tune_filters_results.json (appended).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from graphrec.config import DataConfig, model_config
from graphrec.data import load_dataset
from graphrec.evaluation.metrics import evaluate_scorer_users, mean_metrics, users_with_targets
from graphrec.graph import itemfilter
from graphrec.graph.itemfilter import IdealFilter
from graphrec.models import build_model
from graphrec.models.bspm import BSPM, BSPMScorer

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).with_name("tune_filters_results.json")


def parse_variant(text: str) -> tuple[str, dict[str, Any]]:
    name, _, overrides = text.partition(":")
    values: dict[str, Any] = {}
    for item in filter(None, overrides.split(",")):
        key, _, raw = item.partition("=")
        values[key] = json.loads(raw) if raw[:1] not in "abcdefghijklmnopqrstuvwxyz" else raw
    return name, values


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "gowalla" / "tuning")
    parser.add_argument("--users", type=int, default=8000, help="validation users scored (0: all), fixed seed 0")
    parser.add_argument("--chunk-size", type=int, default=2048)
    parser.add_argument("--variant", action="append", required=True, help="NAME:key=value,key=value (bspm keys)")
    parser.add_argument("--svd-iterations", type=int, default=None, help="power iterations of the randomized SVD")
    args = parser.parse_args()
    if args.svd_iterations is not None:
        itemfilter.SVD_ITERATIONS = args.svd_iterations
    dataset = load_dataset(DataConfig(path=str(args.data)), seed=0)
    rows = users_with_targets(dataset.valid)
    if args.users:
        rows = np.sort(np.random.default_rng(0).choice(rows, size=min(args.users, len(rows)), replace=False))
    fitted: dict[tuple[int, int], BSPM] = {}
    results = []
    for name, values in map(parse_variant, args.variant):
        config = model_config("bspm", **values)
        key = (config.rank, config.svd_seed)
        started = time.perf_counter()
        if key not in fitted:
            base = build_model(config, dataset.num_users, dataset.num_items, dataset.train)
            base.fit()
            fitted[key] = base  # type: ignore[assignment]
        base = fitted[key]
        fit_s = time.perf_counter() - started
        ideal = IdealFilter(base.singular_vectors, base.item_degree, 0.5) if config.ideal_weight > 0 else None
        scorer = BSPMScorer(base.history, base.columns, ideal, config)  # type: ignore[attr-defined]
        started = time.perf_counter()
        with torch.no_grad():
            _, per_user = evaluate_scorer_users(scorer, dataset.valid, [dataset.train], [20], args.chunk_size, rows)
        metrics = mean_metrics(per_user)
        result = {
            "name": name,
            "model": values,
            "svd_iterations": itemfilter.SVD_ITERATIONS,
            "users": len(rows),
            "recall@20": round(metrics["recall@20"], 5),
            "ndcg@20": round(metrics["ndcg@20"], 5),
            "fit_s": round(fit_s, 1),
            "score_s": round(time.perf_counter() - started, 1),
        }
        print(json.dumps(result), flush=True)
        results.append(result)
    previous = json.loads(RESULTS.read_text()) if RESULTS.is_file() else []
    RESULTS.write_text(json.dumps(previous + results, indent=1) + "\n")


if __name__ == "__main__":
    main()
