"""Run configuration: typed, per-model and per-objective sections, every value checked when the config is built.

Torch-free (a test keeps it so): the CLI parses and checks a config before importing the heavy modules.

- :mod:`graphrec.config.params` — declared constraints and the one error template;
- :mod:`graphrec.config.models` — one section class per model, chosen by ``model.name``, each with its objective;
- :mod:`graphrec.config.train` — the ``[train]`` classes, one per objective;
- :mod:`graphrec.config.sections` — ``[data]``, ``[eval]``, ``[features]``;
- :mod:`graphrec.config.run` — RunConfig, parsing, overrides, TOML.
"""

from graphrec.config.models import (
    MODEL_CONFIGS,
    DeepWalkConfig,
    GATConfig,
    GCNConfig,
    GraphConvConfig,
    GraphSAGEConfig,
    ItemGraphConfig,
    ItemKNNConfig,
    LightGCNConfig,
    MFConfig,
    ModelConfig,
    NGCFConfig,
    Node2VecConfig,
    Objective,
    PinSAGEConfig,
    PopularityConfig,
    PropagationConfig,
    SimGCLConfig,
    XSimGCLConfig,
    model_config,
    model_config_class,
)
from graphrec.config.params import error_message, validate
from graphrec.config.run import (
    RETIRED_KEYS,
    RunConfig,
    apply_overrides,
    config_from_dict,
    config_to_dict,
    config_to_toml,
    data_overrides,
    load_config,
    load_run_config,
    section_from_dict,
    set_values,
    with_absolute_paths,
)
from graphrec.config.sections import DataConfig, EvalConfig, FeatureConfig
from graphrec.config.train import (
    TRAIN_CONFIGS,
    ClosedFormTrainConfig,
    EdgeTrainConfig,
    ItemPairTrainConfig,
    SkipGramTrainConfig,
    TrainConfig,
    TrainSection,
)

__all__ = [
    "MODEL_CONFIGS",
    "RETIRED_KEYS",
    "TRAIN_CONFIGS",
    "ClosedFormTrainConfig",
    "DataConfig",
    "DeepWalkConfig",
    "EdgeTrainConfig",
    "EvalConfig",
    "FeatureConfig",
    "GATConfig",
    "GCNConfig",
    "GraphConvConfig",
    "GraphSAGEConfig",
    "ItemGraphConfig",
    "ItemKNNConfig",
    "ItemPairTrainConfig",
    "LightGCNConfig",
    "MFConfig",
    "ModelConfig",
    "NGCFConfig",
    "Node2VecConfig",
    "Objective",
    "PinSAGEConfig",
    "PopularityConfig",
    "PropagationConfig",
    "RunConfig",
    "SimGCLConfig",
    "SkipGramTrainConfig",
    "TrainConfig",
    "TrainSection",
    "XSimGCLConfig",
    "apply_overrides",
    "config_from_dict",
    "config_to_dict",
    "config_to_toml",
    "data_overrides",
    "error_message",
    "load_config",
    "load_run_config",
    "model_config",
    "model_config_class",
    "section_from_dict",
    "set_values",
    "validate",
    "with_absolute_paths",
]
