"""All exceptions graphrec raises on bad input.

Each one also subclasses the matching built-in so callers can catch either. Messages follow one grammar:
what was wrong, what was got, how to fix it.
"""

from __future__ import annotations


class GraphrecError(Exception):
    """Base class of every graphrec error."""


class DataError(GraphrecError, ValueError):
    """An input data file is malformed or inconsistent."""


class DataFileNotFoundError(GraphrecError, FileNotFoundError):
    """An input data file or directory does not exist."""


class ConfigError(GraphrecError, ValueError):
    """A configuration value or override is invalid."""


class UnknownNameError(GraphrecError, KeyError):
    """A name (model, loss, sampler, …) is not registered."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0]) if self.args else ""


class UnknownIdError(GraphrecError, KeyError):
    """An external user or item id is not known to the run."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class TrainingError(GraphrecError, ArithmeticError):
    """Training cannot go on: the loss or the model's weights became non-finite (nan or inf)."""


class RunDirError(GraphrecError, FileNotFoundError):
    """A run directory is missing or lacks an expected artifact."""


class RunDirCorruptError(RunDirError, ValueError):
    """An artifact of a run directory exists but cannot be read (truncated, not UTF-8, not JSON, not safetensors) or
    does not match the others (id counts, tensor shapes, the config). A RunDirError, so callers handling a missing
    run handle a damaged one too; also a ValueError (the content is wrong, not the path)."""


class UnsupportedError(GraphrecError, TypeError):
    """The model does not have a capability the operation needs (e.g. exporting embeddings of a model that only
    scores)."""


class DatasetDownloadError(GraphrecError, ConnectionError):
    """A public dataset could not be downloaded (offline, host unreachable, HTTP error); the message says which
    files to put where by hand."""


class ServiceUnavailableError(GraphrecError, RuntimeError):
    """The service cannot take a write now (its event log is locked by another process or cannot be written, or the
    write queue is full); answered 503 with ``Retry-After``. Nothing of the write was kept."""

    def __init__(self, message: str, retry_after_s: int = 1) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


# Line breaks and other control characters, written as Python escapes (what repr() writes inside its quotes).
_ESCAPES = {c: repr(chr(c))[1:-1] for c in (*range(0x20), *range(0x7F, 0xA0), 0x2028, 0x2029)}


def one_line(message: str) -> str:
    """`message` with line breaks and control characters escaped (\\n, \\r, \\x00, …): a message that embeds a raw
    value stays one line. Printable text, non-ASCII letters included, is kept as it is."""
    return message.translate(_ESCAPES)


def collapsed(text: object, limit: int | None = None) -> str:
    """`str(text)` with every run of whitespace (line breaks included) made one space, cut to `limit` characters:
    a library's multi-line exception message as one readable line inside ours."""
    flat = " ".join(str(text).split())
    return flat if limit is None else flat[:limit]
