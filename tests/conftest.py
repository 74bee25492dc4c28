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


def tiny_config(data_dir: Path, model: str, epochs: int = 10, **train: object):
    """A fast RunConfig for tests."""
    from graphrec.config import RunConfig

    config = RunConfig(seed=7)
    config.data.path = str(data_dir)
    config.model.name = model
    config.model.embedding_dim = 16
    config.model.num_layers = 2
    config.train.epochs = epochs
    config.train.batch_size = 512
    config.train.lr = 0.02
    config.train.eval_every = 2
    config.train.patience = 0
    config.train.show_progress = False
    config.eval.ks = [10, 20]
    for key, value in train.items():
        setattr(config.train, key, value)
    if model in ("pinsage", "graphsage"):  # feature models: the planted catalogue, item-pair training
        config.features.catalogue = str(data_dir / "items.csv")
        config.features.item_col = "item_id"
        config.features.extract_numeric = {}
        config.features.text_encoder = "tfidf"
        config.features.text_dim = 8
        config.model.num_neighbours = 5
        config.model.num_walks = 10
        config.model.hidden_dim = 32  # wider than the 14 input features, the neighbour half swamps the node's own
        config.train.loss = "margin"
        config.train.shared_negatives = 50
        config.train.batch_size = 256
        config.train.lr = 0.01
    return config
