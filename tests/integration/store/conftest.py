"""Every store test runs twice: on a SQLite file and on a real PostgreSQL server.

PostgreSQL is the server at ``OCX_TEST_POSTGRES_URL`` (default: loopback, trust auth, as
``scripts/ensure-services`` sets it up). The session gets a database of its own,
``ocx_test_<random>``, dropped at the end; each test starts from empty tables.
"""
from __future__ import annotations

import asyncio
import os
import secrets
import threading
from collections.abc import Coroutine, Iterator

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from ocx.store import MappingStore, generate_key

POSTGRES = os.environ.get("OCX_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/")


def _asyncpg_dsn(url: str, database: str) -> str:
    return make_url(url).set(drivername="postgresql", database=database) \
        .render_as_string(hide_password=False)


def _blocking(coro: Coroutine) -> None:
    """Run ``coro`` to the end on a loop of its own (fixtures here may run inside a loop)."""
    failure: list[BaseException] = []

    def run() -> None:
        try:
            asyncio.run(coro)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller below
            failure.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    if failure:
        raise failure[0]


async def _execute(dsn: str, sql: str) -> None:
    try:
        conn = await asyncpg.connect(dsn, timeout=10)
    except OSError as exc:
        raise RuntimeError(f"PostgreSQL does not answer at {POSTGRES} ({exc}); start it "
                           "with scripts/ensure-services") from None
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh database on the test PostgreSQL server, dropped after the session."""
    name = f"ocx_test_{secrets.token_hex(4)}"
    admin = _asyncpg_dsn(POSTGRES, "postgres")
    _blocking(_execute(admin, f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(POSTGRES).set(database=name).render_as_string(hide_password=False)
    finally:
        _blocking(_execute(admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request, tmp_path) -> str:
    """An empty database: a new SQLite file, or the session's PostgreSQL database emptied."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/ocx.sqlite"
    url = request.getfixturevalue("postgres_url")
    _blocking(_execute(_asyncpg_dsn(url, make_url(url).database),
                       "DROP TABLE IF EXISTS token_mappings, resource_mappings, "
                       "ocx_alembic_version"))
    return url


@pytest.fixture
def key() -> str:
    return generate_key()


@pytest.fixture
async def open_store(store_url, key):
    """``await open_store(**kwargs)``: a store on the test database (a new "worker" each call),
    migrated, closed after the test."""
    opened: list[MappingStore] = []

    async def open_(keys: list[str] | None = None, **kwargs) -> MappingStore:
        kwargs.setdefault("migrate", True)
        store = await MappingStore.open(store_url, keys or [key], **kwargs)
        opened.append(store)
        return store

    yield open_
    for store in opened:
        await store.close()


@pytest.fixture
async def store(open_store) -> MappingStore:
    return await open_store()
