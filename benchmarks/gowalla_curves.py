"""The three models' validation curves on the Gowalla tuning split (never test): NDCG@20 and Recall@20 against
training wall time, from the metrics.jsonl of the tuning runs that chose each config.

    python benchmarks/gowalla_curves.py --run mf=RUN_DIR --run ngcf=RUN_DIR --run lightgcn=RUN_DIR
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def load_curve(run_dir: Path) -> list[dict]:
    history = [json.loads(line) for line in (run_dir / "metrics.jsonl").open()]
    return [
        {
            "epoch": h["epoch"],
            "minutes": h["elapsed_seconds"] / 60,
            "recall@20": h["valid"]["recall@20"],
            "ndcg@20": h["valid"]["ndcg@20"],
        }
        for h in history
        if h.get("valid")
    ]


def plot(curves: dict[str, list[dict]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for name, curve in curves.items():
        for ax, metric in zip(axes, ("ndcg@20", "recall@20")):
            ax.plot([c["minutes"] for c in curve], [c[metric] for c in curve], marker="o", markersize=3, label=name)
    for ax, metric in zip(axes, ("NDCG@20", "Recall@20")):
        ax.set_xlabel("training wall time (minutes, 2 CPU cores)")
        ax.set_ylabel(f"validation {metric} (tuning/valid.txt)")
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle("Gowalla tuning split: validation metric vs wall time (test never used)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", action="append", required=True, help="NAME=RUN_DIR")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "gowalla_valid_curves")
    args = parser.parse_args()
    curves = {}
    for item in args.run:
        name, _, run_dir = item.partition("=")
        curves[name] = load_curve(Path(run_dir))
    args.out.with_suffix(".json").write_text(json.dumps(curves, indent=2))
    plot(curves, args.out.with_suffix(".png"))
    for name, curve in curves.items():
        best = max(curve, key=lambda c: c["ndcg@20"])
        print(
            f"{name}: best valid NDCG@20 {best['ndcg@20']:.4f} (Recall@20 {best['recall@20']:.4f}) "
            f"at epoch {best['epoch']}, {best['minutes']:.1f} min"
        )


if __name__ == "__main__":
    main()
