"""Two-stage table: test Recall@K / NDCG@K of full exact ranking vs ANN retrieval alone vs retrieval + rankers.

Rows (all on the same run's embeddings, seen = train + valid items excluded everywhere, metrics defined as in
`graphrec evaluate`):

* full exact ranking           every item scored (graphrec.evaluation.evaluate_embeddings)
* ANN retrieval top-K          the index's top K unseen items, in its order
* ANN top-N + exact score      N candidates re-scored with the model's dot product
* ANN top-N + learned ranker   N candidates re-scored by a logistic ranker (pointwise, and pairwise) fitted on
                               the run's validation split (only when the run has one; see
                               graphrec.ranking.rankers for the exact procedure)

Gowalla: the run must be trained on the tuning split (tuning/train.txt, with tuning/valid.txt as validation), so
the validation interactions are unseen by the embeddings; test.txt of --data (whose train.txt = tuning train +
valid) is the target and its train.txt the seen-mask. MovieLens (--own-split): the run's own data config gives
train / valid / test.

    python benchmarks/two_stage.py --run /tmp/serving_bench/lgcn_tuning --data ../shared/data/gowalla
    python benchmarks/two_stage.py --run /tmp/ml_bench/pinsage --own-split
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import time
from datetime import date
from pathlib import Path

import numpy as np
import scipy.sparse as sp
import torch

from graphrec.data import load_dataset
from graphrec.evaluation import evaluate_embeddings
from graphrec.index import build_index
from graphrec.ranking import ExactScoreRanker, RankingContext, evaluate_ranked, fit_learned_ranker, retrieve, top_k_of
from graphrec.runs import _data_seed, _remap, load_run


def splits(run, data: str | None) -> tuple[sp.csr_matrix, sp.csr_matrix, sp.csr_matrix]:
    """(valid, history, target) in the run's indices: validation labels, seen items at test time, test items."""
    own = load_dataset(run.config.data, seed=_data_seed(run.config))
    valid = _remap(own.valid, own, run)
    if data is None:
        return valid, _or(run.train, valid), _remap(own.test, own, run)
    config = copy.deepcopy(run.config.data)
    config.path, config.interactions, config.valid_ratio = data, None, 0.0
    full = load_dataset(config, seed=_data_seed(run.config))
    return valid, _or(_or(run.train, valid), _remap(full.train, full, run)), _remap(full.test, full, run)


def _or(a: sp.csr_matrix, b: sp.csr_matrix) -> sp.csr_matrix:
    return ((abs(a) + abs(b)) > 0).astype(np.float32).tocsr()


def users_with(matrix: sp.csr_matrix) -> np.ndarray:
    return np.flatnonzero(np.diff(matrix.indptr) > 0)


