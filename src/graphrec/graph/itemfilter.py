"""The normalised item–item graph of the training-free graph filters (GF-CF, BSPM, ChebyCF, Turbo-CF).

    R̃ = D_U^{-a} R D_I^{-b}        P̃ = R̃ᵀR̃   (I × I)

A filter is a function of P̃ applied to a user's item signal x (a row of R, then dense): x ↦ x·h(P̃). The dense
I × I matrix P̃ costs 4·I² bytes (6.7 GB for Gowalla's 40,981 items), so :class:`ItemGraph` forms it only when that
fits `dense_budget_bytes`; above it, x·P̃ is computed as (x·R̃ᵀ)·R̃, two sparse-times-dense products per application
(2·B·nnz(R) multiply-adds for B signals) and the item graph is never held. Both paths give the same numbers to float
tolerance. The ideal low-pass filter x·D_I^{-p} V_k V_kᵀ D_I^{p} (V_k: top right singular vectors of R̃) is
:class:`IdealFilter`; its SVD is torch's seeded randomized `svd_lowrank`.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable

import numpy as np
import scipy.sparse as sp
import torch

from graphrec.errors import ConfigError

log = logging.getLogger(__name__)

__all__ = [
    "Bags",
    "ExplicitItemGraph",
    "IdealFilter",
    "ItemGraph",
    "as_bags",
    "bag_product",
    "chebyshev_coefficients",
    "chebyshev_filter",
    "degree_power",
    "normalise",
    "top_right_singular_vectors",
]

SVD_OVERSAMPLE = 16  # extra directions of the randomized range finder (accuracy of the top `rank`)
SVD_ITERATIONS = 4  # power iterations of the randomized SVD
DENSE_BLOCK = 4096  # columns of P̃ formed at once on the dense path (bounds the temporary sparse product)
SPARSE_BLOCK = 32  # signals per embedding-bag product on the sparse path (Gowalla: 41k × 32 floats = 5 MB, in cache)
SPARSE_ENTRY_BYTES = 8  # a stored entry of a float32 CSR matrix: its value and its int32 column index


def degree_power(degree: np.ndarray, power: float) -> np.ndarray:
    """degree^power as float32, 0 where the degree is 0 (so empty rows and columns stay zero for any sign)."""
    degree = np.asarray(degree, dtype=np.float64)
    safe = np.where(degree > 0, degree, 1.0)
    return np.where(degree > 0, safe**power, 0.0).astype(np.float32)


def normalise(history: sp.csr_matrix, user_power: float, item_power: float) -> sp.csr_matrix:
    """R̃ = D_U^{-user_power} R D_I^{-item_power} of a binary float32 CSR history."""
    user_deg = np.asarray(history.sum(axis=1)).ravel()
    item_deg = np.asarray(history.sum(axis=0)).ravel()
    scaled = sp.diags(degree_power(user_deg, -user_power)) @ history @ sp.diags(degree_power(item_deg, -item_power))
    return sp.csr_matrix(scaled, dtype=np.float32)


class ItemGraph:
    """P̃ = R̃ᵀR̃ as an operator on dense item signals: :meth:`propagate` (x ↦ x·P̃), dense under the byte budget."""

    def __init__(self, history: sp.csr_matrix, user_power: float, item_power: float, dense_budget_bytes: float) -> None:
        self.normalised = normalise(history, user_power, item_power)
        self._normalised_t = sp.csr_matrix(self.normalised.T)
        self.num_items = int(history.shape[1])
        self.dense_bytes = 4 * self.num_items * self.num_items
        self.dense: np.ndarray | None = None
        if self.dense_bytes <= dense_budget_bytes:
            self.dense = self._form_dense()
        else:
            log.info(
                "item graph: %d items would take %.2f GB dense (budget %.2f GB); using sparse products",
                self.num_items,
                self.dense_bytes / 1e9,
                dense_budget_bytes / 1e9,
            )

    def _form_dense(self) -> np.ndarray:
        """P̃ (I × I float32), formed DENSE_BLOCK columns at a time."""
        dense = np.empty((self.num_items, self.num_items), dtype=np.float32)
        for start in range(0, self.num_items, DENSE_BLOCK):
            stop = min(start + DENSE_BLOCK, self.num_items)
            dense[:, start:stop] = (self._normalised_t @ self.normalised[:, start:stop]).toarray()
        return dense

    def propagate(self, signal: np.ndarray | sp.spmatrix) -> np.ndarray:
        """signal·P̃ for B signals (B × I, dense or sparse), as a dense float32 B × I array."""
        if self.dense is not None:
            out = signal @ self.dense
            return np.asarray(out, dtype=np.float32)
        # (x R̃ᵀ) densified, then R̃ᵀ times its transpose: two sparse × dense products (the sparse × sparse route
        # would build a nearly dense sparse B × I result at several times the memory)
        left = signal @ self.normalised.T
        left = np.asarray(left.toarray() if sp.issparse(left) else left, dtype=np.float32)
        return np.ascontiguousarray(np.asarray(self._normalised_t @ left.T, dtype=np.float32).T)

    @property
    def column_block(self) -> int | None:
        """Signals the polynomial filters carry through P̃ at once: all of them on the dense path (one matrix
        product), SPARSE_BLOCK on the sparse path (where a narrow I × block operand stays in cache)."""
        return None if self.dense is not None else SPARSE_BLOCK

    @functools.cached_property
    def _bags(self) -> tuple[Bags, Bags]:
        """R̃ and R̃ᵀ as embedding-bag operands (see :func:`bag_product`), made on first use."""
        return as_bags(self.normalised), as_bags(self._normalised_t)

    def propagate_columns(self, columns: np.ndarray) -> np.ndarray:
        """P̃·X for item signals held as the columns of X (I × B float32), as a new I × B array.

        P̃ is symmetric, so this is :meth:`propagate` transposed; the polynomial filters iterate in this layout. On
        the sparse path both products (R̃·X, then R̃ᵀ·(R̃·X)) are torch embedding bags over SPARSE_BLOCK columns at
        a time: a row gather plus a weighted sum, 4–5× faster on Gowalla than scipy's CSR × dense at B = 2048.
        """
        if self.dense is not None:
            return np.asarray(self.dense @ columns, dtype=np.float32)
        forward, backward = self._bags
        if columns.shape[1] <= SPARSE_BLOCK:
            block = torch.from_numpy(np.ascontiguousarray(columns, dtype=np.float32))
            return bag_product(backward, bag_product(forward, block)).numpy()
        out = np.empty(columns.shape, dtype=np.float32)
        for start in range(0, columns.shape[1], SPARSE_BLOCK):
            block = torch.from_numpy(np.ascontiguousarray(columns[:, start : start + SPARSE_BLOCK], dtype=np.float32))
            out[:, start : start + SPARSE_BLOCK] = bag_product(backward, bag_product(forward, block)).numpy()
        return out


Bags = tuple[torch.Tensor, torch.Tensor, torch.Tensor]


def as_bags(matrix: sp.csr_matrix) -> Bags:
    """(column indices int64, row starts int64, values float32) of a CSR matrix: the operands of bag_product."""
    return (
        torch.from_numpy(matrix.indices.astype(np.int64)),
        torch.from_numpy(matrix.indptr[:-1].astype(np.int64)),
        torch.from_numpy(matrix.data.astype(np.float32)),
    )


def bag_product(bags: Bags, dense: torch.Tensor) -> torch.Tensor:
    """M·X for a CSR matrix M given as bags and a dense X (n_cols × B): row i is Σ_j M_ij X_j, a weighted
    embedding-bag sum (empty rows give zeros)."""
    indices, offsets, weights = bags
    return torch.nn.functional.embedding_bag(indices, dense, offsets, mode="sum", per_sample_weights=weights)


def top_right_singular_vectors(matrix: sp.csr_matrix, rank: int, seed: int) -> torch.Tensor:
    """(n_cols × rank) top right singular vectors of a sparse matrix: torch's randomized SVD, seeded, leaving the
    global generator as it was."""
    coo = matrix.tocoo()
    indices = torch.from_numpy(np.vstack([coo.row, coo.col]).astype(np.int64))
    values = torch.from_numpy(coo.data.astype(np.float32))
    tensor = torch.sparse_coo_tensor(indices, values, coo.shape, check_invariants=True).coalesce()
    q = min(rank + SVD_OVERSAMPLE, *coo.shape)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        _, _, v = torch.svd_lowrank(tensor, q=q, niter=SVD_ITERATIONS)
    return v[:, :rank].contiguous()


class IdealFilter:
    """x ↦ x·D_I^{-p} V_k V_kᵀ D_I^{p}: the ideal low-pass filter through the top-k right singular vectors V_k of
    R̃, with item-degree normalisation of power p (GF-CF and BSPM: p = 1/2)."""

    def __init__(self, vectors: torch.Tensor, item_degree: torch.Tensor, power: float) -> None:
        degree = item_degree.numpy()
        self._left = degree_power(degree, -power)
        self._vectors = vectors.numpy().astype(np.float32)
        self._right = np.ascontiguousarray((self._vectors.T * degree_power(degree, power)[None, :]), np.float32)

    def apply(self, signal: np.ndarray | sp.spmatrix) -> np.ndarray:
        """signal·D^{-p} V Vᵀ D^{p} for B signals (B × I), dense float32."""
        if sp.issparse(signal):
            scaled = sp.csr_matrix(signal).multiply(self._left[None, :]).tocsr()
        else:
            scaled = np.asarray(signal, dtype=np.float32) * self._left[None, :]
        return np.asarray((scaled @ self._vectors) @ self._right, dtype=np.float32)


def chebyshev_coefficients(transfer: Callable[[np.ndarray], np.ndarray], order: int) -> np.ndarray:
    """c_0..c_K (float64) of the degree-K polynomial Σ_k c_k T_k(x) that interpolates `transfer` at the K + 1
    Chebyshev nodes x_j = cos(π (j + ½) / (K + 1)) of [−1, 1]:  c_k = (2 − δ_k0) / (K + 1) · Σ_j f(x_j) T_k(x_j)."""
    angles = np.pi * (np.arange(order + 1) + 0.5) / (order + 1)
    values = np.asarray(transfer(np.cos(angles)), dtype=np.float64)
    basis = np.cos(np.outer(np.arange(order + 1), angles))  # T_k(x_j) = cos(k θ_j)
    coefficients = basis @ values * (2.0 / (order + 1))
    coefficients[0] /= 2.0
    return coefficients


def chebyshev_filter(graph: ItemGraph, signal: np.ndarray | sp.spmatrix, coefficients: np.ndarray) -> np.ndarray:
    """x ↦ x·Σ_k c_k T_k(L̃) with L̃ = I − 2P̃, for B signals (B × I, dense or sparse): a dense float32 B × I array.

    The signals go through in blocks of `graph.column_block` (each block independent of the others); per block, the
    three-term recurrence T_{k+1} = 2 L̃ T_k − T_{k−1} costs one application of P̃ per degree (K in all) and holds
    four I × block arrays (the two last terms, the new one and the sum), updated in place.
    """
    rows = int(signal.shape[0])
    block = graph.column_block or max(rows, 1)
    source = sp.csr_matrix(signal, dtype=np.float32) if sp.issparse(signal) else np.asarray(signal, np.float32)
    out = np.empty((rows, graph.num_items), dtype=np.float32)
    for start in range(0, rows, block):
        part = source[start : start + block]
        dense = part.toarray() if isinstance(part, sp.csr_matrix) else part
        out[start : start + block] = _chebyshev_columns(graph, np.ascontiguousarray(dense.T), coefficients).T
    return out


def _chebyshev_columns(graph: ItemGraph, columns: np.ndarray, coefficients: np.ndarray) -> np.ndarray:
    """Σ_k c_k T_k(L̃)·X for item signals in the columns of X (I × b)."""
    current = torch.from_numpy(columns)  # T_0 X
    total = current * float(coefficients[0])
    previous: torch.Tensor | None = None
    for coefficient in coefficients[1:]:
        following = torch.from_numpy(graph.propagate_columns(current.numpy()))
        if previous is None:  # T_1 = L̃ T_0 = T_0 − 2 P̃ T_0
            following.mul_(-2.0).add_(current)
        else:  # T_{k+1} = 2 T_k − 4 P̃ T_k − T_{k−1}
            following.mul_(-4.0).add_(current, alpha=2.0).sub_(previous)
        total.add_(following, alpha=float(coefficient))
        previous, current = current, following
    return total.numpy()


class ExplicitItemGraph:
    """P = (R̃ᵀR̃)^∘power held explicitly, for filters that change P̃ entry by entry (Turbo-CF's element-wise power):
    dense I × I when 4·I² bytes fit `budget_bytes`, else a sparse CSR formed DENSE_BLOCK rows at a time, which must fit
    the same budget (8 bytes per nonzero); ConfigError naming `budget_key` when it does not.

    :meth:`propagate` is x ↦ x·P like :meth:`ItemGraph.propagate`: one sparse × sparse product for the binary
    histories, one sparse × dense product (nnz(P)·B multiply-adds) for a dense signal.
    """

    def __init__(
        self,
        history: sp.csr_matrix,
        user_power: float,
        item_power: float,
        power: float,
        budget_bytes: float,
        budget_key: str = "model.dense_budget_mb",
    ) -> None:
        normalised = normalise(history, user_power, item_power)
        by_item = sp.csr_matrix(normalised.T)
        self.num_items = int(history.shape[1])
        self.dense_bytes = 4 * self.num_items * self.num_items
        self.matrix: np.ndarray | sp.csr_matrix
        if self.dense_bytes <= budget_bytes:
            self.matrix = _dense_powered(by_item, normalised, power)
            self.bytes = self.dense_bytes
        else:
            self.matrix = _sparse_powered(by_item, normalised, power, budget_bytes, budget_key)
            self.bytes = SPARSE_ENTRY_BYTES * self.matrix.nnz + 4 * (self.num_items + 1)
        log.info(
            "explicit item graph: %d items, %s, %d nonzeros, %.1f MB",
            self.num_items,
            "dense" if isinstance(self.matrix, np.ndarray) else "sparse",
            np.count_nonzero(self.matrix) if isinstance(self.matrix, np.ndarray) else self.matrix.nnz,
            self.bytes / 1e6,
        )

    def propagate(self, signal: np.ndarray | sp.spmatrix) -> np.ndarray:
        """signal·P for B signals (B × I, dense or sparse), as a dense float32 B × I array."""
        if isinstance(self.matrix, np.ndarray):
            return np.ascontiguousarray(np.asarray(signal @ self.matrix, dtype=np.float32))
        if sp.issparse(signal):
            product = sp.csr_matrix(signal, dtype=np.float32) @ self.matrix
            return np.asarray(product.toarray(), dtype=np.float32)
        # P is symmetric: x·P = (P·xᵀ)ᵀ, a CSR × dense product over contiguous rows of xᵀ
        out = self.matrix @ np.ascontiguousarray(np.asarray(signal, dtype=np.float32).T)
        return np.ascontiguousarray(np.asarray(out, dtype=np.float32).T)


def _dense_powered(by_item: sp.csr_matrix, normalised: sp.csr_matrix, power: float) -> np.ndarray:
    """(R̃ᵀR̃)^∘power as a dense float32 I × I array, DENSE_BLOCK rows at a time."""
    num_items = by_item.shape[0]
    dense = np.empty((num_items, num_items), dtype=np.float32)
    for start in range(0, num_items, DENSE_BLOCK):
        stop = min(start + DENSE_BLOCK, num_items)
        dense[start:stop] = (by_item[start:stop] @ normalised).toarray()
    if power != 1.0:
        np.power(dense, np.float32(power), out=dense)
    return dense


def _sparse_powered(
    by_item: sp.csr_matrix, normalised: sp.csr_matrix, power: float, budget_bytes: float, budget_key: str
) -> sp.csr_matrix:
    """(R̃ᵀR̃)^∘power as a float32 CSR, DENSE_BLOCK rows at a time; ConfigError as soon as it outgrows the budget."""
    num_items = by_item.shape[0]
    blocks: list[sp.csr_matrix] = []
    used, nnz = 4 * (num_items + 1), 0
    for start in range(0, num_items, DENSE_BLOCK):
        stop = min(start + DENSE_BLOCK, num_items)
        block = sp.csr_matrix(by_item[start:stop] @ normalised, dtype=np.float32)
        if power != 1.0:
            block.data **= np.float32(power)
        nnz += block.nnz
        used += SPARSE_ENTRY_BYTES * block.nnz
        if used > budget_bytes:
            _refuse(num_items, stop, nnz, used, budget_bytes, budget_key)
        blocks.append(block)
    return sp.csr_matrix(sp.vstack(blocks, format="csr"), dtype=np.float32)


def _refuse(num_items: int, rows: int, nnz: int, used: float, budget_bytes: float, budget_key: str) -> None:
    """The error of an explicit item graph over budget: what it needs (extrapolated from the rows formed so far)."""
    estimate = used * num_items / rows
    raise ConfigError(
        f"{budget_key}: the explicit item graph of {num_items:,} items needs more than {_mb(used)} MB as a sparse "
        f"matrix ({nnz:,} nonzeros in its first {rows:,} rows, about {_mb(estimate)} MB in all; "
        f"{_mb(4 * num_items * num_items)} MB dense), over {budget_key} = {budget_bytes / 1e6:g}; raise "
        f"{budget_key} to at least {_mb(1.1 * estimate)} if the memory is there, or use a filter that applies P̃ "
        "through R̃ without forming it (gfcf, bspm)"
    )


def _mb(size: float) -> str:
    """Bytes as MB for messages: whole MB from 10 MB up, three significant digits below."""
    mb = size / 1e6
    return f"{mb:,.0f}" if mb >= 10 else f"{mb:.3g}"
