"""One place to derive every random generator from a seed, and the one list of stream ids.

Every generator in the library is ``numpy_rng(seed, Stream.X, *keys)`` or ``torch_generator(seed, Stream.X, *keys)``:
one :class:`Stream` member per independent use, so two uses never share a sequence (a test keeps the values unique
and another that src/ names a member in every call). Further `keys` (epoch, batch, block) split a stream.
"""

from __future__ import annotations

from enum import IntEnum, unique

import numpy as np
import torch


@unique
class Stream(IntEnum):
    """Stream ids of the library's random generators (values are part of reproducibility: never reuse one)."""

    SYNTH_INTERACTIONS = 0  # data.synthetic: the planted interactions
    SYNTH_SPLIT = 1  # data.synthetic: the train / test split of the demo directory
    EDGE_BATCHES = 2  # samplers.EdgeBatcher: the edge order of each epoch
    NEGATIVES = 3  # samplers.UniformNegativeSampler: uniform negatives (and DNS candidates)
    SYNTH_CATALOGUE = 5  # data.synthetic: the demo item catalogue
    SYNTH_LARGE_GLOBAL = 6  # data.synthetic_large: communities and degree parameters
    SYNTH_LARGE_BLOCKS = 7  # data.synthetic_large: each block of users (key: block)
    SYNTH_LARGE_FEATURES = 8  # data.synthetic_features: the planted item catalogue of a large graph
    SPECTRAL_SVD = 11  # linalg.randomized_svd (spectral starts, features): the randomized SVD's test matrix
    SPECTRAL_NOISE = 12  # graph.spectral: the noise that completes a rank-deficient start
    ITEM_INFERENCE_NEIGHBOURS = 31  # models.itemgraph: the fixed inference neighbourhoods
    ITEM_USER_WALKS = 32  # models.itemgraph: the users' importance walks
    SAMPLED_NEIGHBOURS = 34  # training.sampled: computation graphs of model.fanouts (keys: epoch, step)
    CONTRASTIVE_NOISE = 35  # training.contrastive: the embedding noise of simgcl / xsimgcl (keys: epoch, step)
    RANDOM_WALKS = 36  # training.skipgram: the walk order (keys: epoch, 0) and each batch's walks (epoch, batch + 1)
    SKIP_GRAM_NEGATIVES = 37  # training.skipgram: each batch's noise nodes (keys: epoch, batch)
    PAIR_BATCHES = 41  # training.item_pairs: co-engagement tie-breaks and each batch (keys: epoch, batch)
    HARD_POOL = 42  # training.item_pairs: the hard-negative pool
    DISTANCE_WEIGHTED = 43  # training.item_pairs: distance-weighted negatives of a step
    PARTITIONED_INIT = 45  # training.partitioned: the layer-0 rows of each block of nodes (key: block)
    RANKER_PAIRS = 51  # ranking.rankers: the sampled training pairs of a learned ranker
    BOOTSTRAP_USERS = 61  # evaluation.compare: the bootstrap resamples of the evaluated users
    REPORT_USERS = 62  # report.collect: the users whose histories and lists the report shows
    RELATED_SAMPLE = 63  # evaluation.related: the item pool of the sampled related-item protocol
    TEST_SPLIT = 101  # data.loading: the test split
    VALID_SPLIT = 102  # data.loading: the validation carve
    HOLDOUT_ITEMS = 103  # data.loading: the items withheld for inductive evaluation


def numpy_rng(seed: int, stream: int = 0, *keys: int) -> np.random.Generator:
    """A numpy generator for `seed`; distinct `stream`s (and further `keys`, e.g. epoch and batch) give
    independent sequences. The library always passes a :class:`Stream`; the default 0 is for ad-hoc use (tests)."""
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
