"""PinSAGE / GraphSAGE: layer-wise inference equals per-node computation; the inductive path equals the in-graph
embedding (feature-only); pooling behaves; bad configs are refused with a fix."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from graphrec.config import model_config
from graphrec.errors import ConfigError, DataError
from graphrec.graph.blocks import ExactNeighbours
from graphrec.models import build_model
from graphrec.models.pinsage import pool


def graph_and_features(seed: int = 0, users: int = 40, items: int = 25, dim: int = 6):
    rng = np.random.default_rng(seed)
    train = sp.csr_matrix((rng.random((users, items)) < 0.2).astype(np.float32))
    return train, rng.normal(size=(items, dim)).astype(np.float32)


VARIANTS = [
    ("pinsage", {"pooling": "importance"}),
    ("pinsage", {"pooling": "mean"}),
    ("pinsage", {"pooling": "max"}),
    ("graphsage", {"aggregator": "mean"}),
    ("graphsage", {"aggregator": "pool"}),
    ("graphsage", {"aggregator": "lstm"}),
]


@pytest.mark.parametrize(("name", "options"), VARIANTS)
def test_layerwise_inference_equals_per_node_computation(name: str, options: dict) -> None:
    train, features = graph_and_features()
    torch.manual_seed(0)
    model = build_model(
        model_config(name=name, num_layers=2, embedding_dim=8, hidden_dim=8, num_neighbours=4, **options),
        40,
        25,
        train,
        item_features=features,
    ).eval()
    with torch.no_grad():
        users, items = model.embeddings()
        one_by_one = torch.cat([model.encode_items(np.array([i])) for i in range(25)])
    np.testing.assert_allclose(items.numpy(), one_by_one.numpy(), atol=1e-6)
    assert users.shape == (40, 8) and torch.isfinite(users).all()


def test_inductive_embedding_equals_in_graph_embedding_feature_only() -> None:
    train, features = graph_and_features(1)
    config = model_config(name="pinsage", num_layers=2, embedding_dim=8, hidden_dim=8, num_neighbours=4)
    torch.manual_seed(0)
    full = build_model(config, 40, 25, train, item_features=features).eval()
    new_item = 24  # the last index, so removing and re-adding it keeps every other item's index
    without = build_model(config, 40, 24, train[:, :24], item_features=features[:24]).eval()
    without.load_state_dict(full.state_dict())
    with torch.no_grad():
        in_graph = full.encode_items(np.array([new_item]), ExactNeighbours(full.graph, 4, config.walk_length))
        before = without.item_embeddings()
        users = [train[:, new_item].nonzero()[0]]
        pure = without.embed_items(features[[new_item]], users)
        assert without.num_items == 24, "embed_items is pure: the model is unchanged"
        np.testing.assert_array_equal(without.item_embeddings().numpy(), before.numpy())
        added = without.add_items(without.plan_items(features[[new_item]], users))
        inductive = without.encode_items(added, ExactNeighbours(without.graph, 4, config.walk_length))
        adopted = without.encode_items(added)  # the model's own table: earlier items keep their neighbourhoods
    assert added.tolist() == [24]
    np.testing.assert_allclose(inductive.numpy(), in_graph.numpy(), atol=1e-6)
    np.testing.assert_allclose(pure.numpy(), adopted.numpy(), atol=1e-6)
    assert without.item_embeddings().shape == (25, 8)


def test_add_items_checks_feature_shape() -> None:
    train, features = graph_and_features()
    model = build_model(
        model_config(name="pinsage", num_layers=1, embedding_dim=8), 40, 25, train, item_features=features
    )
    with pytest.raises(DataError, match=r"new item features: expected shape \(1, 6\), got \(1, 5\)"):
        model.embed_items(np.zeros((1, 5)), [np.array([0])])


def test_pooling_weights_and_empty_neighbourhoods() -> None:
    messages = torch.tensor([[[1.0, 0.0], [0.0, 1.0]], [[5.0, 5.0], [7.0, 7.0]]])
    mask = torch.tensor([[True, True], [False, False]])
    weight = torch.tensor([[0.75, 0.25], [0.0, 0.0]])
    np.testing.assert_allclose(pool(messages, mask, weight, "importance").numpy(), [[0.75, 0.25], [0, 0]])
    np.testing.assert_allclose(pool(messages, mask, weight, "mean").numpy(), [[0.5, 0.5], [0, 0]])
    np.testing.assert_allclose(pool(messages, mask, weight, "max").numpy(), [[1.0, 1.0], [0, 0]])


def test_config_errors_say_how_to_fix() -> None:
    train, _ = graph_and_features()
    with pytest.raises(ConfigError, match=r"has no input: set features.catalogue"):
        build_model(model_config(name="pinsage"), 40, 25, train)
    with pytest.raises(ConfigError, match=r'model.pooling: expected one of "importance", "mean", "max", got "sum"'):
        model_config(name="pinsage", pooling="sum")
    with pytest.raises(ConfigError, match=r'model.aggregator: expected one of "mean", "pool", "lstm", got "gcn"'):
        model_config(name="graphsage", aggregator="gcn")
    with pytest.raises(ConfigError, match=r'model.walk_sampler: expected one of "walks", "pixie", got "node2vec"'):
        model_config(name="pinsage", walk_sampler="node2vec")
    with pytest.raises(ConfigError, match=r"model.num_layers: expected an integer in \[1, 64\], got 0"):
        model_config(name="graphsage", num_layers=0)


def test_pixie_training_neighbourhoods_are_visited_items_with_importance_weights() -> None:
    train, features = graph_and_features()
    blocks = (np.arange(40)[:, None] < 20) == (np.arange(25)[None, :] < 13)  # two halves no walk crosses
    train = sp.csr_matrix(train.toarray() * blocks)
    model = build_model(
        model_config(name="pinsage", walk_sampler="pixie", num_neighbours=4, pixie_steps=200),
        40,
        25,
        train,
        item_features=features,
    )
    nodes = np.arange(25)
    found = model.training_neighbours(np.random.default_rng(0))(nodes)
    step = ((train.T @ train).toarray() > 0).astype(float)
    reach = np.eye(25) > 0
    for _ in range(25):  # items a walk from the start can reach
        reach = (reach.astype(float) @ step + reach) > 0
    assert not reach.all(), "the fixture graph must have items a walk cannot reach, or the check is empty"
    for node, row, weight in zip(nodes, found.index, found.weight, strict=True):
        kept = row >= 0
        assert kept.sum() <= 4 and node not in row[kept] and reach[node, row[kept]].all()
        assert not kept.any() or np.isclose(weight[kept].sum(), 1.0)
        assert np.all(np.diff(weight[kept]) <= 1e-9), "top-T by visit count, heaviest first"


def test_walk_inference_neighbourhoods_are_fixed_sampled_walks_close_to_the_exact_ones() -> None:
    """model.inference_neighbourhoods = "walks": the same table on every call (fixed seed), its top items mostly the
    exact expected-visit top items (many walks approach the expectation)."""
    train, features = graph_and_features(2)
    config = model_config(name="pinsage", num_layers=2, embedding_dim=8, hidden_dim=8, num_neighbours=4)
    walks = model_config(**{**vars(config), "inference_neighbourhoods": "walks", "num_walks": 400})
    exact_model = build_model(config, 40, 25, train, item_features=features)
    walk_model = build_model(walks, 40, 25, train, item_features=features)
    again = build_model(walks, 40, 25, train, item_features=features)
    table, exact = walk_model.inference_table, exact_model.inference_table
    np.testing.assert_array_equal(table.index, again.inference_table.index)
    overlap = np.mean([len(set(a) & set(b)) / 4 for a, b in zip(table.index, exact.index, strict=True)])
    assert overlap > 0.7, overlap
