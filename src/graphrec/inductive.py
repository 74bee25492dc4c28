"""Related items and fresh items for a trained run, by external id.

- :func:`similar_items` — the k items nearest an item by embedding dot product (the related-item task).
- :func:`embed_items` — pure: items unseen in training embedded without retraining: models that declare
  InductiveItems (PinSAGE, GraphSAGE) convolve the new item's features over its new edges; other embedding models
  fold the item in as the mean embedding of the users who engaged with it (:func:`fold_in`).
- :func:`add_embedded_items` — the separate mutating step: the run's model, id map and seen-mask grow, so the new
  items are served by :func:`similar_items` and :func:`graphrec.runs.recommend` straight away.
  :func:`embed_new_items` does both.
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
import torch

from graphrec.data.features import build_item_features
from graphrec.data.idmap import IdMap
from graphrec.errors import DataError, UnsupportedError
from graphrec.io import atomic_save_npy
from graphrec.models.base import InductiveItems
from graphrec.retrieval import check_k, top_k
from graphrec.rundir import LoadedRun, load_run

logger = logging.getLogger(__name__)


@dataclass
class NewItem:
    """A fresh item: its external id, the external ids of users who engaged with it, and optionally its feature
    row (None: looked up in the run's catalogue by id) or its precomputed vector (the catalogue's "vectors" block,
    from features.vectors / vector_col: it replaces that block of the looked-up row; the rest stays zeros for an
    item the catalogue does not have)."""

    item_id: Any
    users: Sequence[Any] = ()
    features: np.ndarray | None = None
    vector: np.ndarray | None = None


def similar_items(run: LoadedRun, item_id: Any, k: int) -> list[dict[str, Any]]:
    """The k items most similar to `item_id` by the model's item–item score (embedding dot product; ItemKNN's
    neighbour table), itself excluded, best first, ties by the
    smaller item index (graphrec.retrieval.top_k): [{"item_id", "score"}]."""
    k = check_k(k)
    item_idx = run.item_ids.index(item_id)
    scores = run.scorer().similar(torch.tensor([item_idx]))[0].float()
    scores[item_idx] = -torch.inf
    if len(scores) < 2:
        return []
    values, indices = top_k(scores[None, :], min(k, len(scores) - 1))
    return [
        {"item_id": run.item_ids.id_of(int(i)), "score": float(s)}
        for s, i in zip(values[0].tolist(), indices[0].tolist(), strict=True)
    ]


@dataclass
class EmbeddedItems:
    """New items embedded against a run but not yet added to it (the output of :func:`embed_items`)."""

    items: list[NewItem]
    item_users: list[np.ndarray]  # user_idx of each item's users
    embeddings: torch.Tensor  # one row per item
    plan: Any = None  # the model's plan when it embeds items itself (InductiveItems), else None (fold-in)


def embed_items(run: LoadedRun, new_items: Sequence[NewItem]) -> EmbeddedItems:
    """Pure: embeddings of items unseen in training, the run unchanged. Models that declare InductiveItems embed
    from features and edges; other embedding models fold an item in as the mean of its users' embeddings."""
    items = list(new_items)
    known = [str(item.item_id) for item in items if item.item_id in run.item_ids]
    if known:
        raise DataError(f"item id(s) {known[:5]} are already in the run; new items need new ids")
    user_lists = [_user_indices(run, item) for item in items]
    model = run.model
    with torch.no_grad():
        if isinstance(model, InductiveItems):
            plan = model.plan_items(feature_rows(run, model.feature_width, items, user_lists), user_lists)
            return EmbeddedItems(items, user_lists, model.planned_embeddings(plan), plan)
        if not run.has_embeddings:
            raise UnsupportedError(
                f"model '{run.config.model.name}' cannot embed new items: it has no item "
                "embeddings to fold them into; retrain with the new interactions"
            )
        return EmbeddedItems(items, user_lists, fold_in(run.embeddings()[0], user_lists))


def add_embedded_items(run: LoadedRun, embedded: EmbeddedItems) -> None:
    """The mutating step: grow the run (model, id map, seen-mask, cached scorer) by items of :func:`embed_items`."""
    if embedded.plan is not None:
        model = run.model
        assert isinstance(model, InductiveItems)
        model.add_items(embedded.plan)
    run.add_items(
        [item.item_id for item in embedded.items],
        embedded.embeddings,
        embedded.item_users,
        model_grew=embedded.plan is not None,
    )


