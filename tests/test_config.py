import dataclasses
import json
import subprocess
import sys
import typing
from pathlib import Path
from typing import Any

import pytest

from graphrec.config import (
    MODEL_CONFIGS,
    TRAIN_CONFIGS,
    DataConfig,
    EvalConfig,
    FeatureConfig,
    ItemGraphConfig,
    ModelConfig,
    RunConfig,
    TrainConfig,
    apply_overrides,
    config_from_dict,
    config_to_dict,
    config_to_toml,
    load_config,
)
from graphrec.config.params import (
    coerce,
    constraints_of,
    describe_type,
    error_message,
    example_of,
    section_fields,
)
from graphrec.errors import ConfigError
from graphrec.service.config import (
    ServeConfig,  # a section built from CLI flags, with the same checks
)

ROOT = Path(__file__).resolve().parent.parent
SECTIONS = [
    ServeConfig,
    DataConfig,
    EvalConfig,
    FeatureConfig,
    ModelConfig,
    ItemGraphConfig,
    TrainConfig,
    *MODEL_CONFIGS.values(),
    *TRAIN_CONFIGS.values(),
]


def test_override_types_and_none() -> None:
    config = apply_overrides(RunConfig(), ["train.lr=0.01", "eval.ks=[5,20]", "model.name=mf", "data.rating_col=none"])
    assert config.train.lr == 0.01 and config.eval.ks == [5, 20]
    assert config.model.name == "mf" and config.data.rating_col is None


