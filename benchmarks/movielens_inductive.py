"""Inductive fresh items on MovieLens latest-small: 10% of the items never seen in training, embedded afterwards from
their features and their edges, without retraining.

    python benchmarks/movielens_inductive.py [--data ../shared/data/movielens-small] [--epochs 6]
        [--transductive RUN_DIR]   # a PinSAGE run trained on every item, for the same pairs (optional)

Protocol: the per-user temporal split of configs/movielens_pinsage.toml; then `data.holdout_items = 0.1` withholds a
seeded 10% of the training items (every one of their training rows) from training. After training, each withheld
item is added with `embed_new_items` one at a time, as a service would: its catalogue features (title, genres, year,
tags, plus the log-degree of its new edges) and its users = the users who engaged with it in the training period.
Timing covers exactly that call (graph growth, neighbourhood, convolution, cache update), the features given.

Related-item pairs are the same as benchmarks/movielens.py (q = a user's newest training item, i = each of the
user's test items), split by whether q or i is a withheld item.
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
from graphrec.data import load_dataset  # noqa: E402
from graphrec.data.features import build_item_features  # noqa: E402
from graphrec.evaluation.related import last_item_pairs, related_item_metrics, related_item_ranks  # noqa: E402
from graphrec.inductive import NewItem, embed_new_items  # noqa: E402
from graphrec.runs import LoadedRun, load_run, train  # noqa: E402
from movielens import data_overrides  # noqa: E402


def embed_withheld(run: LoadedRun, config, full, withheld: list) -> list[float]:  # noqa: ANN001
    """Add every withheld item, one call each; returns the seconds of each call."""
    features = build_item_features(config.features, [str(i) for i in withheld]).matrix
    item_col = full.train.tocsc()
    seconds = []
    run.embeddings()  # a serving process has its embeddings cached before new items arrive
    for row, item_id in zip(features, withheld):
        users = item_col[:, full.item_ids.index(item_id)].nonzero()[0]
        user_ids = [full.user_ids.id_of(int(u)) for u in users if full.user_ids.id_of(int(u)) in run.user_ids]
        vector = np.append(row, np.log1p(len(user_ids))) if config.features.log_degree else row
        started = time.perf_counter()
        embed_new_items(run, [NewItem(item_id, user_ids, vector.astype(np.float32))])
        seconds.append(time.perf_counter() - started)
    return seconds


def in_full_order(run: LoadedRun, full) -> torch.Tensor:  # noqa: ANN001
    """The run's item embeddings re-indexed to the full dataset's item order (the pairs are in that order)."""
    _, items = run.embeddings()
    rows = run.item_ids.indices(np.asarray(full.item_ids.ids, dtype=object))
    assert (rows >= 0).all(), "every item of the full split is in the grown run"
    return items[torch.from_numpy(rows)]


def grouped_metrics(items: torch.Tensor, pairs: np.ndarray, new: np.ndarray) -> dict[str, dict]:
    ranks = related_item_ranks(items, pairs)
    groups = {
        "both seen in training": ~new[pairs[:, 0]] & ~new[pairs[:, 1]],
        "query item new": new[pairs[:, 0]],
        "target item new": new[pairs[:, 1]],
    }
    return {name: related_item_metrics(ranks[mask], (10,)) for name, mask in groups.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "movielens-small")
    parser.add_argument("--out", type=Path, default=ROOT / "bench_runs" / "movielens_inductive")
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--transductive", type=Path, help="a PinSAGE run trained on all items (same config)")
    args = parser.parse_args()
    config = apply_overrides(
        load_config(ROOT / "configs" / "movielens_pinsage.toml"),
        data_overrides(args.data) + [f"train.epochs={args.epochs}", "train.show_progress=false"],
    )
    full = load_dataset(config.data, seed=config.seed)
    held_config = apply_overrides(config, ["data.holdout_items=0.1"])
    run_dir = args.out / "pinsage-holdout10"
    summary = (
        json.loads((run_dir / "summary.json").read_text())
        if (run_dir / "summary.json").is_file()
        else train(held_config, run_dir)
    )
    withheld = json.loads((run_dir / "data_stats.json").read_text())["holdout_item_ids"]
    run = load_run(run_dir)
    seconds = np.array(embed_withheld(run, config, full, withheld))
    pairs = last_item_pairs(full.train, full.test, full.train_timestamps)
    new = np.zeros(full.num_items, dtype=bool)
    new[full.item_ids.indices(np.asarray(withheld, dtype=object))] = True
    result = {
        "withheld_items": len(withheld),
        "train_s": summary["train_seconds"],
        "embed_ms": {
            "median": 1e3 * float(np.median(seconds)),
            "p95": 1e3 * float(np.percentile(seconds, 95)),
            "max": 1e3 * float(seconds.max()),
            "mean": 1e3 * float(seconds.mean()),
        },
        "inductive": grouped_metrics(in_full_order(run, full), pairs, new),
    }
    if args.transductive:
        result["transductive"] = grouped_metrics(in_full_order(load_run(args.transductive), full), pairs, new)
    (args.out / "results.json").write_text(json.dumps(result, indent=2))
    print(
        f"Measured {date.today().isoformat()} on {platform.node()} ({os.cpu_count()} cores), "
        f"command: python {' '.join(sys.argv)}"
    )
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
