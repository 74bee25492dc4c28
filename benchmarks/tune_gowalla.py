"""Tuning runs on the Gowalla tuning split (tuning/train.txt + tuning/valid.txt): never touches test.txt.

Each named variant is a list of --set overrides on top of a config; every run gets the same time budget and its
validation curve (NDCG@20 / Recall@20 vs wall time) goes to OUT/results.json and OUT/curves.png.

    python benchmarks/tune_gowalla.py --config configs/gowalla_lightgcn.toml --budget-min 10 \\
        --variant base: --variant dns8:train.negative_candidates=8 --variant svd:model.init=svd
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def parse_variant(text: str) -> tuple[str, list[str]]:
    name, _, overrides = text.partition(":")
    return name, [o for o in overrides.split(",") if o]


def run_variant(name: str, overrides: list[str], args: argparse.Namespace) -> dict:
    run_dir = args.out / name
    cmd = [
        sys.executable,
        "-m",
        "graphrec",
        "-q",
        "train",
        "--config",
        str(args.config),
        "--data",
        str(args.data),
        "--out",
        str(run_dir),
        "--no-progress",
        "--set",
        f"train.time_budget_s={args.budget_min * 60}",
    ]
    for item in overrides:
        cmd += ["--set", item]
    subprocess.run(cmd, check=True)
    history = [json.loads(line) for line in (run_dir / "metrics.jsonl").open()]
    curve = [(h["elapsed_seconds"], h["valid"]["recall@20"], h["valid"]["ndcg@20"]) for h in history if h["valid"]]
    summary = json.loads((run_dir / "summary.json").read_text())
    return {"name": name, "overrides": overrides, "curve": curve, "summary": summary}


def plot(results: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for result in results:
        minutes = [c[0] / 60 for c in result["curve"]]
        axes[0].plot(minutes, [c[1] for c in result["curve"]], marker=".", label=result["name"])
        axes[1].plot(minutes, [c[2] for c in result["curve"]], marker=".", label=result["name"])
    for ax, metric in zip(axes, ("Recall@20", "NDCG@20")):
        ax.set_xlabel("training wall time (min)")
        ax.set_ylabel(f"validation {metric} (tuning split)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", type=Path, required=True)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "gowalla" / "tuning")
    parser.add_argument("--out", type=Path, default=ROOT / "bench_runs" / "tuning")
    parser.add_argument("--budget-min", type=float, default=10.0)
    parser.add_argument("--variant", action="append", required=True, help="NAME:key=value,key=value")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    results_path = args.out / "results.json"
    results = json.loads(results_path.read_text()) if results_path.exists() else []
    for text in args.variant:
        name, overrides = parse_variant(text)
        results = [r for r in results if r["name"] != name] + [run_variant(name, overrides, args)]
        best = max(results[-1]["curve"], key=lambda c: c[2])
        print(json.dumps({"name": name, "best_recall@20": best[1], "best_ndcg@20": best[2], "at_s": best[0]}))
        results_path.write_text(json.dumps(results, indent=2))
        plot(results, args.out / "curves.png")


if __name__ == "__main__":
    main()
