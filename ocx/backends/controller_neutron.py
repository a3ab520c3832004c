"""Neutron's API rules for a controller provider (issue 10, seed 003), pure.

A controller landlord has no Neutron: OCX is its Neutron. What the real Neutron API layer
checks, this module checks the same way and with the same words, using neutron-lib (the
library Neutron's own API layer uses) for the attribute maps, defaults, converters and
validators. What Neutron's plugin adds (ids, status, MAC addresses, gateway and allocation
pools, fixed IPs) is decided here too; storing and sending is ``controller.py``'s.

Resources: networks, subnets, ports, routers (with router interfaces). Listings take any
attribute of the map as a filter (repeated: any of the values), ``fields``, ``sort_key``/
``sort_dir`` pairs and ``limit``/``marker``/``page_reverse``, as Neutron's API layer does.
"""
from __future__ import annotations

import copy
import datetime as dt
import ipaddress
import random
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from neutron_lib import constants as n_const
from neutron_lib.api import attributes, converters
from neutron_lib.api.definitions import extraroute, l3, network, port, subnet

COLLECTIONS = {"networks": "network", "subnets": "subnet", "ports": "port",
               "routers": "router"}
BULK = ("networks", "subnets", "ports")   # Neutron's routers take no bulk create
# The extensions this Neutron has (aliases, for /v2.0/extensions).
EXTENSIONS = (
    ("project-id", "project_id field enabled",
     "Extension that indicates that project_id field is enabled."),
    ("standard-attr-description", "standard-attr-description",
     "Extension to add descriptions to standard attributes"),
    ("standard-attr-timestamp", "Resource timestamps",
     "Adds created_at and updated_at fields to all Neutron resources that have Neutron "
     "standard attributes."),
    ("standard-attr-revisions", "Resource revision numbers",
     "This extension will display the revision number of neutron resources."),
    ("router", "Neutron L3 Router",
     "Router abstraction for basic L3 forwarding between L2 Neutron networks and access to "
     "external networks via a NAT gateway."),
    ("extraroute", "Neutron Extra Route", "Extra routes configuration for L3 router"),
)
_DESCRIPTION = {"allow_post": True, "allow_put": True, "validate": {"type:string": 255},
                "is_visible": True, "default": "", "is_filter": True}
_READ_ONLY = {"allow_post": False, "allow_put": False, "is_visible": True}
_TIMES = ("created_at", "updated_at")
MAC_PREFIX = "fa:16:3e"
ROUTER_INTERFACE = n_const.DEVICE_OWNER_ROUTER_INTF
# The first this many free addresses of a subnet are candidates, one chosen at random (as
# Neutron's IPAM driver does): two workers allocating at once rarely pick the same.
FREE_WINDOW = 64


