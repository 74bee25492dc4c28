"""The search space of `graphrec tune`: dimensions over model.* and train.* keys, declared in a TOML [tune] table and
checked against the model's config before any trial runs (torch-free, like the rest of graphrec.config)::

    [tune]
    "model.alpha" = { low = 0.0, high = 1.0 }             # a float range
    "model.rank" = { low = 16, high = 512, log = true }    # an integer key: an integer range (log-uniform)
    "train.lr" = { low = 1e-4, high = 1e-2, log = true }
    "model.num_neighbours" = { low = 10, high = 100, step = 10 }
    "train.loss" = { choices = ["bpr", "bce"] }           # any key: a list of values

Unquoted dotted keys (``model.alpha = {…}``, or a ``[tune.model]`` table) mean the same. The key's type in the
model's config decides an integer or a float range; every bound and choice must be a value the config accepts
(checked through :func:`~graphrec.config.apply_overrides`, so errors read as the config's do). Data keys are not
tunable (every trial trains on the one dataset loaded), nor model.name, train.metric (what trials are ranked by)
and train.show_progress. Every registered model has a built-in space (:data:`DEFAULT_SPACES`).
"""

from __future__ import annotations

import sys
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10: the same parser from PyPI (a dependency there)
    import tomli as tomllib

from graphrec.config.params import literal, section_fields
from graphrec.config.run import RunConfig, apply_overrides
from graphrec.errors import ConfigError

SPEC_KEYS = frozenset({"low", "high", "log", "step", "choices"})
TUNABLE_SECTIONS = ("model", "train")
FIXED_KEYS = ("model.name", "train.metric", "train.show_progress")
EXAMPLE = '"model.alpha" = { low = 0.0, high = 1.0 }'

_LR = {"low": 1e-4, "high": 5e-2, "log": True}
_L2_REG = {"low": 1e-6, "high": 1e-2, "log": True}
_CONTRASTIVE = {
    "train.lr": _LR,
    "model.noise_eps": {"low": 0.01, "high": 0.5, "log": True},
    "model.temperature": {"low": 0.05, "high": 0.5},
}

# A built-in space per registered model (graphrec tune --model NAME with no --space); a test keeps it complete.
DEFAULT_SPACES: dict[str, dict[str, dict[str, Any]]] = {
    "popularity": {},
    "itemknn": {"model.num_neighbours": {"low": 10, "high": 500, "log": True}, "model.shrink": {"low": 0, "high": 100}},
    "gfcf": {"model.alpha": {"low": 0.0, "high": 1.0}, "model.rank": {"low": 16, "high": 512, "log": True}},
    "bspm": {
        "model.ideal_weight": {"low": 0.0, "high": 0.5},
        "model.sharpen_time": {"low": 0.5, "high": 4.0},
        "model.rank": {"low": 64, "high": 1024, "log": True},
    },
    "turbocf": {"model.beta": {"low": 0.3, "high": 0.8}, "model.power": {"low": 0.5, "high": 1.0}},
    "chebycf": {
        "model.flatness": {"low": 0.5, "high": 20.0, "log": True},
        "model.alpha": {"low": 0.0, "high": 0.5},
        "model.degree_power": {"low": 0.0, "high": 0.5},
    },
    "ease": {"model.l2": {"low": 10.0, "high": 5000.0, "log": True}},
    "mf": {"train.lr": _LR, "train.l2_reg": _L2_REG, "model.embedding_dim": {"choices": [32, 64, 128]}},
    "lightgcn": {"train.lr": _LR, "train.l2_reg": _L2_REG, "model.num_layers": {"low": 1, "high": 4}},
    "simgcl": {
        "train.lr": _LR,
        "model.noise_eps": {"low": 0.01, "high": 0.5, "log": True},
        "model.temperature": {"low": 0.05, "high": 0.5},
    },
    "xsimgcl": {
        "train.lr": _LR,
        "model.noise_eps": {"low": 0.01, "high": 0.5, "log": True},
        "model.temperature": {"low": 0.05, "high": 0.5},
    },
    "ngcf": {"train.lr": _LR, "train.l2_reg": _L2_REG, "model.message_dropout": {"low": 0.0, "high": 0.5}},
    "gcn": {"train.lr": _LR, "train.l2_reg": _L2_REG, "model.num_layers": {"low": 1, "high": 3}},
    "gat": {"train.lr": _LR, "train.l2_reg": _L2_REG, "model.num_heads": {"choices": [1, 2, 4]}},
    "pinsage": {"train.lr": _LR, "model.num_neighbours": {"low": 5, "high": 50, "log": True}},
    "graphsage": {"train.lr": _LR, "model.aggregator": {"choices": ["mean", "pool", "lstm"]}},
    "deepwalk": {
        "train.lr": _LR,
        "model.window": {"low": 1, "high": 10},
        "model.num_negatives": {"low": 1, "high": 10},
    },
    "node2vec": {
        "train.lr": _LR,
        "model.p": {"low": 0.25, "high": 4.0, "log": True},
        "model.q": {"low": 0.25, "high": 4.0, "log": True},
    },
    "blend": {"model.normalise": {"choices": ["zscore", "minmax", "raw"]}},
}


