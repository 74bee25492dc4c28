"""Test Recall@20 against end-to-end wall time, every model of benchmarks/models_results.json, one panel per dataset.

    python benchmarks/models_plot.py [--results JSON] [--out PNG] (default: models_results.json, models_recall_time.png)

Rows with defaults are circles, recipes and variants (labels that are not a model name) squares; models that
refused the data are listed under their panel.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

HERE = Path(__file__).resolve().parent


def panel(ax: Any, dataset: str, entry: dict[str, Any]) -> None:
    refused = []
    for row in entry["rows"]:
        result = row["result"]
        if "refused" in result:
            refused.append(row["label"])
            continue
        marker = "o" if row["label"] == row["model"] else "s"
        ax.scatter(result["wall_s"], result["test_recall@20"], marker=marker, s=36)
        ax.annotate(
            row["label"],
            (result["wall_s"], result["test_recall@20"]),
            fontsize=7,
            xytext=(4, 3),
            textcoords="offset points",
        )
    budgets = {r["result"].get("time_budget_s") for r in entry["rows"]} - {None}
    title = dataset + (f" (trained models: time budget {', '.join(f'{b:.0f}' for b in budgets)} s)" if budgets else "")
    ax.set_title(title, fontsize=9)
    ax.set_xscale("log")
    ax.set_xlabel("end to end: train + evaluate processes (s, log scale)")
    ax.set_ylabel("test Recall@20")
    ax.grid(True, which="both", alpha=0.3)
    if refused:
        ax.text(0.01, -0.22, "refused: " + ", ".join(refused), transform=ax.transAxes, fontsize=7)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--results", type=Path, default=HERE / "models_results.json")
    parser.add_argument("--out", type=Path, default=HERE / "models_recall_time.png")
    args = parser.parse_args()
    results = json.loads(args.results.read_text())
    datasets = [d for d in ("gowalla", "movielens", "synthetic") if d in results]
    fig, axes = plt.subplots(1, len(datasets), figsize=(5.5 * len(datasets), 4.6), squeeze=False)
    for ax, dataset in zip(axes[0], datasets, strict=True):
        panel(ax, dataset, results[dataset])
    fig.suptitle("graphrec models with their defaults: accuracy vs end-to-end wall time (2-core CPU)", fontsize=10)
    fig.tight_layout()
    fig.savefig(args.out, dpi=130)
    print(args.out)


if __name__ == "__main__":
    main()
