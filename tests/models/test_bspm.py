"""BSPM against a slow dense reference (both item-graph paths), its ODE steps against explicit dense steps and the
matrix exponential, and a fitted state that loads back without refitting."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import scipy.linalg
import scipy.sparse as sp
import torch

from graphrec.config import model_config
from graphrec.models import build_model
from graphrec.models.bspm import BSPM, linear_process_states


def normalised_dense(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(R̃ = D_U^{-1/2} R D_I^{-1/2}, item degrees) in float64; empty rows and columns stay zero."""
    user_degree, item_degree = matrix.sum(axis=1), matrix.sum(axis=0)
    inv_u = np.divide(1.0, np.sqrt(user_degree), out=np.zeros_like(user_degree), where=user_degree > 0)
    inv_i = np.divide(1.0, np.sqrt(item_degree), out=np.zeros_like(item_degree), where=item_degree > 0)
    return inv_u[:, None] * matrix * inv_i[None, :], item_degree


def explicit_step(state: np.ndarray, operator: np.ndarray, h: float, solver: str) -> np.ndarray:
    """One textbook step of dr/dt = r·A: Euler, or the classical RK4 with its four stages k1..k4."""
    if solver == "euler":
        return state + h * state @ operator
    k1 = state @ operator
    k2 = (state + h / 2 * k1) @ operator
    k3 = (state + h / 2 * k2) @ operator
    k4 = (state + h * k3) @ operator
    return state + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)


def explicit_states(state: np.ndarray, operator: np.ndarray, solver: str, time: float, steps: int) -> list[np.ndarray]:
    states = []
    for _ in range(steps):
        state = explicit_step(state, operator, time / steps, solver)
        states.append(state)
    return states


def dense_bspm(matrix: np.ndarray, rows: np.ndarray, options: dict[str, Any]) -> np.ndarray:
    """BSPM of histories `rows`, written out with dense float64 matrices and numpy's full SVD."""
    o = {**model_config("bspm").__dict__, **options}
    normalised, item_degree = normalised_dense(matrix)
    graph = normalised.T @ normalised
    eye = np.eye(len(graph))
    inv_i = np.divide(1.0, np.sqrt(item_degree), out=np.zeros_like(item_degree), where=item_degree > 0)
    vectors = np.linalg.svd(normalised)[2][: o["rank"]].T
    ideal = o["ideal_weight"] * (rows * inv_i) @ vectors @ vectors.T * np.sqrt(item_degree)
    blurred = explicit_states(rows, graph - eye, o["blur_solver"], o["blur_time"], o["blur_steps"])
    sharpening = o["sharpen_time"] > 0
    early = sharpening and o["merge"] == "early"
    start = blurred[-1] + ideal if early else blurred[-1]
    sharpened = explicit_states(start, -graph, o["sharpen_solver"], o["sharpen_time"], o["sharpen_steps"])
    states = blurred + (sharpened if sharpening else [])
    score = np.mean(states, axis=0) if o["point_combination"] else states[-1]
    return score if early else score + ideal


