"""Run directories: train a model into one, and load, evaluate, export and recommend from one.

A run directory holds everything needed to use the model without the original data::

    config.json / config.toml   the resolved configuration
    user_ids.json, item_ids.json  position i -> external id
    train_interactions.npz      the training edges (internal indices): the graph and the seen-item mask
    data_stats.json             what loading counted (duplicates, dropped rows, sizes)
    item_features.npy           item feature matrix (feature models: PinSAGE, GraphSAGE)
    train_timestamps.npy        timestamps of the training edges, in their order (feature models)
    model.safetensors           the best model by the validation metric
    checkpoint.safetensors      the latest full training state, for --resume
    metrics.jsonl               one JSON object per epoch
    training_curve.png          loss and validation metric per epoch
    summary.json                best epoch, validation metrics, wall time, peak memory
"""

from __future__ import annotations

import json
import logging
import resource
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch

from graphrec.config import RunConfig, config_from_dict, config_to_dict, config_to_toml
from graphrec.data import Dataset, IdMap, load_dataset
from graphrec.data.features import build_item_features, with_log_degree
from graphrec.errors import ConfigError, RunDirError
from graphrec.evaluation import evaluate_embeddings, top_k_items
from graphrec.io import atomic_write, atomic_write_text
from graphrec.models import Recommender, build_model, get_model_class
from graphrec.seeding import seed_everything
from graphrec.training.checkpoint import load_checkpoint
from graphrec.training.distributed import Distributed, distributed_from_env
from graphrec.training.plots import plot_training_curve
from graphrec.training.trainer import BEST_MODEL_FILE, Callback, Trainer

logger = logging.getLogger(__name__)


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _data_seed(config: RunConfig) -> int:
    """The seed of the data splits: data.seed when set, else the run's seed."""
    return config.data.seed if config.data.seed is not None else config.seed


def default_run_dir(config: RunConfig) -> Path:
    return Path("runs") / f"{config.model.name}-{datetime.now():%Y%m%d-%H%M%S}"


def train(
    config: RunConfig, run_dir: str | Path | None = None, resume: bool = False, callbacks: Sequence[Callback] = ()
) -> dict[str, Any]:
    """Load the data, train the configured model into `run_dir`, and return the run's summary.

    Launched by torchrun (WORLD_SIZE >= 2), each rank trains on its slice of every batch with gradients all-reduced
    (graphrec.training.distributed); rank 0 alone writes the run directory and the others wait at barriers.
    """
    with distributed_from_env() as distributed:
        return _train(config, run_dir, resume, callbacks, distributed)


def _train(config: RunConfig, run_dir: str | Path | None, resume: bool, callbacks: Sequence[Callback],
           distributed: Distributed | None) -> dict[str, Any]:
    started = time.perf_counter()
    config.validate()  # again: fields may have been changed in place since the config was built
    run_dir = Path(run_dir) if run_dir is not None else default_run_dir(config)
    if distributed is not None:  # the default name holds the time: take rank 0's
        run_dir = Path(distributed.from_main_object(str(run_dir)))
    writes = distributed is None or distributed.is_main
    if not resume and (run_dir / "summary.json").exists():
        raise ConfigError(f"run directory '{run_dir}' already holds a finished run; pass a new --out or --resume")
    dataset = load_dataset(config.data, seed=_data_seed(config))
    load_seconds = time.perf_counter() - started
    inputs = model_inputs(config, dataset)
    if writes:
        _write_run_inputs(run_dir, config, dataset)
        _save_model_inputs(run_dir, inputs)
    if distributed is not None:
        distributed.barrier()
    seed_everything(config.seed)
    model = build_model(config.model, dataset.num_users, dataset.num_items, dataset.train, **inputs)
    trainer = Trainer(model, dataset, config.train, config.eval, config.seed, run_dir, callbacks,
                      distributed=distributed, metadata=config_to_dict(config))
    result = trainer.fit(resume=resume)
    if writes:
        plot_training_curve(trainer.state.history, config.train.metric, run_dir / "training_curve.png",
                            title=f"{config.model.name} on {config.data.path or config.data.interactions}")
    summary = {
        "model": config.model.name,
        "best_epoch": result.best_epoch,
        "epochs_run": result.epochs_run,
        "stop_reason": result.stop_reason,
        "valid": result.best_valid,
        "train_seconds": round(result.seconds, 3),
        "load_seconds": round(load_seconds, 3),
        "wall_seconds": round(time.perf_counter() - started, 3),
        "peak_rss_mb": round(peak_rss_mb(), 1),
        "num_users": dataset.num_users,
        "num_items": dataset.num_items,
        "run_dir": str(run_dir),
        "world_size": distributed.world_size if distributed is not None else 1,
    }
    if writes:
        atomic_write_text(run_dir / "summary.json", json.dumps(summary, indent=2))
    if distributed is not None:
        distributed.barrier()  # summary.json exists once any rank returns
    return summary


