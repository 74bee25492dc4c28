"""Turn a :class:`DataConfig` into a :class:`Dataset`.

Two sources:

* ``data.path``: a directory holding ``train.txt`` and ``test.txt`` (and optionally ``valid.txt``) in the LightGCN
  format. The split is given; when ``valid.txt`` is absent, ``valid_ratio`` of each user's training items are carved
  out (seeded) as validation, so a validation split always exists.
* ``data.interactions``: one file (CSV/TSV, Parquet, RecBole ``.inter`` or LightGCN ``.txt``). It is made implicit
  (``rating_threshold``), deduplicated, k-core filtered, split per ``data.split`` and validation is carved from train.
  Its columns are detected from common spellings unless ``data.user_col`` etc. name them; ``data.split = "auto"``
  is ``"user_temporal"`` (each user's newest rows held out) when the file has timestamps, else ``"random"``.

Id maps are built from the **training rows only** (sorted, so integer ids 0..n-1 map to themselves).

**Unseen policy.** A validation or test row naming a user or item that never occurs in training cannot be scored.
With ``unseen_policy = "miss"`` (default) such rows stay part of the split as misses, like the official LightGCN
evaluator (whose item count spans train and test, so such items are never recommended): they are not in the
matrices, but ``Dataset.unseen[split]`` holds their distinct (user_id, item_id) pairs, which evaluation counts in
the users' targets (an unknown user scores 0), and logged at INFO. With ``"drop"`` they are dropped (logged at
WARNING). Either way they are counted in ``stats["unseen"] = {"valid": {"rows", "users", "items"}, "test": {...}}``
(rows, distinct unseen users, distinct unseen items) and ``stats["unseen_policy"]`` says what was done.
With ``"error"`` a DataError names the file, the count and the first offending id.

Every other removal is counted in ``stats`` too: ``duplicates`` (repeated (user, item) rows in train),
``heldout_duplicates`` ({"valid", "test"}: repeats inside a held-out split), ``heldout_overlap_train``
({"valid", "test"}: held-out rows that are also training positives, removed), ``implicit_dropped``,
``kcore_dropped``; plus ``num_users``, ``num_items``, ``num_train``, ``num_valid``, ``num_test``, ``source``, ``split``.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from graphrec.config.params import validate
from graphrec.config.sections import DataConfig
from graphrec.data import preprocess, splits
from graphrec.data.dataset import Dataset
from graphrec.data.idmap import IdMap
from graphrec.data.readers import LIGHTGCN_HINT, read_interactions, read_lightgcn_txt
from graphrec.errors import ConfigError, DataError, DataFileNotFoundError
from graphrec.seeding import Stream, numpy_rng

logger = logging.getLogger(__name__)

_TEST_STREAM, _VALID_STREAM, _HOLDOUT_STREAM = Stream.TEST_SPLIT, Stream.VALID_SPLIT, Stream.HOLDOUT_ITEMS

Frames = dict[str, pd.DataFrame]


def load_dataset(config: DataConfig, seed: int) -> Dataset:
    """Read, clean and split the interactions `config` points at; `config.seed` (if set) overrides `seed`.

    The config's declared constraints (graphrec.config.sections) are checked again first, before any file is read,
    in case fields were changed in place since it was built."""
    validate(config)
    seed = int(config.seed if config.seed is not None else seed)
    stats: dict[str, Any] = {}
    if config.path:
        if config.interactions:
            logger.warning("both data.path and data.interactions are set; using data.path '%s'", config.path)
        frames, names = _load_directory(Path(config.path), config, seed, stats)
    elif config.interactions:
        frames, names = _load_interactions(Path(config.interactions), config, seed, stats)
    else:
        raise ConfigError(
            "no data given: set data.path to a directory with train.txt and test.txt (or pass --data DIR), "
            "or set data.interactions to an interactions file"
        )
    if config.holdout_items > 0:
        frames["train"] = _withhold_items(
            frames["train"], config.holdout_items, numpy_rng(seed, _HOLDOUT_STREAM), stats
        )
    return _build_dataset(frames, names, config.unseen_policy, stats)


def _withhold_items(train: pd.DataFrame, share: float, rng: np.random.Generator, stats: dict[str, Any]) -> pd.DataFrame:
    """Drop every training row of a random `share` of the training items (the inductive evaluation's new items)."""
    items = np.sort(pd.unique(train["item_id"]))
    chosen = np.sort(rng.choice(items, size=round(share * len(items)), replace=False))
    stats["holdout_item_ids"] = [item.item() if isinstance(item, np.generic) else item for item in chosen]
    keep = ~train["item_id"].isin(chosen)
    logger.info("withheld %d items (%d training rows) from training", len(chosen), int((~keep).sum()))
    return train[keep]


# --------------------------------------------------------------------------------------------- sources


def _load_directory(root: Path, config: DataConfig, seed: int, stats: dict[str, Any]) -> tuple[Frames, dict[str, str]]:
    """train/test(/valid).txt of a LightGCN directory; validation carved from train when valid.txt is absent."""
    hint = "a data directory holds train.txt and test.txt (and optionally valid.txt) in the LightGCN format"
    if not root.is_dir():
        raise DataFileNotFoundError(f"data directory '{root}' does not exist; {hint}")
    # A tuning directory (train.txt + valid.txt) needs no test.txt: its test split is simply empty.
    needed = ("train.txt",) if (root / "valid.txt").is_file() else ("train.txt", "test.txt")
    for required in needed:
        if not (root / required).is_file():
            raise DataFileNotFoundError(f"directory '{root}' has no {required}; {hint}")
    _warn_ignored(config)
    train, stats["duplicates"] = preprocess.deduplicate(read_lightgcn_txt(root / "train.txt"))
    test = read_lightgcn_txt(root / "test.txt") if (root / "test.txt").is_file() else train.iloc[:0]
    frames: Frames = {"train": train, "test": test}
    names = {"train": "train.txt", "test": "test.txt", "valid": "valid.txt"}
    if (root / "valid.txt").is_file():
        frames["valid"] = read_lightgcn_txt(root / "valid.txt")
    else:
        frames["train"], frames["valid"] = splits.carve_validation(
            train, config.valid_ratio, numpy_rng(seed, _VALID_STREAM), temporal=False
        )
        names["valid"] = f"the validation split carved from train.txt (valid_ratio {config.valid_ratio})"
    stats.update(source=str(root), split="given")
    return frames, names


def _warn_ignored(config: DataConfig) -> None:
    if config.rating_threshold is not None or config.min_user_interactions > 1 or config.min_item_interactions > 1:
        logger.warning(
            "data.rating_threshold and k-core settings apply to data.interactions; a LightGCN directory is used as is"
        )


def _load_interactions(
    path: Path, config: DataConfig, seed: int, stats: dict[str, Any]
) -> tuple[Frames, dict[str, str]]:
    """Read one file, clean it, split it into train / valid / test."""
    frame = read_interactions(path, config)
    frame, stats["implicit_dropped"] = preprocess.to_implicit(frame, config.rating_threshold)
    frame, stats["duplicates"] = preprocess.deduplicate(frame)
    frame, stats["kcore_dropped"] = preprocess.kcore(frame, config.min_user_interactions, config.min_item_interactions)
    if len(frame) == 0:
        raise DataError(
            f"{path.name}: no interactions left after filtering; lower data.rating_threshold or the k-core minimums"
        )
    split = _default_split(frame, path) if config.split == "auto" else config.split
    if split == "random":
        train, test = splits.split_random(frame, config.test_ratio, numpy_rng(seed, _TEST_STREAM))
        train, valid = splits.carve_validation(train, config.valid_ratio, numpy_rng(seed, _VALID_STREAM), False)
    elif split == "leave_last":
        train, test = splits.split_leave_last(frame, config.leave_last_n)
        train, valid = splits.split_leave_last(train, config.leave_last_n)
    elif split == "user_temporal":  # per user: the newest test_ratio of its rows to test, then to validation
        train, test = splits.carve_validation(frame, config.test_ratio, numpy_rng(seed, _TEST_STREAM), True)
        train, valid = splits.carve_validation(train, config.valid_ratio, numpy_rng(seed, _VALID_STREAM), True)
    else:
        train, test = splits.split_temporal(frame, config.temporal_cut)
        train, valid = splits.carve_validation(train, config.valid_ratio, numpy_rng(seed, _VALID_STREAM), True)
    stats.update(source=str(path), split=split)
    names = {key: f"the {key} split of {path.name}" for key in ("train", "valid", "test")}
    return {"train": train, "valid": valid, "test": test}, names


def _default_split(frame: pd.DataFrame, path: Path) -> str:
    """data.split "auto" for one file: per-user temporal when it has timestamps, else random (logged either way)."""
    if "timestamp" not in frame.columns:
        logger.info("%s has no timestamps: split 'auto' holds out a random share of each user's rows", path.name)
        return "random"
    logger.info(
        "%s has timestamps: split 'auto' is 'user_temporal', each user's newest rows held out, so the model is "
        "tested on what came after what it trained on (a random split would train on the future); "
        'set data.split = "random" for a random split',
        path.name,
    )
    return "user_temporal"


# --------------------------------------------------------------------------------------------- assembly


def _build_dataset(frames: Frames, names: dict[str, str], policy: str, stats: dict[str, Any]) -> Dataset:
    train = frames["train"]
    if len(train) == 0:
        raise DataError(f"{names['train']} has no interactions; {LIGHTGCN_HINT}")
    user_ids = IdMap.from_values(pd.unique(train["user_id"]), kind="user")
    item_ids = IdMap.from_values(pd.unique(train["item_id"]), kind="item")
    user_index, item_index = pd.Index(user_ids.ids), pd.Index(item_ids.ids)
    shape = (len(user_ids), len(item_ids))
    train_rows = _indices(train, user_index, item_index)
    matrices = {"train": _csr(*train_rows, shape)}
    train_keys = _csr_keys(matrices["train"])
    stats.update(unseen={}, unseen_policy=policy, heldout_duplicates={}, heldout_overlap_train={})
    unseen: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for split in ("valid", "test"):
        rows = _heldout_indices(frames[split], user_index, item_index, names[split], policy, stats, split)
        matrices[split] = _heldout_csr(rows, train_keys, shape, split, stats)
        if policy == "miss":
            unseen[split] = _unseen_pairs(frames[split], rows)
    stats.update(
        num_users=shape[0],
        num_items=shape[1],
        num_train=int(matrices["train"].nnz),
        num_valid=int(matrices["valid"].nnz),
        num_test=int(matrices["test"].nnz),
    )
    logger.info(
        "dataset: %d users, %d items, %d train / %d valid / %d test interactions",
        shape[0],
        shape[1],
        stats["num_train"],
        stats["num_valid"],
        stats["num_test"],
    )
    timestamps = _train_timestamps(train, train_rows, matrices["train"])
    return Dataset(
        user_ids=user_ids,
        item_ids=item_ids,
        stats=stats,
        train_timestamps=timestamps,
        unseen=unseen if policy == "miss" else None,
        **matrices,
    )


def _unseen_pairs(frame: pd.DataFrame, rows_cols: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """The distinct (user_id, item_id) pairs of `frame`'s rows whose user or item index is -1, as object arrays."""
    rows, cols = rows_cols
    unseen = (rows < 0) | (cols < 0)
    pairs = frame.loc[unseen, ["user_id", "item_id"]].drop_duplicates()
    return (pairs["user_id"].to_numpy(dtype=object), pairs["item_id"].to_numpy(dtype=object))


def _train_timestamps(
    frame: pd.DataFrame,
    rows: tuple[np.ndarray, np.ndarray],
    train: sp.csr_matrix,
) -> np.ndarray | None:
    """Each training interaction's timestamp in the CSR order of `train` (None without timestamps)."""
    if "timestamp" not in frame.columns or not len(frame):
        return None
    keys = _keys(*rows, train.shape[1])
    order = np.argsort(keys, kind="stable")
    position = np.searchsorted(keys[order], _csr_keys(train))
    return frame["timestamp"].to_numpy(dtype=np.float64)[order[position]]


def _indices(frame: pd.DataFrame, users: pd.Index, items: pd.Index) -> tuple[np.ndarray, np.ndarray]:
    """Internal (user, item) indices of each row; -1 where the id is not in the map."""
    rows = users.get_indexer(pd.Index(frame["user_id"].to_numpy()))
    cols = items.get_indexer(pd.Index(frame["item_id"].to_numpy()))
    return rows.astype(np.int64), cols.astype(np.int64)


def _keys(rows: np.ndarray, cols: np.ndarray, num_items: int) -> np.ndarray:
    return rows * np.int64(num_items) + cols


def _csr_keys(matrix: sp.csr_matrix) -> np.ndarray:
    """Sorted row * num_items + col keys of a CSR matrix with sorted indices."""
    rows = np.repeat(np.arange(matrix.shape[0], dtype=np.int64), np.diff(matrix.indptr))
    return _keys(rows, matrix.indices.astype(np.int64), matrix.shape[1])


def _heldout_indices(
    frame: pd.DataFrame, users: pd.Index, items: pd.Index, name: str, policy: str, stats: dict[str, Any], split: str
) -> tuple[np.ndarray, np.ndarray]:
    """Indices of a held-out frame's rows (-1 where training never saw the id); rejected under policy "error",
    counted otherwise. The matrices keep only the rows whose user and item are both known."""
    rows, cols = _indices(frame, users, items)
    unseen = (rows < 0) | (cols < 0)
    count = int(unseen.sum())
    bad_users = frame["user_id"].to_numpy()[rows < 0]
    bad_items = frame["item_id"].to_numpy()[cols < 0]
    if count and policy == "error":
        first = int(np.flatnonzero(unseen)[0])
        which = "user" if rows[first] < 0 else "item"
        value = frame[f"{which}_id"].iloc[first]
        value = value.item() if isinstance(value, np.generic) else value  # 7, not np.int64(7)
        raise DataError(
            f"{name}: {count} rows name users or items never seen in training (first: {which} id {value!r}); "
            'set data.unseen_policy = "miss" to count them as misses (or "drop" to drop them), or fix the split'
        )
    counts = {"rows": count, "users": len(pd.unique(bad_users)), "items": len(pd.unique(bad_items))}
    stats["unseen"][split] = counts
    if count:
        action = "dropped" if policy == "drop" else "kept as misses"
        log = logger.warning if policy == "drop" else logger.info
        log(
            "%s: %s %d of %d rows naming users or items never seen in training (%d unseen users, %d unseen items)",
            name,
            action,
            count,
            len(frame),
            counts["users"],
            counts["items"],
        )
    return rows, cols


def _heldout_csr(
    rows_cols: tuple[np.ndarray, np.ndarray],
    train_keys: np.ndarray,
    shape: tuple[int, int],
    split: str,
    stats: dict[str, Any],
) -> sp.csr_matrix:
    """CSR of held-out pairs minus repeats (counted) and minus training positives (`train_keys`, sorted; counted)."""
    rows, cols = rows_cols
    known = (rows >= 0) & (cols >= 0)
    keys = np.sort(_keys(rows[known], cols[known], shape[1]))
    unique_keys = keys[np.r_[True, keys[1:] != keys[:-1]]] if len(keys) else keys
    stats["heldout_duplicates"][split] = int(len(keys) - len(unique_keys))
    position = np.minimum(np.searchsorted(train_keys, unique_keys), max(len(train_keys) - 1, 0))
    overlap = train_keys[position] == unique_keys if len(train_keys) else np.zeros(len(unique_keys), dtype=bool)
    stats["heldout_overlap_train"][split] = int(overlap.sum())
    if stats["heldout_duplicates"][split]:
        logger.info("%s: merged %d repeated (user, item) rows", split, stats["heldout_duplicates"][split])
    if overlap.any():
        logger.info("%s: removed %d rows that are also training positives", split, int(overlap.sum()))
    kept = unique_keys[~overlap]
    return _csr(kept // shape[1], kept % shape[1], shape)


def _csr(rows: np.ndarray, cols: np.ndarray, shape: tuple[int, int]) -> sp.csr_matrix:
    """Binary float32 CSR with sorted indices; repeated pairs collapse to 1."""
    data = np.ones(len(rows), dtype=np.float32)
    matrix = sp.csr_matrix((data, (rows, cols)), shape=shape, dtype=np.float32)
    matrix.sum_duplicates()
    matrix.data[:] = 1.0
    matrix.sort_indices()
    return matrix