def small_matrix(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    matrix = (rng.random((40, 25)) < 0.2).astype(np.float32)
    matrix[:, 3] = 0  # an item nobody has, and a user with no items
    matrix[5] = 0
    return matrix


CASES = [
    {},  # the defaults: one Euler step each, early merge
    {"sharpen_solver": "rk4", "sharpen_time": 2.5, "ideal_weight": 0.2, "rank": 8},  # the official Gowalla recipe
    {"blur_solver": "rk4", "blur_time": 0.7, "blur_steps": 3, "sharpen_steps": 2, "merge": "late", "rank": 4},
    {"sharpen_solver": "rk4", "sharpen_steps": 2, "point_combination": True, "blur_steps": 2, "rank": 5},
    {"sharpen_time": 0.0, "point_combination": True, "blur_steps": 2, "rank": 6},  # no sharpening
    {"sharpen_time": 0.0, "rank": 6, "ideal_weight": 0.5},
    {"ideal_weight": 0.0, "sharpen_solver": "rk4", "merge": "late"},
]


@pytest.mark.parametrize("budget_mb", [1.0, 0.0])
@pytest.mark.parametrize("options", CASES)
def test_scores_equal_the_dense_formula(options: dict[str, Any], budget_mb: float) -> None:
    matrix = small_matrix(len(options))
    model = build_model(model_config("bspm", dense_budget_mb=budget_mb, **options), 40, 25, sp.csr_matrix(matrix))
    assert (model.graph.dense is not None) == (budget_mb > 0)  # 25² × 4 bytes fit 1 MB; 0 MB: the sparse path
    model.fit()
    expected = dense_bspm(matrix.astype(np.float64), matrix.astype(np.float64), options)
    np.testing.assert_allclose(model.score(torch.arange(40)).numpy(), expected, atol=3e-5, rtol=1e-4)
    single = np.zeros((1, 25))
    single[0, 7] = 1.0
    similar = model.scorer().similar(torch.tensor([7])).numpy()
    np.testing.assert_allclose(similar, dense_bspm(matrix.astype(np.float64), single, options), atol=3e-5, rtol=1e-4)


def test_an_ideal_weight_of_zero_skips_the_svd() -> None:
    model = build_model(model_config("bspm", ideal_weight=0.0), 40, 25, sp.csr_matrix(small_matrix(0)))
    model.fit()
    assert float(model.singular_vectors.abs().sum()) == 0.0 and model.scorer().ideal is None


@pytest.mark.parametrize("solver", ["euler", "rk4"])
@pytest.mark.parametrize("sparse_start", [False, True])
def test_process_steps_equal_the_explicit_dense_steps(solver: str, sparse_start: bool) -> None:
    rng = np.random.default_rng(1)
    operator = rng.normal(size=(12, 12)) / 4
    operator = (operator + operator.T).astype(np.float32)
    start = (rng.random((5, 12)) < 0.3).astype(np.float32)
    start_signal = sp.csr_matrix(start) if sparse_start else start
    states = list(
        linear_process_states(lambda x: np.asarray(x @ operator, np.float32), start_signal, 0.8, -0.3, solver, 1.5, 3)
    )
    expected = explicit_states(start.astype(np.float64), 0.8 * operator - 0.3 * np.eye(12), solver, 1.5, 3)
    assert len(states) == 3
    for got, want in zip(states, expected, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(("solver", "steps", "tolerance"), [("rk4", 40, 1e-5), ("euler", 4000, 2e-3)])
def test_processes_converge_to_the_matrix_exponential(solver: str, steps: int, tolerance: float) -> None:
    matrix = small_matrix(3).astype(np.float64)
    normalised, _ = normalised_dense(matrix)
    graph = normalised.T @ normalised  # eigenvalues in [0, 1]
    rows = matrix[:6]
    propagate = lambda x: np.asarray(x @ graph, np.float32)  # noqa: E731
    for scale, shift, time in ((1.0, -1.0, 1.0), (-1.0, 0.0, 2.5)):  # blurring, sharpening
        *_, last = linear_process_states(propagate, rows.astype(np.float32), scale, shift, solver, time, steps)
        exact = rows @ scipy.linalg.expm(time * (scale * graph + shift * np.eye(len(graph))))
        np.testing.assert_allclose(last, exact, atol=tolerance * np.abs(exact).max())


def test_one_rk4_step_is_the_fourth_order_taylor_polynomial() -> None:
    rng = np.random.default_rng(2)
    operator = rng.normal(size=(8, 8)) / 3
    start = rng.normal(size=(3, 8))
    (state,) = linear_process_states(lambda x: np.asarray(x @ operator, np.float32), start, 1.0, 0.0, "rk4", 2.0, 1)
    taylor = sum(np.linalg.matrix_power(2.0 * operator, k) / np.prod(np.arange(1, k + 1)) for k in range(5))
    np.testing.assert_allclose(state, start @ taylor, rtol=1e-4, atol=1e-4)


def test_a_loaded_run_scores_without_refitting(
    planted_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from graphrec.runs import load_run, train
    from tests.conftest import tiny_config

    options = {"rank": 16, "sharpen_solver": "rk4", "sharpen_time": 2.5}
    train(tiny_config(planted_dir, "bspm", epochs=0, model_options=options), tmp_path / "run")
    fitted = load_run(tmp_path / "run")

    def refuse(self: BSPM) -> None:
        raise AssertionError("a loaded run must not refit")

    monkeypatch.setattr(BSPM, "fit", refuse)
    loaded = load_run(tmp_path / "run")
    users = torch.arange(20)
    np.testing.assert_array_equal(loaded.model.score(users).numpy(), fitted.model.score(users).numpy())
    assert float(loaded.model.singular_vectors.abs().sum()) > 0
