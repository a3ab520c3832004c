"""Gluon ports as Neutron shows ports (issue 9; seed 002, the Gluon wrapper plugin). Pure: no I/O.

- :func:`neutron_port`: a Proton port (Gluon's BasePort fields, its IP from its service
  binding) as a Neutron port, on the dummy network and subnet.
- :func:`decide`: what a ``PUT /v2.0/ports/{id}`` body asks of a Gluon port: a bind
  (``binding:host_id`` set), an unbind (cleared) or a plain update (untouched), checked as
  Neutron checks the attributes.
- :func:`parse_filters`, :func:`matches`: a listing's filters, read and held as Neutron does.
- :func:`listing`: one Proton server's Gluon ports answered as Neutron answers a listing
  (filters, sort, marker, limit, fields), so that the gateway's merge pages them with the
  Neutron ports like any other cloud's.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from oslo_utils import strutils

from ..routing.merge import SortError, neutron_sort

# Neutron's port attributes a caller may filter on (neutron-lib's port definition and the
# extensions every cloud here has: binding, port-security, standard-attr-*).
PORT_FILTERS = frozenset({
    "id", "name", "network_id", "admin_state_up", "mac_address", "fixed_ips", "device_id",
    "device_owner", "tenant_id", "project_id", "status", "security_groups",
    "port_security_enabled", "binding:host_id", "binding:vnic_type", "description",
    "revision_number", "tags", "tags-any", "not-tags", "not-tags-any"})
PORT_SORT_KEYS = frozenset({"id", "name", "network_id", "admin_state_up", "mac_address",
                            "device_id", "device_owner", "tenant_id", "project_id", "status",
                            "created_at", "updated_at", "revision_number"})
PAGING = frozenset({"fields", "sort_key", "sort_dir", "limit", "marker", "page_reverse"})
BOOLEAN = frozenset({"admin_state_up", "port_security_enabled"})
TAG_FILTERS = ("tags", "tags-any", "not-tags", "not-tags-any")

# What a caller may change on a Gluon port, Neutron's name → Proton's (BasePort).
UPDATABLE = {"name": "name", "admin_state_up": "admin_state_up", "device_id": "device_id",
             "device_owner": "device_owner", "mac_address": "mac_address",
             "binding:vnic_type": "vnic_type", "binding:profile": "profile"}
READ_ONLY = frozenset({"id", "status", "tenant_id", "project_id", "binding:vif_type",
                       "binding:vif_details", "created_at", "updated_at", "revision_number"})
HOST = "binding:host_id"
BINDING_ONLY = (HOST, "binding:profile")   # Neutron's policy keeps these to admin and service



class Refused(ValueError):
    """What Neutron would refuse with a 400 (``kind``: its error type)."""

    def __init__(self, message: str, kind: str = "HTTPBadRequest") -> None:
        super().__init__(message)
        self.message = message
        self.kind = kind


def _boolean(value: Any, name: str) -> bool:
    """Neutron's convert_to_boolean (oslo's strict bool_from_string)."""
    try:
        return strutils.bool_from_string(value, strict=True)
    except ValueError:
        raise Refused(f"Invalid input for {name}. Reason: '{value}' cannot be converted to "
                      f"boolean.", "InvalidInput") from None


def _mapping(value: Any) -> dict:
    """Proton keeps ``profile`` and ``vif_details`` as JSON text or as an object."""
    if isinstance(value, dict):
        return value
    if isinstance(value, str) and value.strip():
        try:
            parsed = orjson.loads(value)
        except orjson.JSONDecodeError:
            return {}
        return parsed if isinstance(parsed, dict) else {}
    return {}


# -- a Proton port as a Neutron port ---------------------------------------------------------

def neutron_port(port: dict, *, network_id: str, subnet_id: str,
                 ip_address: str | None = None) -> dict:
    """Every attribute of a Neutron port: the Proton port's, on the dummy network, its IP (if
    it has one) on the dummy subnet; what Proton has no notion of as Neutron's defaults."""
    project = str(port.get("tenant_id") or port.get("project_id") or "")
    host = port.get("host_id") or ""
    status = str(port.get("status") or ("ACTIVE" if host else "DOWN")).upper()
    return {
        "id": port["id"],
        "name": port.get("name") or "",
        "network_id": network_id,
        "tenant_id": project,
        "project_id": project,
        "mac_address": port.get("mac_address") or "",
        "admin_state_up": bool(port.get("admin_state_up", True)),
        "status": status,
        "device_id": port.get("device_id") or "",
        "device_owner": port.get("device_owner") or "",
        "fixed_ips": [{"subnet_id": subnet_id, "ip_address": ip_address}] if ip_address else [],
        "allowed_address_pairs": [],
        "extra_dhcp_opts": [],
        "security_groups": [],
        "port_security_enabled": False,
        "binding:host_id": host,
        "binding:vnic_type": port.get("vnic_type") or "normal",
        "binding:profile": _mapping(port.get("profile")),
        "binding:vif_type": port.get("vif_type") or "unbound",
        "binding:vif_details": _mapping(port.get("vif_details")),
        "description": port.get("description") or "",
        "tags": [],
        "created_at": port.get("created_at"),
        "updated_at": port.get("updated_at"),
        "revision_number": port.get("revision_number") or 0,
    }