def embed_new_items(run: LoadedRun, new_items: Sequence[NewItem]) -> torch.Tensor:
    """Embed `new_items` and add them to the run; return their embeddings, one row each."""
    if not new_items:
        return torch.zeros((0, 0))
    embedded = embed_items(run, new_items)
    add_embedded_items(run, embedded)
    return embedded.embeddings


def fold_in(user_vectors: torch.Tensor, user_lists: list[np.ndarray]) -> torch.Tensor:
    """Pure: each new item as the mean of its users' vectors (zeros for an item without users)."""
    rows = [
        user_vectors[torch.from_numpy(np.asarray(u, dtype=np.int64))].mean(dim=0)
        if len(u)
        else user_vectors.new_zeros(user_vectors.shape[1])
        for u in user_lists
    ]
    return torch.stack(rows) if rows else user_vectors.new_zeros((0, user_vectors.shape[1]))


def _user_indices(run: LoadedRun, item: NewItem) -> np.ndarray:
    found = [run.user_ids.lookup(u) for u in item.users]
    indices = np.array([-1 if i is None else i for i in found], dtype=np.int64)
    if (indices < 0).any():
        unknown = [u for u, i in zip(item.users, indices, strict=True) if i < 0]
        raise DataError(f"new item {item.item_id!r}: unknown user id(s) {unknown[:5]}; users must exist in the run")
    return indices.astype(np.int64)


def feature_rows(
    run: LoadedRun, width: int, new_items: Sequence[NewItem], user_lists: list[np.ndarray]
) -> np.ndarray | None:
    if width == 0:
        return None
    missing = [str(item.item_id) for item in new_items if item.features is None]
    if missing and run.config.features.catalogue is None:
        raise DataError(f"new item {missing[0]!r} has no features and the run has no catalogue to look it up")
    # One catalogue pass for every item without features (encoding the catalogue is the expensive part).
    with_vectors = any(item.vector is not None for item in new_items)
    found = build_item_features(run.config.features, missing, require_any=not with_vectors) if missing else None
    looked_up = iter(found.matrix if found is not None else ())
    rows = []
    for item, users in zip(new_items, user_lists, strict=True):
        if item.features is not None:
            rows.append(np.asarray(item.features, dtype=np.float32).reshape(-1))
            continue
        assert found is not None  # every item without features was looked up
        row = next(looked_up)
        if item.vector is not None:
            row = _with_vector(row, found.blocks, item)
        if run.config.features.log_degree:
            row = np.append(row, np.log1p(len(users)))
        rows.append(row.astype(np.float32))
    bad = [r.shape[0] for r in rows if r.shape[0] != width]
    if bad:
        raise DataError(
            f"new item features have {bad[0]} values, the model expects {width} (the catalogue features "
            "plus the log-degree column)"
        )
    return np.stack(rows)


def _with_vector(row: np.ndarray, blocks: dict[str, tuple[int, int]], item: NewItem) -> np.ndarray:
    """`row` with its "vectors" block replaced by the item's own vector (checked: the block exists, same length,
    finite)."""
    if "vectors" not in blocks:
        raise DataError(
            f"new item {item.item_id!r}: got a vector, but the run has no vectors block; train with "
            "features.vectors + vector_ids or features.vector_col to use precomputed item vectors"
        )
    start, end = blocks["vectors"]
    vector = np.asarray(item.vector, dtype=np.float32).reshape(-1)
    if vector.shape[0] != end - start or not np.isfinite(vector).all():
        got = f"{vector.shape[0]} values" if vector.shape[0] != end - start else "a NaN or infinite value"
        raise DataError(f"new item {item.item_id!r}: expected a vector of {end - start} finite numbers, got {got}")
    row = row.copy()
    row[start:end] = vector
    return row


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
        raise DataError(
            f'{path.name} must be a JSON list of objects with an "item_id" (and "users", "features" or "vector")'
        )
    items = [
        NewItem(
            e["item_id"],
            e.get("users", []),
            None if e.get("features") is None else np.asarray(e["features"], dtype=np.float32),
            None if e.get("vector") is None else np.asarray(e["vector"], dtype=np.float32),
        )
        for e in entries
    ]
    run = load_run(run_dir)
    started = time.perf_counter()
    embeddings = embed_new_items(run, items)
    seconds = time.perf_counter() - started
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    array = embeddings.numpy().astype(np.float32)
    atomic_save_npy(out / "item_embeddings.npy", array)
    IdMap([item.item_id for item in items], kind="item").save(out / "item_ids.json")
    return {"items": len(items), "seconds": round(seconds, 4), "out": str(out)}
