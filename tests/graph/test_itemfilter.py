"""The item graph of the graph filters: dense and sparse paths against a dense numpy reference."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from graphrec.graph.itemfilter import (
    SPARSE_BLOCK,
    IdealFilter,
    ItemGraph,
    chebyshev_coefficients,
    chebyshev_filter,
    degree_power,
    top_right_singular_vectors,
)


def history(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    matrix = (rng.random((30, 20)) < 0.25).astype(np.float32)
    matrix[:, 2] = 0  # an item nobody has, and a user with no items
    matrix[4] = 0
    return matrix


def reference_graph(matrix: np.ndarray, user_power: float, item_power: float) -> np.ndarray:
    du, di = matrix.sum(axis=1).astype(np.float64), matrix.sum(axis=0).astype(np.float64)
    su = np.where(du > 0, np.where(du > 0, du, 1) ** -user_power, 0)
    si = np.where(di > 0, np.where(di > 0, di, 1) ** -item_power, 0)
    normalised = su[:, None] * matrix * si[None, :]
    return normalised.T @ normalised


@pytest.mark.parametrize("budget", [0.0, 1e9])
@pytest.mark.parametrize(("user_power", "item_power"), [(0.5, 0.5), (0.6, 0.4)])
def test_propagate_equals_the_dense_product(budget: float, user_power: float, item_power: float) -> None:
    matrix = history()
    graph = ItemGraph(sp.csr_matrix(matrix), user_power, item_power, budget)
    assert (graph.dense is None) == (budget == 0.0)
    expected = reference_graph(matrix.astype(np.float64), user_power, item_power)
    signal = np.random.default_rng(1).standard_normal((7, 20)).astype(np.float32)
    np.testing.assert_allclose(graph.propagate(signal), signal @ expected, atol=1e-5)
    sparse_rows = sp.csr_matrix(matrix[:5])
    np.testing.assert_allclose(graph.propagate(sparse_rows), matrix[:5] @ expected, atol=1e-5)


def test_degree_power_keeps_empty_rows_zero() -> None:
    np.testing.assert_array_equal(degree_power(np.array([0.0, 4.0]), -0.5), np.array([0.0, 0.5], np.float32))
    np.testing.assert_array_equal(degree_power(np.array([0.0, 4.0]), 0.5), np.array([0.0, 2.0], np.float32))


def test_ideal_filter_equals_the_dense_projection() -> None:
    matrix = history(2)
    normalised = sp.csr_matrix(matrix)
    vectors = top_right_singular_vectors(normalised, 5, seed=0)
    exact = np.linalg.svd(matrix.astype(np.float64))[2][:5].T
    np.testing.assert_allclose(np.abs(vectors.numpy().T @ exact), np.eye(5), atol=1e-3)  # same subspace, signs aside
    degree = torch.from_numpy(matrix.sum(axis=0))
    ideal = IdealFilter(vectors, degree, 0.5)
    d = degree.numpy().astype(np.float64)
    left = np.where(d > 0, np.where(d > 0, d, 1) ** -0.5, 0)
    v = vectors.numpy().astype(np.float64)
    expected = (matrix * left) @ v @ v.T * np.sqrt(d)
    np.testing.assert_allclose(ideal.apply(matrix), expected, atol=1e-5)
    np.testing.assert_allclose(ideal.apply(sp.csr_matrix(matrix)), expected, atol=1e-5)


@pytest.mark.parametrize("budget", [0.0, 1e9])
def test_propagate_columns_is_propagate_transposed(budget: float) -> None:
    matrix = history(3)
    graph = ItemGraph(sp.csr_matrix(matrix), 0.5, 0.5, budget)
    assert graph.column_block == (None if budget else SPARSE_BLOCK)
    for count in (6, 2 * SPARSE_BLOCK + 5):  # one block, and several with a partial last one on the sparse path
        columns = np.random.default_rng(count).standard_normal((20, count)).astype(np.float32)
        expected = reference_graph(matrix.astype(np.float64), 0.5, 0.5) @ columns
        np.testing.assert_allclose(graph.propagate_columns(columns), expected, atol=1e-5)


@pytest.mark.parametrize("order", [1, 2, 5])
def test_chebyshev_coefficients_interpolate_at_the_chebyshev_nodes(order: int) -> None:
    def transfer(x: np.ndarray) -> np.ndarray:
        return np.exp(x) * np.cos(3 * x)

    coefficients = chebyshev_coefficients(transfer, order)
    np.testing.assert_allclose(coefficients, np.polynomial.chebyshev.chebinterpolate(transfer, order), atol=1e-12)
    nodes = np.cos(np.pi * (np.arange(order + 1) + 0.5) / (order + 1))
    np.testing.assert_allclose(np.polynomial.chebyshev.chebval(nodes, coefficients), transfer(nodes), atol=1e-12)


@pytest.mark.parametrize("budget", [0.0, 1e9])
def test_chebyshev_filter_equals_the_dense_matrix_polynomial(budget: float) -> None:
    matrix = history(5)
    graph = ItemGraph(sp.csr_matrix(matrix), 0.5, 0.5, budget)
    coefficients = np.array([0.3, -0.7, 0.25, 0.1, -0.05])
    laplacian = np.eye(20) - 2 * reference_graph(matrix.astype(np.float64), 0.5, 0.5)
    # Σ c_k T_k(L̃) as explicit matrix powers of L̃, through numpy's Chebyshev → power-series conversion
    polynomial = sum(
        c * np.linalg.matrix_power(laplacian, k) for k, c in enumerate(np.polynomial.chebyshev.cheb2poly(coefficients))
    )
    signal = np.random.default_rng(6).standard_normal((4, 20)).astype(np.float32)
    np.testing.assert_allclose(chebyshev_filter(graph, signal, coefficients), signal @ polynomial, atol=1e-5)
    rows = sp.csr_matrix(matrix[:6])
    np.testing.assert_allclose(chebyshev_filter(graph, rows, coefficients), matrix[:6] @ polynomial, atol=1e-5)
    np.testing.assert_allclose(chebyshev_filter(graph, signal, coefficients[:1]), 0.3 * signal, atol=1e-6)
