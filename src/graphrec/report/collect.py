"""What a report shows, gathered from run directories: one scoring pass per run on one split, then tables, curves and
example lists computed from its per-user values and ranked lists.

Every number is the one ``graphrec evaluate`` / ``graphrec compare`` gives for the same run and split (the same
per-user values, the same bootstrap), so a report and the command line never disagree.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from graphrec.assessment import check_split, run_dataset, score_split
from graphrec.data import Dataset
from graphrec.data.readers import SPELLINGS, column_spelling
from graphrec.errors import ConfigError, DataError
from graphrec.evaluation.beyond import beyond_metrics, item_popularity, recommendation_counts
from graphrec.evaluation.compare import BOOTSTRAP_RESAMPLES, UserValues, compare, describe
from graphrec.evaluation.metrics import mean_metrics, validate_ks
from graphrec.rundir import LoadedRun, check_same_data, load_run
from graphrec.seeding import Stream, numpy_rng
from graphrec.training.trainer import METRICS_FILE

CURVE_MAX_K = 100  # Recall@K / NDCG@K curves for K = 1 … this (or the number of items)
SHOWN_K = 10  # items of each list shown for the example users
HISTORY_SHOWN = 10  # training items shown per example user
POPULARITY_BINS = 10  # items in this many equal-size groups by training popularity, most popular first
TITLE_COLUMNS = ("title", "name")


@dataclass
class RunSection:
    """One run as the report shows it."""

    label: str
    model: str
    config_toml: str
    summary: dict[str, Any]
    history: list[dict[str, Any]]
    metric: str  # the validation metric the run selected on
    curves: dict[str, list[float]] = field(default_factory=dict)  # "recall" / "ndcg" -> value at K = 1 … len
    beyond: dict[str, float | int] = field(default_factory=dict)
    recommended_share: list[float] = field(default_factory=list)  # share of top-K slots per popularity bin
    lists: dict[int, list[int]] = field(default_factory=dict)  # example user index -> top items (run indices)


@dataclass
class ExampleUser:
    user_id: str
    user_idx: int  # the run's index (the key of RunSection.lists)
    history: list[str]  # training items (external ids), at most HISTORY_SHOWN
    num_history: int
    held_out: set[str]


@dataclass
class ReportData:
    """Everything :mod:`graphrec.report.page` renders."""

    split: str
    ks: list[int]
    data: str
    num_users: int
    num_items: int
    runs: list[RunSection]
    table: dict[str, Any]  # graphrec.evaluation.compare.compare (≥ 2 runs) or describe (1 run)
    popularity_k: int
    training_share: list[float]  # share of training interactions per popularity bin
    examples: list[ExampleUser]
    titles: dict[str, str]  # item id -> title, when a catalogue is known
    item_ids: list[str]


def gather(
    run_dirs: Sequence[str | Path],
    split: str = "test",
    ks: Sequence[int] = (10, 20, 50),
    data_path: str | None = None,
    catalogue: str | Path | None = None,
    num_examples: int = 5,
    seed: int = 0,
    resamples: int = BOOTSTRAP_RESAMPLES,
) -> ReportData:
    """Score every run of `run_dirs` on `split` (runs of the same data only: DataError otherwise) and gather the
    report's tables, curves and `num_examples` example users (drawn with `seed`)."""
    check_split(split)
    labels = [str(d) for d in run_dirs]
    if not labels:
        raise ConfigError("report: expected at least one run directory, got none; pass RUN [RUN …]")
    if len(labels) > 1:
        check_same_data(labels)
    loaded = [load_run(label) for label in labels]
    dataset = run_dataset(loaded[0], data_path)
    num_items = loaded[0].train.shape[1]
    ks = validate_ks(list(ks), num_items)
    curve_ks = list(range(1, min(CURVE_MAX_K, num_items) + 1))
    all_ks = sorted(set(curve_ks) | set(ks))
    popularity = item_popularity(loaded[0].train)
    bins = _popularity_bins(popularity)
    sections, tables, tops = [], {}, []
    for label, run in zip(labels, loaded, strict=True):
        section, tables[label], top = _score_run(label, run, dataset, split, ks, all_ks, curve_ks, bins)
        sections.append(section)
        tops.append(top)
    stat = compare(tables, labels[0], resamples, seed) if len(labels) > 1 else describe(tables, resamples, seed)
    rows = tables[labels[0]].rows  # the same users for every run (compare / describe checked)
    examples = _examples(loaded[0], dataset, split, rows, num_examples, seed)
    positions = [int(np.flatnonzero(rows == user.user_idx)[0]) for user in examples]
    for section, top in zip(sections, tops, strict=True):
        section.lists = {
            user.user_idx: [int(i) for i in top[p, :SHOWN_K] if i >= 0]
            for user, p in zip(examples, positions, strict=True)
        }
    return ReportData(
        split=split,
        ks=ks,
        data=str(loaded[0].config.data.path or loaded[0].config.data.interactions),
        num_users=int(stat["num_users"]),
        num_items=num_items,
        runs=sections,
        table=stat,
        popularity_k=_popularity_k(ks),
        training_share=[float(popularity[b].sum() / max(popularity.sum(), 1)) for b in bins],
        examples=examples,
        titles=item_titles(loaded[0], catalogue),
        item_ids=[str(i) for i in loaded[0].item_ids.ids],
    )


