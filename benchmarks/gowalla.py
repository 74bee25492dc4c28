"""Train MF, NGCF and LightGCN on LightGCN's Gowalla split and record test Recall@20 / NDCG@20 in BENCHMARKS.md.

Each model runs as its own `graphrec train` process (so peak memory is per model) with the settings of
configs/gowalla_MODEL.toml, chosen on the tuning split (benchmarks/tune_gowalla.py); test.txt is evaluated once,
after training. LightGCN runs with --seeds seeds (mean ± std).

    python benchmarks/gowalla.py [--data ../shared/data/gowalla] [--models mf lightgcn ngcf] [--budget-min 15]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SECTION = "tuned"  # BENCHMARKS.md keeps one table per section between <!-- gowalla-SECTION:begin/end --> markers


def run_model(model: str, seed: int, data: Path, out: Path, budget_min: float | None, extra: list[str]) -> dict:
    """Train one model with one seed as its own process, then evaluate test once; time both."""
    run_dir = out / f"{model}-seed{seed}"
    cmd = [
        sys.executable,
        "-m",
        "graphrec",
        "-q",
        "train",
        "--config",
        str(ROOT / "configs" / f"gowalla_{model}.toml"),
        "--data",
        str(data),
        "--out",
        str(run_dir),
        "--no-progress",
        "--seed",
        str(seed),
    ]
    if budget_min is not None:
        cmd += ["--set", f"train.time_budget_s={budget_min * 60}"]
    for item in extra:
        cmd += ["--set", item]
    started = time.perf_counter()
    subprocess.run(cmd, check=True)
    train_wall = time.perf_counter() - started
    started = time.perf_counter()
    evaluated = subprocess.run(
        [sys.executable, "-m", "graphrec", "-q", "evaluate", str(run_dir), "--split", "test", "--k", "20", "--json"],
        check=True,
        capture_output=True,
        text=True,
    )
    eval_wall = time.perf_counter() - started
    summary = json.loads((run_dir / "summary.json").read_text())
    return {
        "model": model,
        "seed": seed,
        "test": json.loads(evaluated.stdout),
        "summary": summary,
        "train_process_s": round(train_wall, 1),
        "evaluate_process_s": round(eval_wall, 1),
        "command": " ".join(cmd[1:]),
    }


def _mean_std(values: list[float]) -> str:
    if len(values) == 1:
        return f"{values[0]:.4f}"
    return f"{statistics.mean(values):.4f} ± {statistics.stdev(values):.4f}"


def markers(section: str) -> tuple[str, str]:
    return f"<!-- gowalla-{section}:begin -->", f"<!-- gowalla-{section}:end -->"


def table(rows: list[dict], command: str, section: str) -> str:
    begin, end = markers(section)
    lines = [
        begin,
        f"Measured {date.today().isoformat()} on {platform.node() or 'this machine'} "
        f"({os.cpu_count()} CPU cores, {platform.processor() or platform.machine()}), torch CPU.",
        "",
        f"Command: `{command}`",
        "",
        "| model | seeds | Recall@20 | NDCG@20 | epochs | train time | end to end (load+train+evaluate) | peak RSS |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for model in dict.fromkeys(row["model"] for row in rows):
        group = [row for row in rows if row["model"] == model]
        recall = _mean_std([row["test"]["recall@20"] for row in group])
        ndcg = _mean_std([row["test"]["ndcg@20"] for row in group])
        epochs = "/".join(str(row["summary"]["epochs_run"]) for row in group)
        train_min = max(row["summary"]["train_seconds"] for row in group) / 60
        wall_min = max(row["train_process_s"] + row["evaluate_process_s"] for row in group) / 60
        rss = max(row["summary"]["peak_rss_mb"] for row in group) / 1024
        lines.append(
            f"| {model} | {len(group)} | {recall} | {ndcg} | {epochs} | ≤ {train_min:.1f} min | "
            f"≤ {wall_min:.1f} min | {rss:.2f} GB |"
        )
    lines.append(end)
    return "\n".join(lines)


def plot_curves(out: Path, models: list[str], path: Path) -> None:
    """Validation NDCG@20 against training wall time, one line per model (test data is never used here)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    curves = {}
    for model in models:
        history = [json.loads(line) for line in (out / f"{model}-seed2020" / "metrics.jsonl").open()]
        points = [(h["elapsed_seconds"] / 60, h["valid"]["ndcg@20"]) for h in history if h.get("valid")]
        if points:  # runs trained without a validation split have their curve in the tuning runs instead
            curves[model] = points
    if not curves:
        return
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for model, points in curves.items():
        ax.plot(*zip(*points), marker="o", markersize=3, label=model)
    ax.set_xlabel("training wall time (minutes, 2 CPU cores)")
    ax.set_ylabel("validation NDCG@20 (split carved from train.txt)")
    ax.set_title("Gowalla: validation NDCG@20 vs wall time")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_benchmarks(text: str, section: str) -> None:
    path = ROOT / "BENCHMARKS.md"
    current = path.read_text() if path.exists() else "# Benchmarks\n"
    begin, end = markers(section)
    if begin in current:
        head, rest = current.split(begin, 1)
        current = head + text + rest.split(end, 1)[1]
    else:
        current = current.rstrip() + "\n\n## Gowalla (LightGCN split)\n\n" + text + "\n"
    path.write_text(current)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "gowalla")
    parser.add_argument("--models", nargs="+", default=["mf", "lightgcn", "ngcf"])
    parser.add_argument("--out", type=Path, default=ROOT / "bench_runs")
    parser.add_argument("--budget-min", type=float, default=None, help="training time budget per model, minutes")
    parser.add_argument("--set", action="append", default=[], help="extra overrides for every model")
    parser.add_argument("--section", default=SECTION, help="which BENCHMARKS.md table to replace")
    parser.add_argument("--seeds", type=int, default=3, help="seeds for LightGCN (2020, 2021, …); others run once")
    parser.add_argument("--no-write", action="store_true", help="print the table, leave BENCHMARKS.md alone")
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="keep the (model, seed) rows already in OUT/results.json instead of retraining them",
    )
    args = parser.parse_args()
    if not (args.data / "train.txt").is_file():
        sys.exit(f"no train.txt in {args.data}; pass --data DIR with LightGCN's Gowalla split")
    previous = json.loads((args.out / "results.json").read_text()) if (args.out / "results.json").is_file() else []
    done = {(row["model"], row["seed"]): row for row in previous} if args.reuse else {}
    rows = []
    for model in args.models:
        for seed in range(args.seeds if model == "lightgcn" else 1):
            if (model, 2020 + seed) in done:
                rows.append(done[(model, 2020 + seed)])
                continue
            rows.append(run_model(model, 2020 + seed, args.data, args.out, args.budget_min, args.set))
            args.out.mkdir(parents=True, exist_ok=True)
            (args.out / "results.json").write_text(json.dumps(rows, indent=2))
            print(
                json.dumps(
                    {
                        "model": model,
                        "seed": rows[-1]["seed"],
                        **rows[-1]["test"],
                        "train_s": rows[-1]["summary"]["train_seconds"],
                    }
                )
            )
    plot_curves(args.out, args.models, ROOT / "benchmarks" / f"gowalla_{args.section}_valid_curve.png")
    text = table(rows, "python " + " ".join(sys.argv), args.section)
    print(text)
    if not args.no_write:
        write_benchmarks(text, args.section)


if __name__ == "__main__":
    main()
