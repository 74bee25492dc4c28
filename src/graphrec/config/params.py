"""Declared constraints of config fields, checked when a section is built, with one error template.

Each field declares its constraints next to it (in the style of scikit-learn's parameter constraints)::

    lr: float = param(0.005, Interval(float, 0, None, closed="neither"))

A section (a dataclass deriving from :class:`Section`) checks, on construction: every field's type (from its
annotation; ints are accepted where floats are meant, floats must be finite), then every declared constraint, then
the section's cross-field :class:`Rule`s. Every failure raises :class:`~graphrec.errors.ConfigError` with one
message, :func:`error_message`::

    train.lr: expected a float > 0, got -1.0; set e.g. train.lr = 0.005

This module imports neither torch nor numpy: parsing a config stays cheap.
"""

from __future__ import annotations

import dataclasses
import json
import math
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

from graphrec.errors import ConfigError


def literal(value: Any) -> str:
    """`value` as it is written in a config file (TOML; None, which TOML cannot write, as `none`)."""
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(literal(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {literal(v)}" for k, v in value.items()) + " }"
    return repr(value)


def error_message(key: str, expected: str, got: Any, example: Any, unset_ok: bool = False) -> str:
    """The one template of config errors: what key, what was expected, what was got, how to fix it."""
    fix = f"set e.g. {key} = {literal(example)}" + (", or leave it unset" if unset_ok else "")
    return f"{key}: expected {expected}, got {literal(got)}; {fix}"


class Constraint(Protocol):
    def describe(self) -> str: ...

    def accepts(self, value: Any) -> bool: ...

    def violation(self, default: Any) -> Any:
        """A value of the field's type that breaks this constraint (what the generated tests feed in)."""


def _number(value: float, kind: type) -> str:
    return str(int(value)) if kind is int or float(value).is_integer() else repr(float(value))


@dataclass(frozen=True)
class Interval:
    """low ≤/< value ≤/< high; `closed` is "both", "left", "right" or "neither"; None: unbounded."""

    kind: type
    low: float | None
    high: float | None
    closed: str = "both"

    def _bounds(self) -> tuple[bool, bool]:
        return self.closed in ("both", "left"), self.closed in ("both", "right")

    def describe(self, plural: bool = False) -> str:
        noun = {int: "integer", float: "float"}[self.kind] + ("s" if plural else "")
        article = "" if plural else ("an " if self.kind is int else "a ")
        left, right = self._bounds()
        low = None if self.low is None else _number(self.low, self.kind)
        high = None if self.high is None else _number(self.high, self.kind)
        if low is not None and high is not None:
            return f"{article}{noun} in {'[' if left else '('}{low}, {high}{']' if right else ')'}"
        if low is not None:
            return f"{article}{noun} {'≥' if left else '>'} {low}"
        if high is not None:
            return f"{article}{noun} {'≤' if right else '<'} {high}"
        return f"{article}{noun}"

    def accepts(self, value: Any) -> bool:
        if self.kind is float and not math.isfinite(value):  # nan passes no comparison test; inf is never meant
            return False
        left, right = self._bounds()
        if self.low is not None and not (value >= self.low if left else value > self.low):
            return False
        return self.high is None or (value <= self.high if right else value < self.high)

    def violation(self, default: Any = None) -> Any:
        step = 1 if self.kind is int else 0.5
        value = self.low - step if self.low is not None else self.high + step  # type: ignore[operator]
        return self.kind(value)


# Every seed of a config (the run's, data.seed, the SVD and initialisation seeds): what graphrec.seeding can use.
# numpy's SeedSequence takes any integer ≥ 0, torch.manual_seed (seed_everything) at most 2**64 − 1 and fails above
# with a bare overflow error; every seed a run was ever trained with is in this range, so old run directories load.
SEED_MAX = 2**64 - 1
SEED = Interval(int, 0, SEED_MAX)  # the declared constraint of every seed field


@dataclass(frozen=True)
class Options:
    """One of the listed strings."""

    choices: tuple[str, ...]

    def describe(self) -> str:
        return "one of " + ", ".join(literal(c) for c in self.choices)

    def accepts(self, value: Any) -> bool:
        return value in self.choices

    def violation(self, default: Any = None) -> Any:
        return "none-of-these"


@dataclass(frozen=True)
class Each:
    """Every entry of a list meets `inner`."""

    inner: Interval

    def describe(self) -> str:
        return "a list of " + self.inner.describe(plural=True)

    def accepts(self, value: Any) -> bool:
        return all(self.inner.accepts(v) for v in value)

    def violation(self, default: Any = None) -> Any:
        return [self.inner.violation()]


@dataclass(frozen=True)
class Length:
    """A list of exactly `exact` entries, or of at least `minimum`."""

    exact: int | None = None
    minimum: int | None = None

    def describe(self) -> str:
        if self.exact is not None:
            return f"a list of {self.exact} entries"
        return "a non-empty list" if self.minimum == 1 else f"a list of at least {self.minimum} entries"

    def accepts(self, value: Any) -> bool:
        if self.exact is not None:
            return len(value) == self.exact
        return len(value) >= (self.minimum or 0)

    def violation(self, default: Any = None) -> Any:
        if self.exact is not None:
            return list(default) + list(default[:1])
        return list(default[: (self.minimum or 1) - 1])


@dataclass(frozen=True)
class Rule:
    """A cross-field constraint of a section: `check(section)` returns what was expected of `key` when the rule is
    broken (None when it holds); `example(section)` a value of `key` that satisfies it; `violation` field values
    that break it from the defaults (what the generated tests apply)."""

    key: str
    check: Callable[[Any], str | None]
    example: Callable[[Any], Any]
    violation: dict[str, Any]


def param(default: Any = dataclasses.MISSING, *constraints: Constraint, example: Any = None) -> Any:
    """A dataclass field with its declared constraints; `example` (a value or a function of the section) is what the
    error message suggests (default: the default value). Mutable defaults are copied per instance."""
    metadata = {"constraints": constraints, "example": example}
    if isinstance(default, (list, dict)):
        frozen = json.dumps(default)
        return dataclasses.field(default_factory=lambda: json.loads(frozen), metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


def constraints_of(f: dataclasses.Field) -> tuple[Constraint, ...]:
    return tuple(f.metadata.get("constraints", ()))


def example_of(section: Any, f: dataclasses.Field) -> Any:
    example = f.metadata.get("example")
    if callable(example):
        return example(section)
    if example is not None:
        return example
    return _default_of(f)


def _default_of(f: dataclasses.Field) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return None


_NOUNS = {
    int: ("an integer", "integers"),
    float: ("a finite float", "finite floats"),
    str: ("a string", "strings"),
    bool: ("true or false", "booleans"),
    Any: ("a value", "values"),
}


def describe_type(hint: Any, plural: bool = False) -> str:
    """`hint` in words: "an integer", "a list of finite floats", …; `X | None` is described as X."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        return " or ".join(describe_type(a, plural) for a in args)
    if origin is list:
        return "a list of " + describe_type(typing.get_args(hint)[0], plural=True)
    if origin is dict:
        return "a table of " + describe_type(typing.get_args(hint)[1], plural=True)
    return _NOUNS[hint][1 if plural else 0]


def coerce(value: Any, hint: Any) -> tuple[bool, Any]:
    """(ok, value): `value` converted to `hint` where lossless (int → float); floats must be finite."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(hint)
        if value is None and type(None) in args:
            return True, None
        for arg in args:
            if arg is not type(None):
                ok, out = coerce(value, arg)
                if ok:
                    return True, out
        return False, value
    if origin is list:
        if not isinstance(value, list):
            return False, value
        items = [coerce(v, typing.get_args(hint)[0]) for v in value]
        return all(ok for ok, _ in items), [v for _, v in items]
    if origin is dict:
        if not isinstance(value, dict):
            return False, value
        entries = {k: coerce(v, typing.get_args(hint)[1]) for k, v in value.items()}
        ok = all(isinstance(k, str) for k in value) and all(ok for ok, _ in entries.values())
        return ok, {k: v for k, (_, v) in entries.items()}
    if hint is Any:
        return True, value
    if isinstance(value, bool):
        return hint is bool, value
    if hint is float and isinstance(value, (int, float)):
        return math.isfinite(value), float(value)
    if hint is int:
        return isinstance(value, int), value
    return isinstance(value, hint), value


def _is_nullable(hint: Any) -> bool:
    return typing.get_origin(hint) in (typing.Union, types.UnionType) and type(None) in typing.get_args(hint)


class Section:
    """Base of every config section: a dataclass whose fields are checked when it is built (`validate`)."""

    section: ClassVar[str] = ""
    rules: ClassVar[tuple[Rule, ...]] = ()

    def __post_init__(self) -> None:
        validate(self)

    def key(self, name: str) -> str:
        """The config key of field `name`, e.g. "train.lr"."""
        return f"{self.section}.{name}" if self.section else name


def section_fields(cls: type) -> dict[str, tuple[dataclasses.Field, Any]]:
    """Field name → (field, resolved type hint) of a section class."""
    hints = typing.get_type_hints(cls)
    return {f.name: (f, hints[f.name]) for f in dataclasses.fields(cls)}


def field_error(section: Section, name: str, expected: str) -> ConfigError:
    f, hint = section_fields(type(section))[name]
    example = example_of(section, f)
    return ConfigError(error_message(section.key(name), expected, getattr(section, name), example, _is_nullable(hint)))


def check_field(section: Section, name: str) -> None:
    """Check (and coerce) one field of `section`: its type, then its declared constraints; ConfigError (the template)
    on the first failure."""
    f, hint = section_fields(type(section))[name]
    ok, value = coerce(getattr(section, name), hint)
    if not ok:
        raise field_error(section, name, describe_type(hint))
    object.__setattr__(section, name, value)
    if value is None:
        return
    for constraint in constraints_of(f):
        if not constraint.accepts(value):
            raise field_error(section, name, constraint.describe())


def validate(section: Section) -> None:
    """Check (and coerce) every field of `section`, then its rules; raise ConfigError (the template) on the first
    failure. Runs on construction; call it again after changing fields in place."""
    fields = section_fields(type(section))
    for name, (f, _) in fields.items():
        if isinstance(f.type, str) and f.type.startswith("ClassVar"):
            continue
        check_field(section, name)
    for rule in type(section).rules:
        expected = rule.check(section)
        if expected is not None:
            f, hint = fields[rule.key]
            raise ConfigError(
                error_message(
                    section.key(rule.key),
                    expected,
                    getattr(section, rule.key),
                    rule.example(section),
                    _is_nullable(hint),
                )
            )
