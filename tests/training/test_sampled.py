"""Training on sampled computation graphs (model.fanouts): it learns, resumes exactly, and keeps the run contract."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from graphrec.errors import ConfigError
from graphrec.runs import evaluate_run, load_run, train

from ..conftest import tiny_config


def _sampled_config(data_dir: Path, model: str = "lightgcn", epochs: int = 20, **train_options: object):
    return tiny_config(data_dir, model, epochs=epochs, model_options={"fanouts": [4, 4]}, **train_options)


@pytest.fixture(scope="module")
def sampled_run(planted_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    run_dir = tmp_path_factory.mktemp("sampled-lightgcn")
    train(_sampled_config(planted_dir, epochs=12, negative_candidates=4), run_dir)
    return run_dir


def test_sampled_lightgcn_beats_popularity(sampled_run: Path, planted_dir: Path, tmp_path: Path) -> None:
    train(tiny_config(planted_dir, "popularity", epochs=0), tmp_path / "popularity")
    popularity = evaluate_run(tmp_path / "popularity", "test", [20])
    metrics = evaluate_run(sampled_run, "test", [20])
    assert metrics["recall@20"] > 1.3 * popularity["recall@20"], (metrics, popularity)


def test_sampled_run_keeps_the_run_contract(sampled_run: Path) -> None:
    first, second = load_run(sampled_run), load_run(sampled_run)
    assert first.config.model.fanouts == [4, 4]
    users = torch.arange(first.model.num_users)
    np.testing.assert_array_equal(first.model.score(users).numpy(), second.model.score(users).numpy())
    for artifact in ("config.json", "model.safetensors", "metrics.jsonl", "summary.json"):
        assert (sampled_run / artifact).is_file(), artifact


@pytest.mark.parametrize(("model", "sparse"), [("lightgcn", False), ("ngcf", False), ("ngcf", True)])
def test_sampled_resume_equals_uninterrupted(model: str, sparse: bool, planted_dir: Path, tmp_path: Path) -> None:
    def run(epochs: int, out: Path, resume: bool = False) -> None:
        config = _sampled_config(
            planted_dir, model, epochs=epochs, negative_candidates=3, score_refresh_steps=2, sparse_updates=sparse
        )
        train(config, out, resume=resume)

    run(3, tmp_path / "whole")
    run(2, tmp_path / "split")
    (tmp_path / "split" / "summary.json").unlink()
    run(3, tmp_path / "split", resume=True)
    whole, split = load_run(tmp_path / "whole").embeddings(), load_run(tmp_path / "split").embeddings()
    for a, b in zip(whole, split, strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy())

    def history(d: Path) -> list[tuple[int, float]]:
        return [(h["epoch"], h["train_loss"]) for h in map(json.loads, (d / "metrics.jsonl").open())]

    assert history(tmp_path / "whole") == history(tmp_path / "split")


def test_score_refresh_changes_the_negatives(planted_dir: Path, tmp_path: Path) -> None:
    losses = {}
    for refresh in (0, 1):
        config = _sampled_config(planted_dir, epochs=1, negative_candidates=8, score_refresh_steps=refresh)
        train(config, tmp_path / str(refresh))
        losses[refresh] = json.loads((tmp_path / str(refresh) / "metrics.jsonl").read_text())["train_loss"]
    # Refreshed every step, the candidates are ranked by the model being trained: harder negatives, higher loss.
    assert losses[1] > losses[0]
    message = "train.score_refresh_steps: expected an integer ≥ 0, got -1; set e.g. train.score_refresh_steps = 0"
    with pytest.raises(ConfigError, match=message):
        _sampled_config(planted_dir, epochs=1, negative_candidates=8, score_refresh_steps=-1)


def test_fanouts_need_a_graph_model(planted_dir: Path) -> None:
    with pytest.raises(ConfigError, match=r'model.fanouts: not a key of model "mf"'):
        _sampled_config(planted_dir, "mf", epochs=1)


@pytest.mark.parametrize("model", ["lightgcn", "ngcf"])
def test_sparse_updates_learn_and_touch_only_sampled_rows(model: str, planted_dir: Path, tmp_path: Path) -> None:
    config = _sampled_config(planted_dir, model, epochs=12, sparse_updates=True)
    train(config, tmp_path / "sparse")
    train(tiny_config(planted_dir, "popularity", epochs=0), tmp_path / "popularity")
    popularity = evaluate_run(tmp_path / "popularity", "test", [20])
    metrics = evaluate_run(tmp_path / "sparse", "test", [20])
    assert metrics["recall@20"] > 1.3 * popularity["recall@20"], (metrics, popularity)


def test_sparse_table_gradients_touch_only_the_computation_graph(planted_dir: Path) -> None:
    from graphrec.data import load_dataset
    from graphrec.models import build_model
    from graphrec.training.objectives import make_objective

    config = _sampled_config(planted_dir, epochs=1, sparse_updates=True, batch_size=8)
    dataset = load_dataset(config.data, config.seed)
    lightgcn = build_model(config.model, dataset.num_users, dataset.num_items, dataset.train)
    objective = make_objective(lightgcn, dataset, config.train, config.seed)
    batch = next(objective.epoch(0))
    objective.loss(batch).backward()
    grads = (lightgcn.user_embedding.weight.grad, lightgcn.item_embedding.weight.grad)
    assert all(g.is_sparse for g in grads)
    touched = np.concatenate(
        [
            np.unique(grads[0].coalesce().indices()[0].numpy()),
            dataset.num_users + np.unique(grads[1].coalesce().indices()[0].numpy()),
        ]
    )
    assert set(touched) <= set(batch.graph.input_nodes.tolist())
    assert len(touched) < dataset.num_users + dataset.num_items


def test_sparse_updates_need_fanouts(planted_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"train.sparse_updates: expected false while model.fanouts is unset"):
        tiny_config(planted_dir, "lightgcn", epochs=1, sparse_updates=True)


@pytest.mark.parametrize("candidates", [1, 4])
def test_background_sampling_workers_train_the_model_in_process_sampling_trains(
    candidates: int, planted_dir: Path, tmp_path: Path
) -> None:
    """train.num_workers > 0 draws the same graphs in other processes (each a function of seed, epoch, step)."""
    for workers in (0, 2):
        config = _sampled_config(planted_dir, epochs=2, negative_candidates=candidates, num_workers=workers)
        train(config, tmp_path / str(workers))
    a, b = load_run(tmp_path / "0").embeddings(), load_run(tmp_path / "2").embeddings()
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x.numpy(), y.numpy())


def test_background_sampling_needs_fanouts_and_epoch_fixed_negatives(planted_dir: Path) -> None:
    with pytest.raises(ConfigError, match=r"train.num_workers: expected 0 while model.fanouts is unset"):
        tiny_config(planted_dir, "lightgcn", epochs=1, num_workers=1)
    with pytest.raises(ConfigError, match=r"train.num_workers: expected 0 with train.score_refresh_steps > 0"):
        _sampled_config(planted_dir, epochs=1, negative_candidates=4, score_refresh_steps=2, num_workers=1)
