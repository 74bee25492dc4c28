"""Contrastive training (simgcl, xsimgcl): the objective's loss, learning on planted data, exact resume."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from graphrec.data.loading import load_dataset
from graphrec.errors import ConfigError
from graphrec.losses import bpr_loss, info_nce, l2_penalty
from graphrec.models import ContrastiveViews, build_model
from graphrec.runs import evaluate_run, load_run, train
from graphrec.seeding import Stream, torch_generator
from graphrec.training.contrastive import ContrastiveBatch, ContrastiveEdgeObjective
from graphrec.training.objectives import EdgeObjective, make_objective

from ..conftest import tiny_config


def _objective(planted_dir: Path, name: str, **train_options: object):
    config = tiny_config(planted_dir, name, **train_options)
    dataset = load_dataset(config.data, seed=config.seed)
    torch.manual_seed(0)
    model = build_model(config.model, dataset.num_users, dataset.num_items, dataset.train)
    return model, make_objective(model, dataset, config.train, config.seed), config


@pytest.mark.parametrize("name", ["simgcl", "xsimgcl"])
def test_loss_is_bpr_plus_l2_plus_weighted_info_nce(name: str, planted_dir: Path) -> None:
    model, objective, config = _objective(planted_dir, name)
    assert isinstance(objective, ContrastiveEdgeObjective) and isinstance(model, ContrastiveViews)
    batch = next(iter(objective.epoch(3)))
    assert isinstance(batch, ContrastiveBatch) and (batch.epoch, batch.step) == (3, 0)
    got = objective.loss(batch)
    forward = model.contrastive_forward(torch_generator(config.seed, Stream.CONTRASTIVE_NOISE, 3, 0))
    users, positives, negatives = batch.users, batch.positives, batch.candidates[:, :, 0]
    ego_users, ego_items = model.ego_embeddings()
    expected = bpr_loss(forward.users[users], forward.items[positives], forward.items[negatives])
    expected = expected + config.train.l2_reg * l2_penalty(
        ego_users[users], ego_items[positives], ego_items[negatives], batch_size=len(users)
    )
    unique_users, unique_items = sorted(set(users.tolist())), sorted(set(positives.tolist()))
    tau = model.temperature
    contrast = info_nce(forward.user_views[0][unique_users], forward.user_views[1][unique_users], tau)
    contrast = contrast + info_nce(forward.item_views[0][unique_items], forward.item_views[1][unique_items], tau)
    torch.testing.assert_close(got, expected + model.contrast_weight * contrast)
    # the noise is the step's: another step of the same epoch draws other views
    other = objective.loss(ContrastiveBatch(batch.users, batch.positives, batch.candidates, 3, 1))
    assert not torch.isclose(got, other)


def test_lightgcn_keeps_the_plain_edge_objective(planted_dir: Path) -> None:
    _, objective, _ = _objective(planted_dir, "lightgcn")
    assert type(objective) is EdgeObjective


def test_the_contrastive_objective_needs_contrastive_views(planted_dir: Path) -> None:
    model, _, config = _objective(planted_dir, "lightgcn")
    dataset = load_dataset(config.data, seed=config.seed)
    with pytest.raises(ConfigError, match="model 'lightgcn' has no contrastive views"):
        ContrastiveEdgeObjective(model, dataset, config.train, config.seed)  # type: ignore[arg-type]


def _history(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").open()]


@pytest.mark.parametrize(("name", "candidates"), [("simgcl", 1), ("xsimgcl", 4)])
def test_trains_on_planted_data_and_beats_popularity(
    name: str, candidates: int, planted_dir: Path, tmp_path: Path
) -> None:
    run_dir = tmp_path / name
    train(tiny_config(planted_dir, name, epochs=20, negative_candidates=candidates), run_dir)
    losses = [entry["train_loss"] for entry in _history(run_dir)]
    assert losses[-1] < 0.8 * losses[0], losses
    train(tiny_config(planted_dir, "popularity", epochs=0), tmp_path / "popularity")
    popularity = evaluate_run(tmp_path / "popularity", "test", [20])
    metrics = evaluate_run(run_dir, "test", [20])
    assert metrics["recall@20"] > 1.3 * popularity["recall@20"], (metrics, popularity)


def test_resume_equals_uninterrupted(planted_dir: Path, tmp_path: Path) -> None:
    def run(epochs: int, out: Path, resume: bool = False) -> None:
        train(tiny_config(planted_dir, "xsimgcl", epochs=epochs, negative_candidates=3), out, resume=resume)

    run(3, tmp_path / "whole")
    run(2, tmp_path / "split")
    (tmp_path / "split" / "summary.json").unlink()
    run(3, tmp_path / "split", resume=True)
    whole, split = load_run(tmp_path / "whole").embeddings(), load_run(tmp_path / "split").embeddings()
    for a, b in zip(whole, split, strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    pairs = [[(h["epoch"], h["train_loss"]) for h in _history(tmp_path / d)] for d in ("whole", "split")]
    assert pairs[0] == pairs[1]
