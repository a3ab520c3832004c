"""The mapping store as an operator sees it: its schema (``ocx db``) and the mappings in it
(``ocx mappings``).

Everything here takes the store's URL, so it needs nothing from the gateway. Records come back
as plain dicts ready to print; a token mapping shows a prefix of the local token's hash and
never a token.

A gateway that is running keeps the mappings it has read in memory: one deleted here is gone
from the database at once, and from a running gateway when it drops it from its cache (or is
restarted); see ``ocx/store/README.md``.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import os
from collections.abc import AsyncIterator

from sqlalchemy.engine import URL, make_url

from ..store import (
    MappingStore,
    ResourceMapping,
    TokenMappingInfo,
    generate_key,
    upgrade,
)
from ..store.engine import make_engine
from ..store.migrate import current, head
from ..store.urls import async_url, is_memory

# Mappings read from the database per query when listing or deleting many.
PAGE = 1000
# The store lists token mappings in one query with a limit; this is as good as none.
NO_LIMIT = 2**31 - 1


class AdminError(Exception):
    """A failure the operator is told about in these words (no traceback)."""


class NoSuchMapping(AdminError):
    pass


def shown(url: str | URL) -> str:
    """The store URL as the operator wrote it, without its password."""
    return make_url(url).render_as_string(hide_password=True)


def missing_sqlite_file(url: str | URL) -> str | None:
    """The path of a SQLite store whose file does not exist yet; None otherwise."""
    parsed = async_url(url)
    if parsed.get_backend_name() != "sqlite" or is_memory(parsed):
        return None
    return None if os.path.exists(parsed.database) else parsed.database


# -- schema ------------------------------------------------------------------------------------

async def schema_revision(url: str) -> tuple[str | None, str]:
    """(the revision the store is at, None for a store with no schema yet; the newest one).

    A SQLite file that does not exist is reported as having no schema, and is not created.
    """
    if missing_sqlite_file(url):
        return None, head()
    engine = make_engine(url)
    try:
        return await current(engine), head()
    finally:
        await engine.dispose()


async def upgrade_schema(url: str) -> tuple[str | None, str]:
    """Run the migrations up to the newest revision; returns (the revision before, after)."""
    before, newest = await schema_revision(url)
    await upgrade(url)
    return before, newest


# -- mappings ----------------------------------------------------------------------------------

@contextlib.asynccontextmanager
async def open_store(url: str) -> AsyncIterator[MappingStore]:
    """The store at ``url``, which must exist with a current schema (else :class:`AdminError`
    or :class:`~ocx.store.SchemaNotCurrent`), with no cache: every read is the database's.
    """
    path = missing_sqlite_file(url)
    if path:
        raise AdminError(f"there is no store at {path}: run `ocx db upgrade` first")
    # The operator's commands never read or write a remote token, so the store's key is not
    # needed: a throwaway key keeps this from creating the key file as a side effect.
    store = await MappingStore.open(url, [generate_key()], cache_size=0)
    try:
        yield store
    finally:
        await store.close()


def resource_record(m: ResourceMapping) -> dict:
    return {"type": m.resource_type, "id": m.resource_id, "provider": m.provider,
            "remote_project": m.remote_project, "endpoint": m.endpoint, "source": m.source,
            "updated_at": _when(m.updated_at)}


def token_record(m: TokenMappingInfo) -> dict:
    return {"hash_prefix": m.hash_prefix, "local_project": m.local_project,
            "provider": m.provider, "remote_project": m.remote_project,
            "expires_at": _when(m.expires_at)}


async def list_resources(store: MappingStore, *, resource_type: str | None = None,
                         provider: str | None = None, limit: int | None = None) -> list[dict]:
    """The resource mappings in (type, id) order, all of them or the first ``limit``."""
    return [resource_record(m) async for m in _resources(store, resource_type, provider, limit)]


async def list_tokens(store: MappingStore, *, provider: str | None = None,
                      include_expired: bool = False, limit: int | None = None) -> list[dict]:
    """The token mappings (live ones unless ``include_expired``), by provider and project."""
    found = await store.list_token_mappings(provider=provider, include_expired=include_expired,
                                            limit=limit if limit is not None else NO_LIMIT)
    return [token_record(m) for m in found]


async def show_resource(store: MappingStore, resource_type: str, resource_id: str) -> dict:
    m = await store.get_resource_mapping(resource_type, resource_id)
    if m is None:
        raise NoSuchMapping(f"no mapping for {resource_type} {resource_id}")
    return resource_record(m)


async def delete_resource(store: MappingStore, resource_type: str, resource_id: str) -> None:
    if not await store.delete_resource_mapping(resource_type, resource_id):
        raise NoSuchMapping(f"no mapping for {resource_type} {resource_id}")


async def delete_provider(store: MappingStore, provider: str, *,
                          resource_type: str | None = None, resources: bool = True,
                          tokens: bool = True) -> tuple[int, int]:
    """Forget what is mapped to one provider: its resource mappings (of one type, given
    ``resource_type``) and its token mappings. Returns (resource mappings, token mappings)
    deleted.
    """
    deleted_resources = deleted_tokens = 0
    if resources:
        # Collected first, then deleted: a page read while deleting would skip rows.
        keys = [m.key async for m in _resources(store, resource_type, provider, None)]
        for key in keys:
            deleted_resources += await store.delete_resource_mapping(*key)
    if tokens:
        deleted_tokens = await store.delete_token_mappings(provider=provider)
    return deleted_resources, deleted_tokens


async def _resources(store: MappingStore, resource_type: str | None, provider: str | None,
                     limit: int | None) -> AsyncIterator[ResourceMapping]:
    marker: tuple[str, str] | None = None
    left = limit
    while True:
        size = PAGE if left is None else min(PAGE, left)
        if size <= 0:
            return
        page = await store.list_resource_mappings(
            resource_type=resource_type, provider=provider, marker=marker, limit=size)
        for m in page:
            yield m
        if len(page) < size:
            return
        if left is not None:
            left -= len(page)
        marker = page[-1].key


def _when(when: dt.datetime) -> str:
    return when.astimezone(dt.UTC).isoformat(timespec="seconds")
