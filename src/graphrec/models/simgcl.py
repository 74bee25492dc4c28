"""SimGCL (Yu et al., SIGIR 2022, "Are Graph Augmentations Necessary?"): LightGCN plus a contrastive term between
two views made by adding small random noise to every propagation layer instead of perturbing the graph."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from graphrec.config.models import PropagationConfig, SimGCLConfig
from graphrec.graph import propagate
from graphrec.models.base import ContrastiveForward, ContrastiveViews
from graphrec.models.lightgcn import LinearPropagation, resolve_layer_weights


def sign_matched_noise(x: torch.Tensor, eps: float, generator: torch.Generator) -> torch.Tensor:
    """SimGCL's perturbation of `x` (n × d): per row, a uniform [0, 1)^d draw scaled to L2 norm `eps`, each entry
    given the sign of x's entry (0 where x is 0). So the noise never leaves x's orthant and moves each row by at
    most `eps`. Drawn on the CPU from `generator`, then moved to x's device; constant for autograd."""
    draw = torch.rand(x.shape, generator=generator, dtype=x.dtype).to(x.device)
    return torch.sign(x.detach()) * F.normalize(draw, dim=1) * eps


class SimGCL(LinearPropagation, ContrastiveViews):
    r"""SimGCL: the LightGCN encoder, trained with the edge loss on its clean embeddings plus
    λ · (InfoNCE_τ over the batch's users + over its items) between two independent noisy passes.

    A noisy pass adds :func:`sign_matched_noise` (norm ε) to the output of every layer k = 1..K before it is
    propagated further: E'^{(k)} = Ã E'^{(k−1)} + Δ^{(k)}, E'^{(0)} = E^{(0)}, then E' = Σ_k α_k E'^{(k)}. With
    `layer_weights` unset, α = (0, 1/K, …, 1/K): the mean of layers 1..K, as SELFRec's encoder. Scoring and
    `embeddings()` always use the clean propagation (no noise). Three passes per training step (one clean, two
    noisy); :class:`~graphrec.models.xsimgcl.XSimGCL` needs one.

    Args: as :class:`LinearPropagation`; config adds noise_eps (ε), temperature (τ), contrast_weight (λ).
    """

    name = "simgcl"
    config: SimGCLConfig

    @staticmethod
    def layer_weights(config: PropagationConfig) -> list[float]:
        """(0, 1/K, …, 1/K) when `layer_weights` is unset (layer 0 left out); else the configured weights."""
        if config.layer_weights is None:
            k = config.num_layers
            return [0.0] + [1.0 / k] * k
        return resolve_layer_weights(config)

    @property
    def temperature(self) -> float:
        return self.config.temperature

    @property
    def contrast_weight(self) -> float:
        return self.config.contrast_weight

    def noisy_layers(self, generator: torch.Generator) -> list[torch.Tensor]:
        """[E^{(0)}, E'^{(1)}, …, E'^{(K)}]: one noisy pass, noise drawn layer by layer from `generator`."""
        x = self.ego()
        layers = [x]
        for _ in range(self.num_layers):
            x = propagate(self.adj, x)
            x = x + sign_matched_noise(x, self.config.noise_eps, generator)
            layers.append(x)
        return layers

    def combine(self, layers: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """(users, items) of Σ_k α_k layers[k]."""
        out = self.alpha[0] * layers[0]
        for weight, layer in zip(self.alpha[1:], layers[1:], strict=True):
            out = out + weight * layer
        return self.split(out)

    def contrastive_forward(self, generator: torch.Generator) -> ContrastiveForward:
        """Clean embeddings for the edge loss; two noisy passes (in that order from `generator`) as the views."""
        users, items = self.embeddings()
        first = self.combine(self.noisy_layers(generator))
        second = self.combine(self.noisy_layers(generator))
        return ContrastiveForward(users, items, (first[0], second[0]), (first[1], second[1]))
