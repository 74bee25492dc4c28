"""The training loop: a batch from the objective, its loss, an Adam step; validate, keep the best, stop early.

Everything the loop depends on (model, optimizer, edge order, negative sampler, torch RNG, epoch, history,
early-stopping state) is in the checkpoint, so a resumed run continues exactly as an uninterrupted one.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from graphrec.config.params import error_message
from graphrec.config.sections import EvalConfig, metric_names
from graphrec.config.train import ClosedFormTrainConfig, EdgeTrainConfig, TrainConfig
from graphrec.data.dataset import Dataset
from graphrec.errors import ConfigError, TrainingError
from graphrec.evaluation import evaluate_model
from graphrec.evaluation.validation import ValidationSplit
from graphrec.io import atomic_write_text
from graphrec.models.base import EmbeddingRecommender, Recommender, SelectsOnValidation
from graphrec.progress import progress_shown
from graphrec.training.checkpoint import damaged, load_checkpoint, resume_from, save_checkpoint
from graphrec.training.distributed import Distributed
from graphrec.training.lazy_adam import LazyAdam
from graphrec.training.objectives import Objective, make_objective

logger = logging.getLogger(__name__)

CHECKPOINT_FILE = "checkpoint.safetensors"  # the latest state, for resuming
PREVIOUS_CHECKPOINT_FILE = "checkpoint.prev.safetensors"  # the one before: --resume falls back to it
BEST_MODEL_FILE = "model.safetensors"  # the best model by the validation metric
METRICS_FILE = "metrics.jsonl"
SELECTION_FILE = "selection.json"  # what a model that selects on validation chose, and how (blend: its weights)


@dataclass
class EpochReport:
    """What every callback receives at the end of an epoch."""

    epoch: int
    train_loss: float
    epoch_seconds: float
    elapsed_seconds: float
    valid: dict[str, float] | None = None
    is_best: bool = False


Callback = Callable[[EpochReport], None]


@dataclass
class TrainState:
    epoch: int = 0
    elapsed_seconds: float = 0.0
    best_value: float = -math.inf
    best_epoch: int = 0
    best_valid: dict[str, float] = field(default_factory=dict)
    bad_evals: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class TrainResult:
    best_epoch: int
    best_valid: dict[str, float]
    epochs_run: int
    seconds: float
    stop_reason: str


class Trainer:
    """Trains one model on one dataset with its train and eval sections, writing artifacts into `run_dir` (if given).

    Models fitted in closed form (``trainable = False``) get a ClosedFormTrainConfig and no objective."""

    def __init__(
        self,
        model: Recommender,
        dataset: Dataset,
        train: TrainConfig | ClosedFormTrainConfig,
        eval: EvalConfig,
        seed: int,
        run_dir: str | Path | None = None,
        callbacks: Sequence[Callback] = (),
        distributed: Distributed | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        """`distributed`: this process's rank under torchrun (graphrec.training.distributed); batches are then
        split across ranks with gradients all-reduced, validation is gathered, and only rank 0 writes.
        `metadata`: the resolved run config (a dict), saved as is in every checkpoint."""
        self.model, self.dataset, self.train, self.eval, self.seed = model, dataset, train, eval, seed
        self.metadata = metadata or {}
        self.distributed = distributed
        self.run_dir = Path(run_dir) if run_dir is not None else None
        self.callbacks = list(callbacks)
        if train.metric not in metric_names(eval.ks):  # RunConfig checks this; a Trainer can be built without one
            raise ConfigError(
                error_message(
                    "train.metric",
                    f"one of {', '.join(metric_names(eval.ks))} (eval.ks)",
                    train.metric,
                    f"ndcg@{eval.ks[-1]}",
                )
            )
        self.objective: Objective | None = None
        self.optimizer: torch.optim.Optimizer | None = None
        if model.trainable:
            fit = self._fit_config
            check_stopping(fit, dataset)
            sparse = isinstance(fit, EdgeTrainConfig) and fit.sparse_updates
            if sparse and distributed is not None:
                raise ConfigError(
                    "train.sparse_updates: sparse gradients are not all-reduced across ranks (gloo has "
                    "no sparse all-reduce here); unset train.sparse_updates for torchrun training"
                )
            self.objective = make_objective(model, dataset, fit, seed)
            assert isinstance(model, EmbeddingRecommender)  # make_objective refuses any other trainable model
            self.optimizer = _make_optimizer(model, fit.lr, fit.weight_decay, sparse)
        self.state = TrainState()
        if distributed is not None:
            distributed.broadcast_parameters(model)

    def fit(self, resume: bool = False) -> TrainResult:
        """Train until `train.epochs`, early stopping or the time budget; return the best validation result."""
        if not self.model.trainable:
            return self._fit_closed_form()
        if resume:
            self._resume()
        while (stop_reason := self._stop_reason()) is None:
            started = time.perf_counter()
            loss = self._train_epoch()
            self.state.epoch += 1
            seconds = time.perf_counter() - started
            self._add_elapsed(seconds)
            report = self._end_epoch(loss, seconds)
            for callback in self.callbacks:
                callback(report)
        self._log_stop(stop_reason)
        return TrainResult(
            self.state.best_epoch, self.state.best_valid, self.state.epoch, self.state.elapsed_seconds, stop_reason
        )

    def _log_stop(self, stop_reason: str) -> None:
        state, metric = self.state, self._fit_config.metric
        if state.best_valid:
            logger.info(
                "stopped after epoch %d (%s); best %s = %.5f at epoch %d",
                state.epoch,
                stop_reason,
                metric,
                state.best_value,
                state.best_epoch,
            )
        else:  # no validation split: nothing was compared, the latest model is kept
            logger.info(
                "stopped after epoch %d (%s); no validation split, so the model of epoch %d is kept",
                state.epoch,
                stop_reason,
                state.best_epoch,
            )

    def _stop_reason(self) -> str | None:
        return stop_reason(self._fit_config, self.state)

    def _add_elapsed(self, seconds: float) -> None:
        """Count `seconds` against train.time_budget_s (training and validation passes alike)."""
        self.state.elapsed_seconds += seconds
        if self.distributed is not None:  # rank 0's clock for train.time_budget_s, so all ranks stop together
            self.state.elapsed_seconds = self.distributed.from_main(self.state.elapsed_seconds)

    def _budget_spent(self) -> bool:
        budget = self._fit_config.time_budget_s
        return budget is not None and self.state.elapsed_seconds >= budget

    def _train_epoch(self) -> float:
        self.model.train()
        train, objective = self._fit_config, self.objective
        assert objective is not None and self.optimizer is not None  # trainable models have both
        total, batches = 0.0, objective.epoch(self.state.epoch)
        bar = tqdm(
            batches,
            total=objective.num_batches,
            desc=f"epoch {self.state.epoch + 1}",
            disable=not progress_shown(train.show_progress) or not self._writes,
            leave=False,
        )
        for step, batch in enumerate(bar):
            self._set_lr(self.state.epoch * objective.num_batches + step)
            self.optimizer.zero_grad(set_to_none=True)
            loss = self._backward(batch)
            check_finite_loss(loss, self.state.epoch, step, objective.num_batches, train.lr)
            self.optimizer.step()
            total += loss
            bar.set_postfix(loss=f"{loss:.4f}")
        return total / max(objective.num_batches, 1)

    def _check_finite_parameters(self) -> None:
        """TrainingError when a parameter holds nan or inf although every loss was finite (the last step of the
        epoch, whose loss was computed before its update, can overflow the weights)."""
        for name, tensor in self.model.state_dict().items():
            if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
                raise TrainingError(
                    f"training diverged: parameter '{name}' holds nan or inf after epoch {self.state.epoch}; lower "
                    f"train.lr (now {self._fit_config.lr}) or check the data (the run keeps its last finite model)"
                )

    def _backward(self, batch: Any) -> float:
        """Loss and gradients of one batch; under torch.distributed, of this rank's slice, then the all-reduce that
        makes every rank's gradient (and the returned loss) the global batch's."""
        assert self.objective is not None
        share = 1.0
        if self.distributed is not None:
            batch, share = self.distributed.shard_batch(batch)
        value = 0.0
        if share > 0:  # a rank whose slice of a tiny last batch is empty still joins the all-reduce
            loss = self.objective.loss(batch)
            loss.backward()
            value = float(loss.detach())
        if self.distributed is None:
            return value
        return self.distributed.all_reduce_gradients(self.model, share, value)

    @property
    def _fit_config(self) -> TrainConfig:
        """The train section of a model trained by gradient steps (closed-form models never get here)."""
        if not isinstance(self.train, TrainConfig):
            raise ConfigError(
                f"train: model '{self.model.name}' trains by gradient steps, got the closed-form train "
                "section; build the config for this model (graphrec.config picks the section by model)"
            )
        return self.train

    @property
    def _writes(self) -> bool:
        """Whether this process writes run artifacts (always, except the non-zero ranks of a distributed run)."""
        return self.distributed is None or self.distributed.is_main

    def _set_lr(self, global_step: int) -> None:
        """Linear decay from train.lr to train.lr_final over epochs × batches (a function of the step: resumable)."""
        assert self.objective is not None and self.optimizer is not None
        set_scheduled_lr(self.optimizer, self._fit_config, global_step, self.objective.num_batches)

    def _end_epoch(self, loss: float, seconds: float) -> EpochReport:
        train, state = self._fit_config, self.state
        self._check_finite_parameters()  # before anything is validated or saved: a nan model is never "best"
        report = EpochReport(state.epoch, loss, seconds, state.elapsed_seconds)
        # the last epoch is validated whatever stops there (the epoch count, the time budget), so none goes unseen
        at_eval_point = state.epoch % train.eval_every == 0 or state.epoch == train.epochs or self._budget_spent()
        if self.dataset.valid.nnz == 0:
            # No validation split (data.valid_ratio = 0: train on everything for a fixed budget): keep the latest.
            state.best_epoch = state.epoch
            self._save_best()
        elif at_eval_point:
            started = time.perf_counter()
            report.valid = self.validate()
            self._add_elapsed(time.perf_counter() - started)
            report.elapsed_seconds = state.elapsed_seconds
            value = report.valid[train.metric]
            report.is_best = value > state.best_value
            if report.is_best:
                state.best_value, state.best_epoch, state.best_valid = value, state.epoch, report.valid
                state.bad_evals = 0
                self._save_best()
            else:
                state.bad_evals += 1
        state.history.append(asdict(report))
        logger.info(
            "epoch %d: loss %.4f (%.1fs)%s",
            state.epoch,
            loss,
            seconds,
            f", valid {train.metric} {report.valid[train.metric]:.5f}" if report.valid else "",
        )
        self._save_progress()
        return report

    def validate(self) -> dict[str, float]:
        if self.distributed is not None:
            return self.distributed.evaluate_model(
                self.model, self.dataset, "valid", self.eval.ks, self.eval.chunk_size
            )
        return evaluate_model(self.model, self.dataset, "valid", self.eval.ks, self.eval.chunk_size)

    def _fit_closed_form(self) -> TrainResult:
        started = time.perf_counter()
        self.model.fit()
        if isinstance(self.model, SelectsOnValidation):
            split = ValidationSplit.of(self.dataset, self.eval.ks, self.train.metric, self.eval.chunk_size)
            self._save_selection(self.model.select(split))
        logger.info("fitted %s in closed form in %.1f s", self.model.name, time.perf_counter() - started)
        valid = self.validate() if self.dataset.valid.nnz else {}
        self.state.best_valid, self.state.best_value = valid, valid.get(self.train.metric, 0.0)
        self.state.history.append(asdict(EpochReport(0, 0.0, 0.0, 0.0, valid, True)))
        self._save_best()
        self._save_progress()
        return TrainResult(0, valid, 0, round(time.perf_counter() - started, 3), "closed_form")

    def _metadata(self) -> dict[str, Any]:
        return {
            "config": self.metadata,
            "state": asdict(self.state),
            "objective": self.objective.state_dict() if self.objective is not None else {},
        }

    def _save_best(self) -> None:
        if self.run_dir is not None and self._writes:
            save_checkpoint(
                self.run_dir / BEST_MODEL_FILE,
                self.model,
                metadata={"config": self.metadata, "epoch": self.state.epoch, "valid": self.state.best_valid},
            )

    def _save_selection(self, report: dict[str, Any]) -> None:
        if self.run_dir is not None and self._writes:
            atomic_write_text(self.run_dir / SELECTION_FILE, json.dumps(report, indent=2))

    def _save_progress(self) -> None:
        if self.run_dir is not None and self._writes:
            if self.optimizer is not None:
                save_checkpoint(
                    self.run_dir / CHECKPOINT_FILE,
                    self.model,
                    self.optimizer,
                    self._metadata(),
                    keep_previous=self.run_dir / PREVIOUS_CHECKPOINT_FILE,
                )
            lines = "".join(json.dumps(entry) + "\n" for entry in self.state.history)
            atomic_write_text(self.run_dir / METRICS_FILE, lines)
        if self.distributed is not None:
            self.distributed.barrier()  # the other ranks wait while rank 0 writes (this epoch's _save_best too)

    def _resume(self) -> None:
        """Continue from the latest checkpoint, or from the previous one when the latest is damaged (see
        graphrec.training.checkpoint.resume_from); start fresh when there is none."""
        if self.run_dir is None:
            return
        path = resume_from(self.run_dir / CHECKPOINT_FILE, self.run_dir / PREVIOUS_CHECKPOINT_FILE, self._load_state)
        if path is None:
            logger.info("no checkpoint to resume from; starting fresh")
        else:
            logger.info("resumed from %s at epoch %d", path, self.state.epoch)

    def _load_state(self, path: Path) -> None:
        """Model, optimizer, RNG, training state and objective state from one checkpoint (RunDirCorruptError when
        the file cannot give all of them)."""
        meta = load_checkpoint(path, self.model, self.optimizer, restore_rng=True, built_from="this run's config")
        try:
            state = TrainState(**meta["state"])
            if self.objective is not None:
                self.objective.load_state_dict(meta["objective"])
        except (KeyError, TypeError, ValueError) as exc:
            raise damaged(path, f"expected the training state of this run, got metadata without it ({exc!r})") from None
        self.state = state


def stop_reason(train: TrainConfig, state: TrainState) -> str | None:
    """Why training stops after `state.epoch` epochs (epochs, early_stopping, time_budget), or None."""
    if train.epochs is not None and state.epoch >= train.epochs:
        return "epochs"
    if train.patience and state.bad_evals >= train.patience:
        return "early_stopping"
    if train.time_budget_s is not None and state.elapsed_seconds >= train.time_budget_s:
        return "time_budget"
    return None


def check_finite_loss(loss: float, epoch: int, step: int, steps: int, lr: float) -> None:
    """TrainingError naming the step when a batch's loss is nan or inf."""
    if not math.isfinite(loss):
        raise TrainingError(
            f"training diverged: the loss of epoch {epoch + 1}, step {step + 1} (of {steps}) is {loss}; lower "
            f"train.lr (now {lr}) or check the data"
        )


