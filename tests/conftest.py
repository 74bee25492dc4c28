"""Shared fixtures: tiny generated data only (the suite never reads ../shared)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

torch.set_num_threads(1)


@pytest.fixture(scope="session")
def planted_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small LightGCN-format data directory with planted communities (train.txt, test.txt)."""
    from graphrec.data import generate_demo_dir

    out = tmp_path_factory.mktemp("planted")
    generate_demo_dir(out, seed=0)
    return out


def planted_features(data_dir: Path) -> dict[str, object]:
    """The [features] section reading the planted data's item catalogue (items.csv): TF-IDF text, 8 dims."""
    return {
        "catalogue": str(data_dir / "items.csv"),
        "item_col": "item_id",
        "extract_numeric": {},
        "text_encoder": "tfidf",
        "text_dim": 8,
    }


def tiny_config(data_dir: Path, model: str, epochs: int = 10, model_options: dict | None = None, **train: object):
    """A fast RunConfig for tests: small tables, few epochs; `train` overrides [train] keys and `model_options`
    [model] keys. Keys of the shared fast settings that the model (or its objective) does not have are left out
    (popularity trains nothing)."""
    from graphrec.config import MODEL_CONFIGS, TRAIN_CONFIGS, config_from_dict
    from graphrec.config.params import section_fields

    # contrast_weight (simgcl, xsimgcl): their default (0.05) spelled out, so these fixtures keep it if it moves;
    # on 500 users in a few planted communities SELFRec's λ (0.5 / 0.2) ranks below popularity.
    model_values: dict[str, object] = {"embedding_dim": 16, "num_layers": 2, "contrast_weight": 0.05}
    train_values: dict[str, object] = {
        "epochs": epochs,
        "batch_size": 512,
        "lr": 0.02,
        "eval_every": 2,
        "patience": 0,
        "show_progress": False,
    }
    values: dict[str, object] = {"seed": 7, "data": {"path": str(data_dir)}, "eval": {"ks": [10, 20]}}
    if model in ("pinsage", "graphsage"):  # feature models: the planted catalogue, item-pair training
        values["features"] = planted_features(data_dir)
        # hidden_dim: wider than the 14 input features, the neighbour half swamps the node's own
        model_values.update(num_neighbours=5, num_walks=10, hidden_dim=32)
        train_values.update(loss="margin", shared_negatives=50, batch_size=256, lr=0.01)
    model_cls = MODEL_CONFIGS[model]
    model_keys = section_fields(model_cls)
    train_keys = section_fields(TRAIN_CONFIGS[model_cls.objective])
    values["model"] = {
        "name": model,
        **{k: v for k, v in model_values.items() if k in model_keys},
        **(model_options or {}),
    }
    values["train"] = {**{k: v for k, v in train_values.items() if k in train_keys}, **train}
    return config_from_dict(values)
