"""GF-CF against a slow dense reference, and a fitted state that loads back without refitting."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from graphrec.config import model_config
from graphrec.models import build_model
from graphrec.models.gfcf import GFCF


def dense_reference(matrix: np.ndarray, rank: int, alpha: float) -> np.ndarray:
    """s = R R̃ᵀR̃ + α R D_I^{-1/2} V_k V_kᵀ D_I^{1/2}, with numpy's full SVD of the dense R̃."""
    user_degree, item_degree = matrix.sum(axis=1), matrix.sum(axis=0)
    inv_u = np.divide(1.0, np.sqrt(user_degree), out=np.zeros_like(user_degree), where=user_degree > 0)
    inv_i = np.divide(1.0, np.sqrt(item_degree), out=np.zeros_like(item_degree), where=item_degree > 0)
    normalised = inv_u[:, None] * matrix * inv_i[None, :]
    vectors = np.linalg.svd(normalised)[2][:rank].T
    ideal = (matrix * inv_i[None, :]) @ vectors @ vectors.T * np.sqrt(item_degree)[None, :]
    return matrix @ normalised.T @ normalised + alpha * ideal


@pytest.mark.parametrize(("rank", "alpha", "budget_mb"), [(4, 0.3, 1.0), (8, 1.0, 0.0), (3, 0.0, 0.0)])
def test_scores_equal_the_dense_formula(rank: int, alpha: float, budget_mb: float) -> None:
    rng = np.random.default_rng(rank)
    matrix = (rng.random((40, 25)) < 0.2).astype(np.float32)
    matrix[:, 3] = 0  # an item nobody has, and a user with no items
    matrix[5] = 0
    config = model_config("gfcf", rank=rank, alpha=alpha, dense_budget_mb=budget_mb)
    model = build_model(config, 40, 25, sp.csr_matrix(matrix))
    assert (model.graph.dense is not None) == (budget_mb > 0)  # 25² × 4 bytes fit 1 MB; 0 MB forces the sparse path
    model.fit()
    expected = dense_reference(matrix.astype(np.float64), rank, alpha)
    np.testing.assert_allclose(model.score(torch.arange(40)).numpy(), expected, atol=2e-5)
    single = np.zeros((1, 25))
    single[0, 7] = 1.0
    similar = model.scorer().similar(torch.tensor([7])).numpy()
    np.testing.assert_allclose(similar, dense_reference_rows(matrix, single, rank, alpha), atol=2e-5)


def dense_reference_rows(matrix: np.ndarray, rows: np.ndarray, rank: int, alpha: float) -> np.ndarray:
    """The same filter applied to other histories `rows`."""
    item_degree = matrix.sum(axis=0).astype(np.float64)
    user_degree = matrix.sum(axis=1).astype(np.float64)
    inv_u = np.divide(1.0, np.sqrt(user_degree), out=np.zeros_like(user_degree), where=user_degree > 0)
    inv_i = np.divide(1.0, np.sqrt(item_degree), out=np.zeros_like(item_degree), where=item_degree > 0)
    normalised = inv_u[:, None] * matrix * inv_i[None, :]
    vectors = np.linalg.svd(normalised)[2][:rank].T
    return rows @ normalised.T @ normalised + alpha * (rows * inv_i) @ vectors @ vectors.T * np.sqrt(item_degree)


def test_a_loaded_run_scores_without_refitting(
    planted_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from graphrec.runs import load_run, train
    from tests.conftest import tiny_config

    train(tiny_config(planted_dir, "gfcf", epochs=0, model_options={"rank": 16}), tmp_path / "run")
    fitted = load_run(tmp_path / "run")

    def refuse(self: GFCF) -> None:
        raise AssertionError("a loaded run must not refit")

    monkeypatch.setattr(GFCF, "fit", refuse)
    loaded = load_run(tmp_path / "run")
    users = torch.arange(20)
    np.testing.assert_array_equal(loaded.model.score(users).numpy(), fitted.model.score(users).numpy())
    assert float(loaded.model.singular_vectors.abs().sum()) > 0
