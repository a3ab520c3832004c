"""What a ``POST /servers`` asks of volume create on boot (seed 000), read and rewritten: pure.

The client names the provider where the new volumes are made with ``ocx:volume_provider``, a
sibling of ``server`` as Nova's ``os:scheduler_hints`` is (every mapping that Nova would make a
volume for: ``destination_type: volume`` from an image, a snapshot or nothing), or inside one
mapping (that mapping only; there it also turns ``source_type: volume`` into a new volume cloned
from that one, where Nova would attach the volume itself)::

    {"server": {..., "block_device_mapping_v2": [
        {"boot_index": 0, "source_type": "image", "uuid": IMAGE, "destination_type": "volume",
         "volume_size": 1}]},
     "ocx:volume_provider": "sp2"}

A client that can only send scheduler hints (``openstack server create --hint``, openstacksdk's
``scheduler_hints``) gives the top-level form as the hint ``ocx:volume_provider``.

Once the volumes are made, the body Nova gets names none of this: each such mapping boots from
(or attaches) its new volume, ``source_type: volume, uuid: <id>``.
"""
from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

PARAMETER = "ocx:volume_provider"
HINTS = ("os:scheduler_hints", "OS-SCH-HNT:scheduler_hints")
SOURCES = ("image", "snapshot", "volume", "blank")
# What Cinder's volume create calls each source (Nova's nova.volume.cinder.API.create).
CINDER_SOURCE = {"image": "imageRef", "snapshot": "snapshot_id", "volume": "source_volid"}
# What a mapping to an existing volume may not carry (Nova refuses volume_type there).
_MADE_ONLY = ("volume_size", "volume_type", PARAMETER)


class BodyError(Exception):
    """The request cannot be served as it is: a 400 with this message, nothing made."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class NewVolume:
    """One volume to make before the boot: for the mapping at ``index``."""

    index: int
    provider: str
    source_type: str              # image | snapshot | volume | blank
    source_id: str | None         # None for blank
    size: int | None              # None: the source's (a snapshot's or a volume's)
    volume_type: str | None = None

    def create_body(self) -> dict:
        """Cinder's volume create, as Nova asks it for a mapping (no name, no description)."""
        spec: dict[str, Any] = {"name": "", "description": ""}
        if self.size is not None:
            spec["size"] = self.size
        if self.source_type in CINDER_SOURCE:
            spec[CINDER_SOURCE[self.source_type]] = self.source_id
        if self.volume_type:
            spec["volume_type"] = self.volume_type
        return {"volume": spec}

    def describe(self) -> str:
        origin = "nothing" if self.source_id is None else f"{self.source_type} {self.source_id}"
        return f"the volume of block device mapping {self.index} (from {origin})"


def _provider(value: Any, where: str, providers: Sequence[str]) -> str:
    if not isinstance(value, str) or not value.strip():
        raise BodyError(f"Invalid input for field/attribute {PARAMETER}{where}. Value: "
                        f"{value!r}. It must name a provider.")
    if value not in providers:
        raise BodyError(f"Provider {value!r} named in {PARAMETER}{where} is not known; known "
                        f"providers: {', '.join(providers)}.")
    return value


def _top_level(body: dict, providers: Sequence[str]) -> str | None:
    """The provider named for the whole create: the member, or the hint (one value)."""
    named = {}
    if PARAMETER in body:
        named[""] = _provider(body[PARAMETER], "", providers)
    for key in HINTS:
        hints = body.get(key)
        if isinstance(hints, dict) and PARAMETER in hints:
            value = hints[PARAMETER]
            if isinstance(value, list) and len(value) == 1:
                value = value[0]  # a hint given once, as some clients send every hint
            named[key] = _provider(value, f" (scheduler hint of {key})", providers)
    if len(set(named.values())) > 1:
        raise BodyError(f"{PARAMETER} names more than one provider: "
                        f"{', '.join(sorted(set(named.values())))}.")
    return next(iter(named.values()), None)


