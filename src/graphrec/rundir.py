"""Reading a run directory back: the trained model with its id maps and seen items (:class:`LoadedRun`).

The layer below :mod:`graphrec.runs` (which trains into run directories): evaluation, export, batch
recommendation, indexing, distributed inference, inductive items and the service all start from a LoadedRun.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch

from graphrec.config import RunConfig, config_from_dict
from graphrec.data.idmap import IdMap
from graphrec.errors import RunDirError, UnsupportedError
from graphrec.models import build_model, get_model_class
from graphrec.models.base import EmbeddingRecommender, Recommender, UsersFromItems
from graphrec.models.scoring import DotScorer, Scorer
from graphrec.training.checkpoint import load_checkpoint
from graphrec.training.trainer import BEST_MODEL_FILE

REQUIRED_FILES = ("config.json", "user_ids.json", "item_ids.json", "train_interactions.npz", BEST_MODEL_FILE)


@dataclass
class LoadedRun:
    """A trained model with what it needs to score: id maps and the seen-item mask.

    The scorer (for embedding models: the final embeddings) is computed once and cached; anything that changes the
    model calls :meth:`invalidate`. Items folded in without a model change live in `extra_item_embeddings`.
    """

    run_dir: Path
    config: RunConfig
    model: Recommender
    user_ids: IdMap
    item_ids: IdMap
    train: sp.csr_matrix
    extra_item_embeddings: torch.Tensor | None = None
    _scorer: Scorer | None = field(default=None, repr=False)

    def scorer(self) -> Scorer:
        """What ranks items for users (and items for items) over every item of the run, added ones included."""
        if self._scorer is None:
            self.model.eval()
            with torch.no_grad():
                scorer = self.model.scorer()
            if self.extra_item_embeddings is not None:
                assert isinstance(scorer, DotScorer)  # only embedding models fold items in
                scorer = DotScorer(scorer.user_emb, torch.cat([scorer.item_emb, self.extra_item_embeddings]))
            self._scorer = scorer
        return self._scorer

    def embeddings(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Final (user, item) embeddings; UnsupportedError for a model that only scores."""
        scorer = self.scorer()
        if not isinstance(scorer, DotScorer):
            raise UnsupportedError(
                f"model '{self.config.model.name}' has no embeddings: its scores are not a dot product of user and "
                "item vectors (item–item similarities, or a blend of runs); "
                "this needs an embedding model (mf, lightgcn, ngcf, pinsage, graphsage, popularity)"
            )
        return scorer.user_emb, scorer.item_emb

    @property
    def has_embeddings(self) -> bool:
        return isinstance(self.model, EmbeddingRecommender)

    def invalidate(self) -> None:
        self._scorer = None

    def add_items(
        self, item_ids: Sequence[Any], embeddings: torch.Tensor, item_users: list[np.ndarray], model_grew: bool
    ) -> None:
        """The mutating step after new items were embedded: append their ids, their users to the seen-mask, and
        their embeddings to the cached scorer. `model_grew`: the model itself now holds the items (feature models);
        otherwise the embeddings are kept as `extra_item_embeddings`."""
        self.item_ids = self.item_ids.extended(item_ids)
        self.train = grow_seen(self.train, item_users)
        if not model_grew:
            self.extra_item_embeddings = (
                embeddings
                if self.extra_item_embeddings is None
                else torch.cat([self.extra_item_embeddings, embeddings])
            )
        if self._scorer is None:
            return
        assert isinstance(self._scorer, DotScorer)
        items = torch.cat([self._scorer.item_emb, embeddings])
        users = self.model.users_from_items(items) if isinstance(self.model, UsersFromItems) else self._scorer.user_emb
        self._scorer = DotScorer(users, items)


def grow_seen(train: sp.csr_matrix, user_lists: list[np.ndarray]) -> sp.csr_matrix:
    """The seen-mask with one new column per new item, marked for the users who engaged with it."""
    count = len(user_lists)
    rows = np.concatenate(user_lists) if count else np.zeros(0, dtype=np.int64)
    cols = train.shape[1] + np.repeat(np.arange(count), [len(u) for u in user_lists])
    extra = sp.csr_matrix(
        (np.ones(rows.size, dtype=np.float32), (rows, cols)), shape=(train.shape[0], train.shape[1] + count)
    )
    return (sp.hstack([train, sp.csr_matrix((train.shape[0], count), dtype=np.float32)]).tocsr() + extra).tocsr()


def load_model_inputs(run_dir: Path, config: RunConfig) -> dict[str, np.ndarray]:
    """The saved extra inputs (NAME.npy) the run's model class declares."""
    wanted = [kind.value for kind in get_model_class(config.model.name).inputs]
    return {
        name: np.load(run_dir / f"{name}.npy", allow_pickle=False)
        for name in wanted
        if (run_dir / f"{name}.npy").is_file()
    }


def load_run(run_dir: str | Path) -> LoadedRun:
    """Rebuild the best model of a run directory."""
    run_dir = Path(run_dir)
    for name in REQUIRED_FILES:
        if not (run_dir / name).is_file():
            raise RunDirError(f"run directory '{run_dir}' has no {name}; pass a directory written by 'graphrec train'")
    # lenient: earlier versions saved every model and train key, whichever the model used
    config = config_from_dict(json.loads((run_dir / "config.json").read_text(encoding="utf-8")), lenient=True)
    user_ids = IdMap.load(run_dir / "user_ids.json", kind="user")
    item_ids = IdMap.load(run_dir / "item_ids.json", kind="item")
    with np.load(run_dir / "train_interactions.npz", allow_pickle=False) as edges:
        users, items = edges["user_idx"], edges["item_idx"]
    train = sp.csr_matrix((np.ones(len(users), dtype=np.float32), (users, items)), shape=(len(user_ids), len(item_ids)))
    model = build_model(config.model, len(user_ids), len(item_ids), train, **load_model_inputs(run_dir, config))
    load_checkpoint(run_dir / BEST_MODEL_FILE, model)
    model.eval()
    return LoadedRun(run_dir, config, model, user_ids, item_ids, train)
