"""Readers turning interaction files into one DataFrame shape.

Every reader returns a DataFrame with columns ``user_id`` and ``item_id`` (int64 when every value is an exact integer
in the int64 range, else str) and, where the file has them, ``rating`` (float64) and ``timestamp`` (int64 or float64).
Bad input raises :class:`~graphrec.errors.DataError` naming the file, the line (or row) and the fix; a missing file
raises :class:`~graphrec.errors.DataFileNotFoundError` naming the path.
"""

from __future__ import annotations

import logging
import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from graphrec.config.sections import DataConfig
from graphrec.data._columns import (
    INT64_MAX,
    first_true,
    normalise_ids,
    numeric_column,
    show,
    timestamp_column,
    value_text,
    where,
)
from graphrec.errors import ConfigError, DataError, DataFileNotFoundError, collapsed

logger = logging.getLogger(__name__)

LIGHTGCN_HINT = "the LightGCN format is 'user item item …'"
LIGHTGCN_SPACED = "the LightGCN format is space separated 'user item item …'"
_TABLE_HINT = "it needs a header and one row per interaction"
_EXTENSIONS = {".txt": "lightgcn", ".csv": "csv", ".tsv": "tsv", ".parquet": "parquet", ".inter": "recbole"}
FORMATS = ("lightgcn", "csv", "tsv", "parquet", "recbole")
_LISTED_COLUMNS = 30  # a missing-column error lists at most this many of the file's columns


def _require_file(path: str | Path) -> Path:
    path = Path(path)
    if not path.is_file():
        what = "is a directory, not a file" if path.is_dir() else "does not exist"
        raise DataFileNotFoundError(f"interactions file '{path}' {what}; check the path")
    return path


# --------------------------------------------------------------------------------------------- LightGCN text

# ASCII digits and the whitespace bytes.split() splits on: a file made only of these needs no per-token checks.
_LIGHTGCN_BYTES = b"0123456789 \t\n\r\x0b\x0c"
_UTF8_BOM = b"\xef\xbb\xbf"


def read_lightgcn_txt(path: str | Path) -> pd.DataFrame:
    """Read a LightGCN file: one line per user, ``user item item …``, separated by spaces (or tabs).

    Ids are non-negative integers in ASCII digits. Blank lines are skipped; a line holding only a user id (no items)
    is skipped too, counted and logged as a warning. Anything else raises DataError naming the line.
    """
    path = _require_file(path)
    data = path.read_bytes()
    if data.startswith(_UTF8_BOM):
        data = data[len(_UTF8_BOM) :]
    lines = data.splitlines()
    if data.translate(None, _LIGHTGCN_BYTES):  # a byte that is neither a digit nor whitespace
        _raise_lightgcn_error(path, lines)
    users: list[bytes] = []
    counts: list[int] = []
    items: list[bytes] = []
    itemless = 0
    for line in lines:
        tokens = line.split()
        if len(tokens) > 1:
            users.append(tokens[0])
            counts.append(len(tokens) - 1)
            items.extend(tokens[1:])
        elif tokens:
            itemless += 1
    if itemless:
        first = next(n for n, line in enumerate(lines, start=1) if len(line.split()) == 1)
        logger.warning(
            "%s: skipped %d line(s) holding a user id and no items (first: line %d); those users have no "
            "interactions in this file",
            path.name,
            itemless,
            first,
        )
    if not items:
        raise DataError(f"{path.name} is empty: no interactions found; {LIGHTGCN_HINT}")
    try:
        user_arr = np.fromiter(map(int, users), dtype=np.int64, count=len(users))
        item_arr = np.fromiter(map(int, items), dtype=np.int64, count=len(items))
    except (ValueError, OverflowError):
        _raise_lightgcn_error(path, lines)
        raise  # unreachable: the scan above always finds the bad token
    frame = pd.DataFrame({"user_id": np.repeat(user_arr, counts), "item_id": item_arr})
    logger.debug("read %d interactions of %d users from %s", len(frame), len(users), path)
    return frame