def _score_run(
    label: str,
    run: LoadedRun,
    dataset: Dataset,
    split: str,
    ks: list[int],
    all_ks: list[int],
    curve_ks: list[int],
    bins: list[np.ndarray],
) -> tuple[RunSection, UserValues, np.ndarray]:
    """One scoring pass of `run`: its section, its per-user values at `ks` (for the table) and its users' ranked
    lists (rows of ``table.rows``)."""
    scores = score_split(run, dataset, split, all_ks, top_k=max(*ks, SHOWN_K))
    assert scores.top is not None
    values = scores.values
    means = mean_metrics(values.per_user, values.zeros)
    table_metrics = [f"{m}@{k}" for k in ks for m in ("recall", "ndcg", "precision", "hit_rate", "mrr")]
    table = UserValues(values.rows, {m: values.per_user[m] for m in table_metrics}, values.zeros)
    section = RunSection(
        label=label,
        model=run.config.model.name,
        config_toml=_read_text(run.run_dir / "config.toml"),
        summary=_read_json(run.run_dir / "summary.json"),
        history=read_history(run.run_dir),
        metric=str(getattr(run.config.train, "metric", "")),
        curves={m: [means[f"{m}@{k}"] for k in curve_ks] for m in ("recall", "ndcg")},
        beyond=beyond_metrics(scores.top, values.rows, run.train, scores.target, ks, table.per_user),
    )
    k = _popularity_k(ks)
    counts = recommendation_counts(scores.top, k, run.train.shape[1])
    section.recommended_share = [float(counts[b].sum() / max(counts.sum(), 1)) for b in bins]
    return section, table, scores.top


def _popularity_k(ks: list[int]) -> int:
    """The K the popularity plot and the bucket bars use: 20 when asked for, else the largest K."""
    return 20 if 20 in ks else max(ks)


def _popularity_bins(popularity: np.ndarray) -> list[np.ndarray]:
    """Item indices in POPULARITY_BINS groups of (nearly) equal size, most popular first (ties: smaller index)."""
    order = np.lexsort((np.arange(len(popularity)), -popularity))
    return [b for b in np.array_split(order, min(POPULARITY_BINS, len(order))) if len(b)]


def _examples(
    run: LoadedRun,
    dataset: Dataset,
    split: str,
    rows: np.ndarray,
    count: int,
    seed: int,
) -> list[ExampleUser]:
    """`count` of the evaluated users `rows` (known to training), drawn with `seed`, with their histories."""
    chosen = np.sort(numpy_rng(seed, Stream.REPORT_USERS).permutation(rows)[:count]) if len(rows) else rows
    held = dataset.split(split)
    out = []
    for user in chosen:
        user_id = run.user_ids.id_of(int(user))
        history = run.train.indices[run.train.indptr[user] : run.train.indptr[user + 1]]
        source_row = dataset.user_ids.index(user_id)
        targets = held.indices[held.indptr[source_row] : held.indptr[source_row + 1]]
        out.append(
            ExampleUser(
                user_id=str(user_id),
                user_idx=int(user),
                history=[str(run.item_ids.id_of(int(i))) for i in history[:HISTORY_SHOWN]],
                num_history=len(history),
                held_out={str(dataset.item_ids.id_of(int(i))) for i in targets},
            )
        )
    return out


def read_history(run_dir: Path) -> list[dict[str, Any]]:
    """The run's per-epoch records (metrics.jsonl); empty for a model without training."""
    path = run_dir / METRICS_FILE
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def item_titles(run: LoadedRun, catalogue: str | Path | None) -> dict[str, str]:
    """Item id -> title from `catalogue` (CSV, TSV or Parquet), else from the run's ``features.catalogue``; {}
    when neither is set. The item column is ``features.item_col`` or one of the usual spellings (``item_id``,
    ``movieId``, …); the title column is ``title`` or ``name``, else the first of ``features.text_cols``."""
    features = run.config.features
    path = Path(catalogue) if catalogue is not None else features.catalogue and Path(features.catalogue)
    if not path:
        return {}
    if not path.is_file():
        raise DataError(f"report: catalogue '{path}' does not exist; pass --catalogue FILE (e.g. movies.csv)")
    frame = _read_table(path)
    columns = [str(c) for c in frame.columns]
    item_col = next((c for c in columns if c == features.item_col), None) or next(
        (c for c in columns if column_spelling(c) in {column_spelling(s) for s in SPELLINGS["item_id"]}), None
    )
    title_col = next((c for c in columns if c.lower() in TITLE_COLUMNS), None) or next(
        (c for c in features.text_cols if c in columns), None
    )
    if item_col is None or title_col is None:
        raise DataError(
            f"report: catalogue '{path.name}' needs an item id column ({', '.join(SPELLINGS['item_id'])}) and a "
            f"title column (title, name), got columns {columns}; rename them or set features.item_col"
        )
    return dict(zip(frame[item_col].astype(str), frame[title_col].astype(str), strict=True))


def _read_table(path: Path) -> pd.DataFrame:
    if path.suffix.lower() == ".parquet":
        return pd.read_parquet(path)
    return pd.read_csv(path, sep=None, engine="python", dtype=str, keep_default_na=False)


def _read_text(path: Path) -> str:
    return path.read_text() if path.is_file() else ""


def _read_json(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    value = json.loads(path.read_text())
    return value if isinstance(value, dict) else {}
