"""The contract every registered model must honour, run over the whole registry."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from graphrec.models import MODELS
from graphrec.runs import evaluate_run, load_run, train

from .conftest import tiny_config

EPOCHS = {"popularity": 0, "itemknn": 0, "mf": 30, "lightgcn": 30, "ngcf": 20, "pinsage": 4, "graphsage": 4}


@pytest.fixture(scope="module")
def trained(planted_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    runs = {}
    for name in MODELS:
        run_dir = tmp_path_factory.mktemp(f"run-{name}")
        train(tiny_config(planted_dir, name, epochs=EPOCHS.get(name, 20)), run_dir)
        runs[name] = run_dir
    return runs


def test_every_model_is_covered() -> None:
    assert set(EPOCHS) == set(MODELS), "add new models to the contract suite"


@pytest.mark.parametrize("name", sorted(MODELS))
def test_held_out_items_rank_near_the_top(name: str, trained: dict[str, Path]) -> None:
    metrics = evaluate_run(trained[name], "test", [20])
    popularity = evaluate_run(trained["popularity"], "test", [20])
    num_items = load_run(trained[name]).model.num_items
    random_recall = 20 / num_items
    assert metrics["recall@20"] > 2 * random_recall
    if name != "popularity":  # the data has planted communities: personalised models must beat popularity
        assert metrics["recall@20"] > 1.3 * popularity["recall@20"], (metrics, popularity)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_save_load_round_trip_gives_identical_scores(name: str, trained: dict[str, Path]) -> None:
    first, second = load_run(trained[name]), load_run(trained[name])
    users = torch.arange(first.model.num_users)
    np.testing.assert_array_equal(first.model.score(users).numpy(), second.model.score(users).numpy())
    user_emb, item_emb = first.embeddings()
    np.testing.assert_allclose((user_emb @ item_emb.T).numpy(), first.model.score(users).numpy(), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_run_directory_artifacts(name: str, trained: dict[str, Path]) -> None:
    for artifact in ("config.json", "config.toml", "user_ids.json", "item_ids.json", "model.safetensors",
                     "metrics.jsonl", "training_curve.png", "summary.json", "data_stats.json"):
        assert (trained[name] / artifact).is_file(), artifact
    assert not list(trained[name].glob("*.tmp")), "no temporary files left behind"
