"""Replay early-stopping rules on runs validated after every epoch: which epoch each rule keeps, and when it stops.

    python benchmarks/stopping_rules.py RUN_DIR ... [--rules 1:5 2:5 5:5 ...] [--metric ndcg@20]

Each RUN_DIR must have been trained with ``train.eval_every = 1`` and a patience at least as long as the longest rule
replayed (in epochs), e.g. ``--set train.eval_every=1 --set train.patience=25`` (benchmarks/models.py ``--variant``).
A rule E:P validates every E epochs and stops after P validations in a row without a new best ``train.metric``; the
replay reports the kept epoch, its validation Recall/NDCG@20, the stop epoch and the training + validation seconds
it would have spent (each epoch's training time, plus the measured mean validation pass per validation made).
"""

from __future__ import annotations

import argparse
import json
from itertools import pairwise
from pathlib import Path
from typing import Any


def history(run_dir: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def replay(entries: list[dict[str, Any]], every: int, patience: int, metric: str) -> dict[str, Any]:
    """The stopping rule every:patience on a history validated after every epoch."""
    validated = [e for e in entries if e["valid"]]
    passes = [b["elapsed_seconds"] - a["elapsed_seconds"] - b["epoch_seconds"] for a, b in pairwise(validated)]
    validation_s = sum(passes) / len(passes) if passes else 0.0
    best, best_epoch, bad, stop = -1.0, 0, 0, entries[-1]["epoch"]
    for entry in entries:
        if entry["epoch"] % every or not entry["valid"]:
            continue
        value = entry["valid"][metric]
        if value > best:
            best, best_epoch, bad = value, entry["epoch"], 0
        else:
            bad += 1
            if bad >= patience:
                stop = entry["epoch"]
                break
    truncated = stop == entries[-1]["epoch"] and bad < patience
    kept = next(e for e in entries if e["epoch"] == best_epoch)
    seconds = sum(e["epoch_seconds"] for e in entries if e["epoch"] <= stop) + validation_s * (stop // every)
    return {
        "rule": f"{every}:{patience}",
        "kept_epoch": best_epoch,
        "stop_epoch": stop,
        "stopped_by_rule": not truncated,
        "valid_recall@20": round(kept["valid"]["recall@20"], 4),
        "valid_ndcg@20": round(kept["valid"]["ndcg@20"], 4),
        "seconds": round(seconds, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--rules", nargs="*", default=["1:5", "1:10", "2:5", "3:5", "5:3", "5:5"])
    parser.add_argument("--metric", default="ndcg@20")
    args = parser.parse_args()
    for run_dir in args.runs:
        entries = history(run_dir)
        for rule in args.rules:
            every, patience = (int(x) for x in rule.split(":"))
            print(json.dumps({"run": run_dir.name, **replay(entries, every, patience, args.metric)}))


if __name__ == "__main__":
    main()
