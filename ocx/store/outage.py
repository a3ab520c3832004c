"""When the store cannot be reached: telling such a failure from the others (pure), and the
learned mappings kept in memory until it answers again.

A store that is down, restarting, shutting down, full of connections, or silent (no answer
within ``[store] timeout``) fails every call that needs it; the gateway answers those with a
503 naming the store (:func:`unreachable` tells it apart from a refused statement, which is a
bug). Mappings learned meanwhile from the clouds' answers (a create's, a listing's, a K2K
exchange's) are not lost with the call: :class:`Pending` keeps them, newest per key, and
they are written once the store answers again.
"""
from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Iterator
from typing import Any

import sqlalchemy.exc

# Learned mappings held at most while the store is away (the oldest are dropped past it:
# what was learned from an answer can be learned again by a search).
PENDING_LIMIT = 50_000


def unreachable(exc: BaseException) -> bool:
    """Whether ``exc`` (raised by the store) means the database could not be reached or did
    not answer, rather than that it refused a statement."""
    for cause in _chain(exc):
        if isinstance(cause, (OSError, TimeoutError, asyncio.TimeoutError,
                              sqlalchemy.exc.TimeoutError)):
            return True     # refused, reset, no answer in time, no pooled connection in time
        if isinstance(cause, sqlalchemy.exc.DBAPIError) and cause.connection_invalidated:
            return True
        if isinstance(cause, sqlite3.OperationalError):
            return True     # locked past the busy timeout, file unreadable
        if _asyncpg_unreachable(cause):
            return True
    return False


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    todo: list[Any] = [exc]
    while todo:
        current = todo.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        todo += [getattr(current, "orig", None), current.__cause__, current.__context__]


def _asyncpg_unreachable(exc: BaseException) -> bool:
    try:
        from asyncpg import exceptions as pg
    except ImportError:   # no PostgreSQL driver: no PostgreSQL store
        return False
    if isinstance(exc, pg.InterfaceError):   # the client's side: only a closed connection
        return "closed" in str(exc)
    return isinstance(exc, (pg.PostgresConnectionError,        # lost, never made
                            pg.OperatorInterventionError,      # shutting down, starting up
                            pg.InsufficientResourcesError))    # too many connections, disk full


class Pending:
    """Mappings waiting for the store, by key (a newer one of a key replaces the older)."""

    def __init__(self, limit: int = PENDING_LIMIT) -> None:
        self.limit = limit
        self.tokens: dict[tuple, Any] = {}
        self.resources: dict[tuple, Any] = {}
        self.dropped = 0

    def __len__(self) -> int:
        return len(self.tokens) + len(self.resources)

    def add(self, tokens, resources) -> None:
        for kind, items in ((self.tokens, tokens), (self.resources, resources)):
            for m in items:
                kind.pop(m.key, None)   # re-inserted last: the newest
                kind[m.key] = m
        self._trim()

    def _trim(self) -> None:
        while len(self) > self.limit:
            oldest = self.resources if self.resources else self.tokens
            oldest.pop(next(iter(oldest)))
            self.dropped += 1

    def forget(self, *, tokens=(), resources=()) -> None:
        """Keys written (or deleted) since: what is pending for them is older."""
        for key in tokens:
            self.tokens.pop(key, None)
        for key in resources:
            self.resources.pop(key, None)

    def restore(self, tokens, resources) -> None:
        """Put back what could not be written, unless a newer one of its key came since."""
        for kind, items in ((self.tokens, tokens), (self.resources, resources)):
            for m in items:
                kind.setdefault(m.key, m)
        self._trim()

    def take(self) -> tuple[list, list]:
        tokens, resources = list(self.tokens.values()), list(self.resources.values())
        self.tokens, self.resources = {}, {}
        return tokens, resources
