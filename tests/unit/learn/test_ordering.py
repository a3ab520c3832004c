"""The ordering rule: whatever order a resource's notifications arrive in, and however often,
the mapping ends where the newest says (a delete that arrives before its create wins)."""
from __future__ import annotations

import datetime as dt

from hypothesis import given, settings
from hypothesis import strategies as st

from ocx.learn.notifications import parse
from ocx.store.notified import LastEvent, ResourceEvent, supersedes
from tests.unit.learn.test_notifications import VOLUME, wire

T0 = dt.datetime(2026, 11, 25, 10, 0, tzinfo=dt.UTC)


def fold(events):
    """Apply events one by one as the store does: (mapping, last event) per resource."""
    mappings, last = {}, {}
    for e in events:
        if not supersedes(e, last.get(e.key)):
            continue
        last[e.key] = LastEvent(e.at, e.deleted, e.provider, e.remote_project)
        if e.deleted:
            mappings.pop(e.key, None)
        else:
            mappings[e.key] = (e.provider, e.remote_project)
    return mappings


def from_wire(provider: str, body: bytes) -> list[ResourceEvent]:
    return [ResourceEvent(c.resource_type, c.resource_id, provider, c.remote_project, c.deleted,
                          c.at) for c in parse(body).changes]


def stamp(seconds: int) -> str:
    return (T0 + dt.timedelta(seconds=seconds)).replace(tzinfo=None).strftime(
        "%Y-%m-%d %H:%M:%S.%f")


# One notification: (event, volume, project, second); few volumes, projects and seconds, so
# that duplicates and ties are common.
notification = st.tuples(
    st.sampled_from(["volume.create.end", "volume.transfer.accept.end", "volume.delete.end"]),
    st.sampled_from(["v-1", "v-2"]), st.sampled_from(["p-a", "p-b", ""]),
    st.integers(0, 4))


def bodies(spec) -> list[bytes]:
    return [wire(event, dict(VOLUME, volume_id=vid, tenant_id=project or None),
                 timestamp=stamp(second)) for event, vid, project, second in spec]


@settings(max_examples=400, deadline=None)
@given(st.lists(notification, min_size=1, max_size=8), st.randoms(use_true_random=False),
       st.lists(st.integers(0, 7), max_size=4))
def test_any_order_with_duplicates_gives_the_same_mappings(spec, rnd, duplicated):
    events = [e for body in bodies(spec) for e in from_wire("sp1", body)]
    shuffled = events + [events[i % len(events)] for i in duplicated]
    rnd.shuffle(shuffled)

    assert fold(shuffled) == fold(events)


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 4), st.integers(0, 4))
def test_a_delete_not_older_than_the_create_wins_in_either_order(created, deleted):
    create, delete = (from_wire("sp1", b)[0] for b in bodies([
        ("volume.create.end", "v-1", "p-a", created), ("volume.delete.end", "v-1", "", deleted)]))
    expected = {} if deleted >= created else {("volumes", "v-1"): ("sp1", "p-a")}

    assert fold([create, delete]) == fold([delete, create]) == expected


def test_a_duplicate_never_supersedes():
    (create,) = from_wire("sp1", bodies([("volume.create.end", "v-1", "p-a", 1)])[0])
    assert not supersedes(create, LastEvent(create.at, False, "sp1", "p-a"))
    assert supersedes(create, None)
