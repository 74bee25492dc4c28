"""Every registered model with its defaults on one dataset: validation + test Recall/NDCG@20, fit time, end-to-end
wall time and peak memory, one subprocess per model.

    python benchmarks/models.py --dataset movielens|gowalla|synthetic [--data DIR] [--models NAME ...]
        [--config configs/X.toml ...] [--variant LABEL=MODEL:key=value,key=value ...] [--time-budget-s 600]

Each row is `graphrec train --model NAME` given nothing but the data (and, for a time budget, `train.time_budget_s`),
then `graphrec evaluate RUN --split test --k 20 --json` — two processes, each under `/usr/bin/time -v`. Validation
metrics are the best validation pass of the run (summary.json); test is evaluated once. End to end = the train
process (load, fit, validation, save) + the evaluate process (load, full ranking of test). Peak RSS = the larger of
the two processes' maximum resident set sizes. A model that refuses the data (EASE above its item budget) is kept as a
row with its one-line error.

Datasets (the split is the data's own; validation is carved from train by the defaults where the data has none):

* gowalla — LightGCN's split, ``--data DIR`` with train.txt / test.txt (default ../shared/data/gowalla).
* movielens — MovieLens latest-small as benchmarks/movielens.py loads it: ratings.csv, every rating an interaction,
  per user the newest 20% test and the newest 10% of the rest validation; item features (movies.csv, tags.csv) for
  the feature models (PinSAGE, GraphSAGE).
* synthetic — ``graphrec synth --edges 250000 --seed 0`` (power-law degrees, planted communities; written once into
  ``--data``, default /tmp/graphrec-synth-250k), no item features.

``--config FILE`` adds a row trained with that config (its data section replaced by the dataset's); ``--variant``
adds a row of one model with extra ``--set`` keys (e.g. ``lgcn-dns1=lightgcn:train.negative_candidates=1``). Results
merge into ``benchmarks/models_results.json`` (one table per dataset, rows keyed by label); the table is printed as
Markdown. Plot: benchmarks/models_plot.py.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from graphrec.config.models import MODEL_CONFIGS, Objective  # noqa: E402

RESULTS = Path(__file__).with_name("models_results.json")
# ../shared/data beside the checkout (a worktree one level further down: ../../shared/data)
SHARED = next((p / "shared" / "data" for p in (ROOT.parent, ROOT.parent.parent) if (p / "shared").is_dir()), Path())
SYNTH_EDGES = 250_000
FEATURE_MODELS = ("pinsage", "graphsage")
ML_DATA = [
    'data.user_col="userId"',
    'data.item_col="movieId"',
    'data.split="user_temporal"',
    "data.test_ratio=0.2",
    "data.valid_ratio=0.1",
]


@dataclass
class Row:
    """One benchmark row: a label, how it is trained (`train` CLI arguments) and what came out."""

    label: str
    model: str
    args: list[str] = field(default_factory=list)
    result: dict[str, Any] = field(default_factory=dict)


def data_args(dataset: str, data: Path, model: str) -> list[str]:
    """The `graphrec train` arguments that point model `model` at the dataset (and only at it)."""
    if dataset in ("gowalla", "synthetic"):
        return ["--data", str(data)]
    sets = [f"data.interactions={json.dumps(str(data / 'ratings.csv'))}", *ML_DATA]
    if model in FEATURE_MODELS:
        sets += [
            f"features.catalogue={json.dumps(str(data / 'movies.csv'))}",
            f"features.tags={json.dumps(str(data / 'tags.csv'))}",
            'features.item_col="movieId"',
        ]
    return [arg for item in sets for arg in ("--set", item)]


def default_data(dataset: str) -> Path:
    return {
        "gowalla": SHARED / "gowalla",
        "movielens": SHARED / "movielens-small",
        "synthetic": Path("/tmp") / f"graphrec-synth-{SYNTH_EDGES // 1000}k",
    }[dataset]


def ensure_synthetic(data: Path) -> None:
    """Write the generated dataset once (deterministic for its seed)."""
    if (data / "train.txt").is_file():
        return
    subprocess.run(
        [*graphrec(), "synth", "--edges", str(SYNTH_EDGES), "--seed", "0", "--out", str(data)],
        check=True,
        env=env(),
    )


def graphrec() -> list[str]:
    return [sys.executable, "-m", "graphrec", "-q"]


def env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT / "src")}


def timed(cmd: list[str]) -> tuple[subprocess.CompletedProcess[str], float, float]:
    """Run `cmd` under /usr/bin/time -v: (process, wall seconds, peak RSS MiB); time's report is cut from stderr."""
    started = time.perf_counter()
    done = subprocess.run(["/usr/bin/time", "-v", *cmd], check=False, capture_output=True, text=True, env=env())
    wall = time.perf_counter() - started
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", done.stderr)
    done.stderr = re.split(r"(?:Command exited with non-zero status \d+\n)?\tCommand being timed:", done.stderr)[0]
    return done, wall, int(rss.group(1)) / 1024 if rss else float("nan")