def test_int_promoted_to_float() -> None:
    assert apply_overrides(RunConfig(), ["train.lr=1"]).train.lr == 1.0


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("train.lrr=1", 'train.lrr: not a key of the "edges" objective (model "lightgcn"); its keys are: epochs, '),
        ("train.lr=abc", 'train.lr: expected a finite float, got "abc"; set e.g. train.lr = 0.005'),
        ("trainlr", "override 'trainlr' is not of the form section.key=value; e.g. --set train.lr=0.005"),
        ("foo.bar=1", "override 'foo.bar=1': unknown section 'foo'"),
        ("train.lr=-1", "train.lr: expected a float > 0, got -1.0; set e.g. train.lr = 0.005"),
        ("train.lr=inf", "train.lr: expected a finite float, got inf; set e.g. train.lr = 0.005"),
        ("train.l2_reg=nan", "train.l2_reg: expected a finite float, got nan; set e.g. train.l2_reg = 0.0001"),
        (
            "model.layer_weights=[nan, 0.5, 0.5, 0.5]",
            (
                "model.layer_weights: expected a list of finite floats, got "
                "[nan, 0.5, 0.5, 0.5]; set e.g. model.layer_weights = [0.25, 0.25, 0.25, 0.25], or leave it unset"
            ),
        ),
    ],
)
def test_override_errors(override: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        apply_overrides(RunConfig(), [override])
    assert str(info.value).startswith(message)
    assert isinstance(info.value, ValueError)


def test_a_key_the_model_does_not_use_is_an_error_listing_its_keys() -> None:
    with pytest.raises(ConfigError) as info:
        config_from_dict({"model": {"name": "mf", "num_layers": 3}})
    assert str(info.value) == (
        'model.num_layers: not a key of model "mf"; its keys are: name, embedding_dim, init_std, '
        "init, init_seed; remove model.num_layers"
    )
    with pytest.raises(ConfigError, match=r'train.margin: not a key of the "edges" objective \(model "mf"\)'):
        config_from_dict({"model": {"name": "mf"}, "train": {"margin": 0.2}})
    with pytest.raises(ConfigError, match=r'train.lr: not a key of the "closed_form" objective'):
        config_from_dict({"model": {"name": "popularity"}, "train": {"lr": 0.1}})


def test_model_name_chooses_the_sections() -> None:
    for name, cls in MODEL_CONFIGS.items():
        values: dict[str, Any] = {"model": {"name": name}}
        if cls.objective.value == "item_pairs":
            values["features"] = {"catalogue": "items.csv"}
        if name == "blend":  # blends at least two runs (not read while parsing)
            values["model"]["runs"] = ["runs/a", "runs/b"]
        config = config_from_dict(values)
        assert type(config.model) is cls and type(config.train) is TRAIN_CONFIGS[cls.objective]
    with pytest.raises(ConfigError) as info:
        config_from_dict({"model": {"name": "foo"}})
    assert str(info.value).startswith(
        'model.name: expected one of "blend", "bspm", "chebycf", "deepwalk", "ease", "gat", "gcn", "gfcf", '
        '"graphsage", "itemknn", '
    )
    assert '"simgcl"' in str(info.value) and '"xsimgcl"' in str(info.value)


def test_switching_model_refills_the_defaults_and_keeps_what_was_set() -> None:
    config = apply_overrides(RunConfig(), ["train.lr=0.02", "model.embedding_dim=8"])
    mf = apply_overrides(config, ["model.name=mf"])
    assert mf.model.embedding_dim == 8 and mf.train.lr == 0.02 and not hasattr(mf.model, "num_layers")
    with pytest.raises(ConfigError, match=r'model.num_layers: not a key of model "mf"'):
        apply_overrides(apply_overrides(RunConfig(), ["model.num_layers=2"]), ["model.name=mf"])


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (
            {"train": {"metric": "ndcg@50"}},
            (
                'train.metric: expected "<metric>@<k>" with <metric> one of recall, ndcg, '
                'precision, hit_rate, mrr and <k> in eval.ks = [10, 20], got "ndcg@50"; '
                'set e.g. train.metric = "ndcg@20"'
            ),
        ),
        (
            {"train": {"sparse_updates": True}},
            (
                "train.sparse_updates: expected false while model.fanouts is unset (only "
                "sampled training has sparse table gradients), got true; set e.g. train.sparse_updates = false"
            ),
        ),
        (
            {"model": {"name": "pinsage"}},
            (
                'features.catalogue: expected an item catalogue file: model "pinsage" has no '
                "other input (or set model.use_id_embedding = true), got none; "
                'set e.g. features.catalogue = "movies.csv"'
            ),
        ),
        ({"seed": -1}, "seed: expected an integer in [0, 18446744073709551615], got -1; set e.g. seed = 2020"),
        (
            {"seed": 10**30},
            f"seed: expected an integer in [0, {2**64 - 1}], got {10**30}; set e.g. seed = 2020",
        ),
        (
            {"model": {"name": "blend", "runs": ["runs/a"]}},
            (
                'model.runs: expected at least 2 distinct run directories trained on this data (model "blend" '
                'blends their scores), got ["runs/a"]; set e.g. model.runs = ["runs/gfcf", "runs/itemknn"]'
            ),
        ),
        (
            {"model": {"name": "blend", "runs": ["runs/a", "runs/a"]}},
            (
                'model.runs: expected at least 2 distinct run directories trained on this data (model "blend" '
                'blends their scores), got ["runs/a", "runs/a"]; set e.g. model.runs = ["runs/gfcf", "runs/itemknn"]'
            ),
        ),
    ],
)
def test_rules_across_sections(values: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        config_from_dict(values)
    assert str(info.value) == message


def _wrong_type(hint: Any) -> Any:
    """A value no field of type `hint` accepts."""
    args = [a for a in typing.get_args(hint) if a is not type(None)] if typing.get_origin(hint) is not list else []
    base = args[0] if args and typing.get_origin(hint) is not dict else hint
    if base in (int, float):
        return "abc"
    if base is bool:
        return "yes"
    return 3


def _cases() -> list[tuple[type, str, Any, str]]:
    """(section class, field, a violating value, what the message says was expected), for every declared type,
    constraint and rule: a new field or constraint gets its test without writing one."""
    cases = []
    for cls in SECTIONS:
        for name, (f, hint) in section_fields(cls).items():
            cases.append((cls, name, _wrong_type(hint), describe_type(hint)))
            default = getattr(cls(), name)
            for constraint in constraints_of(f):
                cases.append((cls, name, constraint.violation(default), constraint.describe()))
            if _is_list(hint):  # non-finite entries of a list
                cases.append((cls, name, [float("nan")], describe_type(hint)))
            elif hint is float or float in typing.get_args(hint):  # non-finite where a number is meant
                cases.append((cls, name, float("inf"), describe_type(hint)))
    return cases


def _is_list(hint: Any) -> bool:
    return typing.get_origin(hint) is list or any(typing.get_origin(a) is list for a in typing.get_args(hint))


def _nullable(hint: Any) -> bool:
    return type(None) in typing.get_args(hint)


@pytest.mark.parametrize(
    ("cls", "name", "value", "expected"), _cases(), ids=lambda v: v.__name__ if isinstance(v, type) else None
)
def test_every_declared_constraint_raises_the_template(cls: type, name: str, value: Any, expected: str) -> None:
    f, hint = section_fields(cls)[name]
    with pytest.raises(ConfigError) as info:
        cls(**{name: value})
    reference = cls()
    shown = coerce(value, hint)[1]
    assert str(info.value) == error_message(
        f"{cls.section}.{name}", expected, shown, example_of(reference, f), _nullable(hint)
    )


@pytest.mark.parametrize("cls", [c for c in SECTIONS if c.rules], ids=lambda c: c.__name__)
def test_every_declared_rule_raises_the_template(cls: type) -> None:
    for rule in cls.rules:
        with pytest.raises(ConfigError) as info:
            cls(**rule.violation)
        broken = cls()
        for key, value in rule.violation.items():
            object.__setattr__(broken, key, value)
        _, hint = section_fields(cls)[rule.key]
        expected = rule.check(broken)
        assert expected is not None
        assert str(info.value) == error_message(
            f"{cls.section}.{rule.key}", expected, getattr(broken, rule.key), rule.example(broken), _nullable(hint)
        )


def test_every_example_in_a_message_is_accepted() -> None:
    for cls in SECTIONS:
        for name, (f, _) in section_fields(cls).items():
            cls(**{name: example_of(cls(), f)})


def test_parsing_a_config_does_not_import_torch() -> None:
    code = (
        "import sys, graphrec.config, graphrec.cli; graphrec.config.load_config(sys.argv[1]); "
        "assert 'torch' not in sys.modules, sorted(sys.modules)"
    )
    subprocess.run([sys.executable, "-c", code, str(ROOT / "configs" / "gowalla_lightgcn.toml")], check=True)


def test_metric_names_match_evaluation() -> None:
    from graphrec.config.sections import METRIC_NAMES
    from graphrec.evaluation import METRIC_NAMES as reported

    assert METRIC_NAMES == reported


def test_toml_round_trip(tmp_path: Path) -> None:
    config = apply_overrides(RunConfig(), ["train.lr=0.02", "model.num_layers=2"])
    path = tmp_path / "c.toml"
    path.write_text(config_to_toml(config))
    assert load_config(path) == config


def test_toml_shows_unset_keys_as_comments() -> None:
    text = config_to_toml(RunConfig(), show_unset=True)
    assert "[model]\n# layer_weights = none (unset)\n# fanouts = none (unset)\n" in text
    for key in ("embedding_dim", "num_layers", "init_seed"):
        assert f"\n{key} = " in text


def test_shipped_configs_load() -> None:
    for path in sorted((ROOT / "configs").glob("*.toml")):
        load_config(path)


def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"config file '.*nope.toml' does not exist"):
        load_config(tmp_path / "nope.toml")


