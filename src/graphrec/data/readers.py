"""Readers turning interaction files into one DataFrame shape.

Every reader returns a DataFrame with columns ``user_id`` and ``item_id`` (int64 when the whole column is made of
integers, else str) and, where the file has them, ``rating`` (float64) and ``timestamp`` (int64 or float64).
Bad input raises :class:`~graphrec.errors.DataError` naming the file, the line (or row) and the fix; a missing file
raises :class:`~graphrec.errors.DataFileNotFoundError` naming the path.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from graphrec.config.sections import DataConfig
from graphrec.errors import ConfigError, DataError, DataFileNotFoundError

logger = logging.getLogger(__name__)

LIGHTGCN_HINT = "the LightGCN format is 'user item item …'"
_TABLE_HINT = "it needs a header and one row per interaction"
_INT_PATTERN = r"-?(?:0|[1-9][0-9]*)"  # no leading zeros: '007' stays a string id, distinct from '7'
_EXTENSIONS = {".txt": "lightgcn", ".csv": "csv", ".tsv": "tsv", ".parquet": "parquet", ".inter": "recbole"}
FORMATS = ("lightgcn", "csv", "tsv", "parquet", "recbole")


def _require_file(path: str | Path) -> Path:
    path = Path(path)
    if not path.is_file():
        what = "is a directory, not a file" if path.is_dir() else "does not exist"
        raise DataFileNotFoundError(f"interactions file '{path}' {what}; check the path")
    return path


# --------------------------------------------------------------------------------------------- LightGCN text


def read_lightgcn_txt(path: str | Path) -> pd.DataFrame:
    """Read a LightGCN file: one line per user, ``user item item …``.

    Ids must be integers; blank lines and users without items are skipped.
    """
    path = _require_file(path)
    text = path.read_text(encoding="utf-8")
    users: list[str] = []
    counts: list[int] = []
    items: list[str] = []
    for line in text.splitlines():
        tokens = line.split()
        if len(tokens) > 1:
            users.append(tokens[0])
            counts.append(len(tokens) - 1)
            items.extend(tokens[1:])
    if not items:
        raise DataError(f"{path.name} is empty: no interactions found; {LIGHTGCN_HINT}")
    try:
        user_arr = np.fromiter(map(int, users), dtype=np.int64, count=len(users))
        item_arr = np.fromiter(map(int, items), dtype=np.int64, count=len(items))
    except (ValueError, OverflowError):
        _raise_lightgcn_token_error(path, text)
        raise  # unreachable: the scan above always finds the bad token
    frame = pd.DataFrame({"user_id": np.repeat(user_arr, counts), "item_id": item_arr})
    logger.debug("read %d interactions of %d users from %s", len(frame), len(users), path)
    return frame


def _raise_lightgcn_token_error(path: Path, text: str) -> None:
    """Slow path: find the first token that is not an integer and raise a DataError naming its line."""
    for number, line in enumerate(text.splitlines(), start=1):
        tokens = line.split()
        for position, token in enumerate(tokens):
            try:
                fits = -(2**63) <= int(token) < 2**63
                problem = "does not fit in 64 bits"
            except ValueError:
                fits, problem = False, "is not an integer"
            if not fits:
                kind = "user" if position == 0 else "item"
                raise DataError(f"line {number} of {path.name}: {kind} id '{token}' {problem}; {LIGHTGCN_HINT}")


# --------------------------------------------------------------------------------------------- tables


def _normalise_ids(values: pd.Series, kind: str, name: str, where: str) -> pd.Series:
    """Integer ids as int64 when the whole column is integral; otherwise strings. Missing ids raise DataError."""
    missing = values.isna().to_numpy()
    if missing.any():
        row = int(np.flatnonzero(missing)[0])
        raise DataError(f"{_where(where, row)} of {name}: {kind} id is missing; every row needs a {kind} id")
    if pd.api.types.is_integer_dtype(values.dtype):
        return values.astype(np.int64)
    if pd.api.types.is_float_dtype(values.dtype):
        arr = values.to_numpy(dtype=np.float64)
        if np.all(arr == np.round(arr)):
            return pd.Series(arr.astype(np.int64), index=values.index)
        return values.astype(str)
    strings = values.astype(str).str.strip()
    if strings.str.fullmatch(_INT_PATTERN).all():
        try:
            return strings.astype(np.int64)
        except (ValueError, OverflowError):
            return strings  # integers beyond int64 stay strings
    return strings


def _where(where: str, row: int) -> str:
    """'line N' (CSV: header is line 1, first data row line 2) or 'row N' (Parquet, 1-based)."""
    return f"line {row + 2}" if where == "line" else f"row {row + 1}"


def _numeric_column(values: pd.Series, label: str, name: str, where: str, fix: str) -> pd.Series:
    """A float/int column; NaN, non-numbers and negative values raise DataError naming the first bad row."""
    numeric = pd.to_numeric(values, errors="coerce")
    arr = numeric.to_numpy(dtype=np.float64, na_value=np.nan)
    bad = np.isnan(arr) | (arr < 0)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raw = values.iloc[row]
        shown = "missing (NaN)" if pd.isna(raw) else f"'{raw}'"
        problem = "is negative" if arr[row] < 0 else "is not a number"
        raise DataError(f"{_where(where, row)} of {name}: {label} {shown} {problem}; {fix}")
    if pd.api.types.is_integer_dtype(numeric.dtype):
        return numeric.astype(np.int64)
    return numeric.astype(np.float64)


def _timestamp_column(values: pd.Series, name: str, where: str) -> pd.Series:
    """Numeric timestamps as they are; date strings are parsed and turned into Unix seconds."""
    if not (pd.api.types.is_numeric_dtype(values.dtype) or pd.api.types.is_datetime64_any_dtype(values.dtype)):
        parsed = pd.to_datetime(values, errors="coerce", utc=True, format="mixed")
        if parsed.notna().all() and pd.to_numeric(values, errors="coerce").isna().all():
            values = parsed
    if pd.api.types.is_datetime64_any_dtype(values.dtype):
        utc = pd.to_datetime(values, utc=True)
        seconds = (utc - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(seconds=1)
        return seconds.astype(np.int64)
    fix = "timestamps must be non-negative numbers or dates; fix the row or set data.timestamp_col to the right column"
    return _numeric_column(values, "timestamp", name, where, fix)


def _missing_column(name: str, column: str, columns: list[str], setting: str, kind: str) -> DataError:
    listed = ", ".join(str(c) for c in columns)
    return DataError(
        f"{name}: column '{column}' not found (columns are: {listed}); "
        f"set data.{setting} to the name of the {kind} column"
    )


def _frame_from_table(raw: pd.DataFrame, name: str, columns: dict[str, str | None], where: str) -> pd.DataFrame:
    """Validate and normalise the selected columns of a table read from `name`."""
    if len(raw) == 0:
        raise DataError(f"{name} is empty: no interactions found; {_TABLE_HINT}")
    out = {
        "user_id": _normalise_ids(raw[columns["user_id"]], "user", name, where),
        "item_id": _normalise_ids(raw[columns["item_id"]], "item", name, where),
    }
    if columns.get("rating") is not None:
        fix = "ratings must be non-negative numbers; fix or remove the row, or set data.rating_col to the right column"
        out["rating"] = _numeric_column(raw[columns["rating"]], "rating", name, where, fix).astype(np.float64)
    if columns.get("timestamp") is not None:
        out["timestamp"] = _timestamp_column(raw[columns["timestamp"]], name, where)
    frame = pd.DataFrame(out).reset_index(drop=True)
    logger.debug("read %d interactions (columns %s) from %s", len(frame), list(frame.columns), name)
    return frame


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
    return selected


def _read_header(path: Path, sep: str) -> list[str]:
    try:
        return [str(c) for c in pd.read_csv(path, sep=sep, nrows=0).columns]
    except pd.errors.EmptyDataError:
        raise DataError(f"{path.name} is empty: no interactions found; {_TABLE_HINT}") from None


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
    import pyarrow.parquet as pq

    path = _require_file(path)
    try:
        available = [str(c) for c in pq.read_schema(path).names]
    except Exception as exc:  # noqa: BLE001 - pyarrow raises its own error types for non-Parquet bytes
        raise DataError(
            f"{path.name} is not a readable Parquet file ({exc}); write it with pandas.DataFrame.to_parquet"
        ) from None
    columns = _select_columns(available, path.name, user_col, item_col, rating_col, timestamp_col)
    raw = pd.read_parquet(path, columns=[c for c in columns.values() if c is not None])
    return _frame_from_table(raw, path.name, columns, "row")


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


def _read_text_table(
    path: Path, sep: str, header: list[str], names: list[str], wanted: tuple[str, str, str | None, str | None]
) -> pd.DataFrame:
    """Read the wanted columns of a delimited file whose header fields `header` are known as `names`."""
    columns = _select_columns(names, path.name, *wanted)
    original = dict(zip(names, header, strict=True))
    used = [original[c] for c in columns.values() if c is not None]
    ids = {original[str(columns["user_id"])]: str, original[str(columns["item_id"])]: str}
    raw = pd.read_csv(path, sep=sep, usecols=used, dtype=ids, keep_default_na=False, na_values=[""])
    raw.columns = [names[header.index(c)] for c in raw.columns]
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
