"""Opt-in timing at Gowalla scale (29,858 users × 40,981 items, d = 64): set GRAPHREC_PERF=1 to run."""

from __future__ import annotations

import logging
import os
import time

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from graphrec.evaluation import evaluate_embeddings
from graphrec.samplers import UniformNegativeSampler

pytestmark = pytest.mark.skipif(os.environ.get("GRAPHREC_PERF") != "1", reason="set GRAPHREC_PERF=1 to time")
NUM_USERS, NUM_ITEMS = 29_858, 40_981
logger = logging.getLogger(__name__)


def _random_binary(nnz: int, seed: int) -> sp.csr_matrix:
    rng = np.random.default_rng(seed)
    mat = sp.csr_matrix(
        (np.ones(nnz, np.float32), (rng.integers(0, NUM_USERS, nnz), rng.integers(0, NUM_ITEMS, nnz))),
        shape=(NUM_USERS, NUM_ITEMS),
    )
    mat.sum_duplicates()
    mat.data[:] = 1.0
    return mat


def test_gowalla_scale_evaluation_under_5s() -> None:
    exclude, target = _random_binary(810_000, 1), _random_binary(217_000, 2)
    gen = torch.Generator().manual_seed(0)
    user_emb, item_emb = torch.randn(NUM_USERS, 64, generator=gen), torch.randn(NUM_ITEMS, 64, generator=gen)
    evaluate_embeddings(user_emb[:4096], item_emb, target[:4096], exclude[:4096], [20])  # warm-up
    started = time.perf_counter()
    evaluate_embeddings(user_emb, item_emb, target, exclude, [10, 20])
    elapsed = time.perf_counter() - started
    logger.info("evaluation: %.2fs", elapsed)
    assert elapsed < 5.0


def test_gowalla_scale_sampling() -> None:
    train = _random_binary(810_000, 3)
    sampler = UniformNegativeSampler(train, seed=0)
    users = train.tocoo().row.astype(np.int64)
    sampler.sample(users[:1000], 1)
    started = time.perf_counter()
    sampler.sample(users, 1)
    elapsed = time.perf_counter() - started
    logger.info("sampling %d negatives: %.0f ms", users.size, elapsed * 1e3)
    assert elapsed < 1.0
