"""graphrec compare: bootstrap intervals, paired tests, Holm, the refusal of runs on different data, the CLI."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pytest
import scipy.stats
from hypothesis import given, settings
from hypothesis import strategies as st

from graphrec.cli import main
from graphrec.errors import ConfigError, DataError
from graphrec.evaluation.compare import (
    UserValues,
    bootstrap_means,
    compare,
    comparison_markdown,
    holm,
    paired_tests,
)
from graphrec.runs import compare_runs, evaluate_run, train
from graphrec.seeding import Stream, numpy_rng

from ..conftest import tiny_config


def _holm_reference(p: list[float]) -> list[float]:
    """Holm by its definition: the i-th smallest p times (m − i + 1), made monotone, capped at 1."""
    m = len(p)
    order = sorted(range(m), key=lambda i: (p[i], i))
    out = [0.0] * m
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[i]))
        out[i] = running
    return out


@given(st.lists(st.floats(0.0, 1.0), min_size=0, max_size=8))
@settings(max_examples=100, deadline=None)
def test_holm_matches_its_definition(p: list[float]) -> None:
    np.testing.assert_allclose(holm(np.array(p)), _holm_reference(p), rtol=0, atol=1e-15)


def test_holm_known_values() -> None:
    np.testing.assert_allclose(holm(np.array([0.01, 0.04, 0.03])), [0.03, 0.06, 0.06])


def test_bootstrap_means_equal_resampling_loop() -> None:
    """The counts-matrix product equals drawing user indices and averaging, resample by resample."""
    values = numpy_rng(0).random((3, 37))
    got = bootstrap_means(values, 25, seed=4)
    rng = numpy_rng(4, Stream.BOOTSTRAP_USERS)
    draws = rng.integers(0, 37, size=(25, 37))  # one block: 25 × 37 cells are far below the block size
    for b in range(25):
        for s in range(3):
            assert got[s, b] == pytest.approx(sum(values[s, i] for i in draws[b]) / 37, abs=1e-12)


def test_bootstrap_blocks_do_not_change_the_distribution(monkeypatch: pytest.MonkeyPatch) -> None:
    import graphrec.evaluation.compare as module

    values = numpy_rng(1).random((2, 500))
    monkeypatch.setattr(module, "_BLOCK_CELLS", 1000)  # two resamples per block
    blocked = bootstrap_means(values, 400, seed=0)
    assert np.all(np.abs(blocked.mean(axis=1) - values.mean(axis=1)) < 0.01)
    assert np.array_equal(blocked, bootstrap_means(values, 400, seed=0))  # seeded: reproducible


def test_paired_tests_match_scipy_on_each_metric() -> None:
    rng = numpy_rng(2)
    base = rng.random((2, 60))
    run = base + rng.normal(0.05, 0.1, size=(2, 60))
    got = paired_tests(run, base)
    for j in range(2):
        d = run[j] - base[j]
        assert got["t_p"][j] == pytest.approx(scipy.stats.ttest_rel(run[j], base[j]).pvalue)
        assert got["wilcoxon_p"][j] == pytest.approx(scipy.stats.wilcoxon(d).pvalue)
        assert got["mean_diff"][j] == pytest.approx(d.mean())
        assert got["cohens_d"][j] == pytest.approx(d.mean() / d.std(ddof=1))


def test_identical_runs_have_p_one_and_no_effect() -> None:
    base = numpy_rng(3).random((1, 20))
    got = paired_tests(base.copy(), base)
    assert got["t_p"][0] == got["wilcoxon_p"][0] == 1.0 and got["cohens_d"][0] == got["mean_diff"][0] == 0.0


def _values(per_user: dict[str, np.ndarray], zeros: int = 0) -> UserValues:
    return UserValues(np.arange(len(next(iter(per_user.values())))), per_user, zeros)


def test_compare_means_cis_and_holm() -> None:
    rng = numpy_rng(5)
    base = rng.random(200)
    runs = {
        "a": _values({"recall@10": base}, zeros=3),
        "b": _values({"recall@10": np.clip(base + 0.2, 0, 1)}, zeros=3),
        "c": _values({"recall@10": base + rng.normal(0, 0.01, 200)}, zeros=3),
    }
    result = compare(runs, "a", resamples=300, seed=1)
    mean = result["runs"]["a"]["recall@10"]
    assert mean["mean"] == float(base.sum() / 203) and result["num_users"] == 203
    assert mean["ci"][0] < mean["mean"] < mean["ci"][1]
    tests = {label: result["tests"][label]["recall@10"] for label in ("b", "c")}
    assert tests["b"]["t_p_holm"] < 1e-6 and tests["b"]["diff_ci"][0] > 0
    raw = np.array([tests["b"]["t_p"], tests["c"]["t_p"]])
    np.testing.assert_allclose([tests["b"]["t_p_holm"], tests["c"]["t_p_holm"]], holm(raw))
    text = comparison_markdown(result)
    assert "| recall@10 |" in text and "| recall@10 | b |" in text
    json.dumps(result, allow_nan=False)


def test_compare_refuses_different_users() -> None:
    runs = {"a": _values({"recall@10": np.ones(5)}), "b": _values({"recall@10": np.ones(6)})}
    with pytest.raises(DataError, match="same users"):
        compare(runs, "a")
    with pytest.raises(ConfigError, match="at least two runs"):
        compare({"a": runs["a"]}, "a")


@pytest.fixture(scope="module")
def runs(planted_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from graphrec.data import generate_demo_dir

    out = tmp_path_factory.mktemp("compare")
    dirs = {name: out / name for name in ("mf", "lightgcn", "popularity")}
    train(tiny_config(planted_dir, "mf", epochs=4), dirs["mf"])
    train(tiny_config(planted_dir, "lightgcn", epochs=4), dirs["lightgcn"])
    train(tiny_config(planted_dir, "popularity", epochs=0), dirs["popularity"])
    other = out / "other_data"
    generate_demo_dir(other, seed=1)
    dirs["other"] = out / "other"
    train(tiny_config(other, "popularity", epochs=0), dirs["other"])
    return dirs


def test_compare_means_equal_evaluate(runs: dict[str, Path]) -> None:
    labels = [str(runs[name]) for name in ("mf", "lightgcn", "popularity")]
    result = compare_runs(labels, "test", [10, 20], resamples=50)
    assert result["baseline"] == labels[0] and set(result["tests"]) == set(labels[1:])
    for label in labels:
        evaluated = evaluate_run(label, "test", [10, 20])
        assert result["num_users"] == evaluated["num_users"]
        for metric, entry in result["runs"][label].items():
            assert entry["mean"] == evaluated[metric], (label, metric)


def test_compare_baseline_not_listed_goes_first(runs: dict[str, Path]) -> None:
    result = compare_runs([runs["mf"]], "valid", [10], baseline=runs["popularity"], resamples=20)
    assert result["baseline"] == str(runs["popularity"]) and list(result["tests"]) == [str(runs["mf"])]


def test_compare_refuses_runs_on_different_data(runs: dict[str, Path]) -> None:
    with pytest.raises(DataError, match=r"same data, got '.*other' with a different data config"):
        compare_runs([runs["mf"], runs["other"]], "test", [10])
    with pytest.raises(ConfigError, match="more than once"):
        compare_runs([runs["mf"], runs["mf"]], "test", [10])


def test_cli_compare_markdown_and_json(runs: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    args = ["-q", "compare", str(runs["popularity"]), str(runs["lightgcn"]), "--split", "test", "--k", "10", "20"]
    assert main([*args, "--resamples", "50"]) == 0
    text = capsys.readouterr().out
    assert "| ndcg@20 |" in text and "Paired tests against" in text
    assert main([*args, "--resamples", "50", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    metrics = [f"{m}@{k}" for k, m in itertools.product((10, 20), ("recall", "ndcg", "precision", "hit_rate", "mrr"))]
    assert sorted(result["metrics"]) == sorted(metrics) and result["split"] == "test"
    main(["-q", "evaluate", str(runs["lightgcn"]), "--split", "test", "--k", "10", "20", "--json"])
    evaluated = json.loads(capsys.readouterr().out)
    assert result["runs"][str(runs["lightgcn"])]["recall@20"]["mean"] == evaluated["recall@20"]


def test_cli_compare_refuses_different_data_with_one_line(
    runs: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["-q", "compare", str(runs["mf"]), str(runs["other"]), "--split", "test"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "same data" in err and "different data config" in err


def test_score_split_on_a_sample_of_users_is_those_users_values(runs: dict[str, Path]) -> None:
    from graphrec.assessment import run_dataset, score_split
    from graphrec.runs import load_run

    run = load_run(runs["mf"])
    dataset = run_dataset(run, None)
    everyone = score_split(run, dataset, "test", [10])
    sample = everyone.values.rows[::3]
    some = score_split(run, dataset, "test", [10], users=sample)
    np.testing.assert_array_equal(some.values.rows, sample)
    assert some.values.zeros == 0
    for name, values in some.values.per_user.items():
        np.testing.assert_array_equal(values, everyone.values.per_user[name][::3])
