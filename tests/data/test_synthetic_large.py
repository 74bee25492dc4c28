"""Large synthetic graphs: exact sizes, heavy-tailed degrees, planted communities, determinism, chunking, loaders."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from graphrec.cli import main
from graphrec.data import DataConfig, load_dataset
from graphrec.data.readers import read_lightgcn_txt, read_parquet
from graphrec.data.synthetic_large import RNG_BLOCK_USERS, SynthConfig, generate_large
from graphrec.errors import ConfigError


def _edges(out: Path) -> pd.DataFrame:
    train, test = read_lightgcn_txt(out / "train.txt"), read_lightgcn_txt(out / "test.txt")
    return pd.concat([train.assign(test=False), test.assign(test=True)], ignore_index=True)


@pytest.fixture(scope="module")
def graph_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("synth")
    generate_large(out, 150_000, seed=3)
    return out


def _hill_tail_index(values: np.ndarray, top: int) -> float:
    """Hill's estimator of the power-law tail index from the `top` largest values."""
    tail = np.sort(values)[::-1][: top + 1].astype(float)
    return top / np.sum(np.log(tail[:top] / tail[top]))


def test_sizes_are_exact_and_edges_distinct(graph_dir: Path) -> None:
    edges = _edges(graph_dir)
    assert len(edges) == 150_000
    assert not edges.duplicated(["user_id", "item_id"]).any()
    users, items = 150_000 // 34, 150_000 // 25
    assert edges["user_id"].nunique() == users and edges["user_id"].max() == users - 1
    assert edges["item_id"].between(0, items - 1).all()
    per_user = edges.groupby("user_id")["test"].agg(["size", "sum"])
    expected_test = np.minimum(np.rint(0.2 * per_user["size"]), per_user["size"] - 1)
    np.testing.assert_array_equal(per_user["sum"], expected_test)  # per-user holdout, never a user's every item


def test_degrees_are_heavy_tailed(graph_dir: Path) -> None:
    edges = _edges(graph_dir)
    user_degree = edges.groupby("user_id").size().to_numpy()
    item_degree = edges.groupby("item_id").size().to_numpy()
    for degree in (user_degree, item_degree):
        assert degree.max() > 10 * np.median(degree)
    # Users: Pareto(2) weights, so the log-log slope of the degree survival function is about -2.
    assert 1.3 < _hill_tail_index(user_degree, top=len(user_degree) // 20) < 3.0
    # Poisson degrees of the same mean have a light tail: the estimate would be far above the bound.
    poisson = np.random.default_rng(0).poisson(34, size=len(user_degree))
    assert _hill_tail_index(poisson, top=len(poisson) // 20) > 6


def test_planted_communities(graph_dir: Path) -> None:
    edges = _edges(graph_dir)
    user_comm, item_comm = np.load(graph_dir / "user_community.npy"), np.load(graph_dir / "item_community.npy")
    within = np.mean(user_comm[edges["user_id"]] == item_comm[edges["item_id"]])
    num_comm = int(item_comm.max()) + 1
    assert num_comm == 3  # 6000 items // 2000
    assert 0.8 < within < 0.9  # noise 0.2: 0.8 from the own community + about 0.2 / 3 by chance


def test_deterministic_by_seed(tmp_path: Path) -> None:
    for name, seed in (("a", 5), ("b", 5), ("c", 6)):
        generate_large(tmp_path / name, 20_000, seed=seed)
    first = (tmp_path / "a" / "train.txt").read_bytes()
    assert first == (tmp_path / "b" / "train.txt").read_bytes()
    assert (tmp_path / "a" / "test.txt").read_bytes() == (tmp_path / "b" / "test.txt").read_bytes()
    assert first != (tmp_path / "c" / "train.txt").read_bytes()


def test_chunked_output_equals_one_chunk(tmp_path: Path) -> None:
    users = 3 * RNG_BLOCK_USERS - 100  # three random-number blocks
    generate_large(tmp_path / "small", 60_000, seed=1, num_users=users, chunk_users=RNG_BLOCK_USERS)
    generate_large(tmp_path / "whole", 60_000, seed=1, num_users=users, chunk_users=10**9)
    for name in ("train.txt", "test.txt"):
        assert (tmp_path / "small" / name).read_bytes() == (tmp_path / "whole" / name).read_bytes()


def test_files_load_with_the_loader(graph_dir: Path, tmp_path: Path) -> None:
    dataset = load_dataset(DataConfig(path=str(graph_dir), valid_ratio=0.1), seed=0)
    edges = _edges(graph_dir)
    assert dataset.train.nnz + dataset.valid.nnz == int((~edges["test"]).sum())
    assert dataset.num_users == edges["user_id"].nunique()
    summary = generate_large(tmp_path, 150_000, seed=3, fmt="parquet")
    assert (summary["num_train"], summary["num_test"]) == (int((~edges["test"]).sum()), int(edges["test"].sum()))
    back = read_parquet(tmp_path / "test.parquet", user_col="user_id", item_col="item_id")
    expected = edges[edges["test"]][["user_id", "item_id"]].reset_index(drop=True)
    pd.testing.assert_frame_equal(back[["user_id", "item_id"]].reset_index(drop=True), expected)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"num_edges": 0}, "edges: expected a positive integer, e.g. 10000000, got 0"),
        ({"num_edges": 100, "num_users": 200}, "edges: expected at least one edge per user (200 users), got 100"),
        (
            {"num_edges": 10_000, "num_users": 10, "num_items": 100},
            "edges: 10000 do not fit 10 users of at most 25 distinct items each (100 items, 2 communities)",
        ),
        ({"num_edges": 100, "noise": 1.5}, "noise: expected a share in [0, 1], e.g. 0.2, got 1.5"),
        ({"num_edges": 100, "test_ratio": 1.0}, "test_ratio: expected a share in [0, 1), e.g. 0.2, got 1.0"),
    ],
)
def test_bad_arguments_are_named(kwargs: dict, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        SynthConfig(**kwargs).resolved()
    assert str(info.value).startswith(message)


def test_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["-q", "synth", "--edges", "3000", "--out", str(tmp_path), "--seed", "2", "--users", "200"]) == 0
    assert '"num_users": 200' in capsys.readouterr().out
    assert len(_edges(tmp_path)) == 3000
    assert main(["-q", "synth", "--edges", "10", "--users", "20", "--out", str(tmp_path / "x")]) == 2
    assert "expected at least one edge per user" in capsys.readouterr().err
    with pytest.raises(ConfigError, match="format: expected one of lightgcn, parquet, got 'csv'"):
        generate_large(tmp_path / "y", 100, fmt="csv")
