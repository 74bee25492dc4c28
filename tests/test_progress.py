"""Progress bars: forced on or off by the setting, otherwise only on a terminal."""

from __future__ import annotations

import io

import pytest

from graphrec.progress import progress_shown


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(
    ("setting", "stream", "shown"),
    [(None, io.StringIO(), False), (None, _Terminal(), True), (True, io.StringIO(), True), (False, _Terminal(), False)],
)
def test_progress_is_shown_on_a_terminal_unless_forced(setting, stream, shown) -> None:
    assert progress_shown(setting, stream) is shown
