"""Model forwards against slow dense references; dropout behaviour; layer-weight validation."""

from __future__ import annotations

import pytest
import torch

from graphrec.config import model_config
from graphrec.errors import ConfigError, DataError
from graphrec.models import NGCF, LightGCN, Objective, Popularity, build_model

from ._reference import dense_laplacian, lightgcn_reference, ngcf_reference, random_train

NUM_USERS, NUM_ITEMS = 7, 9


def test_popularity_scores_are_item_counts() -> None:
    train = random_train()
    model = Popularity(NUM_USERS, NUM_ITEMS, model_config(name="popularity"), train)
    users, items = model.embeddings()
    assert users.shape == (NUM_USERS, 1) and items.shape == (NUM_ITEMS, 1) and items.dtype == torch.float32
    counts = torch.from_numpy(train.toarray().sum(0)).float()
    torch.testing.assert_close(model.score(torch.arange(NUM_USERS)), counts.expand(NUM_USERS, NUM_ITEMS))
    assert Popularity.objective is Objective.CLOSED_FORM and list(model.parameters()) == []


def test_mf_scores_are_dot_products() -> None:
    torch.manual_seed(0)
    model = build_model(model_config(name="mf", embedding_dim=5, init_std=0.1), NUM_USERS, NUM_ITEMS, random_train())
    users, items = model.embeddings()
    torch.testing.assert_close(model.score(torch.tensor([2, 0])), users[[2, 0]] @ items.T)
    assert 0.05 < float(users.detach().std()) < 0.2
    assert users.requires_grad
    with torch.no_grad():
        assert not any(t.requires_grad for t in model.embeddings())


@pytest.mark.parametrize("weights", [None, [0.5, 0.2, 0.2, 0.1]])
def test_lightgcn_matches_dense_reference(weights: list[float] | None) -> None:
    torch.manual_seed(0)
    train = random_train()
    config = model_config(name="lightgcn", embedding_dim=4, num_layers=3, layer_weights=weights)
    model = LightGCN(NUM_USERS, NUM_ITEMS, config, train)
    users, items = model.embeddings()
    e0 = torch.cat(model.ego_embeddings()).detach().double()
    alpha = weights or [0.25] * 4
    expected = lightgcn_reference(e0, dense_laplacian(train), alpha)
    torch.testing.assert_close(torch.cat([users, items]).detach().double(), expected, rtol=1e-5, atol=1e-6)


def test_lightgcn_gradient_matches_dense_reference() -> None:
    torch.manual_seed(1)
    train = random_train()
    model = LightGCN(NUM_USERS, NUM_ITEMS, model_config("lightgcn", embedding_dim=3, num_layers=2), train)
    users, items = model.embeddings()
    (users.sum() * 2 + (items**2).sum()).backward()
    e0 = torch.cat(model.ego_embeddings()).detach().double().requires_grad_()
    out = lightgcn_reference(e0, dense_laplacian(train), [1 / 3] * 3)
    (out[:NUM_USERS].sum() * 2 + (out[NUM_USERS:] ** 2).sum()).backward()
    grad = torch.cat([model.user_embedding.weight.grad, model.item_embedding.weight.grad]).double()
    torch.testing.assert_close(grad, e0.grad, rtol=1e-5, atol=1e-6)


def test_lightgcn_layer_weights_length_is_validated() -> None:
    with pytest.raises(ConfigError, match=r"model\.layer_weights: expected 4 weights .* got \[0\.5, 0\.5\]"):
        model_config(name="lightgcn", num_layers=3, layer_weights=[0.5, 0.5])


def test_train_shape_is_validated() -> None:
    with pytest.raises(DataError, match=r"expected shape \(8, 9\)"):
        build_model(model_config(name="mf"), 8, NUM_ITEMS, random_train())


@pytest.mark.parametrize("field", ["message_dropout", "node_dropout"])
def test_ngcf_dropout_rates_are_validated(field: str) -> None:
    with pytest.raises(ConfigError, match=f"model.{field}: expected a float in \\[0, 1\\), got 1.0"):
        model_config(name="ngcf", **{field: 1.0})


def _ngcf(**overrides: float) -> NGCF:
    torch.manual_seed(0)
    config = model_config(name="ngcf", embedding_dim=4, num_layers=3, message_dropout=0.3, node_dropout=0.3)
    for key, value in overrides.items():
        setattr(config, key, value)
    model = NGCF(NUM_USERS, NUM_ITEMS, config, random_train())
    with torch.no_grad():  # non-zero biases so they are exercised
        for linear in [*model.w1, *model.w2]:
            linear.bias.normal_(std=0.1)
    return model


def test_ngcf_eval_matches_dense_reference() -> None:
    model = _ngcf().eval()
    users, items = model.embeddings()
    assert users.shape == (NUM_USERS, 16) and items.shape == (NUM_ITEMS, 16)
    layers = [
        (w1.weight.T.double(), w1.bias.double(), w2.weight.T.double(), w2.bias.double())
        for w1, w2 in zip(model.w1, model.w2, strict=True)
    ]
    e0 = torch.cat(model.ego_embeddings()).detach().double()
    expected = ngcf_reference(e0, dense_laplacian(random_train()), layers, slope=0.2)
    torch.testing.assert_close(torch.cat([users, items]).detach().double(), expected.detach(), rtol=1e-5, atol=1e-6)


def test_ngcf_eval_is_deterministic_and_train_mode_drops() -> None:
    model = _ngcf().eval()
    first, second = torch.cat(model.embeddings()), torch.cat(model.embeddings())
    torch.testing.assert_close(first, second, rtol=0, atol=0)
    for overrides in ({"node_dropout": 0.0}, {"message_dropout": 0.0}):
        model = _ngcf(**overrides).train()
        dropped = torch.cat(model.embeddings())
        assert not torch.allclose(dropped, torch.cat(model.eval().embeddings())), overrides


def test_ngcf_train_mode_backward_runs() -> None:
    model = _ngcf().train()
    users, items = model.embeddings()
    (users.sum() + items.sum()).backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())
