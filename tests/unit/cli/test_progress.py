"""Progress bars (ocx/admin/progress.py): drawn on stderr when it is a terminal, never
elsewhere, and erased when done."""
from __future__ import annotations

import io

from ocx.admin.progress import bar, shown


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_no_bar_where_stderr_is_not_a_terminal():
    stream = io.StringIO()
    with bar(3, "syncing ctl", "server", stream=stream) as b:
        for _ in range(3):
            b.update()
    assert stream.getvalue() == ""
    assert not shown(stream) and not shown(object())


def test_a_bar_on_a_terminal_counts_and_is_erased():
    stream = Terminal()
    with bar(2, "syncing ctl", "server", stream=stream) as b:
        b.update()
        drawn = stream.getvalue()
        b.update()
    assert "syncing ctl" in drawn and "1/2" in drawn
    assert "2/2" in stream.getvalue()
    # leave=False: the last thing written clears the line (carriage return, then blanks).
    assert stream.getvalue().rstrip(" ").endswith("\r")
