"""graphrec.index: approximate backends against the exact reference, add without rebuild, save/load, errors."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from graphrec.errors import ConfigError, DataError, RunDirError, UnknownNameError
from graphrec.index import VectorIndex, build_index, load_index, make_index
from graphrec.seeding import numpy_rng

KINDS = ["exact", "hnsw", "ivf"]
ANN = {"hnsw": {"ef_search": 64}, "ivf": {"nprobe": 24}}


def clustered(n: int, dim: int = 32, clusters: int = 50, seed: int = 0, stream: int = 0) -> np.ndarray:
    """Vectors around `clusters` random centres with varied norms, like trained embeddings."""
    rng = numpy_rng(seed, stream)
    centres = rng.normal(size=(clusters, dim))
    x = centres[rng.integers(clusters, size=n)] + 0.5 * rng.normal(size=(n, dim))
    return (x * rng.uniform(0.5, 1.5, size=(n, 1))).astype(np.float32)


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray]:
    return clustered(5000), clustered(300, stream=1)


def reference_top_k(vectors: np.ndarray, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The obviously-correct answer: full scores, stable sort by descending score (ties by smaller id)."""
    scores = queries.astype(np.float64) @ vectors.astype(np.float64).T
    order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(scores, order, axis=1), order


def recall(found: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean([len(set(f) & set(t)) / len(t) for f, t in zip(found, truth, strict=True)]))


def test_exact_equals_reference(data) -> None:
    vectors, queries = data
    scores, ids = build_index(vectors, "exact", chunk_size=7).search(queries, 20)
    ref_scores, ref_ids = reference_top_k(vectors, queries, 20)
    assert recall(ids, ref_ids) == 1.0
    np.testing.assert_allclose(scores, ref_scores, rtol=1e-5, atol=1e-4)
    assert scores.dtype == np.float32 and ids.dtype == np.int64


def test_exact_breaks_ties_by_smaller_id() -> None:
    vectors = np.array([[1.0, 0], [2.0, 0], [1.0, 0], [2.0, 0], [1.0, 0]], dtype=np.float32)
    scores, ids = build_index(vectors, "exact").search(np.array([[1.0, 0.0]]), 4)
    assert ids.tolist() == [[1, 3, 0, 2]] and scores.tolist() == [[2.0, 2.0, 1.0, 1.0]]


@pytest.mark.parametrize("kind", ["hnsw", "ivf"])
def test_ann_recall_against_exact(data, kind: str) -> None:
    vectors, queries = data
    _, exact_ids = build_index(vectors, "exact").search(queries, 20)
    scores, ids = build_index(vectors, kind, **ANN[kind]).search(queries, 20)
    assert recall(ids, exact_ids) >= 0.95
    # Flat storage: the scores returned are the exact inner products of the ids returned, best first.
    np.testing.assert_allclose(scores, np.einsum("qd,qkd->qk", queries, vectors[ids]), rtol=1e-4, atol=1e-4)
    assert np.all(np.diff(scores, axis=1) <= 1e-6)


@pytest.mark.parametrize("kind", KINDS)
def test_add_without_rebuild_finds_new_vectors(data, kind: str) -> None:
    vectors, queries = data
    index = build_index(vectors[:4000], kind, **ANN.get(kind, {}))
    new = 3 * vectors[4000:4501]  # longer than the old vectors of their cluster: they dominate their answers
    index.add(new[:500])
    index.add(new[500])  # one 1-D vector is one row
    assert len(index) == 4501
    reference = build_index(np.vstack([vectors[:4000], new]), "exact")
    for probe in (new, queries):
        _, exact_ids = reference.search(probe, 10)
        assert recall(index.search(probe, 10)[1], exact_ids) >= 0.95
    _, ids = index.search(new, 10)
    assert np.mean(ids >= 4000) > 0.8  # the answers are mostly the added vectors, found under their new ids


