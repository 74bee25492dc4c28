"""Turbo-CF against a slow dense reference (dense and sparse item graphs), the over-budget refusal, and a run that
loads back without refitting."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from graphrec.config import model_config
from graphrec.errors import ConfigError
from graphrec.models import build_model
from graphrec.models.turbocf import TurboCF

NUM_USERS, NUM_ITEMS, BLOCKS = 60, 60, 6


def community_matrix(seed: int) -> np.ndarray:
    """Users who only touch the items of their own block of 10: P is block diagonal (at most 600 of 3,600
    entries), so its sparse form (≤ 4.9 kB) is much smaller than its dense one (14.4 kB)."""
    rng = np.random.default_rng(seed)
    size = NUM_ITEMS // BLOCKS
    matrix = np.zeros((NUM_USERS, NUM_ITEMS), dtype=np.float32)
    for user in range(NUM_USERS):
        block = user % BLOCKS
        matrix[user, block * size : (block + 1) * size] = rng.random(size) < 0.4
    matrix[:, 3] = 0  # an item nobody has, and a user with no items
    matrix[5] = 0
    return matrix


def dense_turbocf(matrix: np.ndarray, rows: np.ndarray, beta: float, power: float, name: str) -> np.ndarray:
    """r f(P), P = (R̃ᵀR̃)^∘s, R̃ = D_U^{-β} R D_I^{-(1−β)}, with dense float64 matrix powers."""
    user_degree, item_degree = matrix.sum(axis=1), matrix.sum(axis=0)
    du = np.divide(1.0, user_degree**beta, out=np.zeros_like(user_degree), where=user_degree > 0)
    di = np.divide(1.0, item_degree ** (1 - beta), out=np.zeros_like(item_degree), where=item_degree > 0)
    normalised = du[:, None] * matrix * di[None, :]
    graph = (normalised.T @ normalised) ** power
    squared = graph @ graph
    filters = {
        "linear": graph,
        "quadratic": 2 * graph - squared,
        "cubic": graph + 0.01 * (-squared @ graph + 10 * squared - 29 * graph),
    }
    return rows @ filters[name]


@pytest.mark.parametrize("budget_mb", [1.0, 0.008])
@pytest.mark.parametrize(
    ("beta", "power", "name"), [(0.5, 1.0, "linear"), (0.6, 0.7, "linear"), (0.3, 1.4, "quadratic"), (0.5, 1, "cubic")]
)
def test_scores_equal_the_dense_formula(beta: float, power: float, name: str, budget_mb: float) -> None:
    matrix = small = community_matrix(int(10 * beta))
    config = model_config("turbocf", beta=beta, power=power, filter=name, dense_budget_mb=budget_mb)
    model = build_model(config, NUM_USERS, NUM_ITEMS, sp.csr_matrix(small))
    model.fit()
    assert isinstance(model.graph.matrix, np.ndarray) == (budget_mb == 1.0)  # 14.4 kB dense > 8 kB: sparse
    expected = dense_turbocf(matrix.astype(np.float64), matrix.astype(np.float64), beta, power, name)
    np.testing.assert_allclose(model.score(torch.arange(NUM_USERS)).numpy(), expected, rtol=1e-5, atol=1e-5)
    similar = model.scorer().similar(torch.tensor([7, 12])).numpy()
    one_hot = np.eye(NUM_ITEMS)[[7, 12]]
    np.testing.assert_allclose(similar, dense_turbocf(matrix, one_hot, beta, power, name), rtol=1e-5, atol=1e-5)


def test_an_item_graph_over_the_budget_is_refused_with_what_it_needs() -> None:
    config = model_config("turbocf", dense_budget_mb=0.001)
    model = build_model(config, NUM_USERS, NUM_ITEMS, sp.csr_matrix(community_matrix(0)))
    with pytest.raises(ConfigError) as info:
        model.fit()
    nnz = int((community_matrix(0).T @ community_matrix(0) > 0).sum())  # every nonzero is in the first block of rows
    assert str(info.value) == (
        f"model.dense_budget_mb: the explicit item graph of 60 items needs more than {(8 * nnz + 244) / 1e6:.3g} MB "
        f"as a sparse matrix ({nnz:,} nonzeros in its first 60 rows, about {(8 * nnz + 244) / 1e6:.3g} MB in all; "
        "0.0144 MB dense), over model.dense_budget_mb = 0.001; raise model.dense_budget_mb to at least "
        f"{1.1 * (8 * nnz + 244) / 1e6:.3g} if the memory is there, or use a filter that applies P̃ through R̃ "
        "without forming it (gfcf, bspm)"
    )


def test_a_loaded_run_scores_without_refitting(
    planted_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from graphrec.runs import load_run, train
    from tests.conftest import tiny_config

    options = {"beta": 0.6, "power": 0.7, "dense_budget_mb": 0.34}  # 300 items: sparse (~0.32 MB), not dense (0.36 MB)
    train(tiny_config(planted_dir, "turbocf", epochs=0, model_options=options), tmp_path / "run")
    fitted = load_run(tmp_path / "run")
    expected = fitted.model.score(torch.arange(20)).numpy()

    def refuse(self: TurboCF) -> None:
        raise AssertionError("a loaded run must not refit")

    monkeypatch.setattr(TurboCF, "fit", refuse)
    loaded = load_run(tmp_path / "run")
    np.testing.assert_array_equal(loaded.model.score(torch.arange(20)).numpy(), expected)
    assert not isinstance(loaded.model.graph.matrix, np.ndarray)
