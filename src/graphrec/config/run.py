"""The run configuration: typed sections loaded from TOML and overridden from the command line.

A config file has one table per section::

    seed = 2020
    [data]
    path = "data/gowalla"
    [model]
    name = "lightgcn"
    [train]
    lr = 0.005

`model.name` chooses the `[model]` section's class (graphrec.config.models.MODEL_CONFIGS) and, through the model's
objective, the `[train]` section's (graphrec.config.train.TRAIN_CONFIGS). A key the chosen class does not have is an
error; every value is checked when the config is built (graphrec.config.params), before any data is read.

Overrides use dotted keys with TOML literal values: ``--set train.lr=0.005 --set eval.ks=[10,20]``.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import logging
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10: the same parser from PyPI (a dependency there)
    import tomli as tomllib

from graphrec.config.models import (
    BLEND_RUNS_EXAMPLE,
    LEGACY_MODEL_KEYS,
    MODEL_CONFIGS,
    BlendConfig,
    GraphConvConfig,
    ItemGraphConfig,
    LightGCNConfig,
    ModelConfig,
    NGCFConfig,
    blend_runs_problem,
    model_config_class,
)
from graphrec.config.params import (
    SEED,
    Rule,
    Section,
    check_field,
    error_message,
    literal,
    param,
    section_fields,
    validate,
)
from graphrec.config.sections import (
    METRIC_NAMES,
    DataConfig,
    EvalConfig,
    FeatureConfig,
    data_source,
    metric_names,
)
from graphrec.config.train import TRAIN_CONFIGS, EdgeTrainConfig, TrainSection
from graphrec.errors import ConfigError

logger = logging.getLogger(__name__)

# Keys older versions wrote into run directories and that no longer mean anything: ignored (with a warning) so
# those runs still load.
RETIRED_KEYS = {"model.inference_walks"}


def _metric(config: RunConfig) -> str | None:
    if config.train.metric not in metric_names(config.eval.ks):
        return (
            f'"<metric>@<k>" with <metric> one of {", ".join(METRIC_NAMES)} and <k> in '
            f"eval.ks = {literal(config.eval.ks)}"
        )
    return None


def _sparse_updates(config: RunConfig) -> str | None:
    fanouts = config.model.fanouts if isinstance(config.model, (LightGCNConfig, NGCFConfig, GraphConvConfig)) else None
    if isinstance(config.train, EdgeTrainConfig) and config.train.sparse_updates and fanouts is None:
        return "false while model.fanouts is unset (only sampled training has sparse table gradients)"
    return None


def _num_workers(config: RunConfig) -> str | None:
    train = config.train
    if not (isinstance(train, EdgeTrainConfig) and train.num_workers > 0):
        return None
    if getattr(config.model, "fanouts", None) is None:
        return "0 while model.fanouts is unset (the workers draw sampled computation graphs)"
    if train.negative_candidates > 1 and train.score_refresh_steps > 0:
        return (
            "0 with train.score_refresh_steps > 0 (the negatives, hence the graphs, depend on the model mid-epoch; "
            "keep train.score_refresh_steps = 0 to sample in the background)"
        )
    return None


def _partitioned(config: RunConfig) -> str | None:
    if not (isinstance(config.train, EdgeTrainConfig) and config.train.partitioned):
        return None
    if config.model.name != "lightgcn":
        return f'false: partitioned training runs LightGCN only (model.name = "{config.model.name}")'
    if getattr(config.model, "fanouts", None) is not None and config.train.negative_candidates > 1:
        return "false with model.fanouts and train.negative_candidates > 1 (partitioned sampling: uniform negatives)"
    if config.train.sparse_updates:
        return "false while train.sparse_updates is set (each rank already updates only its own rows)"
    return None


def _catalogue(config: RunConfig) -> str | None:
    model = config.model
    if (
        isinstance(model, ItemGraphConfig)
        and model.use_features
        and not model.use_id_embedding
        and config.features.catalogue is None
    ):
        return f'an item catalogue file: model "{model.name}" has no other input (or set model.use_id_embedding = true)'
    return None


def _blend_runs(config: RunConfig) -> str | None:
    return blend_runs_problem(config.model.runs) if isinstance(config.model, BlendConfig) else None


@dataclass
class RunConfig(Section):
    """Everything one training run needs; saved (resolved) in every run directory and checkpoint.

    `train` defaults to the train section of the model's objective."""

    rules = (
        Rule("train.metric", _metric, lambda c: f"ndcg@{c.eval.ks[-1]}", {"train.metric": "ndcg@7"}),
        Rule("train.sparse_updates", _sparse_updates, lambda c: False, {"train.sparse_updates": True}),
        Rule("train.num_workers", _num_workers, lambda c: 0, {"train.num_workers": 1}),
        Rule("train.partitioned", _partitioned, lambda c: False, {"train.partitioned": True, "model.name": "mf"}),
        Rule("features.catalogue", _catalogue, lambda c: "movies.csv", {"model.name": "pinsage"}),
        Rule("model.runs", _blend_runs, lambda c: BLEND_RUNS_EXAMPLE, {"model.name": "blend"}),
    )

    seed: int = param(2020, SEED)
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=LightGCNConfig)
    train: TrainSection = None  # type: ignore[assignment]
    eval: EvalConfig = field(default_factory=EvalConfig)
    features: FeatureConfig = field(default_factory=FeatureConfig)

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Check every section and the rules across them (again, e.g. after changing a field in place)."""
        expected = TRAIN_CONFIGS[self.model.objective]
        if self.train is None:
            self.train = expected()
        if type(self.train) is not expected:
            raise ConfigError(
                f'train: model "{self.model.name}" trains with the "{self.model.objective.value}" objective, whose '
                f"section is {expected.__name__}, got {type(self.train).__name__}; build it with "
                "graphrec.config.config_from_dict so the model chooses it"
            )
        check_field(self, "seed")  # the sections are checked as built; the run's own field here
        for name in _SECTIONS:
            validate(getattr(self, name))
        for rule in self.rules:
            expected_text = rule.check(self)
            if expected_text is not None:
                got = _get(self, rule.key)
                raise ConfigError(error_message(rule.key, expected_text, got, rule.example(self)))


_SECTIONS = ("data", "model", "train", "eval", "features")
_FIXED = {"data": DataConfig, "eval": EvalConfig, "features": FeatureConfig}


def _get(config: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        config = getattr(config, part)
    return config


def _owner(cls: type[Section], config_name: str | None) -> str:
    if issubclass(cls, ModelConfig):
        return f'model "{config_name}"'
    if cls in TRAIN_CONFIGS.values():
        objective = next(o for o, c in TRAIN_CONFIGS.items() if c is cls)
        return f'the "{objective.value}" objective' + (f' (model "{config_name}")' if config_name else "")
    return f"[{cls.section}]"


def section_from_dict(
    cls: type[Section], values: dict[str, Any], model_name: str | None = None, dropped: list[str] | None = None
) -> Any:
    """Build section `cls` from a dict, refusing keys it does not have. With a `dropped` list (lenient parsing), the
    keys earlier versions wrote for every model and objective are left out instead and appended to it."""
    section = cls.section
    retired = sorted(k for k in values if f"{section}.{k}" in RETIRED_KEYS)
    if retired:
        logger.warning("ignoring retired config key(s) %s", ", ".join(f"{section}.{k}" for k in retired))
        values = {k: v for k, v in values.items() if k not in retired}
    known = section_fields(cls)
    unknown = sorted(set(values) - set(known))
    if unknown and dropped is not None:
        legacy = [k for k in unknown if k in _legacy_keys(section)]
        dropped += [f"{section}.{k}" for k in legacy]
        values = {k: v for k, v in values.items() if k not in legacy}
        unknown = sorted(set(unknown) - set(legacy))
    if unknown:
        raise ConfigError(
            f"{section}.{unknown[0]}: not a key of {_owner(cls, model_name or values.get('name'))}; its keys are: "
            f"{', '.join(known)}; remove {section}.{unknown[0]}"
        )
    return cls(**values)


def _legacy_keys(section: str) -> frozenset[str]:
    if section == "model":
        return LEGACY_MODEL_KEYS
    if section == "train":
        return frozenset(k for cls in TRAIN_CONFIGS.values() for k in section_fields(cls))
    return frozenset()


def config_from_dict(values: dict[str, Any], lenient: bool = False) -> RunConfig:
    """Build a RunConfig from a nested dict (as parsed from TOML or JSON), checking every key and value.

    `lenient`: for configs saved in run directories by earlier versions, which hold every model and train key:
    keys the chosen model or objective does not use are dropped with one warning."""
    unknown = sorted(set(values) - {"seed", *_SECTIONS})
    if unknown:
        raise ConfigError(
            f"unknown section or key '{unknown[0]}' in config; valid ones are: "
            f"{', '.join(sorted(['seed', *_SECTIONS]))}"
        )
    for name in _SECTIONS:
        if name in values and not isinstance(values[name], dict):
            raise ConfigError(f"'{name}' must be a table [{name}], got {values[name]!r}")
    model_values = dict(values.get("model", {}))
    name = model_values.setdefault("name", "lightgcn")
    if isinstance(name, str) and name.lower() in MODEL_CONFIGS:  # model names are case-insensitive: LightGCN
        name = model_values["name"] = name.lower()
    model_cls = model_config_class(name)
    dropped: list[str] | None = [] if lenient else None
    kwargs: dict[str, Any] = {"model": section_from_dict(model_cls, model_values, name, dropped)}
    train_cls = TRAIN_CONFIGS[model_cls.objective]
    kwargs["train"] = section_from_dict(train_cls, dict(values.get("train", {})), name, dropped)
    if dropped:
        logger.warning(
            'ignoring %d key(s) of an earlier version\'s config that model "%s" (objective "%s") does not use: %s',
            len(dropped),
            name,
            model_cls.objective.value,
            ", ".join(dropped),
        )
    for section, cls in _FIXED.items():
        if section in values:
            kwargs[section] = section_from_dict(cls, dict(values[section]))
    if "seed" in values:
        kwargs["seed"] = values["seed"]
    return RunConfig(**kwargs)


def load_config(path: str | Path) -> RunConfig:
    """Read a TOML (or a saved JSON) config file."""
    return config_from_dict(_read(path))


def load_run_config(run_dir: str | Path) -> RunConfig | None:
    """The config a run directory saved (its config.json, read as leniently as graphrec.rundir reads it), or None
    when it has none: what `train --resume` continues with when no --config is given."""
    path = Path(run_dir) / "config.json"
    if not path.is_file():
        return None
    values = _read(path)
    if not isinstance(values, dict):
        raise ConfigError(f"config file '{path}' is not valid JSON: expected an object, got {type(values).__name__}")
    logger.info("using the config saved in %s", path)
    return config_from_dict(values, lenient=True)


def _read(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file '{path}' does not exist; pass an existing TOML file to --config")
    text = path.read_text(encoding="utf-8")
    try:
        return json.loads(text) if path.suffix == ".json" else tomllib.loads(text)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
        kind = path.suffix.lstrip(".").upper() or "TOML"
        raise ConfigError(f"config file '{path}' is not valid {kind}: {exc}") from exc


def _parse_literal(text: str) -> Any:
    if text.strip().lower() in ("none", "null"):
        return None
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text  # a bare word is a string: --set model.name=mf


def _explicit(config: RunConfig) -> dict[str, Any]:
    """The config as a nested dict of the values that differ from their section's defaults (plus model.name), so that
    a new model.name re-fills the model and train sections with the new classes' defaults."""
    values: dict[str, Any] = {} if config.seed == 2020 else {"seed": config.seed}
    for name in _SECTIONS:
        section = getattr(config, name)
        default = type(section)()
        values[name] = {
            f.name: getattr(section, f.name)
            for f in dataclasses.fields(section)
            if getattr(section, f.name) != getattr(default, f.name)
        }
    values["model"]["name"] = config.model.name
    return json.loads(json.dumps(values))