def _raise_lightgcn_error(path: Path, lines: list[bytes]) -> None:
    """Slow path: find the first line that is not UTF-8, is comma separated, or has a token that is not an id."""
    for number, line in enumerate(lines, start=1):
        at = f"line {number} of {path.name}"
        try:
            line.decode("utf-8")
        except UnicodeDecodeError as exc:
            byte = line[exc.start]
            raise DataError(
                f"{at} is not UTF-8 text (byte 0x{byte:02x} at column {exc.start + 1}); ids are ASCII digits "
                f"and {LIGHTGCN_HINT}"
            ) from None
        if b"," in line:
            raise DataError(f"{at}: {show(line)} is comma separated; {LIGHTGCN_SPACED}")
        for position, token in enumerate(line.split()):
            kind = "user" if position == 0 else "item"
            if token.isdigit():  # bytes.isdigit: ASCII 0-9 only (not '+5', '1_0' or full-width digits)
                if len(token.lstrip(b"0")) > 19 or int(token) > INT64_MAX:  # (int() refuses 4,300+ digits)
                    raise DataError(f"{at}: {kind} id {show(token)} does not fit in 64 bits; {LIGHTGCN_HINT}")
                continue
            problem = "is negative" if token[:1] == b"-" and token[1:].isdigit() else "is not an integer"
            raise DataError(f"{at}: {kind} id {show(token)} {problem}; {LIGHTGCN_HINT}")


# --------------------------------------------------------------------------------------------- tables


def _frame_from_table(raw: pd.DataFrame, name: str, columns: dict[str, str | None], at: str) -> pd.DataFrame:
    """Validate and normalise the selected columns of a table read from `name`."""
    if len(raw) == 0:
        raise DataError(f"{name} is empty: no interactions found; {_TABLE_HINT}")
    out = {
        "user_id": normalise_ids(raw[columns["user_id"]], "user", name, at),
        "item_id": normalise_ids(raw[columns["item_id"]], "item", name, at),
    }
    if columns.get("rating") is not None:
        fix = "ratings must be non-negative numbers; fix or remove the row, or set data.rating_col to the right column"
        out["rating"] = numeric_column(raw[columns["rating"]], "rating", name, at, fix).astype(np.float64)
    if columns.get("timestamp") is not None:
        out["timestamp"] = timestamp_column(raw[columns["timestamp"]], name, at)
    frame = pd.DataFrame(out).reset_index(drop=True)
    logger.debug("read %d interactions (columns %s) from %s", len(frame), list(frame.columns), name)
    return frame


def _missing_column(name: str, column: str, columns: list[str], setting: str, kind: str) -> DataError:
    listed = ", ".join(value_text(c) for c in columns[:_LISTED_COLUMNS])
    if len(columns) > _LISTED_COLUMNS:
        listed += f", … ({len(columns)} in all)"
    return DataError(
        f"{name}: column {show(column)} not found (columns are: {listed}); "
        f"set data.{setting} to the name of the {kind} column"
    )


def _select_columns(
    available: list[str],
    name: str,
    user_col: str,
    item_col: str,
    rating_col: str | None,
    timestamp_col: str | None,
) -> dict[str, str | None]:
    """Map our column names to the file's; required ones must exist, optional absent ones are skipped."""
    if user_col not in available:
        raise _missing_column(name, user_col, available, "user_col", "user")
    if item_col not in available:
        raise _missing_column(name, item_col, available, "item_col", "item")
    selected: dict[str, str | None] = {"user_id": user_col, "item_id": item_col, "rating": None, "timestamp": None}
    for key, column in (("rating", rating_col), ("timestamp", timestamp_col)):
        if column and column in available:
            selected[key] = column
        elif column:
            logger.debug("%s: optional column '%s' absent; not read", name, column)
    settings: dict[str, str] = {}
    for key, column in selected.items():
        setting = f"{key.removesuffix('_id')}_col"
        if column is not None and column in settings:
            unset = f", or set data.{setting} = '' to not read it" if key in ("rating", "timestamp") else ""
            raise ConfigError(
                f"data.{settings[column]} and data.{setting} both name column {show(column)} of {name}; "
                f"each must name its own column{unset}"
            )
        if column is not None:
            settings[column] = setting
    return selected


def _read_header(path: Path, sep: str) -> list[str]:
    return [str(c) for c in _read_csv(path, sep, nrows=0).columns]


