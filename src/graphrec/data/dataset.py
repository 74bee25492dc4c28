"""The Dataset every model, trainer and evaluator consumes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp

from graphrec.data.idmap import IdMap


@dataclass
class Dataset:
    """Interactions as binary user × item CSR matrices (float32, sorted indices, no duplicates).

    `train` is what models learn from; `valid` is for model selection; `test` is touched once. `stats` counts what
    loading did (duplicates merged, rows filtered, held-out rows dropped under the unseen policy, …).
    """

    user_ids: IdMap
    item_ids: IdMap
    train: sp.csr_matrix
    valid: sp.csr_matrix
    test: sp.csr_matrix
    stats: dict[str, Any] = field(default_factory=dict)
    train_timestamps: np.ndarray | None = None  # per training interaction, in `train`'s CSR order (if known)
    # data.unseen_policy = "miss": per held-out split, the distinct (user_id, item_id) pairs (external ids, object
    # arrays) naming a user or item that training never saw — not in the matrices, counted as misses by evaluation.
    unseen: dict[str, tuple[np.ndarray, np.ndarray]] | None = None

    @property
    def num_users(self) -> int:
        return len(self.user_ids)

    @property
    def num_items(self) -> int:
        return len(self.item_ids)

    def split(self, name: str) -> sp.csr_matrix:
        from graphrec.errors import ConfigError

        if name not in ("train", "valid", "test"):
            raise ConfigError(f"unknown split '{name}'; choose one of: train, valid, test")
        return getattr(self, name)

    def train_edges(self) -> tuple[np.ndarray, np.ndarray]:
        """(user_idx, item_idx) int64 arrays of the training interactions, in CSR order."""
        coo = self.train.tocoo()
        return coo.row.astype(np.int64), coo.col.astype(np.int64)
