"""Store URLs as operators write them become SQLAlchemy asyncio URLs."""
from __future__ import annotations

import pytest

from ocx.store import async_url
from ocx.store.urls import is_memory, shown


@pytest.mark.parametrize("given, expected", [
    ("sqlite:///var/lib/ocx/ocx.sqlite", "sqlite+aiosqlite:///var/lib/ocx/ocx.sqlite"),
    ("sqlite:////abs/ocx.sqlite", "sqlite+aiosqlite:////abs/ocx.sqlite"),
    ("sqlite+pysqlite:///ocx.sqlite", "sqlite+aiosqlite:///ocx.sqlite"),
    ("sqlite+aiosqlite:///ocx.sqlite", "sqlite+aiosqlite:///ocx.sqlite"),
    ("sqlite://", "sqlite+aiosqlite://"),
    ("postgresql://ocx@db.example/ocx", "postgresql+asyncpg://ocx@db.example/ocx"),
    ("postgresql+psycopg2://ocx@db:5433/ocx", "postgresql+asyncpg://ocx@db:5433/ocx"),
    ("postgres://ocx@db/ocx", "postgresql+asyncpg://ocx@db/ocx"),
    ("postgresql+asyncpg://ocx@db/ocx", "postgresql+asyncpg://ocx@db/ocx"),
])
def test_urls_map_to_the_asyncio_drivers(given, expected):
    assert async_url(given).render_as_string(hide_password=False) == expected


def test_the_password_survives_the_mapping_but_is_never_shown():
    url = async_url("postgresql://ocx:s3cret@db/ocx")

    assert url.password == "s3cret"
    assert "s3cret" not in shown(url)


def test_another_database_is_refused_without_showing_its_password():
    with pytest.raises(ValueError, match="unsupported store URL") as refused:
        async_url("mysql://ocx:s3cret@db/ocx")

    assert "s3cret" not in str(refused.value)


@pytest.mark.parametrize("url, memory", [
    ("sqlite://", True), ("sqlite:///:memory:", True), ("sqlite:///ocx.sqlite", False),
    ("postgresql://db/ocx", False)])
def test_in_memory_sqlite_is_recognised(url, memory):
    assert is_memory(async_url(url)) is memory
