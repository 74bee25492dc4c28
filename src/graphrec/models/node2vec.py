"""node2vec: DeepWalk's skip-gram objective over second-order, p/q-biased random walks."""

from __future__ import annotations

from graphrec.config.models import Node2VecConfig
from graphrec.models.deepwalk import DeepWalk


class Node2Vec(DeepWalk):
    """node2vec (Grover & Leskovec, KDD 2016) on the user–item bipartite graph.

    The model and its loss are DeepWalk's (one vector z_v per node, skip-gram with negative sampling, scores
    z_uᵀ z_i); the walks are second order. Having stepped t → v, the walk moves to a neighbour x of v with
    probability ∝ α_pq(t, x) = 1/p if x = t, 1 if x neighbours t, 1/q otherwise (graph.walks.NodeGraph). On the
    bipartite graph x and t lie on the same side and are never adjacent, so a step returns with weight 1/p and
    moves on with 1/q: p > 1 discourages returning to the previous user (or item), q < 1 pushes walks outward.
    """

    name = "node2vec"
    config: Node2VecConfig

    @property
    def walk_bias(self) -> tuple[float, float]:
        """(model.p, model.q)."""
        return self.config.p, self.config.q
