"""Column checks shared by the table readers (CSV/TSV, RecBole ``.inter``, Parquet): ids, ratings and timestamps.

Every check is vectorised (the readers handle millions of rows); only the error path looks at single values, to name
the first bad row. Ids are read exactly: integers become int64 only when every value is an exact integer in the
int64 range, anything else stays a string id (logged), and nothing is ever rounded, wrapped or merged.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd

from graphrec.errors import DataError

logger = logging.getLogger(__name__)

INT64_MAX = 2**63 - 1
_INT_PATTERN = r"0|-?[1-9][0-9]*"  # ASCII digits, no leading zeros and no '-0': '007' stays a string, distinct from '7'
_SHOWN_CHARS = 40


def value_text(value: Any, limit: int = _SHOWN_CHARS) -> str:
    """`value` as text inside a one-line message: arrays as lists, every non-printable character escaped (stricter than
    graphrec.errors.one_line, which escapes a whole message's control characters), long values cut."""
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if isinstance(value, bytes):
        value = value.decode("utf-8", errors="backslashreplace")
    text = str(value)
    if not text.isprintable():
        text = "".join(c if c.isprintable() else ascii(c)[1:-1] for c in text)
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return text


def show(value: Any, limit: int = _SHOWN_CHARS) -> str:
    """`value` quoted for a one-line message (see value_text)."""
    return f"'{value_text(value, limit)}'"


def where(kind: str, row: int) -> str:
    """'line N' (text tables: header is line 1, first data row line 2) or 'row N' (Parquet, 1-based)."""
    return f"line {row + 2}" if kind == "line" else f"row {row + 1}"


def _needs(kind: str) -> str:
    return f"every row needs {'an' if kind[0] in 'aeiou' else 'a'} {kind} id"


def _first(mask: np.ndarray) -> int:
    return int(np.flatnonzero(mask)[0])


def first_true(mask: pd.Series) -> int | None:
    """The position of the first True of `mask`, or None; asks pandas first (cheap on Arrow-backed strings)."""
    if not mask.any():
        return None
    return _first(mask.to_numpy(dtype=bool, na_value=False))


def _non_scalar_rows(values: pd.Series) -> np.ndarray | None:
    """A mask of the values that are lists, arrays, dicts or other containers (Parquet list/struct columns), or None
    when the column holds only scalars (the fast, common case: decided by pandas' C type inference)."""
    if values.dtype != object or pd.api.types.infer_dtype(values, skipna=True) != "mixed":
        return None
    mask = values.map(lambda v: isinstance(v, (list, tuple, dict, set, np.ndarray)))
    return mask.to_numpy(dtype=bool) if mask.any() else None


def normalise_ids(values: pd.Series, kind: str, name: str, at: str) -> pd.Series:
    """Integer ids as int64 when every value is an exact integer in the int64 range; otherwise string ids.

    Missing, empty, non-finite (±inf), container-valued and NUL-containing ids raise DataError naming the row."""
    missing = values.isna().to_numpy()
    if missing.any():
        raise DataError(f"{where(at, _first(missing))} of {name}: {kind} id is missing; {_needs(kind)}")
    if pd.api.types.is_bool_dtype(values.dtype):
        return values.astype(str)
    if pd.api.types.is_integer_dtype(values.dtype):
        if pd.api.types.is_unsigned_integer_dtype(values.dtype) and len(values) and int(values.max()) > INT64_MAX:
            _log_strings(values, values.to_numpy() > INT64_MAX, kind, name, at, "integers beyond the int64 range")
            return values.astype(str)  # the exact decimal digits: no wrap-around to negative ids
        return values.astype(np.int64)
    if pd.api.types.is_float_dtype(values.dtype):
        return _float_ids(values, kind, name, at)
    bad = _non_scalar_rows(values)
    if bad is not None:
        row = _first(bad)
        raise DataError(
            f"{where(at, row)} of {name}: {kind} id {show(values.iloc[row])} is a list or record, not an id; "
            f"ids must be integers or strings; set data.{kind}_col to the right column"
        )
    strings = values.astype(str).str.strip()
    if strings.str.fullmatch(_INT_PATTERN).all():  # no blank and no NUL either: skip those checks
        try:
            return strings.astype(np.int64)
        except (ValueError, OverflowError):
            return strings  # integers beyond int64 stay strings, digit for digit
    blank = first_true(strings == "")
    if blank is not None:
        raise DataError(f"{where(at, blank)} of {name}: {kind} id is missing (blank); {_needs(kind)}")
    nul = first_true(strings.str.contains("\x00", regex=False))
    if nul is not None:
        raise DataError(
            f"{where(at, nul)} of {name}: {kind} id {show(strings.iloc[nul])} contains a NUL character; "
            "ids cannot hold NUL (a UTF-16 or binary file? save it as UTF-8 text)"
        )
    return strings


def _float_ids(values: pd.Series, kind: str, name: str, at: str) -> pd.Series:
    """Float ids (Parquet double columns): int64 only when all are whole numbers in range, never via a lossy cast."""
    arr = values.to_numpy(dtype=np.float64)
    infinite = ~np.isfinite(arr)
    if infinite.any():
        row = _first(infinite)
        raise DataError(
            f"{where(at, row)} of {name}: {kind} id {show(arr[row])} is not a finite number; "
            "ids must be integers or strings; fix the row"
        )
    # -2**63 and 2**63 are exact doubles: whole numbers in [-2**63, 2**63) cast to int64 without loss.
    in_range = (arr >= -(2.0**63)) & (arr < 2.0**63) & (arr == np.trunc(arr))
    if in_range.all():
        return pd.Series(arr.astype(np.int64), index=values.index)
    _log_strings(values, ~in_range, kind, name, at, "floats that are not whole numbers in the int64 range")
    return values.astype(str)  # the shortest repr of each double: distinct values stay distinct ids


def _log_strings(values: pd.Series, odd: np.ndarray, kind: str, name: str, at: str, what: str) -> None:
    row = _first(odd)
    logger.warning(
        "%s: %s ids include %s (first: %s at %s); all %s ids of this file are read as strings",
        name,
        kind,
        what,
        show(values.iloc[row]),
        where(at, row),
        kind,
    )


def numeric_column(values: pd.Series, label: str, name: str, at: str, fix: str) -> pd.Series:
    """A float/int column; NaN, ±inf, non-numbers, lists and negative values raise DataError naming the first bad
    row; integers beyond int64 too."""
    bad_rows = _non_scalar_rows(values)
    if bad_rows is not None:
        row = _first(bad_rows)
        raise DataError(f"{where(at, row)} of {name}: {label} {show(values.iloc[row])} is not a number; {fix}")
    numeric = pd.to_numeric(values, errors="coerce")
    arr = numeric.to_numpy(dtype=np.float64, na_value=np.nan)
    bad = ~np.isfinite(arr) | (arr < 0)
    wrapped = pd.api.types.is_unsigned_integer_dtype(numeric.dtype) and len(arr) and int(numeric.max()) > INT64_MAX
    if wrapped:
        bad |= numeric.to_numpy() > INT64_MAX
    if bad.any():
        row = _first(bad)
        raw = values.iloc[row]
        shown = "missing (NaN)" if pd.isna(raw) else show(raw)
        if np.isnan(arr[row]):
            problem = "is not a number"
        elif np.isinf(arr[row]):
            problem = "is not a finite number"
        elif arr[row] < 0:
            problem = "is negative"
        else:
            problem = "does not fit in 64 bits"
        raise DataError(f"{where(at, row)} of {name}: {label} {shown} {problem}; {fix}")
    if pd.api.types.is_integer_dtype(numeric.dtype):
        return numeric.astype(np.int64)
    return numeric.astype(np.float64)


_TIMESTAMP_FIX = (
    "timestamps must be non-negative numbers or dates; fix the row or set data.timestamp_col to the right column"
)


def timestamp_column(values: pd.Series, name: str, at: str) -> pd.Series:
    """Numeric timestamps as they are; dates (strings or datetime columns) become Unix seconds, at any year."""
    if not (pd.api.types.is_numeric_dtype(values.dtype) or pd.api.types.is_datetime64_any_dtype(values.dtype)):
        if _non_scalar_rows(values) is None and pd.to_numeric(values, errors="coerce").isna().all():
            parsed = _parse_dates(values, name, at)
            not_dates = parsed.isna().to_numpy()
            if not not_dates.all():  # a column of dates (no value is a number): each row must be a date
                if not_dates.any():
                    row = _first(not_dates)
                    raw = values.iloc[row]
                    shown = "missing (NaN)" if pd.isna(raw) else show(raw)
                    raise DataError(f"{where(at, row)} of {name}: timestamp {shown} is not a date; {_TIMESTAMP_FIX}")
                values = parsed
    if pd.api.types.is_datetime64_any_dtype(values.dtype):
        missing = values.isna().to_numpy()
        if missing.any():
            raise DataError(
                f"{where(at, _first(missing))} of {name}: timestamp missing (NaT) is not a date; {_TIMESTAMP_FIX}"
            )
        if getattr(values.dtype, "tz", None) is not None:
            values = values.dt.tz_convert("UTC").dt.tz_localize(None)
        # Seconds straight from the column's own unit: no detour through nanoseconds, so no 1677-2262 limit.
        seconds = values.to_numpy().astype("datetime64[s]").astype(np.int64)
        return pd.Series(seconds, index=values.index)
    return numeric_column(values, "timestamp", name, at, _TIMESTAMP_FIX)


def _parse_dates(values: pd.Series, name: str, at: str) -> pd.Series:
    """`values` parsed as dates (NaT where not a date); a date pandas cannot represent raises DataError."""
    try:
        parsed = pd.to_datetime(values, errors="coerce", utc=True, format="mixed")
    except (pd.errors.OutOfBoundsDatetime, OverflowError):
        pass
    else:
        # pandas reads 'now' and 'today' as the time of reading: not a date of the file, so not a date at all.
        relative = values.astype(str).str.strip().str.lower().isin(["now", "today"]).to_numpy(dtype=bool)
        return parsed.mask(relative) if relative.any() else parsed
    for row, value in enumerate(values):  # error path only: find the date that is out of range
        try:
            pd.to_datetime(value, utc=True, format="mixed")
        except (pd.errors.OutOfBoundsDatetime, OverflowError):
            raise DataError(
                f"{where(at, row)} of {name}: timestamp {show(value)} is a date out of the supported range; "
                "give it as Unix seconds or fix the row"
            ) from None
        except (ValueError, TypeError):
            continue
    raise DataError(f"{name}: the timestamps cannot be parsed as dates; {_TIMESTAMP_FIX}")
