"""The CLI contract, end to end on tiny generated data."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from graphrec.cli import main

FAST = [
    "--epochs",
    "4",
    "--no-progress",
    "--set",
    "model.embedding_dim=16",
    "--set",
    "train.batch_size=512",
    "--set",
    "train.eval_every=2",
]


@pytest.fixture(scope="module")
def run_dir(planted_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("cli") / "run"
    assert main(["-q", "train", "--model", "lightgcn", "--data", str(planted_dir), "--out", str(out), *FAST]) == 0
    return out


def test_train_writes_summary(run_dir: Path) -> None:
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["model"] == "lightgcn" and summary["epochs_run"] == 4


def test_evaluate_json(run_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["-q", "evaluate", str(run_dir), "--split", "test", "--k", "20", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    for key in ("recall@20", "ndcg@20", "precision@20", "hit_rate@20", "mrr@20", "num_users"):
        assert key in result
    assert 0.0 <= result["recall@20"] <= 1.0 and result["num_users"] > 0


def test_evaluate_with_explicit_data_matches(run_dir: Path, planted_dir: Path, capsys) -> None:
    main(["-q", "evaluate", str(run_dir), "--split", "valid", "--json"])
    implicit = json.loads(capsys.readouterr().out)
    main(["-q", "evaluate", str(run_dir), "--data", str(planted_dir), "--split", "valid", "--json"])
    assert json.loads(capsys.readouterr().out) == implicit


def test_export(run_dir: Path, tmp_path: Path) -> None:
    assert main(["-q", "export", str(run_dir), "--out", str(tmp_path / "exp")]) == 0
    users = np.load(tmp_path / "exp" / "user_embeddings.npy")
    items = np.load(tmp_path / "exp" / "item_embeddings.npy")
    user_ids = json.loads((tmp_path / "exp" / "user_ids.json").read_text())
    item_ids = json.loads((tmp_path / "exp" / "item_ids.json").read_text())
    assert users.dtype == np.float32 and items.dtype == np.float32
    assert users.shape[0] == len(user_ids) and items.shape[0] == len(item_ids)
    assert users.shape[1] == items.shape[1]


def test_recommend_json_matches_exported_scores(run_dir: Path, tmp_path: Path, capsys) -> None:
    main(["-q", "export", str(run_dir), "--out", str(tmp_path / "exp")])
    capsys.readouterr()
    user_ids = json.loads((tmp_path / "exp" / "user_ids.json").read_text())
    assert main(["-q", "recommend", str(run_dir), "--user", str(user_ids[3]), "--k", "5", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert len(result["items"]) == 5
    users = np.load(tmp_path / "exp" / "user_embeddings.npy")
    items = np.load(tmp_path / "exp" / "item_embeddings.npy")
    item_ids = json.loads((tmp_path / "exp" / "item_ids.json").read_text())
    first = result["items"][0]
    expected = float(users[3] @ items[item_ids.index(first["item_id"])])
    assert first["score"] == pytest.approx(expected, rel=1e-4)
    scores = [entry["score"] for entry in result["items"]]
    assert scores == sorted(scores, reverse=True)


def test_recommend_text(run_dir: Path, capsys) -> None:
    assert main(["-q", "recommend", str(run_dir), "--user", "0", "--k", "3"]) == 0
    assert len(capsys.readouterr().out.strip().splitlines()) == 3


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["recommend", "{run}", "--user", "no-such-user"], "user id 'no-such-user' is not known to this run"),
        (
            ["train", "--model", "nope", "--data", "{data}"],
            'model.name: expected one of "blend", "bspm", "chebycf", "deepwalk", "ease", "gat", "gcn", "gfcf", ',
        ),
        (["train", "--model", "mf", "--data", "{missing}"], "does not exist"),
        (["evaluate", "{missing}", "--split", "test"], "has no config.json"),
        (
            ["train", "--model", "mf", "--data", "{data}", "--set", "train.lr=abc"],
            'train.lr: expected a finite float, got "abc"',
        ),
        (
            ["train", "--model", "mf", "--data", "{data}", "--set", "model.num_layers=2"],
            'model.num_layers: not a key of model "mf"; its keys are: name, embedding_dim, init_std, init, init_seed',
        ),
        (["config", "show", "{missing}"], "does not exist"),
        (
            ["train", "--model", "mf", "--data", "{data}", "--epochs", "0"],
            "train.epochs: expected an integer ≥ 1, got 0; set e.g. train.epochs = 100, or leave it unset",
        ),
        (
            ["train", "--model", "lightgcn", "--data", "{data}", "--set", "model.num_layers=100000"],
            "model.num_layers: expected an integer in [0, 64], got 100000; set e.g. model.num_layers = 3",
        ),
        (
            ["train", "--model", "mf", "--data", "{data}", "--seed", str(10**30)],
            f"seed: expected an integer in [0, 18446744073709551615], got {10**30}; set e.g. seed = 2020",
        ),
        *(
            (
                ["serve", "{run}", "--read-only", "--port", port],
                f"serve.port: expected an integer in [1, 65535], got {port}; set e.g. serve.port = 8000",
            )
            for port in ("70000", "-1", "0")
        ),
    ],
)
def test_errors_exit_2_with_one_line(argv, message, run_dir, planted_dir, tmp_path, capsys) -> None:
    argv = [a.format(run=run_dir, data=planted_dir, missing=tmp_path / "missing") for a in argv]
    if argv[0] == "train":
        argv += ["--out", str(tmp_path / "out")]
    assert main(["-q", *argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err


def test_recommend_k_beyond_the_catalogue_is_every_unseen_item(run_dir: Path, capsys) -> None:
    from graphrec.runs import load_run

    run = load_run(run_dir)
    unseen = run.train.shape[1] - run.train[0].nnz
    user = str(run.user_ids.id_of(0))
    assert main(["-q", "recommend", str(run_dir), "--user", user, "--k", "1000000000", "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)["items"]) == unseen


def test_export_refuses_a_file_and_an_earlier_export_without_overwrite(run_dir: Path, tmp_path: Path, capsys) -> None:
    existing = tmp_path / "existing.txt"
    existing.write_text("keep me")
    assert main(["-q", "export", str(run_dir), "--out", str(existing)]) == 2
    assert capsys.readouterr().err == (
        f"graphrec: error: export --out '{existing}': expected a directory, got an existing file; export writes "
        "user_embeddings.npy, item_embeddings.npy, user_ids.json, item_ids.json into a directory: pass a new or "
        "existing directory\n"
    )
    assert existing.read_text() == "keep me"
    out = tmp_path / "exp"
    assert main(["-q", "export", str(run_dir), "--out", str(out)]) == 0
    capsys.readouterr()
    assert main(["-q", "export", str(run_dir), "--out", str(out)]) == 2
    assert capsys.readouterr().err == (
        f"graphrec: error: export --out '{out}': the directory already holds user_embeddings.npy (an earlier "
        "export); pass --overwrite to replace it, or a new directory\n"
    )
    assert main(["-q", "export", str(run_dir), "--out", str(out), "--overwrite"]) == 0


def test_usage_error_exits_2(capsys) -> None:
    with pytest.raises(SystemExit) as info:
        main(["evaluate"])
    assert info.value.code == 2


def test_config_show_fills_defaults(tmp_path: Path, capsys) -> None:
    path = tmp_path / "c.toml"
    path.write_text('[model]\nname = "mf"\n')
    assert main(["config", "show", str(path)]) == 0
    out = capsys.readouterr().out
    assert 'name = "mf"' in out and "batch_size" in out and "num_layers" not in out


def test_config_show_lists_every_key_of_the_model_section(tmp_path: Path, capsys) -> None:
    from graphrec.config import LightGCNConfig
    from graphrec.config.params import section_fields

    path = tmp_path / "c.toml"
    path.write_text('[model]\nname = "lightgcn"\n')
    assert main(["config", "show", str(path)]) == 0
    out = capsys.readouterr().out
    model = out.split("[model]\n")[1].split("\n[")[0]
    for key in section_fields(LightGCNConfig):
        assert f"\n{key} = " in "\n" + model or f"# {key} = none (unset)" in model, key


def test_bad_value_exits_2_before_the_data_or_torch(tmp_path: Path) -> None:
    """The config is checked first: the missing data directory is never looked at, torch is never imported."""
    code = (
        "import sys; from graphrec.cli import main; rc = main(sys.argv[1:]); "
        "assert 'torch' not in sys.modules; sys.exit(rc)"
    )
    done = subprocess.run(  # noqa: PLW1510 - the exit code is asserted below
        [
            sys.executable,
            "-c",
            code,
            "train",
            "--model",
            "lightgcn",
            "--data",
            str(tmp_path / "missing"),
            "--set",
            "train.lr=-1",
        ],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr == "graphrec: error: train.lr: expected a float > 0, got -1.0; set e.g. train.lr = 0.005\n"
    assert not (tmp_path / "missing").exists()


def test_diverging_training_exits_2_naming_epoch_and_step(planted_dir: Path, tmp_path: Path, capsys) -> None:
    argv = [
        "-q",
        "train",
        "--model",
        "mf",
        "--data",
        str(planted_dir),
        "--out",
        str(tmp_path / "run"),
        "--epochs",
        "2",
        "--no-progress",
        "--set",
        "train.lr=1e30",
        "--set",
        "train.batch_size=512",
    ]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("graphrec: error: training diverged: the loss of epoch 1, step "), err
    assert "lower train.lr (now 1e+30)" in err[0]


def test_python_dash_m_entry_point(run_dir: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "graphrec", "-q", "evaluate", str(run_dir), "--split", "valid", "--k", "10", "--json"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "recall@10" in json.loads(done.stdout)


def _ratings_csv(path: Path, sep: str = ",") -> Path:
    """Generated interactions with string ids under MovieLens' column names (userId, movieId, timestamp)."""
    from graphrec.data import generate_interactions

    frame = generate_interactions(num_users=60, num_items=40, interactions_per_user=8, seed=1)
    frame["user_id"] = "u" + frame["user_id"].astype(str)
    frame["item_id"] = "m" + frame["item_id"].astype(str)
    frame.rename(columns={"user_id": "userId", "item_id": "movieId"}).to_csv(path, index=False, sep=sep)
    return path


