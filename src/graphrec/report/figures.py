"""The report's pictures, drawn with matplotlib (Agg, no display) and returned as PNG bytes for inlining."""

from __future__ import annotations

import io
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from graphrec.evaluation.beyond import ACTIVITY_BUCKETS, ITEM_BUCKETS
from graphrec.report.collect import ReportData, RunSection

DPI = 100


@contextmanager
def _figure(ncols: int, width: float = 5.0, height: float = 3.6) -> Iterator[tuple[Any, list[Any]]]:
    """A figure of `ncols` panels; its PNG is taken by :func:`_png` inside the block, and it is always closed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, ncols, figsize=(width * ncols, height), squeeze=False)
    try:
        yield fig, list(axes[0])
    finally:
        plt.close(fig)


def _png(fig: Any) -> bytes:
    for ax in fig.axes:
        ax.grid(alpha=0.3)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI)
    return buffer.getvalue()


def metric_curves(data: ReportData) -> bytes:
    """Recall@K and NDCG@K for K = 1 … 100, one line per run."""
    with _figure(2) as (fig, axes):
        for ax, metric in zip(axes, ("recall", "ndcg"), strict=True):
            for run in data.runs:
                values = run.curves[metric]
                ax.plot(range(1, len(values) + 1), values, label=_short(run))
            ax.set_xlabel("K")
            ax.set_ylabel(f"{metric}@K")
            ax.set_title(f"{'Recall' if metric == 'recall' else 'NDCG'}@K on {data.split}")
            ax.legend(fontsize=8)
        return _png(fig)


def training_curves(runs: Sequence[RunSection]) -> bytes | None:
    """Training loss per epoch and the validation metric per validated epoch; None when no run has epochs."""
    trained = [r for r in runs if any(h.get("epoch", 0) > 0 for h in r.history)]
    if not trained:
        return None
    validated = any(h.get("valid") for r in trained for h in r.history)
    with _figure(2 if validated else 1) as (fig, axes):
        for run in trained:
            epochs = [h for h in run.history if h.get("epoch", 0) > 0]
            axes[0].plot([h["epoch"] for h in epochs], [h["train_loss"] for h in epochs], marker=".", label=_short(run))
            if validated:
                points = [h for h in run.history if h.get("valid") and run.metric in h["valid"]]
                axes[1].plot(
                    [h["epoch"] for h in points],
                    [h["valid"][run.metric] for h in points],
                    marker="o",
                    label=_short(run),
                )
        axes[0].set(xlabel="epoch", ylabel="training loss", title="training loss")
        if validated:
            metrics = sorted({r.metric for r in trained})
            axes[1].set(xlabel="epoch", ylabel="validation " + " / ".join(metrics), title="validation metric")
        for ax in axes:
            ax.legend(fontsize=8)
        return _png(fig)


def bucket_bars(data: ReportData) -> bytes:
    """Recall@K by user-activity quartile and by head / tail items, one bar per run in each group."""
    k = data.popularity_k
    groups = [(ACTIVITY_BUCKETS, "users by training activity (quartiles)"), (ITEM_BUCKETS, "held-out items")]
    with _figure(2) as (fig, axes):
        for ax, (buckets, title) in zip(axes, groups, strict=True):
            width = 0.8 / len(data.runs)
            for r, run in enumerate(data.runs):
                heights = [float(run.beyond.get(f"recall@{k}[{b}]", 0.0)) for b in buckets]
                ax.bar([i + r * width for i in range(len(buckets))], heights, width=width, label=_short(run))
            ax.set_xticks([i + 0.4 - width / 2 for i in range(len(buckets))], [_bucket_label(b) for b in buckets])
            ax.set(ylabel=f"recall@{k}", title=title)
            ax.legend(fontsize=8)
        return _png(fig)


def popularity_bias(data: ReportData) -> bytes:
    """Share of the top-K slots per item-popularity decile against the share of training interactions."""
    bins = range(1, len(data.training_share) + 1)
    with _figure(1, width=7.0) as (fig, axes):
        ax = axes[0]
        ax.plot(bins, data.training_share, color="black", marker="s", linestyle="--", label="training interactions")
        for run in data.runs:
            ax.plot(bins, run.recommended_share, marker="o", label=f"{_short(run)}: top-{data.popularity_k} slots")
        ax.set_yscale("log")
        ax.set_xticks(list(bins))
        ax.set(
            xlabel="item-popularity decile (1 = the most popular tenth of items)",
            ylabel="share (log scale)",
            title="popularity bias: where the recommendations go",
        )
        ax.legend(fontsize=8)
        return _png(fig)


def _bucket_label(bucket: str) -> str:
    return bucket.replace("activity_", "").upper() if bucket.startswith("activity_") else bucket


def _short(run: RunSection) -> str:
    """A legend label: the run directory's name and its model."""
    name = run.label.rstrip("/").rsplit("/", 1)[-1]
    return name if name == run.model else f"{name} ({run.model})"
