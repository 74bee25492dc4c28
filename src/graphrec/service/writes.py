"""The write path: validate, store durably, then apply — for new interactions and new items — and the replay.

Fold-in rule for user vectors (applied after every accepted interaction, and recomputed from scratch so replaying
the log gives the same vectors). Let T be the user's training items, N the items they interacted with since
(not in T), μ the mean of the current embeddings of N, and v the trained vector:

- a user from the training data: ``v' = (|T|·v + |N|·(‖v‖/‖μ‖)·μ) / (|T| + |N|)`` — the new items pull the
  vector towards their mean direction with the weight of their share of the user's items; μ is rescaled to the
  trained vector's norm so the blend mixes directions, not the different scales of user and item embeddings;
- a user new to the service: ``v' = μ``.

New items are embedded as :mod:`graphrec.inductive` does (feature models convolve the item's features over its
users and grow by the item; other models fold it in as the mean of its users' trained embeddings, a pure
computation of O(the item's edges)); the users who came with the item count as its first interactions. The
serving state alone owns ids, seen items and added items: the loaded run is never edited. Only users of the trained
run feed the embedding (the model knows only
them); users added through the service still get the item in their seen-mask and vectors.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from graphrec.errors import DataError, UnknownIdError, UnsupportedError
from graphrec.inductive import NewItem, feature_rows, fold_in
from graphrec.models.base import InductiveItems
from graphrec.rundir import LoadedRun
from graphrec.service.state import ServingState
from graphrec.service.store import Event, EventStore

logger = logging.getLogger(__name__)


class ItemExistsError(DataError):
    """A new item's id is already served (answered 409)."""


@dataclass(frozen=True)
class Accepted:
    """What a write did: its log sequence number and counts for the response."""

    seq: int
    details: dict[str, Any]


