"""Run directories: train a model into one, and load, evaluate, export and recommend from one.

A run directory holds everything needed to use the model without the original data::

    config.json / config.toml   the resolved configuration (graphrec.rundir reads a run directory back)
    user_ids.json, item_ids.json  position i -> external id
    train_interactions.npz      the training edges (internal indices): the graph and the seen-item mask
    data_stats.json             what loading counted (duplicates, dropped rows, sizes)
    item_features.npy           item feature matrix (feature models: PinSAGE, GraphSAGE; GCN, GAT)
    train_timestamps.npy        timestamps of the training edges, in their order (feature models)
    model.safetensors           the best model by the validation metric
    checkpoint.safetensors      the latest full training state, for --resume
    checkpoint.prev.safetensors the one before it: --resume falls back to it when the latest is damaged
    metrics.jsonl               one JSON object per epoch
    training_curve.png          loss and validation metric per epoch
    report.html                 a short self-contained report: summary, training curves, configuration
    summary.json                best epoch, validation metrics, wall time, peak memory
    selection.json              what a model that selects on validation chose (blend: weights, every candidate)
    train.lock                  flock-ed while a process trains into the directory (graphrec.runlock)
"""

from __future__ import annotations

import json
import logging
import resource
import time
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from graphrec.assessment import compare_runs, evaluate_run
from graphrec.config import RunConfig, config_to_dict, config_to_toml, with_absolute_paths
from graphrec.config.train import EdgeTrainConfig, TrainConfig
from graphrec.data import Dataset, load_dataset
from graphrec.data.features import build_item_features, with_log_degree
from graphrec.errors import ConfigError, UnsupportedError
from graphrec.io import atomic_save_npy, atomic_write, atomic_write_text
from graphrec.models import ModelInput, build_model, get_model_class
from graphrec.report import write_run_report
from graphrec.retrieval import check_k, top_k_items
from graphrec.rundir import LoadedRun, data_seed, load_run
from graphrec.runlock import check_run_target, clear_run, training_lock
from graphrec.seeding import seed_everything
from graphrec.training.distributed import Distributed, distributed_from_env
from graphrec.training.plots import plot_training_curve
from graphrec.training.trainer import Callback, Trainer, TrainResult, check_stopping

logger = logging.getLogger(__name__)


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def default_run_dir(config: RunConfig) -> Path:
    return Path("runs") / f"{config.model.name}-{datetime.now():%Y%m%d-%H%M%S}"


def train(
    config: RunConfig,
    run_dir: str | Path | None = None,
    resume: bool = False,
    callbacks: Sequence[Callback] = (),
    overwrite: bool = False,
) -> dict[str, Any]:
    """Load the data, train the configured model into `run_dir`, and return the run's summary.

    A `run_dir` that already holds a run is refused (RunDirError) unless `resume` (continue from its checkpoint) or
    `overwrite` (delete the earlier run's files first); another process training into it is refused too
    (graphrec.runlock). Launched by torchrun (WORLD_SIZE >= 2), each rank trains on its slice of every batch with
    gradients all-reduced (graphrec.training.distributed); rank 0 alone writes the run directory and the others
    wait at barriers.
    """
    config.validate()  # again: fields may have been changed in place since the config was built
    config = with_absolute_paths(config)  # saved so: the run works from any working directory
    with distributed_from_env() as distributed:
        run_dir = Path(run_dir) if run_dir is not None else default_run_dir(config)
        if distributed is not None:  # the default name holds the time: take rank 0's
            run_dir = Path(distributed.from_main_object(str(run_dir)))
        writes = distributed is None or distributed.is_main
        with training_lock(run_dir, enabled=writes):
            check_run_target(run_dir, resume, overwrite)
            if overwrite and writes:
                clear_run(run_dir)
            if distributed is not None:
                distributed.barrier()  # no rank looks at the directory while rank 0 clears it
            return _train(config, run_dir, resume, callbacks, distributed)


