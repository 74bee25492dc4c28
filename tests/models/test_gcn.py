"""GCN against a node-by-node reference (forward and gradients), features, sampled propagation, config, PyG."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from graphrec.config import model_config
from graphrec.errors import ConfigError, DataError
from graphrec.graph.sampled import NeighbourSampler
from graphrec.models import GCN, EmbeddingRecommender, SampledPropagation, build_model
from graphrec.models._convolution import GraphConvolution

from ._reference import dense_adjacency, gcn_reference, random_train

NUM_USERS, NUM_ITEMS = 7, 9
FUNCTIONS = {"tanh": torch.tanh, "relu": torch.relu, "identity": lambda x: x}


def _gcn(item_features: np.ndarray | None = None, **options: object) -> GCN:
    torch.manual_seed(0)
    config = model_config("gcn", **{"embedding_dim": 4, "num_layers": 2, **options})
    model = build_model(config, NUM_USERS, NUM_ITEMS, random_train(), item_features=item_features)
    assert isinstance(model, GCN)
    return model


def _reference(model: GCN, h0: torch.Tensor) -> torch.Tensor:
    weights = [
        (w.weight.double(), b.weight.double()) for w, b in zip(model.neighbour_weight, model.self_weight, strict=True)
    ]
    return gcn_reference(h0, dense_adjacency(random_train()), weights, FUNCTIONS[model.config.activation], model.alpha)


@pytest.mark.parametrize(
    "options",
    [{}, {"activation": "relu", "layer_weights": [0.2, 0.3, 0.5]}, {"activation": "identity", "num_layers": 3}],
)
def test_gcn_matches_node_by_node_reference(options: dict) -> None:
    model = _gcn(**options)
    users, items = model.embeddings()
    h0 = torch.cat(model.ego_embeddings()).detach().double()
    expected = _reference(model, h0)
    torch.testing.assert_close(torch.cat([users, items]).detach().double(), expected, rtol=1e-5, atol=1e-6)


def test_gcn_gradients_match_reference() -> None:
    model = _gcn(layer_weights=[0.2, 0.3, 0.5])
    users, items = model.embeddings()
    (users.sum() * 2 + (items**2).sum()).backward()
    tables = [t.detach().double().requires_grad_() for t in model.ego_embeddings()]
    weights = [
        (w.weight.detach().double().requires_grad_(), b.weight.detach().double().requires_grad_())
        for w, b in zip(model.neighbour_weight, model.self_weight, strict=True)
    ]
    out = gcn_reference(torch.cat(tables), dense_adjacency(random_train()), weights, torch.tanh, model.alpha)
    (out[:NUM_USERS].sum() * 2 + (out[NUM_USERS:] ** 2).sum()).backward()
    ours = [model.user_embedding.weight, model.item_embedding.weight]
    ours += [p.weight for pair in zip(model.neighbour_weight, model.self_weight, strict=True) for p in pair]
    theirs = tables + [t for pair in weights for t in pair]
    for mine, reference in zip(ours, theirs, strict=True):
        torch.testing.assert_close(mine.grad.double(), reference.grad, rtol=1e-5, atol=1e-6)


def test_item_features_are_projected_into_layer_zero() -> None:
    features = np.random.default_rng(0).random((NUM_ITEMS, 3)).astype(np.float32)
    model = _gcn(item_features=features)
    assert model.projection is not None and not model.projection.weight.any()  # starts as the id-only model
    with torch.no_grad():
        model.projection.weight.normal_()
    users, items = model.embeddings()
    tables = [t.detach().double() for t in model.ego_embeddings()]
    projected = torch.from_numpy(features).double() @ model.projection.weight.detach().double().T
    expected = _reference(model, torch.cat([tables[0], tables[1] + projected]))
    torch.testing.assert_close(torch.cat([users, items]).detach().double(), expected, rtol=1e-5, atol=1e-6)
    (items.sum()).backward()
    assert model.projection.weight.grad is not None and model.projection.weight.grad.abs().sum() > 0
    assert _gcn(item_features=features, use_features=False).projection is None


def test_item_features_need_one_row_per_item() -> None:
    with pytest.raises(DataError, match=r"item features: expected a \(9, F\) matrix .* got shape \(4, 3\); build"):
        _gcn(item_features=np.zeros((4, 3), dtype=np.float32))


def test_gcn_declares_its_capabilities() -> None:
    model = _gcn(fanouts=[3, 3])
    assert isinstance(model, EmbeddingRecommender) and isinstance(model, SampledPropagation)
    assert model.fanouts == [3, 3] and model.inputs and model.objective.value == "edges"
    matrix = model.propagation_matrix().to_dense()
    degree = dense_adjacency(random_train()).sum(1)
    expected = dense_adjacency(random_train()) / degree.clamp(min=1).unsqueeze(1)
    torch.testing.assert_close(matrix.double(), expected, rtol=1e-6, atol=1e-7)  # rows: means over neighbours


def test_sampled_embeddings_equal_full_propagation_when_nothing_is_dropped() -> None:
    features = np.random.default_rng(1).random((NUM_ITEMS, 2)).astype(np.float32)
    model = _gcn(item_features=features, fanouts=[50, 50])
    with torch.no_grad():
        model.projection.weight.normal_()
    seeds = np.array([0, 3, NUM_USERS + 1, NUM_USERS + 4])
    graph = NeighbourSampler(model.propagation_matrix(), [50, 50]).sample(seeds, np.random.default_rng(0))
    sampled = model.sampled_embeddings(graph)
    full = torch.cat(model.embeddings())[torch.from_numpy(graph.seeds)]
    torch.testing.assert_close(sampled, full, rtol=1e-5, atol=1e-6)
    sampled.sum().backward()
    assert model.user_embedding.weight.grad is not None and model.projection.weight.grad is not None


def test_sampled_rows_are_the_mean_of_the_drawn_neighbours() -> None:
    model = _gcn(fanouts=[1], num_layers=1, activation="identity")
    graph = NeighbourSampler(model.propagation_matrix(), [1]).sample(np.array([0]), np.random.default_rng(2))
    (layer,) = graph.layers
    assert np.allclose(layer.weight, 1.0)  # one drawn neighbour: weight d_v / f · 1 / d_v = 1
    x = model.input_rows(graph.input_nodes)
    expected = 0.5 * x[0] + 0.5 * (model.neighbour_weight[0](x[layer.col[0]]) + model.self_weight[0](x[0]))
    torch.testing.assert_close(model.sampled_embeddings(graph)[0], expected)


def test_config_constraints() -> None:
    with pytest.raises(ConfigError, match=r'model.activation: expected one of "relu", .* got "sigmoid"'):
        model_config("gcn", activation="sigmoid")
    with pytest.raises(ConfigError, match=r"model.fanouts: expected 2 neighbours-per-node counts"):
        model_config("gcn", num_layers=2, fanouts=[5])
    with pytest.raises(ConfigError, match=r"model.layer_weights: expected 3 weights"):
        model_config("gcn", num_layers=2, layer_weights=[1.0])
    with pytest.raises(ConfigError, match=r"model.num_layers: expected an integer in \[0, 64\], got 100"):
        model_config("gcn", num_layers=100)
    with pytest.raises(ConfigError, match=r"model.leaky_relu_slope: expected a float"):
        model_config("gcn", leaky_relu_slope=-1.0)


def test_gcn_layer_is_pyg_sageconv_with_mean_aggregation() -> None:
    pyg = pytest.importorskip("torch_geometric.nn")
    model = _gcn(num_layers=1, activation="identity", layer_weights=[0.0, 1.0])
    conv = pyg.SAGEConv(4, 4, aggr="mean", bias=False)
    with torch.no_grad():
        conv.lin_l.weight.copy_(model.neighbour_weight[0].weight)
        conv.lin_r.weight.copy_(model.self_weight[0].weight)
    crow, col = model.adj.crow_indices().long(), model.adj.col_indices().long()
    row = torch.repeat_interleave(torch.arange(len(crow) - 1), torch.diff(crow))
    expected = conv(model.ego(), torch.stack([col, row]))
    torch.testing.assert_close(torch.cat(model.embeddings()), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", ["gcn", "gat"])
def test_a_run_with_a_catalogue_projects_the_features_and_reloads_them(name: str, planted_dir, tmp_path) -> None:
    from graphrec.config import config_from_dict, config_to_dict
    from graphrec.runs import load_run, train

    from ..conftest import planted_features, tiny_config

    options = {"num_heads": 2} if name == "gat" else None
    values = config_to_dict(tiny_config(planted_dir, name, epochs=2, model_options=options))
    values["features"] = planted_features(planted_dir)
    train(config_from_dict(values), tmp_path / "run")
    assert (tmp_path / "run" / "item_features.npy").is_file()
    run = load_run(tmp_path / "run")
    assert isinstance(run.model, GraphConvolution) and run.model.projection is not None
    assert run.model.projection.weight.abs().sum() > 0  # trained away from its zero start
    users = torch.arange(5)
    torch.testing.assert_close(run.model.score(users), load_run(tmp_path / "run").model.score(users), rtol=0, atol=0)
