"""P̃·X on Gowalla's item graph (sparse path), two implementations: torch embedding bags (ItemGraph.propagate_columns)
and threaded scipy CSR × dense (the ColumnGraph that BSPM used until this comparison, kept here as the reference),
on the same I × B block; their outputs are compared too.

    python benchmarks/column_products.py --data ../shared/data/gowalla --widths 256 1024 2048 --repeats 3
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from itertools import pairwise
from pathlib import Path

import numpy as np
import scipy.sparse as sp
import torch

from graphrec.config.sections import DataConfig
from graphrec.data.loading import load_dataset
from graphrec.graph.itemfilter import ItemGraph


class ColumnGraph:
    """The reference: P̃X = R̃ᵀ(R̃X) as two CSR × dense products, each split into `threads` row blocks in parallel."""

    def __init__(self, graph: ItemGraph, threads: int) -> None:
        self.user_blocks = row_blocks(graph.normalised, threads)
        self.item_blocks = row_blocks(sp.csr_matrix(graph.normalised.T), threads)

    def apply(self, columns: np.ndarray) -> np.ndarray:
        return product(self.item_blocks, product(self.user_blocks, np.ascontiguousarray(columns, np.float32)))


def row_blocks(matrix: sp.csr_matrix, parts: int) -> list[tuple[int, int, sp.csr_matrix]]:
    cuts = np.searchsorted(matrix.indptr, np.linspace(0, matrix.nnz, parts + 1)[1:-1])
    bounds = [0, *sorted({int(c) for c in cuts if 0 < c < matrix.shape[0]}), matrix.shape[0]]
    return [(a, b, sp.csr_matrix(matrix[a:b])) for a, b in pairwise(bounds)]


def product(blocks: list[tuple[int, int, sp.csr_matrix]], dense: np.ndarray) -> np.ndarray:
    out = np.empty((blocks[-1][1], dense.shape[1]), dtype=np.float32)

    def block(item: tuple[int, int, sp.csr_matrix]) -> None:
        out[item[0] : item[1]] = item[2] @ dense

    with ThreadPoolExecutor(len(blocks)) as pool:
        list(pool.map(block, blocks))
    return out


def best_of(repeats: int, fn: Callable[[np.ndarray], np.ndarray], columns: np.ndarray) -> tuple[float, np.ndarray]:
    times, out = [], columns
    for _ in range(repeats):
        started = time.perf_counter()
        out = fn(columns)
        times.append(time.perf_counter() - started)
    return min(times), out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", type=Path, default=Path("../shared/data/gowalla"))
    parser.add_argument("--widths", type=int, nargs="+", default=[256, 1024, 2048])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    data = load_dataset(DataConfig(path=str(args.data), valid_ratio=0.0), seed=0)
    graph = ItemGraph(sp.csr_matrix(data.train), 0.5, 0.5, 0.0)
    columns_graph = ColumnGraph(graph, torch.get_num_threads())
    rng = np.random.default_rng(0)
    for width in args.widths:
        columns = rng.random((graph.num_items, width), dtype=np.float32)
        bags, out_bags = best_of(args.repeats, graph.propagate_columns, columns)
        scipy_s, out_scipy = best_of(args.repeats, columns_graph.apply, columns)
        gap = float(np.max(np.abs(out_bags - out_scipy)) / np.max(np.abs(out_scipy)))
        row = {"width": width, "bags_s": round(bags, 3), "scipy_threads_s": round(scipy_s, 3), "max_rel_gap": gap}
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
