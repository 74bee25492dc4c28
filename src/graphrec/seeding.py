"""One place to derive every random generator from a seed."""

from __future__ import annotations

import numpy as np
import torch


def numpy_rng(seed: int, stream: int = 0, *keys: int) -> np.random.Generator:
    """A numpy generator for `seed`; distinct `stream`s (and further `keys`, e.g. epoch and batch) give
    independent sequences."""
    entropy = [int(seed), int(stream), *(int(k) for k in keys)]
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(entropy)))


def torch_generator(seed: int, stream: int = 0, *keys: int) -> torch.Generator:
    """A CPU torch generator for `seed`, `stream` and optional further `keys`."""
    entropy = [int(seed), int(stream), *(int(k) for k in keys)]
    derived = int(np.random.SeedSequence(entropy).generate_state(1, dtype=np.uint64)[0] >> 1)
    gen = torch.Generator()
    gen.manual_seed(derived)
    return gen


def seed_everything(seed: int) -> None:
    """Seed torch's global generator (used by parameter initialisation and dropout)."""
    torch.manual_seed(int(seed))
