"""Skip-gram training over random walks: the (centre, context) pairs against a slow loop, the SGNS loss against a
hand-computed value, the noise law, and the objective's batches (sizes, counts, determinism, the registry's pick)."""

from __future__ import annotations

import math

import numpy as np
import scipy.sparse as sp
import torch

from graphrec.config import SkipGramTrainConfig, model_config
from graphrec.data.dataset import Dataset
from graphrec.data.idmap import IdMap
from graphrec.models import build_model
from graphrec.seeding import numpy_rng
from graphrec.training.objectives import make_objective
from graphrec.training.skipgram import (
    SkipGramObjective,
    noise_cdf,
    pairs_per_walk,
    sample_noise,
    sgns_loss,
    skipgram_pairs,
)


def slow_pairs(walks: np.ndarray, window: int) -> list[tuple[int, int]]:
    """Every (walk[j], walk[k]) with 0 < |j − k| ≤ window inside one walk, both nodes real (≥ 0)."""
    out = []
    for walk in walks.tolist():
        for j, centre in enumerate(walk):
            for k, context in enumerate(walk):
                if 0 < abs(j - k) <= window and centre >= 0 and context >= 0:
                    out.append((centre, context))
    return out


def test_pairs_equal_the_slow_loop_with_ended_walks() -> None:
    rng = np.random.default_rng(0)
    walks = rng.integers(0, 30, size=(7, 6))
    walks[2, 3:] = -1  # a walk that ended at a node without neighbours
    walks[5, 1:] = -1
    for window in (1, 2, 3, 5, 9):
        centres, contexts = skipgram_pairs(walks, window)
        got = sorted(zip(centres.tolist(), contexts.tolist(), strict=True))
        assert got == sorted(slow_pairs(walks, window)), window


def test_pairs_per_walk_counts_the_pairs_of_a_full_walk() -> None:
    for length in (2, 3, 7, 20):
        for window in (1, 2, 5, 30):
            walks = np.arange(length)[None, :]
            expected = len(slow_pairs(walks, window))
            assert pairs_per_walk(length, window) == expected == skipgram_pairs(walks, window)[0].size


def test_sgns_loss_equals_a_hand_computed_value() -> None:
    centre = torch.tensor([[1.0, 0.0], [0.5, -1.0]])
    context = torch.tensor([[2.0, 1.0], [0.0, 1.0]])
    negatives = torch.tensor([[[1.0, 1.0], [-1.0, 0.0]], [[0.0, 0.0], [2.0, 2.0]]])

    def log_sigmoid(x: float) -> float:
        return -math.log(1.0 + math.exp(-x))

    # pair 0: s+ = 2, s- = 1, -1; pair 1: s+ = -1, s- = 0, 1 - 2 = -1
    pair0 = -log_sigmoid(2.0) - log_sigmoid(-1.0) - log_sigmoid(1.0)
    pair1 = -log_sigmoid(-1.0) - log_sigmoid(0.0) - log_sigmoid(1.0)
    assert math.isclose(float(sgns_loss(centre, context, negatives)), (pair0 + pair1) / 2, rel_tol=1e-6)


def test_noise_is_drawn_in_proportion_to_degree_to_the_power() -> None:
    degree = np.array([1, 4, 0, 9, 16])
    for power in (0.75, 0.0, 1.0):
        draws = sample_noise(noise_cdf(degree, power), (200_000,), numpy_rng(2))
        want = np.where(degree > 0, degree.astype(float) ** power, 0.0)
        np.testing.assert_allclose(np.bincount(draws, minlength=5) / draws.size, want / want.sum(), atol=0.005)


def make_dataset(seed: int = 0, users: int = 30, items: int = 40) -> Dataset:
    rng = np.random.default_rng(seed)
    dense = (rng.random((users, items)) < 0.15).astype(np.float32)
    dense[:, items - 1] = 0.0  # an item without users: no walk starts there
    train = sp.csr_matrix(dense)
    empty = sp.csr_matrix((users, items), dtype=np.float32)
    users_map = IdMap.from_values(list(range(users)), kind="user")
    return Dataset(users_map, IdMap.from_values(list(range(items)), kind="item"), train, empty, empty)


def objective(name: str = "node2vec", batch_size: int = 100, **model: object) -> SkipGramObjective:
    dataset = make_dataset()
    values = {"embedding_dim": 8, "num_walks": 3, "walk_length": 6, "window": 2, "num_negatives": 4, **model}
    section = model_config(name, **values)
    built = build_model(section, dataset.num_users, dataset.num_items, dataset.train)
    chosen = make_objective(built, dataset, SkipGramTrainConfig(batch_size=batch_size), seed=5)
    assert isinstance(chosen, SkipGramObjective)
    return chosen


def test_batches_hold_whole_walks_and_cover_every_start_num_walks_times() -> None:
    obj = objective(p=0.5, q=2.0)
    per_walk = pairs_per_walk(6, 2)
    assert obj.walks_per_batch == 100 // per_walk
    batches = list(obj.epoch(0))
    assert len(batches) == obj.num_batches
    assert all(c.numel() <= 100 and c.numel() % per_walk == 0 for c, _, _ in batches)
    starts_with_edges = int((obj.graph.degree > 0).sum())
    assert sum(c.numel() for c, _, _ in batches) == 3 * starts_with_edges * per_walk
    centres, contexts, negatives = batches[0]
    assert negatives.shape == (centres.numel(), 4) and contexts.shape == centres.shape
    assert obj.graph.degree[negatives.numpy()].min() > 0  # noise nodes all have edges


def test_batches_are_a_function_of_seed_and_epoch() -> None:
    first, second = objective(), objective()
    for a, b in zip(first.epoch(1), second.epoch(1), strict=True):
        for x, y in zip(a, b, strict=True):
            assert torch.equal(x, y)
    assert not torch.equal(next(iter(first.epoch(0)))[0], next(iter(first.epoch(1)))[0])


def test_deepwalk_walks_are_uniform_and_a_loss_step_lowers_the_loss() -> None:
    obj = objective("deepwalk")
    assert (obj.p, obj.q) == (1.0, 1.0)
    batch = next(iter(obj.epoch(0)))
    optimizer = torch.optim.Adam(obj.model.parameters(), lr=0.05)
    before = float(obj.loss(batch).detach())
    for _ in range(20):
        optimizer.zero_grad()
        obj.loss(batch).backward()
        optimizer.step()
    assert float(obj.loss(batch).detach()) < before
