"""When to draw a progress bar: forced on or off by a setting, otherwise only when stderr is a terminal (a bar
redrawn with carriage returns fills a log file or a CI log with one line per update)."""

from __future__ import annotations

import sys
from typing import TextIO


def progress_shown(setting: bool | None, stream: TextIO | None = None) -> bool:
    """`setting` True or False forces the bar on or off; None draws it only when `stream` (stderr) is a terminal."""
    if setting is not None:
        return setting
    stream = sys.stderr if stream is None else stream
    isatty = getattr(stream, "isatty", None)
    return bool(isatty is not None and isatty())
