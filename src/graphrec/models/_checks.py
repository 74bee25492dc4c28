"""Validation shared by the model constructors (ConfigError / DataError with the fix in the message)."""

from __future__ import annotations

import scipy.sparse as sp

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
