"""Readers under bad input (issue 14): ids read exactly, no line dropped unsaid, every failure a one-line DataError.

Each new error's wording is pinned here; the general round trips live in test_data_readers.py and the generated
inputs in test_readers_properties.py."""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from graphrec.data.readers import read_delimited, read_lightgcn_txt, read_parquet, read_recbole_inter
from graphrec.errors import ConfigError, DataError

HINT = "the LightGCN format is 'user item item …'"
RATING_FIX = "ratings must be non-negative numbers; fix or remove the row, or set data.rating_col to the right column"
TS_FIX = "timestamps must be non-negative numbers or dates; fix the row or set data.timestamp_col to the right column"


def _error(read, *args, **kwargs) -> str:
    with pytest.raises(DataError) as err:
        read(*args, **kwargs)
    message = str(err.value)
    assert "\n" not in message
    return message


# ------------------------------------------------------------------------------------------------ Parquet ids


def _parquet(tmp_path: Path, **columns: object) -> Path:
    path = tmp_path / "inter.parquet"
    pd.DataFrame(columns).to_parquet(path)
    return path


def test_uint64_ids_beyond_int64_stay_exact_strings(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    ids = np.array([2**63, 2**64 - 1, 1], dtype=np.uint64)
    with caplog.at_level(logging.WARNING):
        frame = read_parquet(_parquet(tmp_path, user_id=ids, item_id=[1, 2, 3]))
    assert frame["user_id"].tolist() == ["9223372036854775808", "18446744073709551615", "1"]
    assert frame["item_id"].dtype == np.int64
    assert (
        "inter.parquet: user ids include integers beyond the int64 range (first: '9223372036854775808' at row 1); "
        "all user ids of this file are read as strings"
    ) in caplog.text
    small = read_parquet(_parquet(tmp_path, user_id=np.array([0, 2**63 - 1], dtype=np.uint64), item_id=[1, 2]))
    assert small["user_id"].tolist() == [0, 2**63 - 1] and small["user_id"].dtype == np.int64


def test_float_ids_never_merge_or_wrap(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        frame = read_parquet(_parquet(tmp_path, user_id=[1e30, 2e30, 1.0], item_id=[1, 2, 3]))
    assert frame["user_id"].nunique() == 3
    assert frame["user_id"].tolist() == ["1e+30", "2e+30", "1.0"]
    assert "user ids include floats that are not whole numbers in the int64 range (first: '1e+30'" in caplog.text
    edge = read_parquet(_parquet(tmp_path, user_id=[2.0**63, -(2.0**63)], item_id=[1, 2]))
    assert edge["user_id"].tolist() == ["9.223372036854776e+18", "-9.223372036854776e+18"]
    fractional = read_parquet(_parquet(tmp_path, user_id=[1.5, 2.0], item_id=[1, 2]))
    assert fractional["user_id"].tolist() == ["1.5", "2.0"]
    whole = read_parquet(_parquet(tmp_path, user_id=[-(2.0**63), 7.0], item_id=[1, 2]))
    assert whole["user_id"].tolist() == [-(2**63), 7] and whole["user_id"].dtype == np.int64


@pytest.mark.parametrize("value", [np.inf, -np.inf])
def test_infinite_float_id_is_an_error(tmp_path: Path, value: float) -> None:
    path = _parquet(tmp_path, user_id=[1.0, 2.0], item_id=[3.0, value])
    assert _error(read_parquet, path) == (
        f"row 2 of inter.parquet: item id '{value}' is not a finite number; ids must be integers or strings; "
        "fix the row"
    )


def test_list_valued_id_and_rating_are_errors(tmp_path: Path) -> None:
    path = _parquet(tmp_path, user_id=[[1, 2], [3]], item_id=[1, 2])
    assert _error(read_parquet, path) == (
        "row 1 of inter.parquet: user id '[1, 2]' is a list or record, not an id; ids must be integers or strings; "
        "set data.user_col to the right column"
    )
    path = _parquet(tmp_path, user_id=[1, 2], item_id=[1, 2], rating=[[1.0], [2.0, 3.0]])
    assert _error(read_parquet, path) == f"row 1 of inter.parquet: rating '[1.0]' is not a number; {RATING_FIX}"


def test_parquet_duplicate_columns_and_corrupt_pages(tmp_path: Path) -> None:
    path = tmp_path / "dup.parquet"
    table = pa.table([pa.array([1, 2]), pa.array([3, 4]), pa.array([5, 6])], names=["user_id", "item_id", "user_id"])
    pq.write_table(table, path)
    assert _error(read_parquet, path) == (
        "dup.parquet has 2 columns named 'user_id'; rename them so that every column name is unique"
    )
    good = tmp_path / "good.parquet"
    pq.write_table(pa.table({"user_id": [1, 2], "item_id": [3, 4]}), good)
    data = bytearray(good.read_bytes())
    data[4:60] = bytes(b ^ 0xFF for b in data[4:60])  # the first page header; the footer (schema) stays intact
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(bytes(data))
    message = _error(read_parquet, bad)
    assert message.startswith("bad.parquet is not a readable Parquet file (")
    assert message.endswith("); write it again, e.g. with pandas.DataFrame.to_parquet")
    bad.write_bytes(good.read_bytes()[: len(data) // 2])  # truncated: no footer
    message = _error(read_parquet, bad)
    assert message.startswith("bad.parquet is not a readable Parquet file (ArrowInvalid: '")
    assert message.endswith("); write it again, e.g. with pandas.DataFrame.to_parquet")


def test_parquet_dates_outside_the_nanosecond_range_become_exact_seconds(tmp_path: Path) -> None:
    stamps = pd.Series([dt.datetime(1500, 1, 1), dt.datetime(3000, 1, 1)], dtype="datetime64[us]")
    frame = read_parquet(_parquet(tmp_path, user_id=[1, 2], item_id=[1, 2], timestamp=stamps))
    assert frame["timestamp"].tolist() == [-14831769600, 32503680000]
    dates = read_parquet(
        _parquet(tmp_path, user_id=[1, 2], item_id=[1, 2], timestamp=[dt.date(1500, 1, 1), dt.date(2020, 1, 1)])
    )
    assert dates["timestamp"].tolist() == [-14831769600, 1577836800]
    missing = pd.Series([dt.datetime(2020, 1, 1), None], dtype="datetime64[us]")
    assert _error(read_parquet, _parquet(tmp_path, user_id=[1, 2], item_id=[1, 2], timestamp=missing)) == (
        f"row 2 of inter.parquet: timestamp missing (NaT) is not a date; {TS_FIX}"
    )


# ------------------------------------------------------------------------------------------------ LightGCN


def _txt(tmp_path: Path, content: str | bytes) -> Path:
    path = tmp_path / "train.txt"
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return path


def test_lightgcn_counts_and_logs_itemless_lines(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        frame = read_lightgcn_txt(_txt(tmp_path, "0 1 2\n1\n\n2 3\n4\n"))
    assert frame["user_id"].tolist() == [0, 0, 2] and frame["item_id"].tolist() == [1, 2, 3]
    assert caplog.messages == [
        "train.txt: skipped 2 line(s) holding a user id and no items (first: line 2); "
        "those users have no interactions in this file"
    ]


def test_lightgcn_comma_separated_line_is_an_error(tmp_path: Path) -> None:
    assert _error(read_lightgcn_txt, _txt(tmp_path, "0 1 2\n1,2,3,4\n2 5\n")) == (
        "line 2 of train.txt: '1,2,3,4' is comma separated; the LightGCN format is space separated 'user item item …'"
    )
    assert _error(read_lightgcn_txt, _txt(tmp_path, "0 1,2\n")).startswith("line 1 of train.txt: '0 1,2' is comma")


@pytest.mark.parametrize(
    "token,problem",
    [
        ("1_0", "is not an integer"),
        ("+5", "is not an integer"),
        ("\uff11\uff12", "is not an integer"),  # full-width digits: int() takes them, the format does not
        ("\u0663", "is not an integer"),  # Arabic-Indic digit three
        ("1\u00a02", "is not an integer"),  # a no-break space is not a separator
        ("3\x00", "is not an integer"),
        ("-3", "is negative"),
        ("9223372036854775808", "does not fit in 64 bits"),
        ("1" * 5000, "does not fit in 64 bits"),  # beyond int()'s digit limit too
    ],
)
def test_lightgcn_ids_are_ascii_digits_only(tmp_path: Path, token: str, problem: str) -> None:
    shown = {"3\x00": "3\\x00", "1\u00a02": "1\\xa02", "1" * 5000: "1" * 39 + "…"}.get(token, token)
    assert _error(read_lightgcn_txt, _txt(tmp_path, f"0 1 2\n1 4 {token}\n")) == (
        f"line 2 of train.txt: item id '{shown}' {problem}; {HINT}"
    )


def test_lightgcn_non_utf8_bom_and_crlf(tmp_path: Path) -> None:
    assert _error(read_lightgcn_txt, _txt(tmp_path, b"0 1 2\n1 3\xff\n")) == (
        f"line 2 of train.txt is not UTF-8 text (byte 0xff at column 4); ids are ASCII digits and {HINT}"
    )
    frame = read_lightgcn_txt(_txt(tmp_path, b"\xef\xbb\xbf0 1 2\r\n1 3\r\n"))
    assert frame["user_id"].tolist() == [0, 0, 1] and frame["item_id"].tolist() == [1, 2, 3]
    top = read_lightgcn_txt(_txt(tmp_path, f"{2**63 - 1} 0\n"))
    assert top["user_id"].tolist() == [2**63 - 1]


# ------------------------------------------------------------------------------------------------ tables


def _csv(tmp_path: Path, content: str | bytes, name: str = "ratings.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return path


def test_repeated_header_row_is_an_error(tmp_path: Path) -> None:
    path = _csv(tmp_path, "user_id,item_id\n1,2\nuser_id,item_id\n3,4\n")
    assert _error(read_delimited, path) == (
        "line 3 of ratings.csv repeats the header row; remove it (files joined with cat keep each file's header)"
    )
    inter = _csv(tmp_path, "user_id:token\titem_id:token\n1\t2\nuser_id:token\titem_id:token\n", "ml.inter")
    assert _error(read_recbole_inter, inter).startswith("line 3 of ml.inter repeats the header row")


def test_extra_fields_are_an_error(tmp_path: Path) -> None:
    later = _csv(tmp_path, "user_id,item_id,rating\n1,2,3\n4,5,6,7\n")
    assert _error(read_delimited, later) == (
        "line 3 of ratings.csv has 4 fields where the rows before have 3; quote the fields that contain ',', "
        "or fix the row"
    )
    first = _csv(tmp_path, "user_id,item_id,rating\n1,2,3,9\n4,5,6\n")
    assert _error(read_delimited, first) == (
        "line 2 of ratings.csv has more fields than the header's 3; quote the fields that contain ',', "
        "or name every column in the header"
    )
    tsv = _csv(tmp_path, "user_id\titem_id\n1\t2\t3\n", "ratings.tsv")
    assert "quote the fields that contain a tab" in _error(read_delimited, tsv)
    trailing = _csv(tmp_path, "user_id,item_id,rating\n1,2,3,\n4,5,6\n")  # an empty trailing field loses nothing
    assert read_delimited(trailing)["rating"].tolist() == [3.0, 6.0]
    every = _csv(tmp_path, "user_id,item_id,rating\n1,2,3,\n4,5,6,\n")  # every row: no column may shift
    frame = read_delimited(every)
    assert frame["user_id"].tolist() == [1, 4] and frame["rating"].tolist() == [3.0, 6.0]


def test_one_column_for_two_settings_is_a_config_error(tmp_path: Path) -> None:
    path = _csv(tmp_path, "user_id,item_id,rating\n1,2,3\n")
    with pytest.raises(ConfigError) as err:
        read_delimited(path, user_col="user_id", item_col="user_id")  # detection never takes a named column
    assert str(err.value) == (
        "data.user_col and data.item_col both name column 'user_id' of ratings.csv; each must name its own column"
    )
    with pytest.raises(ConfigError) as err:
        read_delimited(path, item_col="item_id", rating_col="item_id")
    assert str(err.value) == (
        "data.item_col and data.rating_col both name column 'item_id' of ratings.csv; each must name its own "
        "column, or set data.rating_col = '' to not read it"
    )


@pytest.mark.parametrize(
    "column,value,shown,problem",
    [
        ("rating", "inf", "'inf'", "is not a finite number"),
        ("rating", "-inf", "'-inf'", "is not a finite number"),
        ("rating", "1e400", "'inf'", "is not a finite number"),  # pandas parses the column: it shows what it got
        ("rating", "nan", "'nan'", "is not a number"),
        ("timestamp", "inf", "'inf'", "is not a finite number"),
        ("timestamp", "18446744073709551615", "'18446744073709551615'", "does not fit in 64 bits"),
    ],
)
def test_non_finite_ratings_and_timestamps_are_errors(
    tmp_path: Path, column: str, value: str, shown: str, problem: str
) -> None:
    path = _csv(tmp_path, f"user_id,item_id,{column}\n1,2,3\n1,3,{value}\n")
    fix = RATING_FIX if column == "rating" else TS_FIX
    assert _error(read_delimited, path) == f"line 3 of ratings.csv: {column} {shown} {problem}; {fix}"


def test_nul_and_blank_ids_are_errors(tmp_path: Path) -> None:
    assert _error(read_delimited, _csv(tmp_path, "user_id,item_id\n1,2\n4,a\x00b\n")) == (
        "line 3 of ratings.csv: item id 'a\\x00b' contains a NUL character; ids cannot hold NUL "
        "(a UTF-16 or binary file? save it as UTF-8 text)"
    )
    assert _error(read_delimited, _csv(tmp_path, "user_id,item_id\n1,2\n4,  \n")) == (
        "line 3 of ratings.csv: item id is missing (blank); every row needs an item id"
    )


def test_minus_zero_stays_distinct_from_zero(tmp_path: Path) -> None:
    frame = read_delimited(_csv(tmp_path, "user_id,item_id\n-0,2\n0,5\n"))
    assert frame["user_id"].tolist() == ["-0", "0"]


def test_non_utf8_and_unclosed_quote_name_the_line(tmp_path: Path) -> None:
    assert _error(read_delimited, _csv(tmp_path, b"user_id,item_id\n1,2\n4,\xff\n")) == (
        "line 3 of ratings.csv is not UTF-8 text (byte 0xff at column 3); save the file as UTF-8"
    )
    assert _error(read_delimited, _csv(tmp_path, b"user_id,it\xe9m_id\n1,2\n")).startswith(
        "line 1 of ratings.csv is not UTF-8 text (byte 0xe9 at column 11)"
    )
    assert _error(read_delimited, _csv(tmp_path, 'user_id,item_id\n1,2\n\n4,"5\n6,7\n')) == (
        "line 4 of ratings.csv: a quoted field is never closed (a '\"' without its pair); close the quote or remove it"
    )


def test_dates_before_1677_and_after_2262_are_read(tmp_path: Path) -> None:
    path = _csv(tmp_path, "user_id,item_id,timestamp\n1,2,1500-01-01\n4,5,2300-01-01\n6,7,0001-01-01\n")
    assert read_delimited(path)["timestamp"].tolist() == [-14831769600, 10413792000, -62135596800]


@pytest.mark.parametrize("word", ["now", "Today"])
def test_relative_dates_are_not_dates(tmp_path: Path, word: str) -> None:
    path = _csv(tmp_path, f"user_id,item_id,timestamp\n1,2,2020-01-01\n4,5,{word}\n")
    assert _error(read_delimited, path) == f"line 3 of ratings.csv: timestamp '{word}' is not a date; {TS_FIX}"
    path = _csv(tmp_path, "user_id,item_id,timestamp\n1,2,2020-01-01\n4,5,\n")
    assert _error(read_delimited, path) == f"line 3 of ratings.csv: timestamp missing (NaN) is not a date; {TS_FIX}"


def test_header_names_are_shown_on_one_line(tmp_path: Path) -> None:
    path = _csv(tmp_path, 'user,"th\ning"\n1,2\n')
    assert _error(read_delimited, path) == (
        "ratings.csv: no item column found (columns are: user, th\\ning; looked for item: item_id, itemId, movieId, "
        "item, iid); set data.item_col to the name of the item column"
    )


def test_lightgcn_leading_zeros_do_not_count_as_overflow(tmp_path: Path) -> None:
    zeros = "0" * 30 + "1"
    assert read_lightgcn_txt(_txt(tmp_path, f"0 {zeros}\n"))["item_id"].tolist() == [1]
    assert _error(read_lightgcn_txt, _txt(tmp_path, f"0 {zeros} x\n")) == (
        f"line 1 of train.txt: item id 'x' is not an integer; {HINT}"
    )
