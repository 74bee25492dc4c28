"""The Python estimator API: ``graphrec.fit(data, model=…, **settings)`` → :class:`Recommender`; ``graphrec.load``.

    import graphrec
    model = graphrec.fit(frame, model="lightgcn", epochs=5)         # frame: a pandas DataFrame
    model.recommend(["alice", "bob"], k=10)                        # a DataFrame: user_id, rank, item_id, score
    model.similar_items(["item-3"], k=5)
    model.evaluate("test", ks=[10, 20])
    model.recommend_for_items(["item-1", "item-7"], k=10)          # a new user, scored from a list of items
    model.save("runs/mine"); graphrec.load("runs/mine")

`data` is a DataFrame (user / item / rating / timestamp columns detected as for ``--data FILE``), a scipy sparse
users × items matrix (its row and column numbers become the ids; nonzero entries are interactions) or a path (a file
or a LightGCN directory, as ``--data``). A DataFrame or matrix is written once into the run directory
(``interactions.parquet``), so the run keeps the data it was trained on and evaluates like a CLI run. Settings are
config keys: bare (``epochs=5``) where one section has the key, dotted in a mapping otherwise
(``settings={"train.lr": 0.01}``); every one is checked before anything is read or written.
"""

from __future__ import annotations

import dataclasses
import difflib
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TypeAlias

import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch

from graphrec.config import RunConfig, set_values
from graphrec.config.sections import data_source
from graphrec.errors import ConfigError, DataError, RunDirError
from graphrec.evaluation.metrics import evaluate_scorer
from graphrec.inductive import similar_items
from graphrec.retrieval import check_k, top_k, top_k_items
from graphrec.rundir import LoadedRun, load_run
from graphrec.runlock import check_run_target
from graphrec.runs import evaluate_run, train

Data: TypeAlias = "pd.DataFrame | sp.spmatrix | str | Path"
STAGED = "interactions.parquet"  # where fit() writes a DataFrame or matrix, inside the run directory
SECTIONS = ("data", "model", "train", "eval", "features")


def resolve_settings(model: str, settings: Mapping[str, Any] | None, keys: Mapping[str, Any]) -> RunConfig:
    """The run config of `model` with `settings` (dotted keys) and `keys` (bare or dotted) applied and checked."""
    config = set_values(RunConfig(), {"model.name": model})
    dotted = dict(settings or {})
    owners = _key_owners(config)
    for key, value in keys.items():
        dotted[key if "." in key or key == "seed" else _owner(key, owners)] = value
    return set_values(config, dotted)


def _key_owners(config: RunConfig) -> dict[str, list[str]]:
    owners: dict[str, list[str]] = {}
    for section in SECTIONS:
        for f in dataclasses.fields(getattr(config, section)):
            owners.setdefault(f.name, []).append(section)
    return owners


def _owner(key: str, owners: dict[str, list[str]]) -> str:
    sections = owners.get(key, [])
    if len(sections) == 1:
        return f"{sections[0]}.{key}"
    if sections:
        choices = " or ".join(f'"{s}.{key}"' for s in sections)
        raise ConfigError(f"setting '{key}' is in several sections; pass it dotted in settings={{{choices}: …}}")
    near = difflib.get_close_matches(key, owners, n=3)
    hint = f"; did you mean {', '.join(near)}?" if near else "; `graphrec config show` lists every key"
    raise ConfigError(f"setting '{key}' is not a config key of this model{hint}")


def fit(
    data: Data,
    model: str = "lightgcn",
    *,
    run_dir: str | Path | None = None,
    settings: Mapping[str, Any] | None = None,
    overwrite: bool = False,
    **keys: Any,
) -> Recommender:
    """Train `model` on `data` into `run_dir` (default: a new temporary directory) and return it, loaded."""
    config = resolve_settings(model, settings, keys)  # before any I/O
    target = Path(run_dir) if run_dir is not None else Path(tempfile.mkdtemp(prefix="graphrec-"))
    check_run_target(target, resume=False, overwrite=overwrite)
    source = data if isinstance(data, str | Path) else _stage(data, target)
    located = data_source(source)
    config = set_values(config, {"data.path": located["path"], "data.interactions": located["interactions"]})
    train(config, target, overwrite=overwrite)
    return load(target)


def _stage(data: pd.DataFrame | sp.spmatrix, run_dir: Path) -> Path:
    """Write a DataFrame or a sparse matrix as run_dir/interactions.parquet (the user's object is not changed)."""
    if sp.issparse(data):
        matrix = sp.coo_matrix(data)
        keep = matrix.data != 0
        frame = pd.DataFrame({"user_id": matrix.row[keep], "item_id": matrix.col[keep]})
    elif isinstance(data, pd.DataFrame):
        frame = data.copy()
        frame.columns = [str(c) for c in frame.columns]
    else:
        raise DataError(
            f"data: expected a pandas DataFrame, a scipy sparse matrix or a path, got {type(data).__name__}; "
            "e.g. graphrec.fit(pd.read_csv('ratings.csv'))"
        )
    if frame.empty:
        raise DataError("data: expected at least one interaction, got none")
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / STAGED
    frame.to_parquet(path, index=False)
    return path


