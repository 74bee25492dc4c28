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
