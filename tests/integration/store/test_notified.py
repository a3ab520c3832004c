"""Mappings kept current by notifications: whatever order and however often they arrive, the
store ends where the newest one says (a delete before its create wins)."""
from __future__ import annotations

import asyncio
import datetime as dt
import itertools

from ocx.store import ResourceMapping
from ocx.store.notified import ResourceEvent

T0 = dt.datetime(2026, 11, 25, 10, 0, tzinfo=dt.UTC)


def event(kind: str, seconds: float, project: str | None = "p-demo", provider: str = "sp1",
          rid: str = "vol-1") -> ResourceEvent:
    return ResourceEvent("volumes", rid, provider, None if kind == "delete" else project,
                         kind == "delete", T0 + dt.timedelta(seconds=seconds))


CREATE = event("create", 0)
TRANSFER = event("put", 5, project="p-other")
DELETE = event("delete", 9)


async def where(store, rid: str = "vol-1"):
    m = await store.get_resource_mapping("volumes", rid)
    return None if m is None else (m.provider, m.remote_project, m.source)


async def test_a_notified_volume_is_mapped_and_its_deletion_forgets_it(store):
    assert await store.notified.apply([CREATE]) == [True]
    assert await where(store) == ("sp1", "p-demo", "notification")

    assert await store.notified.apply([DELETE]) == [True]
    assert await where(store) is None
    last = await store.notified.last_event("volumes", "vol-1")
    assert last.deleted and last.at == DELETE.at   # the tombstone


async def test_a_delete_before_its_create_wins(store):
    await store.notified.apply([DELETE])
    assert await store.notified.apply([CREATE]) == [False]
    assert await where(store) is None


async def test_every_order_with_duplicates_ends_the_same(open_store):
    # Create, transfer to another project, delete, and a second volume that stays: every
    # order of arrival, with duplicates, across two workers sharing the store.
    kept_create, kept_transfer = event("create", 1, rid="vol-2"), event("put", 2, "p-2",
                                                                         rid="vol-2")
    events = [CREATE, TRANSFER, DELETE, kept_create, kept_transfer]
    a, b = await open_store(), await open_store()
    for i, order in enumerate(itertools.islice(itertools.permutations(events), 0, None, 7)):
        suffix = f"-{i}"
        renamed = [ResourceEvent(e.resource_type, e.resource_id + suffix, e.provider,
                                 e.remote_project, e.deleted, e.at)
                   for e in (*order, order[0], order[2])]
        for n, e in enumerate(renamed):
            await (a if n % 2 else b).notified.apply([e])
        assert await where(a, "vol-1" + suffix) is None, order
        assert await where(b, "vol-2" + suffix) == ("sp1", "p-2", "notification"), order


async def test_two_workers_applying_at_once_agree(open_store):
    a, b = await open_store(), await open_store()
    for i in range(10):
        rid = f"race-{i}"
        create, delete = event("create", 0, rid=rid), event("delete", 1, rid=rid)
        await asyncio.gather(a.notified.apply([delete]), b.notified.apply([create]))
        assert await where(a, rid) is None and await where(b, rid) is None


async def test_a_create_in_the_same_place_keeps_what_ocx_learned(store):
    learned = ResourceMapping.learned("volumes", "vol-1", "sp1", "p-demo",
                                      "http://sp1.example:8776/v3", "create")
    await store.put_resource_mappings([learned])

    assert await store.notified.apply([CREATE]) == [True]

    found = await store.get_resource_mapping("volumes", "vol-1")
    assert (found.endpoint, found.source) == ("http://sp1.example:8776/v3", "create")
    await store.notified.apply([TRANSFER])
    found = await store.get_resource_mapping("volumes", "vol-1")
    assert (found.remote_project, found.endpoint, found.source) == (
        "p-other", None, "notification")


async def test_the_cache_does_not_keep_what_a_notification_deleted(store):
    await store.put_resource_mappings([ResourceMapping.learned(
        "volumes", "vol-1", "sp1", "p-demo", None, "listing")])
    assert await where(store) is not None   # now cached

    await store.notified.apply([DELETE])

    assert await where(store) is None


async def test_old_events_and_tombstones_are_purged(store):
    await store.notified.apply([DELETE, event("create", 100, rid="vol-new")])

    assert await store.notified.purge(T0 + dt.timedelta(seconds=50)) == 1

    assert await store.notified.last_event("volumes", "vol-1") is None
    assert await store.notified.last_event("volumes", "vol-new") is not None
