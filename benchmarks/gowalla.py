"""Train MF, NGCF and LightGCN on LightGCN's Gowalla split and record test Recall@20 / NDCG@20 in BENCHMARKS.md.

Each model runs as its own `graphrec train` process (so peak memory is per model), validating on a split carved from
train.txt and stopping early on it; test.txt is evaluated once, after training.

    python benchmarks/gowalla.py [--data ../shared/data/gowalla] [--models mf lightgcn ngcf] [--budget-min 15]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BEGIN, END = "<!-- gowalla-table:begin -->", "<!-- gowalla-table:end -->"


def run_model(model: str, data: Path, out: Path, budget_min: float | None, extra: list[str]) -> dict:
    run_dir = out / model
    cmd = [sys.executable, "-m", "graphrec", "-q", "train", "--config", str(ROOT / "configs" / f"gowalla_{model}.toml"),
           "--data", str(data), "--out", str(run_dir), "--no-progress"]
    if budget_min is not None:
        cmd += ["--set", f"train.time_budget_s={budget_min * 60}"]
    for item in extra:
        cmd += ["--set", item]
    started = time.perf_counter()
    subprocess.run(cmd, check=True)
    train_wall = time.perf_counter() - started
    evaluated = subprocess.run([sys.executable, "-m", "graphrec", "-q", "evaluate", str(run_dir), "--split", "test",
                                "--k", "20", "--json"], check=True, capture_output=True, text=True)
    summary = json.loads((run_dir / "summary.json").read_text())
    return {"model": model, "test": json.loads(evaluated.stdout), "summary": summary,
            "process_wall_s": round(train_wall, 1), "command": " ".join(cmd[1:])}


def table(rows: list[dict], command: str) -> str:
    lines = [
        BEGIN,
        f"Measured {date.today().isoformat()} on {platform.node() or 'this machine'} "
        f"({os.cpu_count()} CPU cores, {platform.processor() or platform.machine()}), torch CPU.",
        "",
        f"Command: `{command}`",
        "",
        "![validation NDCG@20 vs wall time](benchmarks/gowalla_valid_curve.png)",
        "",
        "| model | Recall@20 | NDCG@20 | epochs (best) | stop | train time | wall (load+train) | peak RSS |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        s, t = row["summary"], row["test"]
        lines.append(
            f"| {row['model']} | {t['recall@20']:.4f} | {t['ndcg@20']:.4f} | {s['epochs_run']} ({s['best_epoch']}) | "
            f"{s['stop_reason']} | {s['train_seconds'] / 60:.1f} min | {s['wall_seconds'] / 60:.1f} min | "
            f"{s['peak_rss_mb'] / 1024:.2f} GB |"
        )
    lines.append(END)
    return "\n".join(lines)


def plot_curves(out: Path, models: list[str], path: Path) -> None:
    """Validation NDCG@20 against training wall time, one line per model (test data is never used here)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for model in models:
        history = [json.loads(line) for line in (out / model / "metrics.jsonl").open()]
        points = [(h["elapsed_seconds"] / 60, h["valid"]["ndcg@20"]) for h in history if h.get("valid")]
        ax.plot(*zip(*points), marker="o", markersize=3, label=model)
    ax.set_xlabel("training wall time (minutes, 2 CPU cores)")
    ax.set_ylabel("validation NDCG@20 (split carved from train.txt)")
    ax.set_title("Gowalla: validation NDCG@20 vs wall time")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_benchmarks(text: str) -> None:
    path = ROOT / "BENCHMARKS.md"
    current = path.read_text() if path.exists() else "# Benchmarks\n"
    if BEGIN in current:
        head, rest = current.split(BEGIN, 1)
        current = head + text + rest.split(END, 1)[1]
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
    parser.add_argument("--no-write", action="store_true", help="print the table, leave BENCHMARKS.md alone")
    args = parser.parse_args()
    if not (args.data / "train.txt").is_file():
        sys.exit(f"no train.txt in {args.data}; pass --data DIR with LightGCN's Gowalla split")
    rows = []
    for model in args.models:
        rows.append(run_model(model, args.data, args.out, args.budget_min, args.set))
        (args.out / "results.json").write_text(json.dumps(rows, indent=2))
        print(json.dumps({"model": model, **rows[-1]["test"], "train_s": rows[-1]["summary"]["train_seconds"]}))
    plot_curves(args.out, args.models, ROOT / "benchmarks" / "gowalla_valid_curve.png")
    text = table(rows, "python " + " ".join(sys.argv))
    print(text)
    if not args.no_write:
        write_benchmarks(text)


if __name__ == "__main__":
    main()
