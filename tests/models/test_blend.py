"""Blend: scores against a slow per-user reference, the weight search on validation, a run that loads back without
choosing again, and the refusal of runs trained on other data."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from graphrec.config import apply_overrides
from graphrec.errors import ConfigError, RunDirError
from graphrec.evaluation.validation import ValidationSplit
from graphrec.models.blend import Blend, normalise_rows, simplex_grid
from graphrec.runs import evaluate_run, load_run, train
from tests.conftest import tiny_config


@pytest.fixture(scope="module")
def members(planted_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Closed-form runs on the planted data: gfcf, itemknn (both score histories) and popularity (embeddings)."""
    runs = {}
    for name, options in (("gfcf", {"rank": 16}), ("itemknn", {"num_neighbours": 20}), ("popularity", None)):
        runs[name] = tmp_path_factory.mktemp(f"member-{name}")
        train(tiny_config(planted_dir, name, model_options=options), runs[name])
    return runs


def blend_config(data: Path, runs: list[Path], **options: object):
    return tiny_config(data, "blend", model_options={"runs": [str(r) for r in runs], **options})


def reference_normalise(scores: np.ndarray, seen: np.ndarray, how: str) -> np.ndarray:
    """One user at a time: the statistics over the items the user has not seen."""
    out = np.array(scores, dtype=np.float64)
    for u in range(len(out)):
        free = out[u][~seen[u]]
        if how == "zscore":
            std = free.std() if free.size else 0.0
            out[u] = (out[u] - (free.mean() if free.size else 0.0)) / (std if std > 0 else 1.0)
        elif how == "minmax":
            low, high = (free.min(), free.max()) if free.size else (0.0, 0.0)
            out[u] = (out[u] - low) / (high - low if high > low else 1.0)
    return out


@pytest.mark.parametrize("how", ["zscore", "minmax", "raw"])
def test_normalise_rows_equals_the_per_user_reference(how: str) -> None:
    rng = np.random.default_rng(0)
    scores = rng.normal(size=(6, 9)).astype(np.float32) * 50
    scores[2] = 3.0  # no spread
    seen = rng.random((6, 9)) < 0.3
    seen[4] = True  # every item seen: nothing to normalise over
    got = normalise_rows(torch.from_numpy(scores), sp.csr_matrix(seen.astype(np.float32)), how).numpy()
    np.testing.assert_allclose(got, reference_normalise(scores, seen, how), rtol=1e-5, atol=1e-5)


def test_simplex_grid_holds_every_weighting_once_from_the_first_member_alone() -> None:
    grid = simplex_grid(3, 4)
    assert grid.shape == (math.comb(6, 2), 3) and grid.dtype == np.float32
    np.testing.assert_allclose(grid.sum(axis=1), 1.0, atol=1e-6)
    assert grid[0].tolist() == [1.0, 0.0, 0.0] and grid[-1].tolist() == [0.0, 0.0, 1.0]
    assert len({tuple(row) for row in (grid * 4).round().astype(int).tolist()}) == len(grid)
    assert simplex_grid(2, 10)[:, 0].tolist() == pytest.approx([1 - i / 10 for i in range(11)])


def test_weights_one_zero_give_the_first_runs_scores(planted_dir: Path, members: dict[str, Path], tmp_path: Path):
    runs = [members["gfcf"], members["popularity"]]
    train(blend_config(planted_dir, runs, weights=[1.0, 0.0], normalise="raw"), tmp_path / "raw")
    train(blend_config(planted_dir, runs, weights=[1.0, 0.0]), tmp_path / "zscore")
    first = load_run(members["gfcf"])
    users = torch.arange(first.model.num_users)
    expected = first.model.score(users).numpy()
    np.testing.assert_array_equal(load_run(tmp_path / "raw").model.score(users).numpy(), expected)
    zscored = load_run(tmp_path / "zscore").model.score(users).numpy()
    np.testing.assert_allclose(zscored, reference_normalise(expected, first.train.toarray() > 0, "zscore"), atol=1e-4)
    gfcf_test = evaluate_run(members["gfcf"], "test", [10, 20])
    for run in ("raw", "zscore"):  # a positive per-user affine map: the same ranking, the same metrics
        assert evaluate_run(tmp_path / run, "test", [10, 20]) == gfcf_test


