"""The one SQLAlchemy asyncio engine a store runs on, set up for its backend.

SQLite: WAL (readers never wait for the writer), a busy timeout (writers of several workers
take turns instead of failing), the database file private to its owner. An in-memory SQLite
database lives in one connection, so it gets exactly one. PostgreSQL: connections are checked
before use, so a restarted server costs no failed call; with a ``timeout``, connecting, each
statement and waiting for a pooled connection are bounded by it, so that a server that stops
answering (a dead network, a frozen host) makes calls fail instead of hang.
"""
from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import time
from collections.abc import AsyncIterator

from sqlalchemy import event
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import StaticPool

from .urls import async_url, is_memory

SQLITE_BUSY_TIMEOUT_MS = 30_000


def make_engine(url: str | URL, timeout: float | None = None) -> AsyncEngine:
    """An engine for ``url`` (``sqlite:///path`` or ``postgresql://…``; see :func:`async_url`);
    ``timeout``: seconds PostgreSQL has to connect, to answer a statement, and a caller waits
    for a pooled connection (None: no bound).

    Statement parameters are kept out of logs and exception messages (``hide_parameters``,
    and aiosqlite's own DEBUG lines are silenced): they carry token hashes and encrypted
    tokens, which have no business in a log.
    """
    url = async_url(url)
    if url.get_backend_name() == "sqlite":
        return _sqlite_engine(url)
    if timeout is None:
        return create_async_engine(url, hide_parameters=True, pool_pre_ping=True)
    # asyncpg's connect timeout and its default timeout of every statement (the pre-ping's
    # too); the pool's wait for a connection when all are busy.
    return create_async_engine(url, hide_parameters=True, pool_pre_ping=True,
                               pool_timeout=timeout,
                               connect_args={"timeout": timeout, "command_timeout": timeout})


# A wait for an advisory lock is as long as another session holds it, not a server that
# does not answer: not bounded by the engine's statement timeout (asyncpg needs a number).
LOCK_WAIT = 86_400.0


async def advisory_lock(conn, key: int) -> None:
    """Take PostgreSQL's session advisory lock ``key`` on ``conn`` (an ``AsyncConnection``),
    waiting while another session holds it, past the engine's ``timeout``."""
    raw = await conn.get_raw_connection()
    await raw.driver_connection.execute(f"SELECT pg_advisory_lock({int(key)})",
                                        timeout=LOCK_WAIT)


@contextlib.asynccontextmanager
async def advisory_locked(engine: AsyncEngine, key: int) -> AsyncIterator[None]:
    """PostgreSQL's session advisory lock ``key`` held on a connection of its own for the
    block (one holder at a time across every process sharing the database)."""
    async with engine.connect() as conn:
        await advisory_lock(conn, key)   # a wait longer than [store] timeout
        try:
            yield
        finally:
            await conn.exec_driver_sql(f"SELECT pg_advisory_unlock({int(key)})")
            await conn.commit()


def _quiet_aiosqlite() -> None:
    # aiosqlite logs every call it runs at DEBUG, with its arguments: each statement's
    # parameters, past SQLAlchemy's hide_parameters. Its INFO and above stay.
    logger = logging.getLogger("aiosqlite")
    if logger.level < logging.INFO:
        logger.setLevel(logging.INFO)


def _sqlite_engine(url: URL) -> AsyncEngine:
    _quiet_aiosqlite()
    if is_memory(url):
        engine = create_async_engine(url, hide_parameters=True, poolclass=StaticPool)
    else:
        _create_private_file(url.database)
        _use_wal(url.database)
        engine = create_async_engine(
            url, hide_parameters=True,
            connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})

    @event.listens_for(engine.sync_engine, "connect")
    def _pragmas(dbapi_connection, _record) -> None:
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
            # With WAL, NORMAL survives a crash of OCX; a power cut may lose the last
            # mappings, which are relearned.
            cursor.execute("PRAGMA synchronous=NORMAL")
        finally:
            cursor.close()

    return engine


def _use_wal(path: str) -> None:
    """Put the database file in WAL mode once, before any pooled connection opens it.

    WAL is kept in the file. Switching to it needs the file to itself, and SQLite answers
    "database is locked" at once, without waiting, when several workers open a new store
    together: so it is done here, on a connection of its own, trying again for a while.
    """
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
    while True:
        connection = sqlite3.connect(path, timeout=SQLITE_BUSY_TIMEOUT_MS / 1000)
        try:
            connection.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
        finally:
            connection.close()
        time.sleep(0.05)


def _create_private_file(path: str) -> None:
    """Make the database file 0600 (SQLite gives its -wal and -shm files the same mode)."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, mode=0o700, exist_ok=True)
    if os.path.exists(path):
        # Opening and closing a file SQLite already has open in this process would drop its
        # POSIX locks on it (they are per process): a second engine on the same file, or an
        # admin command beside a gateway, could then lose the WAL under the first.
        return
    try:
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    except FileExistsError:   # another worker made it a moment ago
        pass
