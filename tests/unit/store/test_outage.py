"""Telling a store that cannot be reached from a refused statement, and the learned mappings
kept until it answers again."""
from __future__ import annotations

import asyncio
import datetime as dt
import sqlite3

import asyncpg
import pytest
import sqlalchemy.exc

from ocx.store.models import ResourceMapping
from ocx.store.outage import Pending, unreachable


def wrapped(orig: BaseException) -> sqlalchemy.exc.DBAPIError:
    """As SQLAlchemy raises a driver's error: wrapped, the driver's as ``orig``."""
    return sqlalchemy.exc.DBAPIError("SELECT 1", None, orig)


@pytest.mark.parametrize("exc", [
    ConnectionRefusedError(111, "Connection refused"),
    TimeoutError(),
    asyncio.TimeoutError(),
    sqlalchemy.exc.TimeoutError("QueuePool limit reached, connection timed out"),
    wrapped(asyncpg.exceptions.CannotConnectNowError("the database system is starting up")),
    wrapped(asyncpg.exceptions.AdminShutdownError("terminating connection")),
    wrapped(asyncpg.exceptions.TooManyConnectionsError("too many clients")),
    wrapped(asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed")),
    wrapped(asyncpg.exceptions.InterfaceError("connection is closed")),
    sqlalchemy.exc.OperationalError("INSERT", None, sqlite3.OperationalError("locked")),
])
def test_what_means_the_database_could_not_be_reached(exc):
    assert unreachable(exc)


def test_a_cause_deep_in_the_chain_counts():
    try:
        try:
            raise ConnectionResetError(104, "reset")
        except OSError as inner:
            raise RuntimeError("while reading") from inner
    except RuntimeError as outer:
        assert unreachable(outer)


@pytest.mark.parametrize("exc", [
    wrapped(asyncpg.exceptions.UniqueViolationError("duplicate key")),
    wrapped(asyncpg.exceptions.UndefinedTableError("no such table")),
    wrapped(asyncpg.exceptions.DataError("invalid input")),
    wrapped(asyncpg.exceptions.InterfaceError("another operation is in progress")),
    sqlalchemy.exc.IntegrityError("INSERT", None, sqlite3.IntegrityError("UNIQUE")),
    ValueError("not a token hash"),
    KeyError("x"),
])
def test_a_refused_statement_or_a_bug_is_not_an_outage(exc):
    assert not unreachable(exc)


def mapping(resource_id: str, provider: str = "sp1") -> ResourceMapping:
    return ResourceMapping("volumes", resource_id, provider, "p", None, "create",
                           dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc))


def test_the_newest_of_a_key_is_kept_and_restoring_never_replaces_it():
    pending = Pending()
    pending.add([], [mapping("a", "sp1"), mapping("b")])
    pending.add([], [mapping("a", "sp2")])
    assert len(pending) == 2 and pending.resources[("volumes", "a")].provider == "sp2"

    _, taken = pending.take()
    assert len(pending) == 0
    pending.add([], [mapping("a", "home")])   # learned while the write was tried
    pending.restore([], taken)                # the write failed: put back what is not newer
    assert {k[1]: m.provider for k, m in pending.resources.items()} == {"a": "home", "b": "sp1"}


def test_past_the_limit_the_oldest_are_dropped_and_counted():
    pending = Pending(limit=3)
    pending.add([], [mapping(str(i)) for i in range(5)])
    assert [k[1] for k in pending.resources] == ["2", "3", "4"] and pending.dropped == 2
    pending.forget(resources=[("volumes", "3")])
    assert [k[1] for k in pending.resources] == ["2", "4"]
