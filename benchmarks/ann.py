"""ANN index benchmark: Recall@K of HNSW and IVF relative to exact search, build time and query latency.

The index holds a run's item embeddings; the queries are all of its user embeddings (the serving workload:
maximum inner product, no seen-item mask, so this measures the index alone). Recall@K relative to exact is
|ANN top-K ∩ exact top-K| / K averaged over users. Latency: one query per call (the service's case; p50 / p99
over --single-queries random users) and all users in one batched call (per-query mean).

    python benchmarks/ann.py [--run /tmp/final_all/lightgcn-seed2020] [--out benchmarks/ann_results.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from datetime import date
from pathlib import Path

import numpy as np

from graphrec.index import build_index
from graphrec.runs import load_run


def recall_vs_exact(found: np.ndarray, exact: np.ndarray) -> float:
    """Mean over rows of |found ∩ exact| / K (both (n, K) id arrays; -1 never matches)."""
    k = exact.shape[1]
    hits = (found[:, :, None] == exact[:, None, :]) & (found[:, :, None] >= 0)
    return float(hits.any(axis=2).sum(axis=1).mean() / k)


def latency(index, queries: np.ndarray, k: int, single: int, seed: int) -> dict:
    """Per-query milliseconds: `single` one-query calls (p50/p99/mean), and one batched call over all queries."""
    rows = np.random.default_rng(seed).choice(len(queries), size=min(single, len(queries)), replace=False)
    index.search(queries[rows[:10]], k)  # warm-up
    times = []
    for row in rows:
        started = time.perf_counter()
        index.search(queries[row : row + 1], k)
        times.append(time.perf_counter() - started)
    started = time.perf_counter()
    _, ids = index.search(queries, k)
    batched = time.perf_counter() - started
    ms = np.array(times) * 1000
    return {
        "single_p50_ms": round(float(np.percentile(ms, 50)), 4),
        "single_p99_ms": round(float(np.percentile(ms, 99)), 4),
        "single_mean_ms": round(float(ms.mean()), 4),
        "batched_total_s": round(batched, 3),
        "batched_per_query_ms": round(batched * 1000 / len(queries), 4),
        "ids": ids,
    }


def sweep(kind: str, items: np.ndarray, users: np.ndarray, exact: np.ndarray, args, settings: list[dict]) -> list:
    """Build one index of `kind`, then measure recall and latency for each search setting."""
    build_options = settings[0]["build"]
    started = time.perf_counter()
    index = build_index(items, kind, **build_options)
    build_s = time.perf_counter() - started
    rows = []
    for setting in settings:
        for name, value in setting["search"].items():
            setattr(index, name, value)
        lat = latency(index, users, args.k, args.single_queries, args.seed)
        rows.append(
            {
                "kind": kind,
                "build": build_options,
                "search": setting["search"],
                "options": index.options(),
                "build_s": round(build_s, 3),
                f"recall@{args.k}": round(recall_vs_exact(lat.pop("ids"), exact), 5),
                **lat,
            }
        )
        print(json.dumps(rows[-1]), flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", default="/tmp/final_all/lightgcn-seed2020", help="trained run directory")
    parser.add_argument("--k", type=int, default=20)
    parser.add_argument("--m", type=int, default=32)
    parser.add_argument("--ef-construction", type=int, default=200)
    parser.add_argument("--ef-search", type=int, nargs="+", default=[16, 32, 64, 128, 256])
    parser.add_argument("--nlist", type=int, default=None, help="IVF lists (default: the index's automatic choice)")
    parser.add_argument("--nprobe", type=int, nargs="+", default=[8, 16, 32, 64, 128])
    parser.add_argument("--single-queries", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=str(Path(__file__).with_name("ann_results.json")))
    args = parser.parse_args()

    run = load_run(args.run)
    users, items = (t.detach().numpy().astype(np.float32) for t in run.embeddings())
    print(f"{len(items)} items, {len(users)} user queries, dim {items.shape[1]}", flush=True)
    started = time.perf_counter()
    exact_index = build_index(items, "exact")
    build_s = time.perf_counter() - started
    lat = latency(exact_index, users, args.k, args.single_queries, args.seed)
    exact = lat.pop("ids")
    exact_rows = [
        {"kind": "exact", "build": {}, "search": {}, "build_s": round(build_s, 3), f"recall@{args.k}": 1.0, **lat}
    ]
    print(json.dumps(exact_rows[0]), flush=True)
    hnsw = sweep(
        "hnsw",
        items,
        users,
        exact,
        args,
        [
            {"build": {"m": args.m, "ef_construction": args.ef_construction}, "search": {"ef_search": ef}}
            for ef in args.ef_search
        ],
    )
    ivf_build = {} if args.nlist is None else {"nlist": args.nlist}
    ivf = sweep("ivf", items, users, exact, args, [{"build": ivf_build, "search": {"nprobe": p}} for p in args.nprobe])
    result = {
        "run": args.run,
        "num_items": len(items),
        "num_queries": len(users),
        "dim": int(items.shape[1]),
        "k": args.k,
        "date": date.today().isoformat(),
        "cpus": os.cpu_count(),
        "machine": platform.machine(),
        "faiss_threads": _faiss_threads(),
        "rows": exact_rows + hnsw + ivf,
    }
    Path(args.out).write_text(json.dumps(result, indent=2))
    print(f"wrote {args.out}")


def _faiss_threads() -> int:
    import faiss

    return int(faiss.omp_get_max_threads())


if __name__ == "__main__":
    main()
