"""Related items and fresh items for a trained run, by external id.

- :func:`similar_items` — the k items nearest an item by embedding dot product (the related-item task).
- :func:`embed_new_items` — items unseen in training embedded without retraining: feature models (PinSAGE,
  GraphSAGE) convolve the new item's features over its new edges; other models fold the item in as the mean
  embedding of the users who engaged with it. The run's model, id map and seen-mask grow in place, so the new
  items are served by :func:`similar_items` and :func:`graphrec.runs.recommend` straight away.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch

from graphrec.data.features import build_item_features
from graphrec.data.idmap import IdMap
from graphrec.errors import DataError
from graphrec.io import atomic_write
from graphrec.models.itemgraph import ItemGraphModel
from graphrec.retrieval import check_k, top_k
from graphrec.runs import LoadedRun, _save_array, load_run

logger = logging.getLogger(__name__)


@dataclass
class NewItem:
    """A fresh item: its external id, the external ids of users who engaged with it, and optionally its feature
    row (None: looked up in the run's catalogue by id)."""

    item_id: Any
    users: Sequence[Any] = ()
    features: np.ndarray | None = None


def similar_items(run: LoadedRun, item_id: Any, k: int) -> list[dict[str, Any]]:
    """The k items most similar to `item_id` by embedding dot product (itself excluded), best first, ties by the
    smaller item index (graphrec.retrieval.top_k): [{"item_id", "score"}]."""
    k = check_k(k)
    item_idx = run.item_ids.index(item_id)
    _, items = run.embeddings()
    scores = (items @ items[item_idx]).float()
    scores[item_idx] = -torch.inf
    if len(scores) < 2:
        return []
    values, indices = top_k(scores[None, :], min(k, len(scores) - 1))
    return [{"item_id": run.item_ids.id_of(int(i)), "score": float(s)}
            for s, i in zip(values[0].tolist(), indices[0].tolist())]


def embed_new_items(run: LoadedRun, new_items: Sequence[NewItem]) -> torch.Tensor:
    """Add `new_items` to the run (model, id map, seen-mask) and return their embeddings, one row each."""
    if not new_items:
        return torch.zeros((0, 0))
    known = [str(item.item_id) for item in new_items if item.item_id in run.item_ids]
    if known:
        raise DataError(f"item id(s) {known[:5]} are already in the run; new items need new ids")
    user_lists = [_user_indices(run, item) for item in new_items]
    with torch.no_grad():
        if isinstance(run.model, ItemGraphModel):
            new_idx = run.model.add_items(_feature_rows(run, new_items, user_lists), user_lists)
            embeddings = run.model.embed_items(new_idx)
        else:
            embeddings = _fold_in(run, user_lists)
    run.item_ids = run.item_ids.extended([item.item_id for item in new_items])
    run.train = _grow_seen(run.train, user_lists)
    run.append_items(embeddings)
    return embeddings


def _user_indices(run: LoadedRun, item: NewItem) -> np.ndarray:
    found = [run.user_ids.lookup(u) for u in item.users]
    indices = np.array([-1 if i is None else i for i in found], dtype=np.int64)
    if (indices < 0).any():
        unknown = [u for u, i in zip(item.users, indices) if i < 0]
        raise DataError(f"new item {item.item_id!r}: unknown user id(s) {unknown[:5]}; users must exist in the run")
    return indices.astype(np.int64)


def _feature_rows(run: LoadedRun, new_items: Sequence[NewItem], user_lists: list[np.ndarray]) -> np.ndarray | None:
    model = run.model
    assert isinstance(model, ItemGraphModel)
    width = model.features.shape[1]
    if width == 0:
        return None
    missing = [str(item.item_id) for item in new_items if item.features is None]
    if missing and run.config.features.catalogue is None:
        raise DataError(f"new item {missing[0]!r} has no features and the run has no catalogue to look it up")
    # One catalogue pass for every item without features (encoding the catalogue is the expensive part).
    looked_up = iter(build_item_features(run.config.features, missing).matrix if missing else ())
    rows = []
    for item, users in zip(new_items, user_lists):
        if item.features is not None:
            rows.append(np.asarray(item.features, dtype=np.float32).reshape(-1))
            continue
        row = next(looked_up)
        if run.config.features.log_degree:
            row = np.append(row, np.log1p(len(users)))
        rows.append(row.astype(np.float32))
    bad = [r.shape[0] for r in rows if r.shape[0] != width]
    if bad:
        raise DataError(f"new item features have {bad[0]} values, the model expects {width} (the catalogue features "
                        "plus the log-degree column)")
    return np.stack(rows)


def _fold_in(run: LoadedRun, user_lists: list[np.ndarray]) -> torch.Tensor:
    """Models without item features: a new item's embedding is the mean of its users' embeddings."""
    users, _ = run.embeddings()
    rows = [users[torch.from_numpy(u)].mean(dim=0) if len(u) else torch.zeros(users.shape[1]) for u in user_lists]
    embeddings = torch.stack(rows)
    run.extra_item_embeddings = torch.cat([run.extra_item_embeddings, embeddings]) \
        if run.extra_item_embeddings is not None else embeddings
    return embeddings


def _grow_seen(train: sp.csr_matrix, user_lists: list[np.ndarray]) -> sp.csr_matrix:
    count = len(user_lists)
    rows = np.concatenate(user_lists) if count else np.zeros(0, dtype=np.int64)
    cols = train.shape[1] + np.repeat(np.arange(count), [len(u) for u in user_lists])
    extra = sp.csr_matrix((np.ones(rows.size, dtype=np.float32), (rows, cols)),
                          shape=(train.shape[0], train.shape[1] + count))
    return (sp.hstack([train, sp.csr_matrix((train.shape[0], count), dtype=np.float32)]).tocsr() + extra).tocsr()


def embed_new_items_file(run_dir: str | Path, input_path: str | Path, out_dir: str | Path) -> dict[str, Any]:
    """CLI path: read new items from JSON, embed them, write item_embeddings.npy + item_ids.json; report timing."""
    path = Path(input_path)
    if not path.is_file():
        raise DataError(f"new-items file {path} does not exist; pass a JSON list of items to --input")
    try:
        entries = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise DataError(f"{path.name} is not valid JSON: {exc}") from exc
    if not isinstance(entries, list) or not all(isinstance(e, dict) and "item_id" in e for e in entries):
        raise DataError(f'{path.name} must be a JSON list of objects with an "item_id" (and "users", "features")')
    items = [NewItem(e["item_id"], e.get("users", []),
                     None if e.get("features") is None else np.asarray(e["features"], dtype=np.float32))
             for e in entries]
    run = load_run(run_dir)
    started = time.perf_counter()
    embeddings = embed_new_items(run, items)
    seconds = time.perf_counter() - started
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    array = embeddings.numpy().astype(np.float32)
    atomic_write(out / "item_embeddings.npy", lambda tmp: _save_array(tmp, array))
    IdMap([item.item_id for item in items], kind="item").save(out / "item_ids.json")
    return {"items": len(items), "seconds": round(seconds, 4), "out": str(out)}
