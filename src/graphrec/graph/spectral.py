"""Spectral (SVD) initialisation of user/item embeddings from the normalised interaction matrix.

With R̃ = D_u^{-1/2} R D_i^{-1/2} = P Σ Qᵀ (truncated to d components), the stacked vectors [p_j; q_j] are
eigenvectors of the LightGCN adjacency Ã = [[0, R̃], [R̃ᵀ, 0]] with eigenvalue σ_j, so propagation only rescales
them: Ã^k [P; Q] = [P; Q] Σ^k. Starting E⁰ there puts LightGCN (and MF) at the best rank-d smooth fit of the graph
before the first BPR step; training then moves away from it as BPR demands.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from graphrec.linalg import randomized_svd
from graphrec.seeding import Stream, numpy_rng

__all__ = ["normalized_interactions", "randomized_svd", "spectral_embeddings"]


def normalized_interactions(train: sp.spmatrix) -> sp.csr_matrix:
    """R̃ = D_u^{-1/2} R D_i^{-1/2} (rows/columns with no interactions stay zero)."""
    train = sp.csr_matrix(train, dtype=np.float32)
    user_deg = np.asarray(train.sum(axis=1)).ravel()
    item_deg = np.asarray(train.sum(axis=0)).ravel()
    inv_u = np.where(user_deg > 0, 1.0 / np.sqrt(np.maximum(user_deg, 1e-12)), 0.0).astype(np.float32)
    inv_i = np.where(item_deg > 0, 1.0 / np.sqrt(np.maximum(item_deg, 1e-12)), 0.0).astype(np.float32)
    return sp.csr_matrix(sp.diags(inv_u) @ train @ sp.diags(inv_i))


def spectral_embeddings(train: sp.spmatrix, dim: int, std: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(user, item) float32 tables [P; Q]·diag(√σ), rescaled so the entries have standard deviation `std`.

    Components beyond the matrix rank (tiny graphs) are filled with N(0, std²) noise.
    """
    rank = min(dim, min(train.shape) - 1)
    p, sigma, q = randomized_svd(normalized_interactions(train), rank, seed)
    scale = np.sqrt(np.maximum(sigma, 0.0))
    users, items = p * scale, q * scale
    spread = float(np.concatenate([users.ravel(), items.ravel()]).std()) or 1.0
    users, items = users * (std / spread), items * (std / spread)
    if rank < dim:
        noise = numpy_rng(seed, Stream.SPECTRAL_NOISE)
        users = np.hstack([users, noise.normal(0, std, (users.shape[0], dim - rank))])
        items = np.hstack([items, noise.normal(0, std, (items.shape[0], dim - rank))])
    return users.astype(np.float32), items.astype(np.float32)