def ranked_lists(
    index, context: RankingContext, rows: np.ndarray, rankers: dict, n: int, k: int, chunk: int = 2048
) -> tuple[dict, dict, dict]:
    """Top-k lists per ranker (plus the raw candidates as 'candidates@n'), and seconds per stage."""
    out = {name: [np.empty((0, k), np.int64), np.empty((0, k), np.float32)] for name in rankers}
    cand_lists = [np.empty((0, n), np.int64), np.empty((0, n), np.float32)]
    seconds = {"retrieve": 0.0, **{name: 0.0 for name in rankers}}
    for start in range(0, len(rows), chunk):
        t = time.perf_counter()
        cands = retrieve(index, context.user_emb, rows[start : start + chunk], context.history, n)
        seconds["retrieve"] += time.perf_counter() - t
        cand_lists = [np.vstack([cand_lists[0], cands.items]), np.vstack([cand_lists[1], cands.scores])]
        for name, ranker in rankers.items():
            t = time.perf_counter()
            items, scores = top_k_of(cands, ranker.score(cands, context), k)
            seconds[name] += time.perf_counter() - t
            out[name] = [np.vstack([out[name][0], items]), np.vstack([out[name][1], scores])]
    return out, {"items": cand_lists[0], "scores": cand_lists[1]}, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", required=True)
    parser.add_argument("--data", default="../shared/data/gowalla", help="LightGCN dir with test.txt")
    parser.add_argument("--own-split", action="store_true", help="use the run's own train/valid/test split")
    parser.add_argument("--kind", default="hnsw")
    parser.add_argument("--set", action="append", default=[], help="index option NAME=VALUE, e.g. ef_search=128")
    parser.add_argument("--n-candidates", type=int, default=200)
    parser.add_argument("--k", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", required=True, help="results JSON (the fitted ranker goes beside it)")
    args = parser.parse_args()
    from graphrec.index import parse_index_options

    run = load_run(args.run)
    valid, history, target = splits(run, None if args.own_split else args.data)
    users, items = (t.detach().numpy().astype(np.float32) for t in run.embeddings())
    path = Path(args.run) / "item_features.npy"
    features = np.load(path, allow_pickle=False) if path.is_file() else None
    test_rows = users_with(target)
    result = {
        "run": args.run,
        "date": date.today().isoformat(),
        "cpus": os.cpu_count(),
        "k": args.k,
        "n_candidates": args.n_candidates,
        "test_users": int(len(test_rows)),
        "rows": {},
    }
    ks = [args.k]
    t = time.perf_counter()
    result["rows"]["full exact ranking"] = evaluate_embeddings(
        torch.from_numpy(users), torch.from_numpy(items), target, [history], ks
    )
    result["full_exact_s"] = round(time.perf_counter() - t, 2)
    options = parse_index_options(args.set)
    t = time.perf_counter()
    index = build_index(items, args.kind, **options)
    result["index"] = {"kind": args.kind, "options": index.options(), "build_s": round(time.perf_counter() - t, 2)}

    rankers: dict = {"exact score": ExactScoreRanker()}
    if valid.nnz:
        fit_context = RankingContext(users, items, run.train, features)
        fit_rows = users_with(valid)
        cands = retrieve(index, users, fit_rows, run.train, args.n_candidates)
        result["ranker"] = {}
        for objective in ("pointwise", "pairwise"):
            t = time.perf_counter()
            ranker = fit_learned_ranker(cands, fit_context, valid, seed=args.seed, objective=objective)
            ranker.save(Path(args.out).with_suffix("") / f"ranker-{objective}")
            result["ranker"][objective] = {
                "fit_s": round(time.perf_counter() - t, 2),
                "weights": dict(zip(ranker.feature_names, ranker.weights.tolist())),
                "bias": ranker.bias,
                "report": ranker.report,
            }
            rankers[f"learned ranker ({objective})"] = ranker
    context = RankingContext(users, items, history, features)
    # Retrieval alone: ask the index for k unseen items and keep its order and scores.
    _, alone, alone_s = ranked_lists(index, context, test_rows, {}, args.k, args.k)
    result["rows"][f"{args.kind} retrieval top-{args.k}"] = evaluate_ranked(
        alone["items"], alone["scores"], test_rows, target, ks
    )
    lists, cands, seconds = ranked_lists(index, context, test_rows, rankers, args.n_candidates, args.k)
    result["candidate_recall"] = evaluate_ranked(
        cands["items"], cands["scores"], test_rows, target, [args.n_candidates]
    )[f"recall@{args.n_candidates}"]
    for name, (top_items, top_scores) in lists.items():
        result["rows"][f"{args.kind} top-{args.n_candidates} + {name}"] = evaluate_ranked(
            top_items, top_scores, test_rows, target, ks
        )
    result["ms_per_user"] = {
        f"retrieve top-{args.k}": 1000 * alone_s["retrieve"] / len(test_rows),
        **{k: 1000 * v / len(test_rows) for k, v in seconds.items()},
    }
    Path(args.out).write_text(json.dumps(result, indent=2))
    for name, metrics in result["rows"].items():
        print(
            f"{name:<40} recall@{args.k} {metrics[f'recall@{args.k}']:.4f}  ndcg@{args.k} "
            f"{metrics[f'ndcg@{args.k}']:.4f}"
        )
    print(json.dumps({k: v for k, v in result.items() if k != "rows"}, indent=2))


if __name__ == "__main__":
    main()
