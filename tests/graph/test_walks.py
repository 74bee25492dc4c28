"""Random walks, neighbourhoods, Pixie and PPR checked against slow, obviously correct references."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from graphrec.errors import ConfigError, DataError
from graphrec.graph.ppr import ItemPageRank, rank_window, sparse_rank_window, window_bounds
from graphrec.graph.walks import ItemGraph, NodeGraph, top_neighbours
from graphrec.seeding import numpy_rng


def tiny_train(seed: int = 0, users: int = 12, items: int = 9, density: float = 0.35) -> sp.csr_matrix:
    rng = np.random.default_rng(seed)
    dense = (rng.random((users, items)) < density).astype(np.float32)
    dense[np.arange(users), rng.integers(0, items, users)] = 1.0  # every user has an item
    dense[:, items - 1] = 0.0  # one isolated item
    return sp.csr_matrix(dense)


def transition(train: sp.csr_matrix) -> np.ndarray:
    """Dense item → item one-step transition, written out the slow way; isolated items stay put."""
    a = train.toarray()
    num_items = a.shape[1]
    p = np.zeros((num_items, num_items))
    for i in range(num_items):
        users = np.flatnonzero(a[:, i])
        if users.size == 0:
            p[i, i] = 1.0
            continue
        for u in users:
            items = np.flatnonzero(a[u])
            for j in items:
                p[i, j] += 1.0 / users.size / items.size
    return p


def test_step_frequencies_match_transition_matrix() -> None:
    train = tiny_train()
    graph, p = ItemGraph(train), transition(train)
    rng = numpy_rng(0)
    for start in range(train.shape[1]):
        nxt = graph.step(np.full(20_000, start), rng)
        freq = np.bincount(nxt, minlength=train.shape[1]) / nxt.size
        np.testing.assert_allclose(freq, p[start], atol=0.015)


def test_visit_counts_converge_to_expected_walk_distribution() -> None:
    train = tiny_train(1)
    graph, p = ItemGraph(train), transition(train)
    starts = np.array([0, 3, 5])
    counts = graph.visit_counts(starts, num_walks=8000, walk_length=3, rng=numpy_rng(1)).toarray()
    expected = sum(np.linalg.matrix_power(p, t) for t in (1, 2, 3))[starts] / 3
    np.testing.assert_allclose(counts / counts.sum(axis=1, keepdims=True), expected, atol=0.01)


def test_top_neighbours_equals_slow_sort() -> None:
    rng = np.random.default_rng(3)
    dense = rng.integers(0, 4, size=(7, 10)).astype(np.float32)
    starts = rng.integers(0, 10, size=7)
    got = top_neighbours(sp.csr_matrix(dense), starts, top_t=4)
    for row in range(7):
        cand = [(-dense[row, j], j) for j in range(10) if j != starts[row] and dense[row, j] > 0]
        best = sorted(cand)[:4]
        want_idx = [j for _, j in best] + [-1] * (4 - len(best))
        want_w = np.array([-c for c, _ in best] + [0.0] * (4 - len(best)))
        if want_w.sum() > 0:
            want_w = want_w / want_w.sum()
        assert got.index[row].tolist() == want_idx
        np.testing.assert_allclose(got.weight[row], want_w, rtol=1e-6)


def test_isolated_item_has_an_empty_neighbourhood() -> None:
    train = tiny_train()
    hood = ItemGraph(train).neighbourhoods(np.array([train.shape[1] - 1]), 3, 10, 2, numpy_rng(0))
    assert hood.index.tolist() == [[-1, -1, -1]]
    assert hood.weight.sum() == 0


def test_pixie_stops_by_either_rule() -> None:
    train = tiny_train(2)
    graph = ItemGraph(train)
    starts = np.arange(train.shape[1] - 1)
    capped = graph.pixie_visits(starts, numpy_rng(0), max_steps=64, n_p=10**6, n_v=10**6, steps_per_round=16)
    np.testing.assert_array_equal(np.asarray(capped.sum(axis=1)).ravel(), 64)
    early = graph.pixie_visits(starts, numpy_rng(0), max_steps=10**6, n_p=2, n_v=5, steps_per_round=8).toarray()
    high = (early >= 5).sum(axis=1)
    assert np.all(high > 2)  # stopped because more than n_p items reached n_v visits ...
    assert np.all(early.sum(axis=1) < 10**6)  # ... long before the step cap


def test_pixie_visits_follow_the_restart_walk_distribution() -> None:
    train = tiny_train(4)
    graph, p = ItemGraph(train), transition(train)
    alpha, source = 0.3, 2
    visits = graph.pixie_visits(
        np.array([source]), numpy_rng(5), restart_prob=alpha, max_steps=200_000, n_p=10**6, n_v=10**6
    ).toarray()[0]
    # Stationary law of "restart with prob alpha, then step": p = (alpha e_s + (1 - alpha) p) P.
    e = np.zeros(train.shape[1])
    e[source] = 1.0
    law = alpha * e @ p @ np.linalg.inv(np.eye(len(e)) - (1 - alpha) * p)
    np.testing.assert_allclose(visits / visits.sum(), law, atol=0.01)


def test_ppr_equals_linear_solve() -> None:
    train = tiny_train(5)
    p = transition(train)
    alpha = 0.2
    got = ItemPageRank(train, restart_prob=alpha).scores(np.arange(train.shape[1]), num_iters=500, tol=1e-12)
    want = alpha * np.linalg.inv(np.eye(p.shape[0]) - (1 - alpha) * p)
    np.testing.assert_allclose(got, want, atol=1e-8)


def test_rank_window_equals_slow_ranking() -> None:
    rng = np.random.default_rng(7)
    scores = rng.random((5, 12)).round(1)  # rounding makes ties
    sources = np.array([0, 4, 4, 11, 2])
    exclude = sp.csr_matrix((rng.random((12, 12)) < 0.2).astype(np.float32))
    got = rank_window(scores, sources, 2, 6, exclude)
    for row, s in enumerate(sources):
        allowed = [j for j in range(12) if j != s and exclude[s, j] == 0]
        ranked = sorted(allowed, key=lambda j: (-scores[row, j], j))
        want = (ranked[2:6] + [-1] * 4)[:4]
        assert got[row].tolist() == want


def test_one_step_is_the_walk_transition_and_its_window_ranks_only_reached_items() -> None:
    train = tiny_train(5)
    items = np.arange(train.shape[1])
    one_step = ItemPageRank(train).one_step(items).toarray()
    connected = np.asarray(train.sum(axis=0)).ravel() > 0  # isolated items: an empty row (the reference stays put)
    np.testing.assert_allclose(one_step[connected], transition(train)[connected], atol=1e-12)
    assert not one_step[~connected].any()
    rng = np.random.default_rng(3)
    scores = sp.csr_matrix(rng.random((6, 15)).round(1) * (rng.random((6, 15)) < 0.5))  # ties and gaps
    sources = np.array([0, 3, 3, 14, 7, 1])
    got = sparse_rank_window(scores, sources, 1, 5)
    dense = scores.toarray()
    for row, s in enumerate(sources):
        reached = [j for j in range(15) if j != s and dense[row, j] > 0]
        ranked = sorted(reached, key=lambda j: (-dense[row, j], j))
        assert got[row].tolist() == (ranked[1:5] + [-1] * 4)[:4]


def test_window_bounds_scale_with_catalogue_and_reject_bad_windows() -> None:
    assert window_bounds(10_000, (0.02, 0.05)) == (200, 500)
    assert window_bounds(10_000, (2000, 5000)) == (2000, 5000)
    with pytest.raises(ConfigError, match="beyond the 100 items"):
        window_bounds(100, (2000, 5000))
    with pytest.raises(ConfigError, match="restart_prob must be in"):
        ItemPageRank(tiny_train(), restart_prob=1.5)


def test_expected_visits_equal_matrix_powers_and_exact_neighbourhoods_match() -> None:
    train = tiny_train(6)
    graph, p = ItemGraph(train), transition(train)
    starts = np.arange(train.shape[1])
    want = sum(np.linalg.matrix_power(p, t) for t in (1, 2))
    np.testing.assert_allclose(graph.expected_visits(starts, 2), want, atol=1e-12)
    exact = graph.exact_neighbourhoods(starts, top_t=3, walk_length=2, chunk=4)
    slow = top_neighbours(sp.csr_matrix(want), starts, top_t=3)
    np.testing.assert_array_equal(exact.index, slow.index)
    np.testing.assert_allclose(exact.weight, slow.weight, rtol=1e-6)


# ------------------------------------------------------------------ node sequences: DeepWalk and node2vec walks
def alpha(adj: np.ndarray, t: int, x: int, p: float, q: float) -> float:
    """node2vec's unnormalised bias α_pq(t, x), from the shortest-path distance between t and x."""
    if x == t:
        return 1.0 / p
    if adj[t, x]:
        return 1.0
    return 1.0 / q