def trained(model: str) -> bool:
    return MODEL_CONFIGS[model].objective is not Objective.CLOSED_FORM


def run_row(row: Row, args: argparse.Namespace) -> dict[str, Any]:
    run_dir = args.out / args.dataset / row.label
    shutil.rmtree(run_dir, ignore_errors=True)
    cmd = [*graphrec(), "train", *row.args, *data_args(args.dataset, args.data, row.model)]
    cmd += ["--out", str(run_dir), "--seed", str(args.seed), "--no-progress"]
    budget = args.time_budget_s if trained(row.model) else None
    if budget is not None:
        cmd += ["--set", f"train.time_budget_s={budget}"]
    done, train_wall, train_rss = timed(cmd)
    result: dict[str, Any] = {"command": " ".join(cmd[2:]), "time_budget_s": budget}
    if done.returncode != 0:
        lines = [line for line in done.stderr.strip().splitlines() if line.strip()]
        return {**result, "refused": lines[-1] if lines else f"exit {done.returncode}", "wall_s": round(train_wall, 1)}
    summary = json.loads((run_dir / "summary.json").read_text())
    test, eval_wall, eval_rss = {"recall@20": None, "ndcg@20": None}, 0.0, 0.0
    if has_test(args):  # a tuning split (train.txt + valid.txt) has no test to evaluate
        evaluated, eval_wall, eval_rss = timed(
            [*graphrec(), "evaluate", str(run_dir), "--split", "test", "--k", "20", "--json"]
        )
        if evaluated.returncode != 0:
            raise SystemExit(f"evaluate failed for {row.label}: {evaluated.stderr.strip()}")
        test = json.loads(evaluated.stdout)
    valid = summary["valid"]
    return {
        **result,
        "valid_recall@20": valid.get("recall@20"),
        "valid_ndcg@20": valid.get("ndcg@20"),
        "test_recall@20": test["recall@20"],
        "test_ndcg@20": test["ndcg@20"],
        "epochs_run": summary["epochs_run"],
        "best_epoch": summary["best_epoch"],
        "stop_reason": summary["stop_reason"],
        "fit_s": summary["train_seconds"],
        "train_process_s": round(train_wall, 1),
        "evaluate_process_s": round(eval_wall, 1),
        "wall_s": round(train_wall + eval_wall, 1),
        "peak_rss_mb": round(max(train_rss, eval_rss), 1),
        "train_rss_mb": round(train_rss, 1),
        "evaluate_rss_mb": round(eval_rss, 1),
        "curve": curve(run_dir),
    }


def has_test(args: argparse.Namespace) -> bool:
    return args.dataset == "movielens" or (args.data / "test.txt").is_file()


def curve(run_dir: Path) -> list[list[float]]:
    """[epoch, seconds so far (training + validation), valid Recall@20, valid NDCG@20] of every validation pass."""
    history = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return [
        [h["epoch"], round(h["elapsed_seconds"], 2), h["valid"].get("recall@20"), h["valid"].get("ndcg@20")]
        for h in history
        if h.get("valid")
    ]


