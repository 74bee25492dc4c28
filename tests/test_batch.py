"""graphrec.batch and `graphrec recommend --all`: every user's top-K unseen items in one Parquet file."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from graphrec.cli import main
from graphrec.runs import load_run, recommend, train
from tests.conftest import tiny_config


@pytest.fixture(scope="module")
def run_dir(planted_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("batch") / "run"
    train(tiny_config(planted_dir, "lightgcn", epochs=2), out)
    return out


def test_recommend_all_writes_every_user(run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "recs.parquet"
    # A chunk size that does not divide the number of users: the last chunk is ragged.
    assert (
        main(
            [
                "-q",
                "recommend",
                str(run_dir),
                "--all",
                "--k",
                "7",
                "--out",
                str(out),
                "--chunk-size",
                "13",
                "--no-progress",
            ]
        )
        == 0
    )
    report = json.loads(capsys.readouterr().out)
    run = load_run(run_dir)
    table = pq.read_table(out)
    assert table.column_names == ["user_id", "rank", "item_id", "score"]
    assert table.num_rows == report["rows"] == len(run.user_ids) * 7
    frame = table.to_pandas()
    assert frame.groupby("user_id")["rank"].apply(list).map(lambda r: r == list(range(1, 8))).all()
    users = run.user_ids.indices(frame["user_id"])
    items = run.item_ids.indices(frame["item_id"])
    assert (users >= 0).all() and (items >= 0).all()
    assert run.train[users, items].sum() == 0  # no seen item is ever recommended
    # Each user's rows equal the single-user path (same items and scores, best first).
    for user_idx in (0, len(run.user_ids) - 1):
        user_id = run.user_ids.id_of(user_idx)
        expected = recommend(run, user_id, 7)
        rows = frame[frame["user_id"] == user_id]
        assert rows["item_id"].tolist() == [e["item_id"] for e in expected]
        np.testing.assert_allclose(rows["score"], [e["score"] for e in expected], rtol=1e-5)


def test_recommend_user_and_all_are_exclusive(run_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for argv, message in (
        (["--user", "0", "--all", "--out", "x.parquet"], "not allowed with argument"),
        ([], "one of the arguments --user --all is required"),
    ):
        with pytest.raises(SystemExit) as info:
            main(["recommend", str(run_dir), *argv])
        assert info.value.code == 2 and message in capsys.readouterr().err


def test_recommend_all_needs_out(run_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["recommend", str(run_dir), "--all"]) == 2
    assert "recommend --all needs --out FILE.parquet" in capsys.readouterr().err


def test_batch_sits_below_run_directories() -> None:
    """Layering (issue 12, point 7): graphrec.batch never imports graphrec.runs, not even inside a function."""
    import ast

    import graphrec.batch

    tree = ast.parse(Path(graphrec.batch.__file__).read_text(encoding="utf-8"))
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    imported |= {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    assert "graphrec" in {name.split(".")[0] for name in imported if name}  # the scan sees graphrec imports
    assert not any(name == "graphrec.runs" or name.startswith("graphrec.runs.") for name in imported if name)
