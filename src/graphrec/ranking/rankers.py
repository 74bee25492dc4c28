"""Stage two: rankers that re-score retrieved candidates.

* :class:`ExactScoreRanker` — the model's own score, ``<user_emb, item_emb>``, recomputed for each candidate (so
  it corrects any retriever whose scores are approximate or come from another model).
* :class:`LearnedRanker` — logistic regression over per-candidate features (:data:`FEATURES`), trained on
  held-out interactions by :func:`fit_learned_ranker`.

How the learned ranker is trained (exactly):

1. Take a run trained *without* the held-out interactions (e.g. its validation split). Retrieve the top
   ``n_candidates`` unseen items for every user with at least one held-out item (:func:`retrieve`, seen = train).
2. Label a (user, candidate) pair 1 when the candidate is among the user's held-out items, else 0. Users whose
   candidates contain no positive are dropped (they carry no ranking signal).
3. Compute the features below and standardise each by its mean and standard deviation over the remaining users'
   candidates. Pointwise (default): keep every positive and a random ``neg_fraction`` of the negatives (seeded by
   ``seed``) and fit ``sigmoid(w · x + b)`` by minimising the mean binary cross-entropy plus ``l2 · |w|²`` with
   full-batch L-BFGS (torch, float64, at most ``max_iter`` iterations). Pairwise: the same fit on the
   differences x(positive) − x(negative), each positive paired with ``pair_negatives`` random negatives of its
   user (and the negated differences labelled 0), i.e. a BPR-style logistic loss on the within-user order.
4. Score = ``w · x + b`` (the logit); candidates are sorted by it.

Features of a (user u, candidate item i) pair, computed from the context's `history` (the interactions known when
ranking: train when fitting on validation; train + validation when evaluating on test):

* ``retrieval_score``  the retriever's score of i for u
* ``log_rank``          log(1 + the 0-based position of i in u's candidate list)
* ``item_log_pop``      log(1 + number of users with i in their history)
* ``user_log_degree``   log(1 + number of items in u's history); constant within a user, it matters through the
* ``user_deg_x_item_pop`` and ``user_deg_x_score`` products (heavy users may prefer other popularity levels)
* ``feature_cosine``    cosine between i's item features and the mean features of u's history items (only when the
  run has item features, e.g. PinSAGE)
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import scipy.sparse as sp
import torch

from graphrec.errors import ConfigError, DataError, RunDirError
from graphrec.io import atomic_write, atomic_write_text
from graphrec.ranking.candidates import Candidates, is_member
from graphrec.seeding import Stream, numpy_rng

logger = logging.getLogger(__name__)

BASE_FEATURES = (
    "retrieval_score",
    "log_rank",
    "item_log_pop",
    "user_log_degree",
    "user_deg_x_item_pop",
    "user_deg_x_score",
)
FEATURES = (*BASE_FEATURES, "feature_cosine")
WEIGHTS_FILE, META_FILE = "ranker.safetensors", "ranker.json"


@dataclass
class RankingContext:
    """What rankers may look at: embeddings (score = dot product), the users' known interactions, item features."""

    user_emb: np.ndarray
    item_emb: np.ndarray
    history: sp.csr_matrix
    item_features: np.ndarray | None = None
    _cache: dict[str, np.ndarray] = field(default_factory=dict, repr=False)

    @classmethod
    def from_run(cls, run: Any, history: sp.csr_matrix | None = None) -> RankingContext:
        """The context of a LoadedRun; `history` defaults to its training interactions."""
        users, items = (t.detach().cpu().numpy().astype(np.float32) for t in run.embeddings())
        path = Path(run.run_dir) / "item_features.npy"
        features = np.load(path, allow_pickle=False) if path.is_file() else None
        return cls(users, items, sp.csr_matrix(run.train if history is None else history), features)

    def item_log_pop(self) -> np.ndarray:
        if "pop" not in self._cache:
            self._cache["pop"] = np.log1p(np.asarray((self.history > 0).sum(axis=0)).ravel()).astype(np.float32)
        return self._cache["pop"]

    def user_log_degree(self) -> np.ndarray:
        if "deg" not in self._cache:
            self._cache["deg"] = np.log1p(np.diff(self.history.indptr)).astype(np.float32)
        return self._cache["deg"]

    def feature_cosine(self, user_idx: np.ndarray, items: np.ndarray) -> np.ndarray:
        """(n, c) cosine of each candidate's features with the mean features of the user's history items."""
        assert self.item_features is not None
        if "unit_features" not in self._cache:
            f = self.item_features.astype(np.float32)
            self._cache["unit_features"] = f / np.maximum(np.linalg.norm(f, axis=1, keepdims=True), 1e-12)
        unit = self._cache["unit_features"]
        profile = np.asarray(self.history[user_idx] @ unit)
        profile /= np.maximum(np.linalg.norm(profile, axis=1, keepdims=True), 1e-12)
        # Items beyond the feature matrix (added later without features) get cosine 0.
        known = (items >= 0) & (items < len(unit))
        cos = np.einsum("nf,ncf->nc", profile, unit[np.where(known, items, 0)])
        return np.where(known, cos, 0.0).astype(np.float32)