def build_rows(args: argparse.Namespace) -> list[Row]:
    rows = [Row(name, name, ["--model", name]) for name in args.models]
    for config in args.config:
        model = _config_model(Path(config))
        rows.append(Row(f"{Path(config).stem} (recipe)", model, ["--config", str(config), *_reset_data(args.dataset)]))
    for variant in args.variant:
        label, _, spec = variant.partition("=")
        model, _, sets = spec.partition(":")
        if model not in MODEL_CONFIGS or not label:
            raise SystemExit(f"--variant: expected LABEL=MODEL:key=value,..., MODEL one of {', '.join(MODEL_CONFIGS)}")
        rows.append(Row(label, model, ["--model", model, *[a for s in sets.split(",") if s for a in ("--set", s)]]))
    return rows


def _config_model(path: Path) -> str:
    from graphrec.config import load_config

    return load_config(path).model.name


def _reset_data(dataset: str) -> list[str]:
    """A recipe's data source is replaced by the dataset's (`--data` clears data.interactions itself)."""
    return ["--set", "data.path=none"] if dataset == "movielens" else []


def table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| model | valid Recall@20 | valid NDCG@20 | test Recall@20 | test NDCG@20 | epochs (best) | stop | fit |"
        " end to end | peak RSS |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        r = row["result"]
        if "refused" in r:
            lines.append(f"| {row['label']} | refused: {r['refused']} | | | | | | | {r['wall_s']:.1f} s | |")
            continue
        epochs = f"{r['epochs_run']} ({r['best_epoch']})" if r["stop_reason"] != "closed_form" else "—"
        stop = r["stop_reason"] + (f" {r['time_budget_s']:.0f} s" if r["stop_reason"] == "time_budget" else "")
        lines.append(
            f"| {row['label']} | {_f(r['valid_recall@20'])} | {_f(r['valid_ndcg@20'])} | {_f(r['test_recall@20'])} | "
            f"{_f(r['test_ndcg@20'])} | {epochs} | {stop} | {_t(r['fit_s'])} | {_t(r['wall_s'])} | "
            f"{r['peak_rss_mb'] / 1024:.2f} GB |"
        )
    return "\n".join(lines)


def _f(value: float | None) -> str:
    return "—" if value is None else f"{value:.4f}"


def _t(seconds: float) -> str:
    return f"{seconds:.1f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", choices=["gowalla", "movielens", "synthetic"], required=True)
    parser.add_argument("--data", type=Path, help="the dataset's directory (default: see above)")
    parser.add_argument("--models", nargs="*", default=list(MODEL_CONFIGS), help="registered models (default: all)")
    parser.add_argument("--config", nargs="*", default=[], help="tuned recipes (configs/*.toml) as extra rows")
    parser.add_argument("--variant", nargs="*", default=[], help="extra rows LABEL=MODEL:key=value,key=value")
    parser.add_argument("--time-budget-s", type=float, help="train.time_budget_s of the trained models")
    parser.add_argument("--seed", type=int, default=2020)
    parser.add_argument("--out", type=Path, default=Path("/tmp/graphrec-models"), help="run directories")
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args()
    args.data = args.data or default_data(args.dataset)
    unknown = [m for m in args.models if m not in MODEL_CONFIGS]
    if unknown:
        raise SystemExit(f"--models: unknown {', '.join(unknown)}; registered: {', '.join(MODEL_CONFIGS)}")
    if args.dataset == "synthetic":
        ensure_synthetic(args.data)
    everything = json.loads(args.results.read_text()) if args.results.is_file() else {}
    entry = everything.setdefault(args.dataset, {"rows": []})
    for row in build_rows(args):
        row.result = run_row(row, args)
        record = {"label": row.label, "model": row.model, "result": row.result, "date": date.today().isoformat()}
        entry["rows"] = [r for r in entry["rows"] if r["label"] != row.label] + [record]
        entry.update(
            machine=f"{platform.node()} ({os.cpu_count()}-core CPU, {platform.machine()})", data=str(args.data)
        )
        args.results.write_text(json.dumps(everything, indent=2) + "\n")
        print(json.dumps({"label": row.label, **row.result}), flush=True)
    print(f"\nMeasured {date.today().isoformat()}, command: python {' '.join(sys.argv)}\n")
    print(table(entry["rows"]))


if __name__ == "__main__":
    main()