def test_retired_keys_of_old_runs_are_ignored_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level("WARNING"):
        config = config_from_dict(
            {"model": {"name": "graphsage", "inference_walks": 200}, "features": {"catalogue": "movies.csv"}}
        )
    assert config.model.name == "graphsage" and "ignoring retired config key(s) model.inference_walks" in caplog.text
    with pytest.raises(ConfigError, match=r'model.walks_per_node: not a key of model "lightgcn"'):
        config_from_dict({"model": {"walks_per_node": 3}})


# What an earlier version wrote into every run's config.json: all 22 model keys and all train keys, for any model.
OLD_MODEL = {
    "name": "lightgcn",
    "embedding_dim": 16,
    "num_layers": 2,
    "layer_weights": None,
    "init_std": 0.1,
    "init": "normal",
    "init_seed": 0,
    "message_dropout": 0.1,
    "node_dropout": 0.0,
    "leaky_relu_slope": 0.2,
    "fanouts": None,
    "hidden_dim": 32,
    "num_neighbours": 5,
    "num_walks": 10,
    "walk_length": 2,
    "walk_sampler": "walks",
    "pixie_steps": 1000,
    "pooling": "importance",
    "aggregator": "mean",
    "use_features": True,
    "use_id_embedding": False,
    "user_recent_items": 50,
}
OLD_TRAIN = {
    "epochs": 4,
    "batch_size": 512,
    "lr": 0.02,
    "lr_final": None,
    "l2_reg": 1e-4,
    "weight_decay": 0.0,
    "loss": "bpr",
    "num_negatives": 1,
    "negative_candidates": 1,
    "score_refresh_steps": 0,
    "sparse_updates": False,
    "eval_every": 2,
    "metric": "ndcg@20",
    "patience": 0,
    "time_budget_s": None,
    "show_progress": False,
    "margin": 0.1,
    "shared_negatives": 500,
    "hard_negatives": 0,
    "curriculum": True,
    "hard_window": [0.02, 0.05],
    "hard_pool": 64,
    "distance_weighted": 0,
    "num_workers": 0,
}


