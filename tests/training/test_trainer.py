from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

import graphrec.training.checkpoint as checkpoint_module
from graphrec.errors import ConfigError
from graphrec.runs import evaluate_run, load_run, train
from graphrec.training.checkpoint import read_checkpoint

from ..conftest import tiny_config


def _final_embeddings(run_dir: Path) -> np.ndarray:
    tensors, _ = read_checkpoint(run_dir / "checkpoint.safetensors")
    return np.concatenate([v.numpy().ravel() for k, v in sorted(tensors.items()) if k.startswith("model.")])


@pytest.mark.parametrize("model", ["mf", "ngcf", "pinsage"])
def test_resume_equals_uninterrupted(model: str, planted_dir: Path, tmp_path: Path) -> None:
    whole = tmp_path / "whole"
    train(tiny_config(planted_dir, model, epochs=4), whole)
    split = tmp_path / "split"
    train(tiny_config(planted_dir, model, epochs=2), split)
    (split / "summary.json").unlink()
    train(tiny_config(planted_dir, model, epochs=4), split, resume=True)
    np.testing.assert_array_equal(_final_embeddings(whole), _final_embeddings(split))

    def history(d: Path) -> list[tuple[int, float]]:
        return [(h["epoch"], h["train_loss"]) for h in map(json.loads, (d / "metrics.jsonl").open())]

    assert history(whole) == history(split)


def test_killed_checkpoint_write_leaves_previous_file(planted_dir: Path, tmp_path: Path, monkeypatch) -> None:
    run_dir = tmp_path / "run"
    train(tiny_config(planted_dir, "mf", epochs=2), run_dir)
    before = (run_dir / "checkpoint.safetensors").read_bytes()

    def torn_write(tensors, filename, metadata=None):
        Path(filename).write_bytes(b"half a file")
        raise KeyboardInterrupt("killed mid-write")

    monkeypatch.setattr(checkpoint_module, "save_file", torn_write)
    (run_dir / "summary.json").unlink()
    with pytest.raises(KeyboardInterrupt):
        train(tiny_config(planted_dir, "mf", epochs=3), run_dir, resume=True)
    assert (run_dir / "checkpoint.safetensors").read_bytes() == before
    assert not list(run_dir.glob(".*.tmp"))


def test_early_stopping_keeps_best(planted_dir: Path, tmp_path: Path) -> None:
    config = tiny_config(planted_dir, "mf", epochs=200, eval_every=1, patience=2, lr=0.2)
    summary = train(config, tmp_path / "run")
    assert summary["stop_reason"] == "early_stopping"
    history = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").open()]
    validated = [h for h in history if h["valid"]]
    best = max(validated, key=lambda h: h["valid"]["ndcg@20"])
    assert summary["best_epoch"] == best["epoch"]
    assert summary["epochs_run"] == best["epoch"] + 2
    assert load_run(tmp_path / "run").model is not None


def test_evaluated_model_is_the_best_validated_one(planted_dir: Path, tmp_path: Path) -> None:
    """End to end: no valid.txt, so validation is carved from train; training runs past the best epoch, and the run
    directory evaluates to the best epoch's validation metrics, not the last epoch's."""
    config = tiny_config(planted_dir, "mf", epochs=200, eval_every=1, patience=2, lr=0.2)
    summary = train(config, tmp_path / "run")
    assert summary["epochs_run"] > summary["best_epoch"] > 0
    stats = json.loads((tmp_path / "run" / "data_stats.json").read_text())
    assert stats["num_valid"] > 0
    history = {h["epoch"]: h["valid"] for h in map(json.loads, (tmp_path / "run" / "metrics.jsonl").open())}
    assert history[summary["epochs_run"]]["ndcg@20"] != history[summary["best_epoch"]]["ndcg@20"]
    evaluated = evaluate_run(tmp_path / "run", "valid", [10, 20])
    for key, value in summary["valid"].items():
        assert evaluated[key] == pytest.approx(value, abs=1e-6), key


def test_epochs_unset_trains_until_validation_stops_improving(planted_dir: Path, tmp_path: Path) -> None:
    summary = train(tiny_config(planted_dir, "mf", epochs=None, eval_every=1, patience=2, lr=0.2), tmp_path / "run")
    assert summary["stop_reason"] == "early_stopping"
    assert summary["epochs_run"] == summary["best_epoch"] + 2


def test_epochs_unset_without_a_validation_split_is_refused(planted_dir: Path, tmp_path: Path) -> None:
    config = tiny_config(planted_dir, "mf", epochs=None, patience=2)
    config.data.valid_ratio = 0.0
    with pytest.raises(ConfigError) as info:
        train(config, tmp_path / "run")
    assert str(info.value) == (
        "train.epochs: expected a number of epochs (or train.time_budget_s, or a validation split to choose the "
        "epochs: data.valid_ratio > 0) when the data has no validation split (data.valid_ratio = 0, no valid.txt), "
        "got none; set e.g. train.epochs = 100"
    )
    assert not (tmp_path / "run").exists()


def test_time_budget_stops_training(planted_dir: Path, tmp_path: Path) -> None:
    summary = train(tiny_config(planted_dir, "mf", epochs=10_000, time_budget_s=0.5), tmp_path / "run")
    assert summary["stop_reason"] == "time_budget"
    assert summary["epochs_run"] < 10_000


