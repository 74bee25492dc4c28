"""Blend: the weighted sum of the per-user normalised scores of two or more trained runs, a model that only scores.

    s_u = Σ_j w_j · norm(s_u^(j))

`model.runs` are run directories trained on this data (the same training split, the same id maps: checked when
the blend is built, refused otherwise). Each member's scores are normalised per user over the items the user can
be recommended (the training items left out), so that members on different scales (popularity counts, cosine
sums, dot products) weigh what their weights say:

- ``zscore`` (the default): (s − mean) / std — keeps each member's whole score distribution, and one outlying
  score moves the rest little;
- ``minmax``: (s − min) / (max − min) — the top item of every member is 1, whatever the gap to the next;
- ``raw``: the scores as the member gives them.

On MovieLens-small (benchmarks/movielens_tune_blend.json, weights chosen on validation) zscore and minmax are level
— valid NDCG@20 0.1202 vs 0.1209 blending gfcf, itemknn and ease; 0.1088 vs 0.1079 blending gfcf, itemknn and
popularity — and raw is behind (0.1190, 0.1009: one member's scale swamps the others' at any grid weight). zscore
is the default because it reads every score of the user's list, not its two extremes.

Any positive per-user affine map keeps a member's ranking, so a member alone (weight 1, the others 0) ranks as the
member does. With `model.weights` unset the weights are chosen on the validation split (:meth:`Blend.select`):
every weighting on the simplex in steps of 1/`model.grid_steps` is evaluated in one pass over the users (member
scores computed once per chunk of users) and the best by `train.metric` is kept — each member alone is a
candidate, so the choice is at least as good on validation as every member. The weights are a persistent buffer:
a loaded blend loads its members and scores without choosing again.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.sparse as sp
import torch

from graphrec.config.models import BLEND_RUNS_EXAMPLE, BlendConfig, blend_runs_problem
from graphrec.config.params import error_message
from graphrec.errors import ConfigError, RunDirError
from graphrec.models._checks import binary_history
from graphrec.models.base import Objective, Recommender, SelectsOnValidation
from graphrec.models.scoring import HistoryScorer, Scorer

if TYPE_CHECKING:
    from graphrec.evaluation.validation import ValidationSplit
    from graphrec.rundir import LoadedRun

logger = logging.getLogger(__name__)


class Blend(Recommender, SelectsOnValidation):
    """s_u = Σ_j w_j · norm(s_u^(j)) over the runs of `model.runs`; weights given or chosen on validation."""

    name = "blend"
    objective = Objective.CLOSED_FORM
    config: BlendConfig
    weights: torch.Tensor

    def __init__(self, num_users: int, num_items: int, config: BlendConfig, train: sp.spmatrix) -> None:
        super().__init__(num_users, num_items, config, train)
        problem = blend_runs_problem(config.runs)  # RunConfig checks it too; a model can be built without one
        if problem is not None:
            raise ConfigError(error_message("model.runs", problem, config.runs, BLEND_RUNS_EXAMPLE))
        self.history = binary_history(train, num_users, num_items)
        self.members = load_members(config.runs, self.history)
        self.register_buffer("weights", torch.zeros(len(config.runs)))

    @torch.no_grad()
    def fit(self) -> None:
        """Given weights are taken as they are; otherwise :meth:`select` chooses them."""
        if self.config.weights is not None:
            self.weights.copy_(torch.tensor(self.config.weights, dtype=torch.float32))

    @torch.no_grad()
    def select(self, split: ValidationSplit | None) -> dict[str, Any]:
        """The best weighting of the simplex grid on `split` by its metric (ties: the first in grid order, which
        starts at the first member alone)."""
        report: dict[str, Any] = {
            "model": self.name,
            "normalise": self.config.normalise,
            "members": [
                {"run": str(Path(path).resolve()), "model": run.config.model.name}
                for path, run in zip(self.config.runs, self.members, strict=True)
            ],
        }
        if self.config.weights is not None:
            return {**report, "searched": False, "weights": _rounded(self.weights.numpy())}
        if split is None:
            raise ConfigError(
                error_message(
                    "model.weights",
                    "weights, since the data has no validation split to choose them on",
                    None,
                    [round(1 / len(self.members), 4)] * len(self.members),
                )
                + " (or keep a validation split: valid.txt or data.valid_ratio > 0)"
            )
        grid = simplex_grid(len(self.members), self.config.grid_steps)
        results = split.evaluate_candidates(self.candidate_scores(grid), len(grid), self.num_items)
        values = np.array([result[split.metric] for result in results])
        best = int(np.argmax(values))
        self.weights.copy_(torch.from_numpy(grid[best]))
        alone = [float(values[_vertex(grid, j)]) for j in range(len(self.members))]
        logger.info(
            "blend weights %s chosen on valid %s = %.5f among %d weightings (each member alone: %s)",
            [round(float(w), 4) for w in grid[best]],
            split.metric,
            values[best],
            len(grid),
            ", ".join(f"{v:.5f}" for v in alone),
        )
        candidates = [{"weights": _rounded(w), split.metric: float(v)} for w, v in zip(grid, values, strict=True)]
        return {
            **report,
            "searched": True,
            "metric": split.metric,
            "weights": _rounded(grid[best]),
            "value": float(values[best]),
            "members_alone": alone,
            "candidates": candidates,
        }

    def candidate_scores(self, grid: np.ndarray) -> Callable[[torch.Tensor], Iterator[torch.Tensor]]:
        """For a chunk of users, the blended scores of each weighting (row) of `grid` in turn; the members score
        the chunk once."""
        scorers = [run.scorer() for run in self.members]
        how = self.config.normalise

        def scores(user_idx: torch.Tensor) -> Iterator[torch.Tensor]:
            seen = self.history[np.asarray(user_idx, dtype=np.int64)]
            parts = [normalise_rows(scorer.score(user_idx), seen, how) for scorer in scorers]
            for weights in grid:
                yield weighted_sum(parts, weights)

        return scores

    def scorer(self) -> BlendScorer:
        scorers = [run.scorer() for run in self.members]
        cls = HistoryBlendScorer if all(isinstance(s, HistoryScorer) for s in scorers) else BlendScorer
        return cls(scorers, self.weights.numpy().copy(), self.history, self.config.normalise)


class BlendScorer:
    """Scores and item–item similarities of a blend (members' rows normalised, then weighted and summed)."""

    def __init__(self, scorers: Sequence[Scorer], weights: np.ndarray, history: sp.csr_matrix, how: str) -> None:
        self.scorers, self.weights, self.history, self.how = list(scorers), weights, history, how
        self.num_users, self.num_items = int(history.shape[0]), int(history.shape[1])

    def score(self, user_idx: torch.Tensor) -> torch.Tensor:
        seen = self.history[np.asarray(user_idx, dtype=np.int64)]
        return self._blend([s.score(user_idx) if w else None for s, w in self._members()], seen)

    def similar(self, item_idx: torch.Tensor) -> torch.Tensor:
        """The members' item–item rows, each normalised over every item, weighted and summed."""
        return self._blend([s.similar(item_idx) if w else None for s, w in self._members()], None)

    def _members(self) -> zip[tuple[Scorer, float]]:
        return zip(self.scorers, self.weights.tolist(), strict=True)

    def _blend(self, parts: list[torch.Tensor | None], seen: sp.csr_matrix | None) -> torch.Tensor:
        normalised = [normalise_rows(p, seen, self.how) if p is not None else None for p in parts]
        return weighted_sum(normalised, self.weights)


class HistoryBlendScorer(BlendScorer, HistoryScorer):
    """A blend of members that all score any item history: it does too (the service serves it exactly)."""

    def score_history(self, history: sp.csr_matrix) -> torch.Tensor:
        history = sp.csr_matrix(history, dtype=np.float32)
        members: list[torch.Tensor | None] = []
        for scorer, weight in self._members():
            assert isinstance(scorer, HistoryScorer)  # checked when the scorer was chosen
            members.append(scorer.score_history(history) if weight else None)
        return self._blend(members, history)


def weighted_sum(parts: Sequence[torch.Tensor | None], weights: np.ndarray) -> torch.Tensor:
    """Σ_j w_j · parts[j] in float32, members of weight 0 (or None) left out; the same arithmetic wherever a blend
    scores, so the weight search and the fitted blend give bit-identical scores."""
    out: torch.Tensor | None = None
    for part, weight in zip(parts, weights.tolist(), strict=True):
        if part is None or weight == 0:
            continue
        if out is None:
            out = part.float() * weight
        else:
            out.add_(part.float(), alpha=weight)
    if out is None:
        raise ValueError("a blend needs at least one member of weight > 0")
    return out


def normalise_rows(scores: torch.Tensor, seen: sp.csr_matrix | None, how: str) -> torch.Tensor:
    """Each row of `scores` normalised over its items not in `seen` (None: over every item): zscore, minmax or
    raw (see the module docstring). Rows with no spread (or no free item) are only shifted."""
    scores = scores.float()
    if how == "raw":
        return scores
    free = torch.ones(scores.shape, dtype=torch.bool)
    if seen is not None and seen.nnz:
        coo = seen.tocoo()
        free[torch.from_numpy(coo.row.astype(np.int64)), torch.from_numpy(coo.col.astype(np.int64))] = False
    if how == "zscore":
        count = free.sum(dim=1, keepdim=True).clamp_min(1)
        mean = torch.where(free, scores, 0.0).sum(dim=1, keepdim=True) / count
        centred = scores - mean
        std = (torch.where(free, centred, 0.0).square().sum(dim=1, keepdim=True) / count).sqrt()
        return centred / torch.where(std > 0, std, 1.0)
    if how != "minmax":
        raise ValueError(f"unknown normalisation {how!r}")  # declared choices: config.models.NORMALISATIONS
    low = torch.where(free, scores, torch.inf).amin(dim=1, keepdim=True)
    high = torch.where(free, scores, -torch.inf).amax(dim=1, keepdim=True)
    low = torch.where(torch.isfinite(low), low, 0.0)
    span = torch.where(torch.isfinite(high), high - low, 0.0)
    return (scores - low) / torch.where(span > 0, span, 1.0)


def simplex_grid(members: int, steps: int) -> np.ndarray:
    """Every weighting of `members` weights ≥ 0 summing to 1 in steps of 1/`steps` (float32, one per row), from
    (1, 0, …, 0) down to (0, …, 0, 1): stars and bars over `steps` units."""
    bars = np.array(list(itertools.combinations(range(steps + members - 1), members - 1)), dtype=np.int64)
    bars = bars.reshape(-1, members - 1)[::-1]
    edges = np.concatenate([np.full((len(bars), 1), -1), bars, np.full((len(bars), 1), steps + members - 1)], axis=1)
    return ((np.diff(edges, axis=1) - 1) / steps).astype(np.float32)


def _vertex(grid: np.ndarray, member: int) -> int:
    """The row of `grid` that is member `member` alone."""
    return int(np.flatnonzero(grid[:, member] == 1.0)[0])


def load_members(paths: Sequence[str], history: sp.csr_matrix) -> list[LoadedRun]:
    """The runs of `paths`, each checked to be trained on the training matrix `history` with the first's id maps."""
    from graphrec.rundir import load_run  # rundir builds models (this one included): imported when a blend is built

    members: list[LoadedRun] = []
    for position, path in enumerate(paths):
        key = f"model.runs[{position}]"
        try:
            run = load_run(path)
        except RunDirError as exc:
            raise type(exc)(f"{key}: {exc}") from None  # RunDirError or RunDirCorruptError
        check_member(run, key, path, history, members[0] if members else None)
        members.append(run)
    return members


def check_member(run: LoadedRun, key: str, path: str, history: sp.csr_matrix, first: LoadedRun | None) -> None:
    """ConfigError unless run `path` was trained on `history` (same users × items, same interactions) with the
    id maps of the first member."""
    fix = "blend runs trained on this data (the same data settings and seed), or train the member again on it"
    shape = (len(run.user_ids), len(run.item_ids))
    if shape != history.shape:
        raise ConfigError(
            f"{key}: run '{path}' has {shape[0]:,} users × {shape[1]:,} items, this data "
            f"{history.shape[0]:,} × {history.shape[1]:,}; {fix}"
        )
    if first is not None and (run.user_ids.ids != first.user_ids.ids or run.item_ids.ids != first.item_ids.ids):
        raise ConfigError(
            f"{key}: run '{path}' maps user or item ids to other positions than model.runs[0] '{first.run_dir}'; {fix}"
        )
    differ = int((sp.csr_matrix(run.train, dtype=np.float32) != history).nnz)
    if differ:
        raise ConfigError(
            f"{key}: run '{path}' was trained on other interactions: {differ:,} user–item pairs differ from this "
            f"data's training split; {fix}"
        )


def _rounded(weights: np.ndarray) -> list[float]:
    """float32 weights as the decimals they were written as (float32 of the result is the weight again)."""
    return [round(float(w), 6) for w in weights]