@pytest.mark.parametrize("name", ["popularity", "mf", "lightgcn", "ngcf", "pinsage", "graphsage"])
def test_configs_saved_by_earlier_versions_load_leniently(name: str, caplog: pytest.LogCaptureFixture) -> None:
    old = json.loads(
        json.dumps(
            {
                "seed": 7,
                "model": {**OLD_MODEL, "name": name},
                "train": OLD_TRAIN,
                "features": {"catalogue": "items.csv"},
            }
        )
    )
    with pytest.raises(ConfigError, match=f'not a key of (model "{name}"|the .* objective)'):
        config_from_dict(old)
    with caplog.at_level("WARNING"):
        config = config_from_dict(old, lenient=True)
    assert config.model.name == name and caplog.text.count("earlier version's config") == 1
    kept = config_to_dict(config)["model"]
    defaults = config_to_dict(config_from_dict({"model": {"name": name}, "features": {"catalogue": "items.csv"}}))
    # keys the old config had keep its values; keys added since (absent from it) take their defaults
    assert all(OLD_MODEL.get(k, defaults["model"][k]) == v for k, v in kept.items() if k != "name")
    with pytest.raises(ConfigError, match=r"model.embedding_typo: not a key"):  # lenient only about known keys
        config_from_dict({**old, "model": {**old["model"], "embedding_typo": 1}}, lenient=True)


def test_dataclass_sections_check_themselves() -> None:
    with pytest.raises(ConfigError, match=r"data.test_ratio: expected a float in \[0, 1\), got 1.5"):
        DataConfig(test_ratio=1.5)
    section = EvalConfig()
    assert dataclasses.replace(section, ks=[5]).ks == [5]


def test_with_absolute_paths_resolves_every_path_key(tmp_path, monkeypatch) -> None:
    from graphrec.config import with_absolute_paths

    tmp_path = tmp_path.resolve()
    monkeypatch.chdir(tmp_path)
    config = config_from_dict(
        {
            "data": {"interactions": "data/r.csv"},
            "features": {"catalogue": "movies.csv", "tags": "tags.csv"},
            "model": {"name": "blend", "runs": ["runs/a", "runs/b"]},
        }
    )
    absolute = with_absolute_paths(config)
    assert absolute.data.interactions == str(tmp_path / "data/r.csv") and absolute.data.path is None
    assert (absolute.features.catalogue, absolute.features.tags) == (
        str(tmp_path / "movies.csv"),
        str(tmp_path / "tags.csv"),
    )
    assert absolute.model.runs == [str(tmp_path / "runs/a"), str(tmp_path / "runs/b")]
    assert config.data.interactions == "data/r.csv"  # a copy: the caller's config is left alone


@pytest.mark.parametrize("name", ["LightGCN", "LIGHTGCN", "lightGCN"])
def test_model_names_are_case_insensitive(name: str) -> None:
    config = apply_overrides(RunConfig(), [f"model.name={name}"])
    assert config.model.name == "lightgcn" and type(config.model).__name__ == "LightGCNConfig"
    assert config_from_dict({"model": {"name": "GFCF"}}).model.name == "gfcf"
