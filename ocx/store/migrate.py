"""Schema migrations, run from code: ``await upgrade(url)`` (what ``ocx db upgrade`` calls).

The revisions live in ``migrations/versions``; Alembic records the applied one in the table
``ocx_alembic_version`` (its own name, so a shared PostgreSQL database may hold other
applications' Alembic tables too).

Several workers may start at once with ``migrate=True``: an upgrade holds a lock for its whole
transaction (a PostgreSQL advisory lock; on SQLite the write lock, taken up front), so the
second worker waits, then finds the schema current and does nothing. Within one process
(``ocx demo`` runs several OCXs) upgrades also take turns: Alembic's ``context`` and ``op``
are module-wide, so two migrations interleaving on one event loop would mix them up.
"""
from __future__ import annotations

import asyncio
import os
import weakref

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from .engine import make_engine
from .urls import async_url

VERSION_TABLE = "ocx_alembic_version"
MIGRATIONS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "migrations")
# Key of the PostgreSQL advisory lock that serialises upgrades ("ocx-db" in ASCII).
PG_LOCK_KEY = 0x6F63782D6462


class SchemaNotCurrent(RuntimeError):
    """The database's schema is not the one this code needs (run ``ocx db upgrade``)."""


def alembic_config(url: str | URL | None = None) -> Config:
    """An Alembic config for the store's migrations (and, given, the database URL)."""
    config = Config()
    config.set_main_option("script_location", MIGRATIONS)
    if url is not None:
        rendered = async_url(url).render_as_string(hide_password=False)
        config.set_main_option("sqlalchemy.url", rendered.replace("%", "%%"))
    return config


def head() -> str:
    """The newest revision this code knows."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


async def upgrade(url: str | URL, revision: str = "head") -> None:
    """Bring the database at ``url`` to ``revision`` (default: the newest)."""
    engine = make_engine(url)
    try:
        await upgrade_engine(engine, revision)
    finally:
        await engine.dispose()


async def downgrade(url: str | URL, revision: str) -> None:
    """Take the database at ``url`` back to ``revision`` (``"base"``: no tables at all)."""
    engine = make_engine(url)
    try:
        await _run(engine, command.downgrade, revision)
    finally:
        await engine.dispose()


async def upgrade_engine(engine: AsyncEngine, revision: str = "head") -> None:
    await _run(engine, command.upgrade, revision)


async def current(engine: AsyncEngine) -> str | None:
    """The revision the database is at; None for an empty database."""
    async with engine.connect() as conn:
        return await conn.run_sync(
            lambda sync: MigrationContext.configure(
                sync, opts={"version_table": VERSION_TABLE}).get_current_revision())


async def check(engine: AsyncEngine) -> None:
    """Raise :class:`SchemaNotCurrent` unless the database is at :func:`head`."""
    at, needed = await current(engine), head()
    if at != needed:
        raise SchemaNotCurrent(f"the store's schema is at revision {at or 'none'}, this OCX "
                               f"needs {needed}: run `ocx db upgrade`")


_turns: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # event loop → asyncio.Lock


async def _run(engine: AsyncEngine, step, revision: str) -> None:
    turn = _turns.setdefault(asyncio.get_running_loop(), asyncio.Lock())
    async with turn, engine.connect() as conn:
        await _lock(conn)
        await conn.run_sync(_in_alembic, step, revision)
        await conn.commit()


async def _lock(conn: AsyncConnection) -> None:
    """Serialise schema changes across workers until this transaction ends."""
    if conn.dialect.name == "postgresql":
        await conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({PG_LOCK_KEY})")
    else:
        await conn.exec_driver_sql("BEGIN IMMEDIATE")


def _in_alembic(sync_conn, step, revision: str) -> None:
    config = alembic_config()
    config.attributes["connection"] = sync_conn
    step(config, revision)
