"""Random walks: on the item–user–item graph (importance neighbourhoods, the Pixie walk: PinSAGE §3.2) and node
sequences over a whole undirected graph (DeepWalk's uniform walks and node2vec's second-order biased ones).

One :class:`ItemGraph` step goes item → a uniformly chosen user of that item → a uniformly chosen item of that user,
so those walks only ever visit items. :class:`NodeGraph` walks visit every node of an undirected graph (the
user–item bipartite graph: :meth:`NodeGraph.bipartite`) and return the node sequences. Every function advances
many walkers at once with numpy (no per-walker Python loop) and draws from the `rng` it is given.

The neighbourhood of an item q is the T items with the highest L1-normalised visit counts of walks started at q
(q itself excluded); those normalised counts are the importance weights that PinSAGE pools with.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from graphrec.errors import ConfigError, DataError

MAX_DENSE_CELLS = 1 << 24  # Pixie keeps a dense (queries × items) count table per chunk of queries


@dataclass(frozen=True)
class Neighbourhoods:
    """Per-node neighbour table: `index` (n, T) int64 padded with -1, `weight` (n, T) float32 summing to 1 per
    row over the real neighbours (all zeros for a node without any)."""

    index: np.ndarray
    weight: np.ndarray

    @property
    def size(self) -> int:
        return self.index.shape[1]


class ItemGraph:
    """The item–user–item walk structure of a binary user × item training matrix."""

    def __init__(self, train: sp.spmatrix) -> None:
        user_item = sp.csr_matrix(train, dtype=np.float32)
        user_item.sum_duplicates()
        self.num_users, self.num_items = user_item.shape
        item_user = user_item.T.tocsr()
        self._u_ptr, self._u_items = user_item.indptr.astype(np.int64), user_item.indices.astype(np.int64)
        self._i_ptr, self._i_users = item_user.indptr.astype(np.int64), item_user.indices.astype(np.int64)
        self.item_degree = np.diff(self._i_ptr)
        self.user_degree = np.diff(self._u_ptr)

    def step(self, items: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """One item → user → item step for every walker; walkers on an item without users stay where they are."""
        items = np.asarray(items, dtype=np.int64)
        out = items.copy()
        deg = self.item_degree[items]
        live = np.flatnonzero(deg > 0)
        pick = (rng.random(live.size) * deg[live]).astype(np.int64)
        users = self._i_users[self._i_ptr[items[live]] + pick]
        pick = (rng.random(live.size) * self.user_degree[users]).astype(np.int64)
        out[live] = self._u_items[self._u_ptr[users] + pick]
        return out

    def step_from_users(self, users: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """A uniformly chosen item of each user (users must have at least one item)."""
        users = np.asarray(users, dtype=np.int64)
        pick = (rng.random(users.size) * self.user_degree[users]).astype(np.int64)
        return self._u_items[self._u_ptr[users] + pick]

    def visit_counts(
        self,
        starts: np.ndarray,
        num_walks: int,
        walk_length: int,
        rng: np.random.Generator,
        restart_prob: float = 0.0,
    ) -> sp.csr_matrix:
        """(len(starts), num_items) visit counts of `num_walks` walks of `walk_length` steps from each start.

        With `restart_prob` > 0 each step first jumps back to the start with that probability (random walk with
        restart), which makes the normalised counts a Monte-Carlo personalised PageRank.
        """
        _check_positive(num_walks=num_walks, walk_length=walk_length)
        starts = np.asarray(starts, dtype=np.int64)
        origin = np.repeat(np.arange(starts.size), num_walks)
        current = np.repeat(starts, num_walks)
        rows, cols = [], []
        for _ in range(walk_length):
            if restart_prob > 0:
                jump = rng.random(current.size) < restart_prob
                current = np.where(jump, np.repeat(starts, num_walks), current)
            current = self.step(current, rng)
            rows.append(origin)
            cols.append(current)
        data = np.ones(starts.size * num_walks * walk_length, dtype=np.float32)
        counts = sp.csr_matrix(
            (data, (np.concatenate(rows), np.concatenate(cols))), shape=(starts.size, self.num_items)
        )
        counts.sum_duplicates()
        return counts

    def neighbourhoods(
        self,
        starts: np.ndarray,
        top_t: int,
        num_walks: int,
        walk_length: int,
        rng: np.random.Generator,
    ) -> Neighbourhoods:
        """The importance neighbourhood (top `top_t` items by visit count, start excluded) of every start."""
        counts = self.visit_counts(starts, num_walks, walk_length, rng)
        return top_neighbours(counts, np.asarray(starts, dtype=np.int64), top_t)

    def expected_visits(self, starts: np.ndarray, walk_length: int) -> np.ndarray:
        """(len(starts), num_items) expected visit counts of one `walk_length`-step walk from each start — the
        limit of :meth:`visit_counts` / num_walks as num_walks → ∞ (walkers on isolated items stay put)."""
        _check_positive(walk_length=walk_length)
        starts = np.asarray(starts, dtype=np.int64)
        state = np.zeros((starts.size, self.num_items))
        state[np.arange(starts.size), starts] = 1.0
        total = np.zeros_like(state)
        item_user, user_item, isolated = self._transitions()
        for _ in range(walk_length):
            state = np.asarray((user_item.T @ (item_user.T @ state.T)).T) + state * isolated
            total += state
        return total

    def exact_neighbourhoods(
        self, starts: np.ndarray, top_t: int, walk_length: int, chunk: int = 512
    ) -> Neighbourhoods:
        """Importance neighbourhoods from expected (not sampled) visit counts: deterministic, noise-free."""
        starts = np.asarray(starts, dtype=np.int64)
        parts = [
            top_neighbours(
                _top_candidates(self.expected_visits(starts[i : i + chunk], walk_length), starts[i : i + chunk], top_t),
                starts[i : i + chunk],
                top_t,
            )
            for i in range(0, starts.size, chunk)
        ]
        if not parts:
            return Neighbourhoods(np.zeros((0, top_t), dtype=np.int64), np.zeros((0, top_t), dtype=np.float32))
        return Neighbourhoods(np.concatenate([p.index for p in parts]), np.concatenate([p.weight for p in parts]))

    def _transitions(self) -> tuple[sp.csr_matrix, sp.csr_matrix, np.ndarray]:
        """(D_i⁻¹ Aᵀ, D_u⁻¹ A, isolated-item indicator) for exact walk distributions."""
        inv_i = np.where(self.item_degree > 0, 1.0 / np.maximum(self.item_degree, 1), 0.0)
        inv_u = np.where(self.user_degree > 0, 1.0 / np.maximum(self.user_degree, 1), 0.0)
        ones_i = np.ones(self._i_users.size)
        item_user = sp.csr_matrix(
            (ones_i * np.repeat(inv_i, self.item_degree), self._i_users, self._i_ptr),
            shape=(self.num_items, self.num_users),
        )
        user_item = sp.csr_matrix(
            (np.repeat(inv_u, self.user_degree), self._u_items, self._u_ptr), shape=(self.num_users, self.num_items)
        )
        return item_user, user_item, (self.item_degree == 0).astype(np.float64)

    def pixie_visits(
        self,
        starts: np.ndarray,
        rng: np.random.Generator,
        restart_prob: float = 0.5,
        max_steps: int = 10_000,
        n_p: int = 100,
        n_v: int = 4,
        steps_per_round: int = 32,
    ) -> sp.csr_matrix:
        """Pixie random walk with early stopping (PinSAGE Algorithm 2), vectorised over the starts.

        Each start's walker restarts at the start with probability `restart_prob` per step (walk lengths are
        geometric, as SampleWalkLength draws them). A start stops once more than `n_p` items have at least `n_v`
        visits, or after `max_steps` steps; the condition is checked every `steps_per_round` steps, so a start
        overshoots by fewer than `steps_per_round` steps.
        """
        _check_positive(max_steps=max_steps, n_p=n_p, n_v=n_v, steps_per_round=steps_per_round)
        starts = np.asarray(starts, dtype=np.int64)
        chunk = max(1, MAX_DENSE_CELLS // max(self.num_items, 1))
        parts = [
            self._pixie_chunk(starts[i : i + chunk], rng, restart_prob, max_steps, n_p, n_v, steps_per_round)
            for i in range(0, starts.size, chunk)
        ]
        if not parts:
            return sp.csr_matrix((0, self.num_items), dtype=np.float32)
        return sp.vstack(parts, format="csr")

    def _pixie_chunk(
        self,
        starts: np.ndarray,
        rng: np.random.Generator,
        restart_prob: float,
        max_steps: int,
        n_p: int,
        n_v: int,
        steps_per_round: int,
    ) -> sp.csr_matrix:
        counts = np.zeros((starts.size, self.num_items), dtype=np.int32)
        steps = np.zeros(starts.size, dtype=np.int64)
        active = np.flatnonzero(self.item_degree[starts] > 0)
        current = starts.copy()
        while active.size:
            for _ in range(steps_per_round):
                jump = rng.random(active.size) < restart_prob
                current[active] = self.step(np.where(jump, starts[active], current[active]), rng)
                np.add.at(counts, (active, current[active]), 1)
            steps[active] += steps_per_round
            high = (counts[active] >= n_v).sum(axis=1)
            active = active[(steps[active] < max_steps) & (high <= n_p)]
        return sp.csr_matrix(counts.astype(np.float32))


class NodeGraph:
    """An undirected, unweighted graph for node-sequence walks: DeepWalk (Perozzi et al., KDD 2014) and node2vec
    (Grover & Leskovec, KDD 2016).

    node2vec's second-order walk, having just stepped t → v, moves to a neighbour x of v with probability
    π(x | t, v) ∝ α_pq(t, x): 1/p if d(t, x) = 0 (x = t, a return), 1 if d(t, x) = 1 (x is also a neighbour of t),
    1/q if d(t, x) = 2 (p: return parameter, q: in-out parameter). p = q = 1 is DeepWalk's uniform walk. A step is
    drawn by rejection (as KnightKing and PecanPy do): a uniform neighbour x of v is accepted with probability
    α_pq(t, x) / max(1/p, 1, 1/q), which yields π exactly with no per-edge alias tables; all walkers still pending
    are redrawn together.

    On the user–item bipartite graph (:meth:`bipartite`) t and x are always on the same side, so d(t, x) = 1 cannot
    occur (the walk returns with weight 1/p and moves on with 1/q); the general formula is evaluated anyway, so the
    class serves any undirected graph.
    """

    def __init__(self, adjacency: sp.spmatrix) -> None:
        adj = sp.csr_matrix(adjacency, dtype=np.float32)
        adj.sum_duplicates()
        adj.eliminate_zeros()
        adj.data[:] = 1.0
        if adj.shape[0] != adj.shape[1] or (adj != adj.T).nnz:
            raise DataError(
                f"walk graph: expected a symmetric square adjacency matrix (an undirected graph), got shape "
                f"{adj.shape}{'' if adj.shape[0] != adj.shape[1] else ' with an asymmetric pattern'}; pass A + Aᵀ"
            )
        adj.sort_indices()
        self.num_nodes = adj.shape[0]
        self._ptr, self._nbrs = adj.indptr.astype(np.int64), adj.indices.astype(np.int64)
        self.degree = np.diff(self._ptr)
        # row · n + column of every edge: sorted (CSR rows in order, sorted columns), so a binary search finds edges
        rows = np.repeat(np.arange(self.num_nodes, dtype=np.int64), self.degree)
        self._edge_keys = rows * self.num_nodes + self._nbrs

    @classmethod
    def bipartite(cls, train: sp.spmatrix) -> NodeGraph:
        """The user–item graph of a user × item training matrix R: users are nodes 0..U−1, items U..U+I−1,
        A = [[0, R], [Rᵀ, 0]] (binarised)."""
        r = sp.csr_matrix(train, dtype=np.float32)
        return cls(sp.bmat([[sp.csr_matrix((r.shape[0],) * 2), r], [r.T, sp.csr_matrix((r.shape[1],) * 2)]]))

    def adjacent(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Whether a[k]–b[k] is an edge, for every k."""
        keys = np.asarray(a, dtype=np.int64) * self.num_nodes + np.asarray(b, dtype=np.int64)
        if self._edge_keys.size == 0:
            return np.zeros(keys.shape, dtype=bool)
        pos = np.minimum(np.searchsorted(self._edge_keys, keys), self._edge_keys.size - 1)
        return self._edge_keys[pos] == keys

    def uniform_neighbours(self, nodes: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """A uniformly chosen neighbour of each node (every node must have one)."""
        nodes = np.asarray(nodes, dtype=np.int64)
        pick = (rng.random(nodes.size) * self.degree[nodes]).astype(np.int64)
        return self._nbrs[self._ptr[nodes] + pick]

    def biased_step(
        self, previous: np.ndarray, current: np.ndarray, rng: np.random.Generator, p: float = 1.0, q: float = 1.0
    ) -> np.ndarray:
        """node2vec's next node for walkers that stepped previous[k] → current[k] (an edge), drawn by rejection."""
        _check_bias(p, q)
        previous, current = np.asarray(previous, dtype=np.int64), np.asarray(current, dtype=np.int64)
        out = np.empty_like(current)
        ceiling = max(1.0 / p, 1.0, 1.0 / q)
        pending = np.arange(current.size)
        while pending.size:
            proposal, came_from = self.uniform_neighbours(current[pending], rng), previous[pending]
            weight = np.where(self.adjacent(came_from, proposal), 1.0, 1.0 / q)  # d(t, x) = 1, else 2 ...
            weight[proposal == came_from] = 1.0 / p  # ... unless x = t (d = 0)
            accept = rng.random(pending.size) * ceiling < weight
            out[pending[accept]] = proposal[accept]
            pending = pending[~accept]
        return out

    def walks(
        self, starts: np.ndarray, length: int, rng: np.random.Generator, p: float = 1.0, q: float = 1.0
    ) -> np.ndarray:
        """(len(starts), `length`) node sequences, column 0 the starts: a uniform first step, then node2vec's biased
        steps (uniform throughout for p = q = 1: DeepWalk). A walk from a node without neighbours is [start, −1, …]
        (in an undirected graph every other walk has full length). One vectorised update per step for all walkers."""
        _check_positive(length=length)
        _check_bias(p, q)
        starts = np.asarray(starts, dtype=np.int64)
        out = np.full((starts.size, length), -1, dtype=np.int64)
        out[:, 0] = starts
        live = np.flatnonzero(self.degree[starts] > 0)
        for step in range(1, length):
            if step == 1 or p == q == 1.0:
                out[live, step] = self.uniform_neighbours(out[live, step - 1], rng)
            else:
                out[live, step] = self.biased_step(out[live, step - 2], out[live, step - 1], rng, p, q)
        return out


def top_neighbours(counts: sp.csr_matrix, starts: np.ndarray, top_t: int) -> Neighbourhoods:
    """Top-`top_t` columns per row of `counts` by value (row's own start excluded), L1-normalised weights.

    Ties are broken by the smaller item index, so the result is a deterministic function of the counts.
    """
    _check_positive(top_t=top_t)
    counts = sp.csr_matrix(counts, dtype=np.float64)
    rows = np.repeat(np.arange(counts.shape[0]), np.diff(counts.indptr))
    cols, vals = counts.indices.astype(np.int64), counts.data
    keep = (cols != starts[rows]) & (vals > 0)
    rows, cols, vals = rows[keep], cols[keep], vals[keep]
    order = np.lexsort((cols, -vals, rows))
    rows, cols, vals = rows[order], cols[order], vals[order]
    first = np.searchsorted(rows, np.arange(counts.shape[0]))
    rank = np.arange(rows.size) - first[rows]
    take = rank < top_t
    index = np.full((counts.shape[0], top_t), -1, dtype=np.int64)
    weight = np.zeros((counts.shape[0], top_t), dtype=np.float64)
    index[rows[take], rank[take]] = cols[take]
    weight[rows[take], rank[take]] = vals[take]
    total = weight.sum(axis=1, keepdims=True)
    np.divide(weight, total, out=weight, where=total > 0)
    return Neighbourhoods(index, weight.astype(np.float32))


def _top_candidates(dense: np.ndarray, starts: np.ndarray, top_t: int) -> sp.csr_matrix:
    """The entries of each row that can make its top `top_t` (start excluded): every value ≥ the row's
    top_t-th largest, ties included, so the exact tie-breaking of :func:`top_neighbours` still applies."""
    dense = dense.copy()
    dense[np.arange(len(starts)), starts] = 0.0
    if dense.shape[1] > top_t:
        threshold = np.partition(dense, dense.shape[1] - top_t, axis=1)[:, dense.shape[1] - top_t]
        dense[dense < threshold[:, None]] = 0.0
    return sp.csr_matrix(dense)


def _check_positive(**values: int) -> None:
    for name, value in values.items():
        if value < 1:
            raise ConfigError(f"{name} must be at least 1, got {value}")


def _check_bias(p: float, q: float) -> None:
    for name, value in (("p", p), ("q", q)):
        if not (np.isfinite(value) and value > 0):
            raise ConfigError(f"node2vec {name}: expected a finite float > 0, got {value}; set e.g. {name} = 1.0")
