"""The shared frame of item-graph convolution models (PinSAGE, GraphSAGE): item features in, K convolution layers
over neighbourhoods on the item–user–item graph, item embeddings out; users are importance-weighted means of their
recent items' embeddings. Subclasses define the layer and how neighbourhoods are sampled.

Inference (:meth:`ItemGraphModel.item_embeddings`) runs layer by layer over all items with fixed neighbourhoods,
so each item's layer-k representation is computed exactly once (the paper's MapReduce pipeline, on one machine).
"""

from __future__ import annotations

import logging
from abc import abstractmethod
from typing import ClassVar

import numpy as np
import scipy.sparse as sp
import torch
from torch import nn

from graphrec.config.models import ItemGraphConfig
from graphrec.errors import ConfigError
from graphrec.graph.blocks import Block, ComputationGraph, NeighbourFn, TableNeighbours, build_computation_graph
from graphrec.graph.walks import ItemGraph, Neighbourhoods
from graphrec.models.base import Recommender
from graphrec.seeding import Stream, numpy_rng

logger = logging.getLogger(__name__)

INFERENCE_STREAM = Stream.ITEM_INFERENCE_NEIGHBOURS  # numpy_rng stream of the fixed inference neighbourhoods
USER_STREAM = Stream.ITEM_USER_WALKS  # numpy_rng stream of the users' importance walks
INFERENCE_CHUNK = 4096  # items per chunk in layer-wise inference