def set_scheduled_lr(optimizer: torch.optim.Optimizer, train: TrainConfig, global_step: int, steps: int) -> None:
    """Linear decay from train.lr to train.lr_final over epochs × `steps` batches (a function of the step:
    resumable); nothing without train.lr_final."""
    if train.lr_final is None:
        return
    assert train.epochs is not None  # a config rule: lr_final needs train.epochs
    progress = min(global_step / max(train.epochs * steps - 1, 1), 1.0)
    for group in optimizer.param_groups:
        group["lr"] = train.lr + (train.lr_final - train.lr) * progress


def check_stopping(train: TrainConfig, dataset: Dataset) -> None:
    """Refuse a run that nothing would stop: epochs chosen by validation (train.epochs unset), but no validation
    split and no time budget."""
    if train.epochs is None and train.time_budget_s is None and dataset.valid.nnz == 0:
        raise ConfigError(
            error_message(
                "train.epochs",
                "a number of epochs (or train.time_budget_s, or a validation split to choose the epochs: "
                "data.valid_ratio > 0) when the data has no validation split (data.valid_ratio = 0, no valid.txt)",
                None,
                100,
            )
        )


def _make_optimizer(
    model: EmbeddingRecommender, lr: float, weight_decay: float, sparse_updates: bool = False
) -> torch.optim.Optimizer:
    """Adam; weight decay only on dense weights (embedding tables get the batch L2 penalty instead).
    `sparse_updates`: LazyAdam, which updates only the table rows a step touched."""
    # every model's tables are nn.Embedding modules (asking ego_embeddings() would run a whole forward pass on
    # models without layer-0 tables, such as PinSAGE's inference)
    table_ids = {id(m.weight) for m in model.modules() if isinstance(m, torch.nn.Embedding)}
    tables = [p for p in model.parameters() if id(p) in table_ids]
    others = [p for p in model.parameters() if id(p) not in table_ids]
    groups = [{"params": tables, "weight_decay": 0.0}]
    if others:
        groups.append({"params": others, "weight_decay": weight_decay})
    return LazyAdam(groups, lr=lr) if sparse_updates else torch.optim.Adam(groups, lr=lr)
