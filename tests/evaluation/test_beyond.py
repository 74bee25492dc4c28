"""Beyond-accuracy metrics against slow, obviously correct loops on tiny data; properties; evaluate --beyond."""

from __future__ import annotations

import itertools
import json
import math
import statistics
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from graphrec.cli import main
from graphrec.data import load_dataset
from graphrec.evaluation.beyond import beyond_metrics, coverage, gini, head_items, item_popularity
from graphrec.rundir import data_seed
from graphrec.runs import compare_runs, evaluate_run, load_run, recommend, train
from graphrec.seeding import numpy_rng

from ..conftest import tiny_config


def _dcg(hits: list[int]) -> float:
    return sum(h / math.log2(j + 2) for j, h in enumerate(hits))


def _accuracy(ranked: list[int], targets: set[int], k: int) -> tuple[float, float]:
    hits = [1 if i in targets else 0 for i in ranked[:k]]
    ideal = _dcg([1] * min(k, len(targets)))
    return sum(hits) / len(targets), _dcg(hits) / ideal


def reference(
    lists: dict[int, list[int]], train: dict[int, set[int]], target: dict[int, set[int]], num_items: int, k: int
) -> dict[str, float | int]:
    """Every beyond metric by its definition, with loops over users and items. `lists`: each evaluated user's
    ranked list; `target`: its held-out items; `train`: every user's training items."""
    pop = [sum(1 for items in train.values() if i in items) for i in range(num_items)]
    total = sum(pop)
    tops = {u: ranked[:k] for u, ranked in lists.items()}
    out: dict[str, float | int] = {}
    out["coverage"] = len({i for top in tops.values() for i in top}) / num_items
    counts = [sum(top.count(i) for top in tops.values()) for i in range(num_items)]
    pairs = sum(abs(a - b) for a in counts for b in counts)
    out["gini"] = pairs / (2 * num_items * sum(counts)) if sum(counts) else 0.0
    nonempty = [u for u in tops if tops[u]]
    out["novelty"] = statistics.mean(
        statistics.mean(-math.log2(max(pop[i], 1) / total) for i in tops[u]) for u in nonempty
    )
    out["avg_popularity"] = statistics.mean(statistics.mean(pop[i] for i in tops[u]) for u in nonempty)
    history = statistics.mean(statistics.mean(pop[i] for i in train[u]) for u in lists if train[u])
    out["popularity_ratio"] = out["avg_popularity"] / history
    degrees = [len(train[u]) for u in lists]
    q1, q2, q3 = statistics.quantiles(degrees, n=4, method="inclusive")
    edges = [("activity_q1", -1, q1), ("activity_q2", q1, q2), ("activity_q3", q2, q3), ("activity_q4", q3, math.inf)]
    for name, low, high in edges:
        members = [u for u in lists if low < len(train[u]) <= high]
        out[f"users[{name}]"] = len(members)
        if members:
            out[f"recall[{name}]"] = statistics.mean(_accuracy(lists[u], target[u], k)[0] for u in members)
            out[f"ndcg[{name}]"] = statistics.mean(_accuracy(lists[u], target[u], k)[1] for u in members)
    by_pop = sorted(range(num_items), key=lambda i: (-pop[i], i))
    head: set[int] = set()
    for i in by_pop:
        if sum(pop[h] for h in head) >= 0.2 * total:
            break
        head.add(i)
    out["head_items"] = len(head)
    for name, bucket in (("head", head), ("tail", set(range(num_items)) - head)):
        users = [u for u in lists if target[u] & bucket]
        out[f"users[{name}]"] = len(users)
        if users:
            out[f"recall[{name}]"] = statistics.mean(_accuracy(lists[u], target[u] & bucket, k)[0] for u in users)
            out[f"ndcg[{name}]"] = statistics.mean(_accuracy(lists[u], target[u] & bucket, k)[1] for u in users)
    return out


def _tiny(seed: int, num_users: int = 14, num_items: int = 17) -> tuple[sp.csr_matrix, sp.csr_matrix, np.ndarray]:
    """Random train and target matrices (disjoint, every user with a target and a training item) and ranked lists
    of unseen items (some shorter than the longest, padded with -1)."""
    rng = numpy_rng(seed)
    dense = rng.random((num_users, num_items))
    train = (dense < 0.3).astype(np.float32)
    train[np.arange(num_users), rng.integers(0, num_items, num_users)] = 1
    target = ((dense > 0.75) & (train == 0)).astype(np.float32)
    empty = np.flatnonzero(target.sum(axis=1) == 0)
    for u in empty:
        target[u, np.flatnonzero(train[u] == 0)[0]] = 1
    max_k = 8
    top = np.full((num_users, max_k), -1, dtype=np.int64)
    for u in range(num_users):
        unseen = rng.permutation(np.flatnonzero(train[u] == 0))[: max_k - (u % 3 == 0)]
        top[u, : len(unseen)] = unseen
    return sp.csr_matrix(train), sp.csr_matrix(target), top


