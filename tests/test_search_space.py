"""The search space of graphrec tune (graphrec.config.space): parsing, the types it takes from the config, and the
errors, each in the config's grammar, raised before any trial runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from graphrec.config import MODEL_CONFIGS, config_from_dict
from graphrec.config.space import DEFAULT_SPACES, Dimension, default_space, load_space, resolve_space
from graphrec.errors import ConfigError


def config(name: str = "gfcf"):
    values: dict = {"model": {"name": name}}
    if name == "blend":
        values["model"]["runs"] = ["runs/a", "runs/b"]
    if MODEL_CONFIGS[name].objective.value == "item_pairs":
        values["features"] = {"catalogue": "items.csv"}
    return config_from_dict(values)


def test_the_config_decides_integer_and_float_ranges(tmp_path: Path) -> None:
    path = tmp_path / "space.toml"
    path.write_text(
        "[tune]\n"
        '"model.alpha" = { low = 0, high = 1 }\n'
        "[tune.model]\n"
        "rank = { low = 16, high = 512, log = true }\n"
        "dense_budget_mb = { low = 10, high = 100, step = 10 }\n"
    )
    dimensions = resolve_space(load_space(path), config())
    assert dimensions == [
        Dimension("model.alpha", 0.0, 1.0),
        Dimension("model.rank", 16, 512, log=True, integer=True),
        Dimension("model.dense_budget_mb", 10.0, 100.0, step=10.0),
    ]
    assert [d.describe() for d in dimensions] == [
        "{ low = 0.0, high = 1.0 }",
        "{ low = 16, high = 512, log = true }",
        "{ low = 10.0, high = 100.0, step = 10.0 }",
    ]
    assert resolve_space({"model": {"alpha": {"low": 0, "high": 1}}}, config()) == dimensions[:1]  # alpha = {…}
    loss = resolve_space({"train.loss": {"choices": ["bpr", "bce"]}}, config("mf"))
    assert loss == [Dimension("train.loss", choices=("bpr", "bce"))]


@pytest.mark.parametrize("name", sorted(MODEL_CONFIGS))
def test_every_model_has_a_built_in_space_its_config_accepts(name: str) -> None:
    assert set(DEFAULT_SPACES) == set(MODEL_CONFIGS), "give a new model a built-in space"
    dimensions = resolve_space(default_space(name), config(name))
    assert all(d.key.startswith(("model.", "train.")) for d in dimensions)


@pytest.mark.parametrize(
    ("space", "message"),
    [
        (
            {"data.valid_ratio": {"low": 0.1, "high": 0.2}},
            'tune space "data.valid_ratio": expected a model.* or train.* key (every trial trains on the one dataset '
            "loaded), got 'data.valid_ratio'; remove it, or run one tune per data setting",
        ),
        (
            {"model.name": {"choices": ["gfcf", "ease"]}},
            'tune space "model.name": expected a key other than model.name, train.metric, train.show_progress, got '
            "'model.name'; remove it (one model per tune)",
        ),
        (
            {"model.alpah": {"low": 0.1, "high": 0.5}},
            'tune space "model.alpah": model.alpah: not a key of model "gfcf"; its keys are: name, dense_budget_mb, '
            "alpha, rank, svd_seed; remove model.alpah",
        ),
        (
            {"model.alpha": {"low": 0.9, "high": 0.1}},
            'tune space "model.alpha": expected low < high, got low = 0.9, high = 0.1; swap them or widen the range',
        ),
        (
            {"model.alpha": {"low": -0.5, "high": 0.5}},
            'tune space "model.alpha" (low -0.5): model.alpha: expected a float ≥ 0, got -0.5; set e.g. '
            "model.alpha = 0.3",
        ),
        (
            {"model.alpha": {"low": 0.0, "high": 1.0, "log": True}},
            'tune space "model.alpha": expected low > 0 with log = true, got low = 0.0; raise low, or set log = false',
        ),
        (
            {"model.rank": {"low": 16, "high": 256.5}},
            'tune space "model.rank" (high 256.5): model.rank: expected an integer, got 256.5; set e.g. '
            "model.rank = 256",
        ),
        (
            {"model.rank": {"low": 16, "high": 256, "step": 8, "log": True}},
            'tune space "model.rank": expected a step integer in (0, high − low] and log = false, got step = 8; '
            "remove step, or set log = false",
        ),
        (
            {"model.alpha": {"lo": 0.1, "high": 0.5}},
            'tune space "model.alpha": expected { low = …, high = … } (optionally log = true or step = …) or '
            '{ choices = [ … ] }, got { lo = 0.1, high = 0.5 }; e.g. "model.alpha" = { low = 0.0, high = 1.0 }',
        ),
        (
            {"model.alpha": 0.5},
            'tune space "model.alpha": expected { low = …, high = … } (optionally log = true or step = …) or '
            '{ choices = [ … ] }, got 0.5; e.g. "model.alpha" = { low = 0.0, high = 1.0 }',
        ),
        (
            {"model.svd_seed": {"choices": []}},
            'tune space "model.svd_seed": expected choices = [ … ] alone, a non-empty list, got { choices = [] }; '
            'e.g. { choices = ["bpr", "bce"] }',
        ),
    ],
)
def test_a_bad_space_is_refused_in_the_config_grammar(space: dict, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        resolve_space(space, config())
    assert str(info.value) == message


@pytest.mark.parametrize(
    ("space", "message"),
    [
        (
            {"train.loss": {"low": 0, "high": 1}},
            'tune space "train.loss": expected choices = [ … ] for a key that is not a number, got '
            "{ low = 0, high = 1 }; list its values",
        ),
        (
            {"train.loss": {"choices": ["bpr", "hinge"]}},
            'tune space "train.loss" (choice "hinge"): train.loss: expected one of "bpr", "bce", got "hinge"; set '
            'e.g. train.loss = "bpr"',
        ),
        (
            {"model.fanouts": {"choices": [[10, 10, 10]]}},
            'tune space "model.fanouts": expected distinct numbers, strings or booleans, got [[10, 10, 10]]; list '
            "each value once (no lists, tables)",
        ),
    ],
)
def test_choices_and_ranges_follow_the_key_type(space: dict, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        resolve_space(space, config("lightgcn"))
    assert str(info.value) == message


def test_space_files_are_checked(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^space file '.*nope.toml' does not exist; pass an existing TOML file"):
        load_space(tmp_path / "nope.toml")
    (tmp_path / "flat.toml").write_text('"model.alpha" = { low = 0.0, high = 1.0 }\n')
    with pytest.raises(ConfigError) as info:
        load_space(tmp_path / "flat.toml")
    assert str(info.value) == (
        f"space file '{tmp_path / 'flat.toml'}': expected one [tune] table of the keys to search, got the key "
        "'model.alpha'; e.g. [tune] \"model.alpha\" = { low = 0.0, high = 1.0 }"
    )
    (tmp_path / "bad.toml").write_text("[tune\n")
    with pytest.raises(ConfigError, match=r"^space file '.*bad.toml' is not valid TOML: "):
        load_space(tmp_path / "bad.toml")


def test_a_model_without_a_built_in_space_needs_one() -> None:
    with pytest.raises(ConfigError) as info:
        default_space("nosuchmodel")
    assert str(info.value) == (
        'model "nosuchmodel" has no built-in search space; pass --space FILE with a [tune] table, e.g. [tune] '
        '"model.alpha" = { low = 0.0, high = 1.0 }'
    )


def test_shipped_spaces_fit_their_model() -> None:
    spaces = sorted((Path(__file__).resolve().parent.parent / "configs" / "spaces").glob("*.toml"))
    assert spaces
    for path in spaces:  # configs/spaces/NAME.toml searches model NAME
        assert resolve_space(load_space(path), config(path.stem))
