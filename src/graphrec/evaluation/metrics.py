"""Full-ranking top-K evaluation, identical in definition to the official LightGCN evaluator.

For every user ``u`` with at least one target item, all items are scored with ``<U_u, I_v>``; items in the
exclusion set (the training items, plus the validation items when evaluating on test) get score ``-inf``.
Let ``r_1..r_K`` be the hit indicators of the top-K list (``r_j = 1`` when the item at rank ``j`` is in
``T(u)``, the user's target items; an excluded item never counts as a hit). Then

* ``recall@K    = sum_j r_j / |T(u)|``
* ``precision@K = sum_j r_j / K``
* ``ndcg@K      = DCG / IDCG`` with ``DCG = sum_{j=1..K} r_j / log2(j + 1)`` and
  ``IDCG = sum_{j=1..min(K, |T(u)|)} 1 / log2(j + 1)``
* ``hit_rate@K  = 1 if sum_j r_j > 0 else 0``
* ``mrr@K       = 1 / j*`` where ``j*`` is the rank of the first hit within the top K, or ``0`` without one

Every metric is averaged over the users with ``|T(u)| >= 1``; users without targets are skipped entirely and
``num_users`` reports how many were averaged.

**Held-out data that training never saw** (:class:`UnseenTargets`, ``data.unseen_policy = "miss"``, the default)
counts as misses, as in the official LightGCN evaluator, whose item count spans train and test so that such items
are simply never recommended: an interaction naming an unknown item stays in ``|T(u)|`` (it lowers recall and the
IDCG's length), and a user unknown to training scores 0 on every metric and counts in ``num_users``. The result
then also reports ``unseen_interactions`` and ``unseen_users``.

Scoring, masking, top-k (ties: smaller item index first) and chunking are :mod:`graphrec.retrieval`'s.
Scores are computed chunk by chunk of users into one preallocated
buffer, so memory is ``chunk_size × num_items`` floats and the results do not depend on the chunk size.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp
import torch

from graphrec.errors import ConfigError, DataError
from graphrec.retrieval import (
    DotScorer,
    Scorer,
    check_k,
    combine_exclude,
    gather_rows,
    mask_seen,
    top_k,
    user_chunks,
)
from graphrec.retrieval import top_k_items as _top_k_items

if TYPE_CHECKING:
    from graphrec.data.dataset import Dataset
    from graphrec.data.idmap import IdMap
    from graphrec.models.base import Recommender

logger = logging.getLogger(__name__)

METRIC_NAMES: tuple[str, ...] = ("recall", "ndcg", "precision", "hit_rate", "mrr")


def canonical_csr(matrix: sp.spmatrix | sp.sparray, shape: tuple[int, int], what: str) -> sp.csr_matrix:
    """`matrix` as CSR with sorted, duplicate-free indices and no stored zeros; copies only when needed."""
    csr = sp.csr_matrix(matrix)
    if csr.shape != shape:
        raise DataError(f"{what} matrix has shape {csr.shape}, expected {shape}; pass a users × items matrix")
    if not csr.has_canonical_format or (csr.data.size and not np.all(csr.data != 0)):
        csr = csr.copy()
        csr.sum_duplicates()
        csr.eliminate_zeros()
    return csr


_combine_exclude = combine_exclude  # two-stage ranking's name for it


@dataclass(frozen=True)
class UnseenTargets:
    """Held-out interactions of one split that no model can hit, because training never saw their user or item.

    ``per_user`` int64 (num_users,): each known user's held-out interactions naming an unknown item (they stay in
    the user's ``|T(u)|``); ``users``: distinct held-out users unknown to training (each scores 0 and counts in
    ``num_users``); ``user_interactions``: their held-out interactions.
    """

    per_user: np.ndarray
    users: int = 0
    user_interactions: int = 0

    @property
    def interactions(self) -> int:
        return int(self.per_user.sum()) + self.user_interactions

    @classmethod
    def of(cls, user_idx: np.ndarray, user_ids: np.ndarray, num_users: int) -> UnseenTargets:
        """From distinct held-out pairs that name something unknown: their user index (-1: unknown user) and
        external user id."""
        user_idx = np.asarray(user_idx, dtype=np.int64)
        known = user_idx >= 0
        per_user = np.bincount(user_idx[known], minlength=num_users).astype(np.int64)
        unknown_ids = np.asarray(user_ids, dtype=object)[~known]
        return cls(per_user, len({str(u) for u in unknown_ids}), int((~known).sum()))

    @classmethod
    def none(cls, num_users: int) -> UnseenTargets:
        return cls(np.zeros(num_users, dtype=np.int64))

    def report(self) -> dict[str, int]:
        return {"unseen_interactions": self.interactions, "unseen_users": self.users}


def unseen_targets(pairs: tuple[np.ndarray, np.ndarray], users: IdMap) -> UnseenTargets:
    """:class:`UnseenTargets` of distinct held-out (user_id, item_id) pairs naming a user or item that training
    never saw, in the index space of the id map `users`."""
    user_ids = np.asarray(pairs[0], dtype=object)
    return UnseenTargets.of(users.indices(user_ids) if len(user_ids) else np.zeros(0, np.int64), user_ids, len(users))


def hit_matrix(
    top_idx: np.ndarray, top_val: np.ndarray, target: sp.csr_matrix, rows: np.ndarray, num_items: int
) -> np.ndarray:
    """Boolean (n, k) matrix: is `top_idx[i, j]` a target item of user `rows[i]` (and not a masked item)?"""
    local, cols = gather_rows(target.indptr, target.indices, rows)
    keys = local * num_items + cols  # sorted: rows ascend locally and CSR column indices are sorted
    query = np.arange(len(rows), dtype=np.int64)[:, None] * num_items + top_idx
    pos = np.searchsorted(keys, query)
    found = keys[np.minimum(pos, max(len(keys) - 1, 0))] == query if len(keys) else np.zeros(query.shape, bool)
    return found & (top_val > -np.inf)


def per_user_metrics(hits: np.ndarray, num_targets: np.ndarray, ks: Sequence[int]) -> dict[str, np.ndarray]:
    """Every metric for every K in `ks`, one float64 value per user (row of `hits`)."""
    max_k = hits.shape[1]
    discounts = 1.0 / np.log2(np.arange(2, max_k + 2, dtype=np.float64))
    ideal = np.cumsum(discounts)
    hits_f = hits.astype(np.float64)
    out: dict[str, np.ndarray] = {}
    for k in ks:
        h = hits_f[:, :k]
        n_hits = h.sum(axis=1)
        first = np.argmax(hits[:, :k], axis=1)
        out[f"recall@{k}"] = n_hits / num_targets
        out[f"precision@{k}"] = n_hits / k
        out[f"ndcg@{k}"] = (h * discounts[:k]).sum(axis=1) / ideal[np.minimum(k, num_targets) - 1]
        out[f"hit_rate@{k}"] = (n_hits > 0).astype(np.float64)
        out[f"mrr@{k}"] = np.where(n_hits > 0, 1.0 / (first + 1), 0.0)
    return out


def validate_ks(ks: Sequence[int], num_items: int) -> list[int]:
    """`ks` as a non-empty list of ints ≥ 1 (each checked by retrieval.check_k), none larger than `num_items`."""
    if isinstance(ks, (int, np.integer)) or len(ks) == 0:
        raise ConfigError(f"ks: expected a non-empty list of integers ≥ 1, got {ks!r}; e.g. ks = [10, 20]")
    out = [check_k(k, "ks") for k in ks]
    if max(out) > num_items:
        raise ConfigError(f"ks contains {max(out)} but there are only {num_items} items; use smaller cut-offs")
    return out


def model_scorer(model: Recommender) -> Scorer:
    """The scorer of `model`, in eval mode and without grad (its training mode is restored afterwards).

    The one place evaluation asks a model for its scores: ``model.scorer()`` (the declared interface).
    """
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            return model.scorer()
    finally:
        model.train(was_training)


@torch.no_grad()
def evaluate_scorer(
    scorer: Scorer,
    target: sp.csr_matrix,
    exclude: sp.csr_matrix | list[sp.csr_matrix] | None,
    ks: list[int],
    chunk_size: int = 2048,
    show_progress: bool = False,
    unseen: UnseenTargets | None = None,
) -> dict[str, float]:
    """Full-ranking metrics (see the module docstring) of `scorer`'s scores against `target` (users × items).

    Returns ``recall@K``, ``ndcg@K``, ``precision@K``, ``hit_rate@K`` and ``mrr@K`` for every K in `ks`, plus
    ``num_users`` (the int count of users averaged over); with `unseen`, also ``unseen_interactions`` and
    ``unseen_users`` (held-out data training never saw, counted as misses).
    """
    _, per_user = evaluate_scorer_users(
        scorer, target, exclude, ks, chunk_size, show_progress=show_progress, unseen=unseen
    )
    result = mean_metrics(per_user, unseen.users if unseen is not None else 0)
    if unseen is not None:
        result.update(unseen.report())
    return result


@torch.no_grad()
def evaluate_embeddings(
    user_emb: torch.Tensor,
    item_emb: torch.Tensor,
    target: sp.csr_matrix,
    exclude: sp.csr_matrix | list[sp.csr_matrix] | None,
    ks: list[int],
    chunk_size: int = 2048,
    show_progress: bool = False,
    unseen: UnseenTargets | None = None,
) -> dict[str, float]:
    """:func:`evaluate_scorer` of the dot-product scores ``user_emb @ item_emb.T``."""
    return evaluate_scorer(DotScorer(user_emb, item_emb), target, exclude, ks, chunk_size, show_progress, unseen)


def mean_metrics(per_user: dict[str, np.ndarray], unseen_users: int = 0) -> dict[str, float]:
    """The metrics of `evaluate_scorer` from per-user values: one mean per metric, plus ``num_users``;
    `unseen_users` users unknown to training count as zeros."""
    n = (len(next(iter(per_user.values()))) if per_user else 0) + unseen_users
    result: dict[str, float] = {name: (float(v.sum() / n) if n else 0.0) for name, v in per_user.items()}
    result["num_users"] = n
    if n == 0:
        logger.warning("no user has a target item; every metric is reported as 0.0")
    return result


def users_with_targets(target: sp.csr_matrix, unseen: UnseenTargets | None = None) -> np.ndarray:
    """int64 indices of the users with at least one target item (counting `unseen` ones), ascending."""
    counts = np.diff(sp.csr_matrix(target).indptr)
    if unseen is not None:
        counts = counts + unseen.per_user
    return np.flatnonzero(counts > 0).astype(np.int64)


@torch.no_grad()
def evaluate_users(
    user_emb: torch.Tensor,
    item_emb: torch.Tensor,
    target: sp.csr_matrix,
    exclude: sp.csr_matrix | list[sp.csr_matrix] | None,
    ks: list[int],
    chunk_size: int = 2048,
    rows: np.ndarray | None = None,
    show_progress: bool = False,
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """:func:`evaluate_scorer_users` of the dot-product scores ``user_emb @ item_emb.T``."""
    return evaluate_scorer_users(DotScorer(user_emb, item_emb), target, exclude, ks, chunk_size, rows, show_progress)


@torch.no_grad()
def evaluate_scorer_users(
    scorer: Scorer,
    target: sp.csr_matrix,
    exclude: sp.csr_matrix | list[sp.csr_matrix] | None,
    ks: list[int],
    chunk_size: int = 2048,
    rows: np.ndarray | None = None,
    show_progress: bool = False,
    unseen: UnseenTargets | None = None,
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Per-user metric values: ``(rows, {"recall@K": float64 (len(rows),), ...})`` for the users `rows` (default:
    :func:`users_with_targets`; every given user must have a target). Used by `evaluate_scorer` and by the
    distributed evaluation, which gathers these values from every rank before taking one mean."""
    dot = scorer if isinstance(scorer, DotScorer) else None  # dot products go into one preallocated buffer
    buffer: list[torch.Tensor] = []

    def scores(users: torch.Tensor) -> Iterator[torch.Tensor]:
        if dot is None:
            yield scorer.score(users).float().contiguous()
            return
        if not buffer:  # the first chunk is the largest
            buffer.append(torch.empty((len(users), scorer.num_items)))
        yield dot.score(users, out=buffer[0][: len(users)])

    rows_all, per_candidate = evaluate_candidates_users(
        scores, 1, scorer.num_items, target, exclude, ks, chunk_size, rows, show_progress, unseen
    )
    return rows_all, per_candidate[0]


