"""Property tests of the config: any TOML document or --set override either loads or raises ConfigError, never
another exception (issue 14). GRAPHREC_FUZZ_EXAMPLES (make fuzz: 1000) raises the number of examples."""

from __future__ import annotations

import math
import os
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from graphrec.config import MODEL_CONFIGS, RunConfig, apply_overrides, config_from_dict
from graphrec.config.params import section_fields
from graphrec.config.train import TRAIN_CONFIGS
from graphrec.errors import ConfigError

EXAMPLES = settings(
    max_examples=int(os.environ.get("GRAPHREC_FUZZ_EXAMPLES", "60")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)

SECTIONS = ("data", "model", "train", "eval", "features")
KEYS: dict[str, list[str]] = {
    "model": sorted({k for cls in MODEL_CONFIGS.values() for k in section_fields(cls)}),
    "train": sorted({k for cls in TRAIN_CONFIGS.values() for k in section_fields(cls)}),
}
for _section, _cls in (("data", "DataConfig"), ("eval", "EvalConfig"), ("features", "FeatureConfig")):
    import graphrec.config.sections as _sections

    KEYS[_section] = sorted(section_fields(getattr(_sections, _cls)))

SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(sorted(MODEL_CONFIGS)),
    st.sampled_from(["ndcg@20", "recall@10", "auto", "bpr", "margin", "zscore"]),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=6), inner, max_size=3)),
    max_leaves=6,
)


def _key(section: str) -> st.SearchStrategy[str]:
    return st.one_of(st.sampled_from(KEYS[section]), st.text(max_size=8))


SECTION_TABLES = st.fixed_dictionaries(
    {},
    optional={s: st.dictionaries(_key(s), VALUES, max_size=4) for s in SECTIONS} | {"seed": VALUES, "extra": VALUES},  # type: ignore[operator]
)


def _loads_or_config_error(build: Any) -> None:
    try:
        config = build()
    except ConfigError:  # (a value holding a newline still breaks the one-line rule: issue 14, item 11)
        return
    assert isinstance(config, RunConfig)
    for section in SECTIONS:  # what loaded is finite wherever a float is held
        for value in vars(getattr(config, section)).values():
            assert not (isinstance(value, float) and not math.isfinite(value)), (section, value)


@EXAMPLES
@given(values=SECTION_TABLES)
def test_any_config_dict_loads_or_raises_config_error(values: dict[str, Any]) -> None:
    _loads_or_config_error(lambda: config_from_dict(values))


def assignments(template: str, raw: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """`template` filled with a section, one of the config's keys and a raw value drawn from `raw`."""
    keys = sorted({k for keys in KEYS.values() for k in keys})
    return st.builds(
        lambda section, key, value: template.format(section=section, key=key, raw=value),
        st.sampled_from(SECTIONS),
        st.sampled_from(keys),
        raw,
    )


TOML_TEXT = st.one_of(
    st.text(max_size=80),
    assignments(
        "[{section}]\n{key} = {raw}\n",
        st.sampled_from(["0", "-1", "inf", "nan", "-inf", "1e400", "1e30", "[nan]", "[]", '"x"', "true", "3.5"])
        | st.integers().map(str),
    ),
)


@EXAMPLES
@given(text=TOML_TEXT)
def test_any_toml_text_loads_or_raises_config_error(text: str, tmp_path_factory: pytest.TempPathFactory) -> None:
    from graphrec.config import load_config

    path = tmp_path_factory.mktemp("toml") / "c.toml"
    path.write_text(text, encoding="utf-8")
    _loads_or_config_error(lambda: load_config(path))


OVERRIDE = st.one_of(
    st.text(max_size=40),
    assignments(
        "{section}.{key}={raw}",
        st.one_of(st.text(max_size=12), st.sampled_from(["inf", "nan", "-1", "0", "1e400", "[nan, 1]", "none"])),
    ),
)


@EXAMPLES
@given(overrides=st.lists(OVERRIDE, max_size=3))
def test_any_override_loads_or_raises_config_error(overrides: list[str]) -> None:
    _loads_or_config_error(lambda: apply_overrides(RunConfig(), overrides))