def exact_step(adj: np.ndarray, t: int, v: int, p: float, q: float) -> np.ndarray:
    """π(x | t, v) over all nodes, written out the slow way."""
    out = np.zeros(adj.shape[0])
    for x in range(adj.shape[0]):
        if adj[v, x]:
            out[x] = alpha(adj, t, x, p, q)
    return out / out.sum()


def triangle_graph() -> np.ndarray:
    """Not bipartite: triangles 0-1-2 and 2-3-4 plus a tail 4-5, so every distance d(t, x) ∈ {0, 1, 2} occurs."""
    adj = np.zeros((6, 6))
    for a, b in [(0, 1), (1, 2), (0, 2), (2, 3), (3, 4), (2, 4), (4, 5)]:
        adj[a, b] = adj[b, a] = 1.0
    return adj


@pytest.mark.parametrize(("p", "q"), [(1.0, 1.0), (0.25, 4.0), (4.0, 0.25), (2.0, 0.5)])
def test_biased_step_frequencies_match_the_exact_node2vec_transitions(p: float, q: float) -> None:
    adj = triangle_graph()
    graph = NodeGraph(sp.csr_matrix(adj))
    rng = numpy_rng(11)
    for t, v in zip(*np.nonzero(adj), strict=True):  # every directed edge t → v
        nxt = graph.biased_step(np.full(20_000, t), np.full(20_000, v), rng, p, q)
        freq = np.bincount(nxt, minlength=adj.shape[0]) / nxt.size
        np.testing.assert_allclose(freq, exact_step(adj, t, v, p, q), atol=0.015)


