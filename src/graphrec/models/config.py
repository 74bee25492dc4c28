"""Model config sections (they live in the torch-free graphrec.config.models; re-exported here)."""

from graphrec.config.models import *  # noqa: F403
from graphrec.config.models import MODEL_CONFIGS, ModelConfig, Objective, model_config

__all__ = ["MODEL_CONFIGS", "ModelConfig", "Objective", "model_config"]
