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
    NoiseSampler,
    SkipGramObjective,
    hardest_noise,
    noise_cdf,
    pairs_per_walk,
    sample_noise,
    sgns_loss,
    sgns_table_loss,
    skipgram_pairs,
)


def slow_pairs(walks: np.ndarray, window: int, odd_only: bool = False) -> list[tuple[int, int]]:
    """Every (walk[j], walk[k]) with 0 < |j − k| ≤ window inside one walk (|j − k| odd if `odd_only`), both nodes
    real (≥ 0)."""
    out = []
    for walk in walks.tolist():
        for j, centre in enumerate(walk):
            for k, context in enumerate(walk):
                near = 0 < abs(j - k) <= window and (abs(j - k) % 2 == 1 or not odd_only)
                if near and centre >= 0 and context >= 0:
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


def test_other_side_pairs_are_the_odd_offsets_of_the_slow_loop() -> None:
    walks = np.random.default_rng(1).integers(0, 30, size=(5, 8))
    walks[3, 4:] = -1
    for window in (1, 2, 5, 7):
        centres, contexts = skipgram_pairs(walks, window, "other_side")
        got = sorted(zip(centres.tolist(), contexts.tolist(), strict=True))
        assert got == sorted(slow_pairs(walks, window, odd_only=True)), window


def test_pairs_per_walk_counts_the_pairs_of_a_full_walk() -> None:
    for length in (2, 3, 7, 20):
        for window in (1, 2, 5, 30):
            walks = np.arange(length)[None, :]
            for contexts, odd in (("all", False), ("other_side", True)):
                expected = len(slow_pairs(walks, window, odd))
                got = skipgram_pairs(walks, window, contexts)[0].size
                assert pairs_per_walk(length, window, contexts) == expected == got


def test_the_table_loss_and_its_written_out_gradient_equal_autograd_on_the_reference() -> None:
    generator = torch.Generator().manual_seed(0)
    table = torch.randn(12, 5, dtype=torch.float64, generator=generator, requires_grad=True)
    centres = torch.randint(0, 12, (9,), generator=generator)
    contexts = torch.randint(0, 12, (9,), generator=generator)
    negatives = torch.randint(0, 12, (9, 3), generator=generator)  # repeated rows: the gradient must accumulate
    reference = sgns_loss(table[centres], table[contexts], table[negatives])
    (want,) = torch.autograd.grad(reference, table)
    fast = sgns_table_loss(table, centres, contexts, negatives)
    (got,) = torch.autograd.grad(fast * 3.0, table)  # an upstream gradient ≠ 1 scales it
    assert torch.allclose(fast, reference, rtol=1e-12)
    assert torch.allclose(got, 3.0 * want, rtol=1e-10, atol=1e-12)


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


def test_typed_noise_is_drawn_on_the_context_side_in_proportion_to_degree() -> None:
    degree = np.array([2, 0, 3, 5, 1, 0, 4])  # users 0..2, items 3..6
    contexts = np.array([0, 4] * 50_000)
    for power in (0.0, 1.0):
        draws = NoiseSampler(degree, power, split=3).sample(contexts, 2, numpy_rng(3))
        on_users, on_items = draws[contexts < 3].ravel(), draws[contexts >= 3].ravel()
        assert on_users.max() < 3 and on_items.min() >= 3
        for side, lo, hi in ((on_users, 0, 3), (on_items, 3, 7)):
            want = np.where(degree[lo:hi] > 0, degree[lo:hi].astype(float) ** power, 0.0)
            got = np.bincount(side - lo, minlength=hi - lo) / side.size
            np.testing.assert_allclose(got, want / want.sum(), atol=0.006)
    anywhere = NoiseSampler(degree, 0.0).sample(contexts[:1000], 50, numpy_rng(4))
    assert set(np.unique(anywhere).tolist()) == {0, 2, 3, 4, 6}  # uniform over every node with an edge


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


def test_other_side_contexts_and_typed_noise_cross_between_users_and_items() -> None:
    obj = objective("deepwalk", contexts="other_side", noise="context_side")
    users = obj.model.num_users
    assert obj.walks_per_batch == 100 // pairs_per_walk(6, 2, "other_side")
    for centres, contexts, negatives in obj.epoch(0):
        assert torch.equal(centres < users, contexts >= users)  # every pair is one user and one item
        assert torch.equal((negatives >= users).all(dim=1), contexts >= users)
        assert torch.equal((negatives < users).all(dim=1), contexts < users)


def test_hardest_noise_picks_the_top_scored_candidate_of_each_group() -> None:
    generator = torch.Generator().manual_seed(1)
    table = torch.randn(20, 4, generator=generator)
    centres = torch.randint(0, 20, (7,), generator=generator)
    candidates = torch.randint(0, 20, (7, 3 * 5), generator=generator)
    got = hardest_noise(table, centres, candidates, per_noise=5, chunk=3)
    for p in range(7):
        for k in range(3):
            group = candidates[p, k * 5 : (k + 1) * 5].tolist()
            scores = [float(table[centres[p]] @ table[n]) for n in group]
            assert int(got[p, k]) == group[max(range(5), key=scores.__getitem__)]


def test_noise_candidates_draw_that_many_per_noise_node_and_train() -> None:
    obj = objective("deepwalk", noise_candidates=4)
    centres, contexts, negatives = next(iter(obj.epoch(0)))
    assert negatives.shape == (centres.numel(), 4 * 4)
    loss = obj.loss((centres, contexts, negatives))
    loss.backward()
    assert obj.model.node_embedding.weight.grad is not None
