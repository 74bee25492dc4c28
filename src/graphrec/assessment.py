"""Evaluating run directories on a held-out split: one run's metrics (``graphrec evaluate``), several runs side by
side (``graphrec compare``), and the per-user values and ranked lists the report draws from.

A run is evaluated on the data it was trained on, split as it was (or on another data directory), with its held-out
pairs re-indexed into the run's id maps; pairs naming a user or item the run never saw count as misses under
``data.unseen_policy = "miss"`` (:mod:`graphrec.evaluation.metrics`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from graphrec.config.sections import data_source
from graphrec.data import Dataset, load_dataset
from graphrec.errors import ConfigError
from graphrec.evaluation.beyond import beyond_metrics
from graphrec.evaluation.compare import BOOTSTRAP_RESAMPLES, UserValues, compare
from graphrec.evaluation.metrics import UnseenTargets, evaluate_scorer_users, mean_metrics
from graphrec.retrieval import top_k_items
from graphrec.rundir import LoadedRun, check_same_data, data_seed, load_run

logger = logging.getLogger(__name__)


def _remap(
    matrix: sp.csr_matrix, source: Dataset, run: LoadedRun, unseen: tuple[np.ndarray, np.ndarray] | None = None
) -> tuple[sp.csr_matrix, UnseenTargets]:
    """Re-index a held-out matrix from the dataset's id maps into the run's, with what the run never saw.

    Returns the matrix of pairs the run knows and, as :class:`UnseenTargets` in the run's user indices, the pairs
    naming a user or item the run never saw: those of `matrix` whose ids are not in the run, plus the dataset's
    own `unseen` pairs (external ids; kept by ``data.unseen_policy = "miss"``).
    """
    coo = matrix.tocoo()
    user_ids = np.asarray(source.user_ids.ids, dtype=object)[coo.row]
    item_ids = np.asarray(source.item_ids.ids, dtype=object)[coo.col]
    same = source.user_ids.ids == run.user_ids.ids and source.item_ids.ids == run.item_ids.ids
    users = coo.row.astype(np.int64) if same else run.user_ids.indices(user_ids)
    items = coo.col.astype(np.int64) if same else run.item_ids.indices(item_ids)
    known = (users >= 0) & (items >= 0)
    extra_users = unseen[0] if unseen is not None else np.zeros(0, object)
    missing_ids = np.concatenate([user_ids[~known], np.asarray(extra_users, dtype=object)])
    missing_idx = np.concatenate(
        [users[~known], run.user_ids.indices(extra_users) if len(extra_users) else np.zeros(0, np.int64)]
    )
    missing = UnseenTargets.of(missing_idx, missing_ids, len(run.user_ids))
    if same:
        return matrix, missing
    return sp.csr_matrix(
        (np.ones(known.sum(), dtype=np.float32), (users[known], items[known])), shape=run.train.shape
    ), missing


def evaluate_run(
    run_dir: str | Path, split: str, ks: list[int], data_path: str | None = None, beyond: bool = False
) -> dict[str, Any]:
    """Full-ranking metrics of a run's best model on the valid or test split of its data (or of `data_path`).

    Held-out interactions naming a user or item the run never saw count as misses under ``data.unseen_policy =
    "miss"`` (the default; see :mod:`graphrec.evaluation.metrics`) and are left out under "drop" (rows dropped at load
    are counted as loaded); either way the
    result reports how many there were (``unseen_interactions``, ``unseen_users``). With `beyond`, the result also
    holds the beyond-accuracy metrics of :mod:`graphrec.evaluation.beyond` (one more scoring pass).
    """
    check_split(split)
    run = load_run(run_dir)
    values, counts, more = _user_values(run, run_dataset(run, data_path), split, ks, beyond)
    return {**mean_metrics(values.per_user, values.zeros), **counts, **more}


def check_split(split: str) -> None:
    if split not in ("valid", "test"):
        raise ConfigError(f"--split must be 'valid' or 'test', got '{split}'")


def run_dataset(run: LoadedRun, data_path: str | None) -> Dataset:
    """The data `run` was trained on (or the directory `data_path`), split as it was; `run.config.data` is updated
    to name `data_path`."""
    if data_path is not None:
        source = data_source(data_path)
        data_config = run.config.data
        data_config.path, data_config.interactions = source["path"], source["interactions"]
        if data_config.path is not None and data_config.split not in ("auto", "given"):
            data_config.split = "auto"  # a directory is split already
    return load_dataset(run.config.data, seed=data_seed(run.config))


@dataclass(frozen=True)
class SplitScores:
    """One run scored on one split: the per-user metric values, the unseen counts, the held-out pairs the run knows
    (run indices), what was excluded from ranking, and with ``top_k`` the users' ranked lists."""

    values: UserValues
    counts: dict[str, int]
    target: sp.csr_matrix
    exclude: list[sp.csr_matrix]
    top: np.ndarray | None  # int64 (len(values.rows), top_k), -1 padded; None unless asked for


