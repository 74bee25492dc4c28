"""Side-by-side cost of one LightGCN training epoch on Gowalla: the textbook way vs graphrec's.

Textbook (as the reference implementations do it): per mini-batch of 2048, a full 3-layer propagation with a COO
sparse matmul under autograd, and negatives drawn per user in a Python loop with rejection against a set.
graphrec: CSR propagation with the symmetric custom backward, vectorised rejection sampling, larger batches.
Both time the same number of steps on the same graph and scale to a full epoch (810k training edges).

    python benchmarks/textbook_speed.py [--data ../shared/data/gowalla] [--steps 10]
"""

from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path

import numpy as np
import torch

from graphrec.config import RunConfig
from graphrec.data import DataConfig, load_dataset
from graphrec.graph import normalized_adjacency
from graphrec.losses import bpr_loss, l2_penalty
from graphrec.models import build_model
from graphrec.samplers import UniformNegativeSampler

ROOT = Path(__file__).resolve().parent.parent


def textbook_negatives(users: np.ndarray, positives: list[set[int]], num_items: int, rng: random.Random) -> np.ndarray:
    out = np.empty(len(users), dtype=np.int64)
    for row, user in enumerate(users):
        while True:
            item = rng.randrange(num_items)
            if item not in positives[user]:
                out[row] = item
                break
    return out


def textbook_steps(dataset, steps: int, batch: int) -> dict[str, float]:
    adj = normalized_adjacency(dataset.train).tocoo()
    coo = torch.sparse_coo_tensor(np.vstack([adj.row, adj.col]), adj.data, adj.shape).coalesce()
    emb = torch.nn.Parameter(torch.randn(adj.shape[0], 64) * 0.1)
    optimizer = torch.optim.Adam([emb], lr=0.001)
    positives = [
        set(dataset.train.indices[dataset.train.indptr[u] : dataset.train.indptr[u + 1]].tolist())
        for u in range(dataset.num_users)
    ]
    users_all, items_all = dataset.train_edges()
    rng, timings = random.Random(0), {"sampling": 0.0, "step": 0.0}
    for step in range(steps):
        started = time.perf_counter()
        pick = np.random.default_rng(step).integers(0, len(users_all), batch)
        users, pos = users_all[pick], items_all[pick]
        neg = textbook_negatives(users, positives, dataset.num_items, rng)
        timings["sampling"] += time.perf_counter() - started
        started = time.perf_counter()
        layers, x = [emb], emb
        for _ in range(3):
            x = torch.sparse.mm(coo, x)
            layers.append(x)
        final = torch.stack(layers).mean(0)
        u, i = final[: dataset.num_users], final[dataset.num_users :]
        loss = bpr_loss(u[users], i[pos], i[neg]) + 1e-4 * l2_penalty(
            emb[users], emb[dataset.num_users + pos], emb[dataset.num_users + neg], batch_size=batch
        )
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        timings["step"] += time.perf_counter() - started
    return {k: v / steps for k, v in timings.items()}


def graphrec_steps(dataset, steps: int, batch: int) -> dict[str, float]:
    config = RunConfig()
    model = build_model(config.model, dataset.num_users, dataset.num_items, dataset.train)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.001)
    sampler = UniformNegativeSampler(dataset.train, seed=0)
    users_all, items_all = dataset.train_edges()
    timings = {"sampling": 0.0, "step": 0.0}
    for step in range(steps):
        started = time.perf_counter()
        pick = np.random.default_rng(step).integers(0, len(users_all), batch)
        users, pos = torch.from_numpy(users_all[pick]), torch.from_numpy(items_all[pick])
        neg = torch.from_numpy(sampler.sample(users.numpy(), 1)[:, 0])
        timings["sampling"] += time.perf_counter() - started
        started = time.perf_counter()
        u, i = model.embeddings()
        ego_u, ego_i = model.ego_embeddings()
        loss = bpr_loss(u[users], i[pos], i[neg]) + 1e-4 * l2_penalty(
            ego_u[users], ego_i[pos], ego_i[neg], batch_size=batch
        )
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        timings["step"] += time.perf_counter() - started
    return {k: v / steps for k, v in timings.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "gowalla")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--batch", type=int, default=8192, help="graphrec's batch size")
    args = parser.parse_args()
    dataset = load_dataset(DataConfig(path=str(args.data), valid_ratio=0.0), seed=0)
    edges = dataset.train.nnz
    result = {"edges": edges}
    for name, fn, batch in (
        ("textbook", textbook_steps, 2048),
        ("graphrec_b2048", graphrec_steps, 2048),
        (f"graphrec_b{args.batch}", graphrec_steps, args.batch),
    ):
        per_step = fn(dataset, args.steps, batch)
        steps_per_epoch = int(np.ceil(edges / batch))
        result[name] = {
            **{f"{k}_s_per_step": round(v, 4) for k, v in per_step.items()},
            "batch": batch,
            "epoch_s": round(steps_per_epoch * sum(per_step.values()), 1),
        }
        print(json.dumps({name: result[name]}))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