def model_inputs(config: RunConfig, dataset: Dataset) -> dict[str, np.ndarray]:
    """The extra inputs the configured model takes (item features with the log-degree column, timestamps)."""
    wanted = getattr(get_model_class(config.model.name), "inputs", ())
    inputs: dict[str, np.ndarray] = {}
    if "item_features" in wanted and config.features.catalogue is not None:
        features = build_item_features(config.features, [str(i) for i in dataset.item_ids.ids])
        if config.features.log_degree:
            features = with_log_degree(features, np.asarray(dataset.train.sum(axis=0)).ravel())
        inputs["item_features"] = features.matrix
    if "train_timestamps" in wanted and dataset.train_timestamps is not None:
        inputs["train_timestamps"] = dataset.train_timestamps
    return inputs


def _save_model_inputs(run_dir: Path, inputs: dict[str, np.ndarray]) -> None:
    for name, array in inputs.items():
        atomic_write(run_dir / f"{name}.npy", lambda tmp, a=array: _save_array(tmp, a))


def _load_model_inputs(run_dir: Path, config: RunConfig) -> dict[str, np.ndarray]:
    wanted = getattr(get_model_class(config.model.name), "inputs", ())
    return {name: np.load(run_dir / f"{name}.npy", allow_pickle=False)
            for name in wanted if (run_dir / f"{name}.npy").is_file()}


def _write_run_inputs(run_dir: Path, config: RunConfig, dataset: Dataset) -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(run_dir / "config.json", json.dumps(config_to_dict(config), indent=2))
    atomic_write_text(run_dir / "config.toml", config_to_toml(config))
    dataset.user_ids.save(run_dir / "user_ids.json")
    dataset.item_ids.save(run_dir / "item_ids.json")
    users, items = dataset.train_edges()
    atomic_write(run_dir / "train_interactions.npz",
                 lambda tmp: _save_arrays(tmp, user_idx=users.astype(np.int32), item_idx=items.astype(np.int32)))
    atomic_write_text(run_dir / "data_stats.json", json.dumps(dataset.stats, indent=2, default=str))


def _save_arrays(path: Path, **arrays: np.ndarray) -> None:
    with open(path, "wb") as handle:
        np.savez(handle, **arrays)


def _save_array(path: Path, array: np.ndarray) -> None:
    with open(path, "wb") as handle:
        np.save(handle, array, allow_pickle=False)


@dataclass
class LoadedRun:
    """A trained model with what it needs to score: id maps and the seen-item mask.

    Embeddings are computed once and cached; anything that changes the model or the item set (new items) calls
    :meth:`invalidate`. Items folded in without a model change live in `extra_item_embeddings`.
    """

    run_dir: Path
    config: RunConfig
    model: Recommender
    user_ids: IdMap
    item_ids: IdMap
    train: sp.csr_matrix
    extra_item_embeddings: torch.Tensor | None = None
    _cache: tuple[torch.Tensor, torch.Tensor] | None = None

    def embeddings(self) -> tuple[torch.Tensor, torch.Tensor]:
        if self._cache is None:
            self.model.eval()
            with torch.no_grad():
                users, items = self.model.embeddings()
            if self.extra_item_embeddings is not None:
                items = torch.cat([items, self.extra_item_embeddings])
            self._cache = (users, items)
        return self._cache

    def invalidate(self) -> None:
        self._cache = None

    def append_items(self, new_items: torch.Tensor) -> None:
        """Items appended to the model whose embeddings are already known: extend the cache instead of recomputing
        every item (existing items keep their embeddings; users built from items are recomputed from the cache)."""
        if self._cache is None:
            return
        users, items = self._cache
        items = torch.cat([items, new_items])
        user_embeddings = getattr(self.model, "user_embeddings", None)
        self._cache = (user_embeddings(items) if user_embeddings is not None else users, items)


