"""A slow, obviously-correct negative sampler, for testing."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp


def slow_reference(train: sp.csr_matrix, user_idx: np.ndarray, num_negatives: int, seed: int) -> np.ndarray:
    """For each user, draw `num_negatives` items uniformly (with replacement) from the items it has not seen."""
    rng = np.random.default_rng(seed)
    out = np.empty((len(user_idx), num_negatives), dtype=np.int64)
    allowed_of: dict[int, np.ndarray] = {}
    for row, user in enumerate(user_idx):
        if int(user) not in allowed_of:
            seen = set(train[user].indices.tolist())
            allowed_of[int(user)] = np.array([i for i in range(train.shape[1]) if i not in seen], dtype=np.int64)
        out[row] = rng.choice(allowed_of[int(user)], size=num_negatives, replace=True)
    return out
