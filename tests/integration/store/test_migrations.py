"""The schema is made and changed by Alembic migrations, never by create_all."""
from __future__ import annotations

import asyncio

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from ocx.store import MappingStore, SchemaNotCurrent, upgrade
from ocx.store.migrate import VERSION_TABLE, alembic_config, current, downgrade, head
from ocx.store.schema import metadata

from .helpers import raw_column, token_mapping


async def test_the_migrations_make_exactly_the_schema_the_code_uses(store_url, key):
    await upgrade(store_url)
    store = await MappingStore.open(store_url, [key])
    try:
        async with store.engine.connect() as conn:
            differences = await conn.run_sync(lambda sync: compare_metadata(
                MigrationContext.configure(sync, opts={"version_table": VERSION_TABLE,
                                                       "compare_type": True}), metadata))
        assert differences == []
        assert await current(store.engine) == head()
    finally:
        await store.close()


async def test_a_store_refuses_a_database_that_was_not_upgraded(store_url, key):
    with pytest.raises(SchemaNotCurrent, match="ocx db upgrade"):
        await MappingStore.open(store_url, [key])


async def test_workers_starting_together_migrate_once(store_url, key):
    async with asyncio.timeout(60):   # racing upgrades without the lock deadlock or fail
        stores = await asyncio.gather(*(MappingStore.open(store_url, [key], migrate=True)
                                        for _ in range(4)))
    try:
        await stores[0].put_token_mapping(token_mapping())
        assert await current(stores[3].engine) == head()
        assert await raw_column(stores[3], f"SELECT version_num FROM {VERSION_TABLE}") == [
            (head(),)]
    finally:
        for store in stores:
            await store.close()


async def test_downgrading_to_nothing_and_back(store_url, key):
    await upgrade(store_url)
    await downgrade(store_url, "base")
    with pytest.raises(SchemaNotCurrent):
        await MappingStore.open(store_url, [key])
    await upgrade(store_url)
    await upgrade(store_url)   # already current: nothing to do
    store = await MappingStore.open(store_url, [key])
    await store.close()


async def test_the_alembic_command_runs_the_same_migrations(store_url, key):
    # What a developer does by hand; Alembic runs its own event loop, so off this one.
    await asyncio.to_thread(command.upgrade, alembic_config(store_url), "head")

    store = await MappingStore.open(store_url, [key])
    assert await current(store.engine) == head()
    await store.close()
