"""Configuration shared by every model (each model reads the fields it needs)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class ModelConfig:
    """Hyperparameters of a model; `name` selects it from the registry."""

    name: str = "lightgcn"
    embedding_dim: int = 64
    num_layers: int = 3
    layer_weights: list[float] | None = None  # LightGCN alpha_k; None = 1/(K+1) each
    init_std: float = 0.1  # N(0, init_std) initialisation of the embedding tables
    init: str = "normal"  # normal | svd (MF, LightGCN: spectral start from the normalised interactions, see graph.spectral)
    init_seed: int = 0  # seed of the randomized SVD when init = "svd"
    message_dropout: float = 0.1  # NGCF: dropout on each layer's output messages
    node_dropout: float = 0.0  # NGCF: fraction of graph edges dropped per training step
    leaky_relu_slope: float = 0.2  # NGCF