class ItemGraphModel(Recommender):
    """Base of PinSAGE and GraphSAGE; built as ``cls(num_users, num_items, config, train, item_features=…,
    train_timestamps=…)``."""

    config: ItemGraphConfig
    objective: ClassVar[str] = "item_pairs"
    inputs: ClassVar[tuple[str, ...]] = ("item_features", "train_timestamps")

    def __init__(
        self, num_users: int, num_items: int, config: ItemGraphConfig, train: sp.csr_matrix,
        item_features: np.ndarray | None = None, train_timestamps: np.ndarray | None = None,
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
        self.layers = nn.ModuleList(self.make_layer(d_in, d_out) for d_in, d_out in zip(dims[:-1], dims[1:]))
        self.train_timestamps = train_timestamps
        self._inference_table: Neighbourhoods | None = None
        self._user_weights: sp.csr_matrix | None = None

    # ------------------------------------------------------------------ what subclasses define
    @abstractmethod
    def make_layer(self, in_dim: int, out_dim: int) -> nn.Module:
        """One convolution layer: ``layer(h_src, block) -> h_dst`` (L2-normalised rows)."""

    @abstractmethod
    def training_neighbours(self, rng: np.random.Generator) -> NeighbourFn:
        """The neighbourhood sampler used while training."""

    def inference_neighbours(self) -> NeighbourFn:
        """The neighbourhoods used at inference (default: the training sampler with a fixed seed)."""
        return self.training_neighbours(numpy_rng(self.config.init_seed, INFERENCE_STREAM))

    def output(self, h: torch.Tensor) -> torch.Tensor:
        """Map the last layer's output to the embedding (identity unless a subclass adds a dense layer)."""
        return h

    # ------------------------------------------------------------------ forward
    def input_features(self, nodes: torch.Tensor) -> torch.Tensor:
        parts = [self.features[nodes]]
        if self.id_embedding is not None:
            parts.append(self.id_embedding(nodes))
        return torch.cat(parts, dim=1)

    def encode(self, graph: ComputationGraph) -> torch.Tensor:
        """Embeddings of `graph.output_nodes` (in that order)."""
        h = self.input_features(torch.from_numpy(graph.input_nodes))
        for layer, block in zip(self.layers, graph.blocks):
            h = layer(h, _torch_block(block))
        return self.output(h)

    def embed_items(self, items: np.ndarray, neighbours: NeighbourFn | None = None) -> torch.Tensor:
        """Embeddings of `items` from their own computation graph (default: the fixed inference neighbourhoods);
        nothing is shared across calls — this is the naive per-node path that layer-wise inference avoids."""
        neighbours = neighbours or TableNeighbours(self.inference_table)
        graph = build_computation_graph(items, neighbours, len(self.layers))
        return self.encode(graph)[torch.from_numpy(graph.positions(np.asarray(items, dtype=np.int64)))]

    @property
    def inference_table(self) -> Neighbourhoods:
        if self._inference_table is None:
            self._inference_table = self.inference_neighbours()(np.arange(self.num_items))
        return self._inference_table

    def invalidate_caches(self) -> None:
        """Forget the fixed neighbourhoods and user weights (after the graph changed)."""
        self._inference_table, self._user_weights = None, None

    @torch.no_grad()
    def add_items(self, features: np.ndarray | None, item_users: list[np.ndarray]) -> np.ndarray:
        """Append items unseen in training: their feature rows and the users (user_idx) who engaged with them.

        The graph gains the new columns; existing neighbourhoods are kept (the new items' own, and any a later
        call needs, are computed on the grown graph). Returns the new items' indices. Id embeddings, if used, are
        zero for new items: only features and edges describe them.
        """
        count = len(item_users)
        if self.features.shape[1]:
            if features is None or np.asarray(features).shape != (count, self.features.shape[1]):
                got = None if features is None else np.asarray(features).shape
                raise ConfigError(f"new item features must have shape ({count}, {self.features.shape[1]}), got {got}")
            self.features = torch.cat([self.features, torch.as_tensor(np.asarray(features, dtype=np.float32))])
        if self.id_embedding is not None:
            grown = torch.cat([self.id_embedding.weight, self.id_embedding.weight.new_zeros(count, self.config.embedding_dim)])
            self.id_embedding = nn.Embedding.from_pretrained(grown, freeze=False)
        new = np.arange(self.num_items, self.num_items + count)
        rows = np.concatenate([np.asarray(u, dtype=np.int64) for u in item_users]) if count else np.zeros(0, int)
        cols = np.repeat(new, [len(u) for u in item_users])
        extra = sp.csr_matrix((np.ones(rows.size, dtype=np.float32), (rows, cols)),
                              shape=(self.num_users, self.num_items + count))
        grown_train = sp.hstack([self.train_matrix, sp.csr_matrix((self.num_users, count))]).tocsr() + extra
        grown_train.data[:] = 1.0
        self.train_timestamps = _realign_timestamps(self.train_matrix, self.train_timestamps, grown_train)
        self.train_matrix, self.num_items = grown_train, self.num_items + count
        self.graph = ItemGraph(grown_train)
        table = self._inference_table
        self._user_weights = None
        if table is not None:
            fresh = self.inference_neighbours()(new)
            self._inference_table = Neighbourhoods(np.concatenate([table.index, fresh.index]),
                                                   np.concatenate([table.weight, fresh.weight]))
        return new

    @torch.no_grad()
    def item_embeddings(self) -> torch.Tensor:
        """All items, layer by layer over the fixed neighbourhoods: every representation computed once."""
        table = self.inference_table
        everything = np.arange(self.num_items)
        h = self.input_features(torch.from_numpy(everything))
        for layer in self.layers:
            parts = []
            for start in range(0, self.num_items, INFERENCE_CHUNK):
                rows = everything[start:start + INFERENCE_CHUNK]
                block = Block(rows, rows, table.index[rows], table.weight[rows])
                parts.append(layer(h, _torch_block(block)))
            h = torch.cat(parts)
        return self.output(h)

    def embeddings(self) -> tuple[torch.Tensor, torch.Tensor]:
        items = self.item_embeddings()
        return self.user_embeddings(items), items

    def user_embeddings(self, items: torch.Tensor) -> torch.Tensor:
        """Users as the importance-weighted mean of their recent items' embeddings (`items`: every item's)."""
        return torch.from_numpy(np.asarray(self.user_weights @ items.numpy(), dtype=np.float32))

    @property
    def user_weights(self) -> sp.csr_matrix:
        if self._user_weights is None:
            self._user_weights = user_item_weights(
                self.graph, self.train_matrix, self.train_timestamps, self.config.user_recent_items,
                numpy_rng(self.config.init_seed, USER_STREAM))
        return self._user_weights


def user_item_weights(
    graph: ItemGraph, train: sp.csr_matrix, timestamps: np.ndarray | None, recent: int, rng: np.random.Generator,
    num_walks: int = 20, walk_length: int = 2,
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
    counts = sp.csr_matrix((np.ones(walkers.size * walk_length), (np.tile(walkers, walk_length),
                            np.concatenate(visits))), shape=train.shape)
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


def _torch_block(block: Block) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    return (torch.from_numpy(np.asarray(block.self_pos, dtype=np.int64)),
            torch.from_numpy(np.asarray(block.nbr_pos, dtype=np.int64)),
            torch.from_numpy(np.asarray(block.weight, dtype=np.float32)))


def _check_inputs(config: ItemGraphConfig, item_features: np.ndarray | None, num_items: int) -> None:
    """The model needs an input (features given, or id embeddings) and one feature row per item."""
    has_features = config.use_features and item_features is not None and np.asarray(item_features).shape[1] > 0
    if not has_features and not config.use_id_embedding:
        raise ConfigError(
            f"{config.name} has no input: set features.catalogue (item features) or model.use_id_embedding = true"
        )
    if item_features is not None and len(item_features) != num_items:
        raise ConfigError(f"item features have {len(item_features)} rows, expected one per item ({num_items})")