@pytest.mark.parametrize("kind", KINDS)
def test_pads_when_k_exceeds_size(kind: str) -> None:
    vectors = clustered(30, dim=8, clusters=3)
    scores, ids = build_index(vectors, kind).search(vectors[:2], 50)
    assert scores.shape == ids.shape == (2, 50)
    assert sorted(ids[0, :30].tolist()) == list(range(30))
    assert np.all(ids[:, 30:] == -1) and np.all(np.isneginf(scores[:, 30:]))
    assert np.all(np.isfinite(scores[:, :30]))


@pytest.mark.parametrize("kind", KINDS)
def test_empty_index_searches_to_padding(kind: str, tmp_path: Path) -> None:
    index = make_index(kind, 4)
    scores, ids = index.search(np.ones((3, 4), dtype=np.float32), 2)
    assert ids.tolist() == [[-1, -1]] * 3 and np.all(np.isneginf(scores))
    index.save(tmp_path)
    assert len(load_index(tmp_path)) == 0


@pytest.mark.parametrize("kind", KINDS)
def test_save_load_round_trip(data, kind: str, tmp_path: Path) -> None:
    vectors, queries = data
    index = build_index(vectors[:2000], kind, **ANN.get(kind, {}))
    before = index.search(queries, 20)
    index.save(tmp_path / "idx")
    loaded = load_index(tmp_path / "idx")
    assert isinstance(loaded, VectorIndex)
    assert (loaded.kind, loaded.dim, len(loaded)) == (kind, 32, 2000)
    after = loaded.search(queries, 20)
    np.testing.assert_array_equal(after[1], before[1])
    np.testing.assert_array_equal(after[0], before[0])
    loaded.add(3 * vectors[2000:2010])  # a loaded index keeps growing
    assert len(loaded) == 2010 and loaded.search(3 * vectors[2005], 5)[1][0, 0] == 2005


def test_search_options_survive_save(tmp_path: Path) -> None:
    index = make_index("hnsw", 8, m=8, ef_search=77)
    index.add(clustered(100, dim=8, clusters=2))
    index.save(tmp_path)
    loaded = load_index(tmp_path)
    assert (loaded.m, loaded.ef_search) == (8, 77)
    ivf = build_index(clustered(400, dim=8), "ivf", nlist=10, nprobe=3)
    ivf.save(tmp_path / "ivf")
    assert (load_index(tmp_path / "ivf").nlist, load_index(tmp_path / "ivf").nprobe) == (10, 3)


def test_error_wording(tmp_path: Path) -> None:
    index = make_index("exact", 4)
    with pytest.raises(DataError, match=r"must have shape \(m, 4\) for this index, got shape \(2, 3\)"):
        index.add(np.ones((2, 3)))
    with pytest.raises(DataError, match=r"queries must have shape \(m, 4\)"):
        index.search(np.ones((1, 5)), 3)
    with pytest.raises(ConfigError, match="k: expected an integer ≥ 1, got 0; ask for at least one item"):
        index.search(np.ones((1, 4)), 0)
    with pytest.raises(UnknownNameError, match="unknown index kind 'annoy'; choose one of: exact, hnsw, ivf"):
        make_index("annoy", 4)
    with pytest.raises(ConfigError, match="index dimension must be a positive integer, got 0"):
        make_index("hnsw", 0)
    with pytest.raises(ConfigError, match="unknown option 'nprobe' for a hnsw index; valid options: m, ef_con"):
        make_index("hnsw", 4, nprobe=3)
    with pytest.raises(ConfigError, match="ivf index option nprobe must be a positive integer, got -1"):
        make_index("ivf", 4, nprobe=-1)
    with pytest.raises(DataError, match="NaN or infinite"):
        index.add(np.array([[0.0, np.nan, 0, 0]]))
    with pytest.raises(RunDirError, match=f"index directory '{tmp_path / 'nope'}' does not exist; build one with"):
        load_index(tmp_path / "nope")
    with pytest.raises(RunDirError, match=re.escape("has no index.json")):
        load_index(tmp_path)
