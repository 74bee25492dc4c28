"""PinSAGE / GraphSAGE on MovieLens latest-small: the paper's ablation rows and the user task next to MF and
LightGCN, all on one split.

Every model trains on the same per-user temporal split (configs/movielens_pinsage.toml: each user's newest 20% is
test, the newest 10% of the rest validation) for a fixed number of epochs; test is evaluated once per row.

    python benchmarks/movielens.py [--data ../shared/data/movielens-small] [--epochs 6] [--rows NAME ...]

Related-item task: held-out pairs (q, i) with q = the user's newest training item and i one of the user's test
items; i is ranked among all items by <z_q, z_·> (q excluded). hit_rate@10 = share of pairs with rank ≤ 10;
MRR = mean 1/rank; MRR_scaled = mean 1/⌈rank/100⌉ (the PinSAGE paper's variant).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from datetime import date
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from graphrec.config import RunConfig, apply_overrides, load_config  # noqa: E402
from graphrec.evaluation.related import evaluate_related, last_item_pairs, protocol_label  # noqa: E402
from graphrec.runs import evaluate_run, load_run, train  # noqa: E402

ABLATIONS = {
    "max-pooling": ["model.pooling=max", "train.hard_negatives=0"],
    "mean-pooling": ["model.pooling=mean", "train.hard_negatives=0"],
    "mean-pooling-xent": ["model.pooling=mean", "train.hard_negatives=0", "train.loss=bce"],
    "mean-pooling-hard": ["model.pooling=mean", "train.curriculum=false"],
    "PinSAGE (importance + hard + curriculum)": [],
    "GraphSAGE-mean": ["model.name=graphsage", "model.aggregator=mean", "train.hard_negatives=0"],
    "GraphSAGE-pool": ["model.name=graphsage", "model.aggregator=pool", "train.hard_negatives=0"],
    "GraphSAGE-LSTM": ["model.name=graphsage", "model.aggregator=lstm", "train.hard_negatives=0"],
}
EDGE = ["train.loss=bpr", "train.batch_size=2048", "train.lr=0.005", "train.negative_candidates=16"]
CORE = {
    "MF (BPR)": [
        "model.name=mf",
        "train.loss=bpr",
        "train.batch_size=2048",
        "train.lr=0.005",
        "train.epochs=60",
        "train.eval_every=10",
        "train.negative_candidates=16",
    ],
    "LightGCN": [
        "model.name=lightgcn",
        "model.num_layers=3",
        "train.loss=bpr",
        "train.batch_size=2048",
        "train.lr=0.005",
        "train.epochs=60",
        "train.eval_every=10",
        "train.negative_candidates=16",
    ],
    # the seed's other encoders (issue 15): the same edge recipe for the message-passing ones, the best validated
    # epoch kept; the walk models train their own skip-gram objective (defaults: 10 walks of 20 nodes, window 5)
    "NGCF": ["model.name=ngcf", "model.num_layers=3", *EDGE, "train.epochs=40", "train.eval_every=5"],
    "GCN": ["model.name=gcn", "model.num_layers=2", *EDGE, "train.epochs=40", "train.eval_every=5"],
    "GAT": ["model.name=gat", "model.num_layers=2", *EDGE, "train.epochs=15", "train.eval_every=5"],
    "DeepWalk": ["model.name=deepwalk", "train.epochs=6", "train.eval_every=1"],
    "node2vec (p 1, q 0.5)": ["model.name=node2vec", "model.q=0.5", "train.epochs=6", "train.eval_every=1"],
    # the Gowalla-tuned skip-gram (user–item contexts, typed noise, hardest of 8 noise draws), on data not tuned on
    "DeepWalk (cross, typed, dns8)": [
        "model.name=deepwalk",
        "model.contexts=other_side",
        "model.noise=context_side",
        "model.noise_candidates=8",
        "train.epochs=6",
        "train.eval_every=1",
    ],
}


def data_overrides(data: Path) -> list[str]:
    return [
        f'data.interactions="{data / "ratings.csv"}"',
        f'features.catalogue="{data / "movies.csv"}"',
        f'features.tags="{data / "tags.csv"}"',
    ]


def base_config(overrides: list[str]) -> RunConfig:
    """The PinSAGE config; for rows of other models (MF, LightGCN) only its seed, data split and features — its
    [model] and [train] keys belong to the item-graph models, and a model switch does not drop them silently."""
    config = load_config(ROOT / "configs" / "movielens_pinsage.toml")
    names = [o.split("=", 1)[1] for o in overrides if o.startswith("model.name=")]
    if names and names[-1] not in ("pinsage", "graphsage"):
        config = RunConfig(seed=config.seed, data=config.data, features=config.features)
    return config


def run_row(name: str, overrides: list[str], args: argparse.Namespace) -> dict:
    config = base_config(overrides)
    config = apply_overrides(
        config, [*data_overrides(args.data), f"train.epochs={args.epochs}", "train.show_progress=false", *overrides]
    )
    run_dir = args.out / name.split(" ")[0].replace("(", "").lower()
    started = time.perf_counter()
    summary = train(config, run_dir)
    seconds = time.perf_counter() - started
    user_task = evaluate_run(run_dir, "test", [20])
    run = load_run(run_dir)
    related = related_metrics(run, config)
    return {
        "name": name,
        "overrides": overrides,
        "user": user_task,
        "related": related,
        "train_s": summary["train_seconds"],
        "wall_s": round(seconds, 1),
        "epochs": summary["epochs_run"],
        "peak_rss_mb": summary["peak_rss_mb"],  # of this process: the row's own when run alone (--rows NAME)
    }


def related_metrics(run, config) -> dict:  # noqa: ANN001 - LoadedRun, RunConfig
    from graphrec.data import load_dataset

    dataset = load_dataset(config.data, seed=config.seed)
    pairs = last_item_pairs(dataset.train, dataset.test, dataset.train_timestamps)
    _, items = run.embeddings()
    return evaluate_related(items, pairs, ks=(10,))


def features_only_row(args: argparse.Namespace) -> dict:
    """No graph, no training: items by their raw (normalised) feature vectors; users by the same weighting."""
    from graphrec.data import load_dataset
    from graphrec.evaluation import evaluate_embeddings
    from graphrec.evaluation.metrics import dataset_unseen
    from graphrec.graph.walks import ItemGraph
    from graphrec.models.itemgraph import user_item_weights
    from graphrec.runs import model_inputs
    from graphrec.seeding import Stream, numpy_rng

    config = apply_overrides(load_config(ROOT / "configs" / "movielens_pinsage.toml"), data_overrides(args.data))
    dataset = load_dataset(config.data, seed=config.seed)
    features = torch.nn.functional.normalize(torch.from_numpy(model_inputs(config, dataset)["item_features"]), dim=1)
    weights = user_item_weights(
        ItemGraph(dataset.train),
        dataset.train,
        dataset.train_timestamps,
        config.model.user_recent_items,
        numpy_rng(0, Stream.ITEM_USER_WALKS),
    )
    users = torch.from_numpy(np.asarray(weights @ features.numpy(), dtype=np.float32))
    user_task = evaluate_embeddings(
        users, features, dataset.test, [dataset.train, dataset.valid], [20], unseen=dataset_unseen(dataset, "test")
    )  # unseen test items: misses
    pairs = last_item_pairs(dataset.train, dataset.test, dataset.train_timestamps)
    return {
        "name": "features only (no graph, no training)",
        "overrides": [],
        "user": user_task,
        "related": evaluate_related(features, pairs, ks=(10,)),
        "train_s": 0.0,
        "wall_s": 0.0,
        "epochs": 0,
    }


def ablation_table(rows: list[dict]) -> str:
    """Two tables, never one: the user task (full ranking) and the related-item task, headed by its protocol."""
    user = [
        "User task (full ranking over all items, training items masked):",
        "",
        "| model | user Recall@20 | user NDCG@20 | epochs | train time | peak RSS |",
        "|---|---|---|---|---|---|",
    ]
    protocols = {protocol_label(row["related"]) for row in rows}
    related = [
        f"Related-item task (PinSAGE §4.2, query = the user's newest training item; {' / '.join(sorted(protocols))}):",
        "",
        "| model | related hit@10 | related MRR | MRR (paper, ranks/100) |",
        "|---|---|---|---|",
    ]
    for row in rows:
        r, u = row["related"], row["user"]
        rss = f"{row['peak_rss_mb'] / 1024:.2f} GB" if "peak_rss_mb" in row else "—"
        user.append(
            f"| {row['name']} | {u['recall@20']:.4f} | {u['ndcg@20']:.4f} | {row['epochs']} | {row['train_s']:.0f} s "
            f"| {rss} |"
        )
        related.append(f"| {row['name']} | {r['hit_rate@10']:.4f} | {r['mrr']:.4f} | {r['mrr_scaled']:.4f} |")
    return "\n".join([*user, "", *related])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "movielens-small")
    parser.add_argument("--out", type=Path, default=ROOT / "bench_runs" / "movielens")
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--rows", nargs="*", help="only these row names (default: all)")
    args = parser.parse_args()
    if not (args.data / "ratings.csv").is_file():
        sys.exit(f"no ratings.csv in {args.data}; pass --data DIR with MovieLens latest-small")
    args.out.mkdir(parents=True, exist_ok=True)
    results_path = args.out / "results.json"
    rows = json.loads(results_path.read_text()) if results_path.is_file() else []
    wanted = {**ABLATIONS, **CORE}
    names = args.rows or ["features only (no graph, no training)", *wanted]
    for name in names:
        row = features_only_row(args) if name.startswith("features only") else run_row(name, wanted[name], args)
        rows = [r for r in rows if r["name"] != name] + [row]
        results_path.write_text(json.dumps(rows, indent=2))
        print(json.dumps({"name": name, **row["related"], **{k: row["user"][k] for k in ("recall@20", "ndcg@20")}}))
    order = {name: i for i, name in enumerate(["features only (no graph, no training)", *wanted])}
    rows.sort(key=lambda r: order.get(r["name"], 99))
    print(
        f"Measured {date.today().isoformat()} on {platform.node()} ({os.cpu_count()} cores), "
        f"command: python {' '.join(sys.argv)}\n"
    )
    print(ablation_table(rows))


if __name__ == "__main__":
    main()
