"""The providers each local project uses, in SQL (issue 8; seed 004: "keep track for each
project what keystones"). Shares the mapping store's engine (``store.projects``).

A row says what OCX last learned of one local project at one provider: the remote project its
calls use there, or that the provider holds nothing of it (no remote project), and when. Rows
are only ever replaced by a newer finding; the gateway decides from them where listings and
searches go (``ocx.routing.targets``).
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine

from .models import ProjectProvider, utcnow
from .schema import project_providers


class ProjectStore:
    def __init__(self, engine: AsyncEngine, clock: Callable[[], dt.datetime] = utcnow) -> None:
        self.engine = engine
        self._clock = clock

    async def record(self, found: Iterable[ProjectProvider]) -> None:
        """Insert or replace each finding (the newest of a key wins; an older one is kept
        out, so that a slow worker cannot undo what another learned after it)."""
        rows = [{"local_project": f.local_project, "provider": f.provider,
                 "remote_project": f.remote_project,
                 "local_project_name": f.local_project_name, "seen_at": f.seen_at}
                for f in {f.key: f for f in found}.values()]
        if not rows:
            return
        t = project_providers
        dialect = postgresql if self.engine.dialect.name == "postgresql" else sqlite
        insert = dialect.insert(t)
        upsert = insert.on_conflict_do_update(
            index_elements=["local_project", "provider"],
            set_={c: insert.excluded[c] for c in ("remote_project", "local_project_name",
                                                  "seen_at")},
            where=t.c.seen_at <= insert.excluded.seen_at)
        async with self.engine.begin() as conn:
            await conn.execute(upsert, rows)

    async def of_project(self, local_project: str) -> list[ProjectProvider]:
        """What is known of one project, by provider."""
        t = project_providers
        query = sa.select(t).where(t.c.local_project == local_project).order_by(t.c.provider)
        async with self.engine.connect() as conn:
            return [_from_row(r) for r in (await conn.execute(query)).all()]

    async def all(self, limit: int | None = None) -> list[ProjectProvider]:
        """Every row, by local project then provider."""
        t = project_providers
        query = sa.select(t).order_by(t.c.local_project, t.c.provider)
        if limit is not None:
            query = query.limit(limit)
        async with self.engine.connect() as conn:
            return [_from_row(r) for r in (await conn.execute(query)).all()]

    async def forget(self, local_project: str, provider: str | None = None) -> int:
        """Forget a project (at one provider, or everywhere); returns how many rows went."""
        t = project_providers
        query = sa.delete(t).where(t.c.local_project == local_project)
        if provider is not None:
            query = query.where(t.c.provider == provider)
        async with self.engine.begin() as conn:
            return (await conn.execute(query)).rowcount


def _from_row(row) -> ProjectProvider:
    return ProjectProvider(row.local_project, row.provider, row.remote_project, row.seen_at,
                           row.local_project_name)
