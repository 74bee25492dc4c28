"""Synthetic interactions with planted community structure, for demos and tests.

Users and items are split into communities. Each user draws its items (without replacement) from a mixture: with
weight ``1 - noise`` its own community's items, skewed by a Zipf-like popularity inside the community, and with
weight ``noise`` any item, uniformly. A collaborative model (MF, LightGCN) recovers the communities and clearly
beats a popularity baseline on a held-out split; popularity alone only knows the global item counts.
"""

from __future__ import annotations

import itertools
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from graphrec.io import atomic_write_text
from graphrec.seeding import Stream, numpy_rng

logger = logging.getLogger(__name__)

_BASE_TIME = 1_600_000_000  # 2020-09-13, so timestamps look like Unix seconds
_CHUNK_CELLS = 4_000_000  # users × items scores materialised at once


def _assign_communities(n: int, num_communities: int, rng: np.random.Generator) -> np.ndarray:
    """Balanced community labels (sizes differ by at most one), randomly permuted."""
    return rng.permutation(np.arange(n) % num_communities)


def _item_weights(item_comm: np.ndarray, num_communities: int, rng: np.random.Generator) -> np.ndarray:
    """(communities × items) sampling weights: in-community Zipf popularity, rows normalised to sum 1."""
    popularity = rng.pareto(1.5, size=len(item_comm)) + 1.0  # heavy-tailed popularity skew
    weights = np.zeros((num_communities, len(item_comm)))
    weights[item_comm, np.arange(len(item_comm))] = popularity
    return weights / weights.sum(axis=1, keepdims=True)


def _sample_items(probs: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """For each row of `probs`, `k` distinct columns drawn by successive sampling (Gumbel top-k), in draw order."""
    with np.errstate(divide="ignore"):
        scores = np.log(probs) + rng.gumbel(size=probs.shape)
    top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    order = np.argsort(-np.take_along_axis(scores, top, axis=1), axis=1, kind="stable")
    return np.take_along_axis(top, order, axis=1)


def generate_interactions(
    num_users: int = 500,
    num_items: int = 300,
    num_communities: int = 5,
    interactions_per_user: int = 20,
    noise: float = 0.1,
    seed: int = 0,
    with_timestamps: bool = True,
) -> pd.DataFrame:
    """Interactions (``user_id``, ``item_id`` int64, ``timestamp`` int64 if asked) with planted communities.

    Every user has exactly ``min(interactions_per_user, num_items)`` distinct items. The community labels are kept
    in ``frame.attrs["user_community"]`` / ``frame.attrs["item_community"]`` (lists indexed by id).
    Deterministic for a seed.
    """
    if min(num_users, num_items, num_communities, interactions_per_user) < 1 or not 0.0 <= noise <= 1.0:
        raise ValueError("sizes must be positive and noise in [0, 1]")
    rng = numpy_rng(seed, Stream.SYNTH_INTERACTIONS)
    user_comm = _assign_communities(num_users, num_communities, rng)
    item_comm = _assign_communities(num_items, num_communities, rng)
    mixture = (1.0 - noise) * _item_weights(item_comm, num_communities, rng) + noise / num_items
    k = min(interactions_per_user, num_items)
    chunk = max(1, _CHUNK_CELLS // num_items)
    items = np.concatenate(
        [_sample_items(mixture[user_comm[s : s + chunk]], k, rng) for s in range(0, num_users, chunk)]
    )
    frame = pd.DataFrame(
        {"user_id": np.repeat(np.arange(num_users, dtype=np.int64), k), "item_id": items.reshape(-1).astype(np.int64)}
    )
    if with_timestamps:
        gaps = rng.integers(60, 86_400, size=(num_users, k))  # each user's items in draw order, later and later
        starts = rng.integers(0, 30 * 86_400, size=(num_users, 1))
        frame["timestamp"] = (_BASE_TIME + starts + np.cumsum(gaps, axis=1)).reshape(-1).astype(np.int64)
    frame.attrs["user_community"] = user_comm.tolist()  # lists, not arrays: pandas compares attrs with ==
    frame.attrs["item_community"] = item_comm.tolist()
    logger.info(
        "generated %d interactions: %d users, %d items, %d communities, noise %g (seed %d)",
        len(frame),
        num_users,
        num_items,
        num_communities,
        noise,
        seed,
    )
    return frame


def _lightgcn_text(df: pd.DataFrame) -> str:
    """LightGCN lines ``user item item …``: users ascending, each user's items in row order."""
    order = np.argsort(df["user_id"].to_numpy(), kind="stable")
    users = df["user_id"].to_numpy()[order]
    items = df["item_id"].to_numpy()[order].astype(str)
    starts = np.flatnonzero(np.r_[True, users[1:] != users[:-1]]) if len(users) else np.array([], dtype=np.int64)
    bounds = np.r_[starts, len(users)]
    lines = [f"{users[a]} {' '.join(items[a:b])}" for a, b in itertools.pairwise(bounds)]
    return "\n".join(lines) + ("\n" if lines else "")


def write_lightgcn_dir(
    df_train: pd.DataFrame,
    df_test: pd.DataFrame,
    out_dir: str | Path,
    df_valid: pd.DataFrame | None = None,
) -> Path:
    """Write ``train.txt`` / ``test.txt`` (and ``valid.txt`` when given) in the LightGCN format; returns `out_dir`."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    parts = {"train.txt": df_train, "test.txt": df_test}
    if df_valid is not None:
        parts["valid.txt"] = df_valid
    for name, frame in parts.items():
        atomic_write_text(out / name, _lightgcn_text(frame))
    logger.info("wrote %s to %s", ", ".join(f"{n} ({len(f)} rows)" for n, f in parts.items()), out)
    return out


def generate_demo_dir(out_dir: str | Path, seed: int = 0, test_ratio: float = 0.2, **kw: Any) -> Path:
    """Generate interactions (`kw` goes to :func:`generate_interactions`), split per user at random, write them.

    The result is a data directory for ``data.path``: ``train.txt`` + ``test.txt``, plus an item catalogue
    ``items.csv`` (see :func:`write_catalogue`) for feature models. Deterministic for a seed.
    """
    from graphrec.data.splits import split_random

    frame = generate_interactions(seed=seed, **kw)
    train, test = split_random(frame, test_ratio, numpy_rng(seed, Stream.SYNTH_SPLIT))
    write_catalogue(np.asarray(frame.attrs["item_community"]), Path(out_dir) / "items.csv", seed)
    return write_lightgcn_dir(train, test, out_dir)


def write_catalogue(item_community: np.ndarray, path: str | Path, seed: int, noise: float = 0.3) -> Path:
    """An item catalogue ``item_id,title,genres`` whose words and genre mostly (1 − `noise`) follow each item's
    planted community, so item features carry signal but not the whole answer."""
    rng = numpy_rng(seed, Stream.SYNTH_CATALOGUE)
    num_comm = int(item_community.max(initial=0)) + 1
    vocab = [[f"w{c}x{j}" for j in range(6)] for c in range(num_comm)]
    rows = ["item_id,title,genres"]
    for item, comm in enumerate(item_community):
        shown = int(rng.integers(num_comm)) if rng.random() < noise else int(comm)
        words = " ".join(rng.choice(vocab[shown], size=3))
        rows.append(f"{item},{words} ({1990 + int(rng.integers(30))}),g{shown}|g{int(rng.integers(num_comm))}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, "\n".join(rows) + "\n")
    return path
