"""What the SVD-backed graph filters (gfcf, chebycf, bspm) share: the binary history, the item graph P̃ with
R̃ = D_U^{-1/2} R D_I^{-1/2} built on first use, and a fit that stores the item degrees and the top right singular
vectors of R̃ as persistent buffers (so a loaded run scores without recomputing the SVD)."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch

from graphrec.config.models import ItemFilterConfig
from graphrec.graph.itemfilter import ItemGraph, top_right_singular_vectors
from graphrec.models._checks import binary_history
from graphrec.models.base import Objective, Recommender


class LowPassFilter(Recommender):
    """Base of the filters with an ideal low-pass term of weight `ideal_weight` and rank `rank` (0 weight: no SVD)."""

    objective = Objective.CLOSED_FORM
    config: ItemFilterConfig
    singular_vectors: torch.Tensor
    item_degree: torch.Tensor

    def __init__(
        self,
        num_users: int,
        num_items: int,
        config: ItemFilterConfig,
        train: sp.spmatrix,
        ideal: tuple[float, int, int],
    ) -> None:
        """`ideal`: (weight, rank, SVD seed) of the ideal low-pass term, from the model's own config keys."""
        super().__init__(num_users, num_items, config, train)
        self.history = binary_history(train, num_users, num_items)
        self.ideal_weight, rank, self.svd_seed = ideal
        self.rank = min(rank, num_users, num_items)
        self.register_buffer("singular_vectors", torch.zeros(num_items, self.rank))
        self.register_buffer("item_degree", torch.zeros(num_items))
        self._graph: ItemGraph | None = None

    @property
    def graph(self) -> ItemGraph:
        """P̃ = R̃ᵀR̃ with R̃ = D_U^{-1/2} R D_I^{-1/2}, built on first use (a loaded run builds it, no SVD)."""
        if self._graph is None:
            self._graph = ItemGraph(self.history, 0.5, 0.5, self.config.dense_budget_mb * 1e6)
        return self._graph

    @torch.no_grad()
    def fit(self) -> None:
        """The item degrees and (when the ideal weight is > 0) the top-`rank` right singular vectors of R̃."""
        self.item_degree.copy_(torch.from_numpy(np.asarray(self.history.sum(axis=0)).ravel().astype(np.float32)))
        if self.ideal_weight > 0:
            vectors = top_right_singular_vectors(self.graph.normalised, self.rank, self.svd_seed)
            self.singular_vectors.copy_(vectors)
