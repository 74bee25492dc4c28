"""LightGCN (He et al., SIGIR 2020): linear neighbourhood propagation without transforms or non-linearity."""

from __future__ import annotations

import logging

import numpy as np
import scipy.sparse as sp
import torch
from torch import nn

from graphrec.config.models import LightGCNConfig, PropagationConfig
from graphrec.graph import normalized_adjacency, propagate, to_torch_csr
from graphrec.graph.sampled import SampledGraph, gather_rows
from graphrec.graph.shards import csr_rows, gathered_order, node_rows
from graphrec.models._checks import check_train, init_tables
from graphrec.models.base import EmbeddingRecommender, Gather, SampledPropagation, ShardedInference

logger = logging.getLogger(__name__)


def resolve_layer_weights(config: PropagationConfig) -> list[float]:
    """The layer-combination weights α_0..α_K: `config.layer_weights` (K + 1 of them, as the config checks), or
    1/(K+1) each when unset."""
    k = config.num_layers
    if config.layer_weights is None:
        return [1.0 / (k + 1)] * (k + 1)
    return [float(w) for w in config.layer_weights]


class LinearPropagation(EmbeddingRecommender, ShardedInference):
    r"""The LightGCN encoder: E^{(k+1)} = Ã E^{(k)},  E = Σ_{k=0..K} α_k E^{(k)},  f(u, v) = E_u^T E_v.

    .. math::
        \mathbf{E}^{(0)} = [\mathbf{E}_{users}; \mathbf{E}_{items}],\quad
        \mathbf{E}^{(k+1)} = \tilde{A}\,\mathbf{E}^{(k)},\quad
        \mathbf{E} = \sum_{k=0}^{K} \alpha_k \mathbf{E}^{(k)},\quad
        \tilde{A} = D^{-1/2} A D^{-1/2},\ A = \begin{bmatrix} 0 & R \\ R^\top & 0 \end{bmatrix}

    α from :meth:`layer_weights` (LightGCN: 1/(K+1) each unless `config.layer_weights`). Ã^K is never materialised:
    K sparse products with `graph.propagate`, whose backward reuses Ã (symmetric). Ã is a non-persistent buffer
    rebuilt from `train` at construction, so `state_dict()` holds only the two layer-0 tables
    `user_embedding.weight` (U × d) and `item_embedding.weight` (I × d), initialised N(0, init_std²) from
    torch's global generator. `ego_embeddings()` returns those tables (the L2-penalty targets).

    Args:
        num_users: U. num_items: I.
        config: embedding_dim (d), num_layers (K), layer_weights (α), init_std.
        train: U × I binary interaction matrix (the graph).
    """

    config: PropagationConfig
    sharding = "row-sharded propagation"
    adj: torch.Tensor

    def __init__(self, num_users: int, num_items: int, config: PropagationConfig, train: sp.spmatrix) -> None:
        super().__init__(num_users, num_items, config, train)
        check_train(train, num_users, num_items)
        self.num_layers = config.num_layers
        self.alpha = self.layer_weights(config)
        self.user_embedding = nn.Embedding(num_users, config.embedding_dim)
        self.item_embedding = nn.Embedding(num_items, config.embedding_dim)
        init_tables(self.user_embedding, self.item_embedding, config, train)
        self.register_buffer("adj", to_torch_csr(normalized_adjacency(train)), persistent=False)
        logger.debug(
            "%s: %d users, %d items, %d layers, alpha=%s", self.name, num_users, num_items, self.num_layers, self.alpha
        )

    @staticmethod
    def layer_weights(config: PropagationConfig) -> list[float]:
        """α_0..α_K of the layer combination."""
        return resolve_layer_weights(config)

    def ego_embeddings(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Layer-0 tables (E_users^{(0)}, E_items^{(0)})."""
        return self.user_embedding.weight, self.item_embedding.weight

    def ego(self) -> torch.Tensor:
        """E^{(0)}: the user table stacked on the item table, (U + I) × d."""
        return torch.cat([self.user_embedding.weight, self.item_embedding.weight], dim=0)

    def embeddings(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Final (users, items) = split of Σ_k α_k Ã^k E^{(0)}, computed layer by layer."""
        x = self.ego()
        out = self.alpha[0] * x
        for k in range(1, self.num_layers + 1):
            x = propagate(self.adj, x)
            out = out + self.alpha[k] * x
        return self.split(out)

    def split(self, nodes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(user rows, item rows) of a (U + I)-row node matrix."""
        users, items = torch.split(nodes, [self.num_users, self.num_items], dim=0)
        return users, items

    @torch.no_grad()
    def shard_embeddings(
        self, users: tuple[int, int], items: tuple[int, int], world: int, gather: Gather
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Σ_k α_k E^{(k)} on this rank's users and items: E^{(k+1)}[own rows] = Ã[own rows] E^{(k)} (a row slice of
        the sparse product), with one gather per layer handing every rank the full E^{(k+1)}."""
        own = node_rows(users, items, self.num_users)
        order = gathered_order(self.num_users, self.num_items, world)  # gathered row i is node order[i]
        rows_adj = csr_rows(self.adj, own)
        x = self.ego().detach()
        out = self.alpha[0] * x[torch.from_numpy(own)]
        for k in range(1, self.num_layers + 1):
            local = torch.sparse.mm(rows_adj, x) if rows_adj.values().numel() else x.new_zeros((len(own), x.shape[1]))
            out = out + self.alpha[k] * local
            if k < self.num_layers:
                x = torch.empty_like(x)
                x[torch.from_numpy(np.asarray(order))] = gather(local)
        count = users[1] - users[0]
        return out[:count], out[count:]


class LightGCN(LinearPropagation, SampledPropagation):
    """LightGCN (:class:`LinearPropagation`), trainable on neighbour-sampled computation graphs (`model.fanouts`)."""

    name = "lightgcn"
    config: LightGCNConfig

    @property
    def fanouts(self) -> list[int] | None:
        return self.config.fanouts

    def propagation_matrix(self) -> torch.Tensor:
        """Ã as a torch CSR tensor: what the neighbour sampler of `model.fanouts` draws from."""
        return self.adj

    def sampled_embeddings(self, graph: SampledGraph, sparse: bool = False) -> torch.Tensor:
        """Σ_k α_k E^{(k)} for `graph.seeds` only (rows in seed order), propagating over the sampled computation
        graph instead of the whole graph: an unbiased estimate of `embeddings()` on those nodes, equal to it when
        every fan-out is at least the largest degree (see `graph.sampled`). `sparse`: the tables get sparse row
        gradients (`train.sparse_updates`)."""
        x = gather_rows(
            self.user_embedding.weight, self.item_embedding.weight, graph.input_nodes, self.num_users, sparse=sparse
        )
        n = graph.num_seeds
        out = self.alpha[0] * x[:n]
        for k, layer in enumerate(graph.layers, start=1):
            x = layer.aggregate(x)
            out = out + self.alpha[k] * x[:n]
        return out
