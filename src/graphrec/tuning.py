"""`graphrec tune`: search a declared space (graphrec.config.space) on the validation split with Optuna's TPE sampler,
seeded with the run seed, within a trial count and/or a time budget; write every trial and the best config.

Every trial trains the config with the trial's values in this process — the data loaded once, no run directory —
as `graphrec train` would (the same seeding, model construction and trainer), and is ranked by its best validation
`train.metric`. The output directory holds::

    trials.csv, trials.json, trials.md   one row per trial: number, state, the values, the metric, seconds (rewritten
                                         after every trial, so an interrupted tune keeps the trials it ran)
    best.toml                            the best trial's config: `graphrec train --config best.toml` trains it
    tune.json                            the summary: the space, the budget, why the search stopped, the best trial

The time budget is Optuna's `timeout`: no trial starts once it is spent; the trial running then finishes. A trial
that fails (a diverged loss, a combination of values the config refuses) is recorded as failed and the search goes
on; the space itself is checked before any data is read. Torch and Optuna are imported when the search starts.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from graphrec.config import RunConfig, apply_overrides, config_to_toml
from graphrec.config.params import literal
from graphrec.config.space import Dimension, default_space, load_space, resolve_space
from graphrec.config.train import TrainConfig
from graphrec.errors import ConfigError, GraphrecError
from graphrec.io import atomic_write_text

if TYPE_CHECKING:
    import numpy as np
    import optuna

    from graphrec.data import Dataset
    from graphrec.training.trainer import TrainResult

logger = logging.getLogger(__name__)

DEFAULT_TRIALS = 20  # when neither a trial count nor a time budget is given
SUMMARY_FILE, BEST_CONFIG_FILE = "tune.json", "best.toml"


@dataclass
class TrialRow:
    """One trial of the results table."""

    trial: int  # 1, 2, … (Optuna's trial number + 1)
    state: str  # "complete" | "failed"
    params: dict[str, Any]
    value: float | None
    seconds: float
    valid: dict[str, float] = field(default_factory=dict)
    error: str | None = None


def tune(
    config: RunConfig,
    out_dir: str | Path,
    space: str | Path | None = None,
    trials: int | None = None,
    time_budget_s: float | None = None,
) -> dict[str, Any]:
    """Search `space` (a TOML file with a [tune] table; None: the model's built-in space) for `config`'s model on
    its validation split; write the trials, the best config and the summary into `out_dir`; return the summary."""
    config.validate()
    dimensions = resolve_space(load_space(space) if space is not None else default_space(config.model.name), config)
    trials = _trial_limit(trials, time_budget_s, dimensions)
    out_dir = Path(out_dir)
    if (out_dir / SUMMARY_FILE).exists():
        raise ConfigError(f"output directory '{out_dir}' already holds a finished tune; pass a new --out")
    return _search(config, dimensions, out_dir, trials, time_budget_s)


def _trial_limit(trials: int | None, time_budget_s: float | None, dimensions: list[Dimension]) -> int | None:
    if trials is not None and (isinstance(trials, bool) or not isinstance(trials, int) or trials < 1):
        raise ConfigError(f"trials: expected an integer ≥ 1, got {literal(trials)}; pass e.g. --trials 20")
    if time_budget_s is not None and not (math.isfinite(time_budget_s) and time_budget_s > 0):
        raise ConfigError(
            f"time budget: expected a number of seconds > 0, got {literal(time_budget_s)}; pass e.g. "
            "--time-budget-s 600"
        )
    if not dimensions:
        logger.warning("the search space is empty: one trial of the config as it is")
        return 1
    if trials is None and time_budget_s is None:
        return DEFAULT_TRIALS
    return trials


def _search(
    config: RunConfig, dimensions: list[Dimension], out_dir: Path, trials: int | None, time_budget_s: float | None
) -> dict[str, Any]:
    """Load the data once, run the study, write the best config and the summary."""
    import optuna

    from graphrec.data import load_dataset
    from graphrec.runs import data_seed, model_inputs

    started = time.perf_counter()
    dataset = load_dataset(config.data, seed=data_seed(config))
    if dataset.valid.nnz == 0:
        raise ConfigError(
            "data: tune ranks trials on the validation split, and this data has none (no valid.txt and "
            "data.valid_ratio = 0); set e.g. data.valid_ratio = 0.1, or add a valid.txt"
        )
    search = _Search(config, dimensions, out_dir, dataset, model_inputs(config, dataset), trials)
    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # the search logs each trial itself
    try:
        study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=config.seed))
        study.optimize(search.trial, n_trials=trials, timeout=time_budget_s, catch=(GraphrecError,))
    finally:
        optuna.logging.set_verbosity(verbosity)
    return search.finish(time_budget_s, time.perf_counter() - started)


class _Search:
    """The trials of one study: each trained in process on the one dataset, the tables rewritten after each."""

    def __init__(
        self,
        config: RunConfig,
        dimensions: list[Dimension],
        out_dir: Path,
        dataset: Dataset,
        inputs: dict[str, np.ndarray],
        limit: int | None,
    ) -> None:
        self.config, self.dimensions, self.out_dir = config, dimensions, out_dir
        self.dataset, self.inputs, self.limit = dataset, inputs, limit
        self.metric = config.train.metric
        self.quiet = isinstance(config.train, TrainConfig)  # trials of trained models show no progress bar
        self.rows: list[TrialRow] = []
        self.failures: list[GraphrecError] = []

    def trial(self, trial: optuna.Trial) -> float:
        params = {d.key: suggest(trial, d) for d in self.dimensions}
        number = trial.number + 1
        started = time.perf_counter()
        try:
            result = self._fit(apply_overrides(self.config, overrides(params, quiet=self.quiet)))
        except GraphrecError as exc:
            self.failures.append(exc)
            self._record(TrialRow(number, "failed", params, None, _since(started), error=str(exc)))
            logger.warning("trial %s failed: %s", self._number(number), exc)
            raise
        value = float(result.best_valid[self.metric])
        self._record(TrialRow(number, "complete", params, value, _since(started), dict(result.best_valid)))
        best = self.best()
        logger.info(
            "trial %s: %s → valid %s %.5f in %.1f s (best %.5f, trial %d)",
            self._number(number),
            ", ".join(f"{k}={_short(v)}" for k, v in params.items()) or "the config as it is",
            self.metric,
            value,
            self.rows[-1].seconds,
            best.value,
            best.trial,
        )
        return value

    def _fit(self, config: RunConfig) -> TrainResult:
        """The trial trained as graphrec.runs.train trains a run (without writing one)."""
        from graphrec.models import build_model
        from graphrec.seeding import seed_everything
        from graphrec.training.trainer import Trainer

        dataset = self.dataset
        seed_everything(config.seed)
        model = build_model(config.model, dataset.num_users, dataset.num_items, dataset.train, **self.inputs)
        return Trainer(model, dataset, config.train, config.eval, config.seed).fit()

    def best(self) -> TrialRow:
        """The complete trial of the highest metric (ties: the first)."""
        return max((r for r in self.rows if r.value is not None), key=lambda r: r.value or 0.0)

    def _number(self, number: int) -> str:
        return f"{number}/{self.limit}" if self.limit is not None else str(number)

    def _record(self, row: TrialRow) -> None:
        self.rows.append(row)
        write_tables(self.out_dir, self.rows, [d.key for d in self.dimensions], self.metric)

    def finish(self, time_budget_s: float | None, seconds: float) -> dict[str, Any]:
        if not any(r.value is not None for r in self.rows):
            first = self.failures[0] if self.failures else ConfigError("no trial ran")
            raise type(first)(f"no trial of the tune completed; trial 1 failed: {first}")
        best = self.best()
        best_config = apply_overrides(self.config, overrides(best.params))
        atomic_write_text(self.out_dir / BEST_CONFIG_FILE, config_to_toml(best_config))
        summary = {
            "model": self.config.model.name,
            "metric": self.metric,
            "sampler": f"optuna TPESampler(seed={self.config.seed})",
            "space": {d.key: d.describe() for d in self.dimensions},
            "trials": len(self.rows),
            "complete": sum(r.value is not None for r in self.rows),
            "failed": sum(r.value is None for r in self.rows),
            "trial_limit": self.limit,
            "time_budget_s": time_budget_s,
            "stopped_by": "trials" if self.limit is not None and len(self.rows) >= self.limit else "time_budget",
            "seconds": round(seconds, 3),
            "best": {"trial": best.trial, "value": best.value, "params": best.params, "valid": best.valid},
            "best_config": str(self.out_dir / BEST_CONFIG_FILE),
        }
        atomic_write_text(self.out_dir / SUMMARY_FILE, json.dumps(summary, indent=2))
        logger.info(
            "tune: best valid %s %.5f at trial %d of %d; train it: graphrec train --config %s",
            self.metric,
            best.value,
            best.trial,
            len(self.rows),
            self.out_dir / BEST_CONFIG_FILE,
        )
        return summary


def suggest(trial: optuna.Trial, dimension: Dimension) -> Any:
    """The trial's value of one dimension (Optuna's categorical, int or float distributions)."""
    d = dimension
    if d.choices is not None:
        return trial.suggest_categorical(d.key, list(d.choices))
    assert d.low is not None and d.high is not None  # a range has both (graphrec.config.space)
    if d.integer:
        return trial.suggest_int(d.key, int(d.low), int(d.high), step=int(d.step or 1), log=d.log)
    return trial.suggest_float(d.key, d.low, d.high, step=d.step, log=d.log)


def overrides(params: dict[str, Any], quiet: bool = False) -> list[str]:
    """`--set` overrides of a trial's values; `quiet`: without a progress bar (for a trained model's train section)."""
    values = [f"{key}={literal(value)}" for key, value in params.items()]
    return [*values, "train.show_progress=false"] if quiet else values


def write_tables(out_dir: Path, rows: list[TrialRow], keys: list[str], metric: str) -> None:
    """trials.json (every field), trials.csv and trials.md (trial, state, the values, the metric, seconds)."""
    atomic_write_text(out_dir / "trials.json", json.dumps([asdict(r) for r in rows], indent=2))
    header = ["trial", "state", *keys, metric, "seconds", "error"]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    for r in rows:
        writer.writerow([r.trial, r.state, *(r.params.get(k) for k in keys), r.value, r.seconds, r.error or ""])
    atomic_write_text(out_dir / "trials.csv", buffer.getvalue())
    best = max((r.value for r in rows if r.value is not None), default=None)
    lines = ["| " + " | ".join(header[:-1]) + " |", "|" + " --- |" * (len(header) - 1)]
    for r in rows:
        state = "best" if r.value is not None and r.value == best else r.state
        value = f"{r.value:.5f}" if r.value is not None else "—"
        cells = [str(r.trial), state, *(_short(r.params.get(k)) for k in keys), value, f"{r.seconds:.1f}"]
        lines.append("| " + " | ".join(cells) + " |")
    atomic_write_text(out_dir / "trials.md", "\n".join(lines) + "\n")


def _short(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _since(started: float) -> float:
    return round(time.perf_counter() - started, 3)


__all__ = ["DEFAULT_TRIALS", "TrialRow", "overrides", "suggest", "tune", "write_tables"]
