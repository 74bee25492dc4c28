"""PinSAGE (Ying et al. 2018): item features convolved over random-walk importance neighbourhoods.

CONVOLVE (Algorithm 1), per layer, for node u with neighbours N(u) and importance weights α (L1-normalised visit
counts of random walks from u):

    n_u = γ({ReLU(Q h_v + q) | v ∈ N(u)}, α)         γ = importance pooling (α-weighted mean); mean or max for ablations
    z_u = ReLU(W · concat(h_u, n_u) + w)
    z_u = z_u / ||z_u||₂

K such layers (parameters shared across nodes), then a final dense layer G₂·ReLU(G₁ z + g). Neighbourhoods are
sampled with fresh walks per batch while training; inference uses the top-T by expected visit counts (the limit
of infinitely many walks), which is deterministic.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from graphrec.config.models import POOLINGS, WALK_SAMPLERS, PinSAGEConfig  # noqa: F401 - choices re-exported
from graphrec.graph.blocks import ExactNeighbours, NeighbourFn, PixieNeighbours, RandomWalkNeighbours
from graphrec.graph.walks import ItemGraph
from graphrec.models.itemgraph import ItemGraphModel


class Convolve(nn.Module):
    """One PinSAGE CONVOLVE layer."""

    def __init__(self, in_dim: int, hidden_dim: int, out_dim: int, pooling: str) -> None:
        super().__init__()
        self.pooling = pooling
        self.transform = nn.Linear(in_dim, hidden_dim)  # Q, q
        self.combine = nn.Linear(in_dim + hidden_dim, out_dim)  # W, w

    def forward(self, h: torch.Tensor, block: tuple[torch.Tensor, torch.Tensor, torch.Tensor]) -> torch.Tensor:
        self_pos, nbr_pos, weight = block
        mask = nbr_pos >= 0
        messages = F.relu(self.transform(h[nbr_pos.clamp(min=0)]))  # (n, T, hidden)
        pooled = pool(messages, mask, weight, self.pooling)
        z = F.relu(self.combine(torch.cat([h[self_pos], pooled], dim=1)))
        return F.normalize(z, dim=1)


def pool(messages: torch.Tensor, mask: torch.Tensor, weight: torch.Tensor, how: str) -> torch.Tensor:
    """γ over the neighbour axis; a node without neighbours pools to zeros."""
    if how == "max":
        filled = messages.masked_fill(~mask.unsqueeze(2), float("-inf")).amax(dim=1)
        return torch.where(mask.any(dim=1, keepdim=True), filled, torch.zeros_like(filled))
    w = weight * mask if how == "importance" else mask.to(messages.dtype)
    total = w.sum(dim=1, keepdim=True).clamp(min=1e-12)
    return torch.einsum("nt,ntd->nd", w / total, messages)


class PinSAGE(ItemGraphModel):
    config: PinSAGEConfig
    name = "pinsage"

    def make_dense(self, dim: int) -> nn.Module:
        return nn.Sequential(nn.Linear(dim, dim), nn.ReLU(), nn.Linear(dim, dim))  # G₁, g, G₂

    def make_layer(self, in_dim: int, out_dim: int) -> nn.Module:
        return Convolve(in_dim, self.config.hidden_dim, out_dim, self.config.pooling)

    def training_neighbours(self, rng: np.random.Generator, graph: ItemGraph | None = None) -> NeighbourFn:
        c, graph = self.config, graph or self.graph
        if c.walk_sampler == "pixie":
            return PixieNeighbours(graph, c.num_neighbours, c.pixie_steps, rng)
        return RandomWalkNeighbours(graph, c.num_neighbours, c.num_walks, c.walk_length, rng)

    def inference_neighbours(self, graph: ItemGraph) -> NeighbourFn:
        """Expected visit counts instead of sampled ones: deterministic, and independent of item order; or, with
        model.inference_neighbourhoods = "walks", the training sampler's walks from the fixed inference seed."""
        c = self.config
        if c.inference_neighbourhoods == "walks":
            return super().inference_neighbours(graph)
        return ExactNeighbours(graph, c.num_neighbours, c.walk_length)
