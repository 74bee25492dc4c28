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
import scipy.sparse as sp

from graphrec.config import RunConfig, config_to_dict, config_to_toml, with_absolute_paths
from graphrec.config.sections import data_source
from graphrec.config.train import TrainConfig
from graphrec.data import Dataset, load_dataset
from graphrec.data.features import build_item_features, with_log_degree
from graphrec.errors import ConfigError, UnsupportedError
from graphrec.evaluation.beyond import beyond_metrics
from graphrec.evaluation.compare import BOOTSTRAP_RESAMPLES, UserValues, compare
from graphrec.evaluation.metrics import UnseenTargets, evaluate_scorer_users, mean_metrics
from graphrec.io import atomic_save_npy, atomic_write, atomic_write_text
from graphrec.models import ModelInput, build_model, get_model_class
from graphrec.retrieval import check_k, top_k_items
from graphrec.rundir import LoadedRun, check_same_data, data_seed, load_run
from graphrec.runlock import check_run_target, clear_run, training_lock
from graphrec.seeding import seed_everything
from graphrec.training.distributed import Distributed, distributed_from_env
from graphrec.training.plots import plot_training_curve
from graphrec.training.trainer import Callback, Trainer, check_stopping

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
    if writes:
        plot_training_curve(
            trainer.state.history,
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


def _remap(
    matrix: sp.csr_matrix, source: Dataset, run: LoadedRun, unseen: tuple[np.ndarray, np.ndarray] | None = None
) -> tuple[sp.csr_matrix, UnseenTargets]:
    """Re-index a held-out matrix from the dataset's id maps into the run's, with what the run never saw.

    Returns the matrix of pairs the run knows and, as :class:`UnseenTargets` in the run's user indices, the pairs
    naming a user or item the run never saw: those of `matrix` whose ids are not in the run, plus the dataset's
    own `unseen` pairs (external ids; kept by ``data.unseen_policy = "miss"``).
    """
    coo = matrix.tocoo()
    user_ids = np.asarray(source.user_ids.ids, dtype=object)[coo.row]
    item_ids = np.asarray(source.item_ids.ids, dtype=object)[coo.col]
    same = source.user_ids.ids == run.user_ids.ids and source.item_ids.ids == run.item_ids.ids
    users = coo.row.astype(np.int64) if same else run.user_ids.indices(user_ids)
    items = coo.col.astype(np.int64) if same else run.item_ids.indices(item_ids)
    known = (users >= 0) & (items >= 0)
    extra_users = unseen[0] if unseen is not None else np.zeros(0, object)
    missing_ids = np.concatenate([user_ids[~known], np.asarray(extra_users, dtype=object)])
    missing_idx = np.concatenate(
        [users[~known], run.user_ids.indices(extra_users) if len(extra_users) else np.zeros(0, np.int64)]
    )
    missing = UnseenTargets.of(missing_idx, missing_ids, len(run.user_ids))
    if same:
        return matrix, missing
    return sp.csr_matrix(
        (np.ones(known.sum(), dtype=np.float32), (users[known], items[known])), shape=run.train.shape
    ), missing


def evaluate_run(
    run_dir: str | Path, split: str, ks: list[int], data_path: str | None = None, beyond: bool = False
) -> dict[str, Any]:
    """Full-ranking metrics of a run's best model on the valid or test split of its data (or of `data_path`).

    Held-out interactions naming a user or item the run never saw count as misses under ``data.unseen_policy =
    "miss"`` (the default; see :mod:`graphrec.evaluation.metrics`) and are left out under "drop" (rows dropped at load
    are counted as loaded); either way the
    result reports how many there were (``unseen_interactions``, ``unseen_users``). With `beyond`, the result also
    holds the beyond-accuracy metrics of :mod:`graphrec.evaluation.beyond` (one more scoring pass).
    """
    _check_split(split)
    run = load_run(run_dir)
    values, counts, more = _user_values(run, _run_dataset(run, data_path), split, ks, beyond)
    return {**mean_metrics(values.per_user, values.zeros), **counts, **more}


def _check_split(split: str) -> None:
    if split not in ("valid", "test"):
        raise ConfigError(f"--split must be 'valid' or 'test', got '{split}'")


def _run_dataset(run: LoadedRun, data_path: str | None) -> Dataset:
    """The data `run` was trained on (or the directory `data_path`), split as it was; `run.config.data` is updated
    to name `data_path`."""
    if data_path is not None:
        source = data_source(data_path)
        data_config = run.config.data
        data_config.path, data_config.interactions = source["path"], source["interactions"]
        if data_config.path is not None and data_config.split not in ("auto", "given"):
            data_config.split = "auto"  # a directory is split already
    return load_dataset(run.config.data, seed=data_seed(run.config))


def _user_values(
    run: LoadedRun, dataset: Dataset, split: str, ks: list[int], beyond: bool = False
) -> tuple[UserValues, dict[str, int], dict[str, float | int]]:
    """Per-user metric values of `run` on `split` of `dataset` (users unknown to training as zeros under
    ``unseen_policy = "miss"``), the counts ``unseen_interactions`` and ``unseen_users``, and with `beyond` the
    beyond-accuracy metrics (else an empty dict)."""
    pairs = dataset.unseen.get(split) if dataset.unseen is not None else None
    target, unseen = _remap(dataset.split(split), dataset, run, pairs)
    exclude = [run.train] + ([_remap(dataset.valid, dataset, run)[0]] if split == "test" else [])
    chunk_size = run.config.eval.chunk_size
    counts = unseen.report()
    if run.config.data.unseen_policy == "drop":
        dropped = dataset.stats.get("unseen", {}).get(split, {})
        counts = {
            "unseen_interactions": unseen.interactions + int(dropped.get("rows", 0)),
            "unseen_users": unseen.users + int(dropped.get("users", 0)),
        }
        if unseen.interactions:
            logger.warning(
                "%d held-out interactions name users or items this run never saw; dropped", unseen.interactions
            )
        unseen = UnseenTargets.none(len(run.user_ids))
    rows, per_user = evaluate_scorer_users(run.scorer(), target, exclude, ks, chunk_size, unseen=unseen)
    values = UserValues(rows, per_user, unseen.users)
    if not beyond:
        return values, counts, {}
    top, _ = top_k_items(run.scorer(), rows, max(ks), exclude, chunk_size)
    return values, counts, beyond_metrics(top, rows, run.train, target, ks, per_user)


def compare_runs(
    run_dirs: Sequence[str | Path],
    split: str,
    ks: list[int],
    baseline: str | Path | None = None,
    data_path: str | None = None,
    seed: int = 0,
    resamples: int = BOOTSTRAP_RESAMPLES,
    beyond: bool = True,
) -> dict[str, Any]:
    """:func:`graphrec.evaluation.compare.compare` of the runs `run_dirs` on `split`, against `baseline` (default:
    the first run; one not among `run_dirs` is added first), with each run's beyond-accuracy metrics under
    ``beyond`` unless `beyond` is false. Every run must have been trained on the same data (the same data config and
    split seed, the same user and item ids): DataError otherwise, before anything is evaluated. Each run's means are
    those of :func:`evaluate_run`."""
    _check_split(split)
    labels = _compare_labels(run_dirs, baseline)
    check_same_data(labels)
    values, more = {}, {}
    dataset: Dataset | None = None
    for label in labels:
        run = load_run(label)
        dataset = dataset if dataset is not None else _run_dataset(run, data_path)
        values[label], _, more[label] = _user_values(run, dataset, split, ks, beyond)
    result = compare(values, labels[0], resamples, seed)
    return {"split": split, "ks": list(ks), **result, **({"beyond": more} if beyond else {})}


def _compare_labels(run_dirs: Sequence[str | Path], baseline: str | Path | None) -> list[str]:
    """The run directories as given, the baseline first; ConfigError for a run given twice."""
    labels = [str(d) for d in run_dirs]
    if baseline is not None:
        found = [label for label in labels if Path(label).resolve() == Path(baseline).resolve()]
        labels = [str(baseline), *labels] if not found else [found[0], *(x for x in labels if x != found[0])]
    resolved = [Path(label).resolve() for label in labels]
    repeated = next((label for label, path in zip(labels, resolved, strict=True) if resolved.count(path) > 1), None)
    if repeated is not None:
        raise ConfigError(f"compare: each run once, got '{repeated}' more than once; drop the repeated run")
    if len(labels) < 2:
        raise ConfigError(f"compare: expected at least two runs, got {len(labels)}; pass two or more run directories")
    return labels


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
