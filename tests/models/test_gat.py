"""GAT against a node-by-node, head-by-head reference (forward and gradients); the attention kernel; sampled
propagation; config; PyG."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from graphrec.config import model_config
from graphrec.errors import ConfigError
from graphrec.graph.attention import AttentionSpMM, EdgeList, edge_softmax
from graphrec.graph.sampled import NeighbourSampler
from graphrec.models import GAT, SampledPropagation, build_model

from ._reference import dense_adjacency, gat_reference, random_train

NUM_USERS, NUM_ITEMS = 7, 9
FUNCTIONS = {"elu": torch.nn.functional.elu, "tanh": torch.tanh, "identity": lambda x: x}


def _gat(item_features: np.ndarray | None = None, **options: object) -> GAT:
    torch.manual_seed(0)
    config = model_config("gat", **{"embedding_dim": 6, "num_layers": 2, "num_heads": 3, **options})
    model = build_model(config, NUM_USERS, NUM_ITEMS, random_train(), item_features=item_features)
    assert isinstance(model, GAT)
    with torch.no_grad():  # larger attention vectors, so the attention is far from uniform
        for att in [*model.att_src, *model.att_dst]:
            att.mul_(3.0)
    return model


def _weights(model: GAT, grad: bool = False) -> list[tuple[torch.Tensor, ...]]:
    def copy(t: torch.Tensor) -> torch.Tensor:
        return t.detach().double().requires_grad_(grad)

    return [
        (copy(w.weight), copy(s), copy(d)) for w, s, d in zip(model.weight, model.att_src, model.att_dst, strict=True)
    ]


@pytest.mark.parametrize(
    "options",
    [{}, {"activation": "tanh", "layer_weights": [0.0, 0.3, 0.7]}, {"num_heads": 1, "num_layers": 1}],
)
def test_gat_matches_node_by_node_reference(options: dict) -> None:
    model = _gat(**options)
    users, items = model.embeddings()
    h0 = torch.cat(model.ego_embeddings()).detach().double()
    f = FUNCTIONS[model.config.activation]
    expected = gat_reference(h0, dense_adjacency(random_train()), _weights(model), f, model.alpha, 0.2)
    torch.testing.assert_close(torch.cat([users, items]).detach().double(), expected, rtol=1e-5, atol=1e-6)


def test_gat_gradients_match_reference() -> None:
    model = _gat(layer_weights=[0.2, 0.3, 0.5])
    users, items = model.embeddings()
    (users.sum() * 2 + (items**2).sum()).backward()
    tables = [t.detach().double().requires_grad_() for t in model.ego_embeddings()]
    weights = _weights(model, grad=True)
    f = torch.nn.functional.elu
    out = gat_reference(torch.cat(tables), dense_adjacency(random_train()), weights, f, model.alpha, 0.2)
    (out[:NUM_USERS].sum() * 2 + (out[NUM_USERS:] ** 2).sum()).backward()
    ours = [model.user_embedding.weight, model.item_embedding.weight]
    ours += [p for layer in zip(model.weight, model.att_src, model.att_dst, strict=True) for p in layer]
    theirs = tables + [t for layer in weights for t in layer]
    for mine, reference in zip(ours, theirs, strict=True):
        grad = mine.weight.grad if isinstance(mine, torch.nn.Linear) else mine.grad
        torch.testing.assert_close(grad.double(), reference.grad, rtol=1e-5, atol=1e-6)


def _edges() -> EdgeList:
    """Three receivers over four senders, with a repeated edge (1 ← 2 twice) and an empty row."""
    return EdgeList.from_csr(np.array([0, 2, 5, 5]), np.array([0, 3, 2, 2, 1]), num_src=4)


def test_attention_spmm_gradients_pass_gradcheck() -> None:
    torch.manual_seed(0)
    edges = _edges()
    alpha = torch.rand(5, 2, dtype=torch.float64, requires_grad=True)
    z = torch.randn(4, 2, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a, x: AttentionSpMM.apply(a, x, edges), (alpha, z))
    dense = torch.zeros(2, 3, 4, dtype=torch.float64)  # per head, receivers × senders (repeats add up)
    for e, (v, u) in enumerate(zip(edges.row.tolist(), edges.col.tolist(), strict=True)):
        dense[:, v, u] += alpha[e].detach()
    expected = torch.einsum("hvu,uhc->vhc", dense, z.detach())
    torch.testing.assert_close(AttentionSpMM.apply(alpha, z, edges).detach(), expected)


def test_edge_softmax_sums_to_one_per_row_and_does_not_overflow() -> None:
    edges = _edges()
    scores = torch.tensor([[1000.0, 0.0], [999.0, 1.0], [5.0, -3.0], [5.0, -3.0], [1.0, 2.0]])
    alpha = edge_softmax(scores, edges)
    assert torch.isfinite(alpha).all()
    row_sums = torch.zeros(3, 2).index_add(0, edges.row, alpha)
    torch.testing.assert_close(row_sums[:2], torch.ones(2, 2))  # row 2 has no edges
    torch.testing.assert_close(alpha[0, 0], torch.sigmoid(torch.tensor(1.0)))


def test_sampled_embeddings_equal_full_propagation_when_nothing_is_dropped() -> None:
    features = np.random.default_rng(1).random((NUM_ITEMS, 2)).astype(np.float32)
    model = _gat(item_features=features, fanouts=[50, 50])
    assert isinstance(model, SampledPropagation) and model.fanouts == [50, 50]
    with torch.no_grad():
        model.projection.weight.normal_()
    seeds = np.array([0, 2, NUM_USERS, NUM_USERS + 5])
    graph = NeighbourSampler(model.propagation_matrix(), [50, 50]).sample(seeds, np.random.default_rng(0))
    sampled = model.sampled_embeddings(graph)
    full = torch.cat(model.embeddings())[torch.from_numpy(graph.seeds)]
    torch.testing.assert_close(sampled, full, rtol=1e-5, atol=1e-6)


def test_small_fanouts_train() -> None:
    model = _gat(fanouts=[1, 2])
    graph = NeighbourSampler(model.propagation_matrix(), [1, 2]).sample(np.arange(5), np.random.default_rng(3))
    out = model.sampled_embeddings(graph, sparse=True)
    assert out.shape == (5, 6) and torch.isfinite(out).all()
    out.pow(2).sum().backward()
    assert model.user_embedding.weight.grad.is_sparse and torch.isfinite(model.weight[0].weight.grad).all()


def test_config_constraints() -> None:
    with pytest.raises(ConfigError, match=r"model.num_heads: expected a divisor of model.embedding_dim = 64 .* got 3"):
        model_config("gat", embedding_dim=64, num_heads=3)
    with pytest.raises(ConfigError, match=r"model.num_heads: .*, got 4; set e.g. model.num_heads = 2"):
        model_config("gat", embedding_dim=10, num_heads=4)
    with pytest.raises(ConfigError, match=r"model.num_heads: expected an integer ≥ 1, got 0"):
        model_config("gat", num_heads=0)
    with pytest.raises(ConfigError, match=r"model.attention_slope: expected a float"):
        model_config("gat", attention_slope=-0.1)
    assert model_config("gat").activation == "elu" and model_config("gat").num_heads == 4


def test_gat_layer_is_pyg_gatconv() -> None:
    pyg = pytest.importorskip("torch_geometric.nn")
    model = _gat(num_layers=1, layer_weights=[0.0, 1.0])
    conv = pyg.GATConv(6, 2, heads=3, bias=False, add_self_loops=True, negative_slope=0.2)
    with torch.no_grad():
        conv.lin.weight.copy_(model.weight[0].weight)
        conv.att_src.copy_(model.att_src[0].unsqueeze(0))
        conv.att_dst.copy_(model.att_dst[0].unsqueeze(0))
    crow, col = model.adj.crow_indices().long(), model.adj.col_indices().long()
    row = torch.repeat_interleave(torch.arange(len(crow) - 1), torch.diff(crow))
    expected = torch.nn.functional.elu(conv(model.ego(), torch.stack([col, row])))
    torch.testing.assert_close(torch.cat(model.embeddings()), expected, rtol=1e-5, atol=1e-6)
