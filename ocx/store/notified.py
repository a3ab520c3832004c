"""Resource mappings kept current by notifications (issue 8), in SQL (``store.notified``).

Notifications arrive duplicated and out of order (a delete before its create, a transfer
before the create it follows). Each resource keeps the last event applied to it
(``resource_events``: its time, whether it was a delete); an event changes the mapping only
when it :func:`supersedes` that one, so any order of the same events ends in the same mapping.
A delete's row stays as a tombstone until ``purge`` (the retention), so a create delivered
after it changes nothing.

The rule runs in the database, in one conditional upsert whose row lock serializes two
workers (or hosts) applying events of the same resource at once; the mapping changes in the
same transaction. The mapping store's cache entry is dropped inside it, as the store does.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine

from .cache import LRU
from .models import as_utc, utcnow
from .schema import resource_events, resource_mappings


@dataclass(frozen=True)
class ResourceEvent:
    """One notification's word on one resource: it lives at ``provider`` in ``remote_project``
    as of ``at``, or (``deleted``) it is gone as of ``at``."""

    resource_type: str
    resource_id: str
    provider: str
    remote_project: str | None
    deleted: bool
    at: dt.datetime

    def __post_init__(self) -> None:
        object.__setattr__(self, "at", as_utc(self.at, "at"))

    @property
    def key(self) -> tuple[str, str]:
        return (self.resource_type, self.resource_id)

    @property
    def rank(self) -> tuple[dt.datetime, bool, str, str]:
        return _rank(self.at, self.deleted, self.provider, self.remote_project)


@dataclass(frozen=True)
class LastEvent:
    at: dt.datetime
    deleted: bool
    provider: str
    remote_project: str | None

    @property
    def rank(self) -> tuple[dt.datetime, bool, str, str]:
        return _rank(self.at, self.deleted, self.provider, self.remote_project)


def _rank(at: dt.datetime, deleted: bool, provider: str,
          remote_project: str | None) -> tuple[dt.datetime, bool, str, str]:
    # Time first; at the same time a delete wins; two different events of one instant are
    # told apart by where they put the resource, so that no order of arrival matters.
    return (at, deleted, provider, remote_project or "")


def supersedes(event: ResourceEvent, last: LastEvent | None) -> bool:
    """Whether ``event`` changes a resource whose last applied event is ``last``: it ranks
    higher (newer; as old and a delete where that was not; ...). A duplicate never does."""
    return last is None or event.rank > last.rank


class NotifiedMappings:
    def __init__(self, engine: AsyncEngine, resources: LRU,
                 clock: Callable[[], dt.datetime] = utcnow) -> None:
        self.engine = engine
        self._resources = resources   # the mapping store's cache of resource mappings
        self._clock = clock

    async def apply(self, events: Sequence[ResourceEvent]) -> list[bool]:
        """Apply one notification's events in one transaction; for each, whether it changed
        what OCX knows (False: an older or duplicated event, left out)."""
        applied = []
        async with self.engine.begin() as conn:
            try:
                for event in events:
                    won = (await conn.execute(self._record(event))).first() is not None
                    if won:
                        await conn.execute(self._mapping_change(event))
                        self._resources.invalidate(event.key)
                    applied.append(won)
            except BaseException:
                for event in events:
                    self._resources.invalidate(event.key)
                raise
        return applied

    async def last_event(self, resource_type: str, resource_id: str) -> LastEvent | None:
        e = resource_events
        async with self.engine.connect() as conn:
            row = (await conn.execute(sa.select(
                e.c.event_at, e.c.deleted, e.c.provider, e.c.remote_project).where(
                e.c.resource_type == resource_type, e.c.resource_id == resource_id))).first()
        return None if row is None else LastEvent(row.event_at, bool(row.deleted), row.provider,
                                                  row.remote_project)

    async def purge(self, older_than: dt.datetime) -> int:
        """Forget the events (tombstones included) older than ``older_than``; how many."""
        async with self.engine.begin() as conn:
            return (await conn.execute(sa.delete(resource_events).where(
                resource_events.c.event_at < as_utc(older_than, "older_than")))).rowcount

    # -- statements -----------------------------------------------------------------------

    def _insert(self, table: sa.Table):
        dialect = postgresql if self.engine.dialect.name == "postgresql" else sqlite
        return dialect.insert(table)

    def _record(self, event: ResourceEvent):
        """Upsert the resource's last event if ``event`` supersedes it; a row comes back when
        it did (the rule of :func:`supersedes`, in SQL)."""
        e = resource_events
        insert = self._insert(e).values(
            resource_type=event.resource_type, resource_id=event.resource_id,
            provider=event.provider, remote_project=event.remote_project,
            deleted=event.deleted, event_at=event.at)
        new = insert.excluded

        def rank(t):
            return sa.tuple_(t.event_at, sa.cast(t.deleted, sa.Integer), t.provider,
                             sa.func.coalesce(t.remote_project, ""))

        return insert.on_conflict_do_update(
            index_elements=["resource_type", "resource_id"],
            set_={c: new[c] for c in ("provider", "remote_project", "deleted", "event_at")},
            where=rank(new) > rank(e.c)).returning(e.c.resource_id)

    def _mapping_change(self, event: ResourceEvent):
        r = resource_mappings
        key = sa.and_(r.c.resource_type == event.resource_type,
                      r.c.resource_id == event.resource_id)
        if event.deleted:
            return sa.delete(r).where(key)
        insert = self._insert(r).values(
            resource_type=event.resource_type, resource_id=event.resource_id,
            provider=event.provider, remote_project=event.remote_project, endpoint=None,
            source="notification", updated_at=self._clock())
        new = insert.excluded
        # A mapping already in the same place (learned from OCX's own create) keeps its
        # endpoint and source; one elsewhere is moved.
        moved = sa.or_(r.c.provider != new.provider,
                       r.c.remote_project.is_distinct_from(new.remote_project))
        return insert.on_conflict_do_update(
            index_elements=["resource_type", "resource_id"],
            set_={"provider": new.provider, "remote_project": new.remote_project,
                  "endpoint": new.endpoint, "source": new.source,
                  "updated_at": new.updated_at},
            where=moved)
