"""Recommender models and their registry: popularity, mf, lightgcn, simgcl, xsimgcl, ngcf, gcn, gat, pinsage,
graphsage, deepwalk, node2vec, itemknn, gfcf, bspm, chebycf, turbocf, ease, blend."""

from __future__ import annotations

from typing import Any

import scipy.sparse as sp

from graphrec.config.models import ModelConfig
from graphrec.errors import UnknownNameError
from graphrec.models.base import (
    ContrastiveViews,
    EmbeddingRecommender,
    InductiveItems,
    ModelInput,
    Objective,
    Recommender,
    SampledPropagation,
    SelectsOnValidation,
    ShardedInference,
    UsersFromItems,
)
from graphrec.models.blend import Blend
from graphrec.models.bspm import BSPM
from graphrec.models.chebycf import ChebyCF
from graphrec.models.deepwalk import DeepWalk
from graphrec.models.ease import EASE
from graphrec.models.gat import GAT
from graphrec.models.gcn import GCN
from graphrec.models.gfcf import GFCF
from graphrec.models.graphsage import GraphSAGE
from graphrec.models.itemknn import ItemKNN
from graphrec.models.lightgcn import LightGCN
from graphrec.models.mf import MF
from graphrec.models.ngcf import NGCF
from graphrec.models.node2vec import Node2Vec
from graphrec.models.pinsage import PinSAGE
from graphrec.models.popularity import Popularity
from graphrec.models.simgcl import SimGCL
from graphrec.models.turbocf import TurboCF
from graphrec.models.xsimgcl import XSimGCL

MODELS: dict[str, type[Recommender]] = {
    "popularity": Popularity,
    "mf": MF,
    "lightgcn": LightGCN,
    "simgcl": SimGCL,
    "xsimgcl": XSimGCL,
    "ngcf": NGCF,
    "gcn": GCN,
    "gat": GAT,
    "pinsage": PinSAGE,
    "graphsage": GraphSAGE,
    "deepwalk": DeepWalk,
    "node2vec": Node2Vec,
    "itemknn": ItemKNN,
    "gfcf": GFCF,
    "bspm": BSPM,
    "chebycf": ChebyCF,
    "turbocf": TurboCF,
    "ease": EASE,
    "blend": Blend,
}


def get_model_class(name: str) -> type[Recommender]:
    """The registered model class called `name`; UnknownNameError listing the choices otherwise."""
    try:
        return MODELS[name]
    except KeyError:
        choices = ", ".join(sorted(MODELS))
        raise UnknownNameError(f"unknown model {name!r}; choose one of: {choices}") from None


def build_model(
    config: ModelConfig,
    num_users: int,
    num_items: int,
    train: sp.spmatrix,
    **available: Any,
) -> Recommender:
    """Build `config.name`'s model as ``cls(num_users, num_items, config, train, **inputs)``, where `inputs` are
    the entries of `available` (item_features, train_timestamps, …) the class lists in its ``inputs``.

    Parameters are initialised from torch's global generator: seed it (`seeding.seed_everything`) first.
    """
    cls = get_model_class(config.name)
    inputs = {kind.value: available.get(kind.value) for kind in cls.inputs}
    return cls(num_users, num_items, config, train, **inputs)


__all__ = [
    "BSPM",
    "EASE",
    "GAT",
    "GCN",
    "GFCF",
    "MF",
    "MODELS",
    "NGCF",
    "Blend",
    "ChebyCF",
    "ContrastiveViews",
    "DeepWalk",
    "EmbeddingRecommender",
    "GraphSAGE",
    "InductiveItems",
    "ItemKNN",
    "LightGCN",
    "ModelConfig",
    "ModelInput",
    "Node2Vec",
    "Objective",
    "PinSAGE",
    "Popularity",
    "Recommender",
    "SampledPropagation",
    "SelectsOnValidation",
    "ShardedInference",
    "SimGCL",
    "TurboCF",
    "UsersFromItems",
    "XSimGCL",
    "build_model",
    "get_model_class",
]