def apply_overrides(config: RunConfig, overrides: list[str]) -> RunConfig:
    """Return a copy of `config` with each ``section.key=value`` override applied (then every value checked)."""
    items = []
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"override '{item}' is not of the form section.key=value; e.g. --set train.lr=0.005")
        items.append((key.strip(), _parse_literal(raw.strip()), f"override '{item}'"))
    return _set(config, items)


def set_values(config: RunConfig, values: Mapping[str, Any]) -> RunConfig:
    """Return a copy of `config` with each ``"section.key": value`` set (Python values, not text), in order, then
    every value checked; ``"seed"`` sets the top-level seed."""
    return _set(config, [(key, value, f"setting '{key}'") for key, value in values.items()])


def _set(config: RunConfig, items: list[tuple[str, Any, str]]) -> RunConfig:
    explicit = _explicit(config)
    for key, value, label in items:
        parts = key.split(".")
        target = explicit
        for part in parts[:-1]:
            if part not in target or not isinstance(target[part], dict):
                raise ConfigError(f"{label}: unknown section '{part}'; valid sections are: {', '.join(_SECTIONS)}")
            target = target[part]
        target[parts[-1]] = value
    return config_from_dict(explicit)


# The file and directory keys of a config (besides a blend's model.runs), saved as absolute paths in a run directory.
PATH_KEYS = (
    "data.path",
    "data.interactions",
    "features.catalogue",
    "features.tags",
    "features.vectors",
    "features.vector_ids",
    "features.cache_dir",
)


