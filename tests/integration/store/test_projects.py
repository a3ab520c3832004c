"""The providers each project uses, in the store (store.projects), on SQLite and PostgreSQL."""
from __future__ import annotations

import datetime as dt

from ocx.store import ProjectProvider

T0 = dt.datetime(2026, 11, 25, 12, 0, tzinfo=dt.UTC)


async def test_findings_are_kept_per_project_and_provider(store):
    await store.projects.record([ProjectProvider("p1", "home", "p1", T0, "demo"),
                                 ProjectProvider("p1", "sp1", "r1", T0, "demo"),
                                 ProjectProvider("p2", "sp2", None, T0)])
    mine = await store.projects.of_project("p1")
    assert [(r.provider, r.remote_project, r.seen_at) for r in mine] == [
        ("home", "p1", T0), ("sp1", "r1", T0)]
    assert [r.key for r in await store.projects.all()] == [
        ("p1", "home"), ("p1", "sp1"), ("p2", "sp2")]
    assert (await store.projects.all(limit=1))[0].key == ("p1", "home")


async def test_a_newer_finding_replaces_an_older_one_never_the_reverse(store):
    later = T0 + dt.timedelta(minutes=5)
    await store.projects.record([ProjectProvider("p1", "sp1", "r1", T0)])
    await store.projects.record([ProjectProvider("p1", "sp1", None, later)])
    await store.projects.record([ProjectProvider("p1", "sp1", "r1", T0)])   # a slow worker
    [row] = await store.projects.of_project("p1")
    assert row.holds_nothing and row.seen_at == later


async def test_forgetting_a_project(store):
    await store.projects.record([ProjectProvider("p1", "sp1", "r1", T0),
                                 ProjectProvider("p1", "sp2", "r2", T0)])
    assert await store.projects.forget("p1", "sp2") == 1
    assert await store.projects.forget("p1") == 1
    assert await store.projects.of_project("p1") == []
