"""Skip-gram with negative sampling over random walks on the user–item graph (DeepWalk, node2vec).

- Walks: every epoch starts `model.num_walks` walks of `model.walk_length` nodes at every node with an edge
  (graph.walks.NodeGraph: uniform for DeepWalk, p/q-biased for node2vec), in a shuffled order.
- Pairs: every walk node is a centre; the nodes up to `model.window` steps before and after it are its contexts
  (:func:`skipgram_pairs`; word2vec's random window shrinking and frequent-node subsampling are not applied).
- Noise: `model.num_negatives` nodes per pair drawn ∝ degree^`model.negative_power` — the walks' node frequencies
  are ∝ degree (a uniform walk's stationary law), so this is word2vec's unigram^¾ table without counting.
- Loss: :func:`sgns_loss`, the negative-sampling objective averaged over the batch's pairs.

A batch holds every pair of ⌊train.batch_size / pairs per walk⌋ walks (at least one walk), so `train.batch_size`
counts pairs. Each batch is a pure function of (seed, epoch, batch number): resume is exact with no state to carry.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from graphrec.config.train import SkipGramTrainConfig
from graphrec.data.dataset import Dataset
from graphrec.errors import DataError
from graphrec.graph.walks import NodeGraph
from graphrec.models.deepwalk import DeepWalk
from graphrec.seeding import Stream, numpy_rng

logger = logging.getLogger(__name__)

WALK_STREAM = Stream.RANDOM_WALKS
NEGATIVE_STREAM = Stream.SKIP_GRAM_NEGATIVES

SkipGramBatch = tuple[torch.Tensor, torch.Tensor, torch.Tensor]  # centres (P,), contexts (P,), negatives (P, K)


def pairs_per_walk(walk_length: int, window: int) -> int:
    """(centre, context) pairs of one full walk: 2 · Σ_{d=1..min(w, t−1)} (t − d)."""
    return 2 * sum(walk_length - d for d in range(1, min(window, walk_length - 1) + 1))


def skipgram_pairs(walks: np.ndarray, window: int) -> tuple[np.ndarray, np.ndarray]:
    """(centres, contexts) of every node of `walks` (W, t) and each node at most `window` steps before or after it
    in the same walk; −1 entries (ended walks) take no part. Ordered by offset d = 1..w, then direction
    (forward pairs (walk[j], walk[j + d]) before backward ones), then walk and position."""
    centres, contexts = [], []
    for d in range(1, min(window, walks.shape[1] - 1) + 1):
        left, right = walks[:, :-d].ravel(), walks[:, d:].ravel()
        keep = (left >= 0) & (right >= 0)
        centres += [left[keep], right[keep]]
        contexts += [right[keep], left[keep]]
    if not centres:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    return np.concatenate(centres).astype(np.int64), np.concatenate(contexts).astype(np.int64)


def noise_cdf(degree: np.ndarray, power: float) -> np.ndarray:
    """Cumulative noise distribution P_n(v) ∝ degree(v)^power over nodes with an edge (0 for the others)."""
    weight = np.where(degree > 0, np.power(degree.astype(np.float64), power), 0.0)
    cdf = np.cumsum(weight)
    return cdf / cdf[-1]


def sample_noise(cdf: np.ndarray, shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    """Nodes drawn independently from the distribution of `cdf` (inverse-CDF sampling)."""
    picks = np.searchsorted(cdf, rng.random(shape), side="right")
    return np.minimum(picks, cdf.size - 1).astype(np.int64)


def sgns_loss(centre: torch.Tensor, context: torch.Tensor, negatives: torch.Tensor) -> torch.Tensor:
    """Skip-gram negative sampling: mean over the P pairs of −log σ(z_vᵀ z_c) − Σ_k log σ(−z_vᵀ z_{n_k}), with
    `centre` and `context` (P, d) and `negatives` (P, K, d); written with softplus (−log σ(s) = softplus(−s))."""
    positive = (centre * context).sum(dim=-1)
    negative = torch.einsum("pd,pkd->pk", centre, negatives)
    return (F.softplus(-positive) + F.softplus(negative).sum(dim=1)).mean()


class SkipGramObjective:
    """SGNS over the (centre, context) pairs of fresh random walks every epoch, noise ∝ degree^power."""

    def __init__(self, model: DeepWalk, dataset: Dataset, train: SkipGramTrainConfig, seed: int) -> None:
        self.model, self.train, self.seed, self.walks_config = model, train, seed, model.config
        self.graph = NodeGraph.bipartite(dataset.train)
        self.p, self.q = model.walk_bias
        self.starts = np.flatnonzero(self.graph.degree > 0)
        if self.starts.size == 0:
            raise DataError("skip-gram: expected a training matrix with at least one edge to walk on, got none")
        per_walk = pairs_per_walk(self.walks_config.walk_length, self.walks_config.window)
        self.walks_per_batch = max(1, train.batch_size // per_walk)
        self.num_walks = self.starts.size * self.walks_config.num_walks
        self.num_batches = -(-self.num_walks // self.walks_per_batch)
        self.cdf = noise_cdf(self.graph.degree, self.walks_config.negative_power)
        logger.info(
            "skip-gram objective: %d walks of %d nodes per epoch (p %g, q %g), %d pairs each, %d batches",
            self.num_walks,
            self.walks_config.walk_length,
            self.p,
            self.q,
            per_walk,
            self.num_batches,
        )

    def epoch(self, epoch: int) -> Iterator[SkipGramBatch]:
        order = numpy_rng(self.seed, WALK_STREAM, epoch, 0).permutation(self.num_walks)
        walkers = self.starts[order % self.starts.size]
        for b in range(self.num_batches):
            yield self.batch(walkers[b * self.walks_per_batch : (b + 1) * self.walks_per_batch], epoch, b)

    def batch(self, starts: np.ndarray, epoch: int, b: int) -> SkipGramBatch:
        """Walks from `starts`, their pairs and noise nodes: batch `b` of 0-based `epoch`."""
        config = self.walks_config
        walk_rng = numpy_rng(self.seed, WALK_STREAM, epoch, b + 1)
        walks = self.graph.walks(starts, config.walk_length, walk_rng, self.p, self.q)
        centres, contexts = skipgram_pairs(walks, config.window)
        noise_rng = numpy_rng(self.seed, NEGATIVE_STREAM, epoch, b)
        negatives = sample_noise(self.cdf, (centres.size, config.num_negatives), noise_rng)
        return torch.from_numpy(centres), torch.from_numpy(contexts), torch.from_numpy(negatives)

    def loss(self, batch: SkipGramBatch) -> torch.Tensor:
        centres, contexts, negatives = batch
        vectors = self.model.node_vectors
        return sgns_loss(vectors(centres), vectors(contexts), vectors(negatives))

    def state_dict(self) -> dict[str, Any]:
        return {}  # every batch is a function of (seed, epoch, batch): nothing to carry

    def load_state_dict(self, state: dict[str, Any]) -> None:
        return None
