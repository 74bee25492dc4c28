"""The [data] config section (it lives in the torch-free graphrec.config.sections; re-exported here)."""

from graphrec.config.sections import DataConfig

__all__ = ["DataConfig"]