def _sets(matrix: sp.csr_matrix) -> dict[int, set[int]]:
    return {u: set(matrix[u].indices.tolist()) for u in range(matrix.shape[0])}


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_beyond_metrics_equal_the_reference_loops(seed: int) -> None:
    train, target, top = _tiny(seed)
    rows = np.arange(train.shape[0])
    lists = {u: [int(i) for i in top[u] if i >= 0] for u in rows}
    targets = _sets(target)
    ks = [3, 8]
    per_user = {
        f"{m}@{k}": np.array([_accuracy(lists[u], targets[u], k)[j] for u in rows])
        for k in ks
        for j, m in enumerate(("recall", "ndcg"))
    }
    got = beyond_metrics(top, rows, train, target, ks, per_user)
    for k in ks:
        want = reference(lists, _sets(train), targets, train.shape[1], k)
        for name, value in want.items():
            key = name if name.startswith(("users[", "head_items")) else _key(name, k)
            assert got[key] == pytest.approx(value, rel=1e-12, abs=1e-12), key
        buckets = {key for key in got if key.startswith((f"recall@{k}[", f"ndcg@{k}["))}
        assert buckets == {_key(name, k) for name in want if "[" in name and not name.startswith("users[")}


def _key(name: str, k: int) -> str:
    metric, _, bucket = name.partition("[")
    return f"{metric}@{k}" + (f"[{bucket}" if bucket else "")


@given(st.lists(st.integers(0, 1000), min_size=0, max_size=30))
@settings(max_examples=200, deadline=None)
def test_gini_is_in_zero_one_and_zero_when_equal(counts: list[int]) -> None:
    g = gini(np.array(counts, dtype=np.int64))
    assert 0.0 <= g <= 1.0
    if counts and len(set(counts)) == 1:
        assert g == pytest.approx(0.0, abs=1e-12)


@given(st.integers(0, 10_000), st.integers(2, 30), st.integers(1, 12))
@settings(max_examples=100, deadline=None)
def test_coverage_is_monotone_in_k(seed: int, num_items: int, num_users: int) -> None:
    rng = numpy_rng(seed)
    top = np.stack([rng.permutation(num_items) for _ in range(num_users)])
    values = [coverage(top, k, num_items) for k in range(1, num_items + 1)]
    assert all(a <= b for a, b in itertools.pairwise(values)) and values[-1] == 1.0


@given(st.lists(st.integers(0, 50), min_size=1, max_size=40))
@settings(max_examples=200, deadline=None)
def test_head_is_the_fewest_items_holding_a_fifth(popularity: list[int]) -> None:
    pop = np.array(popularity, dtype=np.int64)
    head = head_items(pop)
    total = pop.sum()
    if total == 0:
        assert not head.any()
        return
    assert pop[head].sum() >= 0.2 * total
    assert pop[head].min() >= pop[~head].max(initial=0)
    assert pop[head].sum() - pop[head].min() < 0.2 * total  # one fewer would not do


def test_item_popularity_counts_training_interactions() -> None:
    train = sp.csr_matrix(np.array([[1, 0, 1], [1, 0, 0]], dtype=np.float32))
    assert item_popularity(train).tolist() == [2, 0, 1]


@pytest.fixture(scope="module")
def mf_runs(planted_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("beyond")
    train(tiny_config(planted_dir, "mf", epochs=4), out / "mf")
    train(tiny_config(planted_dir, "popularity", epochs=0), out / "popularity")
    return {"mf": out / "mf", "popularity": out / "popularity"}


def test_evaluate_beyond_equals_the_reference_on_a_trained_run(mf_runs: dict[str, Path]) -> None:
    """On the validation split (training items excluded): the reference over `recommend`'s lists."""
    run_dir = mf_runs["mf"]
    result = evaluate_run(run_dir, "valid", [10], beyond=True)
    plain = evaluate_run(run_dir, "valid", [10])
    assert {k: result[k] for k in plain} == plain
    run = load_run(run_dir)
    dataset = load_dataset(run.config.data, seed=data_seed(run.config))
    targets, history = _sets(dataset.valid), _sets(run.train)
    rows = [u for u in range(len(run.user_ids)) if targets[u]]
    lists = {u: [run.item_ids.index(e["item_id"]) for e in recommend(run, run.user_ids.id_of(u), 10)] for u in rows}
    want = reference(lists, history, {u: targets[u] for u in rows}, len(run.item_ids), 10)
    for name, value in want.items():
        key = name if name.startswith(("users[", "head_items")) else _key(name, 10)
        assert result[key] == pytest.approx(value, rel=1e-9), key


def test_cli_evaluate_beyond_and_compare_carry_the_same_values(
    mf_runs: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["-q", "evaluate", str(mf_runs["mf"]), "--split", "test", "--k", "10", "--beyond", "--json"]) == 0
    evaluated = json.loads(capsys.readouterr().out)
    assert 0 < evaluated["coverage@10"] <= 1 and 0 <= evaluated["gini@10"] <= 1
    labels = [str(mf_runs["popularity"]), str(mf_runs["mf"])]
    result = compare_runs(labels, "test", [10], resamples=20)
    assert result["beyond"][labels[1]] == {k: v for k, v in evaluated.items() if k in result["beyond"][labels[1]]}
    assert set(result["beyond"][labels[1]]) == set(evaluated) - set(evaluate_run(labels[1], "test", [10]))
    # popularity recommends (nearly) the same items to everyone: lower coverage, a higher popularity ratio
    pop = result["beyond"][labels[0]]
    assert pop["coverage@10"] < evaluated["coverage@10"]
    assert pop["popularity_ratio@10"] > evaluated["popularity_ratio@10"]
    assert main(["-q", "compare", *labels, "--split", "test", "--k", "10", "--resamples", "20"]) == 0
    assert "| coverage@10 |" in capsys.readouterr().out
