"""Pure: one oslo.messaging notification (the bytes off the broker) → the mapping changes it
means, or why it was skipped.

The wire form is oslo.messaging's (message format 2.0: ``{"oslo.version": "2.0",
"oslo.message": "<json>"}``; format 1.0, the message itself, is accepted too). The payloads
are those the services send:

- Cinder ``volume.create.end``, ``volume.transfer.accept.end`` (the new owner),
  ``volume.delete.end``: ``volume_id``, ``tenant_id``; ``snapshot.create.end``,
  ``snapshot.delete.end``: ``snapshot_id``, ``tenant_id``.
- Glance ``image.create``, ``image.delete``: the image (``id``, ``owner``).
- Nova legacy ``compute.instance.create.end`` / ``.delete.end``: ``instance_id``,
  ``tenant_id``; versioned ``instance.create.end`` / ``instance.delete.end``: a
  ``nova_object`` whose data holds ``uuid`` and ``tenant_id``.
- Neutron ``network.create.end`` / ``port.create.end``: ``{"network": {...}}`` (a bulk create:
  ``{"networks": [...]}``), the owner in ``project_id`` or ``tenant_id``;
  ``network.delete.end`` / ``port.delete.end``: ``network_id`` / ``port_id``.

Nothing here logs, and a reason never quotes the message: its context may hold a token.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Annotated, Any

import msgspec

Id = Annotated[str, msgspec.Meta(min_length=1, max_length=255)]
Project = Annotated[str, msgspec.Meta(max_length=255)] | None


@dataclass(frozen=True)
class Change:
    """What one notification says about one resource: it exists (in ``remote_project``) as of
    ``at``, or it is gone as of ``at`` (``deleted``). ``at`` is the notification's own time."""

    resource_type: str
    resource_id: str
    remote_project: str | None
    deleted: bool
    at: dt.datetime


@dataclass(frozen=True)
class Skipped:
    """A notification that changes no mapping. ``malformed``: it could not be read at all, or
    an event OCX learns from lacked what it needs; otherwise it is simply not of interest."""

    reason: str
    malformed: bool
    event_type: str | None = None
    message_id: str | None = None


@dataclass(frozen=True)
class Parsed:
    changes: tuple[Change, ...]
    event_type: str
    message_id: str | None


# -- the envelope ------------------------------------------------------------------------------

class _Envelope(msgspec.Struct):
    message: str = msgspec.field(name="oslo.message")
    version: str = msgspec.field(name="oslo.version", default="2.0")


class _Message(msgspec.Struct):
    event_type: Annotated[str, msgspec.Meta(min_length=1, max_length=255)]
    payload: Any
    timestamp: str
    message_id: str | None = None
    publisher_id: str | None = None


# -- payloads of the events OCX learns from ------------------------------------------------

class _Volume(msgspec.Struct):
    volume_id: Id
    tenant_id: Project = None


class _Snapshot(msgspec.Struct):
    snapshot_id: Id
    tenant_id: Project = None


class _Image(msgspec.Struct):
    id: Id
    owner: Project = None


class _LegacyInstance(msgspec.Struct):
    instance_id: Id
    tenant_id: Project = None


class _InstanceData(msgspec.Struct):
    uuid: Id
    tenant_id: Project = None


class _VersionedInstance(msgspec.Struct):
    data: _InstanceData = msgspec.field(name="nova_object.data")


class _NeutronItem(msgspec.Struct):
    id: Id
    project_id: Project = None
    tenant_id: Project = None


# event type → (resource type, deleted, how to read its payload)
def _volume(p: Any) -> list[tuple[str, str | None]]:
    v = msgspec.convert(p, _Volume)
    return [(v.volume_id, v.tenant_id)]


def _snapshot(p: Any) -> list[tuple[str, str | None]]:
    s = msgspec.convert(p, _Snapshot)
    return [(s.snapshot_id, s.tenant_id)]


def _image(p: Any) -> list[tuple[str, str | None]]:
    i = msgspec.convert(p, _Image)
    return [(i.id, i.owner)]


def _legacy_instance(p: Any) -> list[tuple[str, str | None]]:
    i = msgspec.convert(p, _LegacyInstance)
    return [(i.instance_id, i.tenant_id)]


