"""Large synthetic interaction graphs for scaling runs: power-law degrees, planted communities, bounded memory.

The model (all of it seeded through :func:`graphrec.seeding.numpy_rng`):

* **Users** get a degree d_u proportional to a Pareto(``user_exponent``) weight (P(W > w) = w^-a, so the user degree
  distribution is a power law with tail index a), scaled so that the degrees add up to exactly ``num_edges`` (every
  user ≥ 1, none above ``max_user_degree``; the excess of capped users is re-spread over the others).
* **Items** get a popularity weight from Pareto(``item_exponent``) and a community; users get a community too.
* Each of a user's d_u distinct items is drawn, with probability 1 − ``noise``, from the user's own community by
  popularity and otherwise from the whole catalogue by popularity. Item degrees are therefore heavy-tailed as well,
  and a collaborative model can recover the communities (a popularity ranking cannot).
* A seeded ``test_ratio`` share of each user's items (rounded, never all of them) is held out for test.

Defaults follow Gowalla's shape (~34 interactions per user, ~25 per item): ``num_users = num_edges // 34`` and
``num_items = num_edges // 25``.

Memory stays bounded: the per-node arrays (degrees, communities, item CDFs) are O(users + items); edges exist only for
one chunk of users at a time, which is formatted and appended to the output before the next chunk is drawn. Random
numbers are drawn per fixed block of :data:`RNG_BLOCK_USERS` users (keys: seed, stream, block), so the files do not
depend on the chunk size.
"""

from __future__ import annotations

import functools
import json
import logging
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from graphrec.data.synthetic_features import CATALOGUE, FeatureSpec, write_planted_catalogue
from graphrec.errors import ConfigError
from graphrec.io import atomic_write, atomic_write_text
from graphrec.seeding import Stream, numpy_rng

logger = logging.getLogger(__name__)

RNG_BLOCK_USERS = 4096  # users per random-number block: the unit of determinism (chunks are whole blocks)
FORMATS = ("lightgcn", "parquet")
EDGES_PER_USER, EDGES_PER_ITEM = 34, 25  # Gowalla: 1,027,370 interactions, 29,858 users, 40,981 items
_GLOBAL_STREAM, _BLOCK_STREAM = Stream.SYNTH_LARGE_GLOBAL, Stream.SYNTH_LARGE_BLOCKS
_MIXTURE_ROUNDS = 8  # redraw rounds from the popularity mixture before the rest is drawn uniformly (always ends)


