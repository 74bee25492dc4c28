"""Item-pair training for PinSAGE / GraphSAGE (PinSAGE §3.3).

- Positive pairs (q, i): items engaged consecutively by the same user (by timestamp; see :func:`co_engagement_pairs`).
- Negatives: `train.shared_negatives` uniform items shared by every pair of a mini-batch, plus hard negatives drawn
  from items ranked in a window of q's personalised PageRank (`train.hard_window`), added by a curriculum
  (epoch n uses n − 1 hard negatives per query, capped by `train.hard_negatives`). Optionally the loss sees a
  distance-weighted sample of the shared negatives per query (Wu et al. 2017).
- Loss: max-margin  max(0, z_q·z_n − z_q·z_i + Δ)  averaged over negatives (or BCE / BPR for ablations).
- No label leakage: a pair's own edge (q, i) is removed from every sampled neighbourhood of the batch.
- Producer–consumer: with `train.num_workers` > 0, batches (pairs, negatives and the sampled computation graph) are
  built in background processes by a torch DataLoader while the model trains. Each batch is a pure function of
  (seed, epoch, batch number), so results do not depend on the number of workers and resume is exact.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader
from torch.utils.data import Dataset as TorchDataset

from graphrec.config.train import ItemPairTrainConfig
from graphrec.data.dataset import Dataset
from graphrec.errors import ConfigError
from graphrec.graph.blocks import ComputationGraph, build_computation_graph, pair_keys
from graphrec.graph.ppr import ItemPageRank, rank_window, sparse_rank_window, window_bounds
from graphrec.models.itemgraph import ItemGraphModel
from graphrec.seeding import Stream, numpy_rng, torch_generator

logger = logging.getLogger(__name__)

BATCH_STREAM = Stream.PAIR_BATCHES
HARD_POOL_STREAM = Stream.HARD_POOL
DISTANCE_STREAM = Stream.DISTANCE_WEIGHTED
PPR_CHUNK = 512
SPARSE_PPR_CHUNK = 2048


@dataclass
class PairBatch:
    queries: np.ndarray  # (B,)
    items: np.ndarray  # (B,)
    shared: np.ndarray  # (S,)
    hard: np.ndarray  # (B, h)
    graph: ComputationGraph
    seed: int  # for the step's own draws (distance-weighted negatives), from the batch's generator


def co_engagement_pairs(train: sp.csr_matrix, timestamps: np.ndarray | None, seed: int) -> np.ndarray:
    """(P, 2) pairs of items a user engaged with one after the other (by timestamp; ties and missing timestamps
    fall back to a seeded random order, so without timestamps a pair is two random items of the same user)."""
    train = sp.csr_matrix(train)
    users = np.repeat(np.arange(train.shape[0]), np.diff(train.indptr))
    items = train.indices.astype(np.int64)
    rng = numpy_rng(seed, BATCH_STREAM)
    keys = timestamps if timestamps is not None else np.zeros(items.size)
    order = np.lexsort((rng.random(items.size), keys, users))
    same_user = users[order][1:] == users[order][:-1]
    pairs = np.stack([items[order][:-1][same_user], items[order][1:][same_user]], axis=1)
    return pairs[pairs[:, 0] != pairs[:, 1]]


def hard_negative_pool(
    train: sp.csr_matrix, window: list[float], pool: int, seed: int, ppr_steps: int = 20
) -> np.ndarray:
    """(num_items, pool) items drawn once per query from its PPR rank window (-1 where the window is empty).

    `ppr_steps` > 1: power iteration (dense batches, up to that many steps); 1: the one-step walk, sparse, where
    only items sharing a user with the query are ranked (the cheap choice for catalogues of 10⁵ items).
    """
    num_items = train.shape[1]
    low, high = window_bounds(num_items, (window[0], window[1]))
    ppr = ItemPageRank(train)
    rng = numpy_rng(seed, HARD_POOL_STREAM)
    out = np.full((num_items, pool), -1, dtype=np.int64)
    chunk = PPR_CHUNK if ppr_steps > 1 else SPARSE_PPR_CHUNK
    for start in range(0, num_items, chunk):
        sources = np.arange(start, min(start + chunk, num_items))
        if ppr_steps > 1:
            ranked = rank_window(ppr.scores(sources, num_iters=ppr_steps, tol=1e-4), sources, low, high)
        else:
            ranked = sparse_rank_window(ppr.one_step(sources), sources, low, high)
        picks = rng.integers(0, ranked.shape[1], size=(len(sources), pool))
        out[sources] = np.take_along_axis(ranked, picks, axis=1)
    filled = float((out >= 0).mean()) if out.size else 0.0
    logger.info(
        "hard-negative pool: ranks [%d, %d) of each item's PPR (%d steps), %d per item, %.0f%% filled",
        low,
        high,
        ppr_steps,
        pool,
        100 * filled,
    )
    return out


def curriculum_count(epoch: int, hard_negatives: int, curriculum: bool) -> int:
    """Hard negatives per query at 1-based `epoch`."""
    return min(epoch - 1, hard_negatives) if curriculum else hard_negatives


class _Producer(TorchDataset):
    """Builds batch b of an epoch; picklable, so DataLoader workers can run it."""

    def __init__(
        self,
        model: ItemGraphModel,
        pairs: np.ndarray,
        hard_pool: np.ndarray | None,
        train: ItemPairTrainConfig,
        seed: int,
        epoch: int,
        num_hard: int,
    ) -> None:
        self.graph, self.layers = model.graph, len(model.layers)
        self.sampler_factory = model.training_neighbours
        self.pairs, self.hard_pool, self.epoch, self.num_hard = pairs, hard_pool, epoch, num_hard
        self.seed, self.train = seed, train
        # a fresh random subset of the pairs each epoch when train.pairs_per_epoch caps them
        self.order = _rng(self.seed, epoch, -1).permutation(len(pairs))[: train.pairs_per_epoch]

    def __len__(self) -> int:
        return (len(self.order) + self.train.batch_size - 1) // self.train.batch_size  # ceil

    def __getitem__(self, b: int) -> PairBatch:
        rng = _rng(self.seed, self.epoch, b)
        chosen = self.pairs[self.order[b * self.train.batch_size : (b + 1) * self.train.batch_size]]
        queries, items = chosen[:, 0], chosen[:, 1]
        num_items = self.graph.num_items
        shared = rng.integers(0, num_items, size=self.train.shared_negatives)
        hard = np.zeros((len(queries), 0), dtype=np.int64)
        if self.num_hard and self.hard_pool is not None:
            picks = rng.integers(0, self.hard_pool.shape[1], size=(len(queries), self.num_hard))
            hard = np.take_along_axis(self.hard_pool[queries], picks, axis=1)
            hard = np.where(hard >= 0, hard, shared[rng.integers(0, len(shared), size=hard.shape)])
        seeds = np.concatenate([queries, items, shared, hard.ravel()])
        graph = build_computation_graph(
            seeds, self.sampler_factory(rng), self.layers, pair_keys(queries, items, num_items), num_items
        )
        return PairBatch(queries, items, shared, hard, graph, int(rng.integers(2**31)))


def _rng(seed: int, epoch: int, batch: int) -> np.random.Generator:
    return numpy_rng(seed, BATCH_STREAM, epoch, batch + 1)


def whole_batch(batch: Any) -> Any:
    """DataLoader's collate step with batch_size=None: each item is already a whole batch."""
    return batch


