"""The run configuration: typed dataclasses loaded from TOML and overridden from the command line.

A config file has one table per section::

    seed = 2020
    [data]
    path = "data/gowalla"
    [model]
    name = "lightgcn"
    [train]
    lr = 0.005

Overrides use dotted keys with TOML literal values: ``--set train.lr=0.005 --set eval.ks=[10,20]``.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from graphrec.data.config import DataConfig
from graphrec.data.features import FeatureConfig
from graphrec.errors import ConfigError
from graphrec.evaluation.config import EvalConfig
from graphrec.models.config import ModelConfig
from graphrec.training.config import TrainConfig


@dataclass
class RunConfig:
    """Everything one training run needs; saved (resolved) in every run directory and checkpoint."""

    seed: int = 2020
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    features: FeatureConfig = field(default_factory=FeatureConfig)


_SECTIONS = {f.name: f.type for f in dataclasses.fields(RunConfig)}


def _field_types(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _check_value(value: Any, hint: Any, where: str) -> Any:
    """Coerce `value` to `hint` where lossless (int → float); raise ConfigError otherwise."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(hint)
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _check_value(value, arg, where)
            except ConfigError as exc:
                errors.append(str(exc))
        raise ConfigError(errors[0] if errors else f"{where}: got {value!r}")
    if origin is list:
        (inner,) = typing.get_args(hint)
        if not isinstance(value, list):
            raise ConfigError(f"{where}: expected a list, got {value!r}; write it as e.g. [10, 20]")
        return [_check_value(v, inner, f"{where}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        key_type, value_type = typing.get_args(hint)
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a table, got {value!r}; write it as e.g. {{ title = '...' }}")
        return {_check_value(k, key_type, where): _check_value(v, value_type, f"{where}.{k}") for k, v in value.items()}
    if hint is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if hint is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    if hint is bool and isinstance(value, bool):
        return value
    if hint is str and isinstance(value, str):
        return value
    name = getattr(hint, "__name__", str(hint))
    raise ConfigError(f"{where}: expected {name}, got {value!r}; fix the value in the config file or --set")


logger = logging.getLogger(__name__)

# Keys older versions wrote into run directories and that no longer mean anything: ignored (with a warning) so
# those runs still load.
RETIRED_KEYS = {"model.inference_walks"}


def _section_from_dict(cls: type, values: dict[str, Any], section: str) -> Any:
    hints = _field_types(cls)
    retired = sorted(k for k in values if f"{section}.{k}" in RETIRED_KEYS)
    if retired:
        logger.warning("ignoring retired config key(s) %s", ", ".join(f"{section}.{k}" for k in retired))
        values = {k: v for k, v in values.items() if k not in retired}
    unknown = sorted(set(values) - set(hints))
    if unknown:
        raise ConfigError(
            f"unknown key '{section}.{unknown[0]}' in config; valid keys of [{section}] are: {', '.join(sorted(hints))}"
        )
    checked = {k: _check_value(v, hints[k], f"{section}.{k}") for k, v in values.items()}
    return cls(**checked)


def config_from_dict(values: dict[str, Any]) -> RunConfig:
    """Build a RunConfig from a nested dict (as parsed from TOML or JSON), validating every key."""
    unknown = sorted(set(values) - set(_SECTIONS))
    if unknown:
        raise ConfigError(
            f"unknown section or key '{unknown[0]}' in config; valid ones are: {', '.join(sorted(_SECTIONS))}"
        )
    kwargs: dict[str, Any] = {}
    hints = _field_types(RunConfig)
    for name, value in values.items():
        if dataclasses.is_dataclass(hints[name]):
            if not isinstance(value, dict):
                raise ConfigError(f"'{name}' must be a table [{name}], got {value!r}")
            kwargs[name] = _section_from_dict(hints[name], value, name)
        else:
            kwargs[name] = _check_value(value, hints[name], name)
    return RunConfig(**kwargs)


def load_config(path: str | Path) -> RunConfig:
    """Read a TOML (or a saved JSON) config file."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file '{path}' does not exist; pass an existing TOML file to --config")
    text = path.read_text(encoding="utf-8")
    try:
        values = json.loads(text) if path.suffix == ".json" else tomllib.loads(text)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"config file '{path}' is not valid {path.suffix.lstrip('.').upper() or 'TOML'}: {exc}") from exc
    return config_from_dict(values)


def _parse_literal(text: str) -> Any:
    if text.strip().lower() in ("none", "null"):
        return None
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text  # a bare word is a string: --set model.name=mf


def apply_overrides(config: RunConfig, overrides: list[str]) -> RunConfig:
    """Return a copy of `config` with each ``section.key=value`` override applied."""
    values = config_to_dict(config, keep_none=True)
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"override '{item}' is not of the form section.key=value; e.g. --set train.lr=0.005")
        parts = key.strip().split(".")
        target = values
        for part in parts[:-1]:
            if part not in target or not isinstance(target[part], dict):
                raise ConfigError(
                    f"override '{item}': unknown section '{part}'; valid sections are: "
                    f"{', '.join(k for k, v in values.items() if isinstance(v, dict))}"
                )
            target = target[part]
        target[parts[-1]] = _parse_literal(raw.strip())
    return config_from_dict(values)


def config_to_dict(config: RunConfig, keep_none: bool = True) -> dict[str, Any]:
    """The config as a nested dict; with keep_none=False, None values are left out (TOML has no null)."""
    values = dataclasses.asdict(config)
    if keep_none:
        return values
    return {
        k: ({kk: vv for kk, vv in v.items() if vv is not None} if isinstance(v, dict) else v)
        for k, v in values.items()
        if v is not None
    }


def config_to_toml(config: RunConfig) -> str:
    """TOML text of the config (None values omitted: TOML cannot express them; the JSON copy keeps them)."""
    import tomli_w

    return tomli_w.dumps(config_to_dict(config, keep_none=False))
