"""graphrec.fit / graphrec.load: the Python estimator API on generated data with string ids."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

import graphrec
from graphrec.errors import ConfigError, DataError, RunDirError
from graphrec.estimator import resolve_settings


def interactions(seed: int = 0, users: int = 40, items: int = 30, per_user: int = 8) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = [
        (f"u{u}", f"item-{i}", int(t))
        for u in range(users)
        for t, i in enumerate(rng.choice(items, size=per_user, replace=False))
    ]
    return pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp"])


def test_bare_and_dotted_settings_resolve_to_their_sections() -> None:
    config = resolve_settings("mf", {"train.lr": 0.01}, {"epochs": 3, "embedding_dim": 8, "seed": 7})
    assert (config.train.epochs, config.train.lr, config.model.embedding_dim, config.seed) == (3, 0.01, 8, 7)


def test_unknown_and_misspelt_settings_are_refused_with_a_hint() -> None:
    with pytest.raises(ConfigError, match="setting 'epoch' is not a config key of this model; did you mean epochs"):
        resolve_settings("mf", None, {"epoch": 3})
    with pytest.raises(ConfigError, match=r"train\.epochs"):
        resolve_settings("mf", None, {"epochs": 0})  # checked before any I/O


def test_fit_recommend_similar_evaluate_save_load(tmp_path: Path) -> None:
    frame = interactions()
    before = frame.copy()
    model = graphrec.fit(frame, model="mf", run_dir=tmp_path / "run", epochs=2, embedding_dim=8)
    pd.testing.assert_frame_equal(frame, before)  # the user's frame is not changed
    top = model.recommend(["u0", "u1"], k=5)
    assert list(top.columns) == ["user_id", "rank", "item_id", "score"]
    assert top.groupby("user_id").size().to_dict() == {"u0": 5, "u1": 5}
    seen = set(model.run.train[model.run.user_ids.index("u0")].indices)
    assert not {model.run.item_ids.index(i) for i in top[top.user_id == "u0"].item_id} & seen
    assert (top.groupby("user_id").score.diff().dropna() <= 0).all()
    similar = model.similar_items(["item-3"], k=4)
    assert len(similar) == 4 and "item-3" not in set(similar.similar_item_id)
    metrics = model.evaluate("test", ks=[10])
    assert 0.0 <= metrics["recall@10"] <= 1.0 and metrics["num_users"] > 0
    fresh = model.recommend_for_items(["item-1", "item-2"], k=5)
    assert len(fresh) == 5 and not {"item-1", "item-2"} & set(fresh.item_id)
    saved = model.save(tmp_path / "copy")
    again = graphrec.load(saved)
    pd.testing.assert_frame_equal(again.recommend(["u0", "u1"], k=5), top)


def test_fit_on_a_sparse_matrix_and_a_test_frame(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    matrix = sp.random(30, 20, density=0.3, format="csr", random_state=rng)
    matrix.data[:] = 1.0
    model = graphrec.fit(matrix, model="itemknn", run_dir=tmp_path / "knn")
    assert len(model.run.user_ids) <= 30 and len(model.recommend([0], k=3)) == 3
    test = pd.DataFrame({"user": [0, 1, 999], "item": [0, 1, 2]})
    metrics = model.evaluate(test, ks=[5])
    assert metrics["unknown_pairs"] == 1


def test_fit_refuses_a_run_directory_that_holds_a_run(tmp_path: Path) -> None:
    graphrec.fit(interactions(), model="mf", run_dir=tmp_path / "run", epochs=1)
    with pytest.raises(RunDirError, match="already holds a finished run"):
        graphrec.fit(interactions(), model="mf", run_dir=tmp_path / "run", epochs=1)
    with pytest.raises(DataError, match="expected a pandas DataFrame"):
        graphrec.fit([1, 2, 3], model="mf", run_dir=tmp_path / "other", epochs=1)  # type: ignore[arg-type]