def _train(
    config: RunConfig,
    run_dir: Path,
    resume: bool,
    callbacks: Sequence[Callback],
    distributed: Distributed | None,
) -> dict[str, Any]:
    started = time.perf_counter()
    writes = distributed is None or distributed.is_main
    dataset = load_dataset(config.data, seed=data_seed(config))
    load_seconds = time.perf_counter() - started
    if isinstance(config.train, EdgeTrainConfig) and config.train.partitioned:
        return _train_partitioned(config, dataset, run_dir, resume, callbacks, distributed, started, load_seconds)
    inputs = model_inputs(config, dataset)
    seed_everything(config.seed)
    # built before anything is written: a model that refuses the data (EASE over its item budget) leaves no run
    model = build_model(config.model, dataset.num_users, dataset.num_items, dataset.train, **inputs)
    if model.trainable and isinstance(config.train, TrainConfig):  # and a run nothing would stop leaves none either
        check_stopping(config.train, dataset)
    if writes:
        _write_run_inputs(run_dir, config, dataset)
        _save_model_inputs(run_dir, inputs)
    if distributed is not None:
        distributed.barrier()
    trainer = Trainer(
        model,
        dataset,
        config.train,
        config.eval,
        config.seed,
        run_dir,
        callbacks,
        distributed=distributed,
        metadata=config_to_dict(config),
    )
    result = trainer.fit(resume=resume)
    return _finish(config, dataset, run_dir, distributed, result, trainer.state.history, started, load_seconds)


def _train_partitioned(
    config: RunConfig,
    dataset: Dataset,
    run_dir: Path,
    resume: bool,
    callbacks: Sequence[Callback],
    distributed: Distributed | None,
    started: float,
    load_seconds: float,
) -> dict[str, Any]:
    """train.partitioned: LightGCN with Ã, tables and Adam state split across the ranks (no full model is built)."""
    from graphrec.training.partitioned_fit import PartitionedFit

    assert isinstance(config.train, EdgeTrainConfig)  # _train routes only these here
    check_stopping(config.train, dataset)
    fit = PartitionedFit(config, dataset, run_dir, distributed, list(callbacks))
    if distributed is None or distributed.is_main:
        _write_run_inputs(run_dir, config, dataset)
    if distributed is not None:
        distributed.barrier()
    result = fit.fit(resume)
    return _finish(config, dataset, run_dir, distributed, result, fit.state.history, started, load_seconds)


def _finish(
    config: RunConfig,
    dataset: Dataset,
    run_dir: Path,
    distributed: Distributed | None,
    result: TrainResult,
    history: list[dict[str, Any]],
    started: float,
    load_seconds: float,
) -> dict[str, Any]:
    """The training curve, summary.json and the run report (rank 0), once training has stopped."""
    writes = distributed is None or distributed.is_main
    if writes:
        plot_training_curve(
            history,
            config.train.metric,
            run_dir / "training_curve.png",
            title=f"{config.model.name} on {config.data.path or config.data.interactions}",
        )
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
        write_run_report(run_dir, config, summary)
    if distributed is not None:
        distributed.barrier()  # summary.json exists once any rank returns
    return summary


def model_inputs(config: RunConfig, dataset: Dataset) -> dict[str, np.ndarray]:
    """The extra inputs the configured model takes (item features with the log-degree column, timestamps)."""
    wanted = get_model_class(config.model.name).inputs
    inputs: dict[str, np.ndarray] = {}
    if ModelInput.ITEM_FEATURES in wanted and config.features.catalogue is not None:
        features = build_item_features(config.features, [str(i) for i in dataset.item_ids.ids])
        if config.features.log_degree:
            features = with_log_degree(features, np.asarray(dataset.train.sum(axis=0)).ravel())
        inputs["item_features"] = features.matrix
    if ModelInput.TRAIN_TIMESTAMPS in wanted and dataset.train_timestamps is not None:
        inputs["train_timestamps"] = dataset.train_timestamps
    return inputs


def _save_model_inputs(run_dir: Path, inputs: dict[str, np.ndarray]) -> None:
    for name, array in inputs.items():
        atomic_save_npy(run_dir / f"{name}.npy", array)


