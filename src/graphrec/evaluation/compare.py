"""Comparing runs on the same held-out users: bootstrap confidence intervals, paired tests, effect sizes.

Every run is evaluated on the same users ``U`` (``n = |U|``: the users with a target item, those unknown to training
included, each scoring 0 on every metric, as in ``graphrec evaluate``). For a run ``r`` and a metric ``m`` (e.g.
``recall@20``), ``x_r(u)`` is user ``u``'s value, and against the baseline ``b`` the paired difference is
``d(u) = x_r(u) − x_b(u)``.

* mean: ``x̄_r = (1/n) Σ_u x_r(u)``, equal to ``graphrec evaluate``'s value of the metric;
* 95% confidence interval: percentile bootstrap over users: ``B`` resamples of ``n`` users drawn with replacement
  (the same resamples for every run and metric, from ``numpy_rng(seed, Stream.BOOTSTRAP_USERS)``), the 2.5% and
  97.5% quantiles of the resampled means; the interval of the mean difference ``d̄`` comes from the same resamples;
* effect size: the mean difference ``d̄`` and Cohen's ``d_z = d̄ / s_d`` (``s_d`` the sample standard deviation of
  the differences, ddof 1; 0 when every difference is 0, ±inf when they are all the same non-zero value);
* paired t-test: ``scipy.stats.ttest_rel(x_r, x_b)`` (two-sided); Wilcoxon signed-rank test:
  ``scipy.stats.wilcoxon(d)`` (two-sided, zero differences dropped); both p-values are 1 when every difference is 0;
* Holm correction, per metric across the ``m`` compared runs (every run but the baseline): with the p-values sorted
  ``p_(1) ≤ … ≤ p_(m)``, ``p̃_(i) = max_{j ≤ i} min(1, (m − j + 1) · p_(j))``.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.stats

from graphrec.errors import ConfigError, DataError
from graphrec.seeding import Stream, numpy_rng

BOOTSTRAP_RESAMPLES = 1000
CONFIDENCE = 0.95
_BLOCK_CELLS = 1 << 22  # resamples × users drawn at once (bounds the memory of one block of resample counts)


@dataclass(frozen=True)
class UserValues:
    """One run's per-user metric values on one split: ``per_user[name]`` float64 (len(rows),) for the evaluated
    users `rows` known to training, plus `zeros` users unknown to training (0 on every metric)."""

    rows: np.ndarray
    per_user: dict[str, np.ndarray]
    zeros: int = 0

    def vector(self, name: str) -> np.ndarray:
        """The values of metric `name` over every evaluated user, the unknown ones (zeros) last."""
        return np.concatenate([self.per_user[name], np.zeros(self.zeros)])


def holm(p_values: np.ndarray) -> np.ndarray:
    """Holm's step-down adjustment of `p_values` (one family, any order): see the module docstring."""
    p = np.asarray(p_values, dtype=np.float64)
    m = len(p)
    if m == 0:
        return p.copy()
    order = np.argsort(p, kind="stable")
    stepped = np.minimum(1.0, np.maximum.accumulate((m - np.arange(m)) * p[order]))
    adjusted = np.empty(m)
    adjusted[order] = stepped
    return adjusted


