"""Reading one oslo notification: the mapping changes it means, or why it is skipped."""
from __future__ import annotations

import datetime as dt
import uuid

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ocx.learn.notifications import EVENTS, Change, Parsed, Skipped, notification_time, parse
from ocx.sim.notify import oslo_envelope

PROJECT = "9a7e3f2c1b8d4e6fa0b1c2d3e4f5a6b7"
TOKEN = "gAAAAABsecret-token-of-the-caller"
WHEN = "2026-11-25 10:00:00.123456"
AT = dt.datetime(2026, 11, 25, 10, 0, 0, 123456, tzinfo=dt.UTC)


def wire(event_type: str, payload, *, timestamp: str = WHEN, publisher: str = "volume.sp1",
         context: dict | None = None) -> bytes:
    """As oslo.messaging's messaging driver sends it (the sim's own envelope)."""
    envelope = oslo_envelope(event_type, payload, publisher,
                             context or {"auth_token": TOKEN, "project_id": PROJECT})
    inner = orjson.loads(envelope["oslo.message"])
    inner["timestamp"] = timestamp
    envelope["oslo.message"] = orjson.dumps(inner).decode()
    return orjson.dumps(envelope)


def one(body: bytes) -> Change:
    parsed = parse(body)
    assert isinstance(parsed, Parsed), parsed
    (change,) = parsed.changes
    return change


VOLUME = {"tenant_id": PROJECT, "user_id": "u1", "volume_id": "v-1", "display_name": "data",
          "size": 1, "status": "available", "host": "sp1@lvm", "availability_zone": "nova",
          "volume_attachment": [], "metadata": []}
SNAPSHOT = {"tenant_id": PROJECT, "snapshot_id": "s-1", "volume_id": "v-1", "volume_size": 1,
            "status": "available", "deleted": "", "display_name": "snap"}
IMAGE = {"id": "i-1", "name": "cirros", "owner": PROJECT, "status": "queued",
         "visibility": "private", "properties": {}, "tags": [], "deleted": False}
LEGACY_INSTANCE = {"tenant_id": PROJECT, "instance_id": "vm-1", "user_id": "u1",
                   "display_name": "vm", "state": "active"}
VERSIONED_INSTANCE = {"nova_object.name": "InstanceCreatePayload",
                      "nova_object.namespace": "nova", "nova_object.version": "1.12",
                      "nova_object.data": {"uuid": "vm-2", "tenant_id": PROJECT,
                                           "host_name": "vm", "state": "active"}}


@pytest.mark.parametrize("event_type, payload, expected", [
    ("volume.create.end", VOLUME, ("volumes", "v-1", PROJECT, False)),
    ("volume.transfer.accept.end", dict(VOLUME, tenant_id="new-owner"),
     ("volumes", "v-1", "new-owner", False)),
    ("volume.delete.end", VOLUME, ("volumes", "v-1", None, True)),
    ("snapshot.create.end", SNAPSHOT, ("snapshots", "s-1", PROJECT, False)),
    ("snapshot.delete.end", SNAPSHOT, ("snapshots", "s-1", None, True)),
    ("image.create", IMAGE, ("images", "i-1", PROJECT, False)),
    ("image.delete", dict(IMAGE, deleted=True), ("images", "i-1", None, True)),
    ("compute.instance.create.end", LEGACY_INSTANCE, ("servers", "vm-1", PROJECT, False)),
    ("compute.instance.delete.end", LEGACY_INSTANCE, ("servers", "vm-1", None, True)),
    ("instance.create.end", VERSIONED_INSTANCE, ("servers", "vm-2", PROJECT, False)),
    ("instance.delete.end", VERSIONED_INSTANCE, ("servers", "vm-2", None, True)),
    ("network.create.end", {"network": {"id": "n-1", "project_id": PROJECT,
                                        "tenant_id": PROJECT, "name": "net"}},
     ("networks", "n-1", PROJECT, False)),
    ("network.delete.end", {"network_id": "n-1", "network": {"id": "n-1"}},
     ("networks", "n-1", None, True)),
    ("port.create.end", {"port": {"id": "p-1", "tenant_id": PROJECT, "network_id": "n-1"}},
     ("ports", "p-1", PROJECT, False)),
    ("port.delete.end", {"port_id": "p-1"}, ("ports", "p-1", None, True)),
])
def test_each_event_ocx_learns_from(event_type, payload, expected):
    change = one(wire(event_type, payload))
    assert (change.resource_type, change.resource_id, change.remote_project,
            change.deleted) == expected
    assert change.at == AT