class NeutronApiError(Exception):
    """An answer in Neutron's error format: ``{"NeutronError": {type, message, detail}}``."""

    def __init__(self, status: int, message: str, kind: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.kind = kind


def bad_request(message: str) -> NeutronApiError:
    # Neutron's API layer raises webob's HTTPBadRequest for a body it refuses.
    return NeutronApiError(400, message, "HTTPBadRequest")


def invalid_input(message: str) -> NeutronApiError:
    return NeutronApiError(400, f"Invalid input for operation: {message}.", "InvalidInput")


def policy_denied(action: str) -> NeutronApiError:
    return NeutronApiError(403, f"({action}) is disallowed by policy", "PolicyNotAuthorized")


def not_found(collection: str, resource_id: str) -> NeutronApiError:
    singular = COLLECTIONS[collection].capitalize()
    return NeutronApiError(404, f"{singular} {resource_id} could not be found.",
                           f"{singular}NotFound")


def _attribute_map(definition, collection: str) -> dict[str, dict]:
    """neutron-lib's core map of a resource, with the standard attributes Neutron's
    extensions add to it (project_id, description, timestamps, revision number)."""
    attrs = copy.deepcopy(definition.RESOURCE_ATTRIBUTE_MAP[collection])
    attrs["project_id"] = dict(attrs["tenant_id"])
    attrs["description"] = dict(_DESCRIPTION)
    for name in (*_TIMES, "revision_number"):
        attrs[name] = dict(_READ_ONLY)
    return attrs


ATTRIBUTES: dict[str, dict[str, dict]] = {
    "networks": _attribute_map(network, "networks"),
    "subnets": _attribute_map(subnet, "subnets"),
    "ports": _attribute_map(port, "ports"),
    "routers": _attribute_map(l3, "routers") | extraroute.RESOURCE_ATTRIBUTE_MAP["routers"],
}


@dataclass(frozen=True)
class Asker:
    """Who asks: the caller's project (the tenant) and whether it is an admin."""

    project_id: str
    is_admin: bool = False

    @property
    def can_set_project_id(self) -> bool:   # what neutron-lib's project check asks
        return self.is_admin


# -- request bodies (neutron.api.v2.base.Controller.prepare_request_body) ---------------------

def prepare(collection: str, body: Any, asker: Asker, *, create: bool) -> list[dict]:
    """The resources of a POST (one, or several in bulk) or PUT body, checked against the
    attribute map as Neutron's API layer checks them; defaults filled in on create."""
    singular = COLLECTIONS[collection]
    if not isinstance(body, dict) or not (singular in body or collection in body):
        raise bad_request(f"Unable to find '{singular}' in request body")
    if collection in body:
        if not (create and collection in BULK):
            raise bad_request("Bulk operation not supported")
        items = body[collection]
        if not items:
            raise bad_request("Resources required")
        if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
            raise bad_request("Body contains invalid data")
        return [_prepare_item(collection, i.get(singular, i), asker, create) for i in items]
    return [_prepare_item(collection, body[singular], asker, create)]


def _prepare_item(collection: str, item: Any, asker: Asker, create: bool) -> dict:
    singular = COLLECTIONS[collection]
    if not isinstance(item, dict):
        raise bad_request(f"Object '{singular}' contains invalid data")
    item = dict(item)
    info = attributes.AttributeInfo(ATTRIBUTES[collection])
    try:
        info.populate_project_id(asker, item, create)
        info.verify_attributes(item)
        if create:
            info.fill_post_defaults(item, exc_cls=bad_request)
        else:
            for name in item:
                if not ATTRIBUTES[collection][name]["allow_put"]:
                    raise bad_request(f"Cannot update read-only attribute {name}")
        info.convert_values(item, exc_cls=bad_request)
    except NeutronApiError:
        raise
    except Exception as exc:  # noqa: BLE001 - webob's HTTPBadRequest and neutron-lib's own
        raise _from_library(exc) from None
    return item


def _from_library(exc: Exception) -> NeutronApiError:
    """neutron-lib raises webob's HTTPBadRequest or a NeutronException (InvalidInput...)."""
    status = getattr(exc, "code", None) or getattr(exc, "status_int", None) or 400
    message = getattr(exc, "detail", None) or getattr(exc, "msg", None) or str(exc)
    kind = "HTTPBadRequest" if type(exc).__name__ == "HTTPBadRequest" else type(exc).__name__
    return NeutronApiError(int(status) if int(status) >= 400 else 400, str(message), kind)


def _specified(value: Any) -> bool:
    return value is not n_const.ATTR_NOT_SPECIFIED


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _stamped(item: dict) -> dict:
    now = _now()
    item.setdefault("id", str(uuid.uuid4()))
    item.update(created_at=now, updated_at=now, revision_number=0)
    return item


def touched(before: Mapping[str, Any], changes: Mapping[str, Any]) -> dict:
    """An update's changes with the new time stamp and revision number."""
    return {**changes, "updated_at": _now(),
            "revision_number": int(before.get("revision_number", 0)) + 1}


# -- policy (Neutron's default policy for these resources) --------------------------------------

def check_policy(collection: str, action: str, item: Mapping[str, Any], asker: Asker) -> None:
    if asker.is_admin:
        return
    singular = COLLECTIONS[collection]
    if collection == "networks" and item.get("shared"):
        raise policy_denied(f"rule:{action}_{singular}:shared")
    if collection == "ports" and action == "update" and "mac_address" in item:
        raise policy_denied(f"rule:{action}_{singular}:mac_address")


def visible(collection: str, item: Mapping[str, Any], asker: Asker,
            shared_networks: frozenset[str] = frozenset()) -> bool:
    """A resource the asker may see: its own, any to an admin, a shared network and its
    subnets to everyone."""
    if asker.is_admin or item.get("tenant_id") == asker.project_id:
        return True
    if collection == "networks":
        return bool(item.get("shared"))
    return collection == "subnets" and item.get("network_id") in shared_networks


# -- what the plugin adds ------------------------------------------------------------------------

def new_network(item: dict) -> dict:
    item = _stamped(item)
    item.update(status=n_const.NET_STATUS_ACTIVE, subnets=[])
    return item


def new_router(item: dict) -> dict:
    gateway = item.get("external_gateway_info")
    if gateway:
        # This Neutron has no external networks (no ``external-net`` extension).
        raise NeutronApiError(400, f"Bad router request: Network {gateway.get('network_id')}"
                                   " is not an external network.", "BadRequest")
    item = _stamped(item)
    item.update(status=n_const.NET_STATUS_ACTIVE, external_gateway_info=None, routes=[])
    return item


def check_routes(routes: Sequence[Mapping[str, Any]], connected: Sequence[Mapping[str, Any]],
                 own_addresses: Iterable[str]) -> None:
    """Extra routes (extraroute): each next hop on a subnet the router has an interface on,
    and not one of the router's own addresses (Neutron's ``InvalidRoutes``)."""
    own = set(own_addresses)
    for route in routes:
        hop = ipaddress.ip_address(route["nexthop"])
        reason = None
        if str(hop) in own:
            reason = "the nexthop is used by router"
        elif not any(hop in ipaddress.ip_network(s["cidr"]) for s in connected):
            reason = "the nexthop is not connected with router"
        if reason:
            raise NeutronApiError(400, f"Invalid format for routes: {list(routes)}, {reason}",
                                  "InvalidRoutes")


def new_subnet(item: dict, siblings: Sequence[Mapping[str, Any]]) -> dict:
    """A subnet with its gateway and allocation pools; refused as Neutron refuses it."""
    if not _specified(item.get("cidr")) or item.get("cidr") is None:
        # Without a subnet pool (this Neutron has none) a CIDR is needed.
        raise NeutronApiError(400, "Bad subnet request: a cidr must be specified in the "
                                   "absence of a subnet pool", "BadRequest")
    cidr = ipaddress.ip_network(item["cidr"], strict=False)   # Neutron keeps the network
    if cidr.version != item["ip_version"]:
        raise invalid_input(f"cidr '{item['cidr']}' does not match the ip_version "
                            f"'{item['ip_version']}'")
    if cidr.version == 4 and cidr.prefixlen > 30:
        raise invalid_input(f"Invalid CIDR {item['cidr']} for IPv4 subnet")
    for other in siblings:
        if cidr.overlaps(ipaddress.ip_network(other["cidr"])):
            raise invalid_input(f"Requested subnet with cidr: {item['cidr']} for network: "
                                f"{item['network_id']} overlaps with another subnet")
    gateway = item.get("gateway_ip")
    if not _specified(gateway):
        # Neutron's default: the first host address, or for IPv6 the subnet-router anycast
        # address (the subnet's own address).
        gateway = str(cidr.network_address + (1 if cidr.version == 4 else 0))
    elif gateway is not None:
        address = ipaddress.ip_address(gateway)
        if cidr.version == 4 and address in (cidr.network_address, cidr.broadcast_address):
            raise invalid_input(f"Gateway is not valid on subnet {item['cidr']}")
    pools = item.get("allocation_pools")
    pools = default_pools(cidr, gateway) if not _specified(pools) or not pools \
        else check_pools(cidr, pools, gateway)
    for name in ("dns_nameservers", "host_routes"):
        if not _specified(item.get(name)) or item.get(name) is None:
            item[name] = []
    for name in ("ipv6_ra_mode", "ipv6_address_mode", "subnetpool_id", "prefixlen"):
        if not _specified(item.get(name)):
            item[name] = None
    item.pop("prefixlen", None)
    item = _stamped(item)
    item.update(cidr=str(cidr), gateway_ip=gateway, allocation_pools=pools)
    return item


def _host_range(cidr) -> tuple[int, int]:
    first = int(cidr.network_address) + (1 if cidr.num_addresses > 1 else 0)
    last = int(cidr.broadcast_address) - (1 if cidr.version == 4 and cidr.num_addresses > 2
                                          else 0)
    return first, last


def _pool(version: int, first: int, last: int) -> dict:
    cls = ipaddress.IPv4Address if version == 4 else ipaddress.IPv6Address
    return {"start": str(cls(first)), "end": str(cls(last))}


def default_pools(cidr, gateway: str | None) -> list[dict]:
    """The subnet's host addresses without the gateway (Neutron's default pools)."""
    first, last = _host_range(cidr)
    if gateway is None or not first <= int(ipaddress.ip_address(gateway)) <= last:
        return [_pool(cidr.version, first, last)]
    gw = int(ipaddress.ip_address(gateway))
    pools = [(first, gw - 1), (gw + 1, last)]
    return [_pool(cidr.version, a, b) for a, b in pools if a <= b]


def check_pools(cidr, pools: list[dict], gateway: str | None) -> list[dict]:
    """Pools given by the caller: inside the subnet, not overlapping, the gateway outside."""
    ranges = []
    for pool in pools:
        start, end = ipaddress.ip_address(pool["start"]), ipaddress.ip_address(pool["end"])
        if start.version != cidr.version or end.version != cidr.version:
            raise invalid_input(f"Invalid allocation pool {pool['start']}-{pool['end']}")
        if start not in cidr or end not in cidr:
            raise NeutronApiError(
                400, f"The allocation pool {pool['start']}-{pool['end']} spans beyond the "
                     f"subnet cidr {cidr}.", "OutOfBoundsAllocationPool")
        if int(start) > int(end):
            raise invalid_input(f"Invalid allocation pool {pool['start']}-{pool['end']}")
        ranges.append((int(start), int(end), pool))
    ranges.sort(key=lambda r: r[0])
    for (_, end_a, a), (start_b, _, b) in zip(ranges, ranges[1:]):
        if start_b <= end_a:
            raise NeutronApiError(
                400, f"Found overlapping allocation pools: {a['start']}-{a['end']} and "
                     f"{b['start']}-{b['end']} for subnet {cidr}.",
                "OverlappingAllocationPools")
    if gateway is not None:
        gw = int(ipaddress.ip_address(gateway))
        if any(s <= gw <= e for s, e, _ in ranges):
            raise NeutronApiError(
                409, f"Gateway ip {gateway} conflicts with allocation pool "
                     f"{next(p for s, e, p in ranges if s <= gw <= e)['start']}-...",
                "GatewayConflictWithAllocationPools")
    return [{"start": p["start"], "end": p["end"]} for _, _, p in ranges]


def is_auto_address(item: Mapping[str, Any]) -> bool:
    return item.get("ipv6_address_mode") in (n_const.IPV6_SLAAC, n_const.DHCPV6_STATELESS)


def random_mac(rng: random.Random | None = None) -> str:
    rng = rng or random.SystemRandom()
    return MAC_PREFIX + "".join(f":{rng.randrange(256):02x}" for _ in range(3))


def eui64(cidr, mac: str) -> str:
    octets = [int(b, 16) for b in mac.split(":")]
    octets[0] ^= 0x02
    interface = octets[:3] + [0xFF, 0xFE] + octets[3:]
    return str(cidr.network_address + int.from_bytes(bytes(interface), "big"))


@dataclass
class Addresses:
    """The addresses the ports of a network hold, by subnet id. A subnet's gateway address
    is not one of them until a port takes it: Neutron only keeps it out of the allocation
    pools, so a port may ask for it (a router interface, or GBP's default-gateway target)."""

    used: dict[str, set[str]] = field(default_factory=dict)

    @classmethod
    def of(cls, ports: Iterable[Mapping[str, Any]], subnets: Iterable[Mapping[str, Any]],
           except_port: str | None = None) -> Addresses:
        used: dict[str, set[str]] = {s["id"]: set() for s in subnets}
        for p in ports:
            if p["id"] == except_port:
                continue
            for ip in p.get("fixed_ips") or ():
                used.setdefault(ip["subnet_id"], set()).add(ip["ip_address"])
        return cls(used)

    def free(self, subnet_: Mapping[str, Any]) -> list[str]:
        taken = self.used.get(subnet_["id"], set())
        found = []
        for pool in subnet_["allocation_pools"]:
            start = int(ipaddress.ip_address(pool["start"]))
            end = int(ipaddress.ip_address(pool["end"]))
            cls = ipaddress.ip_address(pool["start"]).__class__
            address = start
            while address <= end and len(found) < FREE_WINDOW:
                text = str(cls(address))
                if text not in taken:
                    found.append(text)
                address += 1
        return found


def fixed_ips(requested: Any, network_id: str, subnets: Sequence[Mapping[str, Any]],
              addresses: Addresses, mac: str, *, router_owner: bool = False,
              rng: random.Random | None = None) -> list[dict]:
    """The port's addresses: those asked for, checked, or Neutron's choice (one address from
    an IPv4 subnet, one from a stateful IPv6 subnet, every SLAAC subnet's EUI-64 address)."""
    rng = rng or random.SystemRandom()
    by_id = {s["id"]: s for s in subnets}
    chosen: list[dict] = []
    if not _specified(requested) or requested is None:
        for version in (4, 6):
            candidates = [s for s in subnets
                          if s["ip_version"] == version and not is_auto_address(s)]
            for s in candidates:
                free = addresses.free(s)
                if free:
                    chosen.append({"subnet_id": s["id"], "ip_address": rng.choice(free)})
                    break
            else:
                if candidates:
                    raise NeutronApiError(409, f"No more IP addresses available on network "
                                               f"{network_id}.", "IpAddressGenerationFailure")
        chosen += [{"subnet_id": s["id"], "ip_address": eui64(ipaddress.ip_network(s["cidr"]),
                                                              mac)}
                   for s in subnets if is_auto_address(s)]
        return chosen
    for entry in requested:
        subnet_id, address = entry.get("subnet_id"), entry.get("ip_address")
        if subnet_id is not None and subnet_id not in by_id:
            raise invalid_input(f"Failed to create port on network {network_id}, because "
                                f"fixed_ips included invalid subnet {subnet_id}")
        if subnet_id is None:
            hits = [s for s in subnets if ipaddress.ip_address(address)
                    in ipaddress.ip_network(s["cidr"])]
            if not hits:
                raise invalid_input(f"IP address {address} is not a valid IP for any of the "
                                    f"subnets on the specified network")
            subnet_id = hits[0]["id"]
        s = by_id[subnet_id]
        if address is None:
            free = addresses.free(s)
            if not free:
                raise NeutronApiError(409, f"No more IP addresses available on network "
                                           f"{network_id}.", "IpAddressGenerationFailure")
            address = rng.choice(free)
        else:
            cidr = ipaddress.ip_network(s["cidr"])
            ip = ipaddress.ip_address(address)
            # Neutron's check_subnet_ip: only a router may hold an IPv6 subnet's first
            # address (the subnet-router anycast address).
            anycast_ok = router_owner and cidr.version == 6
            if ip not in cidr or (ip == cidr.network_address and not anycast_ok) or (
                    cidr.version == 4 and ip == cidr.broadcast_address):
                raise invalid_input(f"IP address {address} is not a valid IP for the "
                                    "specified subnet")
            if address in addresses.used.get(subnet_id, set()):
                raise NeutronApiError(409, f"IP address {address} already allocated in "
                                           f"subnet {subnet_id}", "IpAddressAlreadyAllocated")
        addresses.used.setdefault(subnet_id, set()).add(address)
        chosen.append({"subnet_id": subnet_id, "ip_address": address})
    return chosen


def new_port(item: dict, subnets: Sequence[Mapping[str, Any]], addresses: Addresses,
             rng: random.Random | None = None) -> dict:
    if not _specified(item.get("mac_address")):
        item["mac_address"] = random_mac(rng)
    item["mac_address"] = converters.convert_to_sanitized_mac_address(item["mac_address"])
    item["fixed_ips"] = fixed_ips(item.get("fixed_ips"), item["network_id"], subnets,
                                  addresses, item["mac_address"],
                                  router_owner=item.get("device_owner") == ROUTER_INTERFACE,
                                  rng=rng)
    item = _stamped(item)
    item["status"] = n_const.PORT_STATUS_DOWN
    return item


# -- listings (neutron.api.api_common) -----------------------------------------------------------

PAGING = ("fields", "sort_key", "sort_dir", "limit", "marker", "page_reverse")


@dataclass(frozen=True)
class ListQuery:
    filters: Mapping[str, tuple[str, ...]]
    fields: tuple[str, ...]
    sorts: tuple[tuple[str, bool], ...]      # (key, ascending)
    limit: int | None
    marker: str | None
    page_reverse: bool


def parse_list(collection: str, pairs: Sequence[tuple[str, str]]) -> ListQuery:
    """A listing's query, refused where Neutron refuses it."""
    attrs = ATTRIBUTES[collection]
    grouped: dict[str, list[str]] = {}
    for key, value in pairs:
        grouped.setdefault(key, []).append(value)
    keys = [v for v in grouped.get("sort_key", []) if v]
    dirs = [v for v in grouped.get("sort_dir", []) if v]
    if len(keys) != len(dirs):
        raise bad_request("The number of sort_keys and sort_dirs must be same")
    bad = [k for k in keys if k not in attrs]
    if bad:
        raise bad_request(f"{bad} is invalid attribute for sort_keys")
    bad = [d for d in dirs if d not in ("asc", "desc")]
    if bad:
        raise bad_request(f"{bad} is invalid value for sort_dirs, valid value is 'asc' and "
                          "'desc'")
    raw = grouped.get("limit", ["0"])[0]
    if not raw.strip().isdigit():
        raise NeutronApiError(400, f"Bad limit request: Limit must be an integer 0 or greater "
                                   f"and not '{raw}'.", "BadRequest")
    limit = int(raw) or None
    filters = {}
    invalid = []
    for key, values in grouped.items():
        if key in PAGING:
            continue
        if key not in attrs:
            invalid.append(key)
            continue
        values = [v for v in values if v != ""]
        if values:
            filters[key] = tuple(values)
    if invalid:
        raise bad_request(f"{invalid} is invalid attribute for filtering")
    sorts = tuple((k, d == "asc") for k, d in zip(keys, dirs))
    return ListQuery(filters=filters, fields=tuple(f for f in grouped.get("fields", []) if f),
                     sorts=sorts, limit=limit,
                     marker=grouped.get("marker", [None])[0] if limit else None,
                     page_reverse=grouped.get("page_reverse", ["false"])[0].lower() == "true")


def _as_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def matches(item: Mapping[str, Any], filters: Mapping[str, tuple[str, ...]]) -> bool:
    """Each filter holds (its values are alternatives); booleans as Neutron reads them."""
    for key, wanted in filters.items():
        value = item.get(key)
        if key == "fixed_ips":
            continue   # Neutron's fixed_ips filter has its own syntax; not offered here
        if isinstance(value, list):
            if not any(_as_text(v) in wanted for v in value):
                return False
        elif isinstance(value, bool):
            if value not in {converters.convert_to_boolean(w) for w in wanted}:
                return False
        elif _as_text(value) not in wanted:
            return False
    return True


def _order(value: Any) -> tuple:
    return (value is None, _as_text(value))


def page(items: list[dict], query: ListQuery) -> tuple[list[dict], bool]:
    """Sorted (by the keys asked, then id, as Neutron pages), from after the marker, at most
    ``limit``; and whether more follow."""
    sorts = list(query.sorts)
    if query.limit and "id" not in [k for k, _ in sorts]:
        sorts.append(("id", True))
    for key, ascending in reversed(sorts):
        items = sorted(items, key=lambda i: _order(i.get(key)), reverse=not ascending)
    if query.page_reverse:
        items.reverse()
    if query.marker is not None:
        ids = [i["id"] for i in items]
        if query.marker not in ids:
            raise NeutronApiError(404, f"Marker {query.marker} could not be found.",
                                  "NotFound")
        items = items[ids.index(query.marker) + 1:]
    more = query.limit is not None and len(items) > query.limit
    items = items[:query.limit] if query.limit else items
    if query.page_reverse:
        items.reverse()
    return items, more


def select(item: Mapping[str, Any], fields: Sequence[str]) -> dict:
    return {k: v for k, v in item.items() if not fields or k in fields}