def _read_csv(path: Path, sep: str, **options: object) -> pd.DataFrame:
    """pandas.read_csv with its exceptions turned into DataErrors naming the file and, where known, the line."""
    try:
        return pd.read_csv(path, sep=sep, **options)
    except UnicodeDecodeError:
        raise _not_utf8(path) from None
    except pd.errors.EmptyDataError:
        raise DataError(f"{path.name} is empty: no interactions found; {_TABLE_HINT}") from None
    except pd.errors.ParserError as exc:
        raise _parser_error(path, sep, exc) from None


def _not_utf8(path: Path) -> DataError:
    """The first line of `path` that is not UTF-8 (slow path, only after a UnicodeDecodeError)."""
    with path.open("rb") as handle:
        for number, line in enumerate(handle, start=1):
            try:
                line.decode("utf-8")
            except UnicodeDecodeError as exc:
                return DataError(
                    f"line {number} of {path.name} is not UTF-8 text (byte 0x{line[exc.start]:02x} at column "
                    f"{exc.start + 1}); save the file as UTF-8"
                )
    return DataError(f"{path.name} is not UTF-8 text; save the file as UTF-8")


def _separator(sep: str) -> str:
    return "a tab" if sep == "\t" else f"'{sep}'"


def _parser_error(path: Path, sep: str, exc: Exception) -> DataError:
    text = collapsed(exc)  # pandas' message spans lines
    fields = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", text)
    if fields:
        expected, line, saw = fields.groups()
        return DataError(
            f"line {line} of {path.name} has {saw} fields where the rows before have {expected}; "
            f"quote the fields that contain {_separator(sep)}, or fix the row"
        )
    quote = re.search(r"EOF inside string starting at row (\d+)", text)
    if quote:
        return DataError(
            f"line {int(quote.group(1)) + 1} of {path.name}: a quoted field is never closed (a '\"' without its "
            "pair); close the quote or remove it"
        )
    return DataError(f"{path.name} cannot be read as a table ({text}); {_TABLE_HINT}")


def read_delimited(
    path: str | Path,
    user_col: str = "user_id",
    item_col: str = "item_id",
    rating_col: str | None = "rating",
    timestamp_col: str | None = "timestamp",
    sep: str | None = None,
) -> pd.DataFrame:
    """Read a CSV/TSV file with a header row; `sep` None means ',' for .csv and a tab for .tsv/.inter."""
    path = _require_file(path)
    if sep is None:
        sep = "\t" if path.suffix.lower() in (".tsv", ".inter", ".tab") else ","
    header = _read_header(path, sep)
    return _read_text_table(path, sep, header, header, (user_col, item_col, rating_col, timestamp_col))


