"""`graphrec train` with ``train.partitioned = true``: LightGCN with Ã, the tables and Adam's state split by rank.

The loop is the Trainer's (epochs of the same edge batches and negatives as a one-process run, validation every
`train.eval_every` epochs, the best model kept, early stopping, the time budget), over a
:class:`~graphrec.training.partitioned.PartitionedLightGCN`; validation is
:func:`~graphrec.evaluation.partitioned.evaluate_partitioned`. What is written:

* ``model.safetensors``: the best layer-0 tables in the usual layout (``graphrec evaluate``, ``serve``, ``compare``
  read it as any LightGCN run), written *by every rank into its own rows* of one file rank 0 lays out: no rank
  holds the whole table at any point;
* ``checkpoint-rank-RRRRR-of-WWWWW.safetensors``: each rank's rows, Adam state, and the loop's state (``--resume``
  with the same world size continues exactly);
* ``partition.npy`` (the owner of every node), ``metrics.jsonl`` as the Trainer writes it.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist

from graphrec.config import RunConfig
from graphrec.config.models import PropagationConfig
from graphrec.config.train import EdgeTrainConfig
from graphrec.data import Dataset
from graphrec.errors import RunDirError
from graphrec.evaluation.partitioned import evaluate_partitioned
from graphrec.graph.partition import make_partition
from graphrec.io import atomic_save_npy, atomic_write_text
from graphrec.seeding import Stream, numpy_rng
from graphrec.training.checkpoint import load_checkpoint, save_checkpoint
from graphrec.training.distributed import Distributed
from graphrec.training.objectives import EdgeBatches
from graphrec.training.partitioned import PartitionedLightGCN
from graphrec.training.partitioned_io import read_owners, write_partitioned_tables
from graphrec.training.trainer import (
    BEST_MODEL_FILE,
    METRICS_FILE,
    Callback,
    EpochReport,
    TrainResult,
    TrainState,
    check_finite_loss,
    set_scheduled_lr,
    stop_reason,
)

logger = logging.getLogger(__name__)


def shard_checkpoint(run_dir: Path, rank: int, world: int) -> Path:
    return run_dir / f"checkpoint-rank-{rank:05d}-of-{world:05d}.safetensors"


class PartitionedFit:
    """One rank's partitioned training of `config` on `dataset` into `run_dir` (rank 0 writes the shared files)."""

    def __init__(
        self,
        config: RunConfig,
        dataset: Dataset,
        run_dir: Path,
        distributed: Distributed | None,
        callbacks: list[Callback],
    ) -> None:
        train = config.train
        # runs.train routes only these here; RunConfig's rule allows them for LightGCN's full propagation only
        assert isinstance(train, EdgeTrainConfig) and train.partitioned and config.model.name == "lightgcn"
        assert isinstance(config.model, PropagationConfig)
        self.config, self.train, self.dataset, self.run_dir = config, train, dataset, run_dir
        self.distributed, self.callbacks = distributed, callbacks
        self.rank, self.world = (distributed.rank, distributed.world_size) if distributed else (0, 1)
        started = time.perf_counter()
        self.partition = make_partition(dataset.train, self.world, train.partitioner, seed=config.seed)
        self.model = PartitionedLightGCN(
            dataset.train, config.model, self.partition, self.rank, config.seed, halo_exchange=train.halo_exchange
        )
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=train.lr)
        fanouts = getattr(config.model, "fanouts", None)
        self.neighbours = self.model.sampler(fanouts) if fanouts else None
        self.batches = EdgeBatches(dataset.train, train, config.seed)  # the one-process run's batches
        self.state = TrainState()
        logger.info(
            "partitioned (%s) over %d ranks: rank %d holds %d nodes, %d halo rows, %.1f MB of graph + table + Adam "
            "(%.1f s)",
            train.partitioner, self.world, self.rank, len(self.model.nodes), len(self.model.halo),
            sum(self.model.held_bytes().values()) / 2**20, time.perf_counter() - started,
        )  # fmt: skip

    @property
    def writes(self) -> bool:
        return self.rank == 0

    def fit(self, resume: bool) -> TrainResult:
        if resume:
            self._resume()
        elif self.writes:
            atomic_save_npy(self.run_dir / "partition.npy", self.partition.owner)
        while (reason := stop_reason(self.train, self.state)) is None:
            started = time.perf_counter()
            loss = self._epoch()
            self.state.epoch += 1
            self.state.elapsed_seconds = self._from_main(self.state.elapsed_seconds + time.perf_counter() - started)
            report = self._end_epoch(loss, time.perf_counter() - started)
            for callback in self.callbacks:
                callback(report)
        state = self.state
        logger.info("stopped after epoch %d (%s); best epoch %d", state.epoch, reason, state.best_epoch)
        return TrainResult(state.best_epoch, state.best_valid, state.epoch, state.elapsed_seconds, reason)

    def _epoch(self) -> float:
        train, total, steps = self.train, 0.0, self.batches.num_batches
        for step, (users, positives, candidates) in enumerate(self.batches.epoch()):
            set_scheduled_lr(self.optimizer, train, self.state.epoch * steps + step, steps)
            self.optimizer.zero_grad(set_to_none=True)
            loss = self._loss(users, positives, candidates, step)
            loss.backward()
            value = self._sum_over_ranks(float(loss.detach()))
            check_finite_loss(value, self.state.epoch, step, steps, train.lr)
            self.optimizer.step()
            total += value
        return total / max(steps, 1)

    def _loss(self, users: torch.Tensor, positives: torch.Tensor, candidates: torch.Tensor, step: int) -> torch.Tensor:
        """This rank's share of the step's loss: full propagation, or (model.fanouts) the rows' sampled graph drawn
        with the rank's generator of (seed, epoch, step)."""
        train = self.train
        if self.neighbours is None:
            return self.model.batch_loss(users, positives, candidates, train.loss, train.l2_reg)
        rng = numpy_rng(self.config.seed, Stream.SAMPLED_NEIGHBOURS, self.state.epoch, step, self.rank)
        negatives = candidates[:, :, 0]  # uniform (a config rule)
        return self.model.sampled_batch_loss(
            users, positives, negatives, train.loss, train.l2_reg, self.neighbours, rng
        )

    def _end_epoch(self, loss: float, seconds: float) -> EpochReport:
        train, state = self.train, self.state
        report = EpochReport(state.epoch, loss, seconds, state.elapsed_seconds)
        at_eval_point = state.epoch % train.eval_every == 0 or state.epoch == train.epochs
        if self.dataset.valid.nnz == 0:
            state.best_epoch = state.epoch
            self._write_best()
        elif at_eval_point:
            with torch.no_grad():
                final = self.model()
            report.valid = evaluate_partitioned(
                final, self.partition, self.rank, self.dataset.valid, self.dataset.train,
                self.config.eval.ks, self.config.eval.chunk_size,
            )  # fmt: skip
            value = report.valid[train.metric]
            report.is_best = value > state.best_value
            if report.is_best:
                state.best_value, state.best_epoch, state.best_valid, state.bad_evals = (
                    value,
                    state.epoch,
                    report.valid,
                    0,
                )
                self._write_best()
            else:
                state.bad_evals += 1
        state.history.append(asdict(report))
        valid = f", valid {train.metric} {report.valid[train.metric]:.5f}" if report.valid else ""
        logger.info("epoch %d: loss %.4f (%.1fs)%s", state.epoch, loss, seconds, valid)
        self._write_progress()
        return report

    def _write_best(self) -> None:
        meta = {"config": self.config_dict(), "epoch": self.state.epoch, "valid": self.state.best_valid}
        write_partitioned_tables(self.run_dir / BEST_MODEL_FILE, self.model, self.partition, meta, self._barrier)

    def _write_progress(self) -> None:
        meta = {
            "config": self.config_dict(),
            "state": asdict(self.state),
            "objective": self.batches.state_dict(),
            "world_size": self.world,
        }
        save_checkpoint(shard_checkpoint(self.run_dir, self.rank, self.world), self.model, self.optimizer, meta)
        if self.writes:
            lines = "".join(json.dumps(entry) + "\n" for entry in self.state.history)
            atomic_write_text(self.run_dir / METRICS_FILE, lines)
        self._barrier()

    def _resume(self) -> None:
        path = shard_checkpoint(self.run_dir, self.rank, self.world)
        if not path.is_file():
            found = sorted(p.name for p in self.run_dir.glob("checkpoint-rank-*.safetensors"))
            raise RunDirError(
                f"--resume: {self.run_dir} has no {path.name} for rank {self.rank} of {self.world}, got "
                f"{found or 'no partitioned checkpoints'}; resume with the world size the run was trained with"
            )
        saved = read_owners(self.run_dir, self.partition.num_nodes)
        if saved is None or not np.array_equal(saved, self.partition.owner):
            raise RunDirError(
                f"--resume: partition.npy of {self.run_dir} is missing or differs from the partition this config "
                "makes; resume with the same data, train.partitioner and world size"
            )
        meta = load_checkpoint(path, self.model, self.optimizer, built_from="this rank's partition")
        self.state = TrainState(**meta["state"])
        self.batches.load_state_dict(meta["objective"])
        logger.info("resumed from %s at epoch %d", path, self.state.epoch)

    def config_dict(self) -> dict[str, Any]:
        from graphrec.config import config_to_dict

        return config_to_dict(self.config)

    def _barrier(self) -> None:
        if self.distributed is not None:
            self.distributed.barrier()

    def _from_main(self, value: float) -> float:
        return self.distributed.from_main(value) if self.distributed is not None else value

    def _sum_over_ranks(self, value: float) -> float:
        if self.distributed is None:
            return value
        tensor = torch.tensor([value], dtype=torch.float64)
        dist.all_reduce(tensor)
        return float(tensor.item())
