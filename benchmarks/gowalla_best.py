"""configs/gowalla_best.toml end to end: its member recipes, then the blend, each process timed.

    python benchmarks/gowalla_best.py --phase tuning   # members on tuning/train.txt, weights chosen on tuning/valid
    python benchmarks/gowalla_best.py --phase test     # members on train.txt, the config's weights, test read once

The tuning phase trains every member recipe (``--members``, default the three runs of configs/gowalla_best.toml) on
``DATA/tuning`` (its valid.txt is the validation split), then the blend with its weights unset: the blend searches
its simplex grid on tuning/valid.txt and writes the choice to selection.json. The test phase trains the same
recipes on all of ``DATA/train.txt`` and the blend with the weights of configs/gowalla_best.toml (``--weights``
replaces them), then evaluates the blend on test.txt once. Every process runs under ``/usr/bin/time -v``: end to end is
the sum of their wall times, peak RSS the largest of their maximum resident set sizes. Results merge into
benchmarks/gowalla_best_results.json under the phase's name.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import date
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from models import RESULTS as MODEL_RESULTS  # benchmarks/models.py
from models import SHARED, graphrec, timed

ROOT = Path(__file__).resolve().parent.parent
BLEND = ROOT / "configs" / "gowalla_best.toml"
MEMBERS = ["configs/gowalla_lightgcn.toml", "configs/gowalla_bspm.toml", "configs/gowalla_chebycf.toml"]
RESULTS = Path(__file__).with_name("gowalla_best_results.json")


def step(name: str, cmd: list[str], steps: list[dict[str, Any]]) -> str:
    """Run one timed process, record it, stop the benchmark on failure; returns its stdout."""
    done, wall, rss = timed(cmd)
    steps.append({"step": name, "command": " ".join(cmd[2:]), "wall_s": round(wall, 1), "peak_rss_mb": round(rss, 1)})
    print(json.dumps(steps[-1]), flush=True)
    if done.returncode != 0:
        raise SystemExit(f"{name} failed (exit {done.returncode}):\n{done.stderr.strip()}")
    return done.stdout


def run(args: argparse.Namespace) -> dict[str, Any]:
    data = args.data / "tuning" if args.phase == "tuning" else args.data
    out = args.out / args.phase
    steps: list[dict[str, Any]] = []
    runs = []
    for member in args.members:
        run_dir = out / Path(member).stem
        runs.append(str(run_dir))
        cmd = [*graphrec(), "train", "--config", str(ROOT / member), "--data", str(data), "--out", str(run_dir)]
        step(f"train {Path(member).stem}", [*cmd, "--no-progress"], steps)
    blend_dir = out / "blend"
    weights = "none" if args.phase == "tuning" else args.weights
    cmd = [*graphrec(), "train", "--config", str(BLEND), "--data", str(data), "--out", str(blend_dir), "--no-progress"]
    cmd += ["--set", f"model.runs={json.dumps(runs)}"]
    cmd += ["--set", f"model.weights={weights}"] if weights else []
    step("train blend", cmd, steps)
    result: dict[str, Any] = {
        "date": date.today().isoformat(),
        "members": args.members,
        "selection": json.loads((blend_dir / "selection.json").read_text()),
        "steps": steps,
        "end_to_end_s": round(sum(s["wall_s"] for s in steps), 1),
        "peak_rss_mb": max(s["peak_rss_mb"] for s in steps),
    }
    if args.phase == "test":
        evaluate = [*graphrec(), "evaluate", str(blend_dir), "--split", "test", "--k", "20", "--json"]
        result["test"] = json.loads(step("evaluate blend", evaluate, steps))
        for run_dir in runs:  # each member alone on test, outside the end-to-end time
            member = [*graphrec(), "evaluate", run_dir, "--split", "test", "--k", "20", "--json"]
            done, _, _ = timed(member)
            result.setdefault("members_test", {})[Path(run_dir).name] = json.loads(done.stdout)
        result["end_to_end_s"] = round(sum(s["wall_s"] for s in steps), 1)
        result["peak_rss_mb"] = max(s["peak_rss_mb"] for s in steps)
    return result


def add_model_row(result: dict[str, Any]) -> None:
    """The blend as a recipe row of benchmarks/models.py's Gowalla table (and so of models_plot.py's picture)."""
    steps = {s["step"]: s for s in result["steps"]}
    row = {
        "label": "gowalla_best (recipe)",
        "model": "blend",
        "date": result["date"],
        "result": {
            "command": "benchmarks/gowalla_best.py --phase test (members, blend, evaluate)",
            "time_budget_s": None,
            "valid_recall@20": None,
            "valid_ndcg@20": None,
            "test_recall@20": result["test"]["recall@20"],
            "test_ndcg@20": result["test"]["ndcg@20"],
            "epochs_run": 0,
            "best_epoch": 0,
            "stop_reason": "closed_form",
            "fit_s": sum(s["wall_s"] for name, s in steps.items() if name.startswith("train")),
            "train_process_s": sum(s["wall_s"] for name, s in steps.items() if name.startswith("train")),
            "evaluate_process_s": steps["evaluate blend"]["wall_s"],
            "wall_s": result["end_to_end_s"],
            "peak_rss_mb": result["peak_rss_mb"],
            "curve": [],
        },
    }
    everything = json.loads(MODEL_RESULTS.read_text()) if MODEL_RESULTS.is_file() else {}
    entry = everything.setdefault("gowalla", {"rows": []})
    entry["rows"] = [r for r in entry["rows"] if r["label"] != row["label"]] + [row]
    MODEL_RESULTS.write_text(json.dumps(everything, indent=2) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--phase", choices=["tuning", "test"], required=True)
    parser.add_argument("--data", type=Path, default=SHARED / "gowalla", help="LightGCN's Gowalla directory")
    parser.add_argument("--members", nargs="+", default=MEMBERS, help="member recipes, in the blend's run order")
    parser.add_argument("--weights", help="test phase: the blend's weights as a JSON list (default: the config's)")
    parser.add_argument("--out", type=Path, default=Path("/tmp/gowalla-best"))
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args()
    everything = json.loads(args.results.read_text()) if args.results.is_file() else {}
    everything[args.phase] = run(args)
    args.results.write_text(json.dumps(everything, indent=2) + "\n")
    if args.phase == "test":
        add_model_row(everything["test"])
    print(json.dumps({k: v for k, v in everything[args.phase].items() if k != "steps"}, indent=2))


if __name__ == "__main__":
    main()
