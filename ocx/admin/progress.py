"""Progress bars for the operator commands' long work (tqdm), on stderr and only when stderr is
a terminal: a script reading stdout, a pipe or a log file keeping stderr, sees no bar, and what
the command prints on stdout is never mixed with one."""
from __future__ import annotations

import sys
from typing import TextIO

from tqdm import tqdm


def shown(stream: TextIO) -> bool:
    """A bar is drawn on a terminal only."""
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def bar(total: int, description: str, unit: str, *, stream: TextIO | None = None) -> tqdm:
    """A bar of ``total`` steps on ``stream`` (stderr); a silent one where it is not a terminal.
    Erased when closed, so that the command's own answer follows on a clean line."""
    stream = sys.stderr if stream is None else stream
    # Every step drawn (mininterval 0): the steps here are few and slow (a server's whole
    # state), and tqdm's default would skip those that come within 0.1 s of the last.
    return tqdm(total=total, desc=description, unit=unit, file=stream, leave=False,
                disable=not shown(stream), dynamic_ncols=True, mininterval=0)
