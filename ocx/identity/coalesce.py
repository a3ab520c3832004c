"""One piece of work per key at a time: concurrent callers with the same key share its result."""
from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

T = TypeVar("T")


class Coalescer(Generic[T]):
    """Run ``work()`` once for all the callers that ask for ``key`` while it runs.

    Every waiter gets the same result or the same exception. The work runs in a task of its
    own, so a waiter that is cancelled (its client went away) does not cancel it for the
    others. Once it is done the key is free again: results are not kept here (caching is the
    caller's business).
    """

    def __init__(self) -> None:
        self._running: dict[Hashable, asyncio.Task[T]] = {}

    def running(self, key: Hashable) -> bool:
        return key in self._running

    async def run(self, key: Hashable, work: Callable[[], Awaitable[T]]) -> T:
        task = self._running.get(key)
        if task is None:
            task = asyncio.ensure_future(work())
            self._running[key] = task
            task.add_done_callback(lambda t: self._finished(key, t))
        return await asyncio.shield(task)

    def _finished(self, key: Hashable, task: asyncio.Task) -> None:
        if self._running.get(key) is task:
            del self._running[key]
        # Mark the outcome seen: when every waiter was cancelled nobody else will look at it.
        if not task.cancelled():
            task.exception()
