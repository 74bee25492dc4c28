"""`graphrec index RUN_DIR`: a run's item embeddings indexed and saved with their ids."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from graphrec.cli import main
from graphrec.errors import ConfigError
from graphrec.index import load_run_index, parse_index_options
from graphrec.runs import load_run, train
from tests.conftest import tiny_config


@pytest.fixture(scope="module")
def run_dir(planted_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("runindex") / "run"
    train(tiny_config(planted_dir, "lightgcn", epochs=2), out)
    return out


@pytest.mark.parametrize("kind", ["exact", "hnsw", "ivf"])
def test_index_cli_builds_and_saves(run_dir: Path, kind: str, tmp_path: Path, capsys) -> None:
    out = tmp_path / kind
    assert main(["-q", "index", str(run_dir), "--kind", kind, "--out", str(out)]) == 0
    report = json.loads(capsys.readouterr().out)
    run = load_run(run_dir)
    assert report["kind"] == kind and report["num_items"] == len(run.item_ids) and report["path"] == str(out)
    assert report["build_seconds"] >= 0
    index, item_ids = load_run_index(out)
    assert item_ids.ids == run.item_ids.ids and index.kind == kind
    users, items = (t.numpy() for t in run.embeddings())
    _, ids = index.search(users[:5], 10)
    top = np.argsort(-(users[:5] @ items.T), axis=1)[:, :10]
    overlap = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(ids, top, strict=True)])
    assert overlap >= 0.9


def test_index_default_out_and_options(run_dir: Path, capsys) -> None:
    assert main(["-q", "index", str(run_dir), "--set", "ef_search=33", "--set", "m=8"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["path"] == str(run_dir / "index")
    assert report["options"] == {"ef_search": 33, "m": 8, "ef_construction": 200}
    index, _ = load_run_index(run_dir / "index")
    assert (index.ef_search, index.m) == (33, 8)


def test_index_option_errors(run_dir: Path, capsys) -> None:
    assert main(["index", str(run_dir), "--set", "nprobe=4"]) == 2
    assert "unknown option 'nprobe' for a hnsw index" in capsys.readouterr().err
    with pytest.raises(ConfigError, match="index option must look like NAME=VALUE, got 'm'"):
        parse_index_options(["m"])
    with pytest.raises(ConfigError, match="index option ef_search must be an integer, got 'x'"):
        parse_index_options(["ef_search=x"])
