from pathlib import Path

import pytest

from graphrec.config import RunConfig, apply_overrides, config_to_toml, load_config
from graphrec.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent


def test_override_types_and_none() -> None:
    config = apply_overrides(RunConfig(), ["train.lr=0.01", "eval.ks=[5,10]", "model.name=mf", "data.rating_col=none"])
    assert config.train.lr == 0.01 and config.eval.ks == [5, 10]
    assert config.model.name == "mf" and config.data.rating_col is None


def test_int_promoted_to_float() -> None:
    assert apply_overrides(RunConfig(), ["train.lr=1"]).train.lr == 1.0


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("train.lrr=1", "unknown key 'train.lrr' in config; valid keys of [train] are: batch_size,"),
        ("train.lr=abc", "train.lr: expected float, got 'abc'; fix the value in the config file or --set"),
        ("trainlr", "override 'trainlr' is not of the form section.key=value; e.g. --set train.lr=0.005"),
        ("foo.bar=1", "override 'foo.bar=1': unknown section 'foo'"),
    ],
)
def test_override_errors(override: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        apply_overrides(RunConfig(), [override])
    assert str(info.value).startswith(message)
    assert isinstance(info.value, ValueError)


def test_toml_round_trip(tmp_path: Path) -> None:
    config = apply_overrides(RunConfig(), ["train.lr=0.02", "model.num_layers=2"])
    path = tmp_path / "c.toml"
    path.write_text(config_to_toml(config))
    assert load_config(path) == config


def test_shipped_configs_load() -> None:
    for path in sorted((ROOT / "configs").glob("*.toml")):
        load_config(path)


def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file '.*nope.toml' does not exist"):
        load_config(tmp_path / "nope.toml")


def test_retired_keys_of_old_runs_are_ignored_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    from graphrec.config import config_from_dict

    with caplog.at_level("WARNING"):
        config = config_from_dict({"model": {"name": "pinsage", "inference_walks": 200}})
    assert config.model.name == "pinsage" and "ignoring retired config key(s) model.inference_walks" in caplog.text
    with pytest.raises(ConfigError, match="unknown key 'model.walks_per_node'"):
        config_from_dict({"model": {"walks_per_node": 3}})
