"""Reading a run directory back: the trained model with its id maps and seen items (:class:`LoadedRun`).

The layer below :mod:`graphrec.runs` (which trains into run directories): evaluation, export, batch
recommendation, indexing, distributed inference, inductive items and the service all start from a LoadedRun.
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch

from graphrec.config import RunConfig, config_from_dict, config_to_dict
from graphrec.data.idmap import IdMap
from graphrec.errors import ConfigError, DataError, RunDirError, UnsupportedError, collapsed
from graphrec.models import build_model, get_model_class
from graphrec.models.base import EmbeddingRecommender, Recommender, UsersFromItems
from graphrec.models.scoring import DotScorer, Scorer
from graphrec.training.checkpoint import damaged, load_checkpoint
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
    inputs = {}
    for name in wanted:
        path = run_dir / f"{name}.npy"
        if not path.is_file():
            continue
        try:
            inputs[name] = np.load(path, allow_pickle=False)
        except (OSError, ValueError, EOFError) as exc:
            what = collapsed(exc, 80)
            raise damaged(path, f"expected a .npy array, got one numpy cannot read ({what})") from None
    return inputs


def _read_json(path: Path, expected: type, noun: str) -> Any:
    """The JSON value of `path`, of type `expected` (RunDirCorruptError: not UTF-8, not JSON, another type)."""
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise damaged(
            path, f"expected UTF-8 JSON, got byte 0x{exc.object[exc.start]:02x} at offset {exc.start}"
        ) from None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise damaged(
            path, f"expected {noun} in JSON, got invalid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})"
        ) from None
    if not isinstance(value, expected):
        raise damaged(path, f"expected {noun}, got a JSON {type(value).__name__}")
    return value


def read_run_config(run_dir: Path) -> RunConfig:
    """The run's config.json, checked like any config (lenient: earlier versions saved every model and train key)."""
    path = run_dir / "config.json"
    values = _read_json(path, dict, "an object (the run's config)")
    try:
        return config_from_dict(values, lenient=True)
    except ConfigError as exc:
        raise damaged(path, f"expected a valid config, got {exc}") from None


def read_ids(path: Path, kind: str) -> IdMap:
    """The id list `path` (position i -> external id) as an IdMap."""
    ids = _read_json(path, list, f"a list of {kind} ids")
    bad = [i for i, v in enumerate(ids) if isinstance(v, bool) or not isinstance(v, (int, str))][:1]
    if bad:
        got = json.dumps(ids[bad[0]])[:40]
        raise damaged(path, f"expected {kind} ids that are integers or strings, got {got} at position {bad[0]}")
    try:
        return IdMap(ids, kind=kind)
    except DataError as exc:
        raise damaged(path, f"expected distinct {kind} ids, got a repeated one ({exc})") from None


def read_train_edges(run_dir: Path, num_users: int, num_items: int) -> sp.csr_matrix:
    """train_interactions.npz as the users × items seen-mask, every index checked against the id lists."""
    path = run_dir / "train_interactions.npz"
    try:
        with np.load(path, allow_pickle=False) as edges:
            users, items = edges["user_idx"], edges["item_idx"]
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile) as exc:
        what = collapsed(exc, 80)
        raise damaged(
            path, f"expected a .npz of the arrays user_idx and item_idx, got one numpy cannot read ({what})"
        ) from None
    for name, array, count, ids in (
        ("user_idx", users, num_users, "user_ids.json"),
        ("item_idx", items, num_items, "item_ids.json"),
    ):
        if array.ndim != 1 or array.dtype.kind not in "iu" or len(array) != len(users):
            raise damaged(
                path, f"expected {name} as {len(users)} integers, got {array.dtype} of shape {list(array.shape)}"
            )
        if len(array) and (int(array.min()) < 0 or int(array.max()) >= count):
            bad = int(array.max()) if int(array.max()) >= count else int(array.min())
            raise damaged(path, f"{name} holds index {bad}, outside the {count} entries of {ids}")
    ones = np.ones(len(users), dtype=np.float32)
    return sp.csr_matrix((ones, (users, items)), shape=(num_users, num_items))


def load_run(run_dir: str | Path) -> LoadedRun:
    """Rebuild the best model of a run directory. Every artifact is checked as it is read (UTF-8 JSON of the right
    shape, a readable .npz and safetensors file, indices inside the id lists, tensors of the shapes the config and
    id lists make): a damaged one raises RunDirCorruptError naming the file."""
    run_dir = Path(run_dir)
    for name in REQUIRED_FILES:
        if not (run_dir / name).is_file():
            raise RunDirError(f"run directory '{run_dir}' has no {name}; pass a directory written by 'graphrec train'")
    config = read_run_config(run_dir)
    user_ids = read_ids(run_dir / "user_ids.json", "user")
    item_ids = read_ids(run_dir / "item_ids.json", "item")
    train = read_train_edges(run_dir, len(user_ids), len(item_ids))
    model = build_model(config.model, len(user_ids), len(item_ids), train, **load_model_inputs(run_dir, config))
    built_from = (
        f'config.json (model "{config.model.name}") with the {len(user_ids)} users of user_ids.json and the '
        f"{len(item_ids)} items of item_ids.json"
    )
    load_checkpoint(run_dir / BEST_MODEL_FILE, model, built_from=built_from)
    model.eval()
    return LoadedRun(run_dir, config, model, user_ids, item_ids, train)


def data_seed(config: RunConfig) -> int:
    """The seed of the data splits: data.seed when set, else the run's seed."""
    return config.data.seed if config.data.seed is not None else config.seed


def check_same_data(run_dirs: Sequence[str | Path]) -> None:
    """DataError naming the first run whose data differs from the first run's: its data config or split seed, or
    its user or item ids (read from each run directory, no model loaded)."""
    first, *rest = (Path(d) for d in run_dirs)
    reference = _data_identity(first)
    for run_dir in rest:
        identity = _data_identity(run_dir)
        what = next((key for key in reference if identity[key] != reference[key]), None)
        if what is not None:
            raise DataError(
                f"compare: runs must be evaluated on the same data, got '{run_dir}' with a different {what} than "
                f"'{first}'; compare runs trained on the same data (same [data] config, seed and ids)"
            )


def _data_identity(run_dir: Path) -> dict[str, Any]:
    for name in ("config.json", "user_ids.json", "item_ids.json"):
        if not (run_dir / name).is_file():
            raise RunDirError(f"run directory '{run_dir}' has no {name}; pass a directory written by 'graphrec train'")
    config = read_run_config(run_dir)
    return {
        "data config": config_to_dict(config)["data"],
        "split seed": data_seed(config),
        "user ids (user_ids.json)": read_ids(run_dir / "user_ids.json", "user").ids,
        "item ids (item_ids.json)": read_ids(run_dir / "item_ids.json", "item").ids,
    }
