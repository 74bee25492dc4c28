"""SimGCL / XSimGCL: the noise, the clean and noisy propagations against dense references, the declared views."""

from __future__ import annotations

import pytest
import torch

from graphrec.config import model_config
from graphrec.errors import ConfigError
from graphrec.models import ContrastiveViews, SampledPropagation, ShardedInference, SimGCL, XSimGCL, build_model
from graphrec.models.simgcl import sign_matched_noise

from ._reference import dense_laplacian, lightgcn_reference, random_train

NUM_USERS, NUM_ITEMS = 7, 9


def _generator(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("eps", [0.1, 0.2, 1.5])
def test_noise_has_norm_eps_and_the_sign_of_the_embedding(eps: float) -> None:
    x = torch.randn(50, 8, generator=_generator(3))
    noise = sign_matched_noise(x, eps, _generator())
    torch.testing.assert_close(noise.norm(dim=1), torch.full((50,), eps))
    assert torch.equal(torch.sign(noise), torch.sign(x))  # same orthant: no entry flips sign
    assert torch.equal(noise, sign_matched_noise(x, eps, _generator()))  # all randomness from the generator
    assert not torch.equal(noise, sign_matched_noise(x, eps, _generator(1)))
    magnitudes = noise.abs() / eps  # |noise| / ε is a uniform draw, L2-normalised: spread, not a constant
    assert float(magnitudes.std()) > 0.05


def test_noise_is_zero_where_the_embedding_is_zero_and_carries_no_gradient() -> None:
    x = torch.tensor([[1.0, 0.0, -2.0], [0.0, 0.0, 0.0]], requires_grad=True)
    noise = sign_matched_noise(x, 0.5, _generator())
    assert noise[0, 1] == 0 and torch.equal(noise[1], torch.zeros(3)) and noise[0, 0] > 0 > noise[0, 2]
    assert not noise.requires_grad


def _model(name: str, **options: object) -> SimGCL:
    torch.manual_seed(0)
    config = model_config(name, embedding_dim=4, **options)
    model = build_model(config, NUM_USERS, NUM_ITEMS, random_train())
    assert isinstance(model, SimGCL)
    return model


@pytest.mark.parametrize("name", ["simgcl", "xsimgcl"])
def test_clean_embeddings_are_the_mean_of_layers_1_to_k(name: str) -> None:
    model = _model(name, num_layers=3).train()
    assert model.alpha == [0.0, 1 / 3, 1 / 3, 1 / 3]
    e0 = torch.cat(model.ego_embeddings()).detach().double()
    expected = lightgcn_reference(e0, dense_laplacian(random_train()), model.alpha)
    users, items = model.embeddings()
    torch.testing.assert_close(torch.cat([users, items]).detach().double(), expected, rtol=1e-5, atol=1e-6)
    again = model.embeddings()  # training mode: still deterministic (noise only in the training forward)
    assert torch.equal(users, again[0]) and torch.equal(items, again[1])
    assert _model(name, num_layers=2, layer_weights=[0.5, 0.25, 0.25]).alpha == [0.5, 0.25, 0.25]


def _noisy_reference(model: SimGCL, generator: torch.Generator) -> list[torch.Tensor]:
    """Dense: E'^(k) = Ã E'^(k-1) + noise(Ã E'^(k-1)), drawing the noise exactly as the model does."""
    a = dense_laplacian(random_train()).float()
    x = torch.cat(model.ego_embeddings()).detach()
    layers = [x]
    for _ in range(model.num_layers):
        x = a @ x
        x = x + sign_matched_noise(x, model.config.noise_eps, generator)
        layers.append(x)
    return layers


def _mix(model: SimGCL, layers: list[torch.Tensor]) -> torch.Tensor:
    return sum((w * layer for w, layer in zip(model.alpha, layers, strict=True)), torch.zeros_like(layers[0]))


def test_simgcl_views_are_two_independent_noisy_passes() -> None:
    model = _model("simgcl", noise_eps=0.3)
    forward = model.contrastive_forward(_generator(5))
    reference = _generator(5)
    first, second = _mix(model, _noisy_reference(model, reference)), _mix(model, _noisy_reference(model, reference))
    clean = torch.cat(model.embeddings()).detach()
    torch.testing.assert_close(torch.cat([forward.users, forward.items]).detach(), clean)
    for index, expected in enumerate((first, second)):
        got = torch.cat([forward.user_views[index], forward.item_views[index]]).detach()
        torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)
    assert not torch.allclose(first, second) and not torch.allclose(first, clean)


def test_xsimgcl_contrasts_its_final_embeddings_with_layer_l_star() -> None:
    model = _model("xsimgcl", num_layers=3, contrast_layer=2)
    forward = model.contrastive_forward(_generator(2))
    layers = _noisy_reference(model, _generator(2))
    final = _mix(model, layers)
    torch.testing.assert_close(torch.cat([forward.users, forward.items]).detach(), final, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(forward.user_views[0], forward.users)
    torch.testing.assert_close(forward.item_views[0], forward.items)
    torch.testing.assert_close(
        torch.cat([forward.user_views[1], forward.item_views[1]]).detach(), layers[2], rtol=1e-5, atol=1e-6
    )


def test_training_forward_is_differentiable_to_the_ego_tables() -> None:
    model = _model("xsimgcl")
    forward = model.contrastive_forward(_generator())
    (forward.users.sum() + forward.item_views[1].pow(2).sum()).backward()
    assert model.user_embedding.weight.grad is not None and model.item_embedding.weight.grad is not None


def test_declared_capabilities() -> None:
    for name in ("simgcl", "xsimgcl"):
        model = _model(name)
        assert isinstance(model, ContrastiveViews) and isinstance(model, ShardedInference)
        assert not isinstance(model, SampledPropagation)  # the contrastive term needs the full propagation
    simgcl, xsimgcl = _model("simgcl"), _model("xsimgcl")
    assert (simgcl.temperature, simgcl.contrast_weight, simgcl.config.noise_eps) == (0.2, 0.05, 0.1)
    assert (xsimgcl.temperature, xsimgcl.contrast_weight, xsimgcl.config.noise_eps) == (0.15, 0.05, 0.2)
    assert xsimgcl.config.contrast_layer == 1 and isinstance(xsimgcl, XSimGCL)


def test_contrast_layer_must_be_a_propagation_layer() -> None:
    message = (
        r"model\.contrast_layer: expected a layer in 1\.\.2 \(model\.num_layers = 2\), got 3; "
        r"set e\.g\. model\.contrast_layer = 1"
    )
    with pytest.raises(ConfigError, match=message):
        model_config("xsimgcl", num_layers=2, contrast_layer=3)
    with pytest.raises(ConfigError, match=r"model\.num_layers: expected an integer in \[1, 64\], got 0"):
        model_config("simgcl", num_layers=0)
