"""A simulated Neutron (networking API v2.0), as ML2/OVN serves it.

Networks, subnets (with IPAM: allocation pools, gateways, random allocation from the first
free addresses as Neutron's IPAM driver does), ports (MAC and fixed IPs, bindings as Nova sets
them), routers (external gateways, interfaces by subnet or port, extra routes: ``routes`` and
the atomic ``add_extraroutes``/``remove_extraroutes``), floating IPs, security groups
and rules (a ``default`` group per project, made on first use), tags, and the extensions
document. Every network gets OVN's metadata port (``network:distributed``), which holds an
address on each IPv4 DHCP subnet and goes away with the network.

The request pipeline follows Neutron's: the body is checked against the resource's attribute map
(unknown attributes, required ones, defaults, converters and validators, with Neutron's
messages), then ownership and policy, then the plugin logic. Listings take any filterable
attribute (repeated: any of the values), ``fields``, ``sort_key``/``sort_dir`` pairs and native
pagination with ``<collection>_links`` built as ``neutron.api.api_common`` builds them.

Everything is in memory; notifications go to the ``neutron`` exchange as ``network.<host>``.
"""
from __future__ import annotations

import ipaddress
import random
import re
import urllib.parse
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web

from .auth import TOKEN, Token, public
from .errors import SimError, render_neutron
from .service import SimService
from .wire import iso_z, json_response, new_id, utcnow

# -- errors as Neutron puts them on the wire -------------------------------------------------

NOT_FOUND_TEXT = "The resource could not be found."
# webob's explanation for HTTPMethodNotAllowed, which Neutron's pecan.abort(405) sends.
NOT_ALLOWED_TEXT = ("The server could not comply with the request since\r\nit is either "
                    "malformed or otherwise incorrect.\r\n")


def http_bad_request(message: str) -> SimError:
    """webob.exc.HTTPBadRequest, raised by the API layer (attribute checks, query checks)."""
    return SimError(400, message, kind="HTTPBadRequest")


def invalid_input(message: str, kind: str = "InvalidInput") -> SimError:
    """neutron_lib InvalidInput (and its subclasses), raised by converters and the plugin."""
    return SimError(400, f"Invalid input for operation: {message}.", kind=kind)


def bad_request(resource: str, message: str) -> SimError:
    """neutron_lib BadRequest: 'Bad router request: ...'."""
    return SimError(400, f"Bad {resource} request: {message}.", kind="BadRequest")


def http_not_found() -> SimError:
    return SimError(404, NOT_FOUND_TEXT, kind="HTTPNotFound")


def policy_denied(action: str, attributes: Iterable[str] = ()) -> SimError:
    """oslo.policy's refusal; attribute rules are and-ed to the action's rule as Neutron does."""
    rules = [f"rule:{action}"] + [f"rule:{action}:{a}" for a in attributes]
    text = rules[0] if len(rules) == 1 else "(" + " and ".join(rules) + ")"
    return SimError(403, f"{text} is disallowed by policy", kind="PolicyNotAuthorized")


def conflict(kind: str, message: str) -> SimError:
    return SimError(409, message, kind=kind)


# -- validators and converters (neutron_lib.api.validators / converters) ----------------------

NOT_SPECIFIED: Any = type("NotSpecified", (), {"__repr__": lambda self: "<not specified>"})()
REQUIRED: Any = type("Required", (), {"__repr__": lambda self: "<required>"})()

Validator = Callable[[Any], "str | None"]
NAME_MAX_LEN = 255
DESCRIPTION_MAX_LEN = 255
TAG_MAX_LEN = 255


def _text(value: Any) -> str:
    """How Neutron's ``'%s' % value`` shows a value in a message."""
    return "%s" % (value,)


def valid_string(max_len: int | None = None) -> Validator:
    def check(data: Any) -> str | None:
        if not isinstance(data, str):
            return f"'{_text(data)}' is not a valid string"
        if max_len is not None and len(data) > max_len:
            return f"'{data}' exceeds maximum length of {max_len}"
        return None
    return check