def _home_and_elsewhere(tmp_path: Path, monkeypatch) -> tuple[Path, Path]:
    """Two working directories, absolute: the first holds data/ratings.csv (string ids) and is the cwd."""
    home, elsewhere = tmp_path.resolve() / "a", tmp_path.resolve() / "b"
    (home / "data").mkdir(parents=True)
    elsewhere.mkdir()
    _ratings_csv(home / "data" / "ratings.csv")
    monkeypatch.chdir(home)
    return home, elsewhere


def test_data_takes_an_interactions_file(tmp_path: Path, capsys, caplog) -> None:
    ratings = _ratings_csv(tmp_path / "ratings.csv", sep=";")
    out = tmp_path / "run"
    with caplog.at_level("INFO"):
        assert main(["train", "--model", "mf", "--data", str(ratings), "--out", str(out), *FAST]) == 0
    assert "columns detected: user 'userId', item 'movieId', timestamp 'timestamp'" in caplog.text
    assert "split 'auto' is 'user_temporal'" in caplog.text
    saved = json.loads((out / "config.json").read_text())["data"]
    assert saved["interactions"] == str(ratings.resolve()) and saved["path"] is None
    stats = json.loads((out / "data_stats.json").read_text())
    assert stats["split"] == "user_temporal"
    capsys.readouterr()
    assert main(["-q", "evaluate", str(out), "--data", str(ratings), "--split", "test", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["num_users"] > 0


def test_a_run_trained_on_relative_paths_works_from_another_directory(tmp_path: Path, monkeypatch, capsys) -> None:
    """Train in A with a relative --data and --out; evaluate, recommend, similar, embed and serve it from B."""
    from fastapi.testclient import TestClient

    from graphrec.service import ServeConfig, create_app

    a, b = _home_and_elsewhere(tmp_path, monkeypatch)
    assert main(["-q", "train", "--model", "lightgcn", "--data", "data/ratings.csv", "--out", "runs/r", *FAST]) == 0
    assert json.loads((a / "runs/r/config.json").read_text())["data"]["interactions"] == str(a / "data/ratings.csv")
    monkeypatch.chdir(b)
    run = "../a/runs/r"
    capsys.readouterr()
    assert main(["-q", "evaluate", run, "--split", "test", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["num_users"] > 0
    assert main(["-q", "recommend", run, "--user", "u1", "--k", "3", "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)["items"]) == 3
    item = json.loads((a / "runs/r/item_ids.json").read_text())[0]
    assert main(["-q", "similar", run, "--item", item, "--k", "3", "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)["items"]) == 3
    assert main(["-q", "embed", run, "--out", "emb"]) == 0
    assert (b / "emb").is_dir()
    config = ServeConfig(db=str(b / "events.sqlite3"), index="exact", writes_enabled=False)
    with TestClient(create_app(Path(run), config)) as client:
        response = client.get("/v1/recommendations", params={"user_id": "u1", "k": 3})
    assert response.status_code == 200, response.text


def test_training_into_a_run_refuses_without_resume_or_overwrite(planted_dir: Path, tmp_path: Path, capsys) -> None:
    from graphrec.runs import train
    from tests.conftest import tiny_config

    out = tmp_path / "run"

    def killed_after_two(report) -> None:
        if report.epoch == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):  # an interrupted run: its checkpoint, no summary.json
        train(tiny_config(planted_dir, "mf", epochs=4), out, callbacks=[killed_after_two])
    argv = ["-q", "train", "--model", "mf", "--data", str(planted_dir), "--out", str(out), *FAST]
    assert main(argv) == 2
    assert capsys.readouterr().err == (
        f"graphrec: error: run directory '{out}' already holds an unfinished run (checkpoint.safetensors); pass "
        "--resume to continue it, --overwrite to train it again from scratch, or a new --out\n"
    )
    assert main(["-q", "train", "--out", str(out), "--resume"]) == 0  # the run's own config: no flags to repeat
    summary = json.loads(capsys.readouterr().out)
    assert summary["epochs_run"] == 4 and summary["model"] == "mf"
    assert [json.loads(line)["epoch"] for line in (out / "metrics.jsonl").open()] == [1, 2, 3, 4]
    assert main(argv) == 2 and "already holds a finished run (summary.json)" in capsys.readouterr().err
    (out / "index").mkdir()
    (out / "notes.txt").write_text("mine")
    assert main([*argv, "--overwrite"]) == 0
    assert json.loads((out / "summary.json").read_text())["model"] == "mf"
    assert not (out / "index").exists() and (out / "notes.txt").read_text() == "mine"


def test_resume_needs_out_and_excludes_overwrite(capsys) -> None:
    assert main(["-q", "train", "--resume"]) == 2
    assert capsys.readouterr().err == (
        "graphrec: error: train --resume: expected the run directory to continue, got no --out; pass --out RUN_DIR\n"
    )
    with pytest.raises(SystemExit) as info:
        main(["train", "--out", "x", "--resume", "--overwrite"])
    assert info.value.code == 2 and "not allowed with argument" in capsys.readouterr().err


def test_a_second_process_cannot_train_into_a_locked_run(planted_dir: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "run"
    holder = (
        "import sys, time; from pathlib import Path; from graphrec.runlock import training_lock\n"
        "with training_lock(Path(sys.argv[1])):\n    print('locked', flush=True); time.sleep(60)\n"
    )
    process = subprocess.Popen([sys.executable, "-c", holder, str(out)], stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None and process.stdout.readline() == "locked\n"
        argv = ["-q", "train", "--model", "mf", "--data", str(planted_dir), "--out", str(out), *FAST]
        assert main(argv) == 2
        assert capsys.readouterr().err == (
            f"graphrec: error: run directory '{out}' is being trained by process {process.pid} (it holds "
            f"{out / 'train.lock'}); wait for it to finish, or pass another --out\n"
        )
    finally:
        process.kill()
        process.wait()
    assert main(argv) == 0  # the lock goes with the process that held it


def test_progress_bars_only_on_a_terminal_unless_forced(planted_dir: Path, tmp_path: Path, capsys) -> None:
    fast = [a for a in FAST if a != "--no-progress"]
    argv = ["-q", "train", "--model", "mf", "--data", str(planted_dir), *fast]
    assert main([*argv, "--out", str(tmp_path / "quiet")]) == 0  # stderr is captured: not a terminal
    assert "epoch 1" not in capsys.readouterr().err
    assert main([*argv, "--out", str(tmp_path / "forced"), "--progress"]) == 0
    assert "epoch 1" in capsys.readouterr().err


def test_a_run_without_validation_logs_no_inf_and_plots_no_empty_panel(
    planted_dir: Path, tmp_path: Path, caplog
) -> None:
    from PIL import Image

    out = tmp_path / "run"
    argv = ["train", "--model", "mf", "--data", str(planted_dir), "--out", str(out), *FAST]
    with caplog.at_level("INFO", logger="graphrec"):
        assert main([*argv, "--set", "data.valid_ratio=0"]) == 0
    assert "inf" not in caplog.text and "no validation split, so the model of epoch 4 is kept" in caplog.text
    with Image.open(out / "training_curve.png") as picture:
        assert picture.size == (500, 400)  # the loss panel alone


def test_model_names_are_case_insensitive(planted_dir: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "run"
    assert main(["-q", "train", "--model", "Popularity", "--data", str(planted_dir), "--out", str(out)]) == 0
    assert json.loads(capsys.readouterr().out)["model"] == "popularity"


def test_evaluate_defaults_to_the_test_split(run_dir: Path, capsys) -> None:
    assert main(["-q", "evaluate", str(run_dir), "--json"]) == 0
    default = json.loads(capsys.readouterr().out)
    assert main(["-q", "evaluate", str(run_dir), "--split", "test", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == default
    assert main(["-q", "evaluate", str(run_dir), "--split", "valid", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) != default
