"""Planted item features for the large synthetic graphs: a catalogue whose text, categories and dense vectors each
carry the item's community (the signal the interactions were drawn from) through noise, so that feature models
(PinSAGE, GraphSAGE) have something to learn from and an ablation can tell their variants apart.

For item ``i`` of planted community ``c_i`` (``graphrec.data.synthetic_large``), with ``C`` communities:

* **title**: ``words`` tokens ``w{s}x{j}``, each from the vocabulary of community ``s`` (``vocabulary`` words per
  community) where ``s = c_i`` with probability 1 − ``noise`` and a uniform community otherwise, token by token;
* **genres**: two categories ``g{s}|g{t}``, ``s`` drawn as for a token and ``t`` uniform (a second, uninformative
  label, as real catalogues have);
* **embedding**: a ``dim``-dimensional float32 vector ``signal · μ_{c_i} + ε``, ``μ_c`` a unit vector drawn per
  community, ``ε ~ N(0, I/dim)`` (so the noise has unit expected norm and ``signal`` is the signal-to-noise ratio of
  norms).

Written as ``items.parquet`` (columns ``item_id`` int64, ``title``, ``genres``, ``embedding`` list<float32>), read by
``features.catalogue = "items.parquet"``, ``features.item_col = "item_id"``, ``features.vector_col = "embedding"``.
Vectorised over items and seeded from ``Stream.SYNTH_LARGE_FEATURES``: the same seed gives the same file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from graphrec.errors import ConfigError
from graphrec.io import atomic_write
from graphrec.seeding import Stream, numpy_rng

CATALOGUE = "items.parquet"


@dataclass(frozen=True)
class FeatureSpec:
    """How much of the community each feature block shows (see the module docstring)."""

    noise: float = 0.3  # share of title tokens and first genres drawn from a uniform community
    words: int = 4  # tokens per title
    vocabulary: int = 20  # words per community
    dim: int = 32  # embedding length
    signal: float = 1.0  # norm of the community direction in the embedding (the noise's expected norm is 1)

    def check(self) -> None:
        if not 0.0 <= self.noise <= 1.0:
            raise ConfigError(f"feature noise: expected a share in [0, 1], got {self.noise}; e.g. 0.3")
        for name in ("words", "vocabulary", "dim"):
            if getattr(self, name) < 1:
                raise ConfigError(f"feature {name}: expected a positive integer, got {getattr(self, name)}")
        if self.signal < 0:
            raise ConfigError(f"feature signal: expected ≥ 0, got {self.signal}; e.g. 1.0")


def planted_features(item_community: np.ndarray, seed: int, spec: FeatureSpec = FeatureSpec()) -> dict[str, np.ndarray]:
    """The catalogue's columns for items ``0 … len(item_community) − 1``: ``title`` and ``genres`` (object arrays
    of str) and ``embedding`` (float32, items × dim)."""
    spec.check()
    rng = numpy_rng(seed, Stream.SYNTH_LARGE_FEATURES)
    comm = np.asarray(item_community, dtype=np.int64)
    n, num_comm = len(comm), int(comm.max(initial=0)) + 1

    def shown(shape: tuple[int, ...]) -> np.ndarray:
        """Each entry the item's community, or with probability `noise` a uniform one."""
        own = np.broadcast_to(comm.reshape(n, *([1] * (len(shape) - 1))), shape)
        return np.where(rng.random(shape) < spec.noise, rng.integers(0, num_comm, size=shape), own)

    token_comm = shown((n, spec.words))
    token_word = rng.integers(0, spec.vocabulary, size=(n, spec.words))
    tokens = np.char.add(np.char.add("w", token_comm.astype(str)), np.char.add("x", token_word.astype(str)))
    titles = tokens[:, 0].astype(object)
    for j in range(1, spec.words):  # a handful of columns, not items: the loop is over token positions
        titles = titles + " " + tokens[:, j].astype(object)
    first, second = shown((n,)), rng.integers(0, num_comm, size=n)
    genres = np.char.add(np.char.add("g", first.astype(str)), np.char.add("|g", second.astype(str))).astype(object)
    centres = rng.normal(size=(num_comm, spec.dim))
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    noise = rng.normal(scale=1.0 / np.sqrt(spec.dim), size=(n, spec.dim))
    embedding = (spec.signal * centres[comm] + noise).astype(np.float32)
    return {"title": titles, "genres": genres, "embedding": embedding}


def write_planted_catalogue(
    item_community: np.ndarray, out_dir: str | Path, seed: int, spec: FeatureSpec = FeatureSpec()
) -> Path:
    """Write ``out_dir/items.parquet`` (written whole or not at all) and return its path."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    columns = planted_features(item_community, seed, spec)
    flat = pa.array(columns["embedding"].reshape(-1), type=pa.float32())
    table = pa.table(
        {
            "item_id": pa.array(np.arange(len(item_community), dtype=np.int64)),
            "title": pa.array(columns["title"].tolist(), type=pa.string()),
            "genres": pa.array(columns["genres"].tolist(), type=pa.string()),
            "embedding": pa.FixedSizeListArray.from_arrays(flat, spec.dim),
        }
    )
    path = Path(out_dir) / CATALOGUE
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda tmp: pq.write_table(table, tmp))
    return path
