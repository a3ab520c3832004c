"""Every store test runs twice: on a SQLite file and on a real PostgreSQL server.

PostgreSQL is the server at ``OCX_TEST_POSTGRES_URL`` (default: loopback, trust auth, as
``scripts/ensure-services`` sets it up). The session gets a database of its own,
``ocx_test_<random>``, dropped at the end; each test starts from empty tables.
"""
from __future__ import annotations

import pytest
from sqlalchemy.engine import make_url

from ocx.store import MappingStore, generate_key
from ocx.store.schema import metadata
from tests.postgres import asyncpg_dsn, blocking, execute, postgres_url  # noqa: F401 - fixture


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request, tmp_path) -> str:
    """An empty database: a new SQLite file, or the session's PostgreSQL database emptied."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/ocx.sqlite"
    url = request.getfixturevalue("postgres_url")
    tables = ", ".join([t.name for t in metadata.sorted_tables] + ["ocx_alembic_version"])
    blocking(execute(asyncpg_dsn(url, make_url(url).database), f"DROP TABLE IF EXISTS {tables}"))
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