def score_split(
    run: LoadedRun, dataset: Dataset, split: str, ks: list[int], top_k: int = 0, users: np.ndarray | None = None
) -> SplitScores:
    """Per-user metric values of `run` on `split` of `dataset` (users unknown to training as zeros under
    ``unseen_policy = "miss"``), the counts ``unseen_interactions`` and ``unseen_users``, and with `top_k` > 0 the
    evaluated users' top-`top_k` lists (one more scoring pass). `users`: only these user_idx (each with a target; a
    sample for a large benchmark), and no unseen users counted."""
    pairs = dataset.unseen.get(split) if dataset.unseen is not None else None
    target, unseen = _remap(dataset.split(split), dataset, run, pairs)
    exclude = [run.train] + ([_remap(dataset.valid, dataset, run)[0]] if split == "test" else [])
    chunk_size = run.config.eval.chunk_size
    counts = unseen.report()
    if run.config.data.unseen_policy == "drop":
        dropped = dataset.stats.get("unseen", {}).get(split, {})
        counts = {
            "unseen_interactions": unseen.interactions + int(dropped.get("rows", 0)),
            "unseen_users": unseen.users + int(dropped.get("users", 0)),
        }
        if unseen.interactions:
            logger.warning(
                "%d held-out interactions name users or items this run never saw; dropped", unseen.interactions
            )
        unseen = UnseenTargets.none(len(run.user_ids))
    if users is not None:
        unseen = UnseenTargets.none(len(run.user_ids))
    rows, per_user = evaluate_scorer_users(run.scorer(), target, exclude, ks, chunk_size, rows=users, unseen=unseen)
    top = top_k_items(run.scorer(), rows, min(top_k, run.train.shape[1]), exclude, chunk_size)[0] if top_k else None
    return SplitScores(UserValues(rows, per_user, unseen.users), counts, target, exclude, top)


def _user_values(
    run: LoadedRun, dataset: Dataset, split: str, ks: list[int], beyond: bool = False
) -> tuple[UserValues, dict[str, int], dict[str, float | int]]:
    """:func:`score_split`'s values and counts, and with `beyond` the beyond-accuracy metrics (else an empty
    dict)."""
    scores = score_split(run, dataset, split, ks, top_k=max(ks) if beyond else 0)
    if scores.top is None:
        return scores.values, scores.counts, {}
    more = beyond_metrics(scores.top, scores.values.rows, run.train, scores.target, ks, scores.values.per_user)
    return scores.values, scores.counts, more


def compare_runs(
    run_dirs: Sequence[str | Path],
    split: str,
    ks: list[int],
    baseline: str | Path | None = None,
    data_path: str | None = None,
    seed: int = 0,
    resamples: int = BOOTSTRAP_RESAMPLES,
    beyond: bool = True,
) -> dict[str, Any]:
    """:func:`graphrec.evaluation.compare.compare` of the runs `run_dirs` on `split`, against `baseline` (default:
    the first run; one not among `run_dirs` is added first), with each run's beyond-accuracy metrics under
    ``beyond`` unless `beyond` is false. Every run must have been trained on the same data (the same data config and
    split seed, the same user and item ids): DataError otherwise, before anything is evaluated. Each run's means are
    those of :func:`evaluate_run`."""
    check_split(split)
    labels = _compare_labels(run_dirs, baseline)
    check_same_data(labels)
    values, more = {}, {}
    dataset: Dataset | None = None
    for label in labels:
        run = load_run(label)
        dataset = dataset if dataset is not None else run_dataset(run, data_path)
        values[label], _, more[label] = _user_values(run, dataset, split, ks, beyond)
    result = compare(values, labels[0], resamples, seed)
    return {"split": split, "ks": list(ks), **result, **({"beyond": more} if beyond else {})}


def _compare_labels(run_dirs: Sequence[str | Path], baseline: str | Path | None) -> list[str]:
    """The run directories as given, the baseline first; ConfigError for a run given twice."""
    labels = [str(d) for d in run_dirs]
    if baseline is not None:
        found = [label for label in labels if Path(label).resolve() == Path(baseline).resolve()]
        labels = [str(baseline), *labels] if not found else [found[0], *(x for x in labels if x != found[0])]
    resolved = [Path(label).resolve() for label in labels]
    repeated = next((label for label, path in zip(labels, resolved, strict=True) if resolved.count(path) > 1), None)
    if repeated is not None:
        raise ConfigError(f"compare: each run once, got '{repeated}' more than once; drop the repeated run")
    if len(labels) < 2:
        raise ConfigError(f"compare: expected at least two runs, got {len(labels)}; pass two or more run directories")
    return labels
