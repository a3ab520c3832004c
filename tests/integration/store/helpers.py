"""What the store tests share besides fixtures: sample mappings, a hand-moved clock, and
ways to look at the database behind the store's back."""
from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import AsyncIterator, Iterator

from sqlalchemy import event

from ocx.store import MappingStore, TokenMapping, token_hash, utcnow


@contextlib.contextmanager
def counting_queries(store: MappingStore) -> Iterator[list[str]]:
    """The SQL statements the store sends while the block runs."""
    statements: list[str] = []

    def count(_conn, _cursor, statement, *_args) -> None:
        statements.append(statement)

    event.listen(store.engine.sync_engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(store.engine.sync_engine, "before_cursor_execute", count)


def token_mapping(token: str = "local-token", *, project: str = "demo", provider: str = "sp-bu",
                  remote_token: str = "remote-token-of-bu", lifetime: float = 3600,
                  now: dt.datetime | None = None) -> TokenMapping:
    return TokenMapping(
        local_token_hash=token_hash(token), local_project=project, provider=provider,
        remote_token=remote_token, remote_project=f"{provider}-{project}",
        expires_at=(now or utcnow()) + dt.timedelta(seconds=lifetime),
        catalog=[{"type": "compute", "name": "nova", "endpoints": [
            {"interface": "public", "region": "RegionOne",
             "url": f"http://{provider}.example:8774/v2.1"}]}])


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += dt.timedelta(seconds=seconds)


async def raw_column(store: MappingStore, sql: str) -> list:
    """Rows straight from the database, bypassing the store."""
    async with store.engine.connect() as conn:
        return list((await conn.exec_driver_sql(sql)).all())


async def all_pages(store: MappingStore, **kwargs) -> AsyncIterator[list]:
    marker = None
    while page := await store.list_resource_mappings(marker=marker, **kwargs):
        yield page
        marker = page[-1].resource_id if "resource_type" in kwargs else page[-1].key