def select(item: dict, fields: Sequence[str]) -> dict:
    """Neutron's ``fields``: only those asked (all when none)."""
    wanted = [f for f in fields if f]
    return {k: v for k, v in item.items() if k in wanted} if wanted else item


# -- an update: bind, unbind or update ---------------------------------------------------------

@dataclass(frozen=True)
class Update:
    """What a ``PUT`` asks of a Gluon port.

    ``action``: ``bind`` (``binding:host_id`` given and not empty), ``unbind`` (given empty or
    null), ``update`` (not given: a rename and the like, never an unbind). ``changes``: the
    other attributes, in Proton's names.
    """

    action: str
    host_id: str = ""
    device_id: str = ""
    device_owner: str = ""
    profile: dict = field(default_factory=dict)
    changes: dict = field(default_factory=dict)


def decide(item: Any, current: dict) -> Update:
    """The update ``item`` (the body's ``port``) asks of the Gluon port shown as ``current``
    (its Neutron form); :class:`Refused` for what Neutron or the Proton server cannot take."""
    if not isinstance(item, dict):
        raise Refused("Body contains invalid data: resource 'port' must be an object.")
    read_only = sorted(k for k in item if k in READ_ONLY)
    if read_only:
        raise Refused(f"Cannot update read-only attribute {read_only[0]}")
    foreign = sorted(k for k in item if k not in UPDATABLE and k != HOST)
    if foreign:
        raise Refused(f"Invalid input for operation: {', '.join(foreign)} cannot be changed on "
                      f"Gluon port {current['id']}: its Proton server owns its networking.",
                      "InvalidInput")
    changes: dict[str, Any] = {}
    for key, value in item.items():
        if key == HOST:
            continue
        if key == "admin_state_up":
            value = _boolean(value, key)
        elif key == "binding:profile":
            if value is not None and not isinstance(value, dict):
                raise Refused(f"Invalid input for binding:profile. Reason: '{value}' is not a "
                              f"dictionary.", "InvalidInput")
            value = value or {}
        elif not isinstance(value, str):
            raise Refused(f"Invalid input for {key}. Reason: '{value}' is not a valid string.",
                          "InvalidInput")
        changes[UPDATABLE[key]] = value
    if HOST not in item:
        return Update("update", changes=changes)
    host = item[HOST]
    if host is not None and not isinstance(host, str):
        raise Refused(f"Invalid input for {HOST}. Reason: '{host}' is not a valid string.",
                      "InvalidInput")
    if not host:
        rest = {k: v for k, v in changes.items()
                if k not in ("device_id", "device_owner", "profile")}
        return Update("unbind", changes=rest)
    device_id = changes.pop("device_id", current.get("device_id") or "")
    device_owner = changes.pop("device_owner", current.get("device_owner") or "")
    profile = changes.pop("profile", current.get("binding:profile") or {})
    return Update("bind", host, device_id, device_owner, profile, changes)


def proton_values(changes: dict) -> dict:
    """Changes in Proton's names as its API takes them (``profile`` is JSON text there)."""
    values = dict(changes)
    if "profile" in values:
        values["profile"] = orjson.dumps(values["profile"]).decode()
    return values


# -- filters ---------------------------------------------------------------------------------

