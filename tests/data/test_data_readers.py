"""Readers: round trips for every format and the exact wording of every bad-input error."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from graphrec.data import DataConfig, read_interactions
from graphrec.data.readers import detect_format, read_delimited, read_lightgcn_txt, read_parquet, read_recbole_inter
from graphrec.errors import ConfigError, DataError, DataFileNotFoundError

HINT = "the LightGCN format is 'user item item …'"


def _frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "user_id": [1, 1, 2, 3],
            "item_id": [10, 11, 10, 12],
            "rating": [4.0, 3.5, 5.0, 1.0],
            "timestamp": [100, 200, 150, 300],
        }
    )


# ------------------------------------------------------------------------------------------------ LightGCN txt


def test_lightgcn_reads_lines_skips_blank_and_itemless_users(tmp_path: Path) -> None:
    path = tmp_path / "train.txt"
    path.write_text("0 1 2 3\n\n1\n2 5  7\t9\n   \n")
    frame = read_lightgcn_txt(path)
    assert frame["user_id"].tolist() == [0, 0, 0, 2, 2, 2]
    assert frame["item_id"].tolist() == [1, 2, 3, 5, 7, 9]
    assert frame["user_id"].dtype == np.int64 and frame["item_id"].dtype == np.int64


def test_lightgcn_non_integer_item_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "train.txt"
    path.write_text("\n".join(f"{u} 1 2" for u in range(16)) + "\n16 3 x7 4\n")
    with pytest.raises(DataError) as err:
        read_lightgcn_txt(path)
    assert str(err.value) == f"line 17 of train.txt: item id 'x7' is not an integer; {HINT}"


def test_lightgcn_non_integer_user_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "test.txt"
    path.write_text("0 1\nu1 2 3\n")
    with pytest.raises(DataError) as err:
        read_lightgcn_txt(path)
    assert str(err.value) == f"line 2 of test.txt: user id 'u1' is not an integer; {HINT}"


@pytest.mark.parametrize("content", ["", "\n\n  \n", "3\n4\n"])
def test_lightgcn_empty_file(tmp_path: Path, content: str) -> None:
    path = tmp_path / "train.txt"
    path.write_text(content)
    with pytest.raises(DataError) as err:
        read_lightgcn_txt(path)
    assert str(err.value) == f"train.txt is empty: no interactions found; {HINT}"


def test_missing_file_names_the_path(tmp_path: Path) -> None:
    with pytest.raises(DataFileNotFoundError, match=re.escape("nope.txt")):
        read_lightgcn_txt(tmp_path / "nope.txt")
    with pytest.raises(FileNotFoundError):
        read_delimited(tmp_path / "nope.csv")


# ------------------------------------------------------------------------------------------------ tables


@pytest.mark.parametrize("suffix,sep", [(".csv", ","), (".tsv", "\t")])
def test_delimited_round_trip(tmp_path: Path, suffix: str, sep: str) -> None:
    path = tmp_path / f"ratings{suffix}"
    _frame().to_csv(path, sep=sep, index=False)
    frame = read_delimited(path)
    pd.testing.assert_frame_equal(frame, _frame().astype({"rating": np.float64}))
    via_config = read_interactions(path, DataConfig(interactions=str(path)))
    pd.testing.assert_frame_equal(via_config, frame)


def test_delimited_custom_columns_string_ids_and_skipped_optionals(tmp_path: Path) -> None:
    path = tmp_path / "ratings.csv"
    path.write_text("userId,movieId,score\nalice,007,1\nbob,7,2\n")
    frame = read_delimited(path, user_col="userId", item_col="movieId", rating_col="rating", timestamp_col=None)
    assert list(frame.columns) == ["user_id", "item_id"]
    assert frame["user_id"].tolist() == ["alice", "bob"]
    assert frame["item_id"].tolist() == ["007", "7"]  # '007' would collide with 7 as an integer: kept as strings


def test_delimited_missing_column(tmp_path: Path) -> None:
    path = tmp_path / "ratings.csv"
    path.write_text("userId,movieId,rating,timestamp\n1,2,3.0,4\n")
    with pytest.raises(DataError) as err:
        read_delimited(path, user_col="user_id")
    assert str(err.value) == (
        "ratings.csv: column 'user_id' not found (columns are: userId, movieId, rating, timestamp); "
        "set data.user_col to the name of the user column"
    )
    with pytest.raises(DataError, match=re.escape("set data.item_col to the name of the item column")):
        read_delimited(path, user_col="userId", item_col="item_id")


def test_delimited_negative_rating_names_line_and_value(tmp_path: Path) -> None:
    path = tmp_path / "ratings.csv"
    path.write_text("user_id,item_id,rating\n1,2,3.0\n1,3,-1.5\n")
    with pytest.raises(DataError) as err:
        read_delimited(path)
    assert str(err.value) == (
        "line 3 of ratings.csv: rating '-1.5' is negative; ratings must be non-negative numbers; "
        "fix or remove the row, or set data.rating_col to the right column"
    )


def test_delimited_nan_rating_names_line(tmp_path: Path) -> None:
    path = tmp_path / "ratings.csv"
    path.write_text("user_id,item_id,rating\n1,2,3.0\n1,3,4\n2,3,\n")
    with pytest.raises(DataError) as err:
        read_delimited(path)
    assert str(err.value).startswith("line 4 of ratings.csv: rating missing (NaN) is not a number; ratings must be")
    path.write_text("user_id,item_id,rating\n1,2,abc\n")
    with pytest.raises(DataError, match=re.escape("line 2 of ratings.csv: rating 'abc' is not a number")):
        read_delimited(path)


@pytest.mark.parametrize("content", ["", "user_id,item_id\n"])
def test_delimited_empty_file(tmp_path: Path, content: str) -> None:
    path = tmp_path / "ratings.csv"
    path.write_text(content)
    with pytest.raises(DataError, match=r"^ratings.csv is empty: no interactions found"):
        read_delimited(path)


def test_delimited_missing_id_names_line(tmp_path: Path) -> None:
    path = tmp_path / "ratings.csv"
    path.write_text("user_id,item_id\n1,2\n,3\n")
    with pytest.raises(DataError, match=re.escape("line 3 of ratings.csv: user id is missing")):
        read_delimited(path)


def test_parquet_round_trip_and_row_numbers(tmp_path: Path) -> None:
    path = tmp_path / "inter.parquet"
    _frame().to_parquet(path)
    frame = read_parquet(path)
    pd.testing.assert_frame_equal(frame, _frame().astype({"rating": np.float64}))
    bad = _frame().assign(rating=[1.0, 2.0, np.nan, 3.0])
    bad.to_parquet(path)
    with pytest.raises(DataError, match=r"^row 3 of inter.parquet: rating missing \(NaN\) is not a number"):
        read_parquet(path)


def test_parquet_string_ids(tmp_path: Path) -> None:
    path = tmp_path / "inter.parquet"
    pd.DataFrame({"u": ["a", "b"], "i": ["1", "2"]}).to_parquet(path)
    frame = read_parquet(path, user_col="u", item_col="i")
    assert frame["user_id"].tolist() == ["a", "b"] and frame["item_id"].tolist() == [1, 2]


def test_recbole_inter_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "ml.inter"
    path.write_text(
        "user_id:token\titem_id:token\trating:float\ttimestamp:float\n1\t10\t4\t100\n1\t11\t3.5\t200\n"
        "2\t10\t5\t150\n3\t12\t1\t300\n"
    )
    frame = read_recbole_inter(path)
    expected = _frame().astype({"rating": np.float64})
    pd.testing.assert_frame_equal(frame, expected)
    pd.testing.assert_frame_equal(read_interactions(path, DataConfig()), expected)


def test_dispatch_lightgcn_txt_and_unknown_extension(tmp_path: Path) -> None:
    txt = tmp_path / "all.txt"
    txt.write_text("0 1 2\n")
    assert len(read_interactions(txt, DataConfig())) == 2
    weird = tmp_path / "data.json"
    weird.write_text("{}")
    with pytest.raises(DataError) as err:
        read_interactions(weird, DataConfig())
    assert "unknown interactions format '.json'" in str(err.value)
    assert ".csv, .tsv, .parquet, .inter" in str(err.value) and "set data.format" in str(err.value)
    with pytest.raises(ConfigError, match=r'data.format: expected one of "auto", "lightgcn", .*, got "xml"'):
        DataConfig(format="xml")
    with pytest.raises(ConfigError, match=r"data.format = 'xml' is not supported"):  # the reader, called directly
        detect_format(weird, "xml")
    forced = tmp_path / "data.dat"
    _frame().to_csv(forced, index=False)
    assert len(read_interactions(forced, DataConfig(format="csv"))) == 4


def test_date_timestamps_become_unix_seconds(tmp_path: Path) -> None:
    path = tmp_path / "events.csv"
    path.write_text("user_id,item_id,timestamp\na,x,2020-01-01 10:00:00\nb,y,2021-05-03\n")
    frame = read_delimited(path)
    assert frame["timestamp"].tolist() == [1577872800, 1620000000]
    path.write_text("user_id,item_id,timestamp\na,x,15\nb,y,\n")
    with pytest.raises(DataError, match=re.escape("line 3 of events.csv: timestamp missing")):
        read_delimited(path)
    parquet = tmp_path / "events.parquet"
    pd.DataFrame({"user_id": [1], "item_id": [2], "timestamp": pd.to_datetime(["2020-01-01"])}).to_parquet(parquet)
    assert read_parquet(parquet)["timestamp"].tolist() == [1577836800]


# ------------------------------------------------------------------------------------------------ detection


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("userId,movieId,rating,timestamp", ["user_id", "item_id", "rating", "timestamp"]),
        ("uid,iid,score,ts", ["user_id", "item_id", "rating", "timestamp"]),
        ("user,item,time", ["user_id", "item_id", "timestamp"]),
        ("User_ID,Item-Id", ["user_id", "item_id"]),
    ],
)
def test_columns_are_detected_from_common_spellings(tmp_path: Path, header: str, expected: list[str]) -> None:
    path = tmp_path / "ratings.csv"
    values = {"rating": "4.0", "timestamp": "100"}
    row = ["u1", "i1", *[values[c] for c in expected[2:]]]
    path.write_text(f"{header}\n{','.join(row)}\n")
    frame = read_interactions(path, DataConfig(interactions=str(path)))
    assert list(frame.columns) == expected
    assert frame["user_id"].tolist() == ["u1"] and frame["item_id"].tolist() == ["i1"]


def test_recbole_token_columns_are_detected(tmp_path: Path) -> None:
    path = tmp_path / "ml.inter"
    path.write_text("user:token\titem:token\trating:float\n1\t2\t3.0\n")
    assert read_recbole_inter(path).columns.tolist() == ["user_id", "item_id", "rating"]


def test_parquet_columns_are_detected(tmp_path: Path) -> None:
    path = tmp_path / "r.parquet"
    _frame().rename(columns={"user_id": "userId", "item_id": "itemId", "rating": "score"}).to_parquet(path)
    assert read_parquet(path).columns.tolist() == ["user_id", "item_id", "rating", "timestamp"]


def test_detection_failure_is_one_error_listing_the_columns(tmp_path: Path) -> None:
    path = tmp_path / "ratings.csv"
    path.write_text("person,thing,stars\na,b,3\n")
    with pytest.raises(DataError) as err:
        read_delimited(path)
    assert str(err.value) == (
        "ratings.csv: no user or item column found (columns are: person, thing, stars; looked for user: user_id, "
        "userId, user, uid; item: item_id, itemId, movieId, item, iid); set data.user_col and data.item_col to the "
        "names of the user and item columns"
    )
    frame = read_delimited(path, user_col="person", item_col="thing", rating_col="stars")
    assert frame.columns.tolist() == ["user_id", "item_id", "rating"]


def test_two_spellings_of_one_column_are_ambiguous(tmp_path: Path) -> None:
    path = tmp_path / "ratings.csv"
    path.write_text("user_id,UserId,item\n1,2,3\n")
    with pytest.raises(DataError, match=r"columns 'user_id' and 'UserId' could both be the user column; set data"):
        read_delimited(path)


def test_unset_optional_column_is_not_read(tmp_path: Path) -> None:
    path = tmp_path / "ratings.csv"
    path.write_text("user_id,item_id,rating,timestamp\n1,2,3.0,4\n")
    frame = read_interactions(path, DataConfig(interactions=str(path), rating_col="", timestamp_col=""))
    assert frame.columns.tolist() == ["user_id", "item_id"]


@pytest.mark.parametrize("sep", [";", "\t", "|", ","])
def test_separator_is_sniffed_from_the_header(tmp_path: Path, sep: str) -> None:
    path = tmp_path / "ratings.csv"
    path.write_text(sep.join(["user_id", "item_id", "rating"]) + "\n" + sep.join(["1", "2", "3.5"]) + "\n")
    frame = read_interactions(path, DataConfig(interactions=str(path)))
    assert frame.to_dict("records") == [{"user_id": 1, "item_id": 2, "rating": 3.5}]
