"""Registry lookups and the state_dict round trip of every registered model."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from graphrec.config import MODEL_CONFIGS, model_config
from graphrec.config.params import section_fields
from graphrec.errors import UnknownNameError
from graphrec.models import MODELS, Recommender, build_model, get_model_class

from ._reference import random_train

NUM_USERS, NUM_ITEMS = 7, 9


def test_registry_names() -> None:
    assert sorted(MODELS) == [
        "blend",
        "bspm",
        "chebycf",
        "deepwalk",
        "ease",
        "gat",
        "gcn",
        "gfcf",
        "graphsage",
        "itemknn",
        "lightgcn",
        "mf",
        "ngcf",
        "node2vec",
        "pinsage",
        "popularity",
        "simgcl",
        "turbocf",
        "xsimgcl",
    ]
    assert all(issubclass(cls, Recommender) and cls.name == name for name, cls in MODELS.items())


def test_every_model_has_a_config_class_and_every_config_class_a_model() -> None:
    assert set(MODELS) == set(MODEL_CONFIGS)
    for name, cls in MODEL_CONFIGS.items():
        assert cls().name == name and cls.objective.value in ("edges", "item_pairs", "skip_gram", "closed_form")
    for name, model in MODELS.items():  # the model and its config section declare one objective
        assert model.objective is MODEL_CONFIGS[name].objective, name


def test_unknown_model_name_error_wording() -> None:
    with pytest.raises(UnknownNameError) as info:
        get_model_class("foo")
    assert (
        str(info.value)
        == "unknown model 'foo'; choose one of: blend, bspm, chebycf, deepwalk, ease, gat, gcn, gfcf, graphsage, "
        "itemknn, lightgcn, mf, ngcf, node2vec, pinsage, popularity, simgcl, turbocf, xsimgcl"
    )
    assert isinstance(info.value, KeyError)


# blend is built from trained runs: its round trip is tests/models/test_blend.py's and the contract suite's
@pytest.mark.parametrize("name", sorted(set(MODELS) - {"blend"}))
def test_state_dict_round_trip_gives_identical_scores(name: str, tmp_path: Path) -> None:
    train = random_train()
    small = {"embedding_dim": 4, "num_layers": 2, "node_dropout": 0.2, "use_id_embedding": True, "num_heads": 2}
    keys = section_fields(MODEL_CONFIGS[name])
    config = model_config(name, **{k: v for k, v in small.items() if k in keys})
    torch.manual_seed(0)
    original = build_model(config, NUM_USERS, NUM_ITEMS, train).eval()
    path = tmp_path / "model.safetensors"
    save_file(original.state_dict(), str(path))
    torch.manual_seed(1)  # a different initialisation, overwritten by the load
    restored = build_model(config, NUM_USERS, NUM_ITEMS, train).eval()
    restored.load_state_dict(load_file(str(path)))
    users = torch.arange(NUM_USERS)
    torch.testing.assert_close(restored.score(users), original.score(users), rtol=0, atol=0)
    assert not any("adj" in key or "graph" in key for key in original.state_dict()), "adjacency must not be saved"
