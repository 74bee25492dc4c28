"""A new user's whole path on generated data with string ids: CSV → train (interrupted) → resume → evaluate from
another working directory → recommend → serve → the Python API, each step through its public entry point."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

import graphrec
from graphrec.cli import main
from tests.test_cli import _home_and_elsewhere


def test_csv_to_served_recommendations(tmp_path: Path, monkeypatch, capsys) -> None:
    from fastapi.testclient import TestClient

    from graphrec.config import RunConfig, set_values
    from graphrec.config.sections import data_source
    from graphrec.runs import train
    from graphrec.service import ServeConfig, create_app

    home, elsewhere = _home_and_elsewhere(tmp_path, monkeypatch)

    def killed_after_two(report) -> None:
        if report.epoch == 2:
            raise KeyboardInterrupt

    source = data_source("data/ratings.csv")
    config = set_values(
        RunConfig(),
        {
            "model.name": "lightgcn",
            "model.embedding_dim": 16,
            "data.interactions": source["interactions"],
            "train.epochs": 4,
            "train.eval_every": 2,
            "train.batch_size": 512,
            "train.show_progress": False,
        },
    )
    with pytest.raises(KeyboardInterrupt):  # killed mid-run: a checkpoint, no summary
        train(config, Path("runs/mine"), callbacks=[killed_after_two])
    assert main(["-q", "train", "--out", "runs/mine", "--resume"]) == 0  # the run's own config, no flags
    assert json.loads(capsys.readouterr().out)["epochs_run"] == 4

    monkeypatch.chdir(elsewhere)
    run = "../a/runs/mine"
    assert main(["-q", "evaluate", run, "--json"]) == 0  # the test split by default, the data found from here
    metrics = json.loads(capsys.readouterr().out)
    assert metrics["num_users"] > 0 and 0 <= metrics["recall@20"] <= 1
    assert main(["-q", "recommend", run, "--user", "u1", "--k", "3", "--json"]) == 0
    cli_items = [entry["item_id"] for entry in json.loads(capsys.readouterr().out)["items"]]
    assert len(cli_items) == 3 and all(str(i).startswith("m") for i in cli_items)
    assert main(["-q", "recommend", run, "--user", "U1", "--k", "3"]) == 2
    assert "did you mean 'u1'? (ids are case-sensitive)" in capsys.readouterr().err

    serve = ServeConfig(db=str(elsewhere / "events.sqlite3"), index="exact", writes_enabled=False)
    with TestClient(create_app(Path(run), serve)) as client:
        served = client.get("/v1/recommendations", params={"user_id": "u1", "k": 3}).json()
    assert [entry["item_id"] for entry in served["items"]] == cli_items

    model = graphrec.load(run)
    assert model.recommend(["u1"], k=3).item_id.tolist() == cli_items
    frame = pd.read_csv(home / "data" / "ratings.csv")
    fitted = graphrec.fit(frame, model="mf", run_dir=elsewhere / "from-python", epochs=2, embedding_dim=8)
    assert set(fitted.recommend(["u1", "u2"], k=3).user_id) == {"u1", "u2"}