class Ranker(Protocol):
    name: str

    def score(self, candidates: Candidates, context: RankingContext) -> np.ndarray:
        """(n, c) float scores of the candidates, higher is better (padding entries may hold anything)."""


class ExactScoreRanker:
    """The model's exact score <user_emb[u], item_emb[i]> for every candidate."""

    name = "exact_score"

    def score(self, candidates: Candidates, context: RankingContext) -> np.ndarray:
        users = context.user_emb[candidates.user_idx]
        items = context.item_emb[np.maximum(candidates.items, 0)]
        return np.einsum("nd,ncd->nc", users, items)


def candidate_features(candidates: Candidates, context: RankingContext, names: tuple[str, ...]) -> np.ndarray:
    """(n, c, len(names)) float32 features (see the module docstring) of every candidate slot."""
    n, c = candidates.items.shape
    items = np.maximum(candidates.items, 0)
    score = np.where(candidates.valid, candidates.scores, 0.0)
    deg = np.broadcast_to(context.user_log_degree()[candidates.user_idx][:, None], (n, c))
    pop = context.item_log_pop()
    pop = np.where(items < len(pop), pop[np.minimum(items, len(pop) - 1)], 0.0)  # new items: no history yet
    columns = {
        "retrieval_score": score,
        "log_rank": np.broadcast_to(np.log1p(np.arange(c)), (n, c)),
        "item_log_pop": pop,
        "user_log_degree": deg,
        "user_deg_x_item_pop": deg * pop,
        "user_deg_x_score": deg * score,
    }
    if "feature_cosine" in names:
        if context.item_features is None:
            raise DataError("this ranker uses item features but the run has none; fit it on a run without them")
        columns["feature_cosine"] = context.feature_cosine(candidates.user_idx, candidates.items)
    return np.stack([columns[name] for name in names], axis=2).astype(np.float32)


@dataclass
class LearnedRanker:
    """Logistic regression over :data:`FEATURES` (standardised); score = the logit. See the module docstring."""

    feature_names: tuple[str, ...]
    weights: np.ndarray
    bias: float
    mean: np.ndarray
    std: np.ndarray
    report: dict[str, Any] = field(default_factory=dict)
    name: str = "learned"

    def score(self, candidates: Candidates, context: RankingContext) -> np.ndarray:
        x = candidate_features(candidates, context, self.feature_names)
        return ((x - self.mean) / self.std) @ self.weights + self.bias

    def save(self, directory: str | Path) -> None:
        from safetensors.numpy import save_file

        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        tensors = {
            "weights": self.weights.astype(np.float32),
            "mean": self.mean.astype(np.float32),
            "std": self.std.astype(np.float32),
            "bias": np.array([self.bias], dtype=np.float32),
        }
        atomic_write(directory / WEIGHTS_FILE, lambda tmp: save_file(tensors, str(tmp)))
        meta = {
            "kind": "logistic",
            "features": list(self.feature_names),
            "report": self.report,
            "weights": dict(zip(self.feature_names, map(float, self.weights), strict=True)),
        }
        atomic_write_text(directory / META_FILE, json.dumps(meta, indent=2))

    @classmethod
    def load(cls, directory: str | Path) -> LearnedRanker:
        from safetensors.numpy import load_file

        directory = Path(directory)
        if not (directory / META_FILE).is_file() or not (directory / WEIGHTS_FILE).is_file():
            raise RunDirError(
                f"ranker directory '{directory}' lacks {META_FILE} or {WEIGHTS_FILE}; "
                f"fit one with fit_learned_ranker(...).save(directory)"
            )
        meta = json.loads((directory / META_FILE).read_text(encoding="utf-8"))
        t = load_file(str(directory / WEIGHTS_FILE))
        return cls(tuple(meta["features"]), t["weights"], float(t["bias"][0]), t["mean"], t["std"], meta["report"])


