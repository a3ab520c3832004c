"""What OCX records of each project at each provider (ocx.identity.usage)."""
from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

import pytest

from ocx.backends.base import Credentials
from ocx.identity.errors import K2KFailed, NoRemoteProjectAt
from ocx.identity.usage import ProjectUsage, RecordingMapper, project_records
from ocx.store.models import ProjectProvider

T0 = dt.datetime(2026, 11, 25, 12, 0, tzinfo=dt.UTC)
CALLER = SimpleNamespace(project_id="p1", project_name="demo")


class FakeStore:
    def __init__(self) -> None:
        self.rows: dict[tuple[str, str], ProjectProvider] = {}
        self.writes = 0
        self.reads = 0

    async def record(self, found) -> None:
        for f in found:
            self.writes += 1
            self.rows[f.key] = f

    async def of_project(self, project: str):
        self.reads += 1
        return [r for (p, _), r in self.rows.items() if p == project]


class FakeMapper:
    """Credits as told: a remote project id, or an exception to raise."""

    def __init__(self, **outcomes) -> None:
        self.outcomes = outcomes
        self.home = "home"

    async def credentials(self, caller, provider):
        outcome = self.outcomes[provider]
        if isinstance(outcome, Exception):
            raise outcome
        return Credentials("remote-token", outcome)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **kw) -> None:
        self.now += dt.timedelta(**kw)


@pytest.fixture
def clock() -> Clock:
    return Clock()


def usage(store, clock, **kw) -> ProjectUsage:
    return ProjectUsage(store, configured={"demo": ["sp3"], "p1": ["sp2"]},
                        recheck=dt.timedelta(hours=1), clock=clock, **kw)


async def test_each_credit_records_the_remote_project_or_that_the_provider_holds_nothing(clock):
    store = FakeStore()
    mapper = RecordingMapper(FakeMapper(home="p1", sp1="r1", sp2=NoRemoteProjectAt(
        "sp2", "the federated user has no project there", 0),
        sp3=NoRemoteProjectAt("sp3", "ambiguous", 2), sp4=K2KFailed("sp4", "unreachable")),
        usage(store, clock))
    assert (await mapper.credentials(CALLER, "sp1")).project_id == "r1"
    await mapper.credentials(CALLER, "home")
    for provider in ("sp2", "sp3", "sp4"):
        with pytest.raises(K2KFailed):
            await mapper.credentials(CALLER, provider)
    # Only a provider with no project at all holds nothing; other failures teach nothing.
    assert {k: r.remote_project for k, r in store.rows.items()} == {
        ("p1", "sp1"): "r1", ("p1", "home"): "p1", ("p1", "sp2"): None}
    assert store.rows[("p1", "sp1")].local_project_name == "demo"
    assert mapper.home == "home"    # everything else is the wrapped mapper's


async def test_the_same_finding_is_written_again_only_after_the_refresh(clock):
    store = FakeStore()
    recorder = usage(store, clock, refresh=dt.timedelta(minutes=5))
    await recorder.seen(CALLER, "sp1", "r1")
    clock.advance(minutes=1)
    await recorder.seen(CALLER, "sp1", "r1")
    assert store.writes == 1
    await recorder.seen(CALLER, "sp1", "r2")          # a change is written at once
    assert store.writes == 2 and store.rows[("p1", "sp1")].remote_project == "r2"
    clock.advance(minutes=5)
    await recorder.seen(CALLER, "sp1", "r2")
    assert store.writes == 3 and store.rows[("p1", "sp1")].seen_at == clock.now


async def test_records_are_read_once_and_kept_current_by_what_this_worker_learns(clock):
    store = FakeStore()
    recorder = usage(store, clock)
    assert await recorder.recorded("p1") == {}
    await recorder.seen(CALLER, "sp2", None)
    known = await recorder.recorded("p1")
    assert store.reads == 1 and known["sp2"].holds_nothing


def test_the_operator_lists_providers_by_project_id_or_name(clock):
    assert usage(FakeStore(), clock).configured_for("p1", "demo") == ("sp2", "sp3")
    assert usage(FakeStore(), clock).configured_for("p9", "other") == ()


def test_records_show_home_foreign_and_holding_nothing_per_project():
    rows = [ProjectProvider("p1", "home", "p1", T0, "demo"),
            ProjectProvider("p1", "sp1", "r1", T0, "demo"),
            ProjectProvider("p1", "sp2", None, T0, "demo"),
            ProjectProvider("p2", "sp1", "r2", T0, None),
            ProjectProvider("p3", "home", "p3", T0, "demo")]   # "demo" of another domain
    records = project_records(rows, home="home", configured={"demo": ["sp2"], "p7": ["sp1"]})
    assert records[0] == {
        "project_id": "p1", "project_name": "demo", "home": "home",
        "home_last_seen": "2026-11-25T12:00:00+00:00",
        "foreign": [{"provider": "sp1", "remote_project": "r1",
                     "last_seen": "2026-11-25T12:00:00+00:00"}],
        "holds_nothing": [{"provider": "sp2", "last_checked": "2026-11-25T12:00:00+00:00"}],
        "configured": ["sp2"]}
    assert records[1]["home_last_seen"] is None and records[1]["foreign"][0]["provider"] == "sp1"
    assert records[2]["configured"] == ["sp2"]
    # A project the operator configured that OCX has not seen yet.
    assert records[3]["project_id"] is None and records[3]["configured_as"] == "p7"
