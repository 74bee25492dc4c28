"""ExplicitItemGraph ((R̃ᵀR̃)^∘s held explicitly) against dense
float64 references, on both the dense and the sparse path."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from graphrec.graph.itemfilter import ExplicitItemGraph


def random_history(seed: int, users: int = 50, items: int = 30, density: float = 0.15) -> sp.csr_matrix:
    rng = np.random.default_rng(seed)
    matrix = (rng.random((users, items)) < density).astype(np.float32)
    matrix[:, 4] = 0
    matrix[7] = 0
    return sp.csr_matrix(matrix)


def dense_graph(history: sp.csr_matrix, user_power: float, item_power: float) -> np.ndarray:
    matrix = history.toarray().astype(np.float64)
    du, di = matrix.sum(axis=1), matrix.sum(axis=0)
    left = np.divide(1.0, du**user_power, out=np.zeros_like(du), where=du > 0)
    right = np.divide(1.0, di**item_power, out=np.zeros_like(di), where=di > 0)
    normalised = left[:, None] * matrix * right[None, :]
    return normalised.T @ normalised


@pytest.mark.parametrize(("budget", "dense"), [(1e6, True), (4000.0, False)])
@pytest.mark.parametrize(("user_power", "power"), [(0.5, 1.0), (0.6, 0.7), (0.2, 1.5)])
def test_explicit_graph_is_the_powered_gram_matrix(budget: float, dense: bool, user_power: float, power: float) -> None:
    history = random_history(int(10 * power), items=80, density=0.05)  # dense: 25.6 kB
    reference = dense_graph(history, user_power, 1 - user_power) ** power
    if not dense:
        budget = 8 * np.count_nonzero(reference) + 4 * 81  # exactly enough for the sparse form
        assert budget < 4 * 80 * 80
    graph = ExplicitItemGraph(history, user_power, 1 - user_power, power, budget)
    assert isinstance(graph.matrix, np.ndarray) == dense
    matrix = graph.matrix if dense else graph.matrix.toarray()
    np.testing.assert_allclose(matrix, reference, rtol=1e-5, atol=1e-6)
    signal = np.random.default_rng(1).normal(size=(4, 80)).astype(np.float32)
    np.testing.assert_allclose(graph.propagate(signal), signal @ reference, rtol=1e-4, atol=1e-5)
    rows = history[:6]
    np.testing.assert_allclose(graph.propagate(rows), rows.toarray() @ reference, rtol=1e-5, atol=1e-5)
