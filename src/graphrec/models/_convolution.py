r"""The frame GCN and GAT share: layer-0 inputs, K transformed layers on the user–item graph, LightGCN's layer
combination, full and neighbour-sampled propagation. Subclasses define one layer (:meth:`full_layer` over the whole
graph, :meth:`sampled_layer` over one layer of a sampled computation graph).

.. math::
    h^{(0)}_u = e_u,\quad h^{(0)}_i = e_i + P x_i,\quad
    h^{(k)} = \mathrm{layer}_k(h^{(k-1)}),\quad
    z = \sum_{k=0}^{K} \alpha_k h^{(k)},\quad f(u, i) = z_u^\top z_i

e: the id-embedding tables (the L2 targets); x_i: item i's feature row when a catalogue is configured
(``features.catalogue``, ``model.use_features``), P a linear projection F → d that starts at zero (so training
starts from the id-only model); α: ``model.layer_weights`` or 1/(K+1) each.
"""

from __future__ import annotations

import logging
from abc import abstractmethod
from collections.abc import Callable
from typing import ClassVar

import numpy as np
import scipy.sparse as sp
import torch
import torch.nn.functional as F
from torch import nn

from graphrec.config.models import GraphConvConfig
from graphrec.errors import DataError
from graphrec.graph import bipartite_adjacency, csr_tensor, propagate, to_torch_csr
from graphrec.graph.sampled import SampledGraph, SampledLayer, gather_rows
from graphrec.models._checks import binary_history, init_tables
from graphrec.models.base import EmbeddingRecommender, ModelInput, SampledPropagation
from graphrec.models.lightgcn import resolve_layer_weights

logger = logging.getLogger(__name__)


def activation(name: str, slope: float) -> Callable[[torch.Tensor], torch.Tensor]:
    """The layer non-linearity f called `name` (one of config.models.ACTIVATIONS)."""
    functions: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
        "relu": F.relu,
        "leaky_relu": lambda x: F.leaky_relu(x, negative_slope=slope),
        "elu": F.elu,
        "tanh": torch.tanh,
        "identity": lambda x: x,
    }
    return functions[name]


def checked_features(item_features: np.ndarray | None, num_items: int, use: bool) -> np.ndarray | None:
    """The (num_items, F) float32 feature matrix to project, or None (none given, none wanted, or F = 0)."""
    if item_features is None or not use:
        return None
    features = np.asarray(item_features, dtype=np.float32)
    if features.ndim != 2 or features.shape[0] != num_items:
        raise DataError(
            f"item features: expected a ({num_items}, F) matrix (one row per item), got shape {features.shape}; "
            "build them from the catalogue of this data's items"
        )
    return features if features.shape[1] else None


