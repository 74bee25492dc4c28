"""Model config sections (they live in the torch-free graphrec.config.models; re-exported here)."""

from graphrec.config.models import (
    MODEL_CONFIGS,
    GraphSAGEConfig,
    ItemGraphConfig,
    ItemKNNConfig,
    LightGCNConfig,
    MFConfig,
    ModelConfig,
    NGCFConfig,
    Objective,
    PinSAGEConfig,
    PopularityConfig,
    model_config,
)

__all__ = [
    "MODEL_CONFIGS",
    "GraphSAGEConfig",
    "ItemGraphConfig",
    "ItemKNNConfig",
    "LightGCNConfig",
    "MFConfig",
    "ModelConfig",
    "NGCFConfig",
    "Objective",
    "PinSAGEConfig",
    "PopularityConfig",
    "model_config",
]