def read_parquet(
    path: str | Path,
    user_col: str = "user_id",
    item_col: str = "item_id",
    rating_col: str | None = "rating",
    timestamp_col: str | None = "timestamp",
) -> pd.DataFrame:
    """Read a Parquet file; errors name the (1-based) row."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = _require_file(path)
    try:
        available = [str(c) for c in pq.read_schema(path).names]
    except Exception as exc:  # noqa: BLE001 - pyarrow raises its own error types for non-Parquet bytes
        raise _not_parquet(path, exc) from None
    columns = _select_columns(available, path.name, user_col, item_col, rating_col, timestamp_col)
    used = [c for c in columns.values() if c is not None]
    for column in used:
        if available.count(column) > 1:
            raise DataError(
                f"{path.name} has {available.count(column)} columns named {show(column)}; "
                "rename them so that every column name is unique"
            )
    try:
        raw = pd.read_parquet(path, columns=used)
    except (pa.ArrowException, OSError, ValueError) as exc:  # corrupt pages, unsupported types
        raise _not_parquet(path, exc) from None
    return _frame_from_table(raw, path.name, columns, "row")


def _not_parquet(path: Path, exc: Exception) -> DataError:
    problem = show(collapsed(exc), limit=160)  # pyarrow's messages span lines
    return DataError(
        f"{path.name} is not a readable Parquet file ({type(exc).__name__}: {problem}); "
        "write it again, e.g. with pandas.DataFrame.to_parquet"
    )


def read_recbole_inter(
    path: str | Path,
    user_col: str = "user_id",
    item_col: str = "item_id",
    rating_col: str | None = "rating",
    timestamp_col: str | None = "timestamp",
) -> pd.DataFrame:
    """Read a RecBole atomic ``.inter`` file: tab-separated, header fields ``name:type`` (the ``:type`` is dropped)."""
    path = _require_file(path)
    header = _read_header(path, "\t")
    names = [h.split(":", 1)[0].strip() for h in header]
    return _read_text_table(path, "\t", header, names, (user_col, item_col, rating_col, timestamp_col))


def _first_row_is_longer(path: Path, sep: str, header: list[str]) -> bool:
    """Whether the first data row has more fields than the header: pandas would silently take the extra ones as
    an index and shift every column. Non-empty extra fields raise DataError; empty ones (a trailing separator)
    return True."""
    first = _read_csv(path, sep, nrows=1, dtype=str, keep_default_na=False)
    if isinstance(first.index, pd.RangeIndex):
        return False
    with warnings.catch_warnings(record=True) as caught:  # index_col=False warns when it drops non-empty fields
        warnings.simplefilter("always", pd.errors.ParserWarning)
        _read_csv(path, sep, nrows=1, dtype=str, keep_default_na=False, na_values=[""], index_col=False)
    if any("does not match length of data" in str(w.message) for w in caught):
        raise DataError(
            f"line 2 of {path.name} has more fields than the header's {len(header)}; "
            f"quote the fields that contain {_separator(sep)}, or name every column in the header"
        )
    return True


def _read_text_table(
    path: Path, sep: str, header: list[str], names: list[str], wanted: tuple[str, str, str | None, str | None]
) -> pd.DataFrame:
    """Read the wanted columns of a delimited file whose header fields `header` are known as `names`."""
    columns = _select_columns(names, path.name, *wanted)
    original = dict(zip(names, header, strict=True))
    user, item = original[str(columns["user_id"])], original[str(columns["item_id"])]
    # Every column is read (no usecols): with usecols pandas silently drops a later row's extra fields; without,
    # it raises the ParserError that _read_csv turns into a DataError naming the line.
    options: dict[str, object] = {"dtype": {user: str, item: str}, "keep_default_na": False, "na_values": [""]}
    if _first_row_is_longer(path, sep, header):
        options["index_col"] = False  # only trailing empty fields: dropped (the option slows pandas down)
    raw = _read_csv(path, sep, **options)
    same_user = raw[user] == user
    repeated = first_true(same_user & (raw[item] == item)) if same_user.any() else None
    if repeated is not None:
        raise DataError(
            f"{where('line', repeated)} of {path.name} repeats the header row; remove it "
            "(files joined with cat keep each file's header)"
        )
    used = [original[c] for c in columns.values() if c is not None]
    raw = raw[used].set_axis([c for c in columns.values() if c is not None], axis=1)
    return _frame_from_table(raw, path.name, columns, "line")


# --------------------------------------------------------------------------------------------- dispatch


def detect_format(path: str | Path, fmt: str = "auto") -> str:
    """The reader to use for `path`: `fmt` itself unless 'auto', then chosen by the file extension."""
    if fmt != "auto":
        if fmt not in FORMATS:
            raise ConfigError(f"data.format = '{fmt}' is not supported; choose one of: auto, {', '.join(FORMATS)}")
        return fmt
    suffix = Path(path).suffix.lower()
    if suffix not in _EXTENSIONS:
        supported = ".txt (LightGCN 'user item item …'), .csv, .tsv, .parquet, .inter (RecBole)"
        raise DataError(
            f"{Path(path).name}: unknown interactions format '{suffix or '(no extension)'}'; "
            f"supported formats are {supported}; rename the file or set data.format"
        )
    return _EXTENSIONS[suffix]


def read_interactions(path: str | Path, config: DataConfig) -> pd.DataFrame:
    """Read one interactions file as `config` describes it (format, column names, separator)."""
    fmt = detect_format(path, config.format)
    user_col, item_col = config.user_col, config.item_col
    rating_col, timestamp_col = config.rating_col or None, config.timestamp_col or None
    if fmt == "lightgcn":
        frame = read_lightgcn_txt(path)
    elif fmt == "parquet":
        frame = read_parquet(path, user_col, item_col, rating_col, timestamp_col)
    elif fmt == "recbole":
        frame = read_recbole_inter(path, user_col, item_col, rating_col, timestamp_col)
    else:
        sep = config.sep if config.sep is not None else ("\t" if fmt == "tsv" else ",")
        frame = read_delimited(path, user_col, item_col, rating_col, timestamp_col, sep=sep)
    logger.info("read %d interactions from %s (%s)", len(frame), path, fmt)
    return frame
