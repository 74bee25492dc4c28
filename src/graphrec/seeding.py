"""One place to derive every random generator from a seed."""

from __future__ import annotations

import numpy as np
import torch


def numpy_rng(seed: int, stream: int = 0) -> np.random.Generator:
    """A numpy generator for `seed`; distinct `stream`s give independent sequences."""
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence([int(seed), int(stream)])))


def torch_generator(seed: int, stream: int = 0) -> torch.Generator:
    """A CPU torch generator for `seed` and `stream`."""
    derived = int(np.random.SeedSequence([int(seed), int(stream)]).generate_state(1, dtype=np.uint64)[0] >> 1)
    gen = torch.Generator()
    gen.manual_seed(derived)
    return gen


def seed_everything(seed: int) -> None:
    """Seed torch's global generator (used by parameter initialisation and dropout)."""
    torch.manual_seed(int(seed))
