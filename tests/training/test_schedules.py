from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from graphrec.errors import ConfigError
from graphrec.runs import train
from graphrec.samplers.dynamic import select_hardest

from ..conftest import tiny_config
from .test_trainer import _final_embeddings


def test_select_hardest_matches_loop() -> None:
    gen = torch.Generator().manual_seed(0)
    users = torch.randn(5, 4, generator=gen)
    items = torch.randn(30, 4, generator=gen)
    candidates = torch.randint(0, 30, (5, 2, 6), generator=gen)
    chosen = select_hardest(candidates, users, items)
    for b in range(5):
        for n in range(2):
            scores = [float(users[b] @ items[c]) for c in candidates[b, n]]
            assert chosen[b, n] == candidates[b, n, int(np.argmax(scores))]


def test_dns_and_lr_decay_resume_exactly(planted_dir: Path, tmp_path: Path) -> None:
    settings = dict(negative_candidates=4, num_negatives=2, lr_final=0.001)
    train(tiny_config(planted_dir, "lightgcn", epochs=4, **settings), tmp_path / "whole")

    def kill_after_epoch_2(report) -> None:
        if report.epoch == 2:
            raise KeyboardInterrupt("killed")

    with pytest.raises(KeyboardInterrupt):
        train(
            tiny_config(planted_dir, "lightgcn", epochs=4, **settings),
            tmp_path / "split",
            callbacks=[kill_after_epoch_2],
        )
    train(tiny_config(planted_dir, "lightgcn", epochs=4, **settings), tmp_path / "split", resume=True)
    np.testing.assert_array_equal(_final_embeddings(tmp_path / "whole"), _final_embeddings(tmp_path / "split"))


def test_lr_decays_linearly(planted_dir: Path, tmp_path: Path) -> None:
    from graphrec.data import load_dataset
    from graphrec.models import build_model
    from graphrec.training.trainer import Trainer

    config = tiny_config(planted_dir, "mf", epochs=3, lr=0.01, lr_final=0.001)
    dataset = load_dataset(config.data, seed=0)
    model = build_model(config.model, dataset.num_users, dataset.num_items, dataset.train)
    trainer = Trainer(model, dataset, config.train, config.eval, config.seed)
    last = 3 * trainer.objective.num_batches - 1
    trainer._set_lr(0)
    assert trainer.optimizer.param_groups[0]["lr"] == pytest.approx(0.01)
    trainer._set_lr(last)
    assert trainer.optimizer.param_groups[0]["lr"] == pytest.approx(0.001)
    trainer._set_lr(last // 2)
    assert 0.001 < trainer.optimizer.param_groups[0]["lr"] < 0.01


def test_bad_negative_settings(planted_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"train.negative_candidates: expected an integer ≥ 1, got 0"):
        tiny_config(planted_dir, "mf", epochs=1, negative_candidates=0)
    assert not (tmp_path / "run").exists()


def test_dns_trains(planted_dir: Path, tmp_path: Path) -> None:
    summary = train(tiny_config(planted_dir, "mf", epochs=6, negative_candidates=8), tmp_path / "run")
    assert summary["valid"]["recall@20"] > 0.3
    losses = [json.loads(line)["train_loss"] for line in (tmp_path / "run" / "metrics.jsonl").open()]
    assert all(np.isfinite(losses))