def _absolute(path: str) -> str:
    return str(Path(path).expanduser().resolve())


def with_absolute_paths(config: RunConfig) -> RunConfig:
    """A copy of `config` whose paths (PATH_KEYS and a blend's model.runs) are absolute, resolved against the working
    directory: what a run directory saves, so that evaluate, recommend, serve, … work from any working directory."""
    config = copy.deepcopy(config)
    for dotted in PATH_KEYS:
        section, key = dotted.split(".")
        value = getattr(getattr(config, section), key)
        if value:
            setattr(getattr(config, section), key, _absolute(value))
    if isinstance(config.model, BlendConfig):
        config.model.runs = [_absolute(run) for run in config.model.runs]
    config.validate()
    return config


def data_overrides(source: str | Path) -> list[str]:
    """The overrides `--data SOURCE` stands for: data.interactions for a file, data.path for a directory (the other
    one unset), as an absolute path (see graphrec.config.sections.data_source)."""
    values = data_source(source).items()
    return [f"data.{key}={'none' if value is None else json.dumps(value)}" for key, value in values]


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


def config_to_toml(config: RunConfig, show_unset: bool = False) -> str:
    """TOML text of the config. None values cannot be written in TOML: they are omitted, or with `show_unset`
    listed as comments (``# key = none (unset)``) under their table, so every key of every section is shown."""
    import tomli_w

    values = config_to_dict(config)
    text = tomli_w.dumps({"seed": values["seed"]})
    for name in _SECTIONS:
        section = values[name]
        body = tomli_w.dumps({name: {k: v for k, v in section.items() if v is not None}})
        if not body.strip():
            body = f"[{name}]\n"
        header, _, rest = body.partition("\n")
        unset = "".join(f"# {k} = none (unset)\n" for k, v in section.items() if v is None) if show_unset else ""
        text += f"\n{header}\n{unset}{rest}"
    return text