def is_uuid(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        canonical = str(uuid.UUID(value)).replace("-", "")
    except ValueError:
        return False
    bare = value.lower().replace("urn:", "").replace("uuid:", "").strip("{}").replace("-", "")
    return canonical == bare


def valid_uuid(data: Any) -> str | None:
    return None if is_uuid(data) else f"'{_text(data)}' is not a valid UUID"


def valid_uuid_or_none(data: Any) -> str | None:
    return None if data is None else valid_uuid(data)


def valid_values(values: list) -> Validator:
    return lambda data: None if data in values else f"'{_text(data)}' is not in {values}"


def valid_values_or_none(values: list) -> Validator:
    check = valid_values(values)
    return lambda data: None if data is None else check(data)


def valid_non_negative(data: Any) -> str | None:
    try:
        if int(data) >= 0:
            return None
    except (TypeError, ValueError):
        return f"'{_text(data)}' is not an integer"
    return f"'{_text(data)}' should be non-negative"


def valid_ip(data: Any) -> str | None:
    if isinstance(data, str) and not re.search(r"\s", data):
        try:
            ipaddress.ip_address(data)
            return None
        except ValueError:
            pass
    return f"'{_text(data)}' is not a valid IP address"


def valid_ip_or_none(data: Any) -> str | None:
    return None if data is None else valid_ip(data)


def valid_subnet(data: Any) -> str | None:
    """A CIDR: '10.0.0.0' gets the recommendation Neutron gives, garbage is refused."""
    if isinstance(data, str) and not re.search(r"\s", data):
        try:
            net = ipaddress.ip_network(data, strict=False)
        except ValueError:
            pass
        else:
            if "/" not in data:
                return (f"'{data}' isn't a recognized IP subnet cidr, '{net}' is "
                        f"recommended")
            return None
    return f"'{_text(data)}' is not a valid IP subnet"


def valid_subnet_or_none(data: Any) -> str | None:
    return None if data is None else valid_subnet(data)


MAC_RE = re.compile(r"^([0-9a-fA-F]{2})([:-][0-9a-fA-F]{2}){5}$")


def valid_mac(data: Any) -> str | None:
    if isinstance(data, str) and MAC_RE.match(data) and data.replace("-", ":").lower() not in (
            "00:00:00:00:00:00", "ff:ff:ff:ff:ff:ff"):
        return None
    return f"'{_text(data)}' is not a valid MAC address"


def valid_dict_or_none(data: Any) -> str | None:
    return None if data is None or isinstance(data, dict) else (
        f"'{_text(data)}' is not a dictionary")


def _verify_keys(expected: list[str], target: Any, strict: bool = True) -> str | None:
    if not isinstance(target, dict):
        return (f"Invalid input. '{_text(target)}' must be a dictionary with keys: "
                f"{expected}")
    provided = set(target)
    ok = provided == set(expected) if strict else provided <= set(expected)
    if not ok:
        return (f"Validation of dictionary's keys failed. Expected keys: {set(expected)} "
                f"Provided keys: {provided}")
    return None


def valid_ip_pools(data: Any) -> str | None:
    if not isinstance(data, list):
        return f"Invalid data format for IP pool: '{_text(data)}'"
    for pool in data:
        msg = _verify_keys(["start", "end"], pool)
        if msg:
            return msg
        for key in ("start", "end"):
            msg = valid_ip(pool[key])
            if msg:
                return msg
    return None


def valid_fixed_ips(data: Any) -> str | None:
    if not isinstance(data, list):
        return f"Invalid data format for fixed IP: '{_text(data)}'"
    seen = []
    for fixed in data:
        if not isinstance(fixed, dict):
            return f"Invalid data format for fixed IP: '{_text(fixed)}'"
        if "ip_address" in fixed:
            if fixed["ip_address"] in seen:
                return f"Duplicate IP address '{fixed['ip_address']}'"
            msg = valid_ip(fixed["ip_address"])
            if msg:
                return msg
            seen.append(fixed["ip_address"])
        if "subnet_id" in fixed:
            msg = valid_uuid(fixed["subnet_id"])
            if msg:
                return msg
    return None


def valid_nameservers(data: Any) -> str | None:
    if not isinstance(data, list):
        return f"Invalid data format for nameserver: '{_text(data)}'"
    seen = []
    for server in data:
        if valid_ip(server):
            return f"'{_text(server)}' is not a valid nameserver"
        if server in seen:
            return f"Duplicate nameserver '{server}'"
        seen.append(server)
    return None


def valid_hostroutes(data: Any) -> str | None:
    if not isinstance(data, list):
        return f"Invalid data format for hostroute: '{_text(data)}'"
    seen = []
    for route in data:
        msg = _verify_keys(["destination", "nexthop"], route)
        if msg:
            return msg
        msg = valid_subnet(route["destination"]) or valid_ip(route["nexthop"])
        if msg:
            return msg
        if route in seen:
            return f"Duplicate hostroute '{_text(route)}'"
        seen.append(route)
    return None


def valid_address_pairs(data: Any) -> str | None:
    if not isinstance(data, list):
        return f"'{_text(data)}' is not a list"
    for pair in data:
        if not isinstance(pair, dict):
            return f"'{_text(pair)}' is not a dictionary"
        unknown = set(pair) - {"ip_address", "mac_address"}
        if unknown:
            return f"Unrecognized attribute(s) '{', '.join(sorted(unknown))}'"
        if "ip_address" not in pair:
            return "AllowedAddressPair must contain ip_address"
        if "mac_address" in pair and valid_mac(pair["mac_address"]):
            return valid_mac(pair["mac_address"])
        address = pair["ip_address"]
        msg = valid_subnet(address) if isinstance(address, str) and "/" in address else (
            valid_ip(address))
        if msg:
            return msg
    return None


def valid_list_of_unique_strings(max_len: int) -> Validator:
    def check(data: Any) -> str | None:
        if not isinstance(data, list):
            return f"'{_text(data)}' is not a list"
        for item in data:
            msg = valid_string(max_len)(item)
            if msg:
                return msg
        dups = sorted({x for x in data if data.count(x) > 1})
        if dups:
            return f"Duplicate items in the list: '{', '.join(dups)}'"
        return None
    return check


def valid_gateway_info(data: Any) -> str | None:
    """external_gateway_info: a dict with network_id, or nothing."""
    if data is None or data == {}:
        return None
    msg = _verify_keys(["network_id", "enable_snat", "external_fixed_ips"], data, strict=False)
    if msg:
        return msg
    if "network_id" not in data:
        return (f"Validation of dictionary's keys failed. Expected keys: {{'network_id'}} "
                f"Provided keys: {set(data)}")
    msg = valid_uuid(data["network_id"])
    if msg:
        return msg
    if "external_fixed_ips" in data:
        return valid_fixed_ips(data["external_fixed_ips"])
    return None


_TRUE = {"1", "t", "true", "on", "y", "yes"}
_FALSE = {"0", "f", "false", "off", "n", "no"}


def to_bool(data: Any) -> bool:
    """oslo's bool_from_string(strict=True), as neutron_lib's convert_to_boolean uses it."""
    if isinstance(data, bool):
        return data
    text = data if isinstance(data, str) else str(data)
    lowered = text.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise invalid_input(f"'{_text(data)}' cannot be converted to boolean")


def to_int(data: Any) -> int:
    try:
        return int(data)
    except (TypeError, ValueError, OverflowError):
        raise invalid_input(f"'{_text(data)}' is not an integer") from None


def to_list_or_empty(data: Any) -> Any:
    return [] if data is None else data


def to_uuid_list_or_none(data: Any) -> list | None:
    if data is None:
        return None
    if not isinstance(data, list):
        raise invalid_input(f"'{_text(data)}' is not a list")
    for sg_id in data:
        if not is_uuid(sg_id):
            raise invalid_input(f"'{_text(sg_id)}' is not an integer or uuid")
    return list(dict.fromkeys(data))


def to_kvp_dict(values: list[str]) -> dict[str, list[str]]:
    """``fixed_ips=ip_address=10.0.0.5`` filters into ``{"ip_address": ["10.0.0.5"]}``."""
    if values == ["True"]:
        return {}
    result: dict[str, list[str]] = {}
    for text in values:
        key, sep, value = (part.strip() for part in text.partition("="))
        if not sep or not key:
            raise invalid_input(f"'{text}' is not of the form <key>=[value]")
        result.setdefault(key, [])
        if value not in result[key]:
            result[key].append(value)
    return result


# Security group rules: protocols by name and number (neutron_lib.constants).
IP_PROTOCOLS = {"ah": 51, "dccp": 33, "egp": 8, "esp": 50, "gre": 47, "hopopt": 0, "icmp": 1,
                "igmp": 2, "ipip": 4, "ipv6-encap": 41, "ipv6-frag": 44, "ipv6-icmp": 58,
                "icmpv6": 58, "ipv6-nonxt": 59, "ipv6-opts": 60, "ipv6-route": 43, "ospf": 89,
                "pgm": 113, "rsvp": 46, "sctp": 132, "tcp": 6, "udp": 17, "udplite": 136,
                "vrrp": 112}
PORT_PROTOCOLS = {6, 17, 33, 132, 136}  # tcp, udp, dccp, sctp, udplite
ICMP_PROTOCOLS = {1, 58}


def _protocol_error(value: Any) -> SimError:
    values = [None, *sorted(IP_PROTOCOLS)]
    return invalid_input(f"Security group rule protocol {_text(value)} not supported. Only "
                         f"protocol values {values} and integer representations [0 to 255] "
                         f"are supported", kind="SecurityGroupRuleInvalidProtocol")


def to_protocol(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        raise _protocol_error(value)
    try:
        number = int(value)
    except (TypeError, ValueError):
        if isinstance(value, str) and value.lower() in IP_PROTOCOLS:
            return value.lower()
        raise _protocol_error(value) from None
    if 0 <= number <= 255:
        return str(value)
    raise _protocol_error(value)


def to_port_value(port: Any) -> int | None:
    if port is None:
        return None
    try:
        value = int(port)
    except (TypeError, ValueError):
        value = -1
    if isinstance(port, bool) or not 0 <= value <= 65535:
        raise invalid_input(f"Invalid value for port {_text(port)}",
                            kind="SecurityGroupInvalidPortValue")
    return value


def to_ethertype(value: Any) -> Any:
    if isinstance(value, str):
        for ethertype in ("IPv4", "IPv6"):
            if value.lower() == ethertype.lower():
                return ethertype
    return value


def to_ip_prefix(value: Any) -> str | None:
    """A remote IP prefix, normalised to its network ('10.1.2.3/8' is '10.0.0.0/8')."""
    if not value:
        return None
    if isinstance(value, str):
        try:
            return str(ipaddress.ip_network(value, strict=False))
        except ValueError:
            pass
    raise invalid_input(f"{_text(value)} is not a valid IP subnet", kind="InvalidCIDR")


def name_not_default(data: Any) -> str | None:
    msg = valid_string(NAME_MAX_LEN)(data)
    if msg:
        return msg
    if data.lower() == "default":
        raise conflict("SecurityGroupDefaultAlreadyExists",
                       "Default security group already exists.")
    return None


# -- attribute maps (neutron_lib.api.definitions) ---------------------------------------------

ADMIN_ROLES = frozenset({"admin"})
BINDING_ROLES = frozenset({"admin", "service"})  # Nova binds ports with its service user


@dataclass(frozen=True)
class Attr:
    """One attribute of a resource, as Neutron's attribute maps describe it."""

    post: bool = False
    put: bool = False
    default: Any = REQUIRED
    convert: Callable[[Any], Any] | None = None
    validate: Validator | None = None
    sort: bool = False
    filter: bool = False
    filter_convert: Callable[[list[str]], Any] | None = None  # the whole list of values
    writers: frozenset[str] = frozenset()   # roles that may set it; empty: anyone
    readers: frozenset[str] = frozenset()   # roles that see it; empty: anyone


def _ro(sort: bool = False, filter: bool = False, readers: frozenset[str] = frozenset()) -> Attr:
    return Attr(sort=sort, filter=filter, readers=readers)


def _name() -> Attr:
    return Attr(post=True, put=True, default="", validate=valid_string(NAME_MAX_LEN), sort=True,
                filter=True)


def _description() -> Attr:
    return Attr(post=True, put=True, default="", validate=valid_string(DESCRIPTION_MAX_LEN),
                filter=True)


def _owner() -> Attr:
    return Attr(post=True, validate=valid_string(NAME_MAX_LEN), sort=True, filter=True)


def _standard() -> dict[str, Attr]:
    """What every resource with standard attributes has."""
    return {"description": _description(), "tags": _ro(filter=True),
            "created_at": _ro(sort=True), "updated_at": _ro(sort=True),
            "revision_number": _ro(sort=True, filter=True)}


def _bool(default: Any, writers: frozenset[str] = frozenset(), sort: bool = True) -> Attr:
    return Attr(post=True, put=True, default=default, convert=to_bool, sort=sort, filter=True,
                writers=writers)


NETWORK_ATTRS: dict[str, Attr] = {
    "id": _ro(sort=True, filter=True),
    "name": _name(),
    "subnets": _ro(),
    "admin_state_up": _bool(True),
    "status": _ro(sort=True, filter=True),
    "tenant_id": _owner(),
    "project_id": _owner(),
    "shared": _bool(False, ADMIN_ROLES),
    "mtu": Attr(post=True, put=True, default=0, convert=to_int, validate=valid_non_negative,
                sort=True, filter=True, filter_convert=lambda v: [to_int(x) for x in v]),
    "port_security_enabled": _bool(True, sort=False),
    "router:external": _bool(NOT_SPECIFIED, ADMIN_ROLES),
    "provider:network_type": Attr(post=True, default=NOT_SPECIFIED,
                                  validate=valid_values(["flat", "geneve", "vlan", "vxlan",
                                                         "local"]),
                                  filter=True, writers=ADMIN_ROLES, readers=ADMIN_ROLES),
    "provider:physical_network": Attr(post=True, default=NOT_SPECIFIED,
                                      validate=valid_string(64), filter=True,
                                      writers=ADMIN_ROLES, readers=ADMIN_ROLES),
    "provider:segmentation_id": Attr(post=True, default=NOT_SPECIFIED, convert=to_int,
                                     filter=True, writers=ADMIN_ROLES, readers=ADMIN_ROLES,
                                     filter_convert=lambda v: [to_int(x) for x in v]),
    **_standard(),
}

SUBNET_ATTRS: dict[str, Attr] = {
    "id": _ro(sort=True, filter=True),
    "name": _name(),
    "ip_version": Attr(post=True, convert=to_int, validate=valid_values([4, 6]), sort=True,
                       filter=True, filter_convert=lambda v: [to_int(x) for x in v]),
    "network_id": Attr(post=True, validate=valid_uuid, sort=True, filter=True),
    "subnetpool_id": Attr(post=True, default=NOT_SPECIFIED, validate=valid_uuid_or_none,
                          sort=True, filter=True),
    "prefixlen": Attr(post=True, default=NOT_SPECIFIED, convert=to_int),
    "cidr": Attr(post=True, default=NOT_SPECIFIED, validate=valid_subnet_or_none, sort=True,
                 filter=True),
    "gateway_ip": Attr(post=True, put=True, default=NOT_SPECIFIED, validate=valid_ip_or_none,
                       sort=True, filter=True),
    "allocation_pools": Attr(post=True, put=True, default=NOT_SPECIFIED,
                             validate=valid_ip_pools),
    "dns_nameservers": Attr(post=True, put=True, default=NOT_SPECIFIED,
                            convert=to_list_or_empty, validate=valid_nameservers),
    "host_routes": Attr(post=True, put=True, default=NOT_SPECIFIED, convert=to_list_or_empty,
                        validate=valid_hostroutes),
    "tenant_id": _owner(),
    "project_id": _owner(),
    "enable_dhcp": _bool(True),
    "ipv6_ra_mode": Attr(post=True, default=NOT_SPECIFIED, validate=valid_values_or_none(
        ["dhcpv6-stateful", "dhcpv6-stateless", "slaac"]), sort=True, filter=True),
    "ipv6_address_mode": Attr(post=True, default=NOT_SPECIFIED, validate=valid_values_or_none(
        ["dhcpv6-stateful", "dhcpv6-stateless", "slaac"]), sort=True, filter=True),
    **_standard(),
}

VNIC_TYPES = ["normal", "direct", "macvtap", "baremetal", "direct-physical",
              "virtio-forwarder", "smart-nic", "vdpa", "remote-managed"]

PORT_ATTRS: dict[str, Attr] = {
    "id": _ro(sort=True, filter=True),
    "name": _name(),
    "network_id": Attr(post=True, validate=valid_uuid, sort=True, filter=True),
    "admin_state_up": _bool(True),
    "mac_address": Attr(post=True, put=True, default=NOT_SPECIFIED, validate=valid_mac,
                        sort=True, filter=True),
    "fixed_ips": Attr(post=True, put=True, default=NOT_SPECIFIED, convert=to_list_or_empty,
                      validate=valid_fixed_ips, filter=True, filter_convert=to_kvp_dict),
    "device_id": Attr(post=True, put=True, default="", validate=valid_string(NAME_MAX_LEN),
                      sort=True, filter=True),
    "device_owner": Attr(post=True, put=True, default="", validate=valid_string(NAME_MAX_LEN),
                         sort=True, filter=True),
    "tenant_id": _owner(),
    "project_id": _owner(),
    "status": _ro(sort=True, filter=True),
    "security_groups": Attr(post=True, put=True, default=NOT_SPECIFIED,
                            convert=to_uuid_list_or_none, filter=True,
                            filter_convert=lambda values: values),
    "port_security_enabled": Attr(post=True, put=True, default=NOT_SPECIFIED, convert=to_bool,
                                  filter=True),
    "allowed_address_pairs": Attr(post=True, put=True, default=NOT_SPECIFIED,
                                  convert=to_list_or_empty, validate=valid_address_pairs),
    "binding:host_id": Attr(post=True, put=True, default="", validate=valid_string(255),
                            filter=True, writers=BINDING_ROLES, readers=BINDING_ROLES),
    "binding:vnic_type": Attr(post=True, put=True, default="normal",
                              validate=valid_values(VNIC_TYPES), filter=True),
    "binding:profile": Attr(post=True, put=True, default=NOT_SPECIFIED,
                            validate=valid_dict_or_none, writers=BINDING_ROLES,
                            readers=BINDING_ROLES),
    "binding:vif_type": _ro(readers=BINDING_ROLES),
    "binding:vif_details": _ro(readers=BINDING_ROLES),
    **_standard(),
}

ROUTER_ATTRS: dict[str, Attr] = {
    "id": _ro(sort=True, filter=True),
    "name": _name(),
    "admin_state_up": _bool(True),
    "status": _ro(sort=True, filter=True),
    "tenant_id": _owner(),
    "project_id": _owner(),
    "external_gateway_info": Attr(post=True, put=True, default=None,
                                  validate=valid_gateway_info),
    # extraroute: set by update only (a next hop must be on a subnet the router is on).
    "routes": Attr(put=True, default=NOT_SPECIFIED, convert=to_list_or_empty,
                   validate=valid_hostroutes),
    **_standard(),
}

FLOATINGIP_ATTRS: dict[str, Attr] = {
    "id": _ro(sort=True, filter=True),
    "floating_ip_address": Attr(post=True, default=NOT_SPECIFIED, validate=valid_ip_or_none,
                                sort=True, filter=True, writers=ADMIN_ROLES),
    # Where to take the address from; accepted on create, never shown (is_visible False).
    "subnet_id": Attr(post=True, default=NOT_SPECIFIED, validate=valid_uuid_or_none),
    "floating_network_id": Attr(post=True, validate=valid_uuid, sort=True, filter=True),
    "router_id": _ro(sort=True, filter=True),
    "port_id": Attr(post=True, put=True, default=None, validate=valid_uuid_or_none, sort=True,
                    filter=True),
    "fixed_ip_address": Attr(post=True, put=True, default=None, validate=valid_ip_or_none,
                             sort=True, filter=True),
    "tenant_id": _owner(),
    "project_id": _owner(),
    "status": _ro(sort=True, filter=True),
    **_standard(),
}

SECURITY_GROUP_ATTRS: dict[str, Attr] = {
    "id": _ro(sort=True, filter=True),
    "name": Attr(post=True, put=True, default="", validate=name_not_default, sort=True,
                 filter=True),
    "tenant_id": _owner(),
    "project_id": _owner(),
    "stateful": _bool(True),
    "security_group_rules": _ro(),
    **_standard(),
}

SECURITY_GROUP_RULE_ATTRS: dict[str, Attr] = {
    "id": _ro(sort=True, filter=True),
    "security_group_id": Attr(post=True, validate=valid_uuid, sort=True, filter=True),
    "remote_group_id": Attr(post=True, default=None, validate=valid_uuid_or_none, sort=True,
                            filter=True),
    "direction": Attr(post=True, validate=valid_values(["ingress", "egress"]), sort=True,
                      filter=True),
    "protocol": Attr(post=True, default=None, convert=to_protocol, sort=True, filter=True),
    "port_range_min": Attr(post=True, default=None, convert=to_port_value, sort=True,
                           filter=True, filter_convert=lambda v: [to_int(x) for x in v]),
    "port_range_max": Attr(post=True, default=None, convert=to_port_value, sort=True,
                           filter=True, filter_convert=lambda v: [to_int(x) for x in v]),
    "ethertype": Attr(post=True, default="IPv4", convert=to_ethertype,
                      validate=valid_values(["IPv4", "IPv6"]), sort=True, filter=True),
    "remote_ip_prefix": Attr(post=True, default=None, convert=to_ip_prefix, sort=True,
                             filter=True),
    "tenant_id": _owner(),
    "project_id": _owner(),
    "description": Attr(post=True, default="", validate=valid_string(DESCRIPTION_MAX_LEN),
                        filter=True),
    "created_at": _ro(sort=True),
    "updated_at": _ro(sort=True),
    "revision_number": _ro(sort=True, filter=True),
}

TAG_FILTERS = ("tags", "tags-any", "not-tags", "not-tags-any")


@dataclass(frozen=True)
class Kind:
    """A resource type: its names, attribute map and what Neutron says when one is missing."""

    resource: str
    collection: str
    path: str
    attrs: dict[str, Attr]
    missing: Callable[[str], SimError]
    bulk: bool = True
    taggable: bool = True
    updatable: bool = True

    @property
    def sort_keys(self) -> set[str]:
        return {k for k, a in self.attrs.items() if a.sort}

    @property
    def filters(self) -> set[str]:
        names = {k for k, a in self.attrs.items() if a.filter}
        return names | set(TAG_FILTERS) if self.taggable else names


NETWORK = Kind("network", "networks", "networks", NETWORK_ATTRS,
               lambda i: SimError(404, f"Network {i} could not be found.",
                                  kind="NetworkNotFound"))
SUBNET = Kind("subnet", "subnets", "subnets", SUBNET_ATTRS,
              lambda i: SimError(404, f"Subnet {i} could not be found.", kind="SubnetNotFound"))
PORT = Kind("port", "ports", "ports", PORT_ATTRS,
            lambda i: SimError(404, f"Port {i} could not be found.", kind="PortNotFound"))
ROUTER = Kind("router", "routers", "routers", ROUTER_ATTRS,
              lambda i: SimError(404, f"Router {i} could not be found", kind="RouterNotFound"),
              bulk=False)
FLOATINGIP = Kind("floatingip", "floatingips", "floatingips", FLOATINGIP_ATTRS,
                  lambda i: SimError(404, f"Floating IP {i} could not be found",
                                     kind="FloatingIPNotFound"))
SECURITY_GROUP = Kind("security_group", "security_groups", "security-groups",
                      SECURITY_GROUP_ATTRS,
                      lambda i: SimError(404, f"Security group {i} does not exist",
                                         kind="SecurityGroupNotFound"))
SECURITY_GROUP_RULE = Kind("security_group_rule", "security_group_rules",
                           "security-group-rules", SECURITY_GROUP_RULE_ATTRS,
                           lambda i: SimError(404, f"Security group rule {i} does not exist",
                                              kind="SecurityGroupRuleNotFound"),
                           taggable=False, updatable=False)
# Neutron's default quotas (its [quotas] quota_<resource> options).
QUOTA_DEFAULTS = {"network": 100, "subnet": 100, "port": 500, "router": 10, "floatingip": 50,
                  "security_group": 10, "security_group_rule": 100}
MAX_ROUTES = 30   # Neutron's max_routes: extra routes per router (setting neutron.max_routes)

KINDS = (NETWORK, SUBNET, PORT, ROUTER, FLOATINGIP, SECURITY_GROUP, SECURITY_GROUP_RULE)


# -- request bodies (neutron.api.v2.base.Controller.prepare_request_body) ----------------------

def has_role(token: Token, roles: frozenset[str]) -> bool:
    return not roles or bool(token.role_names & roles)


def _populate_project(token: Token, item: dict, is_create: bool) -> None:
    """Both of project_id and tenant_id, and the caller may only name its own project."""
    if "tenant_id" in item and "project_id" not in item:
        item["project_id"] = item["tenant_id"]
    elif "project_id" in item and "tenant_id" not in item:
        item["tenant_id"] = item["project_id"]
    if item.get("project_id") != item.get("tenant_id"):
        raise http_bad_request("'project_id' and 'tenant_id' do not match")
    if "project_id" in item and item["project_id"] != token.project_id and not token.is_admin:
        raise http_bad_request("Specifying 'project_id' or 'tenant_id' other than the "
                               "authenticated project in request is not allowed for current "
                               "user.")
    if is_create and "project_id" not in item:
        item["project_id"] = item["tenant_id"] = token.project_id


def prepare_item(kind: Kind, token: Token, item: Any, is_create: bool) -> dict:
    """Check one resource of a request body against the attribute map; defaults filled in."""
    if not isinstance(item, dict):
        raise http_bad_request(f"Object '{kind.resource}' contains invalid data")
    item = dict(item)
    _populate_project(token, item, is_create)
    unknown = [k for k in item if k not in kind.attrs]
    if unknown:
        raise http_bad_request(f"Unrecognized attribute(s) '{', '.join(unknown)}'")
    for name, attr in kind.attrs.items():
        if is_create and attr.post:
            if attr.default is REQUIRED and name not in item:
                raise http_bad_request(f"Failed to parse request. Required attribute "
                                       f"'{name}' not specified")
            item.setdefault(name, attr.default)
        elif is_create and name in item:
            raise http_bad_request(f"Attribute '{name}' not allowed in POST")
        elif not is_create and name in item and not attr.put:
            raise http_bad_request(f"Cannot update read-only attribute {name}")
    for name, attr in kind.attrs.items():
        if name not in item or item[name] is NOT_SPECIFIED:
            continue
        if attr.convert is not None:
            item[name] = attr.convert(item[name])
        if attr.validate is not None:
            reason = attr.validate(item[name])
            if reason:
                raise http_bad_request(f"Invalid input for {name}. Reason: {reason}.")
    return item


def prepare_body(kind: Kind, token: Token, body: Any, is_create: bool) -> list[dict]:
    """The resources of a POST or PUT body: one, or several for a bulk create."""
    if not isinstance(body, dict) or not (kind.resource in body or kind.collection in body):
        # Neutron's body hook finds no resource in a body it cannot parse either.
        raise http_bad_request(f"Unable to find '{kind.resource}' in request body")
    if kind.collection in body:
        if not (is_create and kind.bulk):
            raise http_bad_request("Bulk operation not supported")
        items = body[kind.collection]
        if not items:
            raise http_bad_request("Resources required")
        if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
            raise http_bad_request("Body contains invalid data")
        return [prepare_item(kind, token, i[kind.resource] if kind.resource in i else i,
                             is_create) for i in items]
    if body[kind.resource] is None:
        raise http_bad_request(f"Unable to find '{kind.resource}' in request body")
    return [prepare_item(kind, token, body[kind.resource], is_create)]


def explicitly_set(kind: Kind, item: dict) -> list[str]:
    """Attributes a caller set to something other than their default (what policy checks)."""
    return [name for name, attr in kind.attrs.items()
            if name in item and item[name] is not NOT_SPECIFIED and item[name] != attr.default]


def enforce_attributes(kind: Kind, token: Token, action: str, item: dict,
                       names: Iterable[str]) -> None:
    denied = [n for n in names if n in item and not has_role(token, kind.attrs[n].writers)]
    if denied:
        raise policy_denied(f"{action}_{kind.resource}", denied)


# -- listings: filters, fields, sorting, native pagination (neutron.api.api_common) -----------

@dataclass
class ListQuery:
    fields: list[str] = field(default_factory=list)
    filters: dict[str, Any] = field(default_factory=dict)
    sorts: list[tuple[str, str]] = field(default_factory=list)
    limit: int | None = None
    marker: str | None = None
    page_reverse: bool = False


PAGING_PARAMS = ("fields", "sort_key", "sort_dir", "limit", "marker", "page_reverse")


def parse_list_query(kind: Kind, pairs: list[tuple[str, str]]) -> ListQuery:
    """Neutron's query parameters of a listing, checked as the API layer checks them."""
    query = ListQuery()
    grouped: dict[str, list[str]] = {}
    for key, value in pairs:
        grouped.setdefault(key, []).append(value)
    query.fields = [f for f in grouped.get("fields", []) if f]
    sort_keys = [v for v in grouped.get("sort_key", []) if v]
    sort_dirs = [v for v in grouped.get("sort_dir", []) if v]
    if len(sort_keys) != len(sort_dirs):
        raise http_bad_request("The number of sort_keys and sort_dirs must be same")
    absent = [k for k in sort_keys if k not in kind.sort_keys]
    if absent:
        raise http_bad_request(f"{absent} is invalid attribute for sort_keys")
    bad_dirs = [d for d in sort_dirs if d not in ("asc", "desc")]
    if bad_dirs:
        raise http_bad_request(f"{bad_dirs} is invalid value for sort_dirs, valid value is "
                               f"'asc' and 'desc'")
    query.sorts = list(zip(sort_keys, sort_dirs))
    limit = grouped.get("limit", ["0"])[0]
    try:
        query.limit = int(limit)
    except ValueError:
        query.limit = -1
    if query.limit < 0:
        raise bad_request("limit", f"Limit must be an integer 0 or greater and not '{limit}'")
    query.limit = query.limit or None
    query.marker = grouped.get("marker", [None])[0] if query.limit else None
    query.page_reverse = grouped.get("page_reverse", ["False"])[0].lower() == "true"
    invalid = []
    for key, values in grouped.items():
        if key in PAGING_PARAMS:
            continue
        if key not in kind.filters:
            invalid.append(key)
            continue
        values = [v for v in values if v]
        attr = kind.attrs.get(key)
        if attr is not None and attr.filter_convert is not None:
            converted = attr.filter_convert(values)
        elif attr is not None and attr.convert is not None:
            converted = [attr.convert(v) for v in values]
        else:
            converted = values
        if converted:
            query.filters[key] = converted
    if invalid:
        raise http_bad_request(f"{invalid} is invalid attribute for filtering")
    return query


def _tag_set(values: list[str]) -> set[str]:
    return {t for v in values for t in v.split(",") if t}


def matches(item: dict, filters: dict[str, Any]) -> bool:
    """Every filter holds; the values of one filter are alternatives."""
    for key, wanted in filters.items():
        if key == "fixed_ips":
            ips = [(ip["ip_address"], ip["subnet_id"]) for ip in item.get("fixed_ips", [])]
            if not any(("ip_address" not in wanted or a in wanted["ip_address"])
                       and ("subnet_id" not in wanted or s in wanted["subnet_id"])
                       for a, s in ips):
                return False
        elif key in TAG_FILTERS:
            tags, asked = set(item.get("tags", [])), _tag_set(wanted)
            held = {"tags": asked <= tags, "tags-any": bool(asked & tags),
                    "not-tags": not asked <= tags, "not-tags-any": not asked & tags}[key]
            if not held:
                return False
        else:
            value = item.get(key)
            if isinstance(value, list):
                if not set(map(str, value)) & set(map(str, wanted)):
                    return False
            elif value not in wanted:
                return False
    return True


def _order_value(value: Any) -> tuple:
    # The database puts NULL first in ascending order.
    if value is None:
        return (0, 0)
    if isinstance(value, bool):
        return (1, int(value))
    if isinstance(value, (int, float)):
        return (1, value)
    return (2, str(value))


def sort_records(items: list[dict], sorts: list[tuple[str, str]]) -> list[dict]:
    result = list(items)
    for key, direction in reversed(sorts):  # stable sorts, least significant key first
        result.sort(key=lambda item, k=key: _order_value(item.get(k)),
                    reverse=direction == "desc")
    return result


def paginate(items: list[dict], sorts: list[tuple[str, str]], limit: int,
             marker: dict | None, page_reverse: bool) -> list[dict]:
    """The page after (or, reversed, before) the marker, as the database query selects it.

    The marker need not pass the filters: like Neutron's query, only its sort values count.
    """
    if marker is None:
        return items[-limit:] if page_reverse else items[:limit]
    ordered = sort_records([i for i in items if i["id"] != marker["id"]] + [marker], sorts)
    at = next(n for n, i in enumerate(ordered) if i["id"] == marker["id"])
    if page_reverse:
        return ordered[max(0, at - limit):at]
    return ordered[at + 1:at + 1 + limit]


def _first_removed(pairs: list[tuple[str, str]], key: str) -> list[tuple[str, str]]:
    """webob's MultiDict.pop: the first value of the key goes."""
    for n, (k, _) in enumerate(pairs):
        if k == key:
            return pairs[:n] + pairs[n + 1:]
    return pairs


def _replaced(pairs: list[tuple[str, str]], key: str, value: str) -> list[tuple[str, str]]:
    """webob's MultiDict.__setitem__: every value of the key goes, the new one is appended."""
    return [(k, v) for k, v in pairs if k != key] + [(key, value)]


def pagination_links(path_url: str, pairs: list[tuple[str, str]], items: list[dict],
                     limit: int | None, page_reverse: bool) -> list[dict]:
    """``get_pagination_links``: 'next' unless a short forward page, 'previous' likewise."""
    links: list[dict] = []
    if not limit:
        return links
    if not (len(items) < limit and not page_reverse):
        params = _first_removed(pairs, "marker")
        if items:
            params = _replaced(params, "marker", items[-1]["id"])
        params = _first_removed(params, "page_reverse")
        links.append({"rel": "next", "href": f"{path_url}?{urllib.parse.urlencode(params)}"})
    if not (len(items) < limit and page_reverse):
        params = _first_removed(pairs, "marker")
        if items:
            params = _replaced(params, "marker", items[0]["id"])
        params = _replaced(params, "page_reverse", "True")
        links.append({"rel": "previous",
                      "href": f"{path_url}?{urllib.parse.urlencode(params)}"})
    return links


def select_fields(item: dict, fields: list[str]) -> dict:
    return {k: v for k, v in item.items() if k in fields} if fields else item


# -- IP address management (neutron.ipam) -----------------------------------------------------

MAX_WINDOW = 1000  # Neutron's IPAM picks at random among the first 1000 free addresses


def default_gateway(cidr: str) -> str | None:
    net = ipaddress.ip_network(cidr)
    if net.num_addresses < 2:
        return None
    # IPv6: the subnet-router anycast address, as Neutron's ipam_backend_mixin gives it.
    return str(net.network_address + (1 if net.version == 4 else 0))


def default_pools(cidr: str, gateway: str | None) -> list[dict]:
    """The pools Neutron generates: every host address except the gateway (ipam.utils)."""
    net = ipaddress.ip_network(cidr)
    first, last = int(net.network_address), int(net.broadcast_address)
    if first == last:
        return [_pool(net.version, first, last)]
    lo, hi = first + 1, last - (net.version == 4)
    if lo >= hi:
        return []
    ranges = [(lo, hi)]
    if gateway:
        g = int(ipaddress.ip_address(gateway))
        if lo <= g <= hi:
            ranges = [(a, b) for a, b in ((lo, g - 1), (g + 1, hi)) if a <= b]
    return [_pool(net.version, a, b) for a, b in ranges]


def _pool(version: int, first: int, last: int) -> dict:
    make = ipaddress.IPv4Address if version == 4 else ipaddress.IPv6Address
    return {"start": str(make(first)), "end": str(make(last))}


def pool_text(pool: dict) -> str:
    return f"{pool['start']}-{pool['end']}"


def check_pools(cidr: str, pools: list[dict]) -> list[tuple[int, int]]:
    """Validate requested pools (ipam_backend_mixin.validate_allocation_pools)."""
    net = ipaddress.ip_network(cidr)
    first_ip = int(net.network_address) + 1
    last_ip = int(net.broadcast_address) - (net.version == 4)
    ranges = []
    for pool in pools:
        start, end = ipaddress.ip_address(pool["start"]), ipaddress.ip_address(pool["end"])
        if start.version != end.version or int(start) > int(end):
            raise bad_request_kind("InvalidAllocationPool",
                                   f"The allocation pool {_pool_dict_text(pool)} is not valid.")
        if start.version != net.version:
            raise bad_request_kind("InvalidAllocationPool",
                                   f"The allocation pool {pool_text(pool)} is not valid.")
        if int(start) < first_ip or int(end) > last_ip:
            raise bad_request_kind("OutOfBoundsAllocationPool",
                                   f"The allocation pool {pool_text(pool)} spans beyond the "
                                   f"subnet cidr {cidr}.")
        ranges.append((int(start), int(end)))
    for i, (a1, b1) in enumerate(ranges):
        for j in range(i + 1, len(ranges)):
            a2, b2 = ranges[j]
            if a1 <= b2 and a2 <= b1:
                raise conflict("OverlappingAllocationPools",
                               f"Found overlapping allocation pools: {pool_text(pools[i])} "
                               f"{pool_text(pools[j])} for subnet {cidr}.")
    return ranges


def _pool_dict_text(pool: dict) -> str:
    return _text({"start": pool["start"], "end": pool["end"]})


def bad_request_kind(kind: str, message: str) -> SimError:
    return SimError(400, message, kind=kind)


def gateway_conflict(gateway: str, pools: list[dict]) -> SimError | None:
    g = int(ipaddress.ip_address(gateway))
    for pool in pools:
        if int(ipaddress.ip_address(pool["start"])) <= g <= int(ipaddress.ip_address(
                pool["end"])):
            return conflict("GatewayConflictWithAllocationPools",
                            f"Gateway ip {gateway} conflicts with allocation pool "
                            f"{pool_text(pool)}.")
    return None


def gateway_invalid(cidr: str, gateway: str) -> bool:
    """The network address, or (IPv4) the broadcast address, cannot be a gateway."""
    net = ipaddress.ip_network(cidr)
    ip = ipaddress.ip_address(gateway)
    return ip.version == net.version and ip in net and (
        net.version == 4 and ip in (net.network_address, net.broadcast_address))


def ip_on_subnet(cidr: str, address: str, router_owner: bool = False) -> bool:
    """check_subnet_ip: in the subnet, and not its network (or IPv4 broadcast) address."""
    net = ipaddress.ip_network(cidr)
    ip = ipaddress.ip_address(address)
    if ip.version != net.version or ip not in net:
        return False
    if net.version == 6:
        return router_owner or ip != net.network_address
    return ip not in (net.network_address, net.broadcast_address)


def free_addresses(pools: list[dict], used: set[str], window: int = MAX_WINDOW) -> list[str]:
    """The first free addresses of the first pool that has any."""
    for pool in pools:
        start = ipaddress.ip_address(pool["start"])
        end = int(ipaddress.ip_address(pool["end"]))
        found = []
        address = start
        while int(address) <= end and len(found) < window:
            if str(address) not in used:
                found.append(str(address))
            address += 1
        if found:
            return found
    return []


def eui64_address(cidr: str, mac: str) -> str:
    """The SLAAC address of a MAC on an IPv6 /64."""
    net = ipaddress.ip_network(cidr)
    octets = [int(x, 16) for x in mac.split(":")]
    octets[0] ^= 0x02
    eui = octets[:3] + [0xFF, 0xFE] + octets[3:]
    return str(net.network_address + int.from_bytes(bytes(eui), "big"))


def normal_mac(mac: str) -> str:
    return mac.replace("-", ":").lower()


def is_auto_address(subnet: dict) -> bool:
    return subnet["ip_version"] == 6 and subnet["ipv6_address_mode"] in (
        "slaac", "dhcpv6-stateless")


# -- the extensions this Neutron has (GET /v2.0/extensions) -----------------------------------

EXTENSIONS = [
    ("allowed-address-pairs", "Allowed Address Pairs", "Provides allowed address pairs",
     "2013-07-23T10:00:00-00:00"),
    ("binding", "Port Binding",
     "Expose port bindings of a virtual port to external application",
     "2014-02-03T10:00:00-00:00"),
    ("external-net", "Neutron external network",
     "Adds external network attribute to network resource.", "2013-01-14T10:00:00-00:00"),
    ("ext-gw-mode", "Neutron L3 Configurable external gateway mode",
     "Extension of the router abstraction for specifying whether SNAT should occur on the "
     "external gateway", "2013-03-28T10:00:00-00:00"),
    ("filter-validation", "Filter parameters validation",
     "Provides validation on filter parameters.", "2018-03-21T10:00:00-00:00"),
    ("net-mtu", "Network MTU", "Provides MTU attribute for a network resource.",
     "2015-03-25T10:00:00-00:00"),
    ("net-mtu-writable", "Network MTU (writable)",
     "Provides a writable MTU attribute for a network resource.", "2017-07-12T00:00:00-00:00"),
    ("pagination", "Pagination support", "Extension that indicates that pagination is enabled.",
     "2016-06-12T00:00:00-00:00"),
    ("port-security", "Port Security", "Provides port security", "2012-07-23T10:00:00-00:00"),
    ("project-id", "project_id field enabled",
     "Extension that indicates that project_id field is enabled.",
     "2016-09-09T09:09:09-09:09"),
    ("provider", "Provider Network", "Expose mapping of virtual networks to physical networks",
     "2012-09-07T10:00:00-00:00"),
    ("router", "Neutron L3 Router",
     "Router abstraction for basic L3 forwarding between L2 Neutron networks and access to "
     "external networks via a NAT gateway.", "2012-07-20T10:00:00-00:00"),
    ("extraroute", "Neutron Extra Route", "Extra routes configuration for L3 router",
     "2013-02-01T10:00:00-00:00"),
    ("extraroute-atomic", "Atomically add/remove extra routes",
     "Edit extra routes of a router on server side by atomically adding/removing extra "
     "routes", "2019-07-10T00:00:00+00:00"),
    ("security-group", "security-group", "The security groups extension.",
     "2012-10-05T10:00:00-00:00"),
    ("sorting", "Sorting support", "Extension that indicates that sorting is enabled.",
     "2016-06-12T00:00:00-00:00"),
    ("standard-attr-description", "standard-attr-description",
     "Extension to add descriptions to standard attributes", "2016-02-10T10:00:00-00:00"),
    ("standard-attr-revisions", "Resource revision numbers",
     "This extension will display the revision number of neutron resources.",
     "2016-04-11T10:00:00-00:00"),
    ("standard-attr-tag", "Tag support for resources with standard attribute: subnet, router, "
     "network, port, security_group, floatingip", "Enables to set tag on resources with standard "
     "attribute.", "2017-01-01T00:00:00-00:00"),
    ("standard-attr-timestamp", "Resource timestamps",
     "Adds created_at and updated_at fields to all Neutron resources that have Neutron "
     "standard attributes.", "2016-09-12T10:00:00-00:00"),
    ("stateful-security-group", "Stateful security group",
     "Indicates if the security group is stateful or not", "2019-11-26T09:00:00-00:00"),
]


def extension_doc(alias: str, name: str, description: str, updated: str) -> dict:
    return {"alias": alias, "name": name, "description": description, "updated": updated,
            "links": []}


# -- the service --------------------------------------------------------------------------------

DEFAULT_MTU = 1442  # geneve over a 1500-byte physical network
OWNER_ROUTER_INTERFACE = "network:router_interface"
OWNER_ROUTER_GATEWAY = "network:router_gateway"
OWNER_DISTRIBUTED = "network:distributed"  # OVN's metadata port, one per network
OWNER_FLOATINGIP = "network:floatingip"
ROUTER_OWNERS = (OWNER_ROUTER_INTERFACE, OWNER_ROUTER_GATEWAY,
                 "network:ha_router_replicated_interface", "network:router_interface_distributed")
AUTO_DELETE_OWNERS = ("network:dhcp", OWNER_DISTRIBUTED)
VIF_DETAILS = {"port_filter": True, "connectivity": "l2", "bridge_name": "br-int",
               "datapath_type": "system", "bound_drivers": {"0": "ovn"}}


async def read_json(request: web.Request) -> Any:
    """The body, None when it is empty (Neutron then finds no resource in it); 400 when it is
    not a JSON object."""
    raw = await request.read()
    if not raw:
        return None
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        body = None
    if not isinstance(body, dict):
        raise http_bad_request("Body contains invalid data")
    return body


def request_pairs(request: web.Request) -> list[tuple[str, str]]:
    return list(request.query.items())


def path_url(request: web.Request) -> str:
    return str(request.url.with_query(None))


class NeutronService(SimService):
    name = "neutron"
    service_type = "network"
    catalog_path = ""
    render_error = staticmethod(render_neutron)

    def __init__(self, cloud) -> None:
        super().__init__(cloud)
        seed = cloud.spec.seed
        self.rng = random.Random(None if seed is None else seed * 7919 + 17)
        self.records: dict[str, dict[str, dict]] = {k.collection: {} for k in KINDS}
        self.allocations: dict[str, dict[str, str]] = {}  # subnet id -> {ip: port id}
        self.default_groups: dict[str, str] = {}  # project id -> default security group id
        self._segments = 0

    # -- tables -------------------------------------------------------------------------------

    @property
    def networks(self) -> dict[str, dict]:
        return self.records["networks"]

    @property
    def subnets(self) -> dict[str, dict]:
        return self.records["subnets"]

    @property
    def ports(self) -> dict[str, dict]:
        return self.records["ports"]

    @property
    def routers(self) -> dict[str, dict]:
        return self.records["routers"]

    @property
    def floatingips(self) -> dict[str, dict]:
        return self.records["floatingips"]

    @property
    def security_groups(self) -> dict[str, dict]:
        return self.records["security_groups"]

    @property
    def rules(self) -> dict[str, dict]:
        return self.records["security_group_rules"]

    # -- routes -------------------------------------------------------------------------------

    def routes(self) -> list[web.RouteDef]:
        routes = [web.get("/", self.versions), web.get("/v2.0/", self.resources_doc),
                  web.get("/v2.0/extensions", self.list_extensions),
                  web.get("/v2.0/extensions/{alias}", self.show_extension)]
        for kind in KINDS:
            base = f"/v2.0/{kind.path}"
            routes += [web.get(base, self._handler(self.list_, kind)),
                       web.post(base, self._handler(self.create, kind)),
                       web.get(base + "/{id}", self._handler(self.show, kind)),
                       web.delete(base + "/{id}", self._handler(self.delete, kind))]
            item_methods = ["GET", "DELETE"]
            if kind.updatable:
                routes.append(web.put(base + "/{id}", self._handler(self.update, kind)))
                item_methods.append("PUT")
            routes += [web.route(m, base, self._not_allowed(["GET", "POST"]))
                       for m in ("PUT", "PATCH", "DELETE")]
            routes += [web.route(m, base + "/{id}", self._not_allowed(item_methods))
                       for m in ("POST", "PATCH", "PUT") if m not in item_methods]
            if kind.taggable:
                tags = base + "/{id}/tags"
                routes += [web.get(tags, self._handler(self.get_tags, kind)),
                           web.put(tags, self._handler(self.put_tags, kind)),
                           web.delete(tags, self._handler(self.delete_tags, kind)),
                           web.get(tags + "/{tag}", self._handler(self.check_tag, kind)),
                           web.put(tags + "/{tag}", self._handler(self.add_tag, kind)),
                           web.delete(tags + "/{tag}", self._handler(self.remove_tag, kind))]
        routes += [web.get("/v2.0/quotas/{project_id}", self.show_quota),
                   web.get("/v2.0/quotas/{project_id}/details", self.show_quota_details)]
        routes += [web.put("/v2.0/routers/{id}/add_router_interface", self.add_interface),
                   web.put("/v2.0/routers/{id}/remove_router_interface", self.remove_interface),
                   web.put("/v2.0/routers/{id}/add_extraroutes", self.add_extraroutes),
                   web.put("/v2.0/routers/{id}/remove_extraroutes", self.remove_extraroutes)]
        # pecan serves a path with a trailing slash as the path without it.
        routes += [web.route(r.method, r.path + "/", r.handler) for r in list(routes)
                   if r.path.startswith("/v2.0/") and not r.path.endswith("/")]
        return routes + [web.route("*", "/{tail:.*}", self.unknown)]

    @staticmethod
    def _handler(method, kind: Kind):
        async def handler(request: web.Request) -> web.StreamResponse:
            return await method(request, kind)
        return handler

    @staticmethod
    def _not_allowed(allowed: list[str]):
        async def handler(request: web.Request) -> web.StreamResponse:
            raise SimError(405, NOT_ALLOWED_TEXT, kind="HTTPMethodNotAllowed",
                           headers={"Allow": ", ".join(allowed)})
        return handler

    async def unknown(self, request: web.Request) -> web.StreamResponse:
        raise http_not_found()

    # -- documents ----------------------------------------------------------------------------

    @public
    async def versions(self, request: web.Request) -> web.Response:
        href = f"{request.url.origin()}/v2.0/"
        return json_response({"versions": [{"id": "v2.0", "status": "CURRENT",
                                            "links": [{"rel": "self", "href": href}]}]})

    async def resources_doc(self, request: web.Request) -> web.Response:
        base = path_url(request)
        return json_response({"resources": [
            {"name": kind.resource, "collection": kind.collection,
             "links": [{"rel": "self", "href": base + kind.collection}]}
            for kind in (NETWORK, SUBNET, PORT)]})

    async def list_extensions(self, request: web.Request) -> web.Response:
        return json_response({"extensions": [extension_doc(*e) for e in EXTENSIONS]})

    async def show_extension(self, request: web.Request) -> web.Response:
        alias = request.match_info["alias"]
        for ext in EXTENSIONS:
            if ext[0] == alias:
                return json_response({"extension": extension_doc(*ext)})
        raise SimError(404, f"Extension with alias {alias} does not exist",
                       kind="HTTPNotFound")

    # -- quotas (read only: every project has the cloud's ``neutron.quota_*``) -----------------

    def _quota_limits(self) -> dict[str, int]:
        return {name: int(self.cloud.setting(f"neutron.quota_{name}", str(value)))
                for name, value in QUOTA_DEFAULTS.items()}

    def _quota_project(self, request: web.Request) -> str:
        token: Token = request[TOKEN]
        project = request.match_info["project_id"]
        if not token.is_admin and project != token.project_id:
            raise policy_denied("get_quota")
        return project

    async def show_quota(self, request: web.Request) -> web.Response:
        self._quota_project(request)
        return json_response({"quota": self._quota_limits()})

    async def show_quota_details(self, request: web.Request) -> web.Response:
        """Each limit with what the project uses of it (``used``; nothing is ``reserved``)."""
        project = self._quota_project(request)
        used = {kind.resource: sum(1 for r in self.records[kind.collection].values()
                                   if r.get("project_id") == project) for kind in KINDS}
        return json_response({"quota": {
            name: {"limit": limit, "used": used.get(name, 0), "reserved": 0}
            for name, limit in self._quota_limits().items()}})

    # -- who sees what ------------------------------------------------------------------------

    def visible(self, kind: Kind, record: dict, token: Token) -> bool:
        if token.is_admin or record.get("project_id") == token.project_id:
            return True
        if kind is NETWORK:
            return record["shared"] or record["router:external"]
        if kind is SUBNET:
            network = self.networks.get(record["network_id"])
            return network is not None and self.visible(NETWORK, network, token)
        if kind is PORT:
            network = self.networks.get(record["network_id"])
            return network is not None and network["project_id"] == token.project_id
        return False

    def owns(self, record: dict, token: Token) -> bool:
        return token.is_admin or record.get("project_id") == token.project_id

    def find(self, kind: Kind, token: Token, rid: str) -> dict:
        record = self.records[kind.collection].get(rid)
        if record is None or not self.visible(kind, record, token):
            raise kind.missing(rid)
        return record

    def find_owned(self, kind: Kind, token: Token, rid: str, action: str) -> dict:
        """A resource the caller may change: hidden ones are missing, others forbidden."""
        record = self.find(kind, token, rid)
        if not self.owns(record, token):
            raise policy_denied(f"{action}_{kind.resource}")
        return record

    def view(self, kind: Kind, record: dict, token: Token) -> dict:
        hidden = {name for name, attr in kind.attrs.items()
                  if attr.readers and not has_role(token, attr.readers)}
        out = {k: v for k, v in record.items() if k not in hidden}
        if kind is SECURITY_GROUP:
            out["security_group_rules"] = [
                self.view(SECURITY_GROUP_RULE, self.rules[r], token)
                for r in record["security_group_rules"]]
        return _copy(out)

    # -- notifications ------------------------------------------------------------------------

    def notify(self, token: Token, event_type: str, payload: dict) -> None:
        self.cloud.notifier.emit("neutron", event_type, payload, service="network", context={
            "user_id": token.user_id, "user_name": token.user_name,
            "project_id": token.project_id, "tenant_id": token.project_id,
            "project_name": token.project_name, "tenant_name": token.project_name,
            "is_admin": token.is_admin, "roles": sorted(token.role_names),
            "request_id": "req-" + new_id(), "timestamp": iso_z(utcnow())})

    # -- generic handlers ---------------------------------------------------------------------
    # They check the request as Neutron's API layer does, then call the plugin logic by name:
    # create_<resource>(token, item), update_<resource>(token, record, changes) and
    # delete_<resource>(token, record, internal=False).

    async def list_(self, request: web.Request, kind: Kind) -> web.Response:
        token: Token = request[TOKEN]
        pairs = request_pairs(request)
        query = parse_list_query(kind, pairs)
        if kind is SECURITY_GROUP:
            # Neutron makes the default group of the project a listing is about.
            wanted = query.filters.get("project_id") or query.filters.get("tenant_id")
            project = wanted[0] if wanted and token.is_admin else token.project_id
            if project:
                self.ensure_default_group(project)
        candidates = [self.view(kind, r, token)
                      for r in self.records[kind.collection].values()
                      if self.visible(kind, r, token)]
        items = [i for i in candidates if matches(i, query.filters)]
        sorts = list(query.sorts)
        if query.limit and "id" not in dict(sorts):
            sorts.append(("id", "asc"))
        items = sort_records(items, sorts)
        if query.limit:
            marker = None
            if query.marker is not None:
                marker = self.view(kind, self.find(kind, token, query.marker), token)
            items = paginate(items, sorts, query.limit, marker, query.page_reverse)
        body: dict[str, Any] = {kind.collection: [select_fields(i, query.fields)
                                                  for i in items]}
        links = pagination_links(path_url(request), pairs, items, query.limit,
                                 query.page_reverse)
        if links:
            body[f"{kind.collection}_links"] = links
        return json_response(body)

    async def show(self, request: web.Request, kind: Kind) -> web.Response:
        token: Token = request[TOKEN]
        record = self.find(kind, token, request.match_info["id"])
        fields = [f for f in request.query.getall("fields", []) if f]
        return json_response({kind.resource: select_fields(self.view(kind, record, token),
                                                           fields)})

    async def create(self, request: web.Request, kind: Kind) -> web.Response:
        token: Token = request[TOKEN]
        body = await read_json(request)
        items = prepare_body(kind, token, body, is_create=True)
        for item in items:
            enforce_attributes(kind, token, "create", item, explicitly_set(kind, item))
        bulk = isinstance(body, dict) and kind.collection in body
        created = []
        for item in items:
            self.notify(token, f"{kind.resource}.create.start", {kind.resource: _wire(item)})
        try:
            for item in items:
                created.append(getattr(self, f"create_{kind.resource}")(token, item))
        except SimError:
            # A bulk create is all or nothing, as Neutron's is.
            for record in reversed(created):
                getattr(self, f"delete_{kind.resource}")(token, record, internal=True)
            raise
        views = [self.view(kind, r, token) for r in created]
        for v in views:
            self.notify(token, f"{kind.resource}.create.end", {kind.resource: v})
        if bulk:
            return json_response({kind.collection: views}, status=201)
        return json_response({kind.resource: views[0]}, status=201)

    async def update(self, request: web.Request, kind: Kind) -> web.Response:
        token: Token = request[TOKEN]
        rid = request.match_info["id"]
        body = await read_json(request)
        if not (isinstance(body, dict) and kind.resource in body):
            self.find(kind, token, rid)  # the controller looks it up before it reads the body
        changes = prepare_body(kind, token, body, is_create=False)[0]
        record = self.find(kind, token, rid)
        if not self.owns(record, token):
            raise policy_denied(f"update_{kind.resource}")
        enforce_attributes(kind, token, "update", changes, changes)
        self.notify(token, f"{kind.resource}.update.start", {kind.resource: _wire(changes)})
        getattr(self, f"update_{kind.resource}")(token, record, changes)
        view = self.view(kind, record, token)
        self.notify(token, f"{kind.resource}.update.end", {kind.resource: view})
        return json_response({kind.resource: view})

    async def delete(self, request: web.Request, kind: Kind) -> web.Response:
        token: Token = request[TOKEN]
        rid = request.match_info["id"]
        if await request.read():
            raise http_bad_request("Request body is not supported in DELETE.")
        record = self.find_owned(kind, token, rid, "delete")
        self.notify(token, f"{kind.resource}.delete.start", {f"{kind.resource}_id": rid})
        view = self.view(kind, record, token)
        getattr(self, f"delete_{kind.resource}")(token, record)
        self.notify(token, f"{kind.resource}.delete.end",
                    {f"{kind.resource}_id": rid, kind.resource: view})
        return web.Response(status=204)

    # -- records ------------------------------------------------------------------------------

    def _new_record(self, item: dict, revision: int = 0) -> dict:
        now = iso_z(utcnow())
        return {"id": new_id(), "project_id": item["project_id"],
                "tenant_id": item["project_id"], "description": item.get("description", ""),
                "tags": [], "created_at": now, "updated_at": now, "revision_number": revision}

    @staticmethod
    def touch(record: dict) -> None:
        record["updated_at"] = iso_z(utcnow())
        record["revision_number"] += 1

    def _apply(self, kind: Kind, record: dict, changes: dict, names: Iterable[str]) -> None:
        changed = False
        for name in names:
            if name in changes and changes[name] != record.get(name):
                record[name] = _copy(changes[name])
                changed = True
        if changed or changes:
            self.touch(record)

    # -- networks -----------------------------------------------------------------------------

    def create_network(self, token: Token, item: dict) -> dict:
        self.ensure_default_group(item["project_id"])
        mtu = item["mtu"] or DEFAULT_MTU
        if mtu > DEFAULT_MTU:
            raise invalid_input(f"Requested MTU is too big, maximum is {DEFAULT_MTU}")
        network_type = _given(item["provider:network_type"], "geneve")
        if network_type in ("flat", "vlan") and not _given(item["provider:physical_network"],
                                                          None):
            raise invalid_input(f"physical_network required for {network_type} provider "
                                f"network")
        physical = _given(item["provider:physical_network"], None)
        segment = _given(item["provider:segmentation_id"], None)
        if segment is not None and network_type in ("geneve", "vxlan", "vlan") and any(
                n["provider:network_type"] == network_type and n["provider:segmentation_id"]
                == segment and n["provider:physical_network"] == physical
                for n in self.networks.values()):
            # The type driver's allocation of that segment fails (TunnelIdInUse, VlanIdInUse).
            if network_type == "vlan":
                raise conflict("VlanIdInUse", f"Unable to create the network. The VLAN "
                                              f"{segment} on physical network {physical} is "
                                              f"in use.")
            raise conflict("TunnelIdInUse", f"Unable to create the network. The tunnel ID "
                                            f"{segment} is in use.")
        if network_type in ("geneve", "vxlan", "vlan"):
            self._segments += 1
        record = self._new_record(item, revision=1) | {
            "name": item["name"], "admin_state_up": item["admin_state_up"], "mtu": mtu,
            "status": "ACTIVE", "subnets": [], "shared": item["shared"],
            "port_security_enabled": item["port_security_enabled"],
            "router:external": _given(item["router:external"], False),
            "provider:network_type": network_type,
            "provider:physical_network": _given(item["provider:physical_network"], None),
            "provider:segmentation_id": _given(item["provider:segmentation_id"],
                                               self._segments if network_type != "flat"
                                               else None)}
        self.networks[record["id"]] = record
        self._create_metadata_port(record)
        return record

    def update_network(self, token: Token, record: dict, changes: dict) -> None:
        if "mtu" in changes:
            changes["mtu"] = changes["mtu"] or DEFAULT_MTU
            if changes["mtu"] > DEFAULT_MTU:
                raise invalid_input(f"Requested MTU is too big, maximum is {DEFAULT_MTU}")
        if changes.get("router:external") is False and record["router:external"] and any(
                p["device_owner"] == OWNER_ROUTER_GATEWAY
                for p in self._ports_on(record["id"])):
            raise conflict("ExternalNetworkInUse",
                           f"External network {record['id']} cannot be updated to be made "
                           f"non-external, since it has existing gateway ports.")
        self._apply(NETWORK, record, changes,
                    ("name", "admin_state_up", "mtu", "shared", "port_security_enabled",
                     "router:external", "description"))

    def delete_network(self, token: Token, record: dict, internal: bool = False) -> None:
        ports = self._ports_on(record["id"])
        in_use = [p["id"] for p in ports if p["device_owner"] not in AUTO_DELETE_OWNERS]
        if in_use:
            raise conflict("NetworkInUse",
                           f"Unable to complete operation on network {record['id']}. There "
                           f"are one or more ports still in use on the network, id for these "
                           f"ports is: {','.join(in_use)}.")
        for port in ports:
            self._drop_port(port)
        for subnet_id in list(record["subnets"]):
            self._drop_subnet(self.subnets[subnet_id])
        del self.networks[record["id"]]

    def _ports_on(self, network_id: str) -> list[dict]:
        return [p for p in self.ports.values() if p["network_id"] == network_id]

    def _create_metadata_port(self, network: dict) -> None:
        """OVN gives every network a metadata port; it takes an address on each DHCP subnet."""
        record = self._port_record(network, {
            "project_id": network["project_id"], "name": "", "admin_state_up": True,
            "device_id": f"ovnmeta-{network['id']}", "device_owner": OWNER_DISTRIBUTED,
            "description": ""})
        record["status"] = "DOWN"
        self.ports[record["id"]] = record

    def _metadata_port(self, network_id: str) -> dict | None:
        return next((p for p in self._ports_on(network_id)
                     if p["device_owner"] == OWNER_DISTRIBUTED), None)

    # -- subnets ------------------------------------------------------------------------------

    def create_subnet(self, token: Token, item: dict) -> dict:
        network = self.find(NETWORK, token, item["network_id"])
        self._check_network_owner(token, network, item, "subnet")
        if _given(item["subnetpool_id"], None) is not None:
            raise SimError(404, f"Subnet pool {item['subnetpool_id']} could not be found.",
                           kind="SubnetPoolNotFound")
        cidr_text = _given(item["cidr"], None)
        if cidr_text is None:
            raise bad_request("subnets", "a subnetpool must be specified in the absence of a "
                                         "cidr")
        net = ipaddress.ip_network(cidr_text, strict=False)
        version = item["ip_version"]
        if net.version != version:
            raise invalid_input(f"cidr '{cidr_text}' does not match the ip_version "
                                f"'{version}'")
        cidr = str(net)
        if item["enable_dhcp"] and net.prefixlen > (30 if version == 4 else 126):
            raise invalid_input("Subnet has a prefix length that is incompatible with DHCP "
                                "service enabled")
        ra_mode, address_mode = (_given(item["ipv6_ra_mode"], None),
                                 _given(item["ipv6_address_mode"], None))
        if version == 6:
            check_ipv6_modes(ra_mode, address_mode, item["enable_dhcp"], net)
        for other in (self.subnets[s] for s in network["subnets"]):
            if ipaddress.ip_network(other["cidr"]).overlaps(net):
                raise invalid_input(f"Requested subnet with cidr: {cidr} for network: "
                                    f"{network['id']} overlaps with another subnet")
        gateway = item["gateway_ip"]
        if gateway is NOT_SPECIFIED:
            gateway = default_gateway(cidr)
        elif gateway is not None:
            self._check_gateway(cidr, gateway, version)
        for server in item["dns_nameservers"] if item["dns_nameservers"] is not NOT_SPECIFIED \
                else []:
            if ipaddress.ip_address(server).version != version:
                raise invalid_input(f"dns_nameserver '{server}' does not match the ip_version "
                                    f"'{version}'")
        pools = item["allocation_pools"]
        if pools is NOT_SPECIFIED or pools is None:
            pools = default_pools(cidr, gateway)
        else:
            pools = [{"start": p["start"], "end": p["end"]} for p in pools]
            check_pools(cidr, pools)
            if gateway is not None:
                clash = gateway_conflict(gateway, pools)
                if clash:
                    raise clash
        record = self._new_record(item) | {
            "name": item["name"], "network_id": network["id"], "ip_version": version,
            "cidr": cidr, "gateway_ip": gateway, "allocation_pools": pools,
            "dns_nameservers": _given(item["dns_nameservers"], []),
            "host_routes": _given(item["host_routes"], []),
            "enable_dhcp": item["enable_dhcp"], "ipv6_ra_mode": ra_mode,
            "ipv6_address_mode": address_mode, "subnetpool_id": None}
        self.subnets[record["id"]] = record
        self.allocations[record["id"]] = {}
        network["subnets"].append(record["id"])
        self.touch(network)
        metadata = self._metadata_port(network["id"])
        if metadata is not None and version == 4 and record["enable_dhcp"]:
            self._add_ip(metadata, record, prefer_first=True)
        return record

    def _check_gateway(self, cidr: str, gateway: str, version: int) -> None:
        if ipaddress.ip_address(gateway).version != version:
            raise invalid_input(f"gateway_ip '{gateway}' does not match the ip_version "
                                f"'{version}'")
        if gateway_invalid(cidr, gateway):
            raise invalid_input("Gateway is not valid on subnet")

    def update_subnet(self, token: Token, record: dict, changes: dict) -> None:
        cidr = record["cidr"]
        pools = changes.get("allocation_pools", record["allocation_pools"])
        if "allocation_pools" in changes:
            pools = [{"start": p["start"], "end": p["end"]} for p in pools]
            check_pools(cidr, pools)
            changes["allocation_pools"] = pools
        gateway = changes.get("gateway_ip", record["gateway_ip"])
        if "gateway_ip" in changes and gateway is not None:
            self._check_gateway(cidr, gateway, record["ip_version"])
            owner = self.allocations[record["id"]].get(gateway)
            if owner is not None and gateway != record["gateway_ip"]:
                raise conflict("GatewayIpInUse",
                               f"Gateway ip {gateway} is already in use by port {owner}. "
                               f"Unable to update.")
        if gateway is not None and ("gateway_ip" in changes or "allocation_pools" in changes):
            clash = gateway_conflict(gateway, pools)
            if clash:
                raise clash
        for server in changes.get("dns_nameservers", []):
            if ipaddress.ip_address(server).version != record["ip_version"]:
                raise invalid_input(f"dns_nameserver '{server}' does not match the ip_version "
                                    f"'{record['ip_version']}'")
        self._apply(SUBNET, record, changes,
                    ("name", "description", "gateway_ip", "allocation_pools",
                     "dns_nameservers", "host_routes", "enable_dhcp"))

    def delete_subnet(self, token: Token, record: dict, internal: bool = False) -> None:
        holders = [self.ports[p] for p in set(self.allocations[record["id"]].values())]
        if any(p["device_owner"] not in AUTO_DELETE_OWNERS for p in holders):
            raise conflict("SubnetInUse",
                           f"Unable to complete operation on subnet {record['id']}: One or "
                           f"more ports have an IP allocation from this subnet.")
        self._drop_subnet(record)

    def _drop_subnet(self, subnet: dict) -> None:
        for port_id in set(self.allocations.pop(subnet["id"], {}).values()):
            port = self.ports.get(port_id)
            if port is not None:
                port["fixed_ips"] = [ip for ip in port["fixed_ips"]
                                     if ip["subnet_id"] != subnet["id"]]
                self.touch(port)
        network = self.networks.get(subnet["network_id"])
        if network is not None and subnet["id"] in network["subnets"]:
            network["subnets"].remove(subnet["id"])
            self.touch(network)
        self.subnets.pop(subnet["id"], None)

    # -- IP allocation ------------------------------------------------------------------------

    def _take(self, subnet: dict, address: str, port: dict) -> None:
        used = self.allocations[subnet["id"]]
        if address in used:
            raise conflict("IpAddressAlreadyAllocated",
                           f"IP address {address} already allocated in subnet "
                           f"{subnet['id']}")
        used[address] = port["id"]
        port["fixed_ips"].append({"subnet_id": subnet["id"], "ip_address": address})

    def _add_ip(self, port: dict, subnet: dict, address: str | None = None,
                prefer_first: bool = False) -> None:
        """Give the port an address on the subnet: the one asked for, or a free one."""
        if address is None and is_auto_address(subnet):
            address = eui64_address(subnet["cidr"], port["mac_address"])
        if address is None:
            free = free_addresses(subnet["allocation_pools"],
                                  set(self.allocations[subnet["id"]]),
                                  1 if prefer_first else MAX_WINDOW)
            if not free:
                raise conflict("IpAddressGenerationFailure",
                               f"No more IP addresses available for subnet {subnet['id']}.")
            address = free[0] if prefer_first else self.rng.choice(free)
        self._take(subnet, address, port)

    def _release_ips(self, port: dict, keep: Iterable[tuple[str, str]] = ()) -> None:
        keep = set(keep)
        for ip in port["fixed_ips"]:
            if (ip["subnet_id"], ip["ip_address"]) not in keep:
                self.allocations.get(ip["subnet_id"], {}).pop(ip["ip_address"], None)
        port["fixed_ips"] = [ip for ip in port["fixed_ips"]
                             if (ip["subnet_id"], ip["ip_address"]) in keep]

    def _subnet_for_fixed_ip(self, network: dict, fixed: dict, owner: str) -> dict:
        """ipam_backend_mixin._get_subnet_for_fixed_ip, with Neutron's messages."""
        router_owner = owner in ROUTER_OWNERS
        if "subnet_id" in fixed:
            subnet = self.subnets.get(fixed["subnet_id"])
            if subnet is None:
                raise SUBNET.missing(fixed["subnet_id"])
            if subnet["network_id"] != network["id"]:
                raise invalid_input(f"Failed to create port on network {network['id']}, "
                                    f"because fixed_ips included invalid subnet "
                                    f"{fixed['subnet_id']}")
            if "ip_address" in fixed and not ip_on_subnet(subnet["cidr"], fixed["ip_address"],
                                                          router_owner):
                raise SimError(400, f"IP address {fixed['ip_address']} is not a valid IP for "
                                    f"the specified subnet.", kind="InvalidIpForSubnet")
            return subnet
        if "ip_address" not in fixed:
            raise invalid_input("IP allocation requires subnet_id or ip_address")
        for subnet in (self.subnets[s] for s in network["subnets"]):
            if ip_on_subnet(subnet["cidr"], fixed["ip_address"], router_owner):
                return subnet
        raise SimError(400, f"IP address {fixed['ip_address']} is not a valid IP for any of "
                            f"the subnets on the specified network.", kind="InvalidIpForNetwork")

    def _allocate(self, port: dict, network: dict, fixed_ips: Any) -> None:
        """Addresses for a new port: as asked, or one IPv4 and one IPv6 and every SLAAC one."""
        if fixed_ips is not NOT_SPECIFIED:
            for fixed in fixed_ips:
                subnet = self._subnet_for_fixed_ip(network, fixed, port["device_owner"])
                self._add_ip(port, subnet, fixed.get("ip_address"))
            return
        subnets = [self.subnets[s] for s in network["subnets"]]
        for version in (4, 6):
            group = [s for s in subnets if s["ip_version"] == version and not (
                is_auto_address(s))]
            if not group:
                continue
            for subnet in group:
                try:
                    self._add_ip(port, subnet)
                    break
                except SimError as err:
                    if err.kind != "IpAddressGenerationFailure":
                        raise
            else:
                raise conflict("IpAddressGenerationFailure",
                               f"No more IP addresses available on network {network['id']}.")
        if port["device_owner"] not in ROUTER_OWNERS:
            for subnet in subnets:
                if is_auto_address(subnet):
                    self._add_ip(port, subnet)

    # -- ports --------------------------------------------------------------------------------

    def _check_network_owner(self, token: Token, network: dict, item: dict,
                             resource: str) -> None:
        """OwnershipValidationHook: ports and subnets go on one's own or shared networks."""
        if token.is_admin or "service" in token.role_names or network["shared"]:
            return
        if network["project_id"] != item["project_id"]:
            raise SimError(403, f"Tenant {item['project_id']} not allowed to create "
                                f"{resource} on this network", kind="HTTPForbidden")

    def _new_mac(self, network_id: str) -> str:
        used = {p["mac_address"] for p in self._ports_on(network_id)}
        while True:
            mac = "fa:16:3e:%02x:%02x:%02x" % tuple(self.rng.randrange(256) for _ in range(3))
            if mac not in used:
                return mac

    def _port_record(self, network: dict, item: dict) -> dict:
        record = self._new_record(item, revision=1) | {
            "name": item["name"], "network_id": network["id"],
            "admin_state_up": item["admin_state_up"],
            "mac_address": self._new_mac(network["id"]), "fixed_ips": [],
            "device_id": item["device_id"], "device_owner": item["device_owner"],
            "status": "DOWN", "security_groups": [],
            "port_security_enabled": network["port_security_enabled"],
            "allowed_address_pairs": [], "binding:host_id": "",
            "binding:vnic_type": "normal", "binding:profile": {},
            "binding:vif_type": "unbound", "binding:vif_details": {}}
        return record

    def create_port(self, token: Token, item: dict) -> dict:
        network = self.find(NETWORK, token, item["network_id"])
        self._check_network_owner(token, network, item, "port")
        if not (token.is_admin or "service" in token.role_names
                or network["project_id"] == token.project_id):
            # Only the network's owner chooses addresses on it.
            if item["mac_address"] is not NOT_SPECIFIED:
                raise policy_denied("create_port", ["mac_address"])
            if item["fixed_ips"] is not NOT_SPECIFIED and any(
                    "ip_address" in f for f in item["fixed_ips"]):
                raise policy_denied("create_port", ["fixed_ips:ip_address"])
        self.ensure_default_group(item["project_id"])
        record = self._port_record(network, item)
        if item["mac_address"] is not NOT_SPECIFIED:
            mac = normal_mac(item["mac_address"])
            if any(p["mac_address"] == mac for p in self._ports_on(network["id"])):
                raise conflict("MacAddressInUse",
                               f"Unable to complete operation for network {network['id']}. "
                               f"The mac address {mac} is in use.")
            record["mac_address"] = mac
        record["port_security_enabled"] = _given(item["port_security_enabled"],
                                                 network["port_security_enabled"])
        record["security_groups"] = self._port_groups(token, record, item["security_groups"])
        record["allowed_address_pairs"] = self._address_pairs(
            record, _given(item["allowed_address_pairs"], []))
        record["binding:vnic_type"] = item["binding:vnic_type"]
        record["binding:profile"] = _given(item["binding:profile"], {}) or {}
        self._allocate(record, network, item["fixed_ips"])
        self.ports[record["id"]] = record
        try:
            self._bind(record, item["binding:host_id"])
        except SimError:
            self._drop_port(record)
            raise
        return record

    def _port_groups(self, token: Token, port: dict, asked: Any) -> list[str]:
        if asked is NOT_SPECIFIED or asked is None:
            if not port["port_security_enabled"] or port["device_owner"].startswith("network:"):
                return []
            return [self.ensure_default_group(port["project_id"])]
        for group_id in asked:
            group = self.security_groups.get(group_id)
            if group is None or not (token.is_admin or group["project_id"] in (
                    port["project_id"], token.project_id)):
                raise SECURITY_GROUP.missing(group_id)
        if asked and not port["port_security_enabled"]:
            raise invalid_input("Port security must be enabled and port must have an IP "
                                "address in order to use security groups",
                                kind="PortSecurityAndIPRequiredForSecurityGroups")
        return list(asked)

    @staticmethod
    def _address_pairs(port: dict, pairs: list[dict]) -> list[dict]:
        if pairs and not port["port_security_enabled"]:
            raise conflict("AddressPairAndPortSecurityRequired",
                           "Port Security must be enabled in order to have allowed address "
                           "pairs on a port.")
        return [{"ip_address": p["ip_address"],
                 "mac_address": normal_mac(p.get("mac_address") or port["mac_address"])}
                for p in pairs]

    def _bind(self, port: dict, host: str) -> None:
        """Bind the port to a host as the OVN driver does, or unbind it."""
        port["binding:host_id"] = host
        if host:
            port["binding:vif_type"] = "ovs"
            port["binding:vif_details"] = _copy(VIF_DETAILS)
        else:
            port["binding:vif_type"] = "unbound"
            port["binding:vif_details"] = {}
        self._set_status(port)

    @staticmethod
    def _set_status(port: dict) -> None:
        if port["device_owner"] == OWNER_DISTRIBUTED:
            port["status"] = "DOWN"
        elif port["device_owner"] in ROUTER_OWNERS or port["binding:host_id"]:
            port["status"] = "ACTIVE" if port["admin_state_up"] else "DOWN"
        else:
            port["status"] = "DOWN"

    def update_port(self, token: Token, record: dict, changes: dict) -> None:
        network = self.networks[record["network_id"]]
        if "mac_address" in changes:
            if not token.is_admin:
                raise policy_denied("update_port", ["mac_address"])
            mac = normal_mac(changes["mac_address"])
            if record["binding:host_id"] and mac != record["mac_address"]:
                raise conflict("PortBound",
                               f"Unable to complete operation on port {record['id']}, port is "
                               f"already bound, port type: {record['binding:vif_type']}, "
                               f"old_mac {record['mac_address']}, new_mac {mac}.")
            if any(p["mac_address"] == mac and p["id"] != record["id"]
                   for p in self._ports_on(network["id"])):
                raise conflict("MacAddressInUse",
                               f"Unable to complete operation for network {network['id']}. "
                               f"The mac address {mac} is in use.")
            changes["mac_address"] = mac
        if "port_security_enabled" in changes:
            record_security = changes["port_security_enabled"]
            groups = changes.get("security_groups", record["security_groups"])
            if not record_security and groups:
                raise conflict("PortSecurityPortHasSecurityGroup",
                               "Port has security group associated. Cannot disable port "
                               "security or IP address until security group is removed")
        trial = dict(record) | {k: changes[k] for k in ("port_security_enabled",) if k in changes}
        if "security_groups" in changes:
            changes["security_groups"] = self._port_groups(
                token, trial, changes["security_groups"] or [])
        if "allowed_address_pairs" in changes:
            changes["allowed_address_pairs"] = self._address_pairs(
                trial, changes["allowed_address_pairs"])
        if "fixed_ips" in changes:
            self._reallocate(record, network, changes.pop("fixed_ips"))
        self._apply(PORT, record, changes,
                    ("name", "admin_state_up", "mac_address", "device_id", "device_owner",
                     "security_groups", "port_security_enabled", "allowed_address_pairs",
                     "binding:vnic_type", "binding:profile", "description"))
        if record["binding:profile"] is None:
            record["binding:profile"] = {}
        if "binding:host_id" in changes and changes["binding:host_id"] != record[
                "binding:host_id"]:
            self._bind(record, changes["binding:host_id"])
        self._set_status(record)

    def _reallocate(self, port: dict, network: dict, fixed_ips: list[dict]) -> None:
        """New fixed IPs replace the old; an entry naming only a subnet keeps its address."""
        old = [(ip["subnet_id"], ip["ip_address"]) for ip in port["fixed_ips"]]
        keep, wanted = [], []
        for fixed in fixed_ips:
            subnet = self._subnet_for_fixed_ip(network, fixed, port["device_owner"])
            address = fixed.get("ip_address")
            match = next(((s, a) for s, a in old if s == subnet["id"] and (
                address is None or a == address) and (s, a) not in keep), None)
            if match:
                keep.append(match)
            else:
                wanted.append((subnet, address))
        before = _copy(port["fixed_ips"])
        self._release_ips(port, keep)
        try:
            for subnet, address in wanted:
                self._add_ip(port, subnet, address)
        except SimError:
            self._release_ips(port, keep)
            for ip in before:
                self.allocations[ip["subnet_id"]][ip["ip_address"]] = port["id"]
            port["fixed_ips"] = before
            raise

    def delete_port(self, token: Token, record: dict, internal: bool = False) -> None:
        if not internal and record["device_owner"] in (OWNER_ROUTER_INTERFACE,
                                                       OWNER_ROUTER_GATEWAY, OWNER_FLOATINGIP):
            raise conflict("ServicePortInUse",
                           f"Port {record['id']} cannot be deleted directly via the port API: "
                           f"has device owner {record['device_owner']}.")
        self._drop_port(record)

    def _drop_port(self, port: dict) -> None:
        for fip in self.floatingips.values():
            if fip["port_id"] == port["id"]:  # Neutron disassociates, it does not refuse
                self._associate(fip, None, None, None)
        self._release_ips(port)
        self.ports.pop(port["id"], None)

    # -- routers ------------------------------------------------------------------------------

    def create_router(self, token: Token, item: dict) -> dict:
        record = self._new_record(item, revision=1) | {
            "name": item["name"], "admin_state_up": item["admin_state_up"],
            "status": "ACTIVE", "external_gateway_info": None, "routes": []}
        self._check_gateway_policy(token, item["external_gateway_info"], "create")
        self.routers[record["id"]] = record
        try:
            self._set_gateway(token, record, item["external_gateway_info"])
        except SimError:
            del self.routers[record["id"]]
            raise
        return record

    def update_router(self, token: Token, record: dict, changes: dict) -> None:
        # The routes are checked against the router's ports as they are before this update
        # (Neutron's extraroute mixin runs before the router's own update).
        routes = self._checked_routes(record, changes["routes"]) if "routes" in changes \
            else None
        if "external_gateway_info" in changes:
            self._check_gateway_policy(token, changes["external_gateway_info"], "update")
            self._set_gateway(token, record, changes.pop("external_gateway_info"))
        if routes is not None:
            changes["routes"] = routes
        self._apply(ROUTER, record, changes, ("name", "admin_state_up", "description",
                                              "routes"))

    def delete_router(self, token: Token, record: dict, internal: bool = False) -> None:
        if any(p["device_id"] == record["id"] and p["device_owner"] == OWNER_ROUTER_INTERFACE
               for p in self.ports.values()):
            raise conflict("RouterInUse", f"Router {record['id']} still has ports")
        self._set_gateway(token, record, None)
        del self.routers[record["id"]]

    @staticmethod
    def _check_gateway_policy(token: Token, info: dict | None, action: str) -> None:
        if not info:
            return
        for key in ("enable_snat", "external_fixed_ips"):
            if key in info and not token.is_admin:
                raise policy_denied(f"{action}_router", [f"external_gateway_info:{key}"])

    def _gateway_port(self, router: dict) -> dict | None:
        return next((p for p in self.ports.values() if p["device_id"] == router["id"]
                     and p["device_owner"] == OWNER_ROUTER_GATEWAY), None)

    def _set_gateway(self, token: Token, router: dict, info: dict | None) -> None:
        """Give the router a gateway port on an external network, or take it away."""
        old_port = self._gateway_port(router)
        current = router["external_gateway_info"]
        if current and (not info or info.get("network_id") != current["network_id"]) and any(
                f["router_id"] == router["id"] for f in self.floatingips.values()):
            raise conflict("RouterExternalGatewayInUseByFloatingIp",
                           f"Gateway cannot be updated for router {router['id']}, since a "
                           f"gateway to external network {current['network_id']} is required "
                           f"by one or more floating IPs.")
        if not info:
            if old_port is not None:
                self._drop_port(old_port)
            router["external_gateway_info"] = None
            return
        network = self.networks.get(info["network_id"])
        if network is None or not self.visible(NETWORK, network, token):
            raise NETWORK.missing(info["network_id"])
        if not network["router:external"]:
            raise bad_request("router", f"Network {network['id']} is not an external network")
        snat = to_bool(info.get("enable_snat", True))
        fixed = info.get("external_fixed_ips")
        if (old_port is not None and current["network_id"] == network["id"]
                and fixed is None):
            current["enable_snat"] = snat
            return
        port = self._port_record(network, {
            "project_id": "", "name": "", "admin_state_up": True, "device_id": router["id"],
            "device_owner": OWNER_ROUTER_GATEWAY, "description": ""})
        port["tenant_id"] = ""
        self._allocate(port, network, fixed if fixed is not None else NOT_SPECIFIED)
        self._set_status(port)
        if old_port is not None:
            self._drop_port(old_port)
        self.ports[port["id"]] = port
        router["external_gateway_info"] = {
            "network_id": network["id"], "enable_snat": snat,
            "external_fixed_ips": [dict(ip) for ip in port["fixed_ips"]]}

    # -- extra routes (extraroute, extraroute-atomic) ------------------------------------------

    def _checked_routes(self, router: dict, routes: list[dict]) -> list[dict]:
        """extraroute_db._validate_routes: at most ``max_routes``, and each next hop on a
        subnet of one of the router's ports (interfaces and gateway) but not the router's own
        address. The routes as Neutron stores them (the next hop in canonical form)."""
        limit = int(self.cloud.setting("neutron.max_routes", str(MAX_ROUTES)))
        if len(routes) > limit:
            raise SimError(400, f"Unable to complete operation for {router['id']}. The number "
                                f"of routes exceeds the maximum {limit}.",
                           kind="RoutesExhausted")
        fixed = [ip for p in self.ports.values() if p["device_id"] == router["id"]
                 for ip in p["fixed_ips"] if ip["subnet_id"] in self.subnets]
        cidrs = [ipaddress.ip_network(self.subnets[ip["subnet_id"]]["cidr"]) for ip in fixed]
        addresses = {ip["ip_address"] for ip in fixed}
        for route in routes:
            nexthop = ipaddress.ip_address(route["nexthop"])
            reason = None
            if not any(nexthop in cidr for cidr in cidrs):
                reason = "the nexthop is not connected with router"
            elif route["nexthop"] in addresses:
                reason = "the nexthop is used by router"
            if reason:
                raise invalid_routes(routes, reason)
        return [{"destination": r["destination"], "nexthop": str(ipaddress.ip_address(
            r["nexthop"]))} for r in routes]

    def _routes_body(self, request_body: Any) -> list[dict]:
        """The routes of an add/remove_extraroutes body, checked as a PUT's would be (Neutron
        defers this to the update; a malformed body is refused here instead of failing)."""
        if not isinstance(request_body, dict) or not isinstance(request_body.get("router"),
                                                                dict):
            raise http_bad_request("Unable to find 'router' in request body")
        item = request_body["router"]
        unknown = [k for k in item if k != "routes"]
        if unknown:
            raise http_bad_request(f"Unrecognized attribute(s) '{', '.join(unknown)}'")
        if "routes" not in item:
            raise http_bad_request("Failed to parse request. Required attribute 'routes' not "
                                   "specified")
        routes = to_list_or_empty(item["routes"])
        unique = [r for i, r in enumerate(routes) if r not in routes[:i]] \
            if isinstance(routes, list) else routes
        reason = valid_hostroutes(unique)
        if reason:
            raise http_bad_request(f"Invalid input for routes. Reason: {reason}.")
        return unique

    async def _edit_routes(self, request: web.Request, action: str,
                           edit: Callable[[list[dict], list[dict]], list[dict]]) -> web.Response:
        token: Token = request[TOKEN]
        router = self.find_owned(ROUTER, token, request.match_info["id"], action)
        given = self._routes_body(await read_json(request))
        new = self._checked_routes(router, edit(router["routes"], given))
        self._apply(ROUTER, router, {"routes": new}, ("routes",))
        # The plugin updates the router itself: no API notification, as in Neutron.
        return json_response({"router": self.view(ROUTER, router, token)})

    async def add_extraroutes(self, request: web.Request) -> web.Response:
        """Exact duplicates merge; the same destination by another next hop is one more."""
        return await self._edit_routes(request, "add_extraroutes", lambda old, add: old + [
            r for r in add if not any(same_route(r, o) for o in old)])

    async def remove_extraroutes(self, request: web.Request) -> web.Response:
        """A route that is not there is not an error: the end state is what counts."""
        return await self._edit_routes(request, "remove_extraroutes", lambda old, gone: [
            r for r in old if not any(same_route(r, g) for g in gone)])

    def _interface_info(self, body: Any, for_removal: bool) -> tuple[str | None, str | None]:
        """l3_db._validate_interface_info: a port or a subnet, well formed."""
        info = body if isinstance(body, dict) else {}
        port_id, subnet_id = info.get("port_id"), info.get("subnet_id")
        if "port_id" not in info and "subnet_id" not in info:
            raise bad_request("router", "Either subnet_id or port_id must be specified")
        for key in ("port_id", "subnet_id"):
            if key in info:
                reason = valid_uuid(info[key])
                if reason:
                    raise bad_request("router", reason)
        if not for_removal and "port_id" in info and "subnet_id" in info:
            raise bad_request("router", "Cannot specify both subnet-id and port-id")
        return port_id, subnet_id

    def _interface_body(self, router: dict, port: dict, subnet_ids: list[str]) -> dict:
        return {"id": router["id"], "tenant_id": router["project_id"],
                "project_id": router["project_id"], "port_id": port["id"],
                "network_id": port["network_id"], "subnet_id": subnet_ids[0] if subnet_ids
                else None, "subnet_ids": subnet_ids}

    def _router_subnets(self, router: dict) -> list[dict]:
        return [self.subnets[ip["subnet_id"]] for p in self.ports.values()
                if p["device_id"] == router["id"] and p["device_owner"] == OWNER_ROUTER_INTERFACE
                for ip in p["fixed_ips"] if ip["subnet_id"] in self.subnets]

    def _check_router_subnet(self, router: dict, subnet: dict) -> None:
        for other in self._router_subnets(router):
            if other["id"] == subnet["id"]:
                raise bad_request("router", f"Router already has a port on subnet "
                                            f"{subnet['id']}")
            if ipaddress.ip_network(other["cidr"]).overlaps(ipaddress.ip_network(
                    subnet["cidr"])):
                raise bad_request("router", f"Cidr {subnet['cidr']} of subnet {subnet['id']} "
                                            f"overlaps with cidr {other['cidr']} of subnet "
                                            f"{other['id']}")

    async def add_interface(self, request: web.Request) -> web.Response:
        token: Token = request[TOKEN]
        router = self.find_owned(ROUTER, token, request.match_info["id"], "add_router_interface")
        port_id, subnet_id = self._interface_info(await read_json(request), for_removal=False)
        if port_id is not None:
            port = self.find(PORT, token, port_id)
            if port["device_id"]:
                raise conflict("PortInUse",
                               f"Unable to complete operation on port {port['id']} for network "
                               f"{port['network_id']}. Port already has an attached device "
                               f"{port['device_id']}.")
            if not port["fixed_ips"]:
                raise bad_request("router", "Router port must have at least one fixed IP")
            for ip in port["fixed_ips"]:
                self._check_router_subnet(router, self.subnets[ip["subnet_id"]])
            port.update(device_id=router["id"], device_owner=OWNER_ROUTER_INTERFACE)
            self._set_status(port)
            self.touch(port)
        else:
            subnet = self.find(SUBNET, token, subnet_id)
            if not subnet["gateway_ip"]:
                raise bad_request("router", "Subnet for router interface must have a gateway "
                                            "IP")
            self._check_router_subnet(router, subnet)
            network = self.networks[subnet["network_id"]]
            port = self._port_record(network, {
                "project_id": router["project_id"], "name": "", "admin_state_up": True,
                "device_id": router["id"], "device_owner": OWNER_ROUTER_INTERFACE,
                "description": ""})
            self._take(subnet, subnet["gateway_ip"], port)
            self._set_status(port)
            self.ports[port["id"]] = port
        self.touch(router)
        body = self._interface_body(router, port, [ip["subnet_id"] for ip in port["fixed_ips"]])
        self.notify(token, "router.interface.create", {"router_interface": body})
        return json_response(body)

    async def remove_interface(self, request: web.Request) -> web.Response:
        token: Token = request[TOKEN]
        router = self.find_owned(ROUTER, token, request.match_info["id"],
                                 "remove_router_interface")
        port_id, subnet_id = self._interface_info(await read_json(request), for_removal=True)
        if port_id is not None:
            port = self.ports.get(port_id)
            if port is None or port["device_id"] != router["id"] or port[
                    "device_owner"] != OWNER_ROUTER_INTERFACE:
                raise SimError(404, f"Router {router['id']} does not have an interface with id "
                                    f"{port_id}", kind="RouterInterfaceNotFound")
            subnet_ids = [ip["subnet_id"] for ip in port["fixed_ips"]]
            if subnet_id is not None and subnet_id not in subnet_ids:
                raise SimError(400, f"Subnet on port {port_id} does not match the requested "
                                    f"subnet {subnet_id}.", kind="SubnetMismatchForPort")
        else:
            self.find(SUBNET, token, subnet_id)
            port = next((p for p in self.ports.values()
                         if p["device_id"] == router["id"]
                         and p["device_owner"] == OWNER_ROUTER_INTERFACE
                         and any(ip["subnet_id"] == subnet_id for ip in p["fixed_ips"])), None)
            if port is None:
                raise SimError(404, f"Router {router['id']} has no interface on subnet "
                                    f"{subnet_id}", kind="RouterInterfaceNotFoundForSubnet")
            subnet_ids = [subnet_id]
        for fip in self.floatingips.values():
            fixed_port = self.ports.get(fip["port_id"]) if fip["port_id"] else None
            if fip["router_id"] == router["id"] and fixed_port is not None and any(
                    ip["subnet_id"] in subnet_ids for ip in fixed_port["fixed_ips"]):
                raise conflict("RouterInterfaceInUseByFloatingIP",
                               f"Router interface for subnet {subnet_ids[0]} on router "
                               f"{router['id']} cannot be deleted, as it is required by one "
                               f"or more floating IPs.")
        for used in subnet_ids:
            cidr = ipaddress.ip_network(self.subnets[used]["cidr"]) \
                if used in self.subnets else None
            if cidr is not None and any(ipaddress.ip_address(r["nexthop"]) in cidr
                                        for r in router["routes"]):
                raise conflict("RouterInterfaceInUseByRoute",
                               f"Router interface for subnet {used} on router {router['id']} "
                               f"cannot be deleted, as it is required by one or more routes.")
        body = self._interface_body(router, port, subnet_ids)
        self._drop_port(port)
        self.touch(router)
        self.notify(token, "router.interface.delete", {"router_interface": body})
        return json_response(body)

    # -- floating IPs -------------------------------------------------------------------------

    def create_floatingip(self, token: Token, item: dict) -> dict:
        network = self.find(NETWORK, token, item["floating_network_id"])
        if not network["router:external"]:
            raise bad_request("floatingip", f"Network {network['id']} is not a valid external "
                                            f"network")
        record = self._new_record(item) | {
            "floating_network_id": network["id"], "floating_ip_address": None,
            "router_id": None, "port_id": None, "fixed_ip_address": None, "status": "DOWN"}
        target = self._association(token, record, item["port_id"], item["fixed_ip_address"])
        port = self._port_record(network, {
            "project_id": "", "name": "", "admin_state_up": True, "device_id": record["id"],
            "device_owner": OWNER_FLOATINGIP, "description": ""})
        port["tenant_id"] = ""
        fixed: list[dict] = []
        address, subnet_id = _given(item["floating_ip_address"], None), _given(
            item["subnet_id"], None)
        if address or subnet_id:
            fixed = [{k: v for k, v in (("ip_address", address), ("subnet_id", subnet_id)) if v}]
        elif not [s for s in network["subnets"] if self.subnets[s]["ip_version"] == 4]:
            raise bad_request_kind("ExternalIpAddressExhausted",
                                   f"Unable to find any IP address on external network "
                                   f"{network['id']}.")
        self._allocate(port, network, fixed or NOT_SPECIFIED)
        ipv4 = [ip for ip in port["fixed_ips"] if ":" not in ip["ip_address"]]
        self._release_ips(port, [(ip["subnet_id"], ip["ip_address"]) for ip in ipv4[:1]])
        port["status"] = "N/A"
        self.ports[port["id"]] = port
        record["floating_ip_address"] = ipv4[0]["ip_address"]
        self.floatingips[record["id"]] = record
        self._associate(record, *target)
        return record

    def update_floatingip(self, token: Token, record: dict, changes: dict) -> None:
        if "port_id" in changes or "fixed_ip_address" in changes:
            port_id = changes.get("port_id", record["port_id"])
            target = self._association(token, record, port_id,
                                       changes.get("fixed_ip_address"))
            self._associate(record, *target)
        self._apply(FLOATINGIP, record, changes, ("description",))

    def delete_floatingip(self, token: Token, record: dict, internal: bool = False) -> None:
        port = next((p for p in self.ports.values() if p["device_id"] == record["id"]
                     and p["device_owner"] == OWNER_FLOATINGIP), None)
        if port is not None:
            self._release_ips(port)
            del self.ports[port["id"]]
        del self.floatingips[record["id"]]

    def _association(self, token: Token, fip: dict, port_id: str | None,
                     fixed_address: str | None) -> tuple[str | None, str | None, str | None]:
        """(port, fixed IP, router) a floating IP goes to, checked as l3_db checks it."""
        if port_id is None:
            return None, None, None
        port = self.find(PORT, token, port_id)
        if port["project_id"] != fip["project_id"] and not token.is_admin:
            raise bad_request("floatingip", f"Cannot create floating IP and bind it to Port "
                                            f"{port_id}, since that port is owned by a "
                                            f"different tenant")
        ipv4 = [ip for ip in port["fixed_ips"] if ":" not in ip["ip_address"]]
        if fixed_address is not None:
            chosen = next((ip for ip in ipv4 if ip["ip_address"] == fixed_address), None)
            if chosen is None:
                raise bad_request("floatingip", f"Port {port_id} does not have fixed ip "
                                                f"{fixed_address}")
        elif not ipv4:
            raise bad_request("floatingip", f"Cannot add floating IP to port {port_id} that "
                                            f"has no fixed IPv4 addresses")
        elif len(ipv4) > 1:
            raise bad_request("floatingip", f"Port {port_id} has multiple fixed IPv4 addresses. "
                                            f"Must provide a specific IPv4 address when "
                                            f"assigning a floating IP")
        else:
            chosen = ipv4[0]
        network_id = fip["floating_network_id"]
        router = next((r for r in self.routers.values()
                       if (r["external_gateway_info"] or {}).get("network_id") == network_id
                       and chosen["subnet_id"] in {s["id"] for s in self._router_subnets(r)}),
                      None)
        if router is None:
            raise SimError(404, f"External network {network_id} is not reachable from subnet "
                                f"{chosen['subnet_id']}.  Therefore, cannot associate Port "
                                f"{port_id} with a Floating IP.",
                           kind="ExternalGatewayForFloatingIPNotFound")
        for other in self.floatingips.values():
            if (other["id"] != fip["id"] and other["port_id"] == port_id
                    and other["fixed_ip_address"] == chosen["ip_address"]
                    and other["floating_network_id"] == network_id):
                raise conflict("FloatingIPPortAlreadyAssociated",
                               f"Cannot associate floating IP {fip['floating_ip_address']} "
                               f"({fip['id']}) with port {port_id} using fixed IP "
                               f"{chosen['ip_address']}, as that fixed IP already has a "
                               f"floating IP on external network {network_id}.")
        return port_id, chosen["ip_address"], router["id"]

    def _associate(self, fip: dict, port_id: str | None, fixed_address: str | None,
                   router_id: str | None) -> None:
        if (fip["port_id"], fip["fixed_ip_address"], fip["router_id"]) != (
                port_id, fixed_address, router_id):
            fip.update(port_id=port_id, fixed_ip_address=fixed_address, router_id=router_id,
                       status="ACTIVE" if port_id else "DOWN")
            self.touch(fip)

    # -- security groups ----------------------------------------------------------------------

    def ensure_default_group(self, project_id: str) -> str:
        """The project's 'default' group, made the first time anything needs it."""
        group_id = self.default_groups.get(project_id)
        if group_id in self.security_groups:
            return group_id
        group = self._new_record({"project_id": project_id,
                                  "description": "Default security group"}, revision=1) | {
            "name": "default", "stateful": True, "security_group_rules": []}
        self.security_groups[group["id"]] = group
        self.default_groups[project_id] = group["id"]
        for direction in ("ingress", "egress"):
            for ethertype in ("IPv4", "IPv6"):
                self._add_rule(group, direction=direction, ethertype=ethertype,
                               remote_group_id=group["id"] if direction == "ingress" else None)
        return group["id"]

    def _add_rule(self, group: dict, **values: Any) -> dict:
        rule = self._new_record({"project_id": group["project_id"]}) | {
            "security_group_id": group["id"], "direction": values["direction"],
            "ethertype": values.get("ethertype", "IPv4"), "protocol": values.get("protocol"),
            "port_range_min": values.get("port_range_min"),
            "port_range_max": values.get("port_range_max"),
            "remote_ip_prefix": values.get("remote_ip_prefix"),
            "remote_group_id": values.get("remote_group_id"),
            "description": values.get("description", "")}
        del rule["tags"]
        self.rules[rule["id"]] = rule
        group["security_group_rules"].append(rule["id"])
        return rule

    def create_security_group(self, token: Token, item: dict) -> dict:
        self.ensure_default_group(item["project_id"])
        group = self._new_record(item, revision=1) | {
            "name": item["name"], "stateful": item["stateful"], "security_group_rules": []}
        self.security_groups[group["id"]] = group
        for ethertype in ("IPv4", "IPv6"):
            self._add_rule(group, direction="egress", ethertype=ethertype)
        return group

    def update_security_group(self, token: Token, record: dict, changes: dict) -> None:
        if record["name"] == "default" and "name" in changes and changes["name"] != "default":
            raise conflict("SecurityGroupCannotUpdateDefault",
                           "Updating default security group not allowed.")
        if "stateful" in changes and changes["stateful"] != record["stateful"] and any(
                record["id"] in p["security_groups"] for p in self.ports.values()):
            raise conflict("SecurityGroupInUse",
                           f"Security Group {record['id']} in use.")
        self._apply(SECURITY_GROUP, record, changes, ("name", "description", "stateful"))

    def delete_security_group(self, token: Token, record: dict, internal: bool = False) -> None:
        if not internal and record["name"] == "default" and not token.is_admin:
            raise conflict("SecurityGroupCannotRemoveDefault",
                           "Insufficient rights for removing default security group.")
        if any(record["id"] in p["security_groups"] for p in self.ports.values()):
            raise conflict("SecurityGroupInUse", f"Security Group {record['id']} in use.")
        for rule_id in list(record["security_group_rules"]):
            self.rules.pop(rule_id, None)
        for rule in [r for r in self.rules.values() if r["remote_group_id"] == record["id"]]:
            self._drop_rule(rule)
        del self.security_groups[record["id"]]
        if self.default_groups.get(record["project_id"]) == record["id"]:
            del self.default_groups[record["project_id"]]

    def create_security_group_rule(self, token: Token, item: dict) -> dict:
        group = self.find(SECURITY_GROUP, token, item["security_group_id"])
        check_rule(item)
        if item["remote_group_id"] is not None:
            self.find(SECURITY_GROUP, token, item["remote_group_id"])
        values = {k: item[k] for k in ("direction", "ethertype", "protocol", "port_range_min",
                                       "port_range_max", "remote_ip_prefix", "remote_group_id",
                                       "description")}
        for rule_id in group["security_group_rules"]:
            existing = self.rules[rule_id]
            if all(_same_rule_value(k, existing[k], v) for k, v in values.items()
                   if k != "description"):
                raise conflict("SecurityGroupRuleExists",
                               f"Security group rule already exists. Rule id is "
                               f"{existing['id']}.")
        rule = self._add_rule(group, **values)
        self.touch(group)
        return rule

    def delete_security_group_rule(self, token: Token, record: dict,
                                   internal: bool = False) -> None:
        self._drop_rule(record)

    def _drop_rule(self, rule: dict) -> None:
        self.rules.pop(rule["id"], None)
        group = self.security_groups.get(rule["security_group_id"])
        if group is not None and rule["id"] in group["security_group_rules"]:
            group["security_group_rules"].remove(rule["id"])
            self.touch(group)

    # -- tags ---------------------------------------------------------------------------------

    def _tag_target(self, request: web.Request, kind: Kind, action: str) -> dict:
        token: Token = request[TOKEN]
        rid = request.match_info["id"]
        record = self.records[kind.collection].get(rid)
        if record is None or not self.visible(kind, record, token):
            raise SimError(404, f"Resource {kind.resource} {rid} could not be found.",
                           kind="TagResourceNotFound")
        if action != "get" and not self.owns(record, token):
            raise policy_denied(f"{action}_{kind.resource}s_tags")
        return record

    @staticmethod
    def _check_tag(tag: str) -> None:
        reason = valid_string(TAG_MAX_LEN)(tag)
        if reason:
            raise invalid_input(reason)

    async def get_tags(self, request: web.Request, kind: Kind) -> web.Response:
        record = self._tag_target(request, kind, "get")
        return json_response({"tags": list(record["tags"])})

    async def put_tags(self, request: web.Request, kind: Kind) -> web.Response:
        record = self._tag_target(request, kind, "update")
        body = await read_json(request)
        if not isinstance(body, dict) or "tags" not in body:
            raise invalid_input("Invalid tags body")
        reason = valid_list_of_unique_strings(TAG_MAX_LEN)(body["tags"])
        if reason:
            raise invalid_input(reason)
        record["tags"] = list(body["tags"])
        self.touch(record)
        return json_response({"tags": list(record["tags"])})

    async def delete_tags(self, request: web.Request, kind: Kind) -> web.Response:
        record = self._tag_target(request, kind, "delete")
        if record["tags"]:
            record["tags"] = []
            self.touch(record)
        return web.Response(status=204)

    async def check_tag(self, request: web.Request, kind: Kind) -> web.Response:
        record = self._tag_target(request, kind, "get")
        tag = request.match_info["tag"]
        if tag not in record["tags"]:
            raise self._tag_missing(kind, record, tag)
        return web.Response(status=204)

    async def add_tag(self, request: web.Request, kind: Kind) -> web.Response:
        record = self._tag_target(request, kind, "update")
        tag = request.match_info["tag"]
        self._check_tag(tag)
        if tag not in record["tags"]:
            record["tags"].append(tag)
            self.touch(record)
        return web.Response(status=201)

    async def remove_tag(self, request: web.Request, kind: Kind) -> web.Response:
        record = self._tag_target(request, kind, "delete")
        tag = request.match_info["tag"]
        if tag not in record["tags"]:
            raise self._tag_missing(kind, record, tag)
        record["tags"].remove(tag)
        self.touch(record)
        return web.Response(status=204)

    @staticmethod
    def _tag_missing(kind: Kind, record: dict, tag: str) -> SimError:
        return SimError(404, f"Tag {tag} could not be found for {kind.resource} "
                             f"{record['id']}.", kind="TagNotFound")


# -- extra routes (neutron_lib.exceptions.extraroute, extraroute_db) ---------------------------

def invalid_routes(routes: list[dict], reason: str) -> SimError:
    """neutron_lib's InvalidRoutes (an InvalidInput with a message of its own)."""
    return SimError(400, f"Invalid format for routes: {_text(routes)}, {reason}",
                    kind="InvalidRoutes")


def same_route(a: dict, b: dict) -> bool:
    """The same destination (as written) through the same next hop (as an address)."""
    return a["destination"] == b["destination"] and (
        ipaddress.ip_address(a["nexthop"]) == ipaddress.ip_address(b["nexthop"]))


# -- rules of security group rules (securitygroups_db._validate_security_group_rule) ----------

def check_ipv6_modes(ra_mode: str | None, address_mode: str | None, enable_dhcp: bool,
                     net: ipaddress.IPv6Network) -> None:
    """db_base_plugin_v2._validate_ipv6_attributes."""
    if (ra_mode or address_mode) and not enable_dhcp:
        raise invalid_input("ipv6_ra_mode or ipv6_address_mode cannot be set when enable_dhcp "
                            "is set to False")
    if ra_mode and address_mode and ra_mode != address_mode:
        raise invalid_input(f"ipv6_ra_mode set to '{ra_mode}' with ipv6_address_mode set to "
                            f"'{address_mode}' is not valid. If both attributes are set, they "
                            f"must be the same value")
    if address_mode in ("slaac", "dhcpv6-stateless") and net.prefixlen != 64:
        raise invalid_input(f"Invalid CIDR {net} for IPv6 address mode. OpenStack uses the "
                            f"EUI-64 address format, which requires the prefix to be /64")


def _protocol_number(protocol: str | None) -> int | None:
    if protocol is None:
        return None
    return int(protocol) if protocol.isdigit() else IP_PROTOCOLS[protocol]


def check_rule(item: dict) -> None:
    """Reject a security group rule that Neutron would reject, with its exception."""
    if item["remote_ip_prefix"] is not None and item["remote_group_id"] is not None:
        raise invalid_input("Only remote_ip_prefix or remote_group_id may be provided",
                            kind="SecurityGroupRemoteGroupAndRemoteIpPrefix")
    low, high = item["port_range_min"], item["port_range_max"]
    number = _protocol_number(item["protocol"])
    if low is not None or high is not None:
        if number is None:
            raise invalid_input("Must also specify protocol if port range is given",
                                kind="SecurityGroupProtocolRequiredWithPorts")
        if number in PORT_PROTOCOLS:
            if low == 0 or high == 0:
                raise invalid_input("Invalid value for port 0",
                                    kind="SecurityGroupInvalidPortValue")
            if low is None or high is None or low > high:
                raise invalid_input("For TCP/UDP protocols, port_range_min must be <= "
                                    "port_range_max", kind="SecurityGroupInvalidPortRange")
        elif number in ICMP_PROTOCOLS:
            for attr, fld in (("port_range_min", "type"), ("port_range_max", "code")):
                if item[attr] is not None and not 0 <= item[attr] <= 255:
                    raise invalid_input(f"Invalid value for ICMP {fld} ({attr}) {item[attr]}. "
                                        f"It must be 0 to 255",
                                        kind="SecurityGroupInvalidIcmpValue")
            if low is None and high is not None:
                raise invalid_input(f"ICMP code (port-range-max) {high} is provided but ICMP "
                                    f"type (port-range-min) is missing",
                                    kind="SecurityGroupMissingIcmpType")
        elif low is not None and high is not None and low != high:
            raise invalid_input(f"Invalid protocol {item['protocol']} for port range, only "
                                f"supported for TCP, UDP, UDPLITE, SCTP and DCCP",
                                kind="SecurityGroupInvalidProtocolForPortRange")
    prefix = item["remote_ip_prefix"]
    if prefix is not None:
        version = ipaddress.ip_network(prefix).version
        if f"IPv{version}" != item["ethertype"]:
            raise invalid_input(f"Conflicting value ethertype {item['ethertype']} for CIDR "
                                f"{prefix}", kind="SecurityGroupRuleParameterConflict")


def _same_rule_value(key: str, a: Any, b: Any) -> bool:
    if key == "protocol" and a is not None and b is not None:
        return _protocol_number(a) == _protocol_number(b)
    return a == b


def _given(value: Any, default: Any) -> Any:
    return default if value is NOT_SPECIFIED else value


def _wire(item: dict) -> dict:
    """A prepared request item as JSON: attributes left unspecified are left out."""
    return {k: _copy(v) for k, v in item.items() if v is not NOT_SPECIFIED}


def _copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value
