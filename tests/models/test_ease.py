"""EASE against numpy's inverse, the item-count refusal, and a fitted state that loads back without refitting."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from graphrec.config import model_config
from graphrec.errors import ConfigError
from graphrec.models import build_model
from graphrec.models.ease import EASE


@pytest.mark.parametrize("l2", [0.5, 3.0, 100.0])
def test_weights_are_steck_closed_form(l2: float) -> None:
    rng = np.random.default_rng(int(l2))
    matrix = (rng.random((40, 25)) < 0.2).astype(np.float64)
    model = build_model(model_config("ease", l2=l2), 40, 25, sp.csr_matrix(matrix))
    model.fit()
    inverse = np.linalg.inv(matrix.T @ matrix + l2 * np.eye(25))
    expected = np.eye(25) - inverse / np.diag(inverse)[None, :]
    np.testing.assert_allclose(model.weights.numpy(), expected, atol=1e-5)
    np.testing.assert_allclose(model.score(torch.arange(40)).numpy(), matrix @ expected, atol=1e-5)
    np.testing.assert_allclose(model.scorer().similar(torch.tensor([4])).numpy()[0], expected[4], atol=1e-5)


def test_too_many_items_are_refused_with_the_memory_needed() -> None:
    train = sp.csr_matrix(np.ones((3, 30), dtype=np.float32))
    with pytest.raises(ConfigError) as info:
        build_model(model_config("ease", max_items=20), 3, 30, train)
    assert str(info.value) == (
        "model.max_items: EASE fits dense item × item matrices and this data has 30 items (~0.0 GiB), more than "
        "model.max_items = 20; raise model.max_items if the memory is there, or use gfcf or itemknn (sparse)"
    )


def test_a_loaded_run_scores_without_refitting(
    planted_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from graphrec.runs import load_run, train
    from tests.conftest import tiny_config

    train(tiny_config(planted_dir, "ease", epochs=0), tmp_path / "run")
    fitted = load_run(tmp_path / "run")

    def refuse(self: EASE) -> None:
        raise AssertionError("a loaded run must not refit")

    monkeypatch.setattr(EASE, "fit", refuse)
    loaded = load_run(tmp_path / "run")
    np.testing.assert_array_equal(
        loaded.model.score(torch.arange(20)).numpy(), fitted.model.score(torch.arange(20)).numpy()
    )
    assert float(loaded.model.weights.abs().sum()) > 0