CandidateScores = Callable[[torch.Tensor], Iterable[torch.Tensor]]


@torch.no_grad()
def evaluate_candidates_users(
    candidates: CandidateScores,
    count: int,
    num_items: int,
    target: sp.csr_matrix,
    exclude: sp.csr_matrix | list[sp.csr_matrix] | None,
    ks: list[int],
    chunk_size: int = 2048,
    rows: np.ndarray | None = None,
    show_progress: bool = False,
    unseen: UnseenTargets | None = None,
) -> tuple[np.ndarray, list[dict[str, np.ndarray]]]:
    """:func:`evaluate_scorer_users` of `count` candidate scorings in one pass over the users: `candidates(users)`
    yields each candidate's (len(users) × num_items) scores in turn (one at a time: memory stays one chunk per
    candidate alive), so work the candidates share — a blend's member scores — is done once per chunk."""
    num_users = target.shape[0]
    ks = validate_ks(ks, num_items)
    target = canonical_csr(target, (num_users, num_items), "target")
    excl = combine_exclude(exclude, (num_users, num_items))
    num_targets_all = np.diff(target.indptr).astype(np.int64)
    if unseen is not None:
        num_targets_all = num_targets_all + unseen.per_user
    rows_all = users_with_targets(target, unseen) if rows is None else np.asarray(rows, dtype=np.int64)
    empty = rows_all[num_targets_all[rows_all] == 0]
    if len(empty):
        raise DataError(
            f"rows: every evaluated user needs a target item, got {len(empty)} without one (first user_idx "
            f"{int(empty[0])}); pass users_with_targets(target), or leave rows unset"
        )
    # Per-user values, summed once at the end, so the result is bit-identical for every chunk size.
    per_user = [{f"{m}@{k}": np.zeros(len(rows_all)) for k in ks for m in METRIC_NAMES} for _ in range(count)]
    max_k = max(ks)
    for start, chunk in user_chunks(rows_all, chunk_size, num_items, "evaluating" if show_progress else None):
        seen = 0
        for values, scores in zip(per_user, candidates(torch.from_numpy(chunk)), strict=False):
            mask_seen(scores, excl, chunk)
            top_val, top_idx = top_k(scores, max_k)
            hits = hit_matrix(top_idx.numpy().astype(np.int64), top_val.numpy(), target, chunk, num_items)
            for name, metric in per_user_metrics(hits, num_targets_all[chunk], ks).items():
                values[name][start : start + len(chunk)] = metric
            seen += 1
        if seen != count:
            raise ValueError(f"candidates yielded {seen} score matrices for a chunk of users, expected {count}")
    return rows_all, per_user