class ItemPairObjective:
    """Max-margin (or BCE / BPR) over related item pairs with shared, hard and curriculum negatives."""

    def __init__(self, model: ItemGraphModel, dataset: Dataset, train: ItemPairTrainConfig, seed: int) -> None:
        self.model, self.train, self.seed = model, train, seed
        self.pairs = co_engagement_pairs(dataset.train, dataset.train_timestamps, seed)
        if len(self.pairs) == 0:
            raise ConfigError("no co-engagement pairs: every user has a single training item")
        self.hard_pool = (
            hard_negative_pool(dataset.train, train.hard_window, train.hard_pool, seed, train.hard_ppr_steps)
            if train.hard_negatives > 0
            else None
        )
        self.num_batches = -(-min(len(self.pairs), train.pairs_per_epoch or len(self.pairs)) // train.batch_size)
        logger.info("item-pair objective: %d pairs, %d batches per epoch", len(self.pairs), self.num_batches)

    def producer(self, epoch: int) -> _Producer:
        """Batches of 0-based `epoch` (its curriculum: epoch + 1 − 1 hard negatives, capped)."""
        num_hard = curriculum_count(epoch + 1, self.train.hard_negatives, self.train.curriculum)
        return _Producer(self.model, self.pairs, self.hard_pool, self.train, self.seed, epoch, num_hard)

    def epoch(self, epoch: int) -> Iterator[PairBatch]:
        producer = self.producer(epoch)
        if self.train.num_workers == 0:
            return (producer[b] for b in range(len(producer)))
        return iter(
            DataLoader(
                producer,
                batch_size=None,
                shuffle=False,
                num_workers=self.train.num_workers,
                collate_fn=whole_batch,
                prefetch_factor=4,
            )
        )

    def loss(self, batch: PairBatch) -> torch.Tensor:
        z = self.model.encode(batch.graph)
        pos_of = lambda nodes: torch.from_numpy(batch.graph.positions(nodes))  # noqa: E731
        zq, zi, zs = z[pos_of(batch.queries)], z[pos_of(batch.items)], z[pos_of(batch.shared)]
        positive = (zq * zi).sum(dim=1)
        negative = zq @ zs.T  # (B, S)
        if self.train.distance_weighted:
            negative = distance_weighted(zq, zs, negative, self.train.distance_weighted, seed=batch.seed)
        if batch.hard.shape[1]:
            zh = z[pos_of(batch.hard.ravel())].reshape(*batch.hard.shape, -1)
            negative = torch.cat([negative, torch.einsum("bd,bhd->bh", zq, zh)], dim=1)
        return pair_loss(positive, negative, self.train.loss, self.train.margin)

    def state_dict(self) -> dict[str, Any]:
        return {}  # every batch is a function of (seed, epoch, batch): nothing to carry

    def load_state_dict(self, state: dict[str, Any]) -> None:
        return None


def pair_loss(positive: torch.Tensor, negative: torch.Tensor, kind: str, margin: float) -> torch.Tensor:
    """positive (B,), negative (B, N) scores → scalar loss."""
    if kind == "margin":
        return F.relu(negative - positive.unsqueeze(1) + margin).mean()
    if kind == "bce":
        return F.softplus(-positive).mean() + F.softplus(negative).mean()
    return F.softplus(negative - positive.unsqueeze(1)).mean()


def distance_weighted(
    zq: torch.Tensor,
    zs: torch.Tensor,
    scores: torch.Tensor,
    count: int,
    seed: int,
    cutoff: float = 0.5,
    nonzero_loss_cutoff: float = 1.4,
) -> torch.Tensor:
    """Per query, `count` of the shared negatives drawn with probability ∝ 1 / q(d), the inverse density of
    pairwise distances of unit vectors in d dimensions (distances clipped at `cutoff`, far ones excluded)."""
    with torch.no_grad():
        dim = zq.shape[1]
        distance = torch.cdist(F.normalize(zq, dim=1), F.normalize(zs, dim=1)).clamp(min=cutoff)
        log_q = (dim - 2) * distance.log() + (dim - 3) / 2 * (1 - distance.pow(2) / 4).clamp(min=1e-8).log()
        log_w = -log_q - (-log_q).amax(dim=1, keepdim=True)
        weight = log_w.exp() * (distance < nonzero_loss_cutoff)
        weight = torch.where(weight.sum(dim=1, keepdim=True) > 0, weight, torch.ones_like(weight))
        generator = torch_generator(seed, DISTANCE_STREAM)
        picks = torch.multinomial(weight, count, replacement=True, generator=generator)
    return scores.gather(1, picks)
