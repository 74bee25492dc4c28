"""DeepWalk and node2vec: config constraints, the node table behind the user / item embeddings, and a tiny
end-to-end train on planted communities that ranks held-out items far above chance."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from graphrec.config import DeepWalkConfig, Node2VecConfig, SkipGramTrainConfig, config_from_dict, model_config
from graphrec.errors import ConfigError
from graphrec.models import DeepWalk, EmbeddingRecommender, Node2Vec, Objective, build_model
from graphrec.runs import evaluate_run, load_run, train

from ..conftest import tiny_config

WALKS = {"num_walks": 2, "walk_length": 10, "window": 3}


@pytest.mark.parametrize(
    ("model", "message"),
    [
        (
            {"walk_length": 4, "window": 5},
            "model.window: expected at most 3 (model.walk_length − 1: a context lies within the walk, "
            "model.walk_length = 4), got 5; set e.g. model.window = 3",
        ),
        ({"walk_length": 1}, "model.walk_length: expected an integer ≥ 2, got 1; set e.g. model.walk_length = 20"),
        ({"num_negatives": 0}, "model.num_negatives: expected an integer ≥ 1, got 0; set e.g. model.num_negatives = 5"),
        ({"name": "node2vec", "q": 0}, "model.q: expected a float > 0, got 0.0; set e.g. model.q = 1.0"),
        ({"name": "node2vec", "p": -1.0}, "model.p: expected a float > 0, got -1.0; set e.g. model.p = 1.0"),
        ({"p": 2.0}, 'model.p: not a key of model "deepwalk"; its keys are: name, embedding_dim, '),
    ],
)
def test_config_constraints(model: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        config_from_dict({"model": {"name": "deepwalk", **model}})
    assert str(info.value).startswith(message)


def test_the_model_names_choose_the_sections_and_the_objective() -> None:
    for name, cls in (("deepwalk", DeepWalkConfig), ("node2vec", Node2VecConfig)):
        config = config_from_dict({"model": {"name": name}})
        assert type(config.model) is cls and type(config.train) is SkipGramTrainConfig
        assert cls.objective is Objective.SKIP_GRAM


def test_user_and_item_embeddings_are_the_rows_of_one_node_table() -> None:
    train = sp.csr_matrix((np.random.default_rng(0).random((5, 7)) < 0.4).astype(np.float32))
    model = build_model(model_config("node2vec", embedding_dim=4, p=0.5, q=2.0), 5, 7, train)
    assert isinstance(model, Node2Vec) and isinstance(model, DeepWalk) and isinstance(model, EmbeddingRecommender)
    assert model.walk_bias == (0.5, 2.0)
    users, items = model.embeddings()
    table = model.node_embedding.weight
    assert torch.equal(users, table[:5]) and torch.equal(items, table[5:])
    np.testing.assert_allclose(model.score(torch.arange(5)).numpy(), (users @ items.T).detach().numpy(), rtol=1e-6)
    deepwalk = build_model(model_config("deepwalk", embedding_dim=4), 5, 7, train)
    assert isinstance(deepwalk, DeepWalk) and deepwalk.walk_bias == (1.0, 1.0)


@pytest.mark.parametrize(("name", "options"), [("deepwalk", WALKS), ("node2vec", {**WALKS, "p": 2.0, "q": 0.5})])
def test_tiny_train_beats_random_on_planted_communities(
    name: str, options: dict, planted_dir: Path, tmp_path: Path
) -> None:
    train(tiny_config(planted_dir, name, epochs=6, model_options=options), tmp_path / name)
    recall = evaluate_run(tmp_path / name, "test", [20])["recall@20"]
    random_recall = 20 / load_run(tmp_path / name).model.num_items
    assert recall > 5 * random_recall, (recall, random_recall)
