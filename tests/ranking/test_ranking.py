"""Two-stage ranking: retrieval excludes seen items, exact re-scoring equals full ranking, the learned ranker learns."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from graphrec.errors import ConfigError, RunDirError
from graphrec.evaluation import evaluate_embeddings, top_k_items
from graphrec.index import build_index
from graphrec.ranking import (
    ExactScoreRanker,
    LearnedRanker,
    RankingContext,
    evaluate_ranked,
    fit_learned_ranker,
    retrieve,
    top_k_of,
    two_stage,
)
from graphrec.seeding import numpy_rng

NUM_USERS, NUM_ITEMS, DIM = 300, 600, 16


def sample_rows(logits: np.ndarray, per_row: int, exclude: sp.csr_matrix | None, rng) -> sp.csr_matrix:
    """`per_row` distinct items per user drawn with probability softmax(logits), skipping excluded items."""
    if exclude is not None:
        logits = np.where(exclude.toarray() > 0, -np.inf, logits)
    probs = np.exp(logits - logits.max(axis=1, keepdims=True))
    probs /= probs.sum(axis=1, keepdims=True)
    rows = [rng.choice(logits.shape[1], size=per_row, replace=False, p=p) for p in probs]
    users = np.repeat(np.arange(len(rows)), per_row)
    return sp.csr_matrix((np.ones(users.size, np.float32), (users, np.concatenate(rows))), shape=logits.shape)


@pytest.fixture(scope="module")
def world() -> dict:
    """Embeddings, a popularity-skewed history, and held-out items that depend on score AND popularity."""
    rng = numpy_rng(3)
    users = rng.normal(size=(NUM_USERS, DIM)).astype(np.float32)
    items = rng.normal(size=(NUM_ITEMS, DIM)).astype(np.float32) / 2
    log_pop_true = np.log(rng.pareto(1.2, NUM_ITEMS) + 1)
    history = sample_rows(np.broadcast_to(2 * log_pop_true, (NUM_USERS, NUM_ITEMS)).copy(), 20, None, rng)
    pop = np.log1p(np.asarray(history.sum(axis=0)).ravel())
    logits = users @ items.T + 1.5 * pop
    held_out = sample_rows(logits, 5, history, rng)
    fresh = sample_rows(logits, 5, history + held_out, rng)
    return {"users": users, "items": items, "history": history, "held_out": held_out, "fresh": fresh}


def test_retrieve_excludes_seen_and_equals_brute_force(world) -> None:
    users, items, history = world["users"], world["items"], world["history"]
    index = build_index(items, "exact")
    rows = np.arange(0, NUM_USERS, 7)
    cands = retrieve(index, users, rows, history, n_candidates=50)
    scores = users[rows] @ items.T
    scores[history[rows].toarray() > 0] = -np.inf
    expected = np.argsort(-scores, axis=1, kind="stable")[:, :50]
    np.testing.assert_array_equal(cands.items, expected)
    assert not np.asarray(history[np.repeat(rows, 50), cands.items.ravel()]).any()


def test_retrieve_pads_when_too_few_unseen() -> None:
    vectors = np.eye(4, dtype=np.float32)
    seen = sp.csr_matrix(np.array([[1, 1, 1, 0], [0, 0, 0, 0]], dtype=np.float32))
    cands = retrieve(build_index(vectors, "hnsw"), np.ones((2, 4), np.float32), np.array([0, 1]), seen, 3)
    assert cands.items[0].tolist() == [3, -1, -1] and np.isneginf(cands.scores[0, 1:]).all()
    assert len(set(cands.items[1].tolist())) == 3 and (cands.items[1] >= 0).all()  # all four items tie
    with pytest.raises(ConfigError, match="n_candidates: expected an integer ≥ 1, got 0; ask for at least one item"):
        retrieve(build_index(vectors, "exact"), np.ones((2, 4), np.float32), np.array([0]), seen, 0)


def test_exact_ranker_on_exact_candidates_equals_full_ranking(world) -> None:
    users, items, history = world["users"], world["items"], world["history"]
    context = RankingContext(users, items, history)
    rows = np.arange(NUM_USERS)
    got_items, got_scores = two_stage(
        build_index(items, "exact"), context, rows, 20, ExactScoreRanker(), n_candidates=200, chunk_size=64
    )
    ref_items, ref_scores = top_k_items(torch.from_numpy(users), torch.from_numpy(items), rows, 20, history)
    np.testing.assert_allclose(got_scores, ref_scores, rtol=1e-5, atol=1e-5)
    assert (got_items == ref_items).mean() > 0.999  # only exact float ties may swap


def test_evaluate_ranked_matches_full_ranking_evaluator(world) -> None:
    users, items, history, target = world["users"], world["items"], world["history"], world["held_out"]
    rows = np.arange(NUM_USERS)
    top_items, top_scores = top_k_items(torch.from_numpy(users), torch.from_numpy(items), rows, 20, history)
    got = evaluate_ranked(top_items, top_scores, rows, target, [10, 20])
    expected = evaluate_embeddings(torch.from_numpy(users), torch.from_numpy(items), target, history, [10, 20])
    assert got == pytest.approx(expected)


@pytest.mark.parametrize("objective", ["pointwise", "pairwise"])
def test_learned_ranker_learns_popularity_and_beats_exact_score(world, objective: str, tmp_path: Path) -> None:
    users, items, history = world["users"], world["items"], world["history"]
    context = RankingContext(users, items, history)
    index = build_index(items, "exact")
    rows = np.arange(NUM_USERS)
    cands = retrieve(index, users, rows, history, n_candidates=100)
    ranker = fit_learned_ranker(cands, context, world["held_out"], neg_fraction=0.5, seed=1, objective=objective)
    assert ranker.report["objective"] == objective
    weights = dict(zip(ranker.feature_names, ranker.weights, strict=True))
    assert weights["retrieval_score"] > 0 and weights["item_log_pop"] > 0
    assert ranker.report["positives"] > 0 and np.isfinite(ranker.report["final_loss"])
    # On interactions the ranker never saw, it beats the model score alone: the held-out process favours
    # popular items, which the dot product ignores.
    metrics = {}
    for name, rk in (("exact", ExactScoreRanker()), ("learned", ranker)):
        top, scores = top_k_of(cands, rk.score(cands, context), 20)
        metrics[name] = evaluate_ranked(top, scores, rows, world["fresh"], [20])["recall@20"]
    assert metrics["learned"] > metrics["exact"] + 0.02, metrics
    ranker.save(tmp_path / "ranker")
    loaded = LearnedRanker.load(tmp_path / "ranker")
    np.testing.assert_allclose(loaded.score(cands, context), ranker.score(cands, context), rtol=1e-5)
    with pytest.raises(RunDirError, match=r"lacks ranker.json or ranker.safetensors"):
        LearnedRanker.load(tmp_path)


def test_learned_ranker_uses_item_features(world) -> None:
    users, items, history = world["users"], world["items"], world["history"]
    # Features that reveal the held-out item's "genre": the user's history shares it with the held-out items.
    features = numpy_rng(5).normal(size=(NUM_ITEMS, 8)).astype(np.float32)
    context = RankingContext(users, items, history, item_features=features)
    cands = retrieve(build_index(items, "exact"), users, np.arange(NUM_USERS), history, n_candidates=50)
    ranker = fit_learned_ranker(cands, context, world["held_out"])
    assert ranker.feature_names[-1] == "feature_cosine"
    assert np.isfinite(ranker.score(cands, context)).all()
    cos = context.feature_cosine(cands.user_idx[:3], cands.items[:3])
    profile = history[:3].toarray() @ (features / np.linalg.norm(features, axis=1, keepdims=True))
    item_unit = features[cands.items[0, 0]] / np.linalg.norm(features[cands.items[0, 0]])
    assert cos[0, 0] == pytest.approx(profile[0] @ item_unit / np.linalg.norm(profile[0]), rel=1e-4)
