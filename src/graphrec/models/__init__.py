"""Recommender models and their registry: popularity, mf, lightgcn, ngcf."""

from __future__ import annotations

import scipy.sparse as sp

from graphrec.errors import UnknownNameError
from graphrec.models.base import Recommender
from graphrec.models.config import ModelConfig
from graphrec.models.lightgcn import LightGCN
from graphrec.models.mf import MF
from graphrec.models.ngcf import NGCF
from graphrec.models.popularity import Popularity

MODELS: dict[str, type[Recommender]] = {
    "popularity": Popularity,
    "mf": MF,
    "lightgcn": LightGCN,
    "ngcf": NGCF,
}


def get_model_class(name: str) -> type[Recommender]:
    """The registered model class called `name`; UnknownNameError listing the choices otherwise."""
    try:
        return MODELS[name]
    except KeyError:
        choices = ", ".join(sorted(MODELS))
        raise UnknownNameError(f"unknown model {name!r}; choose one of: {choices}") from None


def build_model(config: ModelConfig, num_users: int, num_items: int, train: sp.spmatrix) -> Recommender:
    """Build `config.name`'s model as ``cls(num_users, num_items, config, train)``.

    Parameters are initialised from torch's global generator: seed it (`seeding.seed_everything`) first.
    """
    return get_model_class(config.name)(num_users, num_items, config, train)


__all__ = [
    "LightGCN",
    "MF",
    "MODELS",
    "NGCF",
    "ModelConfig",
    "Popularity",
    "Recommender",
    "build_model",
    "get_model_class",
]