def test_blended_scores_equal_the_dense_reference(planted_dir: Path, members: dict[str, Path], tmp_path: Path):
    runs = [members["gfcf"], members["itemknn"], members["popularity"]]
    train(blend_config(planted_dir, runs, weights=[0.5, 0.3, 0.2]), tmp_path / "run")
    blend = load_run(tmp_path / "run")
    users = torch.arange(40)
    seen = blend.train[:40].toarray() > 0
    expected = sum(
        w * reference_normalise(load_run(r).model.score(users).numpy(), seen, "zscore")
        for w, r in zip([0.5, 0.3, 0.2], runs, strict=True)
    )
    np.testing.assert_allclose(blend.model.score(users).numpy(), expected, atol=1e-4)
    assert type(blend.scorer()).__name__ == "BlendScorer"  # popularity scores no history: no score_history


def test_a_blend_of_history_scorers_scores_histories(planted_dir: Path, members: dict[str, Path], tmp_path: Path):
    train(blend_config(planted_dir, [members["gfcf"], members["itemknn"]], weights=[0.4, 0.6]), tmp_path / "run")
    blend = load_run(tmp_path / "run")
    scorer = blend.scorer()
    users = np.arange(30)
    np.testing.assert_allclose(
        scorer.score_history(blend.train[users]).numpy(), scorer.score(torch.from_numpy(users)).numpy(), atol=1e-6
    )


def test_chosen_weights_beat_every_member_on_validation(planted_dir: Path, members: dict[str, Path], tmp_path: Path):
    runs = [members["gfcf"], members["itemknn"], members["popularity"]]
    summary = train(blend_config(planted_dir, runs, grid_steps=4), tmp_path / "run")
    selection = json.loads((tmp_path / "run" / "selection.json").read_text())
    alone = [json.loads((r / "summary.json").read_text())["valid"]["ndcg@20"] for r in runs]
    assert selection["searched"] and selection["metric"] == "ndcg@20" and len(selection["candidates"]) == 15
    assert selection["members_alone"] == alone  # each member alone is a candidate, evaluated as the member
    assert selection["value"] == summary["valid"]["ndcg@20"] >= max(alone)  # the fitted blend is the choice
    assert max(c["ndcg@20"] for c in selection["candidates"]) == selection["value"]
    assert [m["run"] for m in selection["members"]] == [str(r.resolve()) for r in runs]
    np.testing.assert_allclose(load_run(tmp_path / "run").model.weights.numpy(), selection["weights"])


