from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from graphrec.config import model_config
from graphrec.errors import ConfigError
from graphrec.graph import normalized_adjacency
from graphrec.graph.spectral import normalized_interactions, randomized_svd, spectral_embeddings
from graphrec.models import build_model


def _random_train(seed: int = 0) -> sp.csr_matrix:
    rng = np.random.default_rng(seed)
    dense = (rng.random((60, 40)) < 0.15).astype(np.float32)
    dense[np.arange(60), rng.integers(0, 40, 60)] = 1.0
    return sp.csr_matrix(dense)


def test_randomized_svd_matches_dense_svd() -> None:
    matrix = normalized_interactions(_random_train())
    _, sigma, _ = randomized_svd(matrix, 8, seed=0, power_iterations=8)
    exact = np.linalg.svd(matrix.toarray(), compute_uv=False)[:8]
    np.testing.assert_allclose(sigma, exact, rtol=1e-3)


def test_spectral_vectors_are_eigenvectors_of_the_adjacency() -> None:
    train = _random_train()
    p, sigma, q = randomized_svd(normalized_interactions(train), 6, seed=0, power_iterations=10)
    stacked = np.vstack([p, q])
    propagated = normalized_adjacency(train) @ stacked
    np.testing.assert_allclose(propagated, stacked * sigma, atol=2e-3)


def test_spectral_embeddings_scale_and_shape() -> None:
    users, items = spectral_embeddings(_random_train(), 16, std=0.1, seed=3)
    assert users.shape == (60, 16) and items.shape == (40, 16)
    assert np.concatenate([users.ravel(), items.ravel()]).std() == pytest.approx(0.1, rel=1e-3)
    again = spectral_embeddings(_random_train(), 16, std=0.1, seed=3)
    np.testing.assert_array_equal(users, again[0])


def test_models_accept_svd_init_and_reject_unknown() -> None:
    train = _random_train()
    for name in ("mf", "lightgcn"):
        model = build_model(model_config(name=name, embedding_dim=8, init="svd"), 60, 40, train)
        assert np.isfinite(model.user_embedding.weight.detach().numpy()).all()
    with pytest.raises(ConfigError, match=r'model.init: expected one of "normal", "svd", got "xavier"'):
        model_config(name="mf", init="xavier")
