"""Alembic's entry point for the store's schema.

:mod:`ocx.store.migrate` runs it on a connection it has already opened and locked (passed in
``config.attributes["connection"]``). Run by the ``alembic`` command instead (for example to
autogenerate a revision, see ``ocx/store/README.md``), it opens its own asyncio engine on the
``sqlalchemy.url`` of the config.
"""
from __future__ import annotations

import asyncio

from alembic import context

from ocx.store.engine import make_engine
from ocx.store.migrate import VERSION_TABLE
from ocx.store.schema import UTCDateTime, metadata


def render_item(kind: str, obj, _context):
    """Drafted revisions name the plain column type, not the code's decorator of it."""
    if kind == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def run(connection) -> None:
    context.configure(connection=connection, target_metadata=metadata,
                      version_table=VERSION_TABLE,
                      # SQLite alters tables by copying them; Alembic does that in batch mode.
                      render_as_batch=connection.dialect.name == "sqlite",
                      compare_type=True, render_item=render_item)
    with context.begin_transaction():
        context.run_migrations()


async def run_own_engine(url: str) -> None:
    engine = make_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(run)
    finally:
        await engine.dispose()


if context.is_offline_mode():
    raise SystemExit("the OCX store's migrations run against a database, not as SQL scripts")

given = context.config.attributes.get("connection")
if given is not None:
    run(given)
else:
    asyncio.run(run_own_engine(context.config.get_main_option("sqlalchemy.url")))
