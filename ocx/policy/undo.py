"""What a GBP operation has done so far, and how to take it back if a later step fails.

Each step that changed something (a Neutron resource made, rows written, the wiring changed)
records its inverse; on failure they run newest first. An inverse that fails is named in the
answer (``leftovers``) and logged: that is what could not be undone.
"""
from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)


class Journal:
    def __init__(self) -> None:
        self._steps: list[tuple[str, Callable[[], Awaitable[object]]]] = []

    def done(self, what: str, undo: Callable[[], Awaitable[object]]) -> None:
        """``what`` was done; ``undo()`` takes it back."""
        self._steps.append((what, undo))

    async def rollback(self) -> tuple[str, ...]:
        """Undo every step, newest first; returns what could not be undone."""
        leftovers = []
        while self._steps:
            what, undo = self._steps.pop()
            try:
                await undo()
            except Exception as exc:  # noqa: BLE001 - every step is tried; failures are named
                reason = getattr(exc, "message", None) or type(exc).__name__
                log.warning("GBP: could not undo %s: %s", what, reason)
                leftovers.append(f"{what} ({reason})")
        return tuple(leftovers)