@dataclass
class SynthConfig:
    """What `generate_large` draws. None sizes are derived from `num_edges` (see the module docstring)."""

    num_edges: int
    num_users: int | None = None
    num_items: int | None = None
    num_communities: int | None = None  # None: num_items // 2000, clipped to [2, 100]
    noise: float = 0.2  # share of a user's items drawn from the whole catalogue instead of its community
    user_exponent: float = 2.0  # Pareto tail index of user degrees
    item_exponent: float = 2.0  # Pareto tail index of item popularity
    max_user_degree: int | None = None  # None: half a community's items
    test_ratio: float = 0.2
    seed: int = 0

    def resolved(self) -> ResolvedSynthConfig:
        """A copy with every None size filled in, after checking the arguments."""
        _check_config(self)
        users = self.num_users or max(1, self.num_edges // EDGES_PER_USER)
        items = self.num_items or max(2, self.num_edges // EDGES_PER_ITEM)
        comms = self.num_communities or int(np.clip(items // 2000, 2, 100))
        comms = min(comms, items)
        cap = self.max_user_degree or max(1, items // comms // 2)
        out = ResolvedSynthConfig(
            **{
                **asdict(self),
                "num_users": users,
                "num_items": items,
                "num_communities": comms,
                "max_user_degree": min(cap, items),
            }
        )
        if users > out.num_edges:
            raise ConfigError(
                f"edges: expected at least one edge per user ({users} users), got {out.num_edges}; "
                "pass more --edges or fewer --users"
            )
        if out.num_edges > users * out.max_user_degree:
            raise ConfigError(
                f"edges: {out.num_edges} do not fit {users} users of at most {out.max_user_degree} distinct items "
                f"each ({items} items, {comms} communities); pass more --users or --items, or fewer --edges"
            )
        return out


@dataclass
class ResolvedSynthConfig(SynthConfig):
    """A `SynthConfig` with every size filled in (what :meth:`SynthConfig.resolved` returns)."""

    num_users: int = 0
    num_items: int = 0
    num_communities: int = 0
    max_user_degree: int = 0


def _check_config(config: SynthConfig) -> None:
    checks = [
        ("edges", config.num_edges, config.num_edges >= 1, "a positive integer, e.g. 10000000"),
        ("users", config.num_users, config.num_users is None or config.num_users >= 1, "a positive integer"),
        ("items", config.num_items, config.num_items is None or config.num_items >= 2, "an integer ≥ 2"),
        (
            "communities",
            config.num_communities,
            config.num_communities is None or config.num_communities >= 1,
            "a positive integer",
        ),
        ("noise", config.noise, 0.0 <= config.noise <= 1.0, "a share in [0, 1], e.g. 0.2"),
        ("user_exponent", config.user_exponent, config.user_exponent > 1.0, "a tail index > 1, e.g. 2.0"),
        ("item_exponent", config.item_exponent, config.item_exponent > 0.0, "a tail index > 0, e.g. 2.0"),
        ("test_ratio", config.test_ratio, 0.0 <= config.test_ratio < 1.0, "a share in [0, 1), e.g. 0.2"),
        (
            "max_user_degree",
            config.max_user_degree,
            config.max_user_degree is None or config.max_user_degree >= 1,
            "a positive integer",
        ),
    ]
    for name, value, ok, fix in checks:
        if not ok:
            raise ConfigError(f"{name}: expected {fix}, got {value}")


@dataclass
class _Graph:
    """The per-node parts of the graph: O(users + items) memory."""

    degree: np.ndarray  # (U,) int64, sums to num_edges
    user_comm: np.ndarray  # (U,)
    item_comm: np.ndarray  # (I,)
    comm_items: np.ndarray  # items sorted by community
    comm_start: np.ndarray  # (C + 1,) community c's items are comm_items[comm_start[c]:comm_start[c + 1]]
    comm_cdf: np.ndarray  # stacked CDF: community c's items span (c, c + 1]
    global_cdf: np.ndarray  # (I,) popularity CDF over all items


def _allocate(total: int, weights: np.ndarray, cap: int) -> np.ndarray:
    """Integers ≥ 0, ≤ cap, summing to `total`, proportional to `weights` (largest remainders; capped excess
    re-spread). Requires total ≤ cap · len(weights)."""
    out = np.zeros(len(weights), dtype=np.int64)
    free = np.ones(len(weights), dtype=bool)
    remaining = total
    while True:  # water-filling: each pass fixes at least one more user at the cap, or ends
        quota = remaining * weights[free] / weights[free].sum()
        over = quota > cap
        if not over.any():
            break
        idx = np.flatnonzero(free)[over]
        out[idx], free[idx] = cap, False
        remaining -= cap * len(idx)
    idx = np.flatnonzero(free)
    base = np.floor(quota).astype(np.int64)
    extra = remaining - int(base.sum())
    order = np.argsort(-(quota - base), kind="stable")[:extra]  # largest fractional parts get one more
    base[order] += 1
    out[idx] = base
    return out


def _build_graph(config: ResolvedSynthConfig) -> _Graph:
    rng = numpy_rng(config.seed, _GLOBAL_STREAM)
    users, items, comms = config.num_users, config.num_items, config.num_communities
    user_weight = rng.pareto(config.user_exponent, size=users) + 1.0
    degree = 1 + _allocate(config.num_edges - users, user_weight, config.max_user_degree - 1)
    user_comm = rng.permutation(np.arange(users) % comms)
    item_comm = rng.permutation(np.arange(items) % comms)
    popularity = rng.pareto(config.item_exponent, size=items) + 1.0
    comm_items = np.argsort(item_comm, kind="stable")
    comm_start = np.searchsorted(item_comm[comm_items], np.arange(comms + 1))  # community c: [start_c, start_c+1)
    sizes = np.diff(comm_start)
    cum = np.cumsum(popularity[comm_items])
    before = np.r_[0.0, cum][comm_start[:-1]]  # popularity mass of the earlier communities
    mass = cum[comm_start[1:] - 1] - before  # each community's total popularity
    comm_cdf = np.repeat(np.arange(comms), sizes) + (cum - np.repeat(before, sizes)) / np.repeat(mass, sizes)
    global_cdf = np.cumsum(popularity) / popularity.sum()
    return _Graph(degree, user_comm, item_comm, comm_items, comm_start, comm_cdf, global_cdf)


def _draw(graph: _Graph, rows: np.ndarray, noise: float, rng: np.random.Generator) -> np.ndarray:
    """One item per row (user) from the mixture: own community by popularity, or (noise) any item by popularity."""
    u = rng.random(len(rows))
    comm = graph.user_comm[rows]
    own = np.searchsorted(graph.comm_cdf, comm + u, side="right")
    # Float rounding can step just outside the community's span of the stacked CDF; stay inside it.
    own = np.clip(own, graph.comm_start[comm], graph.comm_start[comm + 1] - 1)
    own_items = graph.comm_items[own]
    anywhere = np.minimum(np.searchsorted(graph.global_cdf, u, side="right"), len(graph.global_cdf) - 1)
    return np.where(rng.random(len(rows)) < noise, anywhere, own_items)


def _block_edges(graph: _Graph, config: ResolvedSynthConfig, block: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(users, items, is_test) of one block of users: each user's distinct items, sorted, and the test mask."""
    rng = numpy_rng(config.seed, _BLOCK_STREAM, block)
    first = block * RNG_BLOCK_USERS
    users = np.arange(first, min(first + RNG_BLOCK_USERS, config.num_users), dtype=np.int64)
    want = graph.degree[users]
    items_n = np.int64(config.num_items)
    keys = np.empty(0, dtype=np.int64)
    deficit, rounds = want, 0
    while deficit.sum():  # distinct items: draw the deficit, drop repeats, until every user has d_u
        rows = np.repeat(users, deficit)
        drawn = (
            _draw(graph, rows, config.noise, rng)
            if rounds < _MIXTURE_ROUNDS
            else rng.integers(0, config.num_items, size=len(rows))
        )
        keys = np.sort(np.concatenate([keys, rows * items_n + drawn]))
        keys = keys[np.r_[True, keys[1:] != keys[:-1]]]  # sort-based unique: faster here than np.unique
        deficit = want - np.bincount(keys // items_n - first, minlength=len(users))
        rounds += 1
    edge_users, edge_items = keys // items_n, keys % items_n
    test_count = np.minimum(np.rint(config.test_ratio * want).astype(np.int64), want - 1)
    order = np.lexsort((rng.random(len(keys)), edge_users))  # a random rank of each edge inside its user
    rank = np.empty(len(keys), dtype=np.int64)
    starts = np.r_[0, np.cumsum(want)[:-1]]
    rank[order] = np.arange(len(keys)) - np.repeat(starts, want)
    is_test = rank < np.repeat(test_count, want)
    return edge_users, edge_items, is_test


def _lines(users: np.ndarray, items: np.ndarray) -> bytes:
    """LightGCN text `user item item …` for edges sorted by user."""
    if not len(users):
        return b""
    cuts = np.flatnonzero(np.diff(users)) + 1
    starts, ends = np.r_[0, cuts], np.r_[cuts, len(users)]
    words = items.astype(str)
    text = "\n".join(f"{users[a]} {' '.join(words[a:b])}" for a, b in zip(starts, ends, strict=True))
    return (text + "\n").encode()


class _Sink:
    """Appends chunks of (users, items) to one output file, in the chosen format."""

    def __init__(self, handle: BinaryIO, fmt: str) -> None:
        self.handle, self.fmt, self.rows = handle, fmt, 0
        self._writer: Any = None  # a pyarrow.parquet.ParquetWriter once the first Parquet chunk is written

    def write(self, users: np.ndarray, items: np.ndarray) -> None:
        self.rows += len(users)
        if self.fmt == "lightgcn":
            self.handle.write(_lines(users, items))
            return
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.table({"user_id": users, "item_id": items})
        if self._writer is None:
            self._writer = pq.ParquetWriter(self.handle, table.schema)
        self._writer.write_table(table)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()


def _chunks(graph: _Graph, config: ResolvedSynthConfig, chunk_users: int) -> Iterator[tuple[np.ndarray, ...]]:
    """Edges of `chunk_users` users at a time (rounded to whole RNG blocks)."""
    per_chunk = max(1, chunk_users // RNG_BLOCK_USERS)
    num_blocks = -(-config.num_users // RNG_BLOCK_USERS)
    for start in range(0, num_blocks, per_chunk):
        parts = [_block_edges(graph, config, b) for b in range(start, min(start + per_chunk, num_blocks))]
        yield tuple(np.concatenate(column) for column in zip(*parts, strict=True))


def write_synthetic_graph(
    out_dir: str | Path,
    config: SynthConfig,
    fmt: str = "lightgcn",
    chunk_users: int = 4 * RNG_BLOCK_USERS,
    item_features: FeatureSpec | None = None,
) -> dict[str, Any]:
    """Generate the graph of `config` into `out_dir` and return its summary (also written to ``synth.json``).

    Files: ``train.txt`` + ``test.txt`` (LightGCN format, users ascending, items ascending) or, with
    ``fmt="parquet"``, ``train.parquet`` + ``test.parquet`` (int64 columns ``user_id``, ``item_id``); plus
    ``user_community.npy`` / ``item_community.npy`` (the planted labels) and ``synth.json``; with `item_features`, the
    planted catalogue ``items.parquet`` (:mod:`graphrec.data.synthetic_features`). Each data file appears atomically
    once complete. Deterministic for ``config.seed``, whatever `chunk_users`.
    """
    if fmt not in FORMATS:
        raise ConfigError(f"format: expected one of {', '.join(FORMATS)}, got {fmt!r}")
    if chunk_users < 1:
        raise ConfigError(f"chunk_users: expected a positive integer, got {chunk_users}")
    if item_features is not None:
        item_features.check()  # before anything is drawn or written
    started = time.perf_counter()
    config = config.resolved()
    out = Path(out_dir)
    graph = _build_graph(config)
    suffix = ".txt" if fmt == "lightgcn" else ".parquet"
    counts: dict[str, int] = {}

    def write_both(train_tmp: Path, test_tmp: Path) -> None:
        with open(train_tmp, "wb") as train_file, open(test_tmp, "wb") as test_file:
            train, test = _Sink(train_file, fmt), _Sink(test_file, fmt)
            for users, items, is_test in _chunks(graph, config, chunk_users):
                train.write(users[~is_test], items[~is_test])
                test.write(users[is_test], items[is_test])
            train.close()
            test.close()
        counts.update(train=train.rows, test=test.rows)

    # Nested atomic writes: test appears once both files are complete, then train.
    atomic_write(
        out / f"train{suffix}",
        lambda train_tmp: atomic_write(out / f"test{suffix}", lambda tmp: write_both(train_tmp, tmp)),
    )
    for name, labels in (("user_community", graph.user_comm), ("item_community", graph.item_comm)):
        atomic_write(out / f"{name}.npy", functools.partial(_save_npy, array=labels.astype(np.int32)))
    if item_features is not None:
        write_planted_catalogue(graph.item_comm, out, config.seed, item_features)
    summary = _summary(config, graph, fmt, counts, time.perf_counter() - started)
    if item_features is not None:
        summary["item_features"] = {"catalogue": CATALOGUE, **asdict(item_features)}
    atomic_write_text(out / "synth.json", json.dumps(summary, indent=2) + "\n")
    logger.info(
        "wrote %d train + %d test edges (%d users, %d items) to %s in %.1fs",
        counts["train"],
        counts["test"],
        config.num_users,
        config.num_items,
        out,
        summary["seconds"],
    )
    return summary


def _save_npy(path: Path, array: np.ndarray) -> None:
    with open(path, "wb") as handle:  # a handle, so numpy does not append ".npy" to the temporary name
        np.save(handle, array, allow_pickle=False)


def _summary(config: SynthConfig, graph: _Graph, fmt: str, counts: dict[str, int], seconds: float) -> dict[str, Any]:
    degree = graph.degree
    return {
        "config": asdict(config),
        "format": fmt,
        "num_train": counts["train"],
        "num_test": counts["test"],
        "user_degree": {
            "min": int(degree.min()),
            "median": float(np.median(degree)),
            "mean": float(degree.mean()),
            "max": int(degree.max()),
        },
        "seconds": round(seconds, 3),
    }


def generate_large(
    out_dir: str | Path,
    num_edges: int,
    seed: int = 0,
    num_users: int | None = None,
    num_items: int | None = None,
    fmt: str = "lightgcn",
    **options: Any,
) -> dict[str, Any]:
    """`write_synthetic_graph` with a `SynthConfig` built from the arguments (`options`: its other fields)."""
    chunk_users = int(options.pop("chunk_users", 4 * RNG_BLOCK_USERS))
    item_features = options.pop("item_features", None)
    unknown = sorted(set(options) - set(SynthConfig.__dataclass_fields__))
    if unknown:
        valid = ", ".join(SynthConfig.__dataclass_fields__)
        raise ConfigError(f"unknown option {unknown[0]!r}; valid options: {valid}")
    config = SynthConfig(num_edges=num_edges, num_users=num_users, num_items=num_items, seed=seed, **options)
    return write_synthetic_graph(out_dir, config, fmt, chunk_users, item_features)
