"""Item-pair training: co-engagement pairs, curriculum counts, hard-negative window ranks, shared negatives,
no label leakage, and producer workers giving the same batches as in-process sampling."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from graphrec.config import ItemPairTrainConfig, model_config
from graphrec.data.dataset import Dataset
from graphrec.data.idmap import IdMap
from graphrec.graph.ppr import ItemPageRank, window_bounds
from graphrec.models import build_model
from graphrec.training.item_pairs import (
    ItemPairObjective,
    co_engagement_pairs,
    curriculum_count,
    distance_weighted,
    hard_negative_pool,
    pair_loss,
)


def make_dataset(seed: int = 0, users: int = 60, items: int = 80) -> Dataset:
    rng = np.random.default_rng(seed)
    train = sp.csr_matrix((rng.random((users, items)) < 0.12).astype(np.float32))
    empty = sp.csr_matrix((users, items), dtype=np.float32)
    return Dataset(
        IdMap.from_values(list(range(users)), kind="user"),
        IdMap.from_values(list(range(items)), kind="item"),
        train,
        empty,
        empty,
        train_timestamps=rng.random(train.nnz),
    )


def make_objective(dataset: Dataset, **train: object) -> ItemPairObjective:
    model_section = model_config(
        name="pinsage", num_layers=2, embedding_dim=8, hidden_dim=8, num_neighbours=5, num_walks=10
    )
    section = ItemPairTrainConfig(**{"batch_size": 32, "shared_negatives": 20, "loss": "margin", **train})
    features = np.random.default_rng(0).normal(size=(dataset.num_items, 4)).astype(np.float32)
    model = build_model(
        model_section,
        dataset.num_users,
        dataset.num_items,
        dataset.train,
        item_features=features,
        train_timestamps=dataset.train_timestamps,
    )
    return ItemPairObjective(model, dataset, section, seed=3)


def test_pairs_are_consecutive_items_of_a_user_by_time() -> None:
    train = sp.csr_matrix(np.array([[1, 1, 1, 0], [0, 1, 0, 1]], dtype=np.float32))
    timestamps = np.array([30.0, 10.0, 20.0, 5.0, 1.0])  # user 0: items 0,1,2 at 30,10,20; user 1: 1 at 5, 3 at 1
    pairs = co_engagement_pairs(train, timestamps, seed=0)
    assert pairs.tolist() == [[1, 2], [2, 0], [3, 1]]


def test_curriculum_adds_one_hard_negative_per_epoch_up_to_the_cap() -> None:
    assert [curriculum_count(e, 3, True) for e in (1, 2, 3, 4, 5, 6)] == [0, 1, 2, 3, 3, 3]
    assert [curriculum_count(e, 3, False) for e in (1, 2)] == [3, 3]
    objective = make_objective(make_dataset(), hard_negatives=2, hard_pool=8, hard_window=[0.1, 0.3])
    shapes = [objective.producer(epoch)[0].hard.shape[1] for epoch in range(4)]
    assert shapes == [0, 1, 2, 2]


def test_hard_negatives_come_from_the_ppr_rank_window() -> None:
    dataset = make_dataset(1)
    pool = hard_negative_pool(dataset.train, [0.1, 0.3], pool=16, seed=0)
    low, high = window_bounds(dataset.num_items, (0.1, 0.3))
    scores = ItemPageRank(dataset.train).scores(np.arange(dataset.num_items), num_iters=20, tol=1e-4)
    for item in range(dataset.num_items):
        ranked = [j for j in sorted(range(dataset.num_items), key=lambda j: (-scores[item, j], j)) if j != item]
        allowed = set(ranked[low:high])
        assert set(pool[item][pool[item] >= 0]) <= allowed


def test_one_step_hard_pool_draws_from_the_one_step_window() -> None:
    dataset = make_dataset(2)
    pool = hard_negative_pool(dataset.train, [0.05, 0.2], pool=16, seed=0, ppr_steps=1)
    low, high = window_bounds(dataset.num_items, (0.05, 0.2))
    step = ItemPageRank(dataset.train).one_step(np.arange(dataset.num_items)).toarray()
    for item in range(dataset.num_items):
        reached = [j for j in range(dataset.num_items) if j != item and step[item, j] > 0]
        allowed = set(sorted(reached, key=lambda j: (-step[item, j], j))[low:high])
        assert set(pool[item][pool[item] >= 0]) <= allowed
    assert (pool >= 0).any()


def test_pairs_per_epoch_draws_a_fresh_subset_each_epoch() -> None:
    dataset = make_dataset()
    objective = make_objective(dataset, pairs_per_epoch=40)
    assert objective.num_batches == 2 and len(objective.producer(0)) == 2
    seen = [np.concatenate([b.queries * 1000 + b.items for b in objective.epoch(e)]) for e in range(2)]
    assert [len(s) for s in seen] == [40, 40]
    every = {int(q) * 1000 + int(i) for q, i in objective.pairs}
    assert set(seen[0]) <= every and set(seen[0]) != set(seen[1])
    assert make_objective(dataset).num_batches == -(-len(objective.pairs) // 32)


def test_shared_negatives_have_one_set_per_batch_and_the_loss_sees_them_all() -> None:
    objective = make_objective(make_dataset(), hard_negatives=1, hard_pool=8, hard_window=[0.1, 0.3])
    batch = objective.producer(1)[0]
    assert batch.shared.shape == (20,) and batch.hard.shape == (len(batch.queries), 1)
    loss = objective.loss(batch)
    assert loss.ndim == 0 and torch.isfinite(loss)
    loss.backward()


def test_no_label_leakage_the_pair_edge_is_never_aggregated() -> None:
    objective = make_objective(make_dataset(2))
    for b in range(3):
        batch = objective.producer(0)[b]
        forbidden = set(zip(batch.queries.tolist(), batch.items.tolist(), strict=True))
        forbidden |= {(i, q) for q, i in forbidden}
        graph = batch.graph
        for layer, block in enumerate(graph.blocks):
            src = graph.input_nodes if layer == 0 else graph.blocks[layer - 1].dst
            for row, node in enumerate(block.dst):
                neighbours = src[block.nbr_pos[row][block.nbr_pos[row] >= 0]]
                assert not any((int(node), int(n)) in forbidden for n in neighbours)


def test_leakage_would_happen_without_the_filter() -> None:
    """The pairs' own edges are exactly what walks find first: the filter is doing real work."""
    objective = make_objective(make_dataset(2))
    batch = objective.producer(0)[0]
    hood = objective.model.graph.neighbourhoods(batch.queries, 5, 10, 2, np.random.default_rng(0))
    assert any(i in row for i, row in zip(batch.items, hood.index, strict=True))


def test_worker_processes_build_the_same_batches() -> None:
    dataset = make_dataset(3)
    in_process = list(make_objective(dataset, num_workers=0).epoch(0))
    with_workers = list(make_objective(dataset, num_workers=2).epoch(0))
    assert len(in_process) == len(with_workers)
    for a, b in zip(in_process, with_workers, strict=True):
        np.testing.assert_array_equal(a.queries, b.queries)
        np.testing.assert_array_equal(a.shared, b.shared)
        np.testing.assert_array_equal(a.graph.input_nodes, b.graph.input_nodes)


def test_losses_and_distance_weighting() -> None:
    positive, negative = torch.tensor([1.0, 0.0]), torch.tensor([[0.5, 1.2], [0.0, -1.0]])
    assert pair_loss(positive, negative, "margin", 0.1).item() == pytest.approx((0 + 0.3 + 0.1 + 0) / 4)
    zq, zs = torch.randn(4, 8), torch.randn(30, 8)
    picked = distance_weighted(zq, zs, zq @ zs.T, count=5, seed=0)
    assert picked.shape == (4, 5)
    assert set(picked[0].tolist()) <= set((zq @ zs.T)[0].tolist())