def _versioned_instance(p: Any) -> list[tuple[str, str | None]]:
    i = msgspec.convert(p, _VersionedInstance).data
    return [(i.uuid, i.tenant_id)]


def _neutron_created(resource: str):
    def read(p: Any) -> list[tuple[str, str | None]]:
        if not isinstance(p, dict):
            raise msgspec.ValidationError("Expected `object` - at `$`")
        if resource in p:
            items = [msgspec.convert(p[resource], _NeutronItem)]
        elif f"{resource}s" in p:
            items = msgspec.convert(p[f"{resource}s"], list[_NeutronItem])
        else:
            raise msgspec.ValidationError(f"Object missing required field `{resource}`")
        return [(i.id, i.project_id or i.tenant_id) for i in items]
    return read


def _neutron_deleted(resource: str):
    key = f"{resource}_id"

    def read(p: Any) -> list[tuple[str, str | None]]:
        if not isinstance(p, dict) or key not in p:
            raise msgspec.ValidationError(f"Object missing required field `{key}`")
        return [(msgspec.convert(p[key], Id), None)]
    return read


EVENTS: dict[str, tuple[str, bool, Any]] = {
    "volume.create.end": ("volumes", False, _volume),
    "volume.transfer.accept.end": ("volumes", False, _volume),
    "volume.delete.end": ("volumes", True, _volume),
    "snapshot.create.end": ("snapshots", False, _snapshot),
    "snapshot.delete.end": ("snapshots", True, _snapshot),
    "image.create": ("images", False, _image),
    "image.delete": ("images", True, _image),
    "compute.instance.create.end": ("servers", False, _legacy_instance),
    "compute.instance.delete.end": ("servers", True, _legacy_instance),
    "instance.create.end": ("servers", False, _versioned_instance),
    "instance.delete.end": ("servers", True, _versioned_instance),
    "network.create.end": ("networks", False, _neutron_created("network")),
    "network.delete.end": ("networks", True, _neutron_deleted("network")),
    "port.create.end": ("ports", False, _neutron_created("port")),
    "port.delete.end": ("ports", True, _neutron_deleted("port")),
}


def parse(body: bytes) -> Parsed | Skipped:
    """The mapping changes one notification means, or why it changes none."""
    try:
        document = msgspec.json.decode(body)
    except msgspec.DecodeError as exc:
        return Skipped(f"not JSON: {exc}", malformed=True)
    try:
        if isinstance(document, dict) and "oslo.message" in document:
            envelope = msgspec.convert(document, _Envelope)
            if not envelope.version.startswith("2."):
                return Skipped(f"oslo.version {envelope.version[:16]!r} is not 2.x",
                               malformed=True)
            message = msgspec.json.decode(envelope.message, type=_Message)
        else:  # message format 1.0: no envelope
            message = msgspec.convert(document, _Message)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        return Skipped(f"not an oslo notification: {exc}", malformed=True)
    event_type, message_id = message.event_type, message.message_id
    known = EVENTS.get(event_type)
    if known is None:
        return Skipped("not an event OCX learns from", malformed=False,
                       event_type=event_type, message_id=message_id)
    at = notification_time(message.timestamp)
    if at is None:
        return Skipped("its timestamp is not a time", malformed=True,
                       event_type=event_type, message_id=message_id)
    resource_type, deleted, read = known
    try:
        found = read(message.payload)
    except (msgspec.ValidationError, TypeError) as exc:
        return Skipped(f"payload: {exc}", malformed=True, event_type=event_type,
                       message_id=message_id)
    if not found:
        return Skipped("payload names no resource", malformed=True, event_type=event_type,
                       message_id=message_id)
    return Parsed(tuple(Change(resource_type, rid, None if deleted else project or None,
                               deleted, at) for rid, project in found),
                  event_type, message_id)


def notification_time(text: str) -> dt.datetime | None:
    """oslo's ``timestamp`` (``2026-11-24 10:00:00.123456``, naive UTC; ISO 8601 with an
    offset too) as an aware UTC datetime; None when it is not a time."""
    try:
        when = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    if when.tzinfo is None:
        return when.replace(tzinfo=dt.UTC)
    return when.astimezone(dt.UTC)
