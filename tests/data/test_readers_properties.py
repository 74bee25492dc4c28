"""Generated inputs for the LightGCN and delimited readers (hypothesis, a bounded number of examples).

Valid files written from generated interactions read back exactly (ids, order, values); generated garbage either
reads or raises DataError, never another exception."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from graphrec.data.readers import read_delimited, read_lightgcn_txt
from graphrec.errors import DataError

# 60 examples per test in the suite; GRAPHREC_FUZZ_EXAMPLES=1000 (say) for a longer fuzzing run.
EXAMPLES = settings(
    max_examples=int(os.environ.get("GRAPHREC_FUZZ_EXAMPLES", "60")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
INT64 = st.integers(min_value=0, max_value=2**63 - 1)
SMALL_IDS = st.integers(min_value=0, max_value=50)


def _read(read, name: str, content: bytes, **options) -> pd.DataFrame:
    """`read` on a fresh file holding `content` (hypothesis runs many examples in one test: no shared tmp_path)."""
    with tempfile.TemporaryDirectory(prefix="graphrec-prop-") as folder:
        path = Path(folder) / name
        path.write_bytes(content)
        return read(path, **options)


def _read_or_data_error(read, name: str, content: bytes) -> pd.DataFrame | None:
    try:
        return _read(read, name, content)
    except DataError as err:
        assert "\n" not in str(err) and str(err)
        return None


# ------------------------------------------------------------------------------------------------ LightGCN

LINES = st.lists(
    st.tuples(st.one_of(SMALL_IDS, INT64), st.lists(st.one_of(SMALL_IDS, INT64), min_size=1, max_size=8)),
    min_size=1,
    max_size=20,
)
GAP = st.sampled_from([" ", "  ", "\t", " \t "])


@EXAMPLES
@given(lines=LINES, gap=GAP, newline=st.sampled_from(["\n", "\r\n"]), blank=st.booleans(), end=st.booleans())
def test_lightgcn_round_trip(lines, gap: str, newline: str, blank: bool, end: bool) -> None:
    rows = [gap.join(str(i) for i in (user, *items)) for user, items in lines]
    if blank:
        rows.insert(len(rows) // 2, " ")
    text = newline.join(rows) + (newline if end else "")
    frame = _read(read_lightgcn_txt, "train.txt", text.encode())
    assert frame["user_id"].tolist() == [user for user, items in lines for _ in items]
    assert frame["item_id"].tolist() == [item for _, items in lines for item in items]
    assert frame["user_id"].dtype == np.int64 and frame["item_id"].dtype == np.int64


# A token that is not an id: no ASCII whitespace (it would split), not all ASCII digits.
BAD_TOKEN = st.text(min_size=1, max_size=12).filter(
    lambda t: not any(c in t for c in " \t\n\r\x0b\x0c") and not (t.isascii() and t.isdigit())
)


@EXAMPLES
@given(lines=LINES, bad=BAD_TOKEN, data=st.data())
@example(lines=[(0, [1, 2])], bad="1_0", data=None)
@example(lines=[(0, [1, 2])], bad="+5", data=None)
@example(lines=[(0, [1, 2])], bad="\uff15", data=None)
def test_lightgcn_bad_token_names_its_line(lines, bad: str, data) -> None:
    row = data.draw(st.integers(0, len(lines) - 1)) if data is not None else 0
    user, items = lines[row]
    position = data.draw(st.integers(0, len(items))) if data is not None else 1
    tokens = [str(i) for i in (user, *items)]
    tokens[position] = bad
    rows = [" ".join(str(i) for i in (u, *its)) for u, its in lines]
    rows[row] = " ".join(tokens)
    with pytest.raises(DataError) as err:
        _read(read_lightgcn_txt, "train.txt", "\n".join(rows).encode())
    assert str(err.value).startswith(f"line {row + 1} of train.txt")
    assert "LightGCN format is" in str(err.value) and "\n" not in str(err.value)


@EXAMPLES
@given(content=st.one_of(st.binary(max_size=200), st.text(max_size=200).map(str.encode)))
def test_lightgcn_garbage_reads_or_raises_data_error(content: bytes) -> None:
    frame = _read_or_data_error(read_lightgcn_txt, "train.txt", content)
    if frame is not None:
        assert len(frame) > 0 and frame["user_id"].dtype == np.int64


# ------------------------------------------------------------------------------------------------ delimited

# String ids: a prefix no integer or header name has, then printable text without edge whitespace (the reader
# strips ids) and without control characters (NUL is an error).
STRING_IDS = (
    st.text(alphabet=st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp")), min_size=0, max_size=10)
    .map(lambda t: f"id:{t}")
    .filter(lambda t: t == t.strip())
)
INT_IDS = st.integers(min_value=-(2**63), max_value=2**63 - 1)
RATINGS = st.integers(min_value=0, max_value=20).map(lambda r: r / 2)
TIMESTAMPS = st.integers(min_value=0, max_value=2**62)


@st.composite
def interactions(draw: st.DrawFn) -> pd.DataFrame:
    n = draw(st.integers(min_value=1, max_value=30))
    users = draw(st.lists(draw(st.sampled_from([INT_IDS, STRING_IDS])), min_size=n, max_size=n))
    items = draw(st.lists(draw(st.sampled_from([INT_IDS, STRING_IDS])), min_size=n, max_size=n))
    frame = pd.DataFrame({"user_id": users, "item_id": items})
    if draw(st.booleans()):
        frame["rating"] = draw(st.lists(RATINGS, min_size=n, max_size=n))
    if draw(st.booleans()):
        frame["timestamp"] = draw(st.lists(TIMESTAMPS, min_size=n, max_size=n))
    return frame


@EXAMPLES
@given(frame=interactions(), sep=st.sampled_from([",", "\t", ";", "|"]))
def test_delimited_round_trip(frame: pd.DataFrame, sep: str) -> None:
    back = _read(read_delimited, "inter.csv", frame.to_csv(sep=sep, index=False).encode(), sep=sep)
    assert list(back.columns) == list(frame.columns)
    for column in ("user_id", "item_id"):
        assert back[column].tolist() == frame[column].tolist()  # ids exactly: ints stay ints, strings stay strings
        integers = all(isinstance(v, int) for v in frame[column])
        assert (back[column].dtype == np.int64) == integers
    if "rating" in frame:
        assert back["rating"].tolist() == frame["rating"].tolist()
    if "timestamp" in frame:
        assert back["timestamp"].tolist() == frame["timestamp"].tolist()


HEADER = b"user_id,item_id,rating,timestamp\n"


@EXAMPLES
@given(
    body=st.one_of(
        st.binary(max_size=200),
        st.text(max_size=200).map(str.encode),
        st.lists(
            st.lists(
                st.sampled_from(["1", "2", "x", "", '"', "inf", "nan", "-1", "2020-01-01", "1e400", "\x00"]), max_size=6
            ).map(",".join),
            max_size=8,
        ).map(lambda rows: "\n".join(rows).encode()),
    ),
    header=st.booleans(),
)
def test_delimited_garbage_reads_or_raises_data_error(body: bytes, header: bool) -> None:
    frame = _read_or_data_error(read_delimited, "inter.csv", (HEADER if header else b"") + body)
    if frame is not None:
        assert len(frame) > 0 and {"user_id", "item_id"} <= set(frame.columns)