@dataclass(frozen=True)
class Dimension:
    """One key of the space: a range [low, high] (integer for an integer key; `log`: log-uniform; `step`: a grid)
    or a list of `choices`."""

    key: str
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = None
    choices: tuple[Any, ...] | None = None
    integer: bool = False

    def describe(self) -> str:
        """The dimension as written in a [tune] table."""
        if self.choices is not None:
            return f"{{ choices = {literal(list(self.choices))} }}"
        extra = (", log = true" if self.log else "") + (f", step = {literal(self.step)}" if self.step else "")
        return f"{{ low = {literal(self.low)}, high = {literal(self.high)}{extra} }}"


def load_space(path: str | Path) -> dict[str, Any]:
    """The raw [tune] table of a space file (checked by :func:`resolve_space`)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"space file '{path}' does not exist; pass an existing TOML file to --space")
    try:
        values = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"space file '{path}' is not valid TOML: {exc}; e.g. [tune] {EXAMPLE}") from exc
    extra = sorted(set(values) - {"tune"})
    if "tune" not in values or not isinstance(values["tune"], dict) or extra:
        got = f"the key '{extra[0]}'" if extra else "no [tune] table"
        raise ConfigError(
            f"space file '{path}': expected one [tune] table of the keys to search, got {got}; e.g. [tune] {EXAMPLE}"
        )
    return dict(values["tune"])


def default_space(model: str) -> dict[str, Any]:
    """The built-in space of `model`."""
    if model not in DEFAULT_SPACES:
        raise ConfigError(
            f'model "{model}" has no built-in search space; pass --space FILE with a [tune] table, e.g. [tune] '
            f"{EXAMPLE}"
        )
    return {key: dict(spec) for key, spec in DEFAULT_SPACES[model].items()}


def resolve_space(raw: dict[str, Any], config: RunConfig) -> list[Dimension]:
    """The dimensions of a raw [tune] table, each checked against `config` (ConfigError on the first problem)."""
    return [_dimension(key, spec, config) for key, spec in _flatten(raw).items()]


def _flatten(table: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Dotted key → spec: nested tables (unquoted dotted keys) are walked down to the tables of spec keys."""
    flat: dict[str, Any] = {}
    for name, value in table.items():
        key = f"{prefix}{name}"
        if isinstance(value, dict) and value and not set(value) & SPEC_KEYS:
            flat.update(_flatten(value, key + "."))
        else:
            flat[key] = value
    return flat


def _error(key: str, expected: str, got: str, fix: str) -> ConfigError:
    return ConfigError(f'tune space "{key}": expected {expected}, got {got}; {fix}')


