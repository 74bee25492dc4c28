"""Validation shared by the model constructors (ConfigError / DataError with the fix in the message)."""

from __future__ import annotations

import scipy.sparse as sp
import torch

from graphrec.errors import ConfigError, DataError
from graphrec.models.config import ModelConfig


def check_train(train: sp.spmatrix, num_users: int, num_items: int) -> None:
    """Raise DataError unless `train` is a (num_users × num_items) sparse matrix."""
    if not sp.issparse(train):
        raise DataError(f"train: expected a scipy sparse user × item matrix, got {type(train).__name__}")
    if tuple(train.shape) != (num_users, num_items):
        raise DataError(
            f"train: expected shape ({num_users}, {num_items}) (num_users, num_items), got {tuple(train.shape)}; "
            "build the model with the dataset's user and item counts"
        )


def check_embedding(config: ModelConfig) -> None:
    """Raise ConfigError unless embedding_dim ≥ 1 and init_std > 0."""
    if config.embedding_dim < 1:
        raise ConfigError(f"model.embedding_dim: expected a positive integer, got {config.embedding_dim}; e.g. 64")
    if not config.init_std > 0:
        raise ConfigError(f"model.init_std: expected a positive float, got {config.init_std}; e.g. 0.1")


def check_layers(config: ModelConfig) -> None:
    """Raise ConfigError unless num_layers ≥ 0."""
    if config.num_layers < 0:
        raise ConfigError(f"model.num_layers: expected an integer ≥ 0, got {config.num_layers}; e.g. 3")


def check_probability(value: float, field: str) -> None:
    """Raise ConfigError unless 0 ≤ value < 1 (a dropout rate)."""
    if not 0.0 <= value < 1.0:
        raise ConfigError(f"model.{field}: expected a rate in [0, 1), got {value}; e.g. 0.1, or 0 to disable")


def init_tables(user_table: torch.nn.Embedding, item_table: torch.nn.Embedding, config: ModelConfig,
                train: sp.spmatrix) -> None:
    """Initialise embedding tables: N(0, init_std²), or the spectral start of `graph.spectral` for init = "svd"."""
    if config.init == "normal":
        torch.nn.init.normal_(user_table.weight, std=config.init_std)
        torch.nn.init.normal_(item_table.weight, std=config.init_std)
    elif config.init == "svd":
        from graphrec.graph.spectral import spectral_embeddings

        users, items = spectral_embeddings(train, config.embedding_dim, config.init_std, config.init_seed)
        with torch.no_grad():
            user_table.weight.copy_(torch.from_numpy(users))
            item_table.weight.copy_(torch.from_numpy(items))
    else:
        raise ConfigError(f"model.init: expected 'normal' or 'svd', got {config.init!r}")
