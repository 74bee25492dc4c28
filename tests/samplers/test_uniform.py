"""Uniform negative sampler and edge batcher: correctness, uniformity, determinism, resumption."""

from __future__ import annotations

import json

import numpy as np
import pytest
import scipy.sparse as sp

from graphrec.errors import DataError, UnknownNameError
from graphrec.samplers import EdgeBatcher, UniformNegativeSampler, get_sampler
from graphrec.samplers import uniform as uniform_module

from .reference import slow_reference


def _dense_train(seed: int = 0, num_users: int = 12, num_items: int = 15, density: float = 0.6) -> sp.csr_matrix:
    rng = np.random.default_rng(seed)
    mask = rng.random((num_users, num_items)) < density
    mask[:, 0] = False  # everyone has at least one allowed item
    mask[0, 1:] = True  # user 0: exactly one allowed item
    mask[1, :] = False  # user 1: no positives
    return sp.csr_matrix(mask.astype(np.float32))


def _assert_uniform(train: sp.csr_matrix, users: np.ndarray, draws: np.ndarray) -> None:
    """Each user's allowed-item counts pass a generous chi-square bound (~6 sigma)."""
    for u in np.unique(users):
        allowed = np.setdiff1d(np.arange(train.shape[1]), train[u].indices)
        counts = np.bincount(draws[users == u].ravel(), minlength=train.shape[1])
        assert counts[train[u].indices].sum() == 0
        observed = counts[allowed]
        expected = observed.sum() / len(allowed)
        chi2, dof = ((observed - expected) ** 2 / expected).sum(), len(allowed) - 1
        assert chi2 <= dof + 6 * np.sqrt(2 * max(dof, 1)), (u, chi2, dof)


def test_never_returns_a_positive_and_is_uniform() -> None:
    train = _dense_train()
    users = np.repeat(np.arange(train.shape[0]), 2000)
    draws = UniformNegativeSampler(train, seed=3).sample(users, 4)
    assert draws.shape == (users.size, 4) and draws.dtype == np.int64
    assert (draws[users == 0] == 0).all()
    _assert_uniform(train, users, draws)


def test_rank_fallback_is_exact_and_uniform(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(uniform_module, "MAX_REJECTION_ROUNDS", 0)  # every collision goes to the exact path
    train = _dense_train(seed=1, density=0.8)
    users = np.repeat(np.arange(train.shape[0]), 2000)
    draws = UniformNegativeSampler(train, seed=4).sample(users, 3)
    _assert_uniform(train, users, draws)


def test_rank_mapping_enumerates_allowed_items() -> None:
    train = _dense_train(seed=2)
    sampler = UniformNegativeSampler(train, seed=0)
    for u in range(train.shape[0]):
        allowed = np.setdiff1d(np.arange(train.shape[1]), train[u].indices)
        ranks = np.arange(len(allowed))
        query = u * sampler.num_items + ranks
        below = np.searchsorted(sampler._shifted, query, side="right") - sampler._indptr[u]
        assert (ranks + below).tolist() == allowed.tolist()


def test_distribution_matches_slow_reference() -> None:
    train = _dense_train(seed=5)
    users = np.repeat(np.arange(train.shape[0]), 3000)
    fast = UniformNegativeSampler(train, seed=1).sample(users, 1).ravel()
    slow = slow_reference(train, users, 1, seed=1).ravel()
    for u in range(train.shape[0]):
        f = np.bincount(fast[users == u], minlength=train.shape[1]) / 3000
        s = np.bincount(slow[users == u], minlength=train.shape[1]) / 3000
        assert np.abs(f - s).max() < 0.06
        assert set(np.flatnonzero(f)) == set(np.flatnonzero(s))  # same support: the allowed items


def test_seeded_determinism() -> None:
    train = _dense_train()
    users = np.arange(train.shape[0])
    a = UniformNegativeSampler(train, seed=7).sample(users, 5)
    b = UniformNegativeSampler(train, seed=7).sample(users, 5)
    c = UniformNegativeSampler(train, seed=8).sample(users, 5)
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_state_dict_resume_continues_identically() -> None:
    train = _dense_train()
    users = np.arange(train.shape[0])
    sampler = UniformNegativeSampler(train, seed=2)
    sampler.sample(users, 3)
    state = json.loads(json.dumps(sampler.state_dict()))
    expected = [sampler.sample(users, 3) for _ in range(3)]
    resumed = UniformNegativeSampler(train, seed=999)
    resumed.load_state_dict(state)
    assert all(np.array_equal(e, resumed.sample(users, 3)) for e in expected)


def test_user_with_every_item_raises() -> None:
    train = sp.csr_matrix(np.array([[1, 1, 1], [1, 0, 0]], dtype=np.float32))
    sampler = UniformNegativeSampler(train, seed=0)
    assert (sampler.sample(np.array([1, 1]), 10) > 0).all()
    with pytest.raises(DataError, match="interacted with all 3 items"):
        sampler.sample(np.array([1, 0]), 1)


def test_empty_train_and_empty_batch() -> None:
    sampler = UniformNegativeSampler(sp.csr_matrix((3, 4), dtype=np.float32), seed=0)
    assert sampler.sample(np.array([0, 2]), 2).shape == (2, 2)
    assert sampler.sample(np.array([], dtype=np.int64), 2).shape == (0, 2)


def test_registry() -> None:
    assert get_sampler("uniform") is UniformNegativeSampler
    with pytest.raises(UnknownNameError) as info:
        get_sampler("x")
    assert str(info.value) == "unknown sampler 'x'; choose one of: uniform"


def test_edge_batcher_covers_every_edge_once_per_epoch() -> None:
    train = _dense_train(num_users=30, num_items=20, density=0.3)
    batcher = EdgeBatcher(train, batch_size=16, seed=0)
    coo = train.tocoo()
    edges = sorted(zip(coo.row.tolist(), coo.col.tolist(), strict=True))
    assert batcher.num_batches == len(batcher) == -(-len(edges) // 16)
    orders = []
    for _ in range(2):
        batches = list(batcher.epoch())
        assert len(batches) == batcher.num_batches
        assert all(u.dtype == np.int64 and i.dtype == np.int64 and 0 < len(u) <= 16 for u, i in batches)
        seen = [(int(u), int(i)) for us, is_ in batches for u, i in zip(us, is_, strict=True)]
        assert sorted(seen) == edges
        orders.append(seen)
    assert orders[0] != orders[1]  # a fresh order every epoch


def test_edge_batcher_determinism_and_resume() -> None:
    train = _dense_train(num_users=30, num_items=20, density=0.3)
    a, b = EdgeBatcher(train, 7, seed=5), EdgeBatcher(train, 7, seed=5)
    first = [np.concatenate(u) for u in zip(*a.epoch(), strict=True)]
    second = [np.concatenate(u) for u in zip(*b.epoch(), strict=True)]
    assert all(np.array_equal(x, y) for x, y in zip(first, second, strict=True))
    state = json.loads(json.dumps(a.state_dict()))
    expected = [[np.concatenate(u) for u in zip(*a.epoch(), strict=True)] for _ in range(2)]
    resumed = EdgeBatcher(train, 7, seed=123)
    resumed.load_state_dict(state)
    for exp in expected:
        got = [np.concatenate(u) for u in zip(*resumed.epoch(), strict=True)]
        assert all(np.array_equal(x, y) for x, y in zip(exp, got, strict=True))
