"""What the model constructors share: the training-matrix check (DataError with the fix) and table initialisation.

Config values are checked where they are declared (graphrec.config.models), when the config is built."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch

from graphrec.config.models import MFConfig
from graphrec.errors import DataError


def check_train(train: sp.spmatrix, num_users: int, num_items: int) -> None:
    """Raise DataError unless `train` is a (num_users × num_items) sparse matrix."""
    if not sp.issparse(train):
        raise DataError(f"train: expected a scipy sparse user × item matrix, got {type(train).__name__}")
    if tuple(train.shape) != (num_users, num_items):
        raise DataError(
            f"train: expected shape ({num_users}, {num_items}) (num_users, num_items), got {tuple(train.shape)}; "
            "build the model with the dataset's user and item counts"
        )


def init_tables(
    user_table: torch.nn.Embedding, item_table: torch.nn.Embedding, config: MFConfig, train: sp.spmatrix
) -> None:
    """Initialise embedding tables: N(0, init_std²), or the spectral start of `graph.spectral` for init = "svd"."""
    assert config.init in ("normal", "svd"), config.init  # declared choices (graphrec.config.models.INITS)
    if config.init == "normal":
        torch.nn.init.normal_(user_table.weight, std=config.init_std)
        torch.nn.init.normal_(item_table.weight, std=config.init_std)
    else:
        from graphrec.graph.spectral import spectral_embeddings

        users, items = spectral_embeddings(train, config.embedding_dim, config.init_std, config.init_seed)
        with torch.no_grad():
            user_table.weight.copy_(torch.from_numpy(users))
            item_table.weight.copy_(torch.from_numpy(items))


def binary_history(train: sp.spmatrix, num_users: int, num_items: int) -> sp.csr_matrix:
    """The checked training matrix as a binary float32 CSR copy (the user histories closed-form models score);
    `train` itself is left unchanged."""
    check_train(train, num_users, num_items)
    history = sp.csr_matrix(train, dtype=np.float32, copy=True)
    history.sum_duplicates()
    history.data[:] = 1.0
    return history
