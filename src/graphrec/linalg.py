"""Dense/sparse linear algebra with no graph or model knowledge, shared by `data/` and `graph/`.

It sits below both (imports numpy and graphrec.seeding only), so text features in `data/` can use the same
seeded SVD as the spectral initialisation in `graph/` without `data/` importing `graph/` (and torch with it).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from graphrec.seeding import Stream, numpy_rng


def randomized_svd(
    matrix: sp.spmatrix, rank: int, seed: int, oversample: int = 10, power_iterations: int = 4
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Top-`rank` (P, σ, Q) of a sparse matrix by a seeded randomized range finder (Halko et al. 2011).

    Each power iteration costs two sparse-dense products; the QR steps keep the basis orthonormal.
    """
    rng = numpy_rng(seed, Stream.SPECTRAL_SVD)
    width = min(rank + oversample, *matrix.shape)
    basis = np.linalg.qr(matrix @ rng.standard_normal((matrix.shape[1], width)).astype(np.float32))[0]
    for _ in range(power_iterations):
        basis = np.linalg.qr(matrix.T @ basis)[0]
        basis = np.linalg.qr(matrix @ basis)[0]
    small = (matrix.T @ basis).T  # basisᵀ · matrix, shape (width, n_cols)
    u_small, sigma, q_t = np.linalg.svd(small, full_matrices=False)
    return (basis @ u_small)[:, :rank], sigma[:rank], q_t[:rank].T
