"""The shared frame of item-graph convolution models (PinSAGE, GraphSAGE): item features in, K convolution layers
over neighbourhoods on the item–user–item graph, item embeddings out; users are importance-weighted means of their
recent items' embeddings. Subclasses define the layer and how neighbourhoods are sampled.

Inference (:meth:`ItemGraphModel.item_embeddings`) runs layer by layer over all items with fixed neighbourhoods,
so each item's layer-k representation is computed exactly once (the paper's MapReduce pipeline, on one machine).
"""

from __future__ import annotations

import logging
from abc import abstractmethod
from dataclasses import dataclass
from itertools import pairwise
from typing import ClassVar

import numpy as np
import scipy.sparse as sp
import torch
from torch import nn

from graphrec.config.models import ItemGraphConfig
from graphrec.errors import ConfigError, DataError
from graphrec.graph.blocks import Block, ComputationGraph, NeighbourFn, TableNeighbours, build_computation_graph
from graphrec.graph.walks import ItemGraph, Neighbourhoods
from graphrec.models.base import (
    EmbeddingRecommender,
    Gather,
    InductiveItems,
    ModelInput,
    Objective,
    ShardedInference,
    UsersFromItems,
)
from graphrec.seeding import Stream, numpy_rng

logger = logging.getLogger(__name__)

INFERENCE_STREAM = Stream.ITEM_INFERENCE_NEIGHBOURS  # numpy_rng stream of the fixed inference neighbourhoods
USER_STREAM = Stream.ITEM_USER_WALKS  # numpy_rng stream of the users' importance walks
INFERENCE_CHUNK = 4096  # items per chunk in layer-wise inference


@dataclass
class ItemPlan:
    """What adding new items to an item-graph model does (:meth:`ItemGraphModel.plan_items`)."""

    new_items: np.ndarray  # their item_idx in the grown model
    features: torch.Tensor  # grown feature matrix
    id_table: torch.Tensor | None  # grown id-embedding table (zeros for the new rows)
    train: sp.csr_matrix  # grown training matrix
    timestamps: np.ndarray | None  # training timestamps in the grown matrix's CSR order
    graph: ItemGraph
    table: Neighbourhoods  # fixed inference neighbourhoods of every item of the grown model
    embeddings: torch.Tensor  # the new items' embeddings


