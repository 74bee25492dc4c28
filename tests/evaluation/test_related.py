"""The related-item task against a slow reference, and its pair construction."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from graphrec.errors import DataError
from graphrec.evaluation.related import evaluate_related, last_item_pairs, related_item_ranks


def test_ranks_equal_slow_reference_with_ties_counted_against_the_target() -> None:
    rng = np.random.default_rng(0)
    emb = torch.from_numpy(rng.integers(-2, 3, size=(30, 4)).astype(np.float32))  # integers: many ties
    pairs = np.stack([rng.integers(0, 30, 50), rng.integers(0, 30, 50)], axis=1)
    pairs = pairs[pairs[:, 0] != pairs[:, 1]]
    got = related_item_ranks(emb, pairs, chunk_size=7)
    scores = (emb @ emb.T).numpy()
    for (q, i), rank in zip(pairs, got, strict=True):
        others = [j for j in range(30) if j != q and j != i]
        assert rank == 1 + sum(scores[q, j] >= scores[q, i] for j in others)


def test_metrics_formulas() -> None:
    emb = torch.eye(4)
    emb[1] = torch.tensor([0.9, 0.1, 0, 0])
    metrics = evaluate_related(emb, np.array([[0, 1], [0, 2]]), ks=(1,))
    # item 1 is nearest item 0 (rank 1); item 2 ties with item 3 at score 0 (rank 3 with ties against it)
    assert metrics["hit_rate@1"] == 0.5
    assert metrics["mrr"] == pytest.approx((1 + 1 / 3) / 2)
    assert metrics["mrr_scaled"] == 1.0  # both ranks ≤ 100


def test_last_item_pairs_use_the_newest_training_item() -> None:
    train = sp.csr_matrix(np.array([[1, 1, 0, 0], [0, 0, 1, 0]], dtype=np.float32))
    held = sp.csr_matrix(np.array([[0, 0, 1, 1], [0, 0, 0, 1]], dtype=np.float32))
    pairs = last_item_pairs(train, held, timestamps=np.array([5.0, 1.0, 3.0]))
    assert pairs.tolist() == [[0, 2], [0, 3], [2, 3]]
    with pytest.raises(DataError, match="no held-out related pairs"):
        related_item_ranks(torch.eye(3), np.zeros((0, 2), dtype=np.int64))


def test_sampled_ranks_equal_slow_reference_over_the_pool() -> None:
    from graphrec.evaluation.related import related_sample

    rng = np.random.default_rng(1)
    emb = torch.from_numpy(rng.integers(-2, 3, size=(40, 3)).astype(np.float32))
    pairs = np.stack([rng.integers(0, 40, 60), rng.integers(0, 40, 60)], axis=1)
    pairs = pairs[pairs[:, 0] != pairs[:, 1]]
    pool = related_sample(40, 15, seed=3)
    assert len(set(pool.tolist())) == 15 and np.array_equal(pool, related_sample(40, 15, seed=3))
    got = related_item_ranks(emb, pairs, chunk_size=5, pool=pool)
    scores = (emb @ emb.T).numpy()
    for (q, i), rank in zip(pairs, got, strict=True):
        others = [j for j in pool if j != q and j != i]
        assert rank == 1 + sum(scores[q, j] >= scores[q, i] for j in others)


def test_results_say_their_protocol() -> None:
    from graphrec.errors import ConfigError
    from graphrec.evaluation.related import protocol_label

    emb = torch.from_numpy(np.random.default_rng(2).normal(size=(50, 4)).astype(np.float32))
    pairs = np.array([[0, 1], [2, 3], [4, 5]])
    full = evaluate_related(emb, pairs)
    sampled = evaluate_related(emb, pairs, sample_size=10, seed=1)
    assert full["protocol"] == "full" and protocol_label(full) == "full ranking among all items but the query"
    assert sampled["protocol"] == "sampled" and sampled["sample_size"] == 10
    assert protocol_label(sampled) == ("sampled protocol: rank among 10 random items (PinSAGE §4.2), not full ranking")
    assert sampled["mrr"] >= full["mrr"]  # a pool of 10 of the 50 items: never ranked lower
    with pytest.raises(ConfigError, match="sample_size must be between 1 and the 50 items, got 51"):
        evaluate_related(emb, pairs, sample_size=51)
