"""The data, evaluation and feature sections of a run config (torch-free; see graphrec.config.params)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from graphrec.config.params import SEED, Each, Interval, Length, Options, Rule, Section, param

SPLITS = ("auto", "given", "random", "leave_last", "temporal", "user_temporal")
UNSEEN_POLICIES = ("miss", "drop", "error")
FORMATS = ("auto", "lightgcn", "csv", "tsv", "parquet", "recbole")
TEXT_ENCODERS = ("auto", "sentence", "tfidf", "none")
# The metrics evaluation reports (graphrec.evaluation.METRIC_NAMES, which a test keeps equal to this).
METRIC_NAMES: tuple[str, ...] = ("recall", "ndcg", "precision", "hit_rate", "mrr")

RATE = Interval(float, 0, 1, closed="left")
POSITIVE = Interval(int, 1, None)


def _split_fits_source(config: DataConfig) -> str | None:
    if config.path and config.split not in ("auto", "given"):
        return (
            '"auto" or "given" while data.path is set (a directory of train.txt / test.txt is split already; '
            "other splits need data.interactions)"
        )
    if not config.path and config.interactions and config.split == "given":
        return (
            'one of "auto", "random", "leave_last", "temporal", "user_temporal" for one interactions file '
            '("given" needs data.path, a directory of train.txt / test.txt)'
        )
    return None


@dataclass
class DataConfig(Section):
    """Where the interactions live and how they become train / valid / test.

    Either `path` (a directory holding `train.txt` + `test.txt`, optionally `valid.txt`, in the LightGCN format
    `user item item …`) or `interactions` (one file: CSV/TSV, Parquet or a RecBole `.inter` file) must be set.
    """

    section = "data"
    rules = (
        Rule("split", _split_fits_source, lambda c: "auto", {"path": "data/gowalla", "split": "random"}),
        Rule("split", _split_fits_source, lambda c: "auto", {"interactions": "ratings.csv", "split": "given"}),
    )

    path: str | None = param(None, example="data/gowalla")
    interactions: str | None = param(None, example="data/ratings.csv")
    format: str = param("auto", Options(FORMATS))
    # None: detected from common spellings (user_id, userId, user, uid; item_id, itemId, movieId, item, iid;
    # rating, score; timestamp, time, ts); rating_col / timestamp_col = "": not read
    user_col: str | None = param(None, example="user_id")
    item_col: str | None = param(None, example="item_id")
    rating_col: str | None = param(None, example="rating")
    timestamp_col: str | None = param(None, example="timestamp")
    sep: str | None = param(None, example=",")  # None: sniffed from the header line (else ',' for .csv, tab for .tsv)
    rating_threshold: float | None = param(None, example=4.0)  # implicit feedback: keep rows with rating >= threshold
    # k-core filtering (applied iteratively with min_item_interactions)
    min_user_interactions: int = param(0, Interval(int, 0, None))
    min_item_interactions: int = param(0, Interval(int, 0, None))
    # auto (a directory: given; one file: user_temporal with timestamps, else random) | given | random | leave_last |
    # temporal | user_temporal
    split: str = param("auto", Options(SPLITS))
    test_ratio: float = param(0.2, RATE)  # random / user_temporal: per-user fraction held out for test
    valid_ratio: float = param(0.1, RATE)  # fraction of each user's training items carved out for validation
    leave_last_n: int = param(1, POSITIVE)  # leave_last: the N latest items of each user go to test (N more to valid)
    temporal_cut: float = param(0.8, Interval(float, 0, 1, closed="neither"))  # temporal: quantile of timestamps
    # Held-out users / items never seen in training: miss (count as misses) | drop (counted, logged) | error
    unseen_policy: str = param("miss", Options(UNSEEN_POLICIES))
    # Inductive evaluation: this share of the training items (seeded) is withheld from training entirely — after the
    # split, so valid/test are the same as without it; their ids are listed in the run's data_stats.json.
    holdout_items: float = param(0.0, RATE)
    seed: int | None = param(None, SEED, example=2020)  # None: the run's seed


@dataclass
class EvalConfig(Section):
    """Which cut-offs to report and how many users to score at once (results never depend on it)."""

    section = "eval"

    ks: list[int] = param([10, 20], Each(POSITIVE), Length(minimum=1))  # noqa: RUF009
    chunk_size: int = param(2048, POSITIVE)


def _vectors_with_ids(config: FeatureConfig) -> str | None:
    if (config.vectors is None) != (config.vector_ids is None):
        return "set together with features.vectors (a JSON list of item ids, one per row of the .npy matrix)"
    return None


def _one_vector_source(config: FeatureConfig) -> str | None:
    if config.vector_col is not None and config.vectors is not None:
        return "unset while features.vectors is set (item vectors come from the .npy matrix or a catalogue column)"
    return None


@dataclass
class FeatureConfig(Section):
    """Where the item catalogue lives and which of its columns become features."""

    section = "features"
    rules = (
        Rule("vector_ids", _vectors_with_ids, lambda c: "item_vectors_ids.json", {"vectors": "vectors.npy"}),
        Rule(
            "vector_col",
            _one_vector_source,
            lambda c: None,
            {"vector_col": "emb", "vectors": "v.npy", "vector_ids": "v.json"},
        ),
    )

    catalogue: str | None = param(None, example="movies.csv")  # CSV/TSV with one row per item (MovieLens: movies.csv)
    item_col: str = "movieId"
    text_cols: list[str] = param(["title"])  # noqa: RUF009
    categorical_cols: list[str] = param(["genres"])  # noqa: RUF009
    categorical_sep: str = "|"
    numeric_cols: list[str] = param([], example=["year"])  # noqa: RUF009
    extract_numeric: dict[str, str] = param({"title": r"\((\d{4})\)\s*$"})  # noqa: RUF009
    tags: str | None = param(None, example="tags.csv")  # (item, tag) file whose tags join the item's text
    tag_col: str = "tag"
    # auto (sentence model if installed, else tfidf) | sentence | tfidf | none
    text_encoder: str = param("auto", Options(TEXT_ENCODERS))
    text_dim: int = param(64, POSITIVE)  # TF-IDF + SVD output size (the sentence model's is fixed: 384)
    log_degree: bool = True
    # precomputed item vectors (image or any other embeddings): a (n, D) float .npy matrix and a JSON list of the n
    # item ids of its rows; one more feature block ("vectors"), zeros for catalogue items without a row
    vectors: str | None = None  # no lone example: it needs vector_ids too (the rule)
    vector_ids: str | None = None
    # … or a column of a Parquet catalogue holding one fixed-length list of numbers per item (the same block)
    vector_col: str | None = param(None, example="image_embedding")
    cache_dir: str | None = param(None, example=".cache/features")  # sentence embeddings cached by the texts' hash
    seed: int = param(0, SEED)


INTERACTION_SUFFIXES = (".csv", ".tsv", ".parquet", ".inter", ".txt")


def data_source(source: str | Path) -> dict[str, str | None]:
    """The [data] keys that `--data SOURCE` sets, as an absolute path: a file becomes data.interactions (read by its
    extension), a directory data.path (LightGCN train.txt / test.txt). A path that does not exist is taken as a file
    when it has an interactions extension, else as a directory; reading it later says it does not exist (config
    errors come first, before any data is looked at)."""
    path = Path(source).expanduser().resolve()
    is_file = path.is_file() or (not path.exists() and path.suffix.lower() in INTERACTION_SUFFIXES)
    return {"path": None, "interactions": str(path)} if is_file else {"path": str(path), "interactions": None}


def metric_names(ks: list[int]) -> list[str]:
    """Every validation metric reported for cut-offs `ks`, e.g. "ndcg@20"."""
    return [f"{name}@{k}" for k in ks for name in METRIC_NAMES]


__all__: list[Any] = ["METRIC_NAMES", "DataConfig", "EvalConfig", "FeatureConfig", "data_source", "metric_names"]
