"""ChebyCF settings on the Gowalla tuning split (tuning/train.txt + tuning/valid.txt): never touches test.txt.

The Chebyshev terms T_k(L̃)·x of a user batch do not depend on the flatness φ, the ideal weight α or the order K
(a prefix of them): per degree-normalisation power β they are computed once per batch and every (K, φ, α) is a
linear combination of them, so a grid costs one filtering pass per β (and one SVD per rank). Scores are ranked and
scored exactly as graphrec's evaluator (training items masked, Recall/NDCG@20), on a fixed random subset of the
validation users (`--users`, 0: all).

    python benchmarks/tune_chebycf.py --data ../shared/data/gowalla/tuning --users 10000 \\
        --betas 0.3 0.4 0.5 --flatness 1 1.5 2 3 --alphas 0 0.1 0.2 0.3 --orders 8 --ranks 512
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg
import torch

from graphrec.config.sections import DataConfig
from graphrec.data.loading import load_dataset
from graphrec.evaluation.metrics import hit_matrix, per_user_metrics, users_with_targets
from graphrec.graph.itemfilter import (
    IdealFilter,
    ItemGraph,
    chebyshev_coefficients,
    degree_power,
    top_right_singular_vectors,
)
from graphrec.models.chebycf import plateau
from graphrec.retrieval import mask_seen, top_k

log = logging.getLogger("tune_chebycf")


def chebyshev_terms(graph: ItemGraph, signal: sp.csr_matrix, order: int) -> list[np.ndarray]:
    """[T_0(L̃) xᵀ, …, T_K(L̃) xᵀ], each items × batch float32 (the recurrence of itemfilter.chebyshev_filter)."""
    terms = [np.ascontiguousarray(signal.toarray().T, dtype=np.float32)]
    for k in range(1, order + 1):
        product = graph.propagate_columns(terms[-1])
        following = terms[-1] - 2 * product if k == 1 else 2 * terms[-1] - 4 * product - terms[-2]
        terms.append(np.ascontiguousarray(following, dtype=np.float32))
    return terms


def exact_right_singular_vectors(matrix: sp.csr_matrix, rank: int) -> torch.Tensor:
    """(n_cols × rank) top right singular vectors by ARPACK (deterministic start vector), for comparison."""
    start = np.ones(min(matrix.shape), dtype=np.float64) / np.sqrt(min(matrix.shape))
    _, _, vt = scipy.sparse.linalg.svds(matrix.astype(np.float64), k=rank, v0=start)
    return torch.from_numpy(np.ascontiguousarray(vt.T, dtype=np.float32))


def grid(args: argparse.Namespace) -> list[tuple[int, float, float]]:
    return list(itertools.product(args.orders, args.flatness, args.alphas))


def coefficients_of(order: int, flatness: float, targets: str) -> np.ndarray:
    """graphrec's interpolation at the Chebyshev nodes ("nodes"), or the official code's pairing ("extrema"): the
    plateau's values at the extrema cos(πj/K), rounded to 3 decimals, taken as the values at the nodes."""
    if targets == "nodes":
        return chebyshev_coefficients(plateau(flatness), order)
    extrema = np.round(np.cos(np.pi * np.arange(order + 1) / order), 3)  # descending, as the nodes below
    values = np.round(plateau(flatness)(extrema), 3)
    return chebyshev_coefficients(lambda nodes: values, order)


