"""Every damaged artifact of a run directory is one line naming the file (exit 2), and --resume falls back to the
previous checkpoint when the latest is damaged (issue 14, item 5)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from graphrec.cli import main
from graphrec.errors import RunDirCorruptError, RunDirError
from graphrec.runs import train
from graphrec.training.checkpoint import read_checkpoint

from .conftest import tiny_config

FIX = "; the file is damaged or from another run: restore it from a copy or train the run again"


@pytest.fixture(scope="module")
def good_run(planted_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("rundir") / "run"
    train(tiny_config(planted_dir, "mf", epochs=2), out)
    return out


def _edit_json(name: str, edit: Callable[[object], object]) -> Callable[[Path], None]:
    def apply(run: Path) -> None:
        (run / name).write_text(json.dumps(edit(json.loads((run / name).read_text()))))

    return apply


def _truncate(name: str) -> Callable[[Path], None]:
    def apply(run: Path) -> None:
        data = (run / name).read_bytes()
        (run / name).write_bytes(data[: len(data) // 2])

    return apply


def _set_dim(config: object) -> object:
    assert isinstance(config, dict)
    config["model"]["embedding_dim"] = 32
    return config


CASES: list[tuple[str, Callable[[Path], None], str]] = [
    (
        "garbage config",
        lambda run: (run / "config.json").write_text("garbage{"),
        "config.json: expected an object (the run's config) in JSON, got invalid JSON (Expecting value at line 1, "
        "column 1)",
    ),
    (
        "non-UTF-8 config",
        lambda run: (run / "config.json").write_bytes(b'{"seed": "\xff"}'),
        "config.json: expected UTF-8 JSON, got byte 0xff at offset 10",
    ),
    (
        "config not an object",
        lambda run: (run / "config.json").write_text("[1, 2]"),
        "config.json: expected an object (the run's config), got a JSON list",
    ),
    (
        "embedding_dim no longer matches",
        _edit_json("config.json", _set_dim),
        "model.safetensors: tensor 'user_embedding.weight' is float32 [500, 16], the model built from config.json "
        '(model "mf") with the 500 users of user_ids.json and the 300 items of item_ids.json has float32 [500, 32]',
    ),
    (
        "empty safetensors",
        lambda run: (run / "model.safetensors").write_bytes(b""),
        "model.safetensors: expected a safetensors file, got one safetensors cannot read (Error while deserializing "
        "header: header too small)",
    ),
    (
        "truncated safetensors",
        _truncate("model.safetensors"),
        "model.safetensors: expected a safetensors file, got one safetensors cannot read (Error while deserializing "
        "header: incomplete metadata, file not fully covered)",
    ),
    (
        "random safetensors",
        lambda run: (run / "model.safetensors").write_bytes(np.random.default_rng(0).bytes(4096)),
        "model.safetensors: expected a safetensors file, got one safetensors cannot read (Error while deserializing "
        "header: header too large)",
    ),
    (
        "truncated npz",
        _truncate("train_interactions.npz"),
        "train_interactions.npz: expected a .npz of the arrays user_idx and item_idx, got one numpy cannot read (File "
        "is not a zip file)",
    ),
    (
        "shortened user_ids.json",
        _edit_json("user_ids.json", lambda ids: ids[:-10]),  # type: ignore[index]
        "train_interactions.npz: user_idx holds index 499, outside the 490 entries of user_ids.json",
    ),
    (
        "longer item_ids.json",
        _edit_json("item_ids.json", lambda ids: [*ids, "extra"]),  # type: ignore[misc]
        "model.safetensors: tensor 'item_embedding.weight' is float32 [300, 16], the model built from config.json "
        '(model "mf") with the 500 users of user_ids.json and the 301 items of item_ids.json has float32 [301, 16]',
    ),
    (
        "user_ids.json not a list",
        lambda run: (run / "user_ids.json").write_text('{"a": 1}'),
        "user_ids.json: expected a list of user ids, got a JSON dict",
    ),
    (
        "a null id",
        _edit_json("item_ids.json", lambda ids: [None, *ids[1:]]),  # type: ignore[index]
        "item_ids.json: expected item ids that are integers or strings, got null at position 0",
    ),
]


@pytest.mark.parametrize(("damage", "message"), [(d, m) for _, d, m in CASES], ids=[c[0] for c in CASES])
def test_a_damaged_artifact_exits_2_naming_the_file(good_run: Path, tmp_path: Path, damage, message, capsys) -> None:
    run = tmp_path / "run"
    shutil.copytree(good_run, run)
    damage(run)
    assert main(["-q", "recommend", str(run), "--user", "0", "--k", "3"]) == 2
    assert capsys.readouterr().err == f"graphrec: error: {run}/{message}{FIX}\n"


def test_the_error_is_a_run_dir_error_and_a_value_error(good_run: Path, tmp_path: Path) -> None:
    from graphrec.rundir import load_run

    run = tmp_path / "run"
    shutil.copytree(good_run, run)
    (run / "model.safetensors").write_bytes(b"")
    with pytest.raises(RunDirCorruptError) as info:
        load_run(run)
    assert isinstance(info.value, RunDirError) and isinstance(info.value, ValueError)


def _weights(path: Path) -> np.ndarray:
    tensors, _ = read_checkpoint(path)
    return np.concatenate([v.numpy().ravel() for k, v in sorted(tensors.items()) if k.startswith("model.")])


def test_resume_from_a_damaged_checkpoint_falls_back_to_the_previous(planted_dir: Path, tmp_path: Path, caplog) -> None:
    whole = tmp_path / "whole"
    train(tiny_config(planted_dir, "mf", epochs=4), whole)
    split = tmp_path / "split"
    train(tiny_config(planted_dir, "mf", epochs=3), split)
    assert read_checkpoint(split / "checkpoint.prev.safetensors")[1]["state"]["epoch"] == 2
    _truncate("checkpoint.safetensors")(split)
    (split / "summary.json").unlink()
    with caplog.at_level("WARNING"):
        train(tiny_config(planted_dir, "mf", epochs=4), split, resume=True)
    assert (
        f"resuming from the previous checkpoint {split}/checkpoint.prev.safetensors instead of the latest: "
        f"{split}/checkpoint.safetensors: expected a safetensors file, got one safetensors cannot read"
    ) in caplog.text
    latest = "checkpoint.safetensors"
    np.testing.assert_array_equal(_weights(whole / latest), _weights(split / latest))  # as if never interrupted


def test_resume_after_a_crash_between_the_renames_uses_the_previous(planted_dir: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    train(tiny_config(planted_dir, "mf", epochs=2), run)
    (run / "checkpoint.safetensors").unlink()
    (run / "summary.json").unlink()
    summary = train(tiny_config(planted_dir, "mf", epochs=3), run, resume=True)
    assert summary["epochs_run"] == 3


def test_resume_with_no_good_checkpoint_says_how_to_start_fresh(planted_dir: Path, tmp_path: Path, capsys) -> None:
    run = tmp_path / "run"
    train(tiny_config(planted_dir, "mf", epochs=2), run)
    (run / "checkpoint.safetensors").write_bytes(b"")
    (run / "checkpoint.prev.safetensors").unlink()
    (run / "summary.json").unlink()
    argv = ["-q", "train", "--model", "mf", "--data", str(planted_dir), "--out", str(run), "--epochs", "3"]
    assert main([*argv, "--no-progress", "--set", "model.embedding_dim=16", "--resume"]) == 2
    assert capsys.readouterr().err == (
        f"graphrec: error: cannot resume: {run}/checkpoint.safetensors: expected a safetensors file, got one "
        f"safetensors cannot read (Error while deserializing header: header too small); {run}/"
        f"checkpoint.prev.safetensors does not exist; delete {run}/checkpoint.safetensors and "
        "checkpoint.prev.safetensors to train the run from the start, or pass a new --out\n"
    )