def test_a_loaded_blend_does_not_choose_again(
    planted_dir: Path, members: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    train(blend_config(planted_dir, [members["gfcf"], members["itemknn"]]), tmp_path / "run")
    fitted = load_run(tmp_path / "run")

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("a loaded blend must not choose its weights again")

    monkeypatch.setattr(Blend, "select", refuse)
    monkeypatch.setattr(ValidationSplit, "evaluate_candidates", refuse)
    loaded = load_run(tmp_path / "run")
    users = torch.arange(50)
    np.testing.assert_array_equal(loaded.model.score(users).numpy(), fitted.model.score(users).numpy())
    assert loaded.model.weights.tolist() == fitted.model.weights.tolist() and loaded.model.weights.sum() > 0


def test_candidates_evaluated_together_equal_each_evaluated_alone(planted_dir: Path, members: dict[str, Path]):
    from graphrec.data import load_dataset

    config = blend_config(planted_dir, [members["gfcf"], members["itemknn"]])
    dataset = load_dataset(config.data, seed=config.seed)
    model = Blend(dataset.num_users, dataset.num_items, config.model, dataset.train)
    split = ValidationSplit.of(dataset, [5, 20], "ndcg@20", chunk_size=64)
    assert split is not None
    grid = simplex_grid(2, 3)
    together = split.evaluate_candidates(model.candidate_scores(grid), len(grid), dataset.num_items)
    for weights, result in zip(grid, together, strict=True):
        model.weights.copy_(torch.from_numpy(weights))
        assert split.evaluate(model.scorer()) == result


# ------------------------------------------------------------------------------------------------ refused runs
def _rewrite(source: Path, out: Path, user_lines: int | None = None, item_offset: int = 0) -> Path:
    """A copy of a LightGCN data directory with the first `user_lines` users only and item ids shifted."""
    out.mkdir()
    for name in ("train.txt", "test.txt"):
        lines = source.joinpath(name).read_text().splitlines()[:user_lines]
        shifted = [" ".join([row[0], *(str(int(i) + item_offset) for i in row[1:])]) for row in map(str.split, lines)]
        out.joinpath(name).write_text("\n".join(shifted) + "\n")
    return out


def test_runs_of_other_data_are_refused(planted_dir: Path, members: dict[str, Path], tmp_path: Path) -> None:
    fewer = tmp_path / "fewer"
    train(tiny_config(_rewrite(planted_dir, tmp_path / "fewer-data", user_lines=450), "popularity"), fewer)
    with pytest.raises(ConfigError) as info:
        train(blend_config(planted_dir, [members["gfcf"], fewer]), tmp_path / "a")
    assert str(info.value) == (
        f"model.runs[1]: run '{fewer}' has 450 users × 300 items, this data 500 × 300; blend runs trained on this "
        "data (the same data settings and seed), or train the member again on it"
    )


def test_runs_with_other_ids_are_refused(planted_dir: Path, members: dict[str, Path], tmp_path: Path) -> None:
    shifted = tmp_path / "shifted"
    train(tiny_config(_rewrite(planted_dir, tmp_path / "shifted-data", item_offset=1000), "popularity"), shifted)
    with pytest.raises(ConfigError) as info:
        train(blend_config(planted_dir, [members["gfcf"], shifted]), tmp_path / "a")
    assert str(info.value) == (
        f"model.runs[1]: run '{shifted}' maps user or item ids to other positions than model.runs[0] "
        f"'{members['gfcf']}'; blend runs trained on this data (the same data settings and seed), or train the "
        "member again on it"
    )


def test_runs_trained_on_another_split_are_refused(planted_dir: Path, members: dict[str, Path], tmp_path: Path):
    other = tmp_path / "other"
    train(apply_overrides(tiny_config(planted_dir, "popularity"), ["data.seed=8"]), other)  # another valid carve
    with pytest.raises(ConfigError) as info:
        train(blend_config(planted_dir, [members["gfcf"], other]), tmp_path / "a")
    message = str(info.value)
    assert message.startswith(f"model.runs[1]: run '{other}' was trained on other interactions: ")
    assert message.endswith(
        " user–item pairs differ from this data's training split; blend runs trained on this data (the same data "
        "settings and seed), or train the member again on it"
    )
    assert not (tmp_path / "a").exists(), "a refused blend leaves no run directory"


def test_a_missing_run_is_named_by_its_position(planted_dir: Path, members: dict[str, Path], tmp_path: Path):
    with pytest.raises(RunDirError) as info:
        train(blend_config(planted_dir, [members["gfcf"], tmp_path / "nope"]), tmp_path / "a")
    assert str(info.value) == (
        f"model.runs[1]: run directory '{tmp_path / 'nope'}' has no config.json; pass a directory written by "
        "'graphrec train'"
    )


def test_weights_need_a_validation_split_to_be_chosen(planted_dir: Path, tmp_path: Path) -> None:
    everything = ["data.valid_ratio=0"]  # members and blend trained on all of train.txt
    runs = [tmp_path / "popularity", tmp_path / "itemknn"]
    for run in runs:
        train(apply_overrides(tiny_config(planted_dir, run.name), everything), run)
    with pytest.raises(ConfigError) as info:
        train(apply_overrides(blend_config(planted_dir, runs), everything), tmp_path / "a")
    assert str(info.value) == (
        "model.weights: expected weights, since the data has no validation split to choose them on, got none; "
        "set e.g. model.weights = [0.5, 0.5] (or keep a validation split: valid.txt or data.valid_ratio > 0)"
    )
    given = apply_overrides(blend_config(planted_dir, runs), [*everything, "model.weights=[0.5, 0.5]"])
    assert train(given, tmp_path / "b")["valid"] == {}


def test_weights_must_match_the_runs(planted_dir: Path, members: dict[str, Path]) -> None:
    with pytest.raises(ConfigError) as info:
        blend_config(planted_dir, [members["gfcf"], members["itemknn"]], weights=[1.0])
    assert str(info.value) == (
        "model.weights: expected 2 weights (one per run of model.runs), got [1.0]; set e.g. model.weights = "
        "[0.5, 0.5], or leave it unset"
    )
