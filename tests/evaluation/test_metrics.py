"""Full-ranking metrics: a hand-computed example, agreement with the slow reference, chunk independence."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from torch import nn

from graphrec.config import model_config
from graphrec.data.dataset import Dataset
from graphrec.data.idmap import IdMap
from graphrec.errors import ConfigError, DataError
from graphrec.evaluation import evaluate_embeddings, evaluate_model, top_k_items
from graphrec.models.base import EmbeddingRecommender
from graphrec.retrieval import top_k

from .reference import reference_metrics


def _csr(rows: list[list[int]], num_items: int) -> sp.csr_matrix:
    indptr = np.cumsum([0] + [len(r) for r in rows])
    indices = np.array([i for r in rows for i in sorted(r)], dtype=np.int32)
    return sp.csr_matrix((np.ones(len(indices), np.float32), indices, indptr), shape=(len(rows), num_items))


def _random_case(seed: int, num_users: int = 70, num_items: int = 45, dim: int = 8):
    rng = np.random.default_rng(seed)
    user_emb = rng.standard_normal((num_users, dim)).astype(np.float32)
    item_emb = rng.standard_normal((num_items, dim)).astype(np.float32)
    excl_mask = rng.random((num_users, num_items)) < 0.25
    valid_mask = (rng.random((num_users, num_items)) < 0.1) & ~excl_mask
    target_mask = (rng.random((num_users, num_items)) < rng.uniform(0.0, 0.5, (num_users, 1))) & ~excl_mask
    target_mask[:5] = False  # users without targets must not count
    target_mask[5, :] = ~excl_mask[5]  # more targets than any K
    excl_mask[6, :-3], excl_mask[6, -3:] = True, False  # only 3 non-excluded items: fewer than K
    valid_mask[6] = False
    target_mask[6, -3:] = [True, False, True]
    target_mask[6, 0] = True  # an excluded target is never a hit but counts in |T(u)|
    return (
        user_emb,
        item_emb,
        sp.csr_matrix(target_mask.astype(np.float32)),
        [sp.csr_matrix(excl_mask.astype(np.float32)), sp.csr_matrix(valid_mask.astype(np.float32))],
    )


def test_hand_computed_example() -> None:
    # Item embeddings are the identity, so a user's embedding is its row of scores.
    user_emb = torch.tensor([[0.9, 0.8, 0.7, 0.6, 0.5], [0.1, 0.2, 0.3, 0.4, 0.5], [0.5, 0.4, 0.3, 0.2, 0.1]])
    item_emb = torch.eye(5)
    target = _csr([[2, 4], [4], []], 5)  # user 2 has no target: not averaged
    exclude = _csr([[0], [], [1]], 5)
    out = evaluate_embeddings(user_emb, item_emb, target, exclude, ks=[1, 2, 4])
    # user 0 ranks 1, 2, 3, 4 (0 excluded): r = 0 1 0 1; user 1 ranks 4, 3, 2, 1, 0: r = 1 0 0 0
    d2, d3 = 1 / math.log2(3), 1 / math.log2(5)
    expected = {
        "recall@1": 0.5, "precision@1": 0.5, "ndcg@1": 0.5, "hit_rate@1": 0.5, "mrr@1": 0.5,
        "recall@2": (0.5 + 1) / 2, "precision@2": (0.5 + 0.5) / 2, "ndcg@2": (d2 / (1 + d2) + 1) / 2,
        "hit_rate@2": 1.0, "mrr@2": (0.5 + 1) / 2,
        "recall@4": 1.0, "precision@4": (0.5 + 0.25) / 2, "ndcg@4": ((d2 + d3) / (1 + d2) + 1) / 2,
        "hit_rate@4": 1.0, "mrr@4": 0.75,
    }  # fmt: skip
    assert out["num_users"] == 2
    assert set(out) == set(expected) | {"num_users"}
    for name, value in expected.items():
        assert out[name] == pytest.approx(value, abs=1e-7), name


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_matches_reference(seed: int) -> None:
    user_emb, item_emb, target, exclude = _random_case(seed)
    ks = [1, 3, 10, 20]
    expected = reference_metrics(user_emb, item_emb, target, exclude, ks)
    for chunk_size in (1, 7, 64, 4096):
        got = evaluate_embeddings(
            torch.from_numpy(user_emb), torch.from_numpy(item_emb), target, exclude, ks, chunk_size=chunk_size
        )
        assert got["num_users"] == expected["num_users"]
        for name, value in expected.items():
            assert got[name] == pytest.approx(value, abs=1e-6), (name, chunk_size)


def test_results_independent_of_chunk_size_exactly() -> None:
    user_emb, item_emb, target, exclude = _random_case(7, num_users=300, num_items=120, dim=16)
    u, i = torch.from_numpy(user_emb), torch.from_numpy(item_emb)
    results = [evaluate_embeddings(u, i, target, exclude, [5, 20], chunk_size=c) for c in (1, 13, 128, 300, 10_000)]
    assert all(r == results[0] for r in results[1:])


def test_chunks_are_capped_by_the_score_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    import graphrec.evaluation.metrics as metrics
    import graphrec.retrieval as retrieval

    user_emb, item_emb, target, exclude = _random_case(5, num_users=300, num_items=120, dim=16)
    u, i = torch.from_numpy(user_emb), torch.from_numpy(item_emb)
    expected = evaluate_embeddings(u, i, target, exclude, [5, 20], chunk_size=2048)
    shapes = []
    real_mm = torch.mm
    monkeypatch.setattr(retrieval, "MAX_CHUNK_SCORES", 120 * 9)
    monkeypatch.setattr(metrics.torch, "mm", lambda a, b, out: shapes.append(out.shape) or real_mm(a, b, out=out))
    assert evaluate_embeddings(u, i, target, exclude, [5, 20], chunk_size=2048) == expected
    assert max(s[0] for s in shapes) == 9


def test_top_k_chunks_are_capped_by_the_score_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    import graphrec.retrieval as retrieval

    user_emb, item_emb, _, exclude = _random_case(5, num_users=300, num_items=120, dim=16)
    u, i = torch.from_numpy(user_emb), torch.from_numpy(item_emb)
    users = np.arange(300)
    expected = top_k_items(u, i, users, 5, exclude[0], chunk_size=2048)
    monkeypatch.setattr(retrieval, "MAX_CHUNK_SCORES", 120 * 9)
    assert retrieval.capped_chunk_size(2048, 120) == 9
    got = top_k_items(u, i, users, 5, exclude[0], chunk_size=2048)
    np.testing.assert_array_equal(got[0], expected[0])


def test_exclude_list_equals_union_matrix() -> None:
    user_emb, item_emb, target, exclude = _random_case(3)
    u, i = torch.from_numpy(user_emb), torch.from_numpy(item_emb)
    union = (exclude[0] + exclude[1]).tocsr()
    assert evaluate_embeddings(u, i, target, exclude, [10]) == evaluate_embeddings(u, i, target, union, [10])


def test_no_target_users_gives_zeros() -> None:
    out = evaluate_embeddings(torch.randn(3, 4), torch.randn(6, 4), sp.csr_matrix((3, 6)), None, [2])
    assert out["num_users"] == 0 and out["recall@2"] == 0.0


def test_bad_inputs_raise() -> None:
    u, i = torch.randn(3, 4), torch.randn(6, 4)
    target = sp.csr_matrix((3, 6))
    with pytest.raises(ConfigError):
        evaluate_embeddings(u, i, target, None, [7])
    with pytest.raises(ConfigError):
        evaluate_embeddings(u, i, target, None, [0])
    with pytest.raises(DataError):
        evaluate_embeddings(u, i, sp.csr_matrix((3, 5)), None, [2])
    with pytest.raises(DataError):
        evaluate_embeddings(u, torch.randn(6, 3), target, None, [2])


class _FixedModel(EmbeddingRecommender):
    name = "fixed"

    def __init__(self, user_emb: torch.Tensor, item_emb: torch.Tensor) -> None:
        super().__init__(
            len(user_emb), len(item_emb), model_config("mf"), sp.csr_matrix((len(user_emb), len(item_emb)))
        )
        self.user_emb, self.item_emb = nn.Parameter(user_emb), nn.Parameter(item_emb)
        self.modes: list[bool] = []

    def embeddings(self) -> tuple[torch.Tensor, torch.Tensor]:
        self.modes.append(self.training)
        return self.user_emb * 1.0, self.item_emb * 1.0


def test_evaluate_model_excludes_train_and_valid() -> None:
    user_emb, item_emb, target, (train, valid) = _random_case(5)
    dataset = Dataset(IdMap(range(train.shape[0])), IdMap(range(train.shape[1])), train, valid, target)
    model = _FixedModel(torch.from_numpy(user_emb), torch.from_numpy(item_emb))
    model.train()
    test = evaluate_model(model, dataset, "test", [5, 10])
    assert model.modes == [False] and model.training
    assert test == pytest.approx(reference_metrics(user_emb, item_emb, target, [train, valid], [5, 10]), abs=1e-6)
    val = evaluate_model(model, dataset, "valid", [5])
    assert val == pytest.approx(reference_metrics(user_emb, item_emb, valid, [train], [5]), abs=1e-6)
    with pytest.raises(ConfigError):
        evaluate_model(model, dataset, "train", [5])


def test_top_k_items_matches_sort_and_never_returns_excluded() -> None:
    user_emb, item_emb, _, (exclude, _) = _random_case(11)
    users = np.array([6, 0, 9, 9, 30])
    idx, scores = top_k_items(torch.from_numpy(user_emb), torch.from_numpy(item_emb), users, 5, exclude, chunk_size=2)
    assert idx.shape == scores.shape == (5, 5) and idx.dtype == np.int64
    full = user_emb.astype(np.float64) @ item_emb.astype(np.float64).T
    for row, u in enumerate(users):
        allowed = np.setdiff1d(np.arange(item_emb.shape[0]), exclude[u].indices)
        best = allowed[np.argsort(-full[u, allowed])][:5]
        assert idx[row, : len(best)].tolist() == best.tolist()
        assert np.allclose(scores[row, : len(best)], full[u, best], atol=1e-5)
        assert (idx[row, len(best) :] == -1).all() and np.isneginf(scores[row, len(best) :]).all()
    assert (idx[0] == -1).sum() == 2  # user 6 has only 3 non-excluded items


def test_top_k_items_without_exclusion_and_k_above_num_items() -> None:
    idx, scores = top_k_items(torch.eye(3), torch.eye(3) * torch.tensor([1.0, 3.0, 2.0]), np.array([0, 1]), 5, None)
    assert sorted(idx[0, :3].tolist()) == [0, 1, 2] and np.isneginf(scores[:, 3:]).all()
    assert idx[0, 0] == 0 and idx[1, 0] == 1 and (idx[:, 3:] == -1).all()


@pytest.mark.parametrize(("num_items", "k"), [(40, 5), (1000, 1), (1000, 20), (4097, 20), (5000, 7)])
def test_top_k_equals_torch_topk(num_items: int, k: int) -> None:
    gen = torch.Generator().manual_seed(num_items + k)
    scores = torch.randn(33, num_items, generator=gen)
    scores[0, : num_items - 3] = float("-inf")  # fewer finite entries than k
    scores[1] = float("-inf")
    expected, got = torch.topk(scores, k, dim=1), top_k(scores, k)
    assert torch.equal(got[0], expected[0])
    finite = torch.isfinite(expected[0])
    assert torch.equal(got[1][finite], expected[1][finite])
    assert (torch.gather(scores, 1, got[1]) == got[0]).all()


def test_unseen_targets_count_as_misses_like_masked_extra_items() -> None:
    """Held-out items unknown to training are misses: the same as extra items that are always masked; unknown
    users are users whose every target is such an item. Checked against the slow reference on that extension."""
    from graphrec.evaluation.metrics import UnseenTargets

    user_emb, item_emb, target, exclude = _random_case(21)
    num_users, num_items = target.shape
    extra_items, unknown_users = 4, 3
    rng = np.random.default_rng(5)
    per_user = np.where(rng.random(num_users) < 0.3, rng.integers(1, extra_items + 1, num_users), 0)
    per_user[0] = 2  # a user whose held-out items are all unknown to training
    unseen = UnseenTargets(per_user.astype(np.int64), users=unknown_users, user_interactions=5)
    got = evaluate_embeddings(
        torch.from_numpy(user_emb), torch.from_numpy(item_emb), target, exclude, [3, 10], unseen=unseen
    )
    # The extension: extra item columns (masked for everyone) hold each user's unseen targets; unknown users get
    # rows whose targets are all masked.
    wide = num_items + extra_items
    rows = [list(target[u].indices) + list(range(num_items, num_items + per_user[u])) for u in range(num_users)]
    rows += [[num_items, num_items + 1]] * unknown_users
    target_ext = _csr(rows, wide)
    masked_extra = _csr([list(range(num_items, wide))] * (num_users + unknown_users), wide)
    excl_ext = [
        sp.vstack(
            [sp.hstack([m, sp.csr_matrix((num_users, extra_items))]), sp.csr_matrix((unknown_users, wide))]
        ).tocsr()
        for m in exclude
    ] + [masked_extra]
    users_ext = np.vstack([user_emb, np.zeros((unknown_users, user_emb.shape[1]), np.float32)])
    items_ext = np.vstack([item_emb, rng.standard_normal((extra_items, item_emb.shape[1])).astype(np.float32)])
    expected = reference_metrics(users_ext, items_ext, target_ext, excl_ext, [3, 10])
    assert got["num_users"] == expected["num_users"] == int((target.getnnz(axis=1) + per_user > 0).sum()) + 3
    assert got["unseen_interactions"] == int(per_user.sum()) + 5 and got["unseen_users"] == 3
    assert {k: v for k, v in got.items() if "@" in k} == pytest.approx(
        {k: v for k, v in expected.items() if "@" in k}, abs=1e-9
    )