def test_bipartite_walk_trajectories_follow_the_exact_second_order_law() -> None:
    train = tiny_train(3, users=4, items=4, density=0.5)
    graph = NodeGraph.bipartite(train)
    adj = np.block([[np.zeros((4, 4)), train.toarray()], [train.toarray().T, np.zeros((4, 4))]])
    p, q, start, n = 0.5, 3.0, 0, 60_000
    walks = graph.walks(np.full(n, start), 4, numpy_rng(12), p, q)
    got: dict[tuple[int, ...], float] = {}
    for row in map(tuple, walks[:, 1:].tolist()):
        got[row] = got.get(row, 0.0) + 1.0 / n
    want: dict[tuple[int, ...], float] = {}
    for a in np.flatnonzero(adj[start]):  # first step uniform, then π(x | t, v)
        for b in np.flatnonzero(adj[a]):
            for c in np.flatnonzero(adj[b]):
                prob = exact_step(adj, start, a, p, q)[b] * exact_step(adj, a, b, p, q)[c] / adj[start].sum()
                want[(int(a), int(b), int(c))] = prob
    assert set(got) <= set(want)
    for path, prob in want.items():
        assert abs(got.get(path, 0.0) - prob) < 0.01, (path, got.get(path, 0.0), prob)


def test_deepwalk_walks_are_uniform_and_stay_on_edges() -> None:
    train = tiny_train(4)
    graph = NodeGraph.bipartite(train)
    adj = np.block([[np.zeros((12, 12)), train.toarray()], [train.toarray().T, np.zeros((9, 9))]])
    starts = np.repeat(np.flatnonzero(graph.degree > 0), 400)
    walks = graph.walks(starts, 5, numpy_rng(13))
    assert walks[:, 0].tolist() == starts.tolist()
    assert adj[walks[:, :-1], walks[:, 1:]].all()  # every step is an edge of the bipartite graph
    for v in (0, 5, 12):  # one-step frequencies out of a node: 1 / degree each
        nxt = walks[:, 1:][walks[:, :-1] == v]
        np.testing.assert_allclose(np.bincount(nxt, minlength=21) / nxt.size, adj[v] / adj[v].sum(), atol=0.03)


def test_walks_are_seeded_and_end_at_nodes_without_neighbours() -> None:
    train = tiny_train(5)
    graph = NodeGraph.bipartite(train)
    isolated = 12 + train.shape[1] - 1  # tiny_train's isolated item
    starts = np.array([0, isolated, 3])
    first = graph.walks(starts, 6, numpy_rng(1), 2.0, 0.5)
    np.testing.assert_array_equal(first, graph.walks(starts, 6, numpy_rng(1), 2.0, 0.5))
    assert first[1].tolist() == [isolated, -1, -1, -1, -1, -1]
    assert (first[[0, 2]] >= 0).all()


def test_node_graph_refuses_directed_graphs_and_bad_biases() -> None:
    with pytest.raises(DataError, match="expected a symmetric square adjacency matrix"):
        NodeGraph(sp.csr_matrix(np.array([[0.0, 1.0], [0.0, 0.0]])))
    graph = NodeGraph(sp.csr_matrix(triangle_graph()))
    with pytest.raises(ConfigError, match=r"node2vec p: expected a finite float > 0, got 0.0; set e.g. p = 1.0"):
        graph.walks(np.array([0]), 3, numpy_rng(0), p=0.0)
    assert graph.adjacent(np.array([0, 0, 5]), np.array([1, 3, 4])).tolist() == [True, False, True]
