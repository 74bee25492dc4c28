"""Planted item features of the large synthetic graphs: each block carries the community at the stated noise, the
file is seeded, and a feature model trains on it through features.vector_col."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from graphrec.cli import main
from graphrec.data.synthetic_features import FeatureSpec, planted_features
from graphrec.errors import ConfigError

COMMUNITIES = np.arange(4000) % 8


def _token_communities(titles: np.ndarray) -> np.ndarray:
    """The community index of every title token, parsed back one title at a time (the slow reading)."""
    return np.array([[int(re.fullmatch(r"w(\d+)x\d+", t).group(1)) for t in title.split()] for title in titles])


@pytest.mark.parametrize("noise", [0.0, 0.3, 1.0])
def test_each_block_shows_the_community_at_the_stated_noise(noise: float) -> None:
    columns = planted_features(COMMUNITIES, seed=0, spec=FeatureSpec(noise=noise, words=5, dim=16, signal=2.0))
    tokens = _token_communities(columns["title"])
    assert tokens.shape == (4000, 5) and tokens.max() < 8
    own = (tokens == COMMUNITIES[:, None]).mean()
    assert own == pytest.approx(1 - noise + noise / 8, abs=0.02)  # off-community draws land home 1/8 of the time
    first_genre = np.array([int(g.split("|")[0][1:]) for g in columns["genres"]])
    assert (first_genre == COMMUNITIES).mean() == pytest.approx(1 - noise + noise / 8, abs=0.03)
    emb = columns["embedding"]
    assert emb.dtype == np.float32 and emb.shape == (4000, 16)
    means = np.stack([emb[COMMUNITIES == c].mean(axis=0) for c in range(8)])
    nearest = np.argmax(emb @ means.T, axis=1)  # the vectors' own community is recoverable at signal 2
    assert (nearest == COMMUNITIES).mean() > 0.9


def test_seeded_and_the_embedding_noise_has_unit_norm() -> None:
    a = planted_features(COMMUNITIES, seed=3, spec=FeatureSpec(signal=0.0, dim=64))
    b = planted_features(COMMUNITIES, seed=3, spec=FeatureSpec(signal=0.0, dim=64))
    assert np.array_equal(a["embedding"], b["embedding"]) and list(a["title"]) == list(b["title"])
    assert np.linalg.norm(a["embedding"], axis=1).mean() == pytest.approx(1.0, abs=0.02)
    c = planted_features(COMMUNITIES, seed=4, spec=FeatureSpec(signal=0.0, dim=64))
    assert list(a["title"]) != list(c["title"])


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (FeatureSpec(noise=1.5), "feature noise: expected a share in [0, 1], got 1.5; e.g. 0.3"),
        (FeatureSpec(dim=0), "feature dim: expected a positive integer, got 0"),
        (FeatureSpec(signal=-1.0), "feature signal: expected ≥ 0, got -1.0; e.g. 1.0"),
    ],
)
def test_bad_specs_are_named(spec: FeatureSpec, message: str) -> None:
    with pytest.raises(ConfigError) as error:
        planted_features(COMMUNITIES, seed=0, spec=spec)
    assert str(error.value) == message


def test_synth_writes_a_catalogue_a_feature_model_trains_on(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "g"
    args = ["-q", "synth", "--edges", "6000", "--out", str(out), "--item-features", "--feature-dim", "8"]
    assert main(args) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["item_features"]["catalogue"] == "items.parquet" and summary["item_features"]["dim"] == 8
    frame = pd.read_parquet(out / "items.parquet")
    assert list(frame.columns) == ["item_id", "title", "genres", "embedding"]
    assert frame["item_id"].tolist() == list(range(summary["config"]["num_items"] or len(frame)))
    keys = [
        "model.embedding_dim=8",
        "model.num_layers=1",
        f"features.catalogue={out / 'items.parquet'}",
        "features.item_col=item_id",
        "features.vector_col=embedding",
        "features.text_encoder=tfidf",
        "features.text_dim=4",
        "features.extract_numeric={}",
        "train.epochs=1",
    ]
    run = tmp_path / "run"
    argv = ["-q", "train", "--model", "pinsage", "--data", str(out), "--out", str(run), "--no-progress"]
    assert main([*argv, *(x for key in keys for x in ("--set", key))]) == 0
    assert (run / "item_features.npy").is_file()
    assert main(["-q", "synth", "--edges", "600", "--out", str(tmp_path / "bad"), "--item-features",
                 "--feature-noise", "2"]) == 2  # fmt: skip
    assert not (tmp_path / "bad").exists()
