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


def _listed(columns: list[str]) -> str:
    listed = ", ".join(value_text(c) for c in columns[:_LISTED_COLUMNS])
    if len(columns) > _LISTED_COLUMNS:
        listed += f", … ({len(columns)} in all)"
    return listed


def _missing_column(name: str, column: str, columns: list[str], setting: str, kind: str) -> DataError:
    return DataError(
        f"{name}: column {show(column)} not found (columns are: {_listed(columns)}); "
        f"set data.{setting} to the name of the {kind} column"
    )


# The spellings each column is detected by when its data.*_col is unset, in order of preference. A header name is
# compared lower-cased, without '_', '-', ' ' and a RecBole ':type' suffix: 'userId', 'user_id:token', 'USER ID' match.
SPELLINGS: dict[str, tuple[str, ...]] = {
    "user_id": ("user_id", "userId", "user", "uid"),
    "item_id": ("item_id", "itemId", "movieId", "item", "iid"),
    "rating": ("rating", "score"),
    "timestamp": ("timestamp", "time", "ts"),
}


def column_spelling(column: str) -> str:
    """`column` as detection compares it: lower-cased, without separators and a RecBole type suffix."""
    return re.sub(r"[\s_-]", "", column.split(":", 1)[0]).lower()


def _detect(available: list[str], key: str, taken: set[str], name: str) -> str | None:
    """The one column of `available` spelled as a `key` column (first spelling that matches), None when none is."""
    for spelling in SPELLINGS[key]:
        found = list(
            dict.fromkeys(c for c in available if c not in taken and column_spelling(c) == column_spelling(spelling))
        )
        if len(found) > 1:
            setting = f"{key.removesuffix('_id')}_col"
            raise DataError(
                f"{name}: columns {show(found[0])} and {show(found[1])} could both be the "
                f"{key.removesuffix('_id')} column; set data.{setting} to the one to use"
            )
        if found:
            return found[0]
    return None


def _undetected(name: str, missing: list[str], available: list[str]) -> DataError:
    """One error for the id columns detection did not find, listing the file's columns and the spellings looked for."""
    kinds = " or ".join(key.removesuffix("_id") for key in missing)
    looked_for = "; ".join(f"{key.removesuffix('_id')}: {', '.join(SPELLINGS[key])}" for key in missing)
    settings = " and ".join(f"data.{key.removesuffix('_id')}_col" for key in missing)
    return DataError(
        f"{name}: no {kinds} column found (columns are: {_listed(available)}; looked for {looked_for}); "
        f"set {settings} to the name{'s' if len(missing) > 1 else ''} of the "
        f"{' and '.join(key.removesuffix('_id') for key in missing)} column{'s' if len(missing) > 1 else ''}"
    )


def _select_columns(
    available: list[str],
    name: str,
    user_col: str | None,
    item_col: str | None,
    rating_col: str | None,
    timestamp_col: str | None,
) -> dict[str, str | None]:
    """Map our column names to the file's. A column given as None is detected from its common spellings (required
    ones must be found); '' is not read; a named optional column that is absent is skipped."""
    wanted = {"user_id": user_col, "item_id": item_col, "rating": rating_col, "timestamp": timestamp_col}
    for key, kind in (("user_id", "user"), ("item_id", "item")):
        column = wanted[key]
        if column is not None and column not in available:
            raise _missing_column(name, column, available, f"{kind}_col", kind)
    selected: dict[str, str | None] = {key: None for key in wanted}
    detected: dict[str, str] = {}
    taken = {c for c in wanted.values() if c}
    for key, column in wanted.items():
        if column is None:
            found = _detect(available, key, taken, name)
            if found is not None:
                detected[key], selected[key] = found, found
                taken.add(found)
        elif column and column in available:
            selected[key] = column
        elif column:
            logger.debug("%s: optional column '%s' absent; not read", name, column)
    missing = [key for key in ("user_id", "item_id") if selected[key] is None]
    if missing:
        raise _undetected(name, missing, available)
    if detected:
        shown = ", ".join(f"{key.removesuffix('_id')} {show(column)}" for key, column in detected.items())
        logger.info("%s: columns detected: %s (set data.user_col etc. to choose others)", name, shown)
    _check_distinct(selected, name)
    return selected


def _check_distinct(selected: dict[str, str | None], name: str) -> None:
    """ConfigError when two of our columns name the same column of the file."""
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
    user_col: str | None = None,
    item_col: str | None = None,
    rating_col: str | None = None,
    timestamp_col: str | None = None,
    sep: str | None = None,
) -> pd.DataFrame:
    """Read a CSV/TSV file with a header row; `sep` None: sniffed from the header line (see sniff_separator).
    A column given as None is detected from its common spellings (SPELLINGS); rating or timestamp '' is not read."""
    path = _require_file(path)
    if sep is None:
        sep = sniff_separator(path)
    header = _read_header(path, sep)
    return _read_text_table(path, sep, header, header, (user_col, item_col, rating_col, timestamp_col))


_SEPARATORS = (",", "\t", ";", "|")
_SNIFFED_BYTES = 65_536


def sniff_separator(path: Path) -> str:
    """The separator of a delimited file: whichever of ',', tab, ';' and '|' its header line holds most often; when
    it holds none (one column), ',' for .csv and a tab for .tsv / .inter / .tab."""
    default = "\t" if path.suffix.lower() in (".tsv", ".inter", ".tab") else ","
    with path.open("rb") as handle:
        head = handle.read(_SNIFFED_BYTES)
    header = head.removeprefix(_UTF8_BOM).split(b"\n", 1)[0].decode("utf-8", errors="replace")
    counts = {sep: header.count(sep) for sep in _SEPARATORS}
    best = max(_SEPARATORS, key=lambda sep: (counts[sep], sep == default))
    sep = best if counts[best] else default
    if sep != default:
        logger.info(
            "%s: separator %s sniffed from the header line (set data.sep to choose another)", path.name, _separator(sep)
        )
    return sep


def read_parquet(
    path: str | Path,
    user_col: str | None = None,
    item_col: str | None = None,
    rating_col: str | None = None,
    timestamp_col: str | None = None,
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
    user_col: str | None = None,
    item_col: str | None = None,
    rating_col: str | None = None,
    timestamp_col: str | None = None,
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
    path: Path,
    sep: str,
    header: list[str],
    names: list[str],
    wanted: tuple[str | None, str | None, str | None, str | None],
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
    rating_col, timestamp_col = config.rating_col, config.timestamp_col
    if fmt == "lightgcn":
        frame = read_lightgcn_txt(path)
    elif fmt == "parquet":
        frame = read_parquet(path, user_col, item_col, rating_col, timestamp_col)
    elif fmt == "recbole":
        frame = read_recbole_inter(path, user_col, item_col, rating_col, timestamp_col)
    else:
        sep = (
            config.sep
            if config.sep is not None
            else "\t"
            if config.format == "tsv"
            else sniff_separator(_require_file(path))
        )
        frame = read_delimited(path, user_col, item_col, rating_col, timestamp_col, sep=sep)
    logger.info("read %d interactions from %s (%s)", len(frame), path, fmt)
    return frame
