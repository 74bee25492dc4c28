"""GraphSAGE (Hamilton et al. 2017) on the item–user–item graph, Algorithm 1 with minibatch sampling:

    h_N(v)^k = AGGREGATE_k({h_u^{k-1} | u ∈ N(v)})      N(v): a uniform fixed-size sample of one-step neighbours
    h_v^k = ReLU(W^k · concat(h_v^{k-1}, h_N(v)^k));   h_v^k = h_v^k / ||h_v^k||₂

Aggregators: mean; max-pool (element-wise max of ReLU(W_pool h_u + b)); LSTM over the sampled neighbours (whose
order is random, as the paper prescribes). z_v = h_v^K.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from graphrec.config.models import AGGREGATORS, GraphSAGEConfig  # noqa: F401 - choices re-exported
from graphrec.graph.blocks import NeighbourFn, UniformNeighbours
from graphrec.graph.walks import ItemGraph
from graphrec.models.itemgraph import ItemGraphModel
from graphrec.models.pinsage import pool


class SageLayer(nn.Module):
    def __init__(self, in_dim: int, hidden_dim: int, out_dim: int, aggregator: str) -> None:
        super().__init__()
        self.aggregator = aggregator
        agg_dim = in_dim
        if aggregator == "pool":
            self.pool_layer = nn.Linear(in_dim, hidden_dim)
            agg_dim = hidden_dim
        elif aggregator == "lstm":
            self.lstm = nn.LSTM(in_dim, hidden_dim, batch_first=True)
            agg_dim = hidden_dim
        self.combine = nn.Linear(in_dim + agg_dim, out_dim)

    def forward(self, h: torch.Tensor, block: tuple[torch.Tensor, torch.Tensor, torch.Tensor]) -> torch.Tensor:
        self_pos, nbr_pos, weight = block
        mask = nbr_pos >= 0
        neighbours = h[nbr_pos.clamp(min=0)]  # (n, T, d)
        if self.aggregator == "mean":
            agg = pool(neighbours, mask, weight, "mean")
        elif self.aggregator == "pool":
            agg = pool(F.relu(self.pool_layer(neighbours)), mask, weight, "max")
        else:
            _, (last, _) = self.lstm(neighbours * mask.unsqueeze(2))
            agg = last[-1] * mask.any(dim=1, keepdim=True)
        z = F.relu(self.combine(torch.cat([h[self_pos], agg], dim=1)))
        return F.normalize(z, dim=1)


class GraphSAGE(ItemGraphModel):
    config: GraphSAGEConfig
    name = "graphsage"

    def make_layer(self, in_dim: int, out_dim: int) -> nn.Module:
        return SageLayer(in_dim, self.config.hidden_dim, out_dim, self.config.aggregator)

    def training_neighbours(self, rng: np.random.Generator, graph: ItemGraph | None = None) -> NeighbourFn:
        return UniformNeighbours(graph or self.graph, self.config.num_neighbours, rng)
