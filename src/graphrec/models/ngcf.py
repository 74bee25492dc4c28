"""NGCF (Wang et al., SIGIR 2019): neural graph collaborative filtering with embedding propagation layers."""

from __future__ import annotations

import logging

import scipy.sparse as sp
import torch
import torch.nn.functional as F
from torch import nn

from graphrec.config.models import NGCFConfig
from graphrec.graph import SymmetricEdgeDropout, csr_tensor, normalized_adjacency, propagate
from graphrec.graph.sampled import SampledGraph, gather_rows
from graphrec.models._checks import check_train
from graphrec.models.base import EmbeddingRecommender, SampledPropagation

logger = logging.getLogger(__name__)


class NGCF(EmbeddingRecommender, SampledPropagation):
    r"""NGCF in the paper's matrix form, with the reference code's biases, dropouts and normalisation.

    Layer l = 1..L (d → d):

    .. math::
        \mathbf{E}^{(l)} = \mathrm{LeakyReLU}\big((\mathcal{L} + I)\,\mathbf{E}^{(l-1)} W_1^{(l)} + b_1^{(l)}
            + ((\mathcal{L}\mathbf{E}^{(l-1)}) \odot \mathbf{E}^{(l-1)})\, W_2^{(l)} + b_2^{(l)}\big),

    with 𝓛 = D^-1/2 A D^-1/2 (p_ui = 1/sqrt(|N_u||N_i|)) and slope `leaky_relu_slope`. Then, as in the
    authors' code: message dropout (rate `message_dropout`, train mode only) on E^{(l)}, which feeds the
    next layer, and a row-wise L2 normalisation Ê^{(l)} = E^{(l)} / ||E^{(l)}||_2 of what is kept for the
    output. Final embedding: E* = [E^{(0)} ‖ Ê^{(1)} ‖ … ‖ Ê^{(L)}], dimension d·(L+1); f(u, v) = E*_u^T E*_v.

    Node dropout (rate `node_dropout`, train mode only) removes that fraction of the graph's undirected
    edges each forward, dropping both copies (u, i) and (i, u) together and rescaling kept values by
    1/(1-p) (`graph.SymmetricEdgeDropout`) — unlike the reference code, which drops the two directed
    copies independently. Keeping 𝓛 symmetric lets every product use `graph.propagate` with its cheap
    symmetric backward. Eval mode uses the full 𝓛 and no dropout, so it is deterministic.

    Initialisation (as the reference code): Xavier-uniform for the embedding tables (`init_std` is not
    used) and for W1/W2; biases start at 0. Randomness (init, dropout) comes from torch's global generator.
    𝓛 is a non-persistent buffer rebuilt from `train`; `state_dict()` holds the tables and W1/W2.
    """

    name = "ngcf"
    config: NGCFConfig

    def __init__(self, num_users: int, num_items: int, config: NGCFConfig, train: sp.spmatrix) -> None:
        super().__init__(num_users, num_items, config, train)
        check_train(train, num_users, num_items)
        d = config.embedding_dim
        self.num_layers = config.num_layers
        self.slope = config.leaky_relu_slope
        self.user_embedding = nn.Embedding(num_users, d)
        self.item_embedding = nn.Embedding(num_items, d)
        self.w1 = nn.ModuleList(nn.Linear(d, d) for _ in range(self.num_layers))
        self.w2 = nn.ModuleList(nn.Linear(d, d) for _ in range(self.num_layers))
        self.message_dropout = nn.Dropout(config.message_dropout)
        self.graph = SymmetricEdgeDropout(normalized_adjacency(train), config.node_dropout)
        self.reset_parameters()
        logger.debug("NGCF: %d users, %d items, %d layers, dim %d", num_users, num_items, self.num_layers, d)

    def reset_parameters(self) -> None:
        """Xavier-uniform tables and weights, zero biases."""
        nn.init.xavier_uniform_(self.user_embedding.weight)
        nn.init.xavier_uniform_(self.item_embedding.weight)
        for linear in [*self.w1, *self.w2]:
            nn.init.xavier_uniform_(linear.weight)
            nn.init.zeros_(linear.bias)

    def ego_embeddings(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Layer-0 tables (E_users^{(0)}, E_items^{(0)})."""
        return self.user_embedding.weight, self.item_embedding.weight

    def layer(self, adj: torch.Tensor, x: torch.Tensor, k: int) -> torch.Tensor:
        """One propagation layer: LeakyReLU(W1((𝓛+I)x) + W2((𝓛x) ⊙ x)), before dropout/normalisation."""
        side = propagate(adj, x)
        return F.leaky_relu(self.w1[k](side + x) + self.w2[k](side * x), negative_slope=self.slope)

    def embeddings(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Final (users, items) = split of [E^{(0)} ‖ Ê^{(1)} ‖ … ‖ Ê^{(L)}], each (·, d·(L+1))."""
        adj = self.graph()  # dropped once per forward, shared by all layers (as the reference code)
        x = torch.cat([self.user_embedding.weight, self.item_embedding.weight], dim=0)
        outputs = [x]
        for k in range(self.num_layers):
            x = self.message_dropout(self.layer(adj, x, k))
            outputs.append(F.normalize(x, p=2, dim=1))
        out = torch.cat(outputs, dim=1)
        users, items = torch.split(out, [self.num_users, self.num_items], dim=0)
        return users, items

    @property
    def fanouts(self) -> list[int] | None:
        return self.config.fanouts

    def propagation_matrix(self) -> torch.Tensor:
        """𝓛 (no dropout) as a torch CSR tensor: what the neighbour sampler of `model.fanouts` draws from."""
        graph = self.graph
        return csr_tensor(graph.crow, graph.col, graph.values, graph.shape)

    def sampled_embeddings(self, graph: SampledGraph, sparse: bool = False) -> torch.Tensor:
        """[E^{(0)} ‖ Ê^{(1)} ‖ … ‖ Ê^{(L)}] for `graph.seeds` only (rows in seed order), each layer's
        𝓛E^{(l-1)} estimated on the sampled computation graph (see `graph.sampled`); equal to `embeddings()` on
        those rows in eval mode when every fan-out is at least the largest degree. `sparse`: the tables get sparse row
        gradients (`train.sparse_updates`)."""
        x = gather_rows(
            self.user_embedding.weight, self.item_embedding.weight, graph.input_nodes, self.num_users, sparse=sparse
        )
        n = graph.num_seeds
        outputs = [x[:n]]
        for k, layer in enumerate(graph.layers):
            side, own = layer.aggregate(x), x[: layer.num_dst]
            x = F.leaky_relu(self.w1[k](side + own) + self.w2[k](side * own), negative_slope=self.slope)
            x = self.message_dropout(x)
            outputs.append(F.normalize(x[:n], p=2, dim=1))
        return torch.cat(outputs, dim=1)
