"""The PinSAGE ablation over several seeds, with confidence intervals and paired tests (issue 17, point 5).

Rows (as in the paper's Table 1 and BENCHMARKS.md): max / mean / importance pooling, cross-entropy against
max-margin, hard negatives with and without curriculum, GraphSAGE-mean. Every row trains once per seed (the data
split fixed by ``data.seed``, only the model seed changing), then both tasks are scored on test:

* user task: full ranking, Recall@K / NDCG@K (graphrec evaluate's per-user values);
* related-item task: pairs (q, i), q the user's newest training item, i each test item, i ranked among all items
  but q (full ranking, not the paper's sampled protocol); per pair hit@10 and reciprocal rank.

Per row, each user's (each pair's) value is averaged over the seeds; rows are then compared on those values with
graphrec.evaluation.compare: 95% percentile-bootstrap intervals over users (pairs), paired t-test and Wilcoxon
against the baseline (mean-pooling), Holm-corrected across the rows. The spread over seeds is reported beside it.

    python benchmarks/pinsage_ablation.py --dataset movielens [--data ../shared/data/movielens-small] --out D
    graphrec synth --edges 5000000 --items 100000 --item-features --out /tmp/synth_feat
    python benchmarks/pinsage_ablation.py --dataset synthetic --data /tmp/synth_feat --out D2 --epochs 2
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import sys
import time
from datetime import date
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from graphrec.assessment import run_dataset, score_split  # noqa: E402
from graphrec.config import RunConfig, apply_overrides, config_from_dict, config_to_dict, load_config  # noqa: E402
from graphrec.evaluation.compare import UserValues, compare  # noqa: E402
from graphrec.evaluation.related import last_item_pairs, protocol_label, related_item_ranks  # noqa: E402
from graphrec.runs import load_run, train  # noqa: E402

BASELINE = "mean-pooling"
ROWS = {
    "mean-pooling": ["model.pooling=mean", "train.hard_negatives=0"],
    "max-pooling": ["model.pooling=max", "train.hard_negatives=0"],
    "importance-pooling": ["model.pooling=importance", "train.hard_negatives=0"],
    "mean-pooling-xent": ["model.pooling=mean", "train.hard_negatives=0", "train.loss=bce"],
    "mean-pooling-hard": ["model.pooling=mean", "train.curriculum=false"],
    "mean-pooling-hard-curriculum": ["model.pooling=mean"],
    "PinSAGE (importance + hard + curriculum)": [],
    "GraphSAGE-mean": ["model.name=graphsage", "model.aggregator=mean", "train.hard_negatives=0"],
}
KS = [10, 20]


def base_overrides(args: argparse.Namespace) -> tuple[RunConfig, list[str]]:
    config = load_config(ROOT / "configs" / "movielens_pinsage.toml")
    if args.dataset == "movielens":
        data = [
            f'data.interactions="{args.data / "ratings.csv"}"',
            f'features.catalogue="{args.data / "movies.csv"}"',
            f'features.tags="{args.data / "tags.csv"}"',
        ]
    else:  # a graphrec synth --item-features directory: train.txt, test.txt, items.parquet
        values = config_to_dict(config)
        values["data"] = {"path": str(args.data), "valid_ratio": 0.1}
        values["features"] = {
            "catalogue": str(args.data / "items.parquet"),
            "item_col": "item_id",
            "text_cols": ["title"],
            "categorical_cols": ["genres"],
            "vector_col": "embedding",
            "extract_numeric": {},
            "text_encoder": "tfidf",
        }
        # 10⁵ items: the hard-negative PageRank as the sparse one-step walk, its window in the ranks that walk
        # reaches (ranks 200–1000 of 100k items), and a fresh sample of the ~4M pairs each epoch
        # and the fixed inference neighbourhoods from sampled walks (exact expected visits are dense in the catalogue)
        data = ["train.hard_ppr_steps=1", "train.hard_window=[0.002, 0.01]", f"train.pairs_per_epoch={args.pairs}"]
        data.append("model.inference_neighbourhoods=walks")
        config = config_from_dict(values)
    return config, [*data, "data.seed=2020", f"train.epochs={args.epochs}", "train.show_progress=false", *args.set]


def slug(name: str) -> str:
    return name.split(" ")[0].lower()


def train_rows(args: argparse.Namespace) -> dict[str, dict[int, Path]]:
    config, common = base_overrides(args)
    dirs: dict[str, dict[int, Path]] = {}
    for name in args.rows:
        for seed in args.seeds:
            run_dir = args.out / slug(name) / f"seed{seed}"
            dirs.setdefault(name, {})[seed] = run_dir
            if (run_dir / "summary.json").is_file():
                continue  # reused: trained by an earlier invocation with the same settings
            started = time.perf_counter()
            row = ROWS[name]
            # GraphSAGE's inference neighbourhoods are uniform samples already: PinSAGE's key is not its
            keep = [o for o in common if not (o.startswith("model.inference_") and "model.name=graphsage" in row)]
            train(apply_overrides(config, [*keep, f"seed={seed}", *row]), run_dir)
            print(f"{name} seed {seed}: {time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)
    return dirs


def seed_averaged(
    dirs: dict[str, dict[int, Path]], max_users: int | None = None, max_pairs: int | None = None
) -> tuple[dict, dict, dict]:
    """Per row: the user task's per-user values and the related task's per-pair values, averaged over seeds; and
    each seed's means (for the spread). `max_users` / `max_pairs`: a fixed random sample of the test users and of
    the related pairs (the same for every row), for catalogues where scoring all of them takes too long."""
    users: dict[str, UserValues] = {}
    pairs_values: dict[str, UserValues] = {}
    per_seed: dict[str, dict[int, dict[str, float]]] = {}
    dataset, pairs, users_sample = None, None, None
    for name, by_seed in dirs.items():
        stacks: dict[str, list[np.ndarray]] = {}
        related: list[np.ndarray] = []
        rows, zeros = None, 0
        for seed, run_dir in by_seed.items():
            run = load_run(run_dir)
            if dataset is None:
                dataset = run_dataset(run, None)
                pairs = last_item_pairs(dataset.train, dataset.test, dataset.train_timestamps)
                sample = np.random.default_rng(2020)  # the same users and pairs for every row and seed
                if max_pairs and len(pairs) > max_pairs:
                    pairs = pairs[np.sort(sample.choice(len(pairs), max_pairs, replace=False))]
                if max_users:
                    with_target = np.flatnonzero(np.diff(dataset.test.indptr) > 0)
                    if len(with_target) > max_users:
                        users_sample = np.sort(sample.choice(with_target, max_users, replace=False))
            scores = score_split(run, dataset, "test", KS, users=users_sample)
            assert rows is None or np.array_equal(rows, scores.values.rows), "same users in every seed"
            rows, zeros = scores.values.rows, scores.values.zeros
            for metric in (f"{m}@{k}" for k in KS for m in ("recall", "ndcg")):
                stacks.setdefault(metric, []).append(scores.values.per_user[metric])
            ranks = related_item_ranks(run.embeddings()[1], pairs)
            related.append(np.stack([(ranks <= 10).astype(np.float64), 1.0 / ranks]))
            n = len(rows) + zeros
            per_seed.setdefault(name, {})[seed] = {
                **{m: float(v[-1].sum() / n) for m, v in stacks.items()},
                "related_hit@10": float(related[-1][0].mean()),
                "related_mrr": float(related[-1][1].mean()),
            }
        users[name] = UserValues(rows, {m: np.mean(v, axis=0) for m, v in stacks.items()}, zeros)
        mean_related = np.mean(related, axis=0)
        pairs_values[name] = UserValues(
            np.arange(len(pairs)), {"related_hit@10": mean_related[0], "related_mrr": mean_related[1]}
        )
    return users, pairs_values, per_seed


def markdown(result: dict, per_seed: dict, baseline: str) -> str:
    lines = []
    for task, title in (("user", "User task (full ranking)"), ("related", result["related_protocol"])):
        comparison = result[task]
        metrics = comparison["metrics"]
        lines += [
            f"{title}: seed-averaged mean [95% CI over {comparison['num_users']} {'users' if task == 'user' else 'pairs'}]"
            f", Δ vs {baseline} with Holm-corrected p (paired t / Wilcoxon); ± = sd over seeds",
            "",
            "| row | " + " | ".join(metrics) + " | " + " | ".join(f"Δ {m} (p_t, p_W)" for m in metrics) + " |",
            "|---|" + "---|" * (2 * len(metrics)),
        ]
        for name in comparison["runs"]:
            cells = []
            for m in metrics:
                e = comparison["runs"][name][m]
                spread = np.std([per_seed[name][s][m] for s in per_seed[name]], ddof=1) if len(per_seed[name]) > 1 else 0
                cells.append(f"{e['mean']:.4f} [{e['ci'][0]:.4f}, {e['ci'][1]:.4f}] ± {spread:.4f}")
            for m in metrics:
                t = comparison["tests"].get(name, {}).get(m)
                cells.append("—" if t is None else f"{t['mean_diff']:+.4f} ({t['t_p_holm']:.2g}, {t['wilcoxon_p_holm']:.2g})")
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", choices=["movielens", "synthetic"], default="movielens")
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "movielens-small")
    parser.add_argument("--out", type=Path, default=ROOT / "bench_runs" / "pinsage_ablation")
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--seeds", type=int, nargs="+", default=[2020, 2021, 2022])
    parser.add_argument("--rows", nargs="+", default=list(ROWS), choices=list(ROWS))
    parser.add_argument("--pairs", type=int, default=200_000, help="synthetic: training pairs per epoch")
    parser.add_argument("--max-users", type=int, help="user task on a fixed random sample of this many test users")
    parser.add_argument("--max-pairs", type=int, help="related task on a fixed random sample of this many pairs")
    parser.add_argument("--set", action="append", default=[], help="extra config override, e.g. train.lr=0.002")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    if BASELINE not in args.rows:
        args.rows = [BASELINE, *args.rows]
    started = time.perf_counter()
    dirs = train_rows(args)
    users, pairs, per_seed = seed_averaged(dirs, args.max_users, args.max_pairs)
    result = {
        "date": date.today().isoformat(),
        "machine": f"{platform.node()} ({os.cpu_count()} cores)",
        "command": "python " + " ".join(sys.argv),
        "seeds": args.seeds,
        "epochs": args.epochs,
        "max_users": args.max_users,
        "max_pairs": args.max_pairs,
        "user": compare(users, BASELINE),
        "related": compare(pairs, BASELINE),
        "related_protocol": "Related-item task (" + protocol_label({"protocol": "full"}) + ")",
        "per_seed": per_seed,
        "seconds": round(time.perf_counter() - started, 1),
    }
    (args.out / "results.json").write_text(json.dumps(result, indent=2))
    print(markdown(result, per_seed, BASELINE))


if __name__ == "__main__":
    main()