class GraphConvolution(EmbeddingRecommender, SampledPropagation):
    """Base of GCN and GAT; built as ``cls(num_users, num_items, config, train, item_features=…)``.

    A is the binary bipartite adjacency [[0, R], [Rᵀ, 0]] (a non-persistent buffer rebuilt from `train`, as is the
    feature matrix, which a run keeps beside itself as item_features.npy); `state_dict()` holds the id tables, the
    projection P (when features are used) and the layers' weights."""

    config: GraphConvConfig
    inputs: ClassVar[tuple[ModelInput, ...]] = (ModelInput.ITEM_FEATURES,)
    adj: torch.Tensor
    inv_degree: torch.Tensor
    features: torch.Tensor

    def __init__(
        self,
        num_users: int,
        num_items: int,
        config: GraphConvConfig,
        train: sp.spmatrix,
        item_features: np.ndarray | None = None,
    ) -> None:
        super().__init__(num_users, num_items, config, train)
        history = binary_history(train, num_users, num_items)
        d = config.embedding_dim
        self.num_layers, self.alpha = config.num_layers, resolve_layer_weights(config)
        self.f = activation(config.activation, config.leaky_relu_slope)
        self.user_embedding, self.item_embedding = nn.Embedding(num_users, d), nn.Embedding(num_items, d)
        init_tables(self.user_embedding, self.item_embedding, config, history)
        features = checked_features(item_features, num_items, config.use_features)
        width = 0 if features is None else features.shape[1]
        self.register_buffer("features", torch.from_numpy(np.zeros((num_items, width), np.float32)), persistent=False)
        self.projection: nn.Linear | None = None
        if features is not None:
            self.features = torch.from_numpy(features)
            self.projection = nn.Linear(width, d, bias=False)
            nn.init.zeros_(self.projection.weight)
        adjacency = bipartite_adjacency(history)
        degree = np.asarray(adjacency.sum(axis=1), dtype=np.float64).ravel()
        inverse = np.where(degree > 0, 1.0 / np.maximum(degree, 1.0), 0.0).astype(np.float32)
        self.register_buffer("adj", to_torch_csr(adjacency), persistent=False)
        self.register_buffer("inv_degree", torch.from_numpy(inverse).unsqueeze(1), persistent=False)
        self.build_layers(d)
        logger.debug(
            "%s: %d users, %d items, %d layers, %d features", self.name, num_users, num_items, self.num_layers, width
        )

    # ------------------------------------------------------------------ what subclasses define
    @abstractmethod
    def build_layers(self, dim: int) -> None:
        """Create (and initialise) the K layers' parameters, each layer d → d."""

    @abstractmethod
    def full_layer(self, k: int, x: torch.Tensor) -> torch.Tensor:
        """h^{(k+1)} of every node from h^{(k)} = `x` ((U + I) × d) over the whole graph."""

    @abstractmethod
    def sampled_layer(self, k: int, x: torch.Tensor, layer: SampledLayer) -> torch.Tensor:
        """h^{(k+1)} of the first `layer.num_dst` input nodes from `x` (one row per input node of `layer`)."""

    # ------------------------------------------------------------------ full propagation
    def ego_embeddings(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The id tables (e_users, e_items): the L2-penalty targets."""
        return self.user_embedding.weight, self.item_embedding.weight

    def ego(self) -> torch.Tensor:
        """h^{(0)} of every node, (U + I) × d: the user table over the item table (+ P x)."""
        items = self.item_embedding.weight
        if self.projection is not None:
            items = items + self.projection(self.features)
        return torch.cat([self.user_embedding.weight, items], dim=0)

    def embeddings(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Final (users, items) = split of Σ_k α_k h^{(k)}, layer by layer over the whole graph."""
        x = self.ego()
        out = self.alpha[0] * x
        for k in range(self.num_layers):
            x = self.full_layer(k, x)
            out = out + self.alpha[k + 1] * x
        users, items = torch.split(out, [self.num_users, self.num_items], dim=0)
        return users, items

    def neighbour_mean(self, x: torch.Tensor) -> torch.Tensor:
        """mean_{u ∈ N(v)} x_u for every node (zeros for an isolated node): D⁻¹ A x, A x by `graph.propagate`."""
        return propagate(self.adj, x) * self.inv_degree

    # ------------------------------------------------------------------ sampled propagation
    @property
    def fanouts(self) -> list[int] | None:
        return self.config.fanouts

    def propagation_matrix(self) -> torch.Tensor:
        """D⁻¹ A (each row the mean over the node's neighbours) as a torch CSR tensor, what the neighbour sampler
        of `model.fanouts` draws from: a sampled row is then the mean of the drawn neighbours."""
        crow, col = self.adj.crow_indices(), self.adj.col_indices()
        rows = torch.repeat_interleave(torch.arange(len(crow) - 1), torch.diff(crow.long()))
        return csr_tensor(crow, col, self.inv_degree[rows, 0].contiguous(), (len(crow) - 1, len(crow) - 1))

    def input_rows(self, nodes: np.ndarray, sparse: bool = False) -> torch.Tensor:
        """h^{(0)} of global node ids `nodes` (users 0..U−1, item i at U + i), O(len(nodes))."""
        x = gather_rows(self.user_embedding.weight, self.item_embedding.weight, nodes, self.num_users, sparse=sparse)
        if self.projection is None:
            return x
        position = np.flatnonzero(np.asarray(nodes) >= self.num_users)
        items = torch.from_numpy(np.asarray(nodes)[position] - self.num_users)
        return x.index_add(0, torch.from_numpy(position), self.projection(self.features[items]))

    def sampled_embeddings(self, graph: SampledGraph, sparse: bool = False) -> torch.Tensor:
        """Σ_k α_k h^{(k)} for `graph.seeds` only (rows in seed order), each layer over the sampled computation
        graph; equal to `embeddings()` on those rows when every fan-out is at least the largest degree. `sparse`:
        the id tables get sparse row gradients (`train.sparse_updates`)."""
        x = self.input_rows(graph.input_nodes, sparse=sparse)
        n = graph.num_seeds
        out = self.alpha[0] * x[:n]
        for k, layer in enumerate(graph.layers):
            x = self.sampled_layer(k, x, layer)
            out = out + self.alpha[k + 1] * x[:n]
        return out
