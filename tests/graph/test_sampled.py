"""Neighbour-sampled computation graphs: exact against full propagation when nothing is dropped, unbiased when
sampled, and bounded by the batch rather than the graph."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from graphrec.config import model_config
from graphrec.data.synthetic import generate_interactions
from graphrec.errors import ConfigError
from graphrec.graph.sampled import NeighbourSampler
from graphrec.models import NGCF, LightGCN

NUM_USERS, NUM_ITEMS = 120, 90


@pytest.fixture(scope="module")
def interactions() -> sp.csr_matrix:
    df = generate_interactions(num_users=NUM_USERS, num_items=NUM_ITEMS, interactions_per_user=12, seed=4)
    ones = np.ones(len(df), dtype=np.float32)
    return sp.csr_matrix((ones, (df["user_id"], df["item_id"])), shape=(NUM_USERS, NUM_ITEMS))


def _model(cls: type, train: sp.csr_matrix, fanouts: list[int] | None = None):
    torch.manual_seed(0)
    return cls(NUM_USERS, NUM_ITEMS, model_config(cls.name, embedding_dim=8, num_layers=3, fanouts=fanouts), train)


def _max_degree(model) -> int:
    return int(np.diff(model.propagation_matrix().crow_indices().numpy()).max())


SEEDS = np.array([3, 3, 17, 64, NUM_USERS + 0, NUM_USERS + 41, NUM_USERS + 89])


@pytest.mark.parametrize("cls", [LightGCN, NGCF])
def test_full_fanout_equals_full_propagation_forward_and_backward(cls: type, interactions: sp.csr_matrix) -> None:
    model = _model(cls, interactions).eval()  # eval: NGCF without message dropout
    fanout = _max_degree(model)
    graph = NeighbourSampler(model.propagation_matrix(), [fanout] * 3).sample(SEEDS, np.random.default_rng(0))
    assert graph.seeds.tolist() == sorted(set(SEEDS.tolist()))
    weights = torch.randn(len(graph.seeds), 8 * 4 if cls is NGCF else 8)
    sampled = model.sampled_embeddings(graph)
    (sampled * weights).sum().backward()
    grads = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    users, items = model.embeddings()
    full = torch.cat([users, items])[torch.from_numpy(graph.seeds)]
    (full * weights).sum().backward()
    torch.testing.assert_close(sampled, full, rtol=1e-5, atol=1e-6)
    for got, want in zip(grads, (p.grad for p in model.parameters()), strict=True):
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-6)


def test_sampled_layers_are_real_edges_with_rescaled_weights(interactions: sp.csr_matrix) -> None:
    model = _model(LightGCN, interactions)
    adj = model.propagation_matrix().to_dense().numpy()
    degree = (adj > 0).sum(axis=1)
    fanouts = [2, 4, 6]
    graph = NeighbourSampler(model.propagation_matrix(), fanouts).sample(SEEDS, np.random.default_rng(1))
    nodes = graph.input_nodes
    for layer, fanout in zip(graph.layers, fanouts, strict=True):
        assert layer.num_src == len(nodes)
        dst = nodes[: layer.num_dst]  # each layer's outputs are the first rows of its inputs
        for row, node in enumerate(dst):
            cols = nodes[layer.col[layer.crow[row] : layer.crow[row + 1]]]
            weight = layer.weight[layer.crow[row] : layer.crow[row + 1]]
            assert len(cols) == min(degree[node], fanout)
            scale = degree[node] / fanout if degree[node] > fanout else 1.0
            np.testing.assert_allclose(weight, adj[node, cols] * scale, rtol=1e-6)
            if degree[node] <= fanout:
                assert sorted(cols) == sorted(np.flatnonzero(adj[node]))
        nodes = dst
    assert np.array_equal(nodes, graph.seeds)


def test_sampled_forward_is_unbiased(interactions: sp.csr_matrix) -> None:
    model = _model(LightGCN, interactions)
    sampler = NeighbourSampler(model.propagation_matrix(), [3, 3, 3])
    users, items = model.embeddings()
    full = torch.cat([users, items])[torch.from_numpy(np.unique(SEEDS))].detach()
    with torch.no_grad():
        draws = torch.stack(
            [model.sampled_embeddings(sampler.sample(SEEDS, np.random.default_rng(r))) for r in range(600)]
        )
    stderr = draws.std(dim=0) / np.sqrt(len(draws))
    assert (draws.std(dim=0) > 0).any()  # it does sample
    assert ((draws.mean(dim=0) - full).abs() <= 5 * stderr + 1e-6).all()


def test_touched_nodes_are_bounded_by_the_batch_not_the_graph(tmp_path: Path) -> None:
    from graphrec.data.readers import read_lightgcn_txt
    from graphrec.data.synthetic_large import generate_large

    fanouts, batch = [4, 4], 32
    bound_nodes, bound_edges = 2 * batch * (1 + 4) * (1 + 4), 2 * batch * 4 + 2 * batch * (1 + 4) * 4
    touched = {}
    for edges in (100_000, 400_000):
        summary = generate_large(tmp_path / str(edges), edges, seed=0)
        frame = read_lightgcn_txt(tmp_path / str(edges) / "train.txt")
        shape = (summary["config"]["num_users"], summary["config"]["num_items"])
        train = sp.csr_matrix((np.ones(len(frame), dtype=np.float32), (frame["user_id"], frame["item_id"])), shape)
        model = LightGCN(*shape, model_config("lightgcn", embedding_dim=4, num_layers=2), train)
        rng = np.random.default_rng(0)
        seeds = np.concatenate(
            [rng.choice(shape[0], batch, replace=False), shape[0] + rng.choice(shape[1], batch, replace=False)]
        )
        graph = NeighbourSampler(model.propagation_matrix(), fanouts).sample(seeds, rng)
        assert len(graph.input_nodes) <= bound_nodes and graph.num_edges() <= bound_edges
        touched[edges] = (len(graph.input_nodes), graph.num_edges(), model.propagation_matrix()._nnz())
    (mid_nodes, mid_edges, mid_nnz), (big_nodes, big_edges, big_nnz) = touched[100_000], touched[400_000]
    assert big_nnz > 3.5 * mid_nnz  # full propagation costs four times more per step on the big graph
    assert big_edges < 1.2 * mid_edges and big_nodes < 1.2 * mid_nodes  # a sampled step does not


@pytest.mark.parametrize("name", ["lightgcn", "ngcf"])
def test_fanouts_are_checked(name: str) -> None:
    model_config(name, num_layers=3)
    model_config(name, num_layers=3, fanouts=[10, 5, 1])
    with pytest.raises(ConfigError) as info:
        model_config(name, num_layers=3, fanouts=[10, 10])
    assert str(info.value) == (
        "model.fanouts: expected 3 neighbours-per-node counts (one per layer, model.num_layers = 3), "
        "got [10, 10]; set e.g. model.fanouts = [10, 10, 10], or leave it unset"
    )
    with pytest.raises(ConfigError, match=r"model.fanouts: expected a list of integers ≥ 1, got \[10, 0\]"):
        model_config(name, num_layers=2, fanouts=[10, 0])


def test_ngcf_refuses_edge_dropout_with_fanouts() -> None:
    with pytest.raises(ConfigError, match=r"model.node_dropout: expected 0 while model.fanouts is set"):
        model_config("ngcf", num_layers=2, fanouts=[5, 5], node_dropout=0.1)
