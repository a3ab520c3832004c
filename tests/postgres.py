"""A PostgreSQL database of its own for a test session (the server from ensure-services)."""
from __future__ import annotations

import asyncio
import os
import secrets
import threading
from collections.abc import Coroutine, Iterator

import asyncpg
import pytest
from sqlalchemy.engine import make_url

POSTGRES = os.environ.get("OCX_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/")


def asyncpg_dsn(url: str, database: str) -> str:
    return make_url(url).set(drivername="postgresql", database=database) \
        .render_as_string(hide_password=False)


def blocking(coro: Coroutine) -> None:
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


async def execute(dsn: str, sql: str) -> None:
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
    admin = asyncpg_dsn(POSTGRES, "postgres")
    blocking(execute(admin, f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(POSTGRES).set(database=name).render_as_string(hide_password=False)
    finally:
        blocking(execute(admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