def bootstrap_means(values: np.ndarray, resamples: int, seed: int) -> np.ndarray:
    """(series, resamples) means of `values` (series × n users) over `resamples` bootstrap resamples of the users.

    Each resample is a vector of counts (how often each user was drawn); the means of every series are one matrix
    product with it, so memory is one block of counts, not series × resamples × n."""
    series, n = values.shape
    rng = numpy_rng(seed, Stream.BOOTSTRAP_USERS)
    block = max(1, _BLOCK_CELLS // max(n, 1))
    out = np.empty((series, resamples))
    for start in range(0, resamples, block):
        b = min(block, resamples - start)
        draws = rng.integers(0, n, size=(b, n)) + (np.arange(b, dtype=np.int64) * n)[:, None]
        counts = np.bincount(draws.ravel(), minlength=b * n).reshape(b, n)
        out[:, start : start + b] = values @ counts.T.astype(np.float64) / n
    return out


def _interval(means: np.ndarray, confidence: float) -> np.ndarray:
    """(series, 2) percentile interval of bootstrap `means` (series × resamples)."""
    tail = (1.0 - confidence) / 2
    return np.quantile(means, [tail, 1.0 - tail], axis=1).T


def paired_tests(run: np.ndarray, base: np.ndarray) -> dict[str, np.ndarray]:
    """Per metric (rows of the metrics × users arrays): mean difference, Cohen's d_z, t-test and Wilcoxon p."""
    diff = run - base
    mean = diff.mean(axis=1)
    std = diff.std(axis=1, ddof=1) if diff.shape[1] > 1 else np.zeros(len(diff))
    same = np.all(diff == 0, axis=1)
    with warnings.catch_warnings(), np.errstate(divide="ignore", invalid="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)  # nearly identical runs: scipy's precision warnings
        cohen = np.where(same, 0.0, mean / std)
        t_p = np.asarray(scipy.stats.ttest_rel(run, base, axis=1).pvalue, dtype=np.float64)
        w_p = np.asarray(scipy.stats.wilcoxon(np.where(same[:, None], 1.0, diff), axis=1).pvalue, dtype=np.float64)
    return {
        "mean_diff": mean,
        "cohens_d": cohen,
        "t_p": np.where(same, 1.0, t_p),
        "wilcoxon_p": np.where(same, 1.0, w_p),
    }


def check_same_users(runs: Mapping[str, UserValues]) -> None:
    """DataError unless every run was evaluated on the same users (same rows, same unknown users)."""
    (first, ref), *rest = runs.items()
    for label, values in rest:
        if values.zeros != ref.zeros or not np.array_equal(values.rows, ref.rows):
            raise DataError(
                f"compare: the runs must be evaluated on the same users, got {len(values.rows) + values.zeros} "
                f"users for '{label}' and {len(ref.rows) + ref.zeros} for '{first}'; compare runs of the same data"
            )


def compare(
    runs: Mapping[str, UserValues],
    baseline: str,
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = 0,
    confidence: float = CONFIDENCE,
) -> dict[str, Any]:
    """Means with bootstrap intervals of every run, and paired tests of every other run against `baseline`.

    Returns a JSON-ready dict: ``runs[label][metric] = {"mean", "ci"}`` and ``tests[label][metric] = {"mean_diff",
    "diff_ci", "cohens_d", "t_p", "t_p_holm", "wilcoxon_p", "wilcoxon_p_holm"}`` (see the module docstring), plus
    ``baseline``, ``metrics``, ``num_users`` and ``bootstrap`` (resamples, seed, confidence)."""
    if baseline not in runs or len(runs) < 2:
        raise ConfigError(
            f"compare: expected at least two runs, the baseline among them, got {len(runs)} run(s) and baseline "
            f"'{baseline}'; pass two or more run directories"
        )
    labels = [baseline, *(label for label in runs if label != baseline)]
    result, values, means = _described(runs, labels, resamples, seed, confidence)
    result["tests"] = _tests(labels, result["metrics"], values, means, confidence)
    return result


def describe(
    runs: Mapping[str, UserValues], resamples: int = BOOTSTRAP_RESAMPLES, seed: int = 0, confidence: float = CONFIDENCE
) -> dict[str, Any]:
    """:func:`compare` without the tests (one run or more, in their order): ``runs[label][metric] = {"mean",
    "ci"}``, ``metrics``, ``num_users``, ``bootstrap``, and ``baseline`` (the first run)."""
    if not runs:
        raise ConfigError("describe: expected at least one run, got none; pass a run directory")
    return _described(runs, list(runs), resamples, seed, confidence)[0]


def _described(
    runs: Mapping[str, UserValues], labels: list[str], resamples: int, seed: int, confidence: float
) -> tuple[dict[str, Any], np.ndarray, np.ndarray]:
    """The result dict with ``runs`` filled (and ``tests`` empty), the values (runs × metrics × users) and the
    bootstrap means (runs × metrics × resamples)."""
    if resamples < 1:
        raise ConfigError(f"compare: bootstrap resamples must be ≥ 1, got {resamples}; e.g. 1000")
    check_same_users(runs)
    metrics = list(runs[labels[0]].per_user)
    values = np.stack([np.stack([runs[label].vector(m) for m in metrics]) for label in labels])  # runs × metrics × n
    n = values.shape[2]
    means = bootstrap_means(values.reshape(-1, n), resamples, seed).reshape(len(labels), len(metrics), resamples)
    result: dict[str, Any] = {
        "baseline": labels[0],
        "metrics": metrics,
        "num_users": n,
        "bootstrap": {"resamples": resamples, "seed": seed, "confidence": confidence},
        "runs": {},
        "tests": {},
    }
    for r, label in enumerate(labels):
        ci = _interval(means[r], confidence)
        sums = runs[label].per_user  # summed as graphrec evaluate sums them: the means are equal to the bit
        result["runs"][label] = {
            m: {"mean": float(sums[m].sum() / n), "ci": ci[j].tolist()} for j, m in enumerate(metrics)
        }
    return result, values, means


def _tests(
    labels: list[str], metrics: list[str], values: np.ndarray, means: np.ndarray, confidence: float
) -> dict[str, dict[str, dict[str, Any]]]:
    """Paired tests of runs 1.. against run 0, Holm-adjusted per metric across the compared runs."""
    per_run = [paired_tests(values[r], values[0]) for r in range(1, len(labels))]
    adjusted = {
        key: np.stack([holm(np.array([tests[key][j] for tests in per_run])) for j in range(len(metrics))], axis=1)
        for key in ("t_p", "wilcoxon_p")
    }  # (compared runs, metrics)
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for i, tests in enumerate(per_run):
        diff_ci = _interval(means[i + 1] - means[0], confidence)
        out[labels[i + 1]] = {
            m: {
                "mean_diff": float(tests["mean_diff"][j]),
                "diff_ci": diff_ci[j].tolist(),
                "cohens_d": _finite_or_none(tests["cohens_d"][j]),
                "t_p": float(tests["t_p"][j]),
                "t_p_holm": float(adjusted["t_p"][i, j]),
                "wilcoxon_p": float(tests["wilcoxon_p"][j]),
                "wilcoxon_p_holm": float(adjusted["wilcoxon_p"][i, j]),
            }
            for j, m in enumerate(metrics)
        }
    return out


def _finite_or_none(value: float) -> float | None:
    """JSON has no inf or nan: a Cohen's d of identical non-zero differences is reported as null."""
    return float(value) if math.isfinite(value) else None


def format_p(value: float) -> str:
    """A p-value as printed; one below the smallest normal float prints as a bound, not as 0."""
    if value < 1e-300:
        return "< 1e-300"
    return f"{value:.2e}" if value < 1e-3 else f"{value:.3f}"


def comparison_markdown(result: Mapping[str, Any]) -> str:
    """The result of :func:`compare` as Markdown: a table of means [95% CI] (one column per run), a table of the
    paired tests against the baseline, and a table of beyond-accuracy metrics when the result has them."""
    labels = list(result["runs"])
    level = round(100 * result["bootstrap"]["confidence"])
    lines = [
        f"Mean [{level}% bootstrap CI] over {result['num_users']} users; baseline: {result['baseline']}",
        "",
        "| metric | " + " | ".join(labels) + " |",
        "|---|" + "---|" * len(labels),
    ]
    for m in result["metrics"]:
        cells = [format_mean_ci(result["runs"][label][m]) for label in labels]
        lines.append(f"| {m} | " + " | ".join(cells) + " |")
    lines += [
        "",
        f"Paired tests against {result['baseline']} (p-values Holm-corrected across the compared runs)",
        "",
        "| metric | run | Δ mean [CI] | Cohen's d | p (t-test) | p (Wilcoxon) |",
        "|---|---|---|---|---|---|",
    ]
    for m in result["metrics"]:
        for label, tests in result["tests"].items():
            cells = test_cells(tests[m])
            lines.append(f"| {m} | {label} | " + " | ".join(cells) + " |")
    if result.get("beyond"):
        lines += ["", *_beyond_table(result["beyond"])]
    return "\n".join(lines) + "\n"


def test_cells(t: Mapping[str, Any]) -> list[str]:
    """One paired test as printed: Δ mean [CI], Cohen's d, Holm-corrected t-test and Wilcoxon p-values."""
    d = "–" if t["cohens_d"] is None else f"{t['cohens_d']:+.3f}"
    delta = f"{t['mean_diff']:+.4f} [{t['diff_ci'][0]:+.4f}, {t['diff_ci'][1]:+.4f}]"
    return [delta, d, format_p(t["t_p_holm"]), format_p(t["wilcoxon_p_holm"])]


def format_mean_ci(entry: Mapping[str, Any]) -> str:
    """A mean with its interval, as printed: ``0.1234 [0.1200, 0.1270]``."""
    return f"{entry['mean']:.4f} [{entry['ci'][0]:.4f}, {entry['ci'][1]:.4f}]"


def _beyond_table(beyond: Mapping[str, Mapping[str, float | int]]) -> list[str]:
    labels = list(beyond)
    names = list(next(iter(beyond.values())))
    lines = ["Beyond accuracy", "", "| metric | " + " | ".join(labels) + " |", "|---|" + "---|" * len(labels)]
    for name in names:
        cells = [_number(beyond[label].get(name)) for label in labels]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines


def _number(value: float | int | None) -> str:
    if value is None:
        return "–"
    return str(value) if isinstance(value, int) else f"{value:.4f}"