def parse_filters(pairs: Iterable[tuple[str, str]]) -> dict[str, list[str]]:
    """The filters of a port listing (the values of one attribute are alternatives); an
    attribute Neutron does not filter on is refused in Neutron's words."""
    filters: dict[str, list[str]] = {}
    invalid = []
    for key, value in pairs:
        if key in PAGING:
            continue
        if key not in PORT_FILTERS:
            invalid.append(key)
            continue
        if value:
            filters.setdefault(key, []).append(value)
    if invalid:
        raise Refused(f"{invalid} is invalid attribute for filtering")
    return filters


def _tags(values: list[str]) -> set[str]:
    return {t for v in values for t in v.split(",") if t}


def _fixed_ip_filter(values: list[str]) -> dict[str, set[str]]:
    """``fixed_ips=ip_address=10.0.0.5`` / ``fixed_ips=subnet_id=ID`` (key=value pairs)."""
    wanted: dict[str, set[str]] = {}
    for value in values:
        key, sep, text = value.partition("=")
        if not sep or key not in ("ip_address", "subnet_id", "ip_address_substr"):
            raise Refused(f"Invalid input for fixed_ips. Reason: '{value}' is not of the form "
                          f"<key>=[value].", "InvalidInput")
        wanted.setdefault(key, set()).add(text)
    return wanted


def matches(port: dict, filters: dict[str, list[str]]) -> bool:
    """Whether a Neutron-shaped port passes every filter, as Neutron's query would."""
    for key, wanted in filters.items():
        if key == "fixed_ips":
            asked = _fixed_ip_filter(wanted)
            if not any(
                    ("ip_address" not in asked or ip.get("ip_address") in asked["ip_address"])
                    and ("subnet_id" not in asked or ip.get("subnet_id") in asked["subnet_id"])
                    and all(part in str(ip.get("ip_address"))
                            for part in asked.get("ip_address_substr", ()))
                    for ip in port.get("fixed_ips") or ()):
                return False
        elif key in TAG_FILTERS:
            tags, asked = set(port.get("tags") or ()), _tags(wanted)
            held = {"tags": asked <= tags, "tags-any": bool(asked & tags),
                    "not-tags": not asked <= tags, "not-tags-any": not asked & tags}[key]
            if not held:
                return False
        elif key in BOOLEAN:
            if port.get(key) not in {_boolean(v, key) for v in wanted}:
                return False
        else:
            value = port.get(key)
            if isinstance(value, list):
                if not {str(v) for v in value} & set(wanted):
                    return False
            elif str(value) not in wanted:
                return False
    return True


# -- one source's listing ----------------------------------------------------------------------

def _limit(pairs: list[tuple[str, str]]) -> int | None:
    raw = next((v for k, v in pairs if k == "limit"), "0").strip()
    try:
        value = int(raw)
    except ValueError:
        value = -1
    if value < 0:
        raise Refused(f"Bad limit request: Limit must be an integer 0 or greater and not "
                      f"'{raw}'.", "BadRequest")
    return value or None


def listing(ports: Iterable[dict], pairs: Iterable[tuple[str, str]]) -> dict:
    """``{"ports": [...]}`` of these (Neutron-shaped) ports as Neutron lists them for the
    query: filtered, sorted (``id`` breaks ties), after ``marker``, ``limit`` of them, the
    ``fields`` asked; a ``next`` link when the page is full. ``LookupError`` when the marker
    is none of them (Neutron's 404)."""
    pairs = list(pairs)
    filters = parse_filters(pairs)
    keys = [v for k, v in pairs if k == "sort_key" and v]
    unknown = [k for k in keys if k not in PORT_SORT_KEYS]
    if unknown:
        raise Refused(f"{unknown} is invalid attribute for sort_keys")
    try:
        spec = neutron_sort(pairs)
    except SortError as exc:
        raise Refused(str(exc)) from None
    limit = _limit(pairs)
    ordered = sorted((p for p in ports if matches(p, filters)), key=spec.key)
    marker = next((v for k, v in pairs if k == "marker"), None) if limit else None
    if marker:
        at = next((n for n, p in enumerate(ordered) if p["id"] == marker), None)
        if at is None:
            raise LookupError(marker)
        ordered = ordered[at + 1:]
    page = ordered[:limit] if limit else ordered
    fields = [v for k, v in pairs if k == "fields"]
    document: dict[str, Any] = {"ports": [select(p, fields) for p in page]}
    if limit and len(page) == limit and page:
        document["ports_links"] = [{"rel": "next", "href": f"?marker={page[-1]['id']}"}]
    return document