class ItemGraphModel(EmbeddingRecommender, ShardedInference, InductiveItems, UsersFromItems):
    """Base of PinSAGE and GraphSAGE; built as ``cls(num_users, num_items, config, train, item_features=…,
    train_timestamps=…)``."""

    config: ItemGraphConfig
    objective: ClassVar[Objective] = Objective.ITEM_PAIRS
    inputs: ClassVar[tuple[ModelInput, ...]] = (ModelInput.ITEM_FEATURES, ModelInput.TRAIN_TIMESTAMPS)
    sharding: ClassVar[str] = "layer-wise item shards"

    def __init__(
        self,
        num_users: int,
        num_items: int,
        config: ItemGraphConfig,
        train: sp.csr_matrix,
        item_features: np.ndarray | None = None,
        train_timestamps: np.ndarray | None = None,
    ) -> None:
        super().__init__(num_users, num_items, config, train)
        _check_inputs(config, item_features, num_items)
        self.train_matrix = sp.csr_matrix(train)
        self.graph = ItemGraph(self.train_matrix)
        features = item_features if config.use_features and item_features is not None else np.zeros((num_items, 0))
        self.register_buffer("features", torch.as_tensor(np.asarray(features, dtype=np.float32)), persistent=False)
        self.id_embedding = nn.Embedding(num_items, config.embedding_dim) if config.use_id_embedding else None
        if self.id_embedding is not None:
            nn.init.normal_(self.id_embedding.weight, std=config.init_std)
        self.input_dim = self.features.shape[1] + (config.embedding_dim if config.use_id_embedding else 0)
        dims = [self.input_dim] + [config.embedding_dim] * config.num_layers
        self.layers = nn.ModuleList(self.make_layer(d_in, d_out) for d_in, d_out in pairwise(dims))
        self.dense = self.make_dense(config.embedding_dim)
        self.train_timestamps = train_timestamps
        self._inference_table: Neighbourhoods | None = None
        self._user_weights: sp.csr_matrix | None = None

    # ------------------------------------------------------------------ what subclasses define
    @abstractmethod
    def make_layer(self, in_dim: int, out_dim: int) -> nn.Module:
        """One convolution layer: ``layer(h_src, block) -> h_dst`` (L2-normalised rows)."""

    @abstractmethod
    def training_neighbours(self, rng: np.random.Generator, graph: ItemGraph | None = None) -> NeighbourFn:
        """The neighbourhood sampler used while training (on `graph`, default the model's)."""

    def inference_neighbours(self, graph: ItemGraph) -> NeighbourFn:
        """The neighbourhoods used at inference on `graph` (default: the training sampler with a fixed seed)."""
        return self.training_neighbours(numpy_rng(self.config.init_seed, INFERENCE_STREAM), graph)

    def make_dense(self, dim: int) -> nn.Module:
        """The final layer mapping the last convolution's output to the embedding (identity unless overridden)."""
        return nn.Identity()

    def output(self, h: torch.Tensor) -> torch.Tensor:
        return self.dense(h)

    # ------------------------------------------------------------------ forward
    def input_features(self, nodes: torch.Tensor) -> torch.Tensor:
        weight = self.id_embedding.weight if self.id_embedding is not None else None
        return _input_features(nodes, self.features, weight)

    def encode(self, graph: ComputationGraph) -> torch.Tensor:
        """Embeddings of `graph.output_nodes` (in that order)."""
        weight = self.id_embedding.weight if self.id_embedding is not None else None
        return self._encode(graph, self.features, weight)

    def _encode(self, graph: ComputationGraph, features: torch.Tensor, id_table: torch.Tensor | None) -> torch.Tensor:
        h = _input_features(torch.from_numpy(graph.input_nodes), features, id_table)
        for layer, block in zip(self.layers, graph.blocks, strict=True):
            h = layer(h, _torch_block(block))
        return self.output(h)

    def encode_items(self, items: np.ndarray, neighbours: NeighbourFn | None = None) -> torch.Tensor:
        """Embeddings of known `items` from their own computation graph (default: the fixed inference
        neighbourhoods); nothing is shared across calls — the naive per-node path that layer-wise inference avoids."""
        neighbours = neighbours or TableNeighbours(self.inference_table)
        graph = build_computation_graph(items, neighbours, len(self.layers))
        return self.encode(graph)[torch.from_numpy(graph.positions(np.asarray(items, dtype=np.int64)))]

    @property
    def inference_table(self) -> Neighbourhoods:
        if self._inference_table is None:
            self._inference_table = self.inference_neighbours(self.graph)(np.arange(self.num_items))
        return self._inference_table

    def invalidate_caches(self) -> None:
        """Forget the fixed neighbourhoods and user weights (after the graph changed)."""
        self._inference_table, self._user_weights = None, None

    # ------------------------------------------------------------------ inductive items
    @property
    def feature_width(self) -> int:
        return int(self.features.shape[1])

    @torch.no_grad()
    def plan_items(self, features: np.ndarray | None, item_users: list[np.ndarray]) -> ItemPlan:
        """Pure: the grown inputs, graph and neighbourhoods for items unseen in training (their feature rows and
        the users — user_idx — who engaged with them), and the new items' embeddings; the model is unchanged.

        The graph gains the new columns; existing neighbourhoods are kept (the new items' own, and any a later
        call needs, are computed on the grown graph). Id embeddings, if used, are zero for new items: only
        features and edges describe them.
        """
        count = len(item_users)
        grown_features = self.features
        if self.feature_width:
            if features is None or np.asarray(features).shape != (count, self.feature_width):
                got = None if features is None else np.asarray(features).shape
                raise DataError(
                    f"new item features: expected shape ({count}, {self.feature_width}), got {got}; "
                    "give one row of the model's feature width per new item"
                )
            grown_features = torch.cat([self.features, torch.as_tensor(np.asarray(features, dtype=np.float32))])
        id_table = None
        if self.id_embedding is not None:
            weight = self.id_embedding.weight.detach()
            id_table = torch.cat([weight, weight.new_zeros(count, self.config.embedding_dim)])
        new = np.arange(self.num_items, self.num_items + count)
        rows = np.concatenate([np.asarray(u, dtype=np.int64) for u in item_users]) if count else np.zeros(0, int)
        cols = np.repeat(new, [len(u) for u in item_users])
        extra = sp.csr_matrix(
            (np.ones(rows.size, dtype=np.float32), (rows, cols)), shape=(self.num_users, self.num_items + count)
        )
        grown_train = sp.hstack([self.train_matrix, sp.csr_matrix((self.num_users, count))]).tocsr() + extra
        grown_train.data[:] = 1.0
        graph = ItemGraph(grown_train)
        table = self._inference_table
        if table is not None:
            fresh = self.inference_neighbours(graph)(new)
            table = Neighbourhoods(
                np.concatenate([table.index, fresh.index]), np.concatenate([table.weight, fresh.weight])
            )
        else:
            table = self.inference_neighbours(graph)(np.arange(self.num_items + count))
        plan = ItemPlan(
            new,
            grown_features,
            id_table,
            grown_train,
            _realign_timestamps(self.train_matrix, self.train_timestamps, grown_train),
            graph,
            table,
            torch.zeros(0),
        )
        computation = build_computation_graph(new, TableNeighbours(table), len(self.layers))
        h = self._encode(computation, plan.features, plan.id_table)
        plan.embeddings = h[torch.from_numpy(computation.positions(new))]
        return plan

    def planned_embeddings(self, plan: ItemPlan) -> torch.Tensor:
        return plan.embeddings

    def add_items(self, plan: ItemPlan) -> np.ndarray:
        """The mutating step: adopt a plan of :meth:`plan_items`; return the new items' indices."""
        if plan.train.shape[1] != self.num_items + len(plan.new_items):
            raise DataError(
                f"item plan for {plan.train.shape[1]} items does not apply to a model of "
                f"{self.num_items} items; plan again against the current model"
            )
        self.features = plan.features
        if plan.id_table is not None:
            self.id_embedding = nn.Embedding.from_pretrained(plan.id_table, freeze=False)
        self.train_matrix, self.train_timestamps = plan.train, plan.timestamps
        self.num_items, self.graph = plan.train.shape[1], plan.graph
        self._inference_table, self._user_weights = plan.table, None
        return plan.new_items

    @torch.no_grad()
    def item_embeddings(self) -> torch.Tensor:
        """All items, layer by layer over the fixed neighbourhoods: every representation computed once."""
        table = self.inference_table
        everything = np.arange(self.num_items)
        h = self.input_features(torch.from_numpy(everything))
        for layer in self.layers:
            parts = []
            for start in range(0, self.num_items, INFERENCE_CHUNK):
                rows = everything[start : start + INFERENCE_CHUNK]
                block = Block(rows, rows, table.index[rows], table.weight[rows])
                parts.append(layer(h, _torch_block(block)))
            h = torch.cat(parts)
        return self.output(h)

    def embeddings(self) -> tuple[torch.Tensor, torch.Tensor]:
        items = self.item_embeddings()
        return self.users_from_items(items), items

    @torch.no_grad()
    def shard_embeddings(
        self, users: tuple[int, int], items: tuple[int, int], world: int, gather: Gather
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Layer-wise inference (as :meth:`item_embeddings`) on this rank's items, one gather per layer for the next
        layer's neighbours; users from all gathered final items."""
        table = self.inference_table
        own = np.arange(*items)
        h = self.input_features(torch.arange(self.num_items))
        local = h[torch.from_numpy(own)]
        for depth, layer in enumerate(self.layers):
            parts = [
                layer(h, _torch_block(Block(rows, rows, table.index[rows], table.weight[rows])))
                for rows in (own[s : s + INFERENCE_CHUNK] for s in range(0, len(own), INFERENCE_CHUNK))
            ]
            local = torch.cat(parts) if parts else h.new_zeros((0, self.config.embedding_dim))  # an empty slice
            if depth < len(self.layers) - 1:
                h = gather(local)  # the next layer reads neighbours from every rank's slice
        item_rows = self.output(local)
        all_items = gather(item_rows)
        weights = self.user_weights[users[0] : users[1]]
        return torch.from_numpy(np.asarray(weights @ all_items.numpy(), dtype=np.float32)), item_rows

    def users_from_items(self, items: torch.Tensor) -> torch.Tensor:
        """Users as the importance-weighted mean of their recent items' embeddings (`items`: every item's)."""
        return torch.from_numpy(np.asarray(self.user_weights @ items.numpy(), dtype=np.float32))

    @property
    def user_weights(self) -> sp.csr_matrix:
        if self._user_weights is None:
            self._user_weights = user_item_weights(
                self.graph,
                self.train_matrix,
                self.train_timestamps,
                self.config.user_recent_items,
                numpy_rng(self.config.init_seed, USER_STREAM),
            )
        return self._user_weights


def user_item_weights(
    graph: ItemGraph,
    train: sp.csr_matrix,
    timestamps: np.ndarray | None,
    recent: int,
    rng: np.random.Generator,
    num_walks: int = 20,
    walk_length: int = 2,
) -> sp.csr_matrix:
    """(num_users, num_items) rows summing to 1: each user's `recent` newest training items (all, if there are no
    timestamps), weighted by 1 + the visits of short walks from the user (user → item, then item → user → item),
    the user-side analogue of importance pooling."""
    train = sp.csr_matrix(train)
    users = np.repeat(np.arange(train.shape[0]), np.diff(train.indptr))
    items = train.indices.astype(np.int64)
    keys = timestamps if timestamps is not None else np.zeros(items.size)
    order = np.lexsort((-keys, users))  # per user, newest first
    rank = np.arange(items.size) - train.indptr[users[order]]
    keep = order[rank < recent]
    active = np.flatnonzero(np.diff(train.indptr) > 0)
    walkers = np.repeat(active, num_walks)
    current = graph.step_from_users(walkers, rng)
    visits = [current]
    for _ in range(walk_length - 1):
        current = graph.step(current, rng)
        visits.append(current)
    counts = sp.csr_matrix(
        (np.ones(walkers.size * walk_length), (np.tile(walkers, walk_length), np.concatenate(visits))),
        shape=train.shape,
    )
    weights = np.asarray(counts[users[keep], items[keep]]).ravel() + 1.0
    matrix = sp.csr_matrix((weights, (users[keep], items[keep])), shape=train.shape)
    totals = np.asarray(matrix.sum(axis=1)).ravel()
    return sp.diags(np.where(totals > 0, 1.0 / np.maximum(totals, 1e-12), 0.0)) @ matrix


def _realign_timestamps(old: sp.csr_matrix, timestamps: np.ndarray | None, new: sp.csr_matrix) -> np.ndarray | None:
    """Timestamps in `new`'s CSR order; edges not in `old` count as the newest (they just arrived)."""
    if timestamps is None:
        return None
    if old.nnz == 0:
        return np.full(new.nnz, np.inf)
    width = new.shape[1]
    old_keys = np.repeat(np.arange(old.shape[0]), np.diff(old.indptr)) * width + old.indices
    new_keys = np.repeat(np.arange(new.shape[0]), np.diff(new.indptr)) * width + new.indices
    pos = np.minimum(np.searchsorted(old_keys, new_keys), old_keys.size - 1)
    return np.where(old_keys[pos] == new_keys, timestamps[pos], np.inf)


def _input_features(nodes: torch.Tensor, features: torch.Tensor, id_table: torch.Tensor | None) -> torch.Tensor:
    parts = [features[nodes]]
    if id_table is not None:
        parts.append(torch.nn.functional.embedding(nodes, id_table))
    return torch.cat(parts, dim=1)


def _torch_block(block: Block) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    return (
        torch.from_numpy(np.asarray(block.self_pos, dtype=np.int64)),
        torch.from_numpy(np.asarray(block.nbr_pos, dtype=np.int64)),
        torch.from_numpy(np.asarray(block.weight, dtype=np.float32)),
    )


def _check_inputs(config: ItemGraphConfig, item_features: np.ndarray | None, num_items: int) -> None:
    """The model needs an input (features given, or id embeddings) and one feature row per item."""
    has_features = config.use_features and item_features is not None and np.asarray(item_features).shape[1] > 0
    if not has_features and not config.use_id_embedding:
        raise ConfigError(
            f"{config.name} has no input: set features.catalogue (item features) or model.use_id_embedding = true"
        )
    if item_features is not None and len(item_features) != num_items:
        raise ConfigError(f"item features have {len(item_features)} rows, expected one per item ({num_items})")