def test_a_bulk_create_of_neutron_maps_every_item():
    parsed = parse(wire("port.create.end", {"ports": [
        {"id": "p-1", "project_id": PROJECT}, {"id": "p-2", "project_id": PROJECT}]}))
    assert [c.resource_id for c in parsed.changes] == ["p-1", "p-2"]


def test_message_format_1_without_envelope_is_read():
    body = orjson.dumps({"message_id": str(uuid.uuid4()), "event_type": "volume.create.end",
                         "priority": "INFO", "publisher_id": "volume.sp1",
                         "timestamp": WHEN, "payload": VOLUME})
    assert one(body).resource_id == "v-1"


@pytest.mark.parametrize("event_type", ["volume.create.start", "volume.update.end",
                                        "compute.instance.volume.attach", "image.send",
                                        "subnet.create.end", "identity.authenticate"])
def test_other_events_are_skipped_without_complaint(event_type):
    skipped = parse(wire(event_type, {"anything": 1}))
    assert isinstance(skipped, Skipped) and not skipped.malformed
    assert skipped.event_type == event_type


@pytest.mark.parametrize("body, reason", [
    (b"not json", "not JSON"),
    (b'{"oslo.version": "2.0", "oslo.message": "{broken"}', "not an oslo notification"),
    (b'{"oslo.version": "2.0", "oslo.message": 42}', "not an oslo notification"),
    (b'{"oslo.version": "3.0", "oslo.message": "{}"}', "oslo.version"),
    (b'[1, 2]', "not an oslo notification"),
    (wire("volume.create.end", {"tenant_id": PROJECT}), "volume_id"),
    (wire("volume.create.end", dict(VOLUME, volume_id="")), "payload"),
    (wire("volume.create.end", dict(VOLUME, volume_id=7)), "payload"),
    (wire("network.create.end", {"subnet": {}}), "network"),
    (wire("port.delete.end", {"id": "p-1"}), "port_id"),
    (wire("port.create.end", {"ports": []}), "names no resource"),
    (wire("instance.create.end", {"nova_object.data": {"tenant_id": PROJECT}}), "uuid"),
    (wire("volume.create.end", VOLUME, timestamp="yesterday"), "timestamp"),
])
def test_a_malformed_notification_says_why(body, reason):
    skipped = parse(body)
    assert isinstance(skipped, Skipped) and skipped.malformed
    assert reason in skipped.reason


def test_a_reason_never_quotes_the_context_token():
    body = wire("volume.create.end", {"volume_id": TOKEN, "tenant_id": 5})
    skipped = parse(body)
    assert skipped.malformed and TOKEN not in skipped.reason and "secret" not in skipped.reason


def test_notification_times_are_utc():
    assert notification_time(WHEN) == AT
    assert notification_time("2026-11-25T11:00:00.123456+01:00") == AT
    assert notification_time("2026-11-25T10:00:00.123456Z") == AT
    assert notification_time("") is None


# -- properties ---------------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**63, 2**63 - 1) | st.floats(allow_nan=False)
    | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(), children,
                                                                      max_size=4),
    max_leaves=12)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_any_bytes_are_parsed_or_skipped_never_raise(body):
    assert isinstance(parse(body), (Parsed, Skipped))


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(sorted(EVENTS)), json_values)
def test_any_payload_of_a_known_event_is_parsed_or_skipped_as_malformed(event_type, payload):
    result = parse(wire(event_type, payload))
    assert isinstance(result, Parsed) or (isinstance(result, Skipped) and result.malformed)


ids = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=255)


@settings(max_examples=200, deadline=None)
@given(ids, ids, st.datetimes(dt.datetime(1970, 1, 1), dt.datetime(2200, 1, 1),
                               timezones=st.just(dt.UTC)))
def test_what_a_volume_create_names_is_what_is_mapped(volume_id, project, when):
    change = one(wire("volume.create.end", dict(VOLUME, volume_id=volume_id, tenant_id=project),
                      timestamp=when.replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")))
    assert (change.resource_id, change.remote_project, change.at) == (volume_id, project, when)