def _dimension(key: str, spec: Any, config: RunConfig) -> Dimension:
    section, _, name = key.partition(".")
    if section not in TUNABLE_SECTIONS or not name:
        raise _error(
            key,
            "a model.* or train.* key (every trial trains on the one dataset loaded)",
            f"'{key}'",
            "remove it, or run one tune per data setting",
        )
    if key in FIXED_KEYS:
        raise _error(key, f"a key other than {', '.join(FIXED_KEYS)}", f"'{key}'", "remove it (one model per tune)")
    fields = section_fields(type(getattr(config, section)))
    if name not in fields:  # the config's own message: the model's (or objective's) keys
        _check_value(key, "key", None, config)
    if not isinstance(spec, dict) or not spec or not set(spec) <= SPEC_KEYS or ("choices" in spec) == ("low" in spec):
        raise _error(
            key,
            "{ low = …, high = … } (optionally log = true or step = …) or { choices = [ … ] }",
            literal(spec),
            f"e.g. {EXAMPLE}",
        )
    if "choices" in spec:
        return _choices(key, spec, config)
    return _range(key, spec, fields[name][1], config)


def _choices(key: str, spec: dict[str, Any], config: RunConfig) -> Dimension:
    choices = spec["choices"]
    scalar = (str, int, float, bool)
    if set(spec) != {"choices"} or not isinstance(choices, list) or not choices:
        raise _error(key, "choices = [ … ] alone, a non-empty list", literal(spec), 'e.g. { choices = ["bpr", "bce"] }')
    if not all(isinstance(c, scalar) for c in choices) or len(set(map(literal, choices))) < len(choices):
        raise _error(
            key, "distinct numbers, strings or booleans", literal(choices), "list each value once (no lists, tables)"
        )
    for choice in choices:
        _check_value(key, "choice", choice, config)
    return Dimension(key, choices=tuple(choices))


def _range(key: str, spec: dict[str, Any], hint: Any, config: RunConfig) -> Dimension:
    kind = _number_kind(hint)
    if kind is None:
        raise _error(key, "choices = [ … ] for a key that is not a number", literal(spec), "list its values")
    if "high" not in spec:
        raise _error(key, "both low and high", literal(spec), f"e.g. {EXAMPLE}")
    low, high, log, step = spec["low"], spec["high"], spec.get("log", False), spec.get("step")
    for bound in ("low", "high"):
        _check_value(key, bound, spec[bound], config)
    if not low < high:
        raise _error(key, "low < high", f"low = {literal(low)}, high = {literal(high)}", "swap them or widen the range")
    if not isinstance(log, bool):
        raise _error(key, "log = true or false", literal(log), "set log = true for a log-uniform range")
    if log and low <= 0:
        raise _error(key, "low > 0 with log = true", f"low = {literal(low)}", "raise low, or set log = false")
    if step is not None:
        number = int if kind is int else (int, float)
        valid_step = isinstance(step, number) and not isinstance(step, bool) and 0 < step <= high - low
        if log or not valid_step:
            expected = f"a step {'integer' if kind is int else 'number'} in (0, high − low] and log = false"
            raise _error(key, expected, f"step = {literal(step)}", "remove step, or set log = false")
    if kind is float:
        low, high, step = float(low), float(high), None if step is None else float(step)
    return Dimension(key, low, high, log, step, integer=kind is int)


def _number_kind(hint: Any) -> type | None:
    """int or float when the field holds one (also `X | None`), else None."""
    args = typing.get_args(hint) if typing.get_origin(hint) in (typing.Union, types.UnionType) else (hint,)
    kinds = [a for a in args if a is not type(None)]
    return kinds[0] if len(kinds) == 1 and kinds[0] in (int, float) else None


def _check_value(key: str, what: str, value: Any, config: RunConfig) -> None:
    """ConfigError unless `config` accepts `key = value` (the config's own message, prefixed)."""
    try:
        apply_overrides(config, [f"{key}={literal(value)}"])
    except ConfigError as exc:
        where = f'tune space "{key}"' + (f" ({what} {literal(value)})" if what != "key" else "")
        raise ConfigError(f"{where}: {exc}") from None
