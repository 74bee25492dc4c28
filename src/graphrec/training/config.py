"""Training config sections (they live in the torch-free graphrec.config.train; re-exported here)."""

from graphrec.config.train import (
    TRAIN_CONFIGS,
    ClosedFormTrainConfig,
    EdgeTrainConfig,
    ItemPairTrainConfig,
    TrainConfig,
    TrainSection,
)

__all__ = [
    "TRAIN_CONFIGS",
    "ClosedFormTrainConfig",
    "EdgeTrainConfig",
    "ItemPairTrainConfig",
    "TrainConfig",
    "TrainSection",
]
