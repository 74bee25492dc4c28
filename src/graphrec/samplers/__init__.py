"""Negative samplers and the training-edge batcher."""

from __future__ import annotations

from graphrec.errors import UnknownNameError
from graphrec.samplers.uniform import EdgeBatcher, UniformNegativeSampler

SAMPLERS: dict[str, type[UniformNegativeSampler]] = {"uniform": UniformNegativeSampler}


def get_sampler(name: str) -> type[UniformNegativeSampler]:
    """The sampler class registered under `name`."""
    try:
        return SAMPLERS[name]
    except KeyError:
        raise UnknownNameError(f"unknown sampler '{name}'; choose one of: {', '.join(sorted(SAMPLERS))}") from None


__all__ = ["SAMPLERS", "EdgeBatcher", "UniformNegativeSampler", "get_sampler"]