def run_beta(beta: float, context: dict, args: argparse.Namespace) -> list[dict]:
    graph, train, valid, rows, degree = (context[k] for k in ("graph", "train", "valid", "rows", "degree"))
    pre, post = degree_power(degree, -beta), degree_power(degree, beta)
    sums = {(combo, rank): np.zeros(2) for combo in grid(args) for rank in args.ranks}
    counts = np.diff(valid.indptr)
    started = time.perf_counter()
    for start in range(0, len(rows), args.chunk):
        chunk = rows[start : start + args.chunk]
        signal = sp.csr_matrix(train[chunk].multiply(pre[None, :]), dtype=np.float32)
        terms = torch.from_numpy(np.stack(chebyshev_terms(graph, signal, max(args.orders))))  # (K+1, I, B)
        ideal = {rank: torch.from_numpy(context["ideal"][rank].apply(signal)) for rank in args.ranks}
        for order, flatness in itertools.product(args.orders, args.flatness):
            weights = torch.from_numpy(coefficients_of(order, flatness, args.targets).astype(np.float32))
            filtered = torch.tensordot(weights, terms[: order + 1], dims=1).T.contiguous()  # B × I
            for alpha, rank in itertools.product(args.alphas, args.ranks):
                scores = filtered.add(ideal[rank], alpha=alpha).mul_(torch.from_numpy(post))
                mask_seen(scores, train, chunk)
                values, indices = top_k(scores, 20)
                hits = hit_matrix(indices.numpy().astype(np.int64), values.numpy(), valid, chunk, train.shape[1])
                metrics = per_user_metrics(hits, counts[chunk], [20])
                sums[(order, flatness, alpha), rank] += [metrics["recall@20"].sum(), metrics["ndcg@20"].sum()]
        log.info("beta %.2f: %d / %d users, %.0f s", beta, start + len(chunk), len(rows), time.perf_counter() - started)
    results = []
    for ((order, flatness, alpha), rank), (recall, ndcg) in sums.items():
        setting = {"order": order, "flatness": flatness, "alpha": alpha, "rank": rank, "degree_power": beta}
        setting["targets"] = args.targets
        results.append({**setting, "recall@20": recall / len(rows), "ndcg@20": ndcg / len(rows)})
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path("../shared/data/gowalla/tuning"))
    parser.add_argument("--users", type=int, default=10_000, help="validation users scored (fixed subset); 0: all")
    parser.add_argument("--seed", type=int, default=0, help="seed of the user subset and of the SVD")
    parser.add_argument("--chunk", type=int, default=1024)
    parser.add_argument("--betas", type=float, nargs="+", default=[0.4])
    parser.add_argument("--flatness", type=float, nargs="+", default=[1.5])
    parser.add_argument("--alphas", type=float, nargs="+", default=[0.2])
    parser.add_argument("--orders", type=int, nargs="+", default=[8])
    parser.add_argument("--ranks", type=int, nargs="+", default=[512])
    parser.add_argument("--targets", choices=["nodes", "extrema"], default="nodes", help="see coefficients_of")
    parser.add_argument("--exact-svd", action="store_true", help="ARPACK svds, not randomized")
    parser.add_argument("--out", type=Path, default=Path(__file__).with_name("tune_chebycf_results.json"))
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    dataset = load_dataset(DataConfig(path=str(args.data), valid_ratio=0.0), seed=args.seed)
    train, valid = dataset.train, dataset.valid
    rows = users_with_targets(valid)
    if 0 < args.users < len(rows):
        rows = np.sort(np.random.default_rng(args.seed).choice(rows, args.users, replace=False))
    graph = ItemGraph(train, 0.5, 0.5, 0.0)
    degree = np.asarray(train.sum(axis=0)).ravel().astype(np.float32)
    ideal = {}
    for rank in args.ranks:
        started = time.perf_counter()
        vectors = exact_right_singular_vectors(graph.normalised, rank) if args.exact_svd else None
        vectors = top_right_singular_vectors(graph.normalised, rank, args.seed) if vectors is None else vectors
        ideal[rank] = IdealFilter(vectors, torch.from_numpy(degree), 0.0)
        log.info("rank %d SVD: %.0f s", rank, time.perf_counter() - started)
    context = {"graph": graph, "train": train, "valid": valid, "rows": rows, "degree": degree, "ideal": ideal}
    results = []
    for beta in args.betas:
        results += run_beta(beta, context, args)
    results.sort(key=lambda r: -r["ndcg@20"])
    for r in results:
        log.info("%s", r)
    previous = json.loads(args.out.read_text()) if args.out.exists() else []
    record = {"data": str(args.data), "users": len(rows), "seed": args.seed, "exact_svd": args.exact_svd}
    record["results"] = results
    args.out.write_text(json.dumps([*previous, record], indent=1) + "\n")


if __name__ == "__main__":
    main()
