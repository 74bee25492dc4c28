"""The training-curve picture saved in every run directory."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from graphrec.io import atomic_write


def plot_training_curve(history: list[dict[str, Any]], metric: str, path: str | Path, title: str = "") -> None:
    """Two panels: mean training loss per epoch, and the validation metric per validated epoch; the loss alone when
    no epoch was validated (a run without a validation split), rather than an empty panel."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [h["epoch"] for h in history if h["epoch"] > 0]
    losses = [h["train_loss"] for h in history if h["epoch"] > 0]
    validated = [h for h in history if h.get("valid")]
    fig, axes = plt.subplots(1, 2 if validated else 1, figsize=(10 if validated else 5, 4), squeeze=False)
    ax_loss = axes[0][0]
    ax_loss.plot(epochs, losses, marker=".")
    ax_loss.set_xlabel("epoch")
    ax_loss.set_ylabel("training loss")
    ax_loss.set_title("training loss" if validated else "training loss (no validation split)")
    if validated:
        _plot_metric(axes[0][1], validated, metric)
    for ax in axes[0]:
        ax.grid(alpha=0.3)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=100))
    plt.close(fig)


def _plot_metric(ax_metric: Any, validated: list[dict[str, Any]], metric: str) -> None:
    ax_metric.plot([h["epoch"] for h in validated], [h["valid"][metric] for h in validated], marker="o")
    best = max(validated, key=lambda h: h["valid"][metric], default=None)
    if best is not None:
        ax_metric.axvline(best["epoch"], linestyle="--", color="grey", label=f"best: epoch {best['epoch']}")
        ax_metric.legend()
    ax_metric.set_xlabel("epoch")
    ax_metric.set_ylabel(f"validation {metric}")
    ax_metric.set_title(f"validation {metric}")
