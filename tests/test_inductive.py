"""Related items and fresh items by external id: library and CLI, for a feature model and a fold-in model."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from graphrec.cli import main
from graphrec.errors import DataError, UnknownIdError
from graphrec.inductive import NewItem, embed_new_items, similar_items
from graphrec.runs import load_run, recommend, train

from .conftest import tiny_config


@pytest.fixture(scope="module")
def runs(planted_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = {}
    for name, epochs in (("pinsage", 3), ("mf", 5)):
        run_dir = tmp_path_factory.mktemp(f"inductive-{name}")
        train(tiny_config(planted_dir, name, epochs=epochs), run_dir)
        out[name] = run_dir
    return out


def test_similar_items_excludes_the_item_and_is_sorted(runs: dict[str, Path]) -> None:
    run = load_run(runs["pinsage"])
    item = run.item_ids.id_of(0)
    result = similar_items(run, item, 5)
    assert len(result) == 5 and item not in [r["item_id"] for r in result]
    scores = [r["score"] for r in result]
    assert scores == sorted(scores, reverse=True)
    with pytest.raises(UnknownIdError, match="item id 'nope' is not known"):
        similar_items(run, "nope", 5)


@pytest.mark.parametrize("name", ["pinsage", "mf"])
def test_new_item_is_served_at_once(name: str, runs: dict[str, Path]) -> None:
    run = load_run(runs[name])
    twin = 3  # a new item with the features and users of an existing one should land next to it
    users = [run.user_ids.id_of(int(u)) for u in run.train[:, twin].nonzero()[0]]
    features = run.model.features[twin].numpy() if name == "pinsage" else None
    embedding = embed_new_items(run, [NewItem("fresh-1", users, features)])
    assert embedding.shape == (1, run.config.model.embedding_dim)
    similar = [r["item_id"] for r in similar_items(run, "fresh-1", len(run.item_ids) // 10)]
    assert run.item_ids.id_of(twin) in similar  # within the top 10% (dot product favours high-norm items)
    if name == "pinsage":  # same features, same edges: the very same direction as its twin
        _, items = run.embeddings()
        assert float(items[-1] @ items[twin] / (items[-1].norm() * items[twin].norm())) > 0.999
    assert "fresh-1" not in [r["item_id"] for r in recommend(run, users[0], 50)]  # seen by that user: excluded
    with pytest.raises(DataError, match="already in the run"):
        embed_new_items(run, [NewItem("fresh-1", users, features)])
    with pytest.raises(DataError, match="unknown user id"):
        embed_new_items(run, [NewItem("fresh-2", ["no-such-user"], features)])


def test_cli_similar_and_embed_items(runs: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    run = load_run(runs["pinsage"])
    item = str(run.item_ids.id_of(1))
    assert main(["-q", "similar", str(runs["pinsage"]), "--item", item, "--k", "3", "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)["items"]) == 3
    spec = tmp_path / "new.json"
    width = run.model.features.shape[1]
    spec.write_text(json.dumps([{"item_id": "n1", "users": [run.user_ids.id_of(0)], "features": [0.1] * width}]))
    assert main(["-q", "embed-items", str(runs["pinsage"]), "--input", str(spec), "--out", str(tmp_path / "o")]) == 0
    assert np.load(tmp_path / "o" / "item_embeddings.npy").shape == (1, run.config.model.embedding_dim)
    spec.write_text(json.dumps([{"item_id": "n2", "features": [0.1] * (width + 1)}]))
    assert main(["-q", "embed-items", str(runs["pinsage"]), "--input", str(spec), "--out", str(tmp_path / "o")]) == 2
    assert f"the model expects {width}" in capsys.readouterr().err


@pytest.mark.parametrize("name", ["pinsage", "mf"])
def test_grown_cache_equals_a_full_recompute(name: str, runs: dict[str, Path]) -> None:
    run = load_run(runs[name])
    run.embeddings()  # cached before the items arrive: embed_new_items extends it instead of recomputing
    users = [run.user_ids.id_of(u) for u in (0, 1, 2)]
    width = run.model.features.shape[1] if name == "pinsage" else 0
    features = np.full(width, 0.2, dtype=np.float32) if width else None
    embed_new_items(run, [NewItem("a", users, features), NewItem("b", users[:1], features)])
    grown_users, grown_items = run.embeddings()
    run.invalidate()
    fresh_users, fresh_items = run.embeddings()
    assert grown_items.shape[0] == len(run.item_ids)
    assert np.allclose(grown_items.numpy(), fresh_items.numpy(), atol=1e-5)
    assert np.allclose(grown_users.numpy(), fresh_users.numpy(), atol=1e-5)


def test_new_items_take_precomputed_vectors_from_a_parquet_catalogue(planted_dir: Path, tmp_path: Path) -> None:
    import dataclasses

    import pandas as pd

    catalogue = pd.read_csv(planted_dir / "items.csv", dtype=str)
    rng = np.random.default_rng(0)
    catalogue["image"] = [rng.normal(size=4).astype(np.float32) for _ in range(len(catalogue))]
    catalogue.to_parquet(tmp_path / "items.parquet")
    config = tiny_config(planted_dir, "pinsage", epochs=1)
    features = dataclasses.replace(config.features, catalogue=str(tmp_path / "items.parquet"), vector_col="image")
    train(dataclasses.replace(config, features=features), tmp_path / "run")
    run = load_run(tmp_path / "run")
    users = [run.user_ids.id_of(0), run.user_ids.id_of(1)]
    one = embed_new_items(run, [NewItem("fresh-1", users, vector=np.ones(4, dtype=np.float32))])
    run = load_run(tmp_path / "run")
    other = embed_new_items(run, [NewItem("fresh-1", users, vector=-np.ones(4, dtype=np.float32))])
    assert not np.allclose(one.numpy(), other.numpy())  # the vector reaches the embedding
    with pytest.raises(DataError, match=r"new item 'fresh-2': expected a vector of 4 finite numbers, got 3 values"):
        embed_new_items(load_run(tmp_path / "run"), [NewItem("fresh-2", users, vector=np.ones(3))])
    with pytest.raises(DataError, match=r"got a vector, but the run has no vectors block"):
        embed_new_items(load_run(planted_run_without_vectors(planted_dir, tmp_path)), [NewItem("x", [], vector=[1.0])])


def planted_run_without_vectors(planted_dir: Path, tmp_path: Path) -> Path:
    train(tiny_config(planted_dir, "pinsage", epochs=1), tmp_path / "plain")
    return tmp_path / "plain"