def fit_learned_ranker(
    candidates: Candidates,
    context: RankingContext,
    held_out: sp.csr_matrix,
    neg_fraction: float = 0.25,
    l2: float = 1e-4,
    max_iter: int = 100,
    seed: int = 0,
    objective: str = "pointwise",
    pair_negatives: int = 8,
) -> LearnedRanker:
    """Fit a :class:`LearnedRanker` on `candidates` labelled by `held_out` (users × items); see the module
    docstring for the exact procedure. ``objective="pairwise"`` fits the same linear score on differences
    x(positive) − x(negative) within a user instead (`pair_negatives` random negatives per user, each paired with
    every positive of that user), so it optimises the order within a user rather than calibration across users."""
    if not 0 < neg_fraction <= 1:
        raise ConfigError(f"neg_fraction must lie in (0, 1], got {neg_fraction}")
    if objective not in ("pointwise", "pairwise"):
        raise ConfigError(f"objective must be 'pointwise' or 'pairwise', got '{objective}'")
    names = FEATURES if context.item_features is not None else BASE_FEATURES
    labels = is_member(candidates.items, sp.csr_matrix(held_out), candidates.user_idx)
    users_with_pos = np.asarray(labels.any(axis=1))
    if not users_with_pos.any():
        raise DataError("no retrieved candidate is a held-out interaction; nothing to learn a ranker from")
    features = candidate_features(candidates, context, names)
    rng = numpy_rng(seed, Stream.RANKER_PAIRS)
    in_scope = candidates.valid & users_with_pos[:, None]
    mean = features[in_scope].mean(axis=0, dtype=np.float64)
    std = np.maximum(features[in_scope].std(axis=0, dtype=np.float64), 1e-6)
    if objective == "pointwise":
        keep = in_scope & (labels | (rng.random(labels.shape) < neg_fraction))
        x, y = (features[keep] - mean) / std, labels[keep].astype(np.float64)
    else:
        x, y = _pair_differences(features, labels, in_scope, pair_negatives, rng, std)
    weights, bias, loss = _fit_logistic(x, y, l2, max_iter)
    report = {
        "objective": objective,
        "examples": len(y),
        "positives": int(labels[in_scope].sum()),
        "users": int(users_with_pos.sum()),
        "users_without_positive": int((~users_with_pos).sum()),
        "neg_fraction": neg_fraction,
        "pair_negatives": pair_negatives,
        "l2": l2,
        "final_loss": loss,
        "seed": seed,
    }
    logger.info("learned ranker: %s", report)
    return LearnedRanker(
        names, weights.astype(np.float32), float(bias), mean.astype(np.float32), std.astype(np.float32), report
    )


def _pair_differences(
    features: np.ndarray, labels: np.ndarray, in_scope: np.ndarray, m: int, rng: np.random.Generator, std: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Standardised differences x(pos) − x(neg) labelled 1, and their negations labelled 0 (so the fitted
    bias is ~0): each positive paired with `m` negatives drawn at random from its user's candidates."""
    # Random keys, +inf for non-negatives: the m smallest keys of a row are m uniform negatives (fewer exist: inf).
    keys = np.where(in_scope & ~labels, rng.random(labels.shape), np.inf)
    neg_cols = np.argsort(keys, axis=1)[:, :m]
    neg_ok = np.take_along_axis(keys, neg_cols, axis=1) < np.inf
    rows, cols = np.nonzero(in_scope & labels)
    diffs = features[rows, cols][:, None, :] - features[rows[:, None], neg_cols[rows]]
    d = diffs[neg_ok[rows]] / std
    return np.vstack([d, -d]), np.concatenate([np.ones(len(d)), np.zeros(len(d))])


def _fit_logistic(x: np.ndarray, y: np.ndarray, l2: float, max_iter: int) -> tuple[np.ndarray, float, float]:
    """Minimise mean BCE(sigmoid(x·w + b), y) + l2·|w|² with full-batch L-BFGS; return (w, b, final loss)."""
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    w = torch.zeros(x.shape[1], dtype=torch.float64, requires_grad=True)
    b = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.LBFGS([w, b], max_iter=max_iter, line_search_fn="strong_wolfe")

    def objective() -> torch.Tensor:
        return torch.nn.functional.binary_cross_entropy_with_logits(xt @ w + b, yt) + l2 * (w * w).sum()

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = objective()
        loss.backward()
        return loss

    optimizer.step(closure)
    with torch.no_grad():
        final = float(objective())
    return w.detach().numpy().copy(), float(b.detach()[0]), final
