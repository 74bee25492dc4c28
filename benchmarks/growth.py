"""How LightGCN's cost grows with the graph: load, graph build, seconds per epoch, evaluation and peak RSS for full
propagation and the sampled path, one process per (graph, mode) so each peak RSS is that run's own.

    python benchmarks/growth.py run /tmp/synth_1000000 --mode full --out benchmarks/growth_results.jsonl
    python benchmarks/growth.py run /tmp/synth_1000000 --mode sampled --out benchmarks/growth_results.jsonl
    python benchmarks/growth.py plot benchmarks/growth_results.jsonl --png benchmarks/growth.png

`run` loads DATA (a LightGCN directory: train.txt + test.txt, no validation split), builds LightGCN (dim 64, 3 layers,
uniform negatives, BPR), takes `--steps` Adam steps (0: the whole epoch) and reports seconds per epoch as steps per
epoch × the mean step after the first, or the measured epoch when `--steps 0`. Evaluation is the test split's full
ranking over every item (training items masked) for `--eval-users` users drawn with seed 0 from those with a test item,
after one full-propagation pass for the embeddings. Appends one JSON line to `--out`. `plot` fits log10(y) =
a + slope · log10(edges) per mode and quantity by least squares and draws them on log-log axes.
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from pathlib import Path

import numpy as np
import torch

from graphrec.config import RunConfig, apply_overrides
from graphrec.data import load_dataset
from graphrec.evaluation.metrics import evaluate_scorer_users, mean_metrics, split_inputs, users_with_targets
from graphrec.models import build_model
from graphrec.training.objectives import make_objective
from graphrec.training.trainer import _make_optimizer

QUANTITIES = ("load_s", "build_s", "step_s_mean", "epoch_s", "eval_s", "peak_rss_mib")
TITLES = {
    "load_s": "load (s)",
    "build_s": "graph + model build (s)",
    "step_s_mean": "training step (s)",
    "epoch_s": "epoch (s)",
    "eval_s": "evaluation (s)",
    "peak_rss_mib": "peak RSS (MiB)",
}


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _train_steps(objective, optimizer, steps: int) -> tuple[list[float], list[int]]:  # noqa: ANN001 - glue
    """Seconds of each of the first `steps` steps of epoch 1 (all of them if `steps` is 0), and the input nodes of
    each step's sampled computation graph (empty for full propagation)."""
    times, nodes, batches = [], [], objective.epoch(0)
    while not steps or len(times) < steps:
        started = time.perf_counter()
        batch = next(batches, None)
        if batch is None:
            break
        loss = objective.loss(batch)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        times.append(time.perf_counter() - started)
        if hasattr(batch, "graph"):
            nodes.append(len(batch.graph.input_nodes))
    return times, nodes


def run(args: argparse.Namespace) -> dict:
    overrides = [
        f"data.path={args.data}",
        "data.valid_ratio=0.0",
        f"train.batch_size={args.batch}",
        "train.negative_candidates=1",
    ]
    if args.mode == "sampled":
        overrides += [f"model.fanouts=[{args.fanouts}]", "train.sparse_updates=true"]
    config = apply_overrides(RunConfig(seed=2020), overrides)
    record: dict = {
        "data": args.data,
        "mode": args.mode,
        "batch": args.batch,
        "fanouts": args.fanouts if args.mode == "sampled" else None,
    }
    started = time.perf_counter()
    dataset = load_dataset(config.data, config.seed)
    record["load_s"], record["rss_after_load_mib"] = time.perf_counter() - started, _peak_rss_mib()
    started = time.perf_counter()
    torch.manual_seed(0)
    model = build_model(config.model, dataset.num_users, dataset.num_items, dataset.train)
    objective = make_objective(model, dataset, config.train, config.seed)
    optimizer = _make_optimizer(model, config.train.lr, config.train.weight_decay, config.train.sparse_updates)
    record["build_s"], record["rss_after_build_mib"] = time.perf_counter() - started, _peak_rss_mib()
    times, nodes = _train_steps(objective, optimizer, args.steps)
    steps_per_epoch = objective.num_batches
    steady = times[1:] or times
    record.update(
        steps_measured=len(times),
        steps_per_epoch=steps_per_epoch,
        first_step_s=times[0],
        step_s_mean=float(np.mean(steady)),
        step_s_median=float(np.median(steady)),
        epoch_measured=len(times) == steps_per_epoch,
        epoch_s=float(sum(times)) if len(times) == steps_per_epoch else steps_per_epoch * float(np.mean(steady)),
        rss_after_train_mib=_peak_rss_mib(),
        step_input_nodes_mean=float(np.mean(nodes)) if nodes else None,
    )
    del objective, optimizer
    started = time.perf_counter()
    scorer, exclude = split_inputs(model, dataset, "test")
    users = users_with_targets(dataset.test)
    users = np.sort(np.random.default_rng(0).choice(users, min(args.eval_users, len(users)), replace=False))
    _, per_user = evaluate_scorer_users(scorer, dataset.test, exclude, [20], rows=users)
    record["eval_s"], record["eval_users"] = time.perf_counter() - started, len(users)
    record["test_after_steps"] = {k: round(v, 5) for k, v in mean_metrics(per_user).items()}
    record.update(
        users=dataset.num_users,
        items=dataset.num_items,
        train_edges=int(dataset.train.nnz),
        test_edges=int(dataset.test.nnz),
        peak_rss_mib=_peak_rss_mib(),
        threads=torch.get_num_threads(),
        date=time.strftime("%Y-%m-%d"),
    )
    return record