def test_time_budget_validates_the_last_epoch(planted_dir: Path, tmp_path: Path) -> None:
    """The epoch that spends the budget is validated even between validation points, so it can be the one kept."""
    config = tiny_config(planted_dir, "mf", epochs=10_000, eval_every=1000, time_budget_s=0.5)
    summary = train(config, tmp_path / "run")
    assert summary["stop_reason"] == "time_budget" and summary["epochs_run"] < 1000
    history = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").open()]
    assert [h["epoch"] for h in history if h["valid"]] == [summary["epochs_run"]]
    assert summary["best_epoch"] == summary["epochs_run"] and summary["valid"]
    assert summary["train_seconds"] >= 0.5


def test_callbacks_receive_every_epoch(planted_dir: Path, tmp_path: Path) -> None:
    seen = []
    train(tiny_config(planted_dir, "mf", epochs=3), tmp_path / "run", callbacks=[seen.append])
    assert [r.epoch for r in seen] == [1, 2, 3]
    assert seen[1].valid is not None and seen[0].valid is None


def test_finished_run_directory_is_not_overwritten(planted_dir: Path, tmp_path: Path) -> None:
    from graphrec.errors import RunDirError

    train(tiny_config(planted_dir, "popularity", epochs=1), tmp_path / "run")
    with pytest.raises(RunDirError) as info:
        train(tiny_config(planted_dir, "popularity", epochs=1), tmp_path / "run")
    assert str(info.value) == (
        f"run directory '{tmp_path / 'run'}' already holds a finished run (summary.json); pass --resume to continue "
        "it, --overwrite to train it again from scratch, or a new --out"
    )


def test_training_lowers_the_loss(planted_dir: Path, tmp_path: Path) -> None:
    train(tiny_config(planted_dir, "lightgcn", epochs=6), tmp_path / "run")
    losses = [json.loads(line)["train_loss"] for line in (tmp_path / "run" / "metrics.jsonl").open()]
    assert losses[-1] < losses[0]


def test_without_validation_split_keeps_the_last_model(planted_dir: Path, tmp_path: Path) -> None:
    config = tiny_config(planted_dir, "mf", epochs=3)
    config.data.valid_ratio = 0.0
    summary = train(config, tmp_path / "run")
    assert summary["best_epoch"] == 3 and summary["valid"] == {}
    best = load_run(tmp_path / "run").model.user_embedding.weight.detach().numpy()
    tensors, _ = read_checkpoint(tmp_path / "run" / "checkpoint.safetensors")
    np.testing.assert_array_equal(best, tensors["model.user_embedding.weight"].numpy())


def test_non_finite_loss_stops_training_naming_epoch_and_step(planted_dir: Path, tmp_path: Path) -> None:
    from graphrec.errors import TrainingError

    with pytest.raises(TrainingError) as info:  # Adam steps of ~1e30 overflow float32 scores within a few steps
        train(tiny_config(planted_dir, "mf", epochs=3, lr=1e30), tmp_path / "run")
    message = str(info.value)
    assert re.fullmatch(
        r"training diverged: the loss of epoch 1, step \d+ \(of \d+\) is (nan|inf); lower train.lr "
        r"\(now 1e\+30\) or check the data",
        message,
    ), message
    assert isinstance(info.value, ArithmeticError)
    assert not (tmp_path / "run" / "summary.json").exists()


def test_non_finite_weights_stop_training_and_keep_the_last_finite_model(
    planted_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The loss of a step is computed before its update, so the last step of an epoch can overflow the weights with
    every loss finite: the weights are checked before the epoch is validated or saved."""
    import torch

    from graphrec.errors import TrainingError
    from graphrec.training.trainer import Trainer

    original = Trainer._train_epoch

    def poisoned(self: Trainer) -> float:
        loss = original(self)
        if self.state.epoch == 1:  # the second epoch: its last update made a weight nan
            with torch.no_grad():
                self.model.user_embedding.weight[0, 0] = float("nan")
        return loss

    monkeypatch.setattr(Trainer, "_train_epoch", poisoned)
    with pytest.raises(TrainingError) as info:
        train(tiny_config(planted_dir, "mf", epochs=3, eval_every=1), tmp_path / "run")
    assert str(info.value) == (
        "training diverged: parameter 'user_embedding.weight' holds nan or inf after epoch 2; lower train.lr "
        "(now 0.02) or check the data (the run keeps its last finite model)"
    )
    best, meta = read_checkpoint(tmp_path / "run" / "model.safetensors")
    assert meta["epoch"] == 1 and all(bool(torch.isfinite(t).all()) for t in best.values() if t.is_floating_point())
    assert not (tmp_path / "run" / "summary.json").exists()


def test_run_directories_of_earlier_versions_still_load(
    planted_dir: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Earlier versions saved all 22 model keys and every train key in config.json, whichever the model used."""
    from ..test_config import OLD_MODEL, OLD_TRAIN

    run_dir = tmp_path / "run"
    train(tiny_config(planted_dir, "mf", epochs=1), run_dir)
    scores = load_run(run_dir).model.score(np.arange(3)).numpy()
    saved = json.loads((run_dir / "config.json").read_text())
    saved["model"] = {**OLD_MODEL, **saved["model"]}
    saved["train"] = {**OLD_TRAIN, **saved["train"]}
    (run_dir / "config.json").write_text(json.dumps(saved))
    with caplog.at_level("WARNING"):
        loaded = load_run(run_dir)
    assert caplog.text.count("earlier version's config") == 1 and "model.num_layers" in caplog.text
    np.testing.assert_array_equal(loaded.model.score(np.arange(3)).numpy(), scores)
