"""graphrec.retrieval: the tie rule against a slow reference, and tied scores through every ranking surface."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import scipy.sparse as sp
import torch

from graphrec.batch import recommend_all
from graphrec.config import RunConfig
from graphrec.data import IdMap
from graphrec.errors import ConfigError
from graphrec.evaluation.metrics import evaluate_scorer_users
from graphrec.index import build_index
from graphrec.inductive import similar_items
from graphrec.ranking import RankingContext, two_stage
from graphrec.retrieval import DotScorer, Scorer, check_k, rank_candidates, top_k, top_k_items
from graphrec.runs import LoadedRun, recommend
from graphrec.service.state import ServingState


def reference_order(scores: np.ndarray, k: int, allowed: np.ndarray | None = None) -> list[int]:
    """The obvious definition: sort the (allowed) columns by (-score, column index) and keep k."""
    columns = range(len(scores)) if allowed is None else allowed.tolist()
    return sorted(columns, key=lambda j: (-float(scores[j]), j))[:k]


# ------------------------------------------------------------------------------------------- the tie rule


@pytest.mark.parametrize("num_items", [3, 50, 700, 3000])  # 700 and 3000 take the block-pruned path for small k
@pytest.mark.parametrize("levels", [2, 5, 1000])  # scores drawn from this many values: ties everywhere to rare
def test_top_k_equals_the_sorted_reference_on_torch_and_numpy(num_items: int, levels: int) -> None:
    rng = np.random.default_rng(num_items * 7 + levels)
    scores = rng.integers(0, levels, size=(6, num_items)).astype(np.float32)
    scores[1, rng.random(num_items) < 0.6] = -np.inf  # masked items tie at -inf, still by index
    scores[2] = 0.0  # a zero user vector: everything tied
    for k in (1, 5, 20, num_items):
        values_np, idx_np = top_k(scores, k)
        _, idx_t = top_k(torch.from_numpy(scores), k)
        assert isinstance(idx_np, np.ndarray) and isinstance(idx_t, torch.Tensor)
        np.testing.assert_array_equal(idx_t.numpy(), idx_np)
        for row in range(len(scores)):
            expected = reference_order(scores[row], k)
            assert idx_np[row].tolist() == expected
            np.testing.assert_array_equal(values_np[row], scores[row, expected])


def test_tie_rule_holds_across_chunk_boundaries() -> None:
    # Items repeat four base vectors, so every user has large groups of exactly tied scores.
    rng = np.random.default_rng(3)
    base = rng.integers(-2, 3, size=(4, 3)).astype(np.float32)
    item_emb = torch.from_numpy(base[rng.integers(0, 4, size=900)])
    user_emb = torch.from_numpy(rng.integers(-2, 3, size=(37, 3)).astype(np.float32))
    seen = sp.random(37, 900, density=0.2, format="csr", random_state=4, dtype=np.float32)
    seen.data[:] = 1.0
    scores = (user_emb @ item_emb.T).numpy()
    users = rng.permutation(37)
    answers = [top_k_items(DotScorer(user_emb, item_emb), users, 12, seen, chunk_size=c) for c in (1, 5, 16, 2048)]
    for items, _ in answers:
        np.testing.assert_array_equal(items, answers[0][0])
    for row, user in enumerate(users):
        allowed = np.setdiff1d(np.arange(900), seen[user].indices)
        assert answers[0][0][row].tolist() == reference_order(scores[user], 12, allowed)


def test_rank_candidates_breaks_ties_by_item_index_not_position() -> None:
    items = np.array([[9, 4, 7, -1, 2], [3, 1, -1, -1, -1]])
    scores = np.array([[1.0, 1.0, 2.0, 5.0, 1.0], [0.0, 0.0, 9.0, 9.0, 9.0]])
    got_items, got_scores = rank_candidates(items, scores, 4)
    assert got_items.tolist() == [[7, 2, 4, 9], [1, 3, -1, -1]]  # padding never ranks, whatever its score
    assert got_scores[1, 2:].tolist() == [-np.inf, -np.inf]


@pytest.mark.parametrize("bad", [0, -3, 2.5, True, "5", None])
def test_one_k_check_with_one_message(bad: object) -> None:
    with pytest.raises(ConfigError) as err:
        check_k(bad)
    assert str(err.value) == f"k: expected an integer ≥ 1, got {bad!r}; ask for at least one item"
    assert check_k(np.int64(3)) == 3


# ------------------------------------------------------------------------------------------- every surface

NUM_USERS, NUM_ITEMS, K = 12, 40, 8


@pytest.fixture(scope="module")
def tied() -> dict[str, object]:
    """Embeddings whose scores tie in big groups: items are copies of three base vectors."""
    rng = np.random.default_rng(11)
    base = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]], dtype=np.float32)
    item_emb = base[rng.integers(0, 3, size=NUM_ITEMS)]
    user_emb = rng.integers(1, 3, size=(NUM_USERS, 2)).astype(np.float32)  # no zero vector (the service falls back)
    user_emb[0] = [1.0, 1.0]
    rows = np.repeat(np.arange(NUM_USERS), 3)
    seen = sp.csr_matrix(
        (np.ones(len(rows), np.float32), (rows, rng.integers(0, NUM_ITEMS, len(rows)))), shape=(NUM_USERS, NUM_ITEMS)
    )
    seen.sum_duplicates()
    seen.data[:] = 1.0
    scores = user_emb @ item_emb.T
    expected = [
        reference_order(scores[u], K, np.setdiff1d(np.arange(NUM_ITEMS), seen[u].indices)) for u in range(NUM_USERS)
    ]
    return {"user_emb": user_emb, "item_emb": item_emb, "seen": seen, "expected": expected}


def _run(tied: dict[str, object]) -> LoadedRun:
    users, items = torch.from_numpy(tied["user_emb"]), torch.from_numpy(tied["item_emb"])  # type: ignore[arg-type]
    ids_u, ids_i = IdMap(list(range(100, 100 + NUM_USERS))), IdMap(list(range(500, 500 + NUM_ITEMS)))
    run = LoadedRun(Path("unused"), RunConfig(), None, ids_u, ids_i, tied["seen"])  # type: ignore[arg-type]
    run._scorer = DotScorer(users, items)  # the model's scorer, as LoadedRun caches it
    return run


def test_tied_scores_give_one_order_on_every_surface(tied: dict[str, object], tmp_path: Path) -> None:
    user_emb, item_emb, seen = tied["user_emb"], tied["item_emb"], tied["seen"]
    expected: list[list[int]] = tied["expected"]  # type: ignore[assignment]
    assert isinstance(user_emb, np.ndarray) and isinstance(item_emb, np.ndarray) and isinstance(seen, sp.csr_matrix)
    assert max(len(set(np.round(user_emb[u] @ item_emb.T, 6))) for u in range(NUM_USERS)) <= 3  # ties everywhere
    users = np.arange(NUM_USERS)
    run = _run(tied)
    scorer = run.scorer()
    assert isinstance(scorer, Scorer)

    # evaluation: a single target item at list position j must get rank j + 1 (mrr = 1 / rank)
    for j in (0, 3, K - 1):
        target = sp.csr_matrix(
            (np.ones(NUM_USERS, np.float32), (users, [expected[u][j] for u in users])), shape=(NUM_USERS, NUM_ITEMS)
        )
        _, per_user = evaluate_scorer_users(scorer, target, seen, [K], chunk_size=5)
        np.testing.assert_array_equal(per_user[f"mrr@{K}"], 1.0 / (j + 1))

    # recommend (one user) and recommend --all (Parquet), both in external ids
    item_id = np.asarray(run.item_ids.ids)
    for u in users:
        got = [r["item_id"] for r in recommend(run, run.user_ids.id_of(int(u)), K)]
        assert got == item_id[expected[u]].tolist()
    out = tmp_path / "all.parquet"
    recommend_all(scorer, run.user_ids.ids, run.item_ids.ids, seen, K, out, chunk_size=5, show_progress=False)
    frame = pq.read_table(out).to_pandas().sort_values(["user_id", "rank"])
    for u in users:
        assert frame[frame["user_id"] == 100 + u]["item_id"].tolist() == item_id[expected[u]].tolist()

    # exact index (no masking), two-stage ranking (retrieval order kept), the service's recommend
    index = build_index(item_emb, "exact", chunk_size=3)
    _, found = index.search(user_emb, K)
    scores = user_emb @ item_emb.T
    assert found.tolist() == [reference_order(scores[u], K) for u in users]
    context = RankingContext(user_emb, item_emb, seen)
    two, _ = two_stage(index, context, users, K, ranker=None, n_candidates=30, chunk_size=5)
    assert two.tolist() == expected
    state = ServingState(run.user_ids.ids, run.item_ids.ids, user_emb, item_emb, seen, index)
    for u in users:
        assert state.recommend(100 + u, K).items.tolist() == expected[u]

    # similar items: the CLI/Python path and the service agree with the reference
    item_scores = item_emb @ item_emb.T
    for q in (0, 7, NUM_ITEMS - 1):
        want = reference_order(item_scores[q], K, np.setdiff1d(np.arange(NUM_ITEMS), [q]))
        assert [r["item_id"] for r in similar_items(run, 500 + q, K)] == item_id[want].tolist()
        assert state.similar(500 + q, K).items.tolist() == want


def test_popularity_fallback_ties_by_item_index(tied: dict[str, object]) -> None:
    seen = tied["seen"]
    assert isinstance(seen, sp.csr_matrix)
    run = _run(tied)
    state = ServingState(
        run.user_ids.ids,
        run.item_ids.ids,
        tied["user_emb"],
        tied["item_emb"],
        seen,  # type: ignore[arg-type]
        build_index(tied["item_emb"], "exact"),
    )  # type: ignore[arg-type]
    counts = np.asarray(seen.sum(axis=0)).ravel()
    ranked = state.recommend("someone new", K)
    assert ranked.fallback == "popular" and ranked.items.tolist() == reference_order(counts, K)
    exclude = np.array(reference_order(counts, 3))
    allowed = np.setdiff1d(np.arange(NUM_ITEMS), exclude)
    assert state.popular(K, exclude).items.tolist() == reference_order(counts, K, allowed)
