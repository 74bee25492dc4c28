"""graphrec tune (graphrec.tuning): tiny searches on generated data write the tables and a best config that trains
to the best trial's validation metric; seeded; budgets; failed trials; the command line."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from graphrec.cli import main
from graphrec.config import apply_overrides, load_config
from graphrec.errors import ConfigError
from graphrec.runs import train
from graphrec.tuning import tune
from tests.conftest import tiny_config


@pytest.mark.parametrize(("name", "trials"), [("popularity", 3), ("itemknn", 3), ("mf", 2)])
def test_a_tiny_tune_writes_the_trials_and_a_best_config_that_trains(
    planted_dir: Path, tmp_path: Path, name: str, trials: int
) -> None:
    summary = tune(tiny_config(planted_dir, name, epochs=4), tmp_path / "tune", trials=trials)
    ran = 1 if name == "popularity" else trials  # nothing to search: the config once
    rows = json.loads((tmp_path / "tune" / "trials.json").read_text())
    assert summary["trials"] == summary["complete"] == len(rows) == ran and summary["stopped_by"] == "trials"
    assert [r["trial"] for r in rows] == list(range(1, ran + 1)) and all(r["state"] == "complete" for r in rows)
    best = max(rows, key=lambda r: r["value"])
    assert summary["best"]["trial"] == best["trial"] and summary["best"]["value"] == best["value"]
    keys = list(summary["space"])
    with open(tmp_path / "tune" / "trials.csv", newline="") as handle:
        table = list(csv.DictReader(handle))
    assert list(table[0]) == ["trial", "state", *keys, "ndcg@20", "seconds", "error"] and len(table) == ran
    assert [float(r["ndcg@20"]) for r in table] == [r["value"] for r in rows]
    markdown = (tmp_path / "tune" / "trials.md").read_text().splitlines()
    assert markdown[0] == "| " + " | ".join(["trial", "state", *keys, "ndcg@20", "seconds"]) + " |"
    assert len(markdown) == 2 + ran and sum("| best |" in line for line in markdown) >= 1
    assert json.loads((tmp_path / "tune" / "tune.json").read_text()) == summary
    best_config = load_config(tmp_path / "tune" / "best.toml")  # what graphrec train --config reads
    assert all(_get(best_config, key) == value for key, value in best["params"].items())
    trained = train(best_config, tmp_path / "run")
    assert trained["valid"]["ndcg@20"] == pytest.approx(best["value"], abs=1e-9)


def _get(config: object, dotted: str) -> object:
    for part in dotted.split("."):
        config = getattr(config, part)
    return config


def test_the_search_is_seeded(planted_dir: Path, tmp_path: Path) -> None:
    params = []
    for seed in (5, 5, 6):
        config = apply_overrides(tiny_config(planted_dir, "gfcf"), [f"seed={seed}", "data.seed=0"])
        tune(config, tmp_path / f"tune-{len(params)}", trials=3)
        params.append([r["params"] for r in json.loads((tmp_path / f"tune-{len(params)}" / "trials.json").read_text())])
    assert params[0] == params[1] != params[2]


def test_a_time_budget_stops_the_search(planted_dir: Path, tmp_path: Path) -> None:
    summary = tune(tiny_config(planted_dir, "itemknn"), tmp_path / "tune", time_budget_s=0.5)
    assert summary["stopped_by"] == "time_budget" and summary["trial_limit"] is None and summary["trials"] >= 1
    assert summary["seconds"] < 10  # the running trial finishes; none starts after the budget


def test_failed_trials_are_recorded_and_a_tune_without_any_complete_one_fails(
    planted_dir: Path, tmp_path: Path
) -> None:
    config = tiny_config(planted_dir, "ease", model_options={"max_items": 10})  # every fit is refused
    with pytest.raises(ConfigError) as info:
        tune(config, tmp_path / "tune", trials=2)
    assert str(info.value).startswith("no trial of the tune completed; trial 1 failed: model.max_items: EASE fits ")
    rows = json.loads((tmp_path / "tune" / "trials.json").read_text())
    assert [r["state"] for r in rows] == ["failed", "failed"] and rows[0]["error"].startswith("model.max_items: ")
    assert not (tmp_path / "tune" / "best.toml").exists()


def test_budgets_and_the_output_directory_are_checked(planted_dir: Path, tmp_path: Path) -> None:
    config = tiny_config(planted_dir, "itemknn")
    with pytest.raises(ConfigError, match=r"^trials: expected an integer ≥ 1, got 0; pass e.g. --trials 20$"):
        tune(config, tmp_path / "a", trials=0)
    with pytest.raises(ConfigError, match=r"^time budget: expected a number of seconds > 0, got -1.0; pass e.g. "):
        tune(config, tmp_path / "a", time_budget_s=-1.0)
    tune(config, tmp_path / "done", trials=1)
    with pytest.raises(ConfigError, match=r"already holds a finished tune; pass a new --out$"):
        tune(config, tmp_path / "done", trials=1)
    no_valid = apply_overrides(config, ["data.valid_ratio=0"])
    with pytest.raises(ConfigError, match=r"^data: tune ranks trials on the validation split, and this data has none"):
        tune(no_valid, tmp_path / "b", trials=1)


def test_the_command_line_tunes_a_declared_space(
    planted_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    space = tmp_path / "space.toml"
    space.write_text('[tune]\n"model.alpha" = { low = 0.1, high = 1.0 }\n"model.rank" = { choices = [8, 16] }\n')
    argv = ["-q", "tune", "--model", "gfcf", "--data", str(planted_dir), "--space", str(space)]
    assert main([*argv, "--out", str(tmp_path / "tune"), "--trials", "2", "--seed", "3"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["trials"] == 2 and set(summary["best"]["params"]) == {"model.alpha", "model.rank"}
    assert load_config(tmp_path / "tune" / "best.toml").model.rank in (8, 16)
    space.write_text('[tune]\n"model.alpha" = { low = -1.0, high = 1.0 }\n')
    assert main([*argv, "--out", str(tmp_path / "bad"), "--trials", "2"]) == 2
    assert capsys.readouterr().err == (
        'graphrec: error: tune space "model.alpha" (low -1.0): model.alpha: expected a float ≥ 0, got -1.0; set '
        "e.g. model.alpha = 0.3\n"
    )
    assert not (tmp_path / "bad").exists(), "the space is checked before anything is written"