def load_run(run_dir: str | Path) -> LoadedRun:
    """Rebuild the best model of a run directory."""
    run_dir = Path(run_dir)
    for name in ("config.json", "user_ids.json", "item_ids.json", "train_interactions.npz", BEST_MODEL_FILE):
        if not (run_dir / name).is_file():
            raise RunDirError(
                f"run directory '{run_dir}' has no {name}; pass a directory written by 'graphrec train'"
            )
    # lenient: earlier versions saved every model and train key, whichever the model used
    config = config_from_dict(json.loads((run_dir / "config.json").read_text(encoding="utf-8")), lenient=True)
    user_ids = IdMap.load(run_dir / "user_ids.json", kind="user")
    item_ids = IdMap.load(run_dir / "item_ids.json", kind="item")
    with np.load(run_dir / "train_interactions.npz", allow_pickle=False) as edges:
        users, items = edges["user_idx"], edges["item_idx"]
    train = sp.csr_matrix((np.ones(len(users), dtype=np.float32), (users, items)),
                          shape=(len(user_ids), len(item_ids)))
    model = build_model(config.model, len(user_ids), len(item_ids), train, **_load_model_inputs(run_dir, config))
    load_checkpoint(run_dir / BEST_MODEL_FILE, model)
    model.eval()
    return LoadedRun(run_dir, config, model, user_ids, item_ids, train)


def _remap(matrix: sp.csr_matrix, source: Dataset, run: LoadedRun) -> sp.csr_matrix:
    """Re-index a held-out matrix from the dataset's id maps into the run's; ids the run never saw are dropped."""
    if source.user_ids.ids == run.user_ids.ids and source.item_ids.ids == run.item_ids.ids:
        return matrix
    coo = matrix.tocoo()
    users = run.user_ids.indices(np.asarray(source.user_ids.ids, dtype=object)[coo.row])
    items = run.item_ids.indices(np.asarray(source.item_ids.ids, dtype=object)[coo.col])
    known = (users >= 0) & (items >= 0)
    if not known.all():
        logger.warning("%d held-out interactions name users or items this run never saw; dropped", (~known).sum())
    return sp.csr_matrix((np.ones(known.sum(), dtype=np.float32), (users[known], items[known])),
                         shape=run.train.shape)


def evaluate_run(run_dir: str | Path, split: str, ks: list[int], data_path: str | None = None) -> dict[str, Any]:
    """Full-ranking metrics of a run's best model on the valid or test split of its data (or of `data_path`)."""
    if split not in ("valid", "test"):
        raise ConfigError(f"--split must be 'valid' or 'test', got '{split}'")
    run = load_run(run_dir)
    data_config = run.config.data
    if data_path is not None:
        data_config.path, data_config.interactions = data_path, None
    dataset = load_dataset(data_config, seed=_data_seed(run.config))
    target = _remap(dataset.split(split), dataset, run)
    exclude = [run.train] + ([_remap(dataset.valid, dataset, run)] if split == "test" else [])
    user_emb, item_emb = run.embeddings()
    return evaluate_embeddings(user_emb, item_emb, target, exclude, ks, run.config.eval.chunk_size)


def export_run(run_dir: str | Path, out_dir: str | Path) -> list[Path]:
    """Write the final embeddings (float32; dot product = the model's score) and the id lists into `out_dir`."""
    run = load_run(run_dir)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    user_emb, item_emb = run.embeddings()
    written = []
    for name, tensor in (("user_embeddings.npy", user_emb), ("item_embeddings.npy", item_emb)):
        array = tensor.detach().cpu().numpy().astype(np.float32)
        atomic_write(out_dir / name, lambda tmp, a=array: _save_array(tmp, a))
        written.append(out_dir / name)
    for name, ids in (("user_ids.json", run.user_ids), ("item_ids.json", run.item_ids)):
        ids.save(out_dir / name)
        written.append(out_dir / name)
    return written


def recommend(run_dir: str | Path | LoadedRun, user_id: object, k: int) -> list[dict[str, Any]]:
    """The top-k unseen items for one external user id, as [{"item_id", "score"}] best first."""
    if k < 1:
        raise ConfigError(f"--k must be at least 1, got {k}")
    run = run_dir if isinstance(run_dir, LoadedRun) else load_run(run_dir)
    user_idx = run.user_ids.index(user_id)
    user_emb, item_emb = run.embeddings()
    items, scores = top_k_items(user_emb, item_emb, np.array([user_idx]), k, run.train)
    return [
        {"item_id": run.item_ids.id_of(int(i)), "score": float(s)}
        for i, s in zip(items[0], scores[0])
        if i >= 0
    ]