class Writer:
    """Serialises writes: validate → append to the event log (durable) → apply to the run and the serving state."""

    def __init__(self, run: LoadedRun, state: ServingState, store: EventStore) -> None:
        self.run, self.state, self.store = run, state, store
        self._lock = threading.Lock()

    # ------------------------------------------------------------------------------------------ interactions
    def add_interactions(self, interactions: list[dict[str, Any]]) -> Accepted:
        """Store and apply a batch (all or nothing)."""
        body = {
            "interactions": [
                {"user_id": r["user_id"], "item_id": r["item_id"], "timestamp": r.get("timestamp")}
                for r in interactions
            ]
        }
        with self._lock:
            self._check_items_known([r["item_id"] for r in body["interactions"]])
            seq = self.store.append("interactions", body)
            details = self._apply_interactions(body)
        return Accepted(seq, details)

    def _check_items_known(self, item_ids: list[Any]) -> None:
        unknown = list(dict.fromkeys(str(i) for i in item_ids if self.state.items.lookup(i) is None))
        if unknown:
            raise UnknownIdError(
                f"item id(s) {unknown[:5]} are not known to this service; add new items with POST /v1/items first"
            )

    def _apply_interactions(self, body: dict[str, Any]) -> dict[str, Any]:
        state = self.state
        by_user: dict[str, tuple[Any, list[int]]] = {}
        for row in body["interactions"]:
            entry = by_user.setdefault(str(row["user_id"]), (row["user_id"], []))
            entry[1].append(state.items.index(row["item_id"]))
        new_users = 0
        for user_id, items in by_user.values():
            user_idx = state.users.lookup(user_id)
            if user_idx is None:
                self._add_user(user_id, np.unique(np.asarray(items, dtype=np.int64)))
                new_users += 1
            else:
                self._add_seen(user_idx, np.asarray(items, dtype=np.int64))
        return {"accepted": len(body["interactions"]), "new_users": new_users}

    def _add_user(self, user_id: Any, items: np.ndarray) -> None:
        self.state.count_interactions(items)
        vector = self.state.item_vectors.data[items].mean(axis=0)
        self.state.add_user(user_id, vector, items)

    def _add_seen(self, user_idx: int, items: np.ndarray) -> None:
        state = self.state
        fresh = np.setdiff1d(items, state.trained_seen(user_idx))
        fresh = np.setdiff1d(fresh, state.extra_seen(user_idx))
        if len(fresh) == 0:
            return  # repeats of known interactions are logged but change nothing
        state.count_interactions(fresh)
        state.set_extra_seen(user_idx, np.union1d(state.extra_seen(user_idx), fresh))
        state.set_user_vector(user_idx, self.folded_vector(user_idx))

    def folded_vector(self, user_idx: int) -> np.ndarray:
        """The user's vector under the fold-in rule of this module's docstring."""
        state = self.state
        extra = state.extra_seen(user_idx)
        mean = state.item_vectors.data[extra].mean(axis=0)
        if user_idx >= state.num_trained_users:
            return mean
        trained = state.trained_user_vectors[user_idx]
        known, added = len(state.trained_seen(user_idx)), len(extra)
        scale = float(np.linalg.norm(trained)) / max(float(np.linalg.norm(mean)), 1e-12)
        return ((known * trained + added * scale * mean) / (known + added)).astype(np.float32)

    # ----------------------------------------------------------------------------------------------- items
    def add_item(
        self, item_id: Any, features: list[float] | None, users: list[Any], vector: list[float] | None = None
    ) -> Accepted:
        unique_users = list({str(u): u for u in users}.values())  # ids compare by string form: 1 and "1" are one
        body = {"item_id": item_id, "features": features, "users": unique_users, "vector": vector}
        with self._lock:
            self._check_new_item(body)
            embedding = self._embed([body])[0]
            seq = self.store.append("item", body)
            self._publish_item(body, embedding)
        how = "features" if features is not None else "catalogue" if self._feature_width() else "fold-in"
        return Accepted(seq, {"item_id": item_id, "users": len(body["users"]), "embedded_from": how})

    def _feature_width(self) -> int:
        model = self.run.model
        return model.feature_width if isinstance(model, InductiveItems) else 0

    def _check_new_item(self, body: dict[str, Any]) -> None:
        if self.state.scorer is not None:
            raise UnsupportedError(
                f"model '{self.run.config.model.name}' only scores (item–item similarities of the "
                "training data) and cannot take new items while serving; retrain with them"
            )
        if self.state.items.lookup(body["item_id"]) is not None:
            raise ItemExistsError(f"item id {str(body['item_id'])!r} already exists; new items need new ids")
        unknown = [str(u) for u in body["users"] if self.state.users.lookup(u) is None]
        if unknown:
            raise UnknownIdError(
                f"user id(s) {unknown[:5]} are not known to this service; "
                "users must exist (trained, or added through POST /v1/interactions)"
            )
        features, width = body["features"], self._feature_width()
        if body.get("vector") is not None and width == 0:
            raise DataError(
                f"model '{self.run.config.model.name}' takes no item features; send \"vector\": null (the item is "
                "embedded from its users)"
            )
        if body.get("vector") is not None and features is not None:
            raise DataError(
                'got both "features" (a whole row) and "vector" (one block of the catalogue row); send one of them'
            )
        if features is not None and width == 0:
            raise DataError(
                f"model '{self.run.config.model.name}' takes no item features; "
                'send "features": null (the item is embedded from its users)'
            )
        if features is not None and len(features) != width:
            raise DataError(
                f"features.vector has {len(features)} values, the model expects {width} "
                "(the catalogue features plus the log-degree column)"
            )

    def _embed(self, bodies: list[dict[str, Any]]) -> np.ndarray:
        """Embeddings of new items (not yet published). A model that embeds items itself (InductiveItems) grows by
        them, so later items' neighbourhoods see earlier ones; otherwise a pure fold-in over the trained user
        vectors, O(the items' edges). Ids and seen items are the serving state's, never the run's."""
        num_trained = self.state.num_trained_users
        user_lists = []
        for body in bodies:
            found = (self.state.users.index(u) for u in body["users"])
            user_lists.append(np.fromiter((i for i in found if i < num_trained), dtype=np.int64))
        model = self.run.model
        if not isinstance(model, InductiveItems):
            embeddings = fold_in(torch.from_numpy(self.state.trained_user_vectors), user_lists)
            return embeddings.numpy().astype(np.float32)
        new_items = [
            NewItem(
                b["item_id"],
                b["users"],
                None if b["features"] is None else np.asarray(b["features"], dtype=np.float32),
                None if b.get("vector") is None else np.asarray(b["vector"], dtype=np.float32),
            )
            for b in bodies
        ]
        with torch.no_grad():
            plan = model.plan_items(feature_rows(self.run, model.feature_width, new_items, user_lists), user_lists)
            model.add_items(plan)
            return model.planned_embeddings(plan).detach().cpu().numpy().astype(np.float32)

    def _publish_item(self, body: dict[str, Any], embedding: np.ndarray) -> None:
        (item_idx,) = self.state.add_items([body["item_id"]], embedding[None, :])
        for user_id in body["users"]:
            self._add_seen(self.state.users.index(user_id), np.array([item_idx]))

    # ---------------------------------------------------------------------------------------------- replay
    def replay(self) -> int:
        """Apply every logged event in order (at startup, before serving); return how many were applied."""
        count = 0
        pending: list[dict[str, Any]] = []
        with self._lock:
            for event in self.store.events():
                count += 1
                if event.kind == "item" and not self._feature_width():
                    pending.append(event.body)  # fold-in items embed independently: one batch is the same
                    continue
                self._flush_items(pending)
                self._apply(event)
            self._flush_items(pending)
        return count

    def _flush_items(self, bodies: list[dict[str, Any]]) -> None:
        if bodies:
            for body, embedding in zip(bodies, self._embed(bodies), strict=True):
                self._publish_item(body, embedding)
            bodies.clear()

    def _apply(self, event: Event) -> None:
        if event.kind == "interactions":
            self._apply_interactions(event.body)
        elif event.kind == "item":
            self._publish_item(event.body, self._embed([event.body])[0])
        else:
            raise DataError(f"event {event.seq} of the log has unknown kind {event.kind!r}; the log is corrupt")