def plot(args: argparse.Namespace) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    records = [json.loads(line) for line in Path(args.results).read_text().splitlines() if line.strip()]
    fig, axes = plt.subplots(2, 3, figsize=(13, 7.5))
    axes = axes.ravel()
    slopes: dict[str, dict[str, float]] = {}
    for mode, marker in (("full", "o"), ("sampled", "s")):
        rows = sorted((r for r in records if r["mode"] == mode), key=lambda r: r["train_edges"])
        if len(rows) < 2:
            continue
        edges = np.array([r["train_edges"] for r in rows], dtype=float)
        for ax, name in zip(axes, QUANTITIES):
            values = np.array([r[name] for r in rows], dtype=float)
            slope, intercept = np.polyfit(np.log10(edges), np.log10(values), 1)
            local = np.diff(np.log10(values)) / np.diff(np.log10(edges))
            slopes.setdefault(mode, {})[name] = {
                "fit": round(float(slope), 3),
                "between_sizes": [round(float(x), 3) for x in local],
            }
            ax.loglog(edges, values, marker, label=f"{mode}: slope {slope:.2f}")
            ax.loglog(edges, 10 ** (intercept + slope * np.log10(edges)), "--", color=ax.lines[-1].get_color())
    for ax, name in zip(axes, QUANTITIES):
        ax.set_xlabel("training edges")
        ax.set_title(TITLES[name])
        ax.legend(fontsize=8)
        ax.grid(True, which="both", alpha=0.3)
    fig.suptitle(
        "LightGCN (dim 64, 3 layers) on graphrec synth graphs, 2 CPU cores: cost against training edges\n"
        "full propagation: batch 8192; sampled: batch 1024, fan-outs 5/5/5, sparse updates; "
        "dashed: least-squares fit in log-log"
    )
    fig.tight_layout()
    fig.savefig(args.png, dpi=110)
    print(json.dumps(slopes, indent=1))


def table(args: argparse.Namespace) -> None:
    """The BENCHMARKS.md table of the results, one row per (mode, graph)."""
    records = [json.loads(line) for line in Path(args.results).read_text().splitlines() if line.strip()]
    print(
        "| mode | train edges | users / items | load s | build s | s / step | steps / epoch | s / epoch "
        "| eval s | peak RSS MiB | nodes per step |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in sorted(records, key=lambda r: (r["mode"], r["train_edges"])):
        epoch = f"{r['epoch_s']:,.0f}" + (
            " (measured)" if r["epoch_measured"] else f" (from {r['steps_measured']} steps)"
        )
        print(
            f"| {r['mode']} | {r['train_edges']:,} | {r['users']:,} / {r['items']:,} | {r['load_s']:.1f} "
            f"| {r['build_s']:.1f} | {r['step_s_mean']:.3f} | {r['steps_per_epoch']:,} | {epoch} "
            f"| {r['eval_s']:.1f} | {r['peak_rss_mib']:,.0f} "
            f"| {'all' if r.get('step_input_nodes_mean') is None else format(round(r['step_input_nodes_mean']), ',')} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    run_parser = commands.add_parser("run", help="measure one graph in one mode")
    run_parser.add_argument("data")
    run_parser.add_argument("--mode", choices=["full", "sampled"], required=True)
    run_parser.add_argument("--batch", type=int, default=8192)
    run_parser.add_argument("--fanouts", default="5,5,5")
    run_parser.add_argument("--steps", type=int, default=20, help="0: the whole epoch")
    run_parser.add_argument("--eval-users", type=int, default=5000)
    run_parser.add_argument("--out", required=True, help="JSON lines file to append to")
    plot_parser = commands.add_parser("plot", help="log-log plot and fitted slopes")
    plot_parser.add_argument("results")
    plot_parser.add_argument("--png", required=True)
    table_parser = commands.add_parser("table", help="the results as a Markdown table")
    table_parser.add_argument("results")
    args = parser.parse_args()
    if args.command in ("plot", "table"):
        (plot if args.command == "plot" else table)(args)
        return
    record = run(args)
    line = json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in record.items()})
    print(line)
    with open(args.out, "a") as out:
        out.write(line + "\n")


if __name__ == "__main__":
    main()