def evaluate_model(
    model: Recommender, dataset: Dataset, split: str, ks: list[int], chunk_size: int = 2048
) -> dict[str, float]:
    """Evaluate `model` on `split` ("valid": train items excluded; "test": train and valid items excluded), with
    the split's held-out data unknown to training counted as misses when the dataset kept it (policy "miss").

    The model is put in eval mode under ``torch.no_grad()`` and restored to its previous mode afterwards.
    """
    scorer, exclude = split_inputs(model, dataset, split)
    return evaluate_scorer(scorer, dataset.split(split), exclude, ks, chunk_size, unseen=dataset_unseen(dataset, split))


def dataset_unseen(dataset: Dataset, split: str) -> UnseenTargets | None:
    """The split's held-out pairs unknown to training as :class:`UnseenTargets` (None unless the dataset was
    loaded with ``data.unseen_policy = "miss"``)."""
    pairs = dataset.unseen.get(split) if dataset.unseen is not None else None
    return None if pairs is None else unseen_targets(pairs, dataset.user_ids)


def split_inputs(model: Recommender, dataset: Dataset, split: str) -> tuple[Scorer, list[sp.csr_matrix]]:
    """What evaluating `model` on `split` needs: its scorer (eval mode, no grad) and the matrices to exclude."""
    if split == "valid":
        exclude = [dataset.train]
    elif split == "test":
        exclude = [dataset.train, dataset.valid]
    else:
        raise ConfigError(f"cannot evaluate on split '{split}'; choose one of: valid, test")
    return model_scorer(model), exclude


@torch.no_grad()
def top_k_items(
    user_emb: torch.Tensor,
    item_emb: torch.Tensor,
    user_idx: np.ndarray,
    k: int,
    exclude: sp.csr_matrix | None,
    chunk_size: int = 2048,
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`graphrec.retrieval.top_k_items` of the dot-product scores ``user_emb @ item_emb.T``: the `k` best
    non-excluded items of each user, best first, ties by smaller item index, padded with -1 / -inf."""
    return _top_k_items(DotScorer(user_emb, item_emb), user_idx, k, exclude, chunk_size, num_users=user_emb.shape[0])