def _write_run_inputs(run_dir: Path, config: RunConfig, dataset: Dataset) -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(run_dir / "config.json", json.dumps(config_to_dict(config), indent=2))
    atomic_write_text(run_dir / "config.toml", config_to_toml(config))
    dataset.user_ids.save(run_dir / "user_ids.json")
    dataset.item_ids.save(run_dir / "item_ids.json")
    users, items = dataset.train_edges()
    atomic_write(
        run_dir / "train_interactions.npz",
        lambda tmp: _save_edges(tmp, users.astype(np.int32), items.astype(np.int32)),
    )
    atomic_write_text(run_dir / "data_stats.json", json.dumps(dataset.stats, indent=2, default=str))


def _save_edges(path: Path, user_idx: np.ndarray, item_idx: np.ndarray) -> None:
    with open(path, "wb") as handle:
        np.savez(handle, user_idx=user_idx, item_idx=item_idx)


EXPORT_FILES = ("user_embeddings.npy", "item_embeddings.npy", "user_ids.json", "item_ids.json")


def check_export_target(out_dir: Path, overwrite: bool) -> None:
    """Refuse an export `out_dir` that is a file, or that holds an earlier export unless `overwrite`."""
    if out_dir.exists() and not out_dir.is_dir():
        raise ConfigError(
            f"export --out '{out_dir}': expected a directory, got an existing file; export writes "
            f"{', '.join(EXPORT_FILES)} into a directory: pass a new or existing directory"
        )
    existing = [name for name in EXPORT_FILES if (out_dir / name).exists()]
    if existing and not overwrite:
        raise ConfigError(
            f"export --out '{out_dir}': the directory already holds {existing[0]} (an earlier export); pass "
            "--overwrite to replace it, or a new directory"
        )


def export_run(run_dir: str | Path, out_dir: str | Path, overwrite: bool = False) -> list[Path]:
    """Write the final embeddings (float32; dot product = the model's score) and the id lists into `out_dir`
    (ConfigError when `out_dir` is a file, or holds an earlier export and `overwrite` is false)."""
    out_dir = Path(out_dir)
    check_export_target(out_dir, overwrite)
    run = load_run(run_dir)
    if not run.has_embeddings:
        raise UnsupportedError(
            f"cannot export run '{run_dir}': model '{run.config.model.name}' has no user or item embeddings (its "
            "score is a sparse item–item product, kept in the run's model.safetensors); use graphrec recommend / "
            "recommend --all / serve on the run directory itself"
        )
    out_dir.mkdir(parents=True, exist_ok=True)
    user_emb, item_emb = run.embeddings()
    written = []
    for name, tensor in (("user_embeddings.npy", user_emb), ("item_embeddings.npy", item_emb)):
        atomic_save_npy(out_dir / name, tensor.detach().cpu().numpy().astype(np.float32))
        written.append(out_dir / name)
    for name, ids in (("user_ids.json", run.user_ids), ("item_ids.json", run.item_ids)):
        ids.save(out_dir / name)
        written.append(out_dir / name)
    return written


def recommend(run_dir: str | Path | LoadedRun, user_id: object, k: int) -> list[dict[str, Any]]:
    """The top-k unseen items for one external user id, as [{"item_id", "score"}] best first (ties: smaller item
    index first, graphrec.retrieval's rule). A k beyond the catalogue asks for every unseen item: it is clamped to the
    number of items, so nothing is allocated for rows that cannot be filled."""
    k = check_k(k)
    run = run_dir if isinstance(run_dir, LoadedRun) else load_run(run_dir)
    user_idx = run.user_ids.index(user_id)
    k = min(k, len(run.item_ids))
    items, scores = top_k_items(run.scorer(), np.array([user_idx]), k, run.train)
    pairs = zip(items[0], scores[0], strict=True)
    return [{"item_id": run.item_ids.id_of(int(i)), "score": float(s)} for i, s in pairs if i >= 0]


__all__ = [
    "LoadedRun",
    "compare_runs",
    "data_seed",
    "evaluate_run",
    "export_run",
    "load_run",
    "model_inputs",
    "recommend",
    "train",
]