def _size(value: Any, index: int) -> int | None:
    if value is None:
        return None
    try:
        size = int(value)
    except (TypeError, ValueError):
        size = 0
    if size < 1 or isinstance(value, bool):
        raise BodyError(f"Invalid input for field/attribute volume_size of block device "
                        f"mapping {index}. Value: {value!r}. It must be a positive integer.")
    return size


def _new_volume(bdm: Mapping, index: int, provider: str) -> NewVolume:
    """The volume one mapping asks for, checked as Nova checks a mapping it makes one for."""
    source = bdm.get("source_type")
    if source not in SOURCES:
        raise BodyError(f"Block Device Mapping is Invalid: mapping {index} names no source_type "
                        f"OCX can make a volume from ({', '.join(SOURCES)}).")
    device_uuid = bdm.get("uuid")
    if source == "blank" and device_uuid:
        raise BodyError("Block Device Mapping is Invalid: Invalid device UUID.")
    if source != "blank" and (not isinstance(device_uuid, str) or not device_uuid):
        raise BodyError("Block Device Mapping is Invalid: Missing device UUID.")
    size = _size(bdm.get("volume_size"), index)
    if size is None and source == "image":
        raise BodyError("Images with destination_type 'volume' need to have a non-zero size "
                        "specified")
    if size is None and source == "blank":
        raise BodyError("Blank volumes (source: 'blank', dest: 'volume') need to have "
                        "non-zero size")
    volume_type = bdm.get("volume_type")
    if volume_type is not None and not isinstance(volume_type, str):
        raise BodyError(f"Invalid input for field/attribute volume_type of block device "
                        f"mapping {index}. Value: {volume_type!r}. It must be a string.")
    return NewVolume(index, provider, source, device_uuid if source != "blank" else None,
                     size, volume_type or None)


def new_volumes(body: Any, providers: Sequence[str]) -> list[NewVolume]:
    """The volumes a server create asks OCX to make first; empty when it asks none.

    Raises :class:`BodyError` for a parameter that names no known provider or that no mapping
    uses, and for a mapping Nova would refuse to make a volume for.
    """
    if not isinstance(body, dict):
        return []
    server = body.get("server")
    bdms = server.get("block_device_mapping_v2") if isinstance(server, dict) else None
    bdms = bdms if isinstance(bdms, list) else []
    default = _top_level(body, providers)
    wanted = []
    for index, bdm in enumerate(bdms):
        if not isinstance(bdm, dict):
            continue
        source = bdm.get("source_type")
        destination = bdm.get("destination_type") or (
            "local" if source in ("image", "blank") else "volume")
        own = PARAMETER in bdm
        if own:
            provider = _provider(bdm[PARAMETER], f" of block device mapping {index}", providers)
            if destination != "volume":
                raise BodyError(f"{PARAMETER} of block device mapping {index} names where a "
                                "volume is made: the mapping needs destination_type 'volume'.")
        elif default is not None and destination == "volume" and source != "volume":
            provider = default
        else:
            continue
        wanted.append(_new_volume(bdm, index, provider))
    if default is not None and not any(PARAMETER not in bdms[v.index] for v in wanted):
        raise BodyError(f"{PARAMETER} names where new volumes are made, but no block device "
                        "mapping makes one (destination_type 'volume' from an image, a snapshot "
                        "or blank).")
    return wanted


def rewritten(body: dict, made: Mapping[int, str]) -> dict:
    """``body`` as Nova is to get it: the parameter (and hint) gone, each mapping in ``made``
    (index → new volume id) to that volume."""
    out = copy.deepcopy(body)
    out.pop(PARAMETER, None)
    for key in HINTS:
        hints = out.get(key)
        if isinstance(hints, dict) and PARAMETER in hints:
            hints.pop(PARAMETER)
            if not hints:
                del out[key]
    for index, bdm in enumerate(out["server"].get("block_device_mapping_v2") or ()):
        if not isinstance(bdm, dict):
            continue
        bdm.pop(PARAMETER, None)
        if index in made:
            for key in _MADE_ONLY:
                bdm.pop(key, None)
            bdm.update(source_type="volume", destination_type="volume", uuid=made[index])
    return out
