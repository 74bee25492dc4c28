"""ChebyCF against a slow dense reference (eigendecomposition of the dense P̃), and a fitted state that loads back
without refitting."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from graphrec.config import model_config
from graphrec.models import build_model
from graphrec.models.chebycf import ChebyCF


def plateau(x: np.ndarray, flatness: float) -> np.ndarray:
    return 0.5 - 0.5 * np.sign(x) * np.abs(x) ** flatness


def dense_reference(matrix: np.ndarray, rows: np.ndarray, options: dict[str, float]) -> np.ndarray:
    """(rows D^{-β} h_K(L̃) + α rows D^{-β} V Vᵀ) D^{β}, h_K evaluated on the eigenvalues of the dense P̃ (numpy's
    Chebyshev interpolant of the plateau at the first-kind points), V from numpy's full SVD of the dense R̃."""
    order, flatness, alpha, rank, beta = (options[key] for key in ("order", "flatness", "alpha", "rank", "beta"))
    user_degree, item_degree = matrix.sum(axis=1), matrix.sum(axis=0)
    inv_u = np.divide(1.0, np.sqrt(user_degree), out=np.zeros_like(user_degree), where=user_degree > 0)
    inv_i = np.divide(1.0, np.sqrt(item_degree), out=np.zeros_like(item_degree), where=item_degree > 0)
    normalised = inv_u[:, None] * matrix * inv_i[None, :]
    eigenvalues, eigenvectors = np.linalg.eigh(normalised.T @ normalised)
    coefficients = np.polynomial.chebyshev.chebinterpolate(lambda x: plateau(x, flatness), int(order))
    response = np.polynomial.chebyshev.chebval(1 - 2 * eigenvalues, coefficients)
    pre = np.where(item_degree > 0, np.where(item_degree > 0, item_degree, 1) ** -beta, 0)
    post = np.where(item_degree > 0, np.where(item_degree > 0, item_degree, 1) ** beta, 0)
    signal = rows * pre[None, :]
    vectors = np.linalg.svd(normalised)[2][: int(rank)].T
    filtered = signal @ eigenvectors @ np.diag(response) @ eigenvectors.T + alpha * signal @ vectors @ vectors.T
    return filtered * post[None, :]


CASES = [
    ({"order": 8, "flatness": 1.5, "alpha": 0.2, "rank": 4, "beta": 0.4}, 1.0),
    ({"order": 8, "flatness": 1.5, "alpha": 0.2, "rank": 4, "beta": 0.4}, 0.0),
    ({"order": 3, "flatness": 10.0, "alpha": 0.0, "rank": 2, "beta": 0.0}, 0.0),
    ({"order": 5, "flatness": 2.0, "alpha": 1.0, "rank": 8, "beta": 0.2}, 1.0),
]


@pytest.mark.parametrize(("options", "budget_mb"), CASES)
def test_scores_equal_the_dense_spectral_formula(options: dict[str, float], budget_mb: float) -> None:
    rng = np.random.default_rng(int(options["order"]))
    matrix = (rng.random((40, 25)) < 0.2).astype(np.float32)
    matrix[:, 3] = 0  # an item nobody has, and a user with no items
    matrix[5] = 0
    config = model_config(
        "chebycf",
        order=int(options["order"]),
        flatness=options["flatness"],
        alpha=options["alpha"],
        rank=int(options["rank"]),
        degree_power=options["beta"],
        dense_budget_mb=budget_mb,
    )
    model = build_model(config, 40, 25, sp.csr_matrix(matrix))
    assert (model.graph.dense is not None) == (budget_mb > 0)  # 25² × 4 bytes fit 1 MB; 0 MB forces the sparse path
    model.fit()
    expected = dense_reference(matrix.astype(np.float64), matrix.astype(np.float64), options)
    np.testing.assert_allclose(model.score(torch.arange(40)).numpy(), expected, atol=2e-5)
    single = np.zeros((1, 25))
    single[0, 7] = 1.0
    similar = model.scorer().similar(torch.tensor([7])).numpy()
    np.testing.assert_allclose(similar, dense_reference(matrix.astype(np.float64), single, options), atol=2e-5)


def test_flatness_one_is_the_linear_filter() -> None:
    """φ = 1 makes the plateau h(λ) = (1 − λ)/2, i.e. h(L̃) = P̃: GF-CF's linear term (α = 0 there too)."""
    rng = np.random.default_rng(3)
    matrix = sp.csr_matrix((rng.random((30, 18)) < 0.3).astype(np.float32))
    cheby = build_model(model_config("chebycf", order=4, flatness=1.0, alpha=0.0, degree_power=0.0), 30, 18, matrix)
    gfcf = build_model(model_config("gfcf", alpha=0.0), 30, 18, matrix)
    cheby.fit()
    gfcf.fit()
    users = torch.arange(30)
    np.testing.assert_allclose(cheby.score(users).numpy(), gfcf.score(users).numpy(), atol=1e-5)


def test_a_loaded_run_scores_without_refitting(
    planted_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from graphrec.runs import load_run, train
    from tests.conftest import tiny_config

    train(tiny_config(planted_dir, "chebycf", epochs=0, model_options={"rank": 16}), tmp_path / "run")
    fitted = load_run(tmp_path / "run")

    def refuse(self: ChebyCF) -> None:
        raise AssertionError("a loaded run must not refit")

    monkeypatch.setattr(ChebyCF, "fit", refuse)
    loaded = load_run(tmp_path / "run")
    users = torch.arange(20)
    np.testing.assert_array_equal(loaded.model.score(users).numpy(), fitted.model.score(users).numpy())
    assert float(loaded.model.singular_vectors.abs().sum()) > 0