def load(path: str | Path) -> Recommender:
    """A run directory (written by :func:`fit`, :meth:`Recommender.save` or ``graphrec train``), loaded."""
    return Recommender(load_run(path))


class Recommender:
    """A trained run, answering by external ids with DataFrames."""

    def __init__(self, run: LoadedRun) -> None:
        self.run = run

    @property
    def run_dir(self) -> Path:
        return Path(self.run.run_dir)

    def __repr__(self) -> str:
        run = self.run
        return f"Recommender({run.config.model.name}, {len(run.user_ids)} users, {len(run.item_ids)} items)"

    def recommend(self, user_ids: Sequence[Any], k: int = 10, filter_seen: bool = True) -> pd.DataFrame:
        """The top-`k` items of each user (training items left out unless `filter_seen` is false): one row per
        (user, rank), columns user_id, rank (1 = best), item_id, score."""
        k = min(check_k(k), len(self.run.item_ids))
        user_idx = np.array([self.run.user_ids.index(u) for u in user_ids], dtype=np.int64)
        exclude = self.run.train if filter_seen else None
        items, scores = top_k_items(self.run.scorer(), user_idx, k, exclude, num_users=len(self.run.user_ids))
        return self._frame("user_id", list(user_ids), items, scores)

    def recommend_for_items(self, item_ids: Sequence[Any], k: int = 10) -> pd.DataFrame:
        """A user not in the run, known by the items they interacted with: items ranked by the mean of the model's
        item–item scores to those items (for embedding models, the dot product with the mean of their embeddings),
        the given items left out. Columns rank, item_id, score."""
        k = check_k(k)
        if not item_ids:
            raise DataError("recommend_for_items: expected at least one item id, got none")
        item_idx = torch.tensor([self.run.item_ids.index(i) for i in item_ids])
        scores = self.run.scorer().similar(item_idx).float().mean(dim=0)
        scores[item_idx] = -torch.inf
        k = min(k, len(scores) - len(set(item_idx.tolist())))
        values, indices = top_k(scores[None, :], k)
        return self._frame(None, [None], indices.numpy(), values.numpy()).drop(columns=["_"])

    def similar_items(self, item_ids: Sequence[Any], k: int = 10) -> pd.DataFrame:
        """The `k` items nearest each item (itself excluded): columns item_id, rank, similar_item_id, score."""
        rows = [
            {"item_id": item_id, "rank": rank, "similar_item_id": hit["item_id"], "score": hit["score"]}
            for item_id in item_ids
            for rank, hit in enumerate(similar_items(self.run, item_id, k), start=1)
        ]
        return pd.DataFrame(rows, columns=["item_id", "rank", "similar_item_id", "score"])

    def evaluate(self, test: str | pd.DataFrame = "test", ks: Sequence[int] = (10, 20)) -> dict[str, Any]:
        """Full-ranking metrics: on a split of the run's data ("valid" / "test"), or on a DataFrame of held-out
        (user, item) pairs (its first two columns, external ids; pairs naming an id the run does not know are
        left out and counted as ``unknown_pairs``)."""
        if isinstance(test, str):
            return evaluate_run(self.run_dir, test, list(ks))
        return self._evaluate_frame(test, list(ks))

    def _evaluate_frame(self, test: pd.DataFrame, ks: list[int]) -> dict[str, Any]:
        if test.shape[1] < 2 or test.empty:
            raise DataError(f"test: expected (user, item) pairs in the first two columns, got shape {test.shape}")
        users = [self.run.user_ids.lookup(u) for u in test.iloc[:, 0]]
        items = [self.run.item_ids.lookup(i) for i in test.iloc[:, 1]]
        known = [(u, i) for u, i in zip(users, items, strict=True) if u is not None and i is not None]
        if not known:
            raise DataError("test: no pair names a user and an item of the run; check the ids match training")
        rows, cols = np.array(known, dtype=np.int64).T
        shape = (len(self.run.user_ids), len(self.run.item_ids))
        heldout = sp.csr_matrix((np.ones(len(rows), np.float32), (rows, cols)), shape=shape)
        heldout.sum_duplicates()
        heldout.data[:] = 1
        metrics = evaluate_scorer(self.run.scorer(), heldout, self.run.train, ks)
        return {**metrics, "unknown_pairs": len(users) - len(known)}

    def save(self, path: str | Path) -> Path:
        """Copy the run directory to `path` (which must not hold anything yet); returns it."""
        target = Path(path)
        if target.exists() and any(target.iterdir()):
            raise RunDirError(f"save: '{target}' already holds files; pass a new or empty directory")
        shutil.copytree(self.run_dir, target, dirs_exist_ok=True, ignore=shutil.ignore_patterns("train.lock"))
        return target

    def _frame(self, key: str | None, keys: list[Any], items: np.ndarray, scores: np.ndarray) -> pd.DataFrame:
        rows = [
            {key or "_": owner, "rank": rank, "item_id": self.run.item_ids.id_of(int(i)), "score": float(s)}
            for owner, row_items, row_scores in zip(keys, items, scores, strict=True)
            for rank, (i, s) in enumerate(zip(row_items, row_scores, strict=True), start=1)
            if i >= 0
        ]
        return pd.DataFrame(rows, columns=[key or "_", "rank", "item_id", "score"])


__all__ = ["Recommender", "fit", "load", "resolve_settings"]
