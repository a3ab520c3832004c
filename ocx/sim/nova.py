"""A simulated Nova: the compute API v2.1, with microversions up to 2.103.

Servers build in the background (BUILD → ACTIVE in a fraction of a second). Like the real Nova,
it uses the other services over HTTP with the caller's token: Glance to check images, Neutron to
create and bind ports, Cinder to create boot volumes and to attach volumes (the v3 attachments
API: create, update with a connector, complete; delete on detach). Where it finds them is
configurable (``nova.glance_url``, ``nova.neutron_url``, ``nova.cinder_url``; ``%(project_id)s``
is replaced by the caller's project) so that a proxy can stand in that path; by default it is
the cloud's own service. A cloud without Neutron gives servers no addresses.

The module reads top to bottom: microversions, the small JSON-schema checker that gives Nova's
validation messages, the request schemas, flavors, the instance model and its views, listing
filters, then the service (HTTP handlers, the calls to other services, the background work).
"""
from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import dataclasses
import datetime as dt
import hashlib
import ipaddress
import logging
import re
import secrets
import string
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, NamedTuple
from urllib.parse import urlencode

import aiohttp
import orjson
from aiohttp import web
from multidict import CIMultiDict
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from .auth import TOKEN, Token, public
from .errors import REQUEST_ID, SimError, fault_body
from .paging import MarkerNotFound, page, sort_items
from .service import SimService, is_unversioned, unversioned
from .wire import dumps, iso_micro, iso_z, json_response, parse_time, utcnow

log = logging.getLogger(__name__)

# -- microversions ----------------------------------------------------------------------------


class Version(NamedTuple):
    """A compute API microversion, ordered as numbers (2.10 > 2.9)."""

    major: int
    minor: int

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}"

    @classmethod
    def parse(cls, text: str) -> Version:
        match = re.fullmatch(r"([1-9]\d*)\.([1-9]\d*|0)", text)
        if not match:
            raise SimError(400, f"API Version String {text} is of invalid format. Must be of "
                                "format MajorNum.MinorNum.")
        return cls(int(match.group(1)), int(match.group(2)))


# The v2.0 API as Nova 2026.1 lists it (deprecated; served by v2.1's code).
V2_0 = {"id": "v2.0", "status": "DEPRECATED", "version": "", "min_version": "",
        "updated": "2025-07-04T12:00:00Z"}
MIN_VERSION = Version(2, 1)
MAX_VERSION = Version(2, 103)
VERSION_HEADER = "OpenStack-API-Version"
# The microversion of the call being answered, read once by the middleware.
MICROVERSION = web.RequestKey("nova_microversion", tuple)
LEGACY_VERSION_HEADER = "X-OpenStack-Nova-API-Version"


def v(text: str) -> Version:
    """``v("2.47")``: a microversion from its text, for comparisons."""
    return Version.parse(text)


def requested_version(headers) -> Version:
    """The microversion a request asks for, as microversion-parse and Nova read the headers.

    ``OpenStack-API-Version: compute 2.60`` wins over the legacy header; none means 2.1;
    ``latest`` means the newest. Out of range gives 406, a malformed version 400.
    """
    text = None
    for value in headers.getall(VERSION_HEADER, []):
        for part in value.split(","):
            service, _, version = part.strip().partition(" ")
            if service.lower() == "compute" and version.strip():
                text = version.strip()
    if text is None:
        legacy = headers.get(LEGACY_VERSION_HEADER, "").strip()
        text = legacy or None
    if text is None:
        return MIN_VERSION
    if text.lower() == "latest":
        return MAX_VERSION
    wanted = Version.parse(text)
    if not MIN_VERSION <= wanted <= MAX_VERSION:
        # The version asked is set on the request before the range check: the 406 names it.
        raise SimError(406, f"Version {wanted} is not supported by the API. Minimum is "
                            f"{MIN_VERSION} and maximum is {MAX_VERSION}.",
                       headers=version_headers(wanted))
    return wanted


def version_headers(version: Version) -> CIMultiDict:
    """Both microversion headers, and ``Vary`` on each in a header of its own, as Nova sends."""
    return CIMultiDict([(VERSION_HEADER, f"compute {version}"),
                        (LEGACY_VERSION_HEADER, str(version)),
                        ("Vary", VERSION_HEADER), ("Vary", LEGACY_VERSION_HEADER)])


# -- a small JSON-schema checker with Nova's messages -----------------------------------------
#
# Nova validates bodies and query strings with jsonschema and reports the first error as
# "Invalid input for field/attribute <last path element>. Value: <value>. <message>". The
# subset below covers the schemas this simulation uses, with jsonschema's message texts.


class SchemaError(Exception):
    def __init__(self, path: tuple, instance: Any, message: str, *, raw: bool = False) -> None:
        super().__init__(message)
        self.path = path
        self.instance = instance
        self.message = message
        self.raw = raw  # the message is the whole answer (Nova's InvalidName)

    def body_detail(self) -> str:
        if self.raw or not self.path:
            return self.message
        return (f"Invalid input for field/attribute {self.path[-1]}. "
                f"Value: {self.instance}. {self.message}")

    def query_detail(self) -> str:
        if self.raw or not self.path:
            return self.message
        return (f"Invalid input for query parameters {self.path[0]}. "
                f"Value: {self.instance}. {self.message}")


_JSON_TYPES: dict[str, Callable[[Any], bool]] = {
    "string": lambda x: isinstance(x, str),
    "integer": lambda x: isinstance(x, int) and not isinstance(x, bool),
    "number": lambda x: isinstance(x, (int, float)) and not isinstance(x, bool),
    "boolean": lambda x: isinstance(x, bool),
    "object": lambda x: isinstance(x, dict),
    "array": lambda x: isinstance(x, list),
    "null": lambda x: x is None,
}

INVALID_NAME = ("An invalid 'name' value was provided. The name must be: printable characters. "
                "Can not start or end with whitespace.")


def _is_uuid_like(value: str) -> bool:
    """oslo's ``is_uuid_like``: a UUID with or without dashes, braces or a ``urn:uuid:``."""
    bare = value.lower()
    for junk in ("urn:", "uuid:", "{", "}", "-"):
        bare = bare.replace(junk, "")
    try:
        return uuid.UUID(value).hex == bare
    except (ValueError, AttributeError, TypeError):
        return False


def _format_ok(fmt: str, value: Any) -> bool:
    if not isinstance(value, str):
        return True  # formats only constrain strings
    if fmt == "uuid":
        return _is_uuid_like(value)
    if fmt == "date-time":
        try:
            parse_time(value)
        except ValueError:
            return False
        return True
    if fmt == "base64":
        try:
            base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            return False
        return True
    if fmt in ("ipv4", "ipv6"):
        try:
            address = ipaddress.ip_address(value)
        except ValueError:
            return False
        return address.version == int(fmt[-1])
    return True


def _type_names(types: list[str]) -> str:
    return ", ".join(repr(t) for t in types)


def check(schema: dict, value: Any, path: tuple = ()) -> None:
    """Raise :class:`SchemaError` for the first way ``value`` breaks ``schema``."""
    for keyword, rule in schema.items():
        _check_keyword(keyword, rule, schema, value, path)


def _check_keyword(keyword: str, rule: Any, schema: dict, value: Any, path: tuple) -> None:
    if keyword == "type":
        types = rule if isinstance(rule, list) else [rule]
        if not any(_JSON_TYPES[t](value) for t in types):
            raise SchemaError(path, value, f"{value!r} is not of type {_type_names(types)}")
    elif keyword == "enum":
        if not any(value == choice and type(value) is type(choice) for choice in rule):
            raise SchemaError(path, value, f"{value!r} is not one of {rule!r}")
    elif keyword == "properties" and isinstance(value, dict):
        for name, sub in rule.items():
            if name in value:
                check(sub, value[name], (*path, name))
    elif keyword == "required" and isinstance(value, dict):
        for name in rule:
            if name not in value:
                raise SchemaError(path, value, f"{name!r} is a required property")
    elif keyword == "patternProperties" and isinstance(value, dict):
        for pattern, sub in rule.items():
            for name, item in value.items():
                if re.search(pattern, name):
                    check(sub, item, (*path, name))
    elif keyword == "additionalProperties" and isinstance(value, dict) and rule is False:
        known = schema.get("properties", {})
        patterns = schema.get("patternProperties", {})
        extra = [k for k in value if k not in known
                 and not any(re.search(p, k) for p in patterns)]
        if extra:
            verb = "was" if len(extra) == 1 else "were"
            raise SchemaError(path, value, "Additional properties are not allowed "
                                           f"({', '.join(repr(e) for e in extra)} {verb} "
                                           "unexpected)")
    elif keyword == "items" and isinstance(value, list):
        for i, item in enumerate(value):
            check(rule, item, (*path, i))
    elif keyword in ("minItems", "maxItems") and isinstance(value, list):
        if keyword == "minItems" and len(value) < rule:
            raise SchemaError(path, value, f"{value!r} is too short")
        if keyword == "maxItems" and len(value) > rule:
            raise SchemaError(path, value, f"{value!r} is too long")
    elif keyword == "minLength" and isinstance(value, str) and len(value) < rule:
        raise SchemaError(path, value, f"{value!r} should be non-empty" if rule == 1
                          else f"{value!r} is too short")
    elif keyword == "maxLength" and isinstance(value, str) and len(value) > rule:
        raise SchemaError(path, value, f"{value!r} is too long")
    elif keyword == "pattern" and isinstance(value, str) and not re.search(rule, value):
        raise SchemaError(path, value, f"{value!r} does not match {rule!r}")
    elif keyword == "minimum" and _JSON_TYPES["number"](value) and value < rule:
        raise SchemaError(path, value, f"{value!r} is less than the minimum of {rule!r}")
    elif keyword == "maximum" and _JSON_TYPES["number"](value) and value > rule:
        raise SchemaError(path, value, f"{value!r} is greater than the maximum of {rule!r}")
    elif keyword == "oneOf":
        matching = 0
        for sub in rule:
            try:
                check(sub, value, path)
            except SchemaError:
                continue
            matching += 1
        if matching == 0:
            raise SchemaError(path, value, f"{value!r} is not valid under any of the given "
                                           "schemas")
        if matching > 1:
            raise SchemaError(path, value, f"{value!r} is valid under each of the given "
                                           "schemas")
    elif keyword == "format":
        if rule == "name":
            if isinstance(value, str) and (value.strip() != value or not value.isprintable()):
                raise SchemaError(path, value, INVALID_NAME, raw=True)
        elif not _format_ok(rule, value):
            raise SchemaError(path, value, f"{value!r} is not a {rule!r}")


def validate_body(schema: dict, body: Any) -> None:
    """Nova's 400 for a body that breaks its schema."""
    try:
        check(schema, body)
    except SchemaError as err:
        raise SimError(400, err.body_detail()) from None


# -- request schemas (nova/api/openstack/compute/schemas, by microversion) ---------------------

NAME = {"type": "string", "minLength": 1, "maxLength": 255, "format": "name"}
DESCRIPTION = {"type": ["string", "null"], "minLength": 0, "maxLength": 255}
BOOLEAN = {"type": ["boolean", "string"],
           "enum": [True, "True", "TRUE", "true", "1", "ON", "On", "on", "YES", "Yes", "yes",
                    "y", "t", False, "False", "FALSE", "false", "0", "OFF", "Off", "off", "NO",
                    "No", "no", "n", "f"]}
POSITIVE_INTEGER = {"type": ["integer", "string"], "pattern": "^[0-9]*$", "minimum": 1,
                    "minLength": 1}
NON_NEGATIVE_INTEGER = {"type": ["integer", "string"], "pattern": "^[0-9]*$", "minimum": 0,
                        "minLength": 1}
UUID = {"type": "string", "format": "uuid"}
TAG = {"type": "string", "minLength": 1, "maxLength": 60, "pattern": "^[^,/]*$"}
METADATA = {"type": "object",
            "patternProperties": {"^[a-zA-Z0-9-_:. ]{1,255}$": {"type": "string",
                                                                 "maxLength": 255}},
            "additionalProperties": False}
HOSTNAME = {"type": "string", "minLength": 2, "maxLength": 255,
            "pattern": "^[a-zA-Z0-9]+[a-zA-Z0-9-._]*[a-zA-Z0-9]+$"}
IP_ADDRESS = {"oneOf": [{"type": "string", "format": "ipv4"},
                        {"type": "string", "format": "ipv6"}]}

_BDM_COMMON = {
    "virtual_name": {"type": "string", "maxLength": 255},
    "volume_id": UUID,
    "snapshot_id": UUID,
    "volume_size": {"type": ["integer", "string"], "pattern": "^[0-9]+$", "minimum": 1,
                    "maximum": 2147483647},
    "device_name": {"type": "string", "minLength": 1, "maxLength": 255,
                    "pattern": "^[a-zA-Z0-9._/-]*$"},
    "delete_on_termination": BOOLEAN,
    "no_device": {},
    "connection_info": {"type": "string", "maxLength": 16777215},
}
_BDM_V2 = {
    **_BDM_COMMON,
    "source_type": {"type": "string", "enum": ["volume", "image", "snapshot", "blank"]},
    "uuid": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[a-zA-Z0-9._-]*$"},
    "image_id": UUID,
    "destination_type": {"type": "string", "enum": ["local", "volume"]},
    "guest_format": {"type": "string", "maxLength": 255},
    "device_type": {"type": "string", "maxLength": 255},
    "disk_bus": {"type": "string", "maxLength": 255},
    "boot_index": {"type": ["integer", "string", "null"], "pattern": "^-?[0-9]+$"},
}


def _network_items(version: Version) -> dict:
    props: dict[str, Any] = {"fixed_ip": IP_ADDRESS,
                             "port": {"oneOf": [UUID, {"type": "null"}]},
                             "uuid": UUID if version >= v("2.37") else {"type": "string"}}
    if version == v("2.32") or version >= v("2.42"):
        props["tag"] = TAG
    return {"type": "object", "properties": props, "additionalProperties": False}


def server_create_schema(version: Version) -> dict:
    """The body schema of ``POST /servers`` at a microversion."""
    bdm_props = dict(_BDM_V2)
    if version == v("2.32") or version >= v("2.42"):
        bdm_props["tag"] = TAG
    if version >= v("2.67"):
        bdm_props["volume_type"] = {"type": ["string", "null"], "minLength": 0,
                                    "maxLength": 255}
    networks: dict = {"type": "array", "items": _network_items(version)}
    if version >= v("2.37"):
        networks = {"oneOf": [networks, {"type": "string", "enum": ["none", "auto"]}]}
    props: dict[str, Any] = {
        "name": NAME,
        "imageRef": {"oneOf": [UUID, {"type": "string", "maxLength": 0}]},
        "flavorRef": {"type": ["string", "integer"], "minLength": 1},
        "adminPass": {"type": "string"},
        "metadata": METADATA,
        "networks": networks,
        "OS-DCF:diskConfig": {"type": "string", "enum": ["AUTO", "MANUAL"]},
        "accessIPv4": {"type": "string", "format": "ipv4"},
        "accessIPv6": {"type": "string", "format": "ipv6"},
        "availability_zone": NAME,
        "block_device_mapping": {"type": "array",
                                 "items": {"type": "object", "properties": _BDM_COMMON,
                                           "additionalProperties": False}},
        "block_device_mapping_v2": {"type": "array",
                                    "items": {"type": "object", "properties": bdm_props,
                                              "additionalProperties": False}},
        "config_drive": BOOLEAN,
        "key_name": NAME,
        "min_count": POSITIVE_INTEGER,
        "max_count": POSITIVE_INTEGER,
        "return_reservation_id": BOOLEAN,
        "security_groups": {"type": "array",
                            "items": {"type": "object", "properties": {"name": NAME},
                                      "additionalProperties": False}},
        "user_data": {"type": "string", "format": "base64", "maxLength": 65535},
    }
    if version < v("2.57"):
        props["personality"] = {"type": "array", "items": {
            "type": "object", "properties": {"path": {"type": "string"},
                                             "contents": {"type": "string",
                                                          "format": "base64"}},
            "additionalProperties": False}}
    if version >= v("2.19"):
        props["description"] = DESCRIPTION
    if version >= v("2.52"):
        props["tags"] = {"type": "array", "items": TAG, "maxItems": 50}
    if version >= v("2.63"):
        props["trusted_image_certificates"] = {
            "type": ["array", "null"], "minItems": 1, "maxItems": 50,
            "items": {"type": "string", "minLength": 1}}
    if version >= v("2.74"):
        props["host"] = HOSTNAME
        props["hypervisor_hostname"] = HOSTNAME
    if version >= v("2.90"):
        props["hostname"] = HOSTNAME
    required = ["name", "flavorRef"] + (["networks"] if version >= v("2.37") else [])
    hints = {"type": "object", "additionalProperties": True}
    return {"type": "object",
            "properties": {"server": {"type": "object", "properties": props,
                                      "required": required, "additionalProperties": False},
                           "os:scheduler_hints": hints, "OS-SCH-HNT:scheduler_hints": hints},
            "required": ["server"], "additionalProperties": False}


def server_update_schema(version: Version) -> dict:
    props: dict[str, Any] = {"name": NAME,
                             "OS-DCF:diskConfig": {"type": "string", "enum": ["AUTO", "MANUAL"]},
                             "accessIPv4": {"type": "string", "format": "ipv4"},
                             "accessIPv6": {"type": "string", "format": "ipv6"}}
    if version >= v("2.19"):
        props["description"] = DESCRIPTION
    if version >= v("2.90"):
        props["hostname"] = HOSTNAME
    return {"type": "object",
            "properties": {"server": {"type": "object", "properties": props,
                                      "additionalProperties": False}},
            "required": ["server"], "additionalProperties": False}


REBOOT_SCHEMA = {"type": "object",
                 "properties": {"reboot": {
                     "type": "object",
                     "properties": {"type": {"type": "string",
                                             "enum": ["HARD", "Hard", "hard", "SOFT", "Soft",
                                                      "soft"]}},
                     "required": ["type"], "additionalProperties": False}},
                 "required": ["reboot"], "additionalProperties": False}


def lock_schema(version: Version) -> dict:
    inner: dict = {"type": ["object", "null"]}
    if version >= v("2.73"):
        inner = {"type": ["object", "null"],
                 "properties": {"locked_reason": {"type": "string", "minLength": 1,
                                                  "maxLength": 255}},
                 "additionalProperties": False}
    return {"type": "object", "properties": {"lock": inner}, "required": ["lock"],
            "additionalProperties": False}


def keypair_create_schema(version: Version) -> dict:
    name_pattern = "^[a-zA-Z0-9 @._-]+$" if version >= v("2.92") else "^[a-zA-Z0-9 _-]+$"
    props: dict[str, Any] = {
        "name": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": name_pattern},
        "public_key": {"type": "string"},
    }
    if version >= v("2.2"):
        props["type"] = {"type": "string", "enum": ["ssh", "x509"]}
    if version >= v("2.10"):
        props["user_id"] = {"type": "string"}
    required = ["name"] + (["public_key"] if version >= v("2.92") else [])
    return {"type": "object",
            "properties": {"keypair": {"type": "object", "properties": props,
                                       "required": required, "additionalProperties": False}},
            "required": ["keypair"], "additionalProperties": False}


def volume_attach_schema(version: Version) -> dict:
    props: dict[str, Any] = {
        "volumeId": UUID,
        "device": {"type": ["string", "null"],
                   "pattern": "(^/dev/x{0,1}[a-z]{0,1}d{0,1})([a-z]+)[0-9]*$"},
    }
    if version >= v("2.49"):
        props["tag"] = TAG
    if version >= v("2.79"):
        props["delete_on_termination"] = {"type": "boolean"}
    return {"type": "object",
            "properties": {"volumeAttachment": {"type": "object", "properties": props,
                                                "required": ["volumeId"],
                                                "additionalProperties": False}},
            "required": ["volumeAttachment"], "additionalProperties": False}


# -- flavors ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Flavor:
    flavorid: str
    name: str
    memory_mb: int
    root_gb: int
    vcpus: int
    db_id: int
    ephemeral_gb: int = 0
    swap: int = 0
    description: str | None = None
    extra_specs: dict = field(default_factory=dict)

    def row(self) -> dict:
        """The columns Nova sorts and filters flavors by."""
        return {"flavorid": self.flavorid, "id": self.db_id, "name": self.name,
                "memory_mb": self.memory_mb, "root_gb": self.root_gb, "vcpus": self.vcpus,
                "ephemeral_gb": self.ephemeral_gb, "swap": self.swap, "rxtx_factor": 1.0,
                "is_public": True, "disabled": False, "description": self.description,
                "vcpu_weight": None, "created_at": None, "updated_at": None}


# The flavors devstack creates.
FLAVORS: dict[str, Flavor] = {f.flavorid: f for f in (
    Flavor("1", "m1.tiny", 512, 1, 1, 1),
    Flavor("2", "m1.small", 2048, 20, 1, 2),
    Flavor("3", "m1.medium", 4096, 40, 2, 3),
    Flavor("4", "m1.large", 8192, 80, 4, 4),
    Flavor("5", "m1.xlarge", 16384, 160, 8, 5),
    Flavor("42", "m1.nano", 128, 1, 1, 6),
    Flavor("84", "m1.micro", 192, 1, 1, 7),
)}

FLAVOR_SORT_KEYS = ["created_at", "description", "disabled", "ephemeral_gb", "flavorid", "id",
                    "is_public", "memory_mb", "name", "root_gb", "rxtx_factor", "swap",
                    "updated_at", "vcpu_weight", "vcpus"]

GiB = 1 << 30


# -- instances --------------------------------------------------------------------------------

# Nova's power states.
NOSTATE, RUNNING, PAUSED, SHUTDOWN, SUSPENDED = 0, 1, 3, 4, 7


@dataclass
class Bdm:
    """One block device mapping of an instance (a row of block_device_mapping)."""

    source_type: str             # image | volume | snapshot | blank
    destination_type: str        # local | volume
    boot_index: int | None
    device_name: str | None = None
    uuid: str = field(default_factory=lambda: str(uuid.uuid4()))
    volume_id: str | None = None
    image_id: str | None = None
    snapshot_id: str | None = None
    volume_size: int | None = None
    volume_type: str | None = None
    delete_on_termination: bool = False
    attachment_id: str | None = None
    tag: str | None = None
    attached: bool = False       # the attachment is complete (connector given, os-complete)

    @property
    def is_volume(self) -> bool:
        return self.destination_type == "volume"

    @property
    def is_root(self) -> bool:
        return self.boot_index == 0


@dataclass
class Vif:
    """A Neutron port of an instance, as in Nova's network info cache."""

    port_id: str
    network_id: str
    network_name: str
    mac_address: str
    fixed_ips: list[str]
    preexisting: bool  # given by the user: unbound, not deleted, with the server


@dataclass
class Instance:
    uuid: str
    seq: int
    name: str
    project_id: str
    user_id: str
    flavor: Flavor
    image_ref: str
    host: str
    created_at: dt.datetime
    description: str | None = None
    image_properties: dict = field(default_factory=dict)
    key_name: str | None = None
    key_data: str | None = None
    metadata: dict = field(default_factory=dict)
    availability_zone: str = "nova"
    pinned_availability_zone: str | None = None
    hostname: str = ""
    vm_state: str = "building"
    task_state: str | None = "scheduling"
    power_state: int = NOSTATE
    updated_at: dt.datetime | None = None
    launched_at: dt.datetime | None = None
    terminated_at: dt.datetime | None = None
    deleted_at: dt.datetime | None = None
    access_ip_v4: str | None = None
    access_ip_v6: str | None = None
    config_drive: str = ""
    auto_disk_config: bool = False
    user_data: str | None = None
    reservation_id: str = ""
    launch_index: int = 0
    tags: list[str] = field(default_factory=list)
    locked_by: str | None = None
    locked_reason: str | None = None
    trusted_certs: list[str] | None = None
    scheduler_hints: dict = field(default_factory=dict)
    security_groups: list[str] = field(default_factory=list)
    bdms: list[Bdm] = field(default_factory=list)
    vifs: list[Vif] = field(default_factory=list)
    fault: dict | None = None

    def touch(self, **changes) -> None:
        """Change fields and the ``updated`` time, as every save of a Nova instance does."""
        for key, value in changes.items():
            setattr(self, key, value)
        self.updated_at = utcnow()

    @property
    def deleted(self) -> bool:
        return self.vm_state == "deleted"

    @property
    def volume_bdms(self) -> list[Bdm]:
        return [b for b in self.bdms if b.is_volume and b.volume_id]

    def row(self) -> dict:
        """The database columns Nova sorts and filters servers by."""
        return {"uuid": self.uuid, "seq": self.seq, "id": self.seq,
                "display_name": self.name, "display_description": self.description,
                "created_at": self.created_at, "updated_at": self.updated_at,
                "launched_at": self.launched_at, "terminated_at": self.terminated_at,
                "vm_state": self.vm_state, "task_state": self.task_state,
                "power_state": self.power_state, "host": self.host, "node": self.host,
                "hostname": self.hostname, "image_ref": self.image_ref,
                "instance_type_id": self.flavor.db_id, "key_name": self.key_name,
                "launch_index": self.launch_index, "locked_by": self.locked_by,
                "locked": self.locked_by is not None, "project_id": self.project_id,
                "user_id": self.user_id, "access_ip_v4": self.access_ip_v4,
                "access_ip_v6": self.access_ip_v6, "auto_disk_config": self.auto_disk_config,
                "availability_zone": self.availability_zone, "config_drive": self.config_drive,
                "kernel_id": "", "ramdisk_id": "", "root_device_name": self.root_device_name,
                "progress": 0, "reservation_id": self.reservation_id}

    @property
    def root_device_name(self) -> str:
        return next((b.device_name for b in self.bdms if b.is_root and b.device_name),
                    "/dev/vda")

    @property
    def fixed_ips(self) -> list[str]:
        return [ip for vif in self.vifs for ip in vif.fixed_ips]


# vm_state → (status when no task maps, {task_state: status}); nova/api/openstack/common.py.
_STATE_MAP: dict[str, tuple[str, dict[str, str]]] = {
    "active": ("ACTIVE", {"rebooting": "REBOOT", "reboot_pending": "REBOOT",
                          "reboot_started": "REBOOT", "rebooting_hard": "HARD_REBOOT",
                          "reboot_pending_hard": "HARD_REBOOT",
                          "reboot_started_hard": "HARD_REBOOT",
                          "updating_password": "PASSWORD", "rebuilding": "REBUILD",
                          "rebuild_block_device_mapping": "REBUILD",
                          "rebuild_spawning": "REBUILD", "migrating": "MIGRATING",
                          "resize_prep": "RESIZE", "resize_migrating": "RESIZE",
                          "resize_migrated": "RESIZE", "resize_finish": "RESIZE"}),
    "building": ("BUILD", {}),
    "stopped": ("SHUTOFF", {"resize_prep": "RESIZE", "resize_migrating": "RESIZE",
                            "resize_migrated": "RESIZE", "resize_finish": "RESIZE",
                            "rebuilding": "REBUILD"}),
    "resized": ("VERIFY_RESIZE", {"resize_reverting": "REVERT_RESIZE"}),
    "paused": ("PAUSED", {"migrating": "MIGRATING"}),
    "suspended": ("SUSPENDED", {}),
    "rescued": ("RESCUE", {}),
    "error": ("ERROR", {"rebuilding": "REBUILD"}),
    "deleted": ("DELETED", {}),
    "soft_deleted": ("SOFT_DELETED", {}),
    "shelved": ("SHELVED", {}),
    "shelved_offloaded": ("SHELVED_OFFLOADED", {}),
}
KNOWN_STATUSES = frozenset({"UNKNOWN"} | {status for default, by_task in _STATE_MAP.values()
                                           for status in (default, *by_task.values())})


def status_of(vm_state: str, task_state: str | None) -> str:
    default, by_task = _STATE_MAP.get(vm_state, ("UNKNOWN", {}))
    return by_task.get(task_state or "", default)


def host_id(project_id: str, host: str | None) -> str:
    """Nova's hostId: opaque per project, the same for servers on one host."""
    if not host:
        return ""
    return hashlib.sha224((project_id + host).encode()).hexdigest()


def generate_password(length: int = 12) -> str:
    alphabet = string.ascii_letters + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(length))


# -- views ------------------------------------------------------------------------------------


def url_join(*parts: str) -> str:
    """Nova's url_join: parts without their slashes, joined; an empty last part ends in /."""
    joined = "/".join(p.strip("/") for p in parts if p)
    return joined + "/" if parts and not parts[-1] else joined


@dataclass(frozen=True)
class Call:
    """What a handler knows about the call it answers."""

    token: Token
    version: Version
    host_url: str       # scheme and host the client used: links point there, as in Nova
    url_project: str    # the project id when the URL had one, else ""
    request_id: str

    @property
    def is_admin(self) -> bool:
        return self.token.is_admin

    @property
    def project_id(self) -> str:
        return self.token.project_id or ""

    def at_least(self, version: str) -> bool:
        return self.version >= v(version)

    def href(self, collection: str, item: str) -> str:
        return url_join(self.host_url, "v2.1", self.url_project, collection, item)

    def bookmark(self, collection: str, item: str) -> str:
        return url_join(self.host_url, self.url_project, collection, item)

    def links(self, collection: str, item: str) -> list[dict]:
        return [{"rel": "self", "href": self.href(collection, item)},
                {"rel": "bookmark", "href": self.bookmark(collection, item)}]

    def next_link(self, collection: str, query: Iterable[tuple[str, str]], marker: str) -> dict:
        """The ``next`` link Nova gives when a page is full: the same query, a new marker."""
        params = dict(sorted((k, val) for k, val in query if k != "marker"))
        params["marker"] = marker
        href = url_join(self.host_url, "v2.1", self.url_project, collection)
        return {"rel": "next", "href": f"{href}?{urlencode(params)}"}


def flavor_brief(flavor: Flavor, call: Call) -> dict:
    body = {"id": flavor.flavorid, "name": flavor.name,
            "links": call.links("flavors", flavor.flavorid)}
    if call.at_least("2.55"):
        body["description"] = flavor.description
    return body


def flavor_detail(flavor: Flavor, call: Call) -> dict:
    body = flavor_brief(flavor, call)
    body.update({"ram": flavor.memory_mb, "disk": flavor.root_gb, "vcpus": flavor.vcpus,
                 "OS-FLV-EXT-DATA:ephemeral": flavor.ephemeral_gb,
                 "OS-FLV-DISABLED:disabled": False, "os-flavor-access:is_public": True,
                 "rxtx_factor": 1.0,
                 # Before 2.75 a flavor without swap said "" instead of 0.
                 "swap": flavor.swap if flavor.swap or call.at_least("2.75") else ""})
    if call.at_least("2.102"):  # gone, as their filters and sort key
        del body["OS-FLV-DISABLED:disabled"], body["rxtx_factor"]
    if call.at_least("2.61"):
        body["extra_specs"] = dict(flavor.extra_specs)
    return body


def addresses_view(inst: Instance) -> dict:
    """``addresses`` by network name; hidden while the server builds, as Nova does."""
    if inst.vm_state == "building":
        return {}
    result: dict[str, list[dict]] = {}
    for vif in inst.vifs:
        for ip in vif.fixed_ips:
            result.setdefault(vif.network_name, []).append({
                "version": ipaddress.ip_address(ip).version, "addr": ip,
                "OS-EXT-IPS:type": "fixed", "OS-EXT-IPS-MAC:mac_addr": vif.mac_address})
    return result


def _image_view(inst: Instance, call: Call) -> dict | str:
    if not inst.image_ref:
        return ""  # booted from a volume
    image = {"id": inst.image_ref,
             "links": [{"rel": "bookmark", "href": call.bookmark("images", inst.image_ref)}]}
    if call.at_least("2.98"):
        image["properties"] = dict(inst.image_properties)
    return image


def _flavor_view(inst: Instance, call: Call) -> dict:
    flavor = inst.flavor
    if not call.at_least("2.47"):
        return {"id": flavor.flavorid,
                "links": [{"rel": "bookmark", "href": call.bookmark("flavors", flavor.flavorid)}]}
    return {"vcpus": flavor.vcpus, "ram": flavor.memory_mb, "disk": flavor.root_gb,
            "ephemeral": flavor.ephemeral_gb, "swap": flavor.swap,
            "original_name": flavor.name, "extra_specs": dict(flavor.extra_specs)}


_PROGRESS_STATUSES = ("ACTIVE", "BUILD", "REBUILD", "RESIZE", "VERIFY_RESIZE", "MIGRATING")


def server_brief(inst: Instance, call: Call) -> dict:
    return {"id": inst.uuid, "name": inst.name, "links": call.links("servers", inst.uuid)}


def server_detail(inst: Instance, call: Call, mode: str = "show") -> dict:
    """A server as ``GET /servers/{id}`` (``show``), ``/servers/detail`` (``list``) or
    ``PUT /servers/{id}`` (``update``) shows it at the call's microversion."""
    status = status_of(inst.vm_state, inst.task_state)
    server: dict[str, Any] = {
        "id": inst.uuid, "name": inst.name, "status": status,
        "tenant_id": inst.project_id, "user_id": inst.user_id,
        "metadata": dict(inst.metadata), "hostId": host_id(inst.project_id, inst.host),
        "image": _image_view(inst, call), "flavor": _flavor_view(inst, call),
        "created": iso_z(inst.created_at), "updated": iso_z(inst.updated_at or inst.created_at),
        "addresses": addresses_view(inst),
        "accessIPv4": inst.access_ip_v4 or "", "accessIPv6": inst.access_ip_v6 or "",
        "links": call.links("servers", inst.uuid),
        "OS-DCF:diskConfig": "AUTO" if inst.auto_disk_config else "MANUAL",
    }
    if status in ("ERROR", "DELETED") and inst.fault:
        server["fault"] = dict(inst.fault)
    if status in _PROGRESS_STATUSES:
        server["progress"] = 0
    # Before 2.75 the answer to an update left out the extended attributes.
    if mode != "update" or call.at_least("2.75"):
        _add_extended(server, inst, call)
    if call.at_least("2.9"):
        server["locked"] = inst.locked_by is not None
    if call.at_least("2.73"):
        server["locked_reason"] = inst.locked_reason
    if call.at_least("2.19"):
        server["description"] = inst.description
    if call.at_least("2.26"):
        server["tags"] = list(inst.tags)
    if call.at_least("2.63"):
        server["trusted_image_certificates"] = inst.trusted_certs
    if call.at_least("2.71") and mode != "list":
        server["server_groups"] = []
    if call.at_least("2.96"):
        server["pinned_availability_zone"] = inst.pinned_availability_zone
    if call.at_least("2.100"):
        server["scheduler_hints"] = dict(inst.scheduler_hints)
    return server


def _add_extended(server: dict, inst: Instance, call: Call) -> None:
    server["OS-EXT-AZ:availability_zone"] = inst.availability_zone or ""
    server["config_drive"] = inst.config_drive
    server["key_name"] = inst.key_name
    server["OS-SRV-USG:launched_at"] = iso_micro(inst.launched_at) if inst.launched_at else None
    server["OS-SRV-USG:terminated_at"] = (iso_micro(inst.terminated_at)
                                          if inst.terminated_at else None)
    if inst.vifs and inst.security_groups:  # Nova asks Neutron for the ports' groups
        server["security_groups"] = [{"name": name} for name in inst.security_groups]
    if call.is_admin:
        server["OS-EXT-SRV-ATTR:host"] = inst.host
        server["OS-EXT-SRV-ATTR:instance_name"] = f"instance-{inst.seq:08x}"
        server["OS-EXT-SRV-ATTR:hypervisor_hostname"] = inst.host
        if call.at_least("2.3"):
            server.update({"OS-EXT-SRV-ATTR:reservation_id": inst.reservation_id,
                           "OS-EXT-SRV-ATTR:launch_index": inst.launch_index,
                           "OS-EXT-SRV-ATTR:hostname": inst.hostname,
                           "OS-EXT-SRV-ATTR:kernel_id": "", "OS-EXT-SRV-ATTR:ramdisk_id": "",
                           "OS-EXT-SRV-ATTR:root_device_name": inst.root_device_name,
                           "OS-EXT-SRV-ATTR:user_data": inst.user_data})
        if call.at_least("2.16"):
            server["host_status"] = "UP"
    elif call.at_least("2.90"):
        server["OS-EXT-SRV-ATTR:hostname"] = inst.hostname
    server["OS-EXT-STS:task_state"] = inst.task_state
    server["OS-EXT-STS:vm_state"] = inst.vm_state
    server["OS-EXT-STS:power_state"] = inst.power_state
    volumes = []
    for bdm in inst.volume_bdms:
        entry: dict[str, Any] = {"id": bdm.volume_id}
        if call.at_least("2.3"):
            entry["delete_on_termination"] = bdm.delete_on_termination
        volumes.append(entry)
    server["os-extended-volumes:volumes_attached"] = volumes


def volume_attachment_view(inst: Instance, bdm: Bdm, call: Call) -> dict:
    body: dict[str, Any] = {"volumeId": bdm.volume_id, "serverId": inst.uuid}
    if not call.at_least("2.89"):
        body["id"] = bdm.volume_id  # Nova used the volume id as the attachment's id
    if bdm.device_name:
        body["device"] = bdm.device_name
    if call.at_least("2.70"):
        body["tag"] = bdm.tag
    if call.at_least("2.79"):
        body["delete_on_termination"] = bdm.delete_on_termination
    if call.at_least("2.89"):
        body["attachment_id"] = bdm.attachment_id
        body["bdm_uuid"] = bdm.uuid
    return body


def keypair_view(keypair: dict, call: Call, *, full: bool) -> dict:
    body = {"name": keypair["name"], "public_key": keypair["public_key"],
            "fingerprint": keypair["fingerprint"]}
    if call.at_least("2.2"):
        body["type"] = keypair["type"]
    if full:
        body.update({"user_id": keypair["user_id"], "id": keypair["id"], "deleted": False,
                     "created_at": iso_micro(keypair["created_at"]), "updated_at": None,
                     "deleted_at": None})
    return body


def limits_view(used: dict[str, int], quota: dict[str, int], version: Version) -> dict:
    absolute = {
        "maxTotalInstances": quota["instances"], "maxTotalCores": quota["cores"],
        "maxTotalRAMSize": quota["ram"], "maxTotalKeypairs": quota["key_pairs"],
        "maxServerMeta": quota["metadata_items"], "maxImageMeta": quota["metadata_items"],
        "maxServerGroups": quota["server_groups"],
        "maxServerGroupMembers": quota["server_group_members"],
        "totalInstancesUsed": used["instances"], "totalCoresUsed": used["cores"],
        "totalRAMUsed": used["ram"], "totalServerGroupsUsed": 0,
    }
    if version < v("2.36"):  # the network proxy limits went with the proxy APIs
        absolute.update({"maxSecurityGroups": 10, "maxSecurityGroupRules": 20,
                         "maxTotalFloatingIps": 10, "totalFloatingIpsUsed": 0,
                         "totalSecurityGroupsUsed": 0})
    if version < v("2.57"):  # personality files went in 2.57
        absolute.update({"maxPersonality": 5, "maxPersonalitySize": 10240})
    return {"limits": {"rate": [], "absolute": absolute}}


# -- listing servers and flavors (pure) -------------------------------------------------------

# nova/api/openstack/compute/schemas/servers.py: sort keys and the query parameters it knows.
SORT_KEYS_IGNORED = ["architecture", "cell_name", "cleaned", "default_ephemeral_device",
                     "default_swap_device", "deleted", "deleted_at", "disable_terminate",
                     "ephemeral_gb", "ephemeral_key_uuid", "id", "key_data", "launched_on",
                     "locked", "memory_mb", "os_type", "reservation_id", "root_gb",
                     "shutdown_terminate", "user_data", "vcpus", "vm_mode"]
SORT_KEYS = ["access_ip_v4", "access_ip_v6", "auto_disk_config", "availability_zone",
             "config_drive", "created_at", "display_description", "display_name", "host",
             "hostname", "image_ref", "instance_type_id", "kernel_id", "key_name",
             "launch_index", "launched_at", "locked_by", "node", "power_state", "progress",
             "project_id", "ramdisk_id", "root_device_name", "task_state", "terminated_at",
             "updated_at", "user_id", "uuid", "vm_state"]
_QUERY_KEYS = {"user_id", "project_id", "tenant_id", "launch_index", "image_ref", "image",
               "kernel_id", "ramdisk_id", "hostname", "key_name", "power_state", "vm_state",
               "task_state", "host", "node", "flavor", "reservation_id", "launched_at",
               "terminated_at", "availability_zone", "name", "display_name", "description",
               "display_description", "locked_by", "uuid", "root_device_name", "config_drive",
               "access_ip_v4", "access_ip_v6", "auto_disk_config", "progress", "sort_key",
               "sort_dir", "all_tenants", "soft_deleted", "deleted", "status", "changes-since",
               "ip", "ip6", "created_at", "block_device_mapping", "services", "metadata",
               "system_metadata", "info_cache", "security_groups", "pci_devices", "limit",
               "marker"}


def server_sort_keys(version: Version) -> tuple[list[str], list[str]]:
    """(sort keys accepted, sort keys accepted but ignored) at a microversion."""
    ignored = list(SORT_KEYS_IGNORED)
    valid = list(SORT_KEYS)
    if version >= v("2.73"):
        ignored.remove("locked")
        valid.append("locked")
    if version >= v("2.75"):
        ignored = []
    return valid + ignored, ignored


def server_query_keys(version: Version) -> set[str]:
    keys = set(_QUERY_KEYS)
    if version >= v("2.26"):
        keys |= {"tags", "tags-any", "not-tags", "not-tags-any"}
    if version >= v("2.66"):
        keys.add("changes-before")
    if version >= v("2.73"):
        keys.add("locked")
    return keys


# Filters anyone may use; the others are an administrator's (more for everyone from 2.83).
_USER_FILTERS = {"name", "status", "image", "flavor", "ip", "changes-since", "changes-before",
                 "all_tenants", "reservation_id", "tags", "tags-any", "not-tags",
                 "not-tags-any", "locked"}
_USER_FILTERS_283 = {"availability_zone", "config_drive", "key_name", "created_at",
                     "launched_at", "terminated_at", "power_state", "task_state", "vm_state",
                     "progress", "user_id"}


@dataclass
class ServerQuery:
    """A validated ``GET /servers`` query."""

    filters: dict[str, list[str]]
    sort: list[tuple[str, str]]
    limit: int
    marker: str | None
    all_tenants: bool
    include_deleted: bool
    statuses: set[str] | None = None
    empty: bool = False  # a filter no server can match (an unknown status before 2.38)


def refuse_extra_query(query: dict[str, list[str]], allowed: Iterable[str]) -> None:
    """A query schema without ``additionalProperties``: 400 naming the others, sorted."""
    extra = sorted(k for k in query if k not in allowed)
    if extra:
        verb = "was" if len(extra) == 1 else "were"
        raise SimError(400, "Additional properties are not allowed "
                            f"({', '.join(repr(e) for e in extra)} {verb} unexpected)")


def _query_error(key: str, value: str, message: str) -> SimError:
    return SimError(400, SchemaError((key,), value, message).query_detail())


def _validate_server_query(query: dict[str, list[str]], version: Version) -> None:
    if version >= v("2.75"):
        extra = [k for k in query if k not in server_query_keys(version)]
        if extra:
            verb = "was" if len(extra) == 1 else "were"
            raise SimError(400, "Additional properties are not allowed "
                                f"({', '.join(repr(e) for e in extra)} {verb} unexpected)")
    sort_keys, _ = server_sort_keys(version)
    for key in query.get("sort_key", []):
        if key not in sort_keys:
            raise _query_error("sort_key", key, f"{key!r} is not one of {sort_keys!r}")
    for name in ("changes-since", "changes-before"):
        for value in query.get(name, []):
            if not _format_ok("date-time", value):
                raise _query_error(name, value, f"{value!r} is not a 'date-time'")
    for value in query.get("limit", []):
        if not re.fullmatch(r"[0-9]+", value):
            raise _query_error("limit", value, f"{value!r} does not match '^[0-9]*$'")


def _bool_param(name: str, value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in ("", "1", "t", "true", "on", "y", "yes"):
        return True
    if lowered in ("0", "f", "false", "off", "n", "no"):
        return False
    raise SimError(400, f"Invalid value '{value}' for {name}")


def parse_server_query(query: dict[str, list[str]], version: Version, *, is_admin: bool,
                       detail: bool, max_limit: int = 1000) -> ServerQuery:
    """Validate a server listing's query string as Nova does, and say what it asks for."""
    _validate_server_query(query, version)
    allowed = set(_USER_FILTERS) | ({"ip6"} if version >= v("2.5") else set())
    if version >= v("2.83"):
        allowed |= _USER_FILTERS_283
    filters = {k: vals for k, vals in query.items()
               if k not in ("sort_key", "sort_dir", "limit", "marker")
               and (is_admin or k in allowed)}
    all_tenants = False
    if "all_tenants" in filters:
        all_tenants = _bool_param("all_tenants", filters.pop("all_tenants")[-1])
        if all_tenants and not is_admin:
            action = "detail" if detail else "index"
            raise SimError(403, f"Policy doesn't allow os_compute_api:servers:{action}:"
                                "get_all_tenants to be performed.")
    result = ServerQuery(filters=filters, sort=_server_sort(query, version, is_admin),
                         limit=max_limit, marker=(query.get("marker") or [None])[-1],
                         all_tenants=all_tenants,
                         include_deleted=bool({"changes-since", "changes-before"} & set(filters)))
    if "limit" in query:
        result.limit = min(int(query["limit"][-1]), max_limit)
    if "status" in filters:
        statuses = {s.upper() for s in filters.pop("status")}
        known = statuses & KNOWN_STATUSES
        if not known:
            if version >= v("2.38"):
                raise SimError(400, "Invalid status value")
            result.empty = True
        result.statuses = known
        result.include_deleted = result.include_deleted or "DELETED" in known
    since, before = filters.get("changes-since"), filters.get("changes-before")
    if since and before and parse_time(since[-1]) > parse_time(before[-1]):
        raise SimError(400, "The value of changes-since must be less than or equal to "
                            "changes-before.")
    return result


def _server_sort(query: dict[str, list[str]], version: Version,
                 is_admin: bool) -> list[tuple[str, str]]:
    """Sort keys and directions as Nova's ``process_sort_params`` makes them."""
    _, ignored = server_sort_keys(version)
    keys = [k for k in query.get("sort_key", []) if k not in ignored]
    for key in keys:
        if key in ("host", "node") and not is_admin:
            raise SimError(403, f"Only administrators can sort servers by {key}")
    dirs = [d for d in query.get("sort_dir", [])]
    for direction in dirs:
        if direction not in ("asc", "desc"):
            raise SimError(400, "Invalid input received: Unknown sort direction, must be "
                                "'desc' or 'asc'")
    if len(dirs) > max(len(keys), 1):
        raise SimError(400, "Invalid input received: Sort direction size exceeds sort key "
                            "size")
    default_dir = dirs[0] if dirs else "desc"
    dirs += [default_dir] * (len(keys) - len(dirs))
    pairs = list(zip(keys, dirs))
    for key in ("created_at", "seq"):
        if key not in keys:
            pairs.append((key, default_dir))
    return pairs


def _regex_search(pattern: str, value: str | None) -> bool:
    if value is None:
        return False
    try:
        return re.search(pattern, value) is not None
    except re.error:
        return pattern in value


def server_matches(inst: Instance, q: ServerQuery) -> bool:
    """Whether a server passes a query's filters (exact, regular expression or time)."""
    if q.empty:
        return False
    if q.statuses is not None and status_of(inst.vm_state, inst.task_state) not in q.statuses:
        return False
    row = inst.row()
    for key, values in q.filters.items():
        wanted = values[-1]
        if not _filter_matches(key, wanted, values, inst, row):
            return False
    return True


_REGEX_FILTERS = {"name": "display_name", "display_name": "display_name",
                  "description": "display_description",
                  "display_description": "display_description", "hostname": "hostname",
                  "key_name": "key_name", "node": "node", "reservation_id": "reservation_id",
                  "availability_zone": "availability_zone", "locked_by": "locked_by"}
_EXACT_FILTERS = {"image": "image_ref", "image_ref": "image_ref", "uuid": "uuid",
                  "user_id": "user_id", "vm_state": "vm_state", "task_state": "task_state",
                  "host": "host", "project_id": "project_id", "tenant_id": "project_id"}


def _filter_matches(key: str, wanted: str, values: list[str], inst: Instance, row: dict) -> bool:
    if key in _REGEX_FILTERS:
        return _regex_search(wanted, row[_REGEX_FILTERS[key]])
    if key in _EXACT_FILTERS:
        return str(row[_EXACT_FILTERS[key]]) in values
    if key == "flavor":
        return inst.flavor.flavorid == wanted
    if key == "power_state":
        return str(inst.power_state) == wanted
    if key in ("ip", "ip6"):
        version = 6 if key == "ip6" else 4
        return any(_regex_search(wanted, ip) for ip in inst.fixed_ips
                   if ipaddress.ip_address(ip).version == version)
    if key == "changes-since":
        return (inst.updated_at or inst.created_at) >= parse_time(wanted)
    if key == "changes-before":
        return (inst.updated_at or inst.created_at) <= parse_time(wanted)
    if key == "locked":
        return (inst.locked_by is not None) == _bool_param("locked", wanted)
    if key in ("tags", "tags-any", "not-tags", "not-tags-any"):
        wanted_tags = {t for t in wanted.split(",") if t}
        have = set(inst.tags)
        return {"tags": wanted_tags <= have, "tags-any": bool(wanted_tags & have),
                "not-tags": not wanted_tags <= have,
                "not-tags-any": not wanted_tags & have}[key]
    return True  # a filter Nova knows but this simulation does not track: no effect


def page_servers(candidates: list[Instance], q: ServerQuery,
                 marker_inst: Instance | None) -> list[Instance]:
    """Sort, then the page after the marker (which need not pass the filters itself)."""
    rows = [inst.row() for inst in candidates]
    if marker_inst is not None and all(r["uuid"] != marker_inst.uuid for r in rows):
        rows.append(marker_inst.row())
    rows = sort_items(rows, q.sort, tiebreak="seq")
    by_uuid = {inst.uuid: inst for inst in candidates}
    chunk, _ = page(rows, q.limit, marker_inst.uuid if marker_inst else None, key="uuid")
    return [by_uuid[r["uuid"]] for r in chunk if r["uuid"] in by_uuid]


def _limit_param(value: str, name: str = "limit") -> int:
    if not re.fullmatch(r"[0-9]+", value):
        raise _query_error(name, value, f"{value!r} does not match '^[0-9]*$'")
    return int(value)


@dataclass
class FlavorPage:
    items: list[Flavor]
    full: bool  # as many as the limit: Nova gives a ``next`` link


def select_flavors(query: dict[str, list[str]], version: Version, is_admin: bool,
                   max_limit: int = 1000) -> FlavorPage:
    """The flavors a ``GET /flavors`` query asks for, with Nova's answers to bad queries."""
    if version >= v("2.75"):
        refuse_extra_query(query, ("sort_key", "sort_dir", "limit", "marker", "is_public",
                                   "minRam", "minDisk", *(["name"] if version >= v("2.102")
                                                          else [])))
    last = {k: vals[-1] for k, vals in query.items()}
    sort_key, sort_dir = last.get("sort_key", "flavorid"), last.get("sort_dir", "asc")
    sort_keys = [k for k in FLAVOR_SORT_KEYS if k != "rxtx_factor" or version < v("2.102")]
    if sort_key not in sort_keys:
        raise _query_error("sort_key", sort_key, f"{sort_key!r} is not one of {sort_keys!r}")
    if sort_dir not in ("asc", "desc"):
        raise _query_error("sort_dir", sort_dir, f"{sort_dir!r} is not one of ['asc', 'desc']")
    rows = [f.row() for f in FLAVORS.values()]
    if "name" in last:  # Nova filters on it whenever its query schema lets it through
        rows = [r for r in rows if r["name"] == last["name"]]
    for param, column in (("minRam", "memory_mb"), ("minDisk", "root_gb")):
        if param in last:
            try:
                minimum = int(last[param])
            except ValueError:
                raise SimError(400, f"Invalid {param} filter [{last[param]}]") from None
            rows = [r for r in rows if r[column] >= minimum]
    if "is_public" in last and is_admin:
        wanted = last["is_public"].strip().lower()
        if wanted not in ("none", "true", "t", "1", "yes", "y", "false", "f", "0", "no", "n"):
            raise SimError(400, f"Invalid is_public filter [{last['is_public']}]")
        if wanted in ("false", "f", "0", "no", "n"):
            rows = []  # every flavor of this cloud is public
    rows = sort_items(rows, [(sort_key, sort_dir)], tiebreak="id")
    limit = min(_limit_param(last["limit"]), max_limit) if "limit" in last else max_limit
    try:
        chosen, _ = page(rows, limit, last.get("marker"), key="flavorid")
    except MarkerNotFound:
        raise SimError(400, f"marker [{last['marker']}] not found") from None
    return FlavorPage([FLAVORS[r["flavorid"]] for r in chosen], len(chosen) == limit)


# -- what a server create asks for (pure) -----------------------------------------------------

INVALID_BOOT_SEQUENCE = ("Boot sequence for the instance and image/block device mapping "
                         "combination is not valid.")


def _bdm_error(details: str) -> SimError:
    return SimError(400, f"Block Device Mapping is Invalid: {details}")


def _as_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in ("1", "t", "true", "on", "y", "yes")


@dataclass
class NetworkRequest:
    network_id: str | None = None
    port_id: str | None = None
    fixed_ip: str | None = None
    tag: str | None = None


def parse_networks(networks: Any, version: Version) -> list[NetworkRequest] | str | None:
    """``"auto"``, ``"none"``, ``None`` (not given: Nova picks the one network there is) or
    the requested networks and ports."""
    if networks is None or isinstance(networks, str):
        return networks
    requests = []
    for item in networks:
        port = item.get("port")
        if port:
            requests.append(NetworkRequest(port_id=port, tag=item.get("tag")))
            continue
        if "uuid" not in item:
            raise SimError(400, "Bad network format: missing 'uuid'")
        if version < v("2.37") and not _is_uuid_like(item["uuid"]):
            raise SimError(400, "Bad networks format: network uuid is not in proper format "
                                f"({item['uuid']})")
        requests.append(NetworkRequest(network_id=item["uuid"], fixed_ip=item.get("fixed_ip"),
                                       tag=item.get("tag")))
    return requests or None


def _legacy_bdm(item: dict) -> dict:
    """A ``block_device_mapping`` (v1) entry in the v2 form Nova converts it to."""
    device = item.get("device_name")
    converted: dict[str, Any] = {"device_name": device,
                                 "delete_on_termination": item.get("delete_on_termination",
                                                                   False)}
    if item.get("no_device"):
        converted["no_device"] = True
    elif item.get("snapshot_id"):
        converted.update(source_type="snapshot", destination_type="volume",
                         uuid=item["snapshot_id"])
    elif item.get("volume_id"):
        converted.update(source_type="volume", destination_type="volume",
                         uuid=item["volume_id"])
    else:
        converted.update(source_type="blank", destination_type="local")
    if item.get("volume_size"):
        converted["volume_size"] = item["volume_size"]
    root = device and device.removeprefix("/dev/") in ("vda", "sda", "xvda", "hda")
    converted["boot_index"] = 0 if root else None
    return converted


def parse_bdms(server: dict, image_given: bool) -> list[Bdm]:
    """The block device mappings of a create request, checked as ``BlockDeviceDict.from_api``
    and the compute API check them."""
    if server.get("block_device_mapping") and server.get("block_device_mapping_v2"):
        raise SimError(400, "Using different block_device_mapping syntaxes is not allowed.")
    items = server.get("block_device_mapping_v2") or [
        _legacy_bdm(i) for i in server.get("block_device_mapping") or []]
    bdms = [_parse_bdm(item, image_given) for item in items if not item.get("no_device")]
    _name_devices(bdms)
    return bdms


def check_boot_sequence(bdms: list[Bdm], image_given: bool) -> None:
    """One root device at most, and a root volume when there is no image to boot."""
    roots = [b for b in bdms if b.is_root]
    if len(roots) > 1 or (not image_given and not any(b.is_volume for b in roots)):
        raise SimError(400, INVALID_BOOT_SEQUENCE)


def _parse_bdm(item: dict, image_given: bool) -> Bdm:
    source = item.get("source_type")
    device_uuid = item.get("uuid")
    if source == "blank" and device_uuid:
        raise _bdm_error("Invalid device UUID.")
    if source != "blank" and not device_uuid:
        raise _bdm_error("Missing device UUID.")
    if source is None:
        raise _bdm_error("Some required fields are missing")
    destination = item.get("destination_type") or ("local" if source in ("image", "blank")
                                                   else "volume")
    boot_index = item.get("boot_index")
    if boot_index is not None:
        try:
            boot_index = int(boot_index)
        except ValueError:
            raise _bdm_error("Boot index is invalid.") from None
        if boot_index < 0:
            boot_index = None
    if source == "image" and destination == "local" and not (image_given and boot_index == 0):
        raise _bdm_error("Mapping image to local is not supported.")
    if item.get("volume_type") and destination == "local":
        raise _bdm_error("Specifying a volume_type with destination_type=local is not "
                         "supported.")
    if item.get("volume_type") and source == "volume":
        raise _bdm_error("Specifying volume type to existing volume is not supported.")
    size = int(item["volume_size"]) if item.get("volume_size") is not None else None
    if destination == "volume" and not size:
        if source == "image":
            raise SimError(400, "Images with destination_type 'volume' need to have a "
                                "non-zero size specified")
        if source == "blank":
            raise SimError(400, "Blank volumes (source: 'blank', dest: 'volume') need to have "
                                "non-zero size")
    return Bdm(source_type=source, destination_type=destination, boot_index=boot_index,
               device_name=item.get("device_name"), volume_size=size,
               volume_type=item.get("volume_type"),
               delete_on_termination=_as_bool(item.get("delete_on_termination", False)),
               volume_id=device_uuid if source == "volume" else None,
               image_id=device_uuid if source == "image" else None,
               snapshot_id=device_uuid if source == "snapshot" else None,
               tag=item.get("tag"))


def _device_path(name: str) -> str:
    return name if name.startswith("/dev/") else f"/dev/{name}"


def next_device_name(used: Iterable[str | None]) -> str:
    """The first free /dev/vdX (the root is /dev/vda), as libvirt's driver picks it."""
    taken = {_device_path(u) for u in used if u}
    for letter in string.ascii_lowercase:
        candidate = f"/dev/vd{letter}"
        if candidate not in taken:
            return candidate
    return f"/dev/vd{secrets.token_hex(2)}"


def _name_devices(bdms: list[Bdm]) -> None:
    for bdm in sorted(bdms, key=lambda b: (b.boot_index is None, b.boot_index or 0)):
        if bdm.device_name:
            bdm.device_name = _device_path(bdm.device_name)
        elif bdm.is_root:
            bdm.device_name = "/dev/vda"
    for bdm in bdms:
        if not bdm.device_name:
            bdm.device_name = next_device_name(
                [b.device_name for b in bdms] + ([] if any(b.is_root for b in bdms)
                                                 else ["/dev/vda"]))


def instance_count(server: dict) -> tuple[int, int]:
    """(min_count, max_count) of a create request."""
    min_count = int(server.get("min_count", 1))
    max_count = int(server.get("max_count", min_count))
    for name, value in (("min_count", min_count), ("max_count", max_count)):
        if value < 1:
            raise SimError(400, f"{name} must be >= 1")
    if min_count > max_count:
        raise SimError(400, "min_count must be <= max_count")
    return min_count, max_count


def image_fits(image: dict, flavor: Flavor) -> None:
    """Nova's checks of an image against the flavor it boots on (local root disk)."""
    image_id = image.get("id")
    if image.get("status") != "active":
        raise SimError(400, f"Image {image_id} is not active.")
    if int(image.get("min_ram") or 0) > flavor.memory_mb:
        raise SimError(400, "Flavor's memory is too small for requested image.")
    if flavor.root_gb:
        size = int(image.get("size") or 0)
        if size > flavor.root_gb * GiB:
            raise SimError(400, "Flavor's disk is too small for requested image. Flavor disk "
                                f"is {flavor.root_gb * GiB} bytes, image is {size} bytes.")
        min_disk = int(image.get("min_disk") or 0)
        if min_disk > flavor.root_gb:
            raise SimError(400, "Flavor's disk is smaller than the minimum size specified in "
                                f"image metadata. Flavor disk is {flavor.root_gb * GiB} bytes, "
                                f"minimum size is {min_disk * GiB} bytes.")


_GLANCE_CORE = {"id", "name", "status", "visibility", "protected", "checksum", "owner", "size",
                "virtual_size", "created_at", "updated_at", "tags", "self", "file", "schema",
                "direct_url", "locations", "os_hash_algo", "os_hash_value", "os_hidden",
                "stores", "container_format", "disk_format", "min_disk", "min_ram"}


def image_properties(image: dict) -> dict[str, str]:
    """What Nova keeps of an image in the instance's system metadata (shown from 2.98)."""
    props = {k: str(val) for k, val in image.items()
             if k not in _GLANCE_CORE and val is not None and not isinstance(val, (dict, list))}
    for key in ("container_format", "disk_format", "min_disk", "min_ram"):
        if image.get(key) is not None:
            props[key] = str(image[key])
    props["base_image_ref"] = str(image.get("id", ""))
    return props


def sanitize_hostname(name: str, fallback: str) -> str:
    """The guest hostname Nova derives from a server name."""
    host = name.encode("latin-1", "ignore").decode("latin-1")[:63]
    host = re.sub(r"[ _.]", "-", host)
    host = re.sub(r"[^\w.-]+", "", host).lower().strip(".-")
    return host or fallback


# -- key pairs --------------------------------------------------------------------------------


def ssh_fingerprint(public_key: str) -> str:
    """The MD5 fingerprint Nova shows for an OpenSSH public key; ``ValueError`` if it is none."""
    parts = public_key.strip().split()
    if len(parts) < 2:
        raise ValueError("not an OpenSSH public key")
    serialization.load_ssh_public_key(" ".join(parts[:2]).encode())
    digest = hashlib.md5(base64.b64decode(parts[1]), usedforsecurity=False).hexdigest()
    return ":".join(digest[i:i + 2] for i in range(0, len(digest), 2))


def x509_fingerprint(pem: str) -> str:
    cert = x509.load_pem_x509_certificate(pem.encode())
    der = cert.public_bytes(serialization.Encoding.DER)
    digest = hashlib.sha1(der, usedforsecurity=False).hexdigest()
    return ":".join(digest[i:i + 2] for i in range(0, len(digest), 2))


def generate_keypair(kind: str, user_id: str) -> tuple[str, str, str]:
    """(private key, public key, fingerprint) of a new RSA key, as Nova generates them: an
    OpenSSH key for ``ssh``, a self-signed certificate for ``x509``."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(serialization.Encoding.PEM,
                                serialization.PrivateFormat.TraditionalOpenSSL,
                                serialization.NoEncryption()).decode()
    if kind == "ssh":
        openssh = key.public_key().public_bytes(serialization.Encoding.OpenSSH,
                                                serialization.PublicFormat.OpenSSH).decode()
        public = f"{openssh} Generated-by-Nova"
        return private, public, ssh_fingerprint(public)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, user_id)])
    now = utcnow()
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now).not_valid_after(now + dt.timedelta(days=3650))
            .sign(key, hashes.SHA256()))
    public = cert.public_bytes(serialization.Encoding.PEM).decode()
    return private, public, x509_fingerprint(public)


# -- small helpers of the handlers ------------------------------------------------------------


@web.middleware
async def microversion_middleware(request: web.Request, handler):
    """Read the microversion and answer with it, errors included, as Nova's wsgi layer does;
    not for the version documents outside v2.1 and paths no route matches."""
    if is_unversioned(request):
        return await handler(request)
    request[MICROVERSION] = version = requested_version(request.headers)
    headers = version_headers(version)
    try:
        response = await handler(request)
    except SimError as err:
        err.headers = CIMultiDict(err.headers)
        err.headers.extend(headers)
        raise
    response.headers.extend(headers)
    return response


def _multi(request: web.Request) -> dict[str, list[str]]:
    """The query string as Nova's validation sees it: every name with all its values."""
    return {key: request.query.getall(key) for key in dict.fromkeys(request.query.keys())}


def _owner(resource: dict) -> str | None:
    return resource.get("project_id", resource.get("tenant_id"))


def _plain_addresses(addresses: dict) -> dict:
    """Addresses as the ``ips`` API shows them: version and address only."""
    return {net: [{"version": a["version"], "addr": a["addr"]} for a in items]
            for net, items in addresses.items()}


def _legacy_fixed_ips(inst: Instance) -> list[dict]:
    return [{"label": vif.network_name, "address": ip, "vif_mac": vif.mac_address,
             "version": ipaddress.ip_address(ip).version, "type": "fixed",
             "floating_ips": [], "meta": {}}
            for vif in inst.vifs for ip in vif.fixed_ips]


# -- the service ------------------------------------------------------------------------------

DEFAULT_QUOTA = {"instances": 10, "cores": 20, "ram": 51200, "key_pairs": 100,
                 "metadata_items": 128, "server_groups": 10, "server_group_members": 10}
CINDER_MICROVERSION = "3.44"  # the attachments API with os-complete, as Nova uses it
UNEXPECTED = ("Unexpected API Error. Please report this at http://bugs.launchpad.net/nova/ and "
              "attach the Nova API log if possible.\n<class '{}'>")
ZONE = "nova"


class UpstreamError(Exception):
    """Another service answered with an error, or could not be reached (``status`` 0)."""

    def __init__(self, service: str, status: int, message: str,
                 request_id: str | None = None) -> None:
        super().__init__(f"{service}: {status} {message}")
        self.service = service
        self.status = status
        self.message = message
        self.request_id = request_id

    @property
    def client_text(self) -> str:
        """How the python clients Nova uses print such an error."""
        return f"{self.message} (HTTP {self.status}) (Request-ID: {self.request_id})"

    def unexpected(self) -> SimError:
        """Nova's 500 for a failure of another service it has no answer for."""
        if self.status:
            kind = {"cinder": "cinderclient.exceptions.ClientException",
                    "glance": "glanceclient.exc.HTTPException",
                    "neutron": "neutronclient.common.exceptions.NeutronClientException"}
        else:
            kind = {"cinder": "nova.exception.CinderConnectionFailed",
                    "glance": "nova.exception.GlanceConnectionFailed",
                    "neutron": "keystoneauth1.exceptions.connection.ConnectFailure"}
        return SimError(500, UNEXPECTED.format(kind[self.service]))


class BuildFailed(Exception):
    """A server could not be built; the message becomes the instance's fault."""


def _error_text(parsed: Any, raw: bytes) -> str:
    """The message of another service's error body, whatever its format."""
    if isinstance(parsed, dict):
        for value in parsed.values():
            if isinstance(value, dict) and "message" in value:
                return str(value["message"])
        if "message" in parsed:
            return str(parsed["message"]).strip()
    return raw.decode("utf-8", "replace")[:500]


def _loads(raw: bytes) -> Any:
    try:
        return orjson.loads(raw) if raw else None
    except orjson.JSONDecodeError:
        return None


async def read_json(request: web.Request) -> Any:
    """The request body as JSON; Nova's 400 when it is not JSON."""
    raw = await request.read()
    if not raw.strip():
        return {}
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise SimError(400, "Malformed request body") from None


@dataclass
class NetworkPlan:
    """A network a server gets a port on, checked against Neutron before the build."""

    network_id: str
    network_name: str
    port: dict | None = None   # a port the user gave
    fixed_ip: str | None = None


@dataclass
class PowerAction:
    """A server action that moves the instance through a task state to a new state."""

    name: str                      # the action's name in Nova's conflict messages
    event: str                     # compute.instance.<event>.start/end
    vm_states: tuple[str, ...]     # the states it may start from
    task_state: str
    final_vm_state: str
    final_power_state: int


POWER_ACTIONS = {
    "os-start": PowerAction("start", "power_on", ("stopped",), "powering-on", "active",
                            RUNNING),
    "os-stop": PowerAction("stop", "power_off", ("active", "error"), "powering-off",
                           "stopped", SHUTDOWN),
    "pause": PowerAction("pause", "pause", ("active",), "pausing", "paused", PAUSED),
    "unpause": PowerAction("unpause", "unpause", ("paused",), "unpausing", "active", RUNNING),
    "suspend": PowerAction("suspend", "suspend", ("active",), "suspending", "suspended",
                           SUSPENDED),
    "resume": PowerAction("resume", "resume", ("suspended",), "resuming", "active", RUNNING),
}
SOFT_REBOOT = PowerAction("reboot", "reboot", ("active",), "rebooting", "active", RUNNING)
HARD_REBOOT = PowerAction("reboot", "reboot", ("active", "stopped", "paused", "suspended",
                                               "error"), "rebooting_hard", "active", RUNNING)
VOLUME_STATES = ("active", "paused", "stopped", "resized", "soft_deleted", "shelved",
                 "shelved_offloaded")


def invalid_state(action: str, inst: Instance, attr: str) -> SimError:
    state = getattr(inst, attr)
    return SimError(409, f"Cannot '{action}' instance {inst.uuid} while it is in {attr} "
                         f"{state}")


def render_nova_fault(err: SimError, request: web.Request | None = None) -> web.Response:
    """Nova's faults: Cinder's form, with the charset named in the content type."""
    headers = CIMultiDict(err.headers)
    headers["Content-Type"] = "application/json; charset=UTF-8"
    return web.Response(body=dumps(fault_body(err)), status=err.status, headers=headers)


class NovaService(SimService):
    name = "nova"
    service_type = "compute"
    catalog_path = "/v2.1"
    render_error = staticmethod(render_nova_fault)
    request_id_header = "X-Compute-Request-Id"
    webob_route_miss = True

    def __init__(self, cloud) -> None:
        super().__init__(cloud)
        self.instances: dict[str, Instance] = {}
        self.deleted: dict[str, Instance] = {}      # soft-deleted rows, seen by changes-since
        self.keypairs: dict[tuple[str, str], dict] = {}  # (user id, name) → key pair
        self._seq = 0          # the database id of the last instance
        self._keypair_seq = 0
        self._tasks: set[asyncio.Task] = set()
        self._builds: dict[str, asyncio.Task] = {}
        self._deleting: set[str] = set()
        self._session: aiohttp.ClientSession | None = None
        self._service: Token | None = None    # Nova's own service user's, for port bindings

    # -- life cycle, settings --------------------------------------------------------------

    async def on_start(self) -> None:
        self._session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=30, connect=5))

    async def on_stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._session is not None:
            await self._session.close()
            self._session = None

    @property
    def host(self) -> str:
        return self.cloud.setting("nova.host") or f"compute-{self.cloud.name}"

    def _delay(self) -> float:
        """How long a build or a power action takes (``nova.task_seconds``)."""
        return float(self.cloud.setting("nova.task_seconds", "0.15"))

    def _quota(self) -> dict[str, int]:
        return {k: int(self.cloud.setting(f"nova.quota_{k}", str(value)))
                for k, value in DEFAULT_QUOTA.items()}

    def _spawn(self, coro) -> asyncio.Task:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("nova background task failed", exc_info=task.exception())

    # -- HTTP plumbing ---------------------------------------------------------------------

    def make_app(self) -> web.Application:
        app = super().make_app()
        app.middlewares.append(microversion_middleware)
        return app

    def routes(self) -> list[web.RouteDef]:
        api = [
            ("GET", "/flavors", self.list_flavors),
            ("GET", "/flavors/detail", self.list_flavors_detail),
            ("GET", "/flavors/{flavor_id}", self.show_flavor),
            ("GET", "/os-keypairs", self.list_keypairs),
            ("POST", "/os-keypairs", self.create_keypair),
            ("GET", "/os-keypairs/{name}", self.show_keypair),
            ("DELETE", "/os-keypairs/{name}", self.delete_keypair),
            ("GET", "/os-availability-zone", self.list_zones),
            ("GET", "/os-availability-zone/detail", self.list_zones_detail),
            ("GET", "/limits", self.show_limits),
            ("GET", "/os-quota-sets/{target}", self.show_quota_set),
            ("GET", "/os-quota-sets/{target}/detail", self.show_quota_detail),
            ("GET", "/servers", self.list_servers),
            ("POST", "/servers", self.create_server),
            ("GET", "/servers/detail", self.list_servers_detail),
            ("GET", "/servers/{server_id}", self.show_server),
            ("PUT", "/servers/{server_id}", self.update_server),
            ("DELETE", "/servers/{server_id}", self.delete_server),
            ("POST", "/servers/{server_id}/action", self.server_action),
            ("GET", "/servers/{server_id}/ips", self.list_ips),
            ("GET", "/servers/{server_id}/ips/{network}", self.show_ips),
            ("GET", "/servers/{server_id}/os-volume_attachments", self.list_attachments),
            ("POST", "/servers/{server_id}/os-volume_attachments", self.attach_volume),
            ("GET", "/servers/{server_id}/os-volume_attachments/{volume_id}",
             self.show_attachment),
            ("DELETE", "/servers/{server_id}/os-volume_attachments/{volume_id}",
             self.detach_volume),
        ]
        routes = [web.get("/", self.versions), web.get("/v2", self.legacy_version),
                  web.get("/v2/", self.legacy_version), web.get("/v2.1", self.version),
                  web.get("/v2.1/", self.version),
                  # Behind keystonemiddleware, unlike /v2.1/; without the slash no route.
                  web.get(r"/v2.1/{project_id:[0-9a-f\-]+}/", self.project_version)]
        for prefix in ("/v2.1", r"/v2.1/{project_id:[0-9a-f\-]+}"):
            routes += [web.route(method, prefix + path, handler) for method, path, handler in api]
        return routes

    def _call(self, request: web.Request) -> Call:
        token: Token = request[TOKEN]
        url_project = request.match_info.get("project_id", "")
        if url_project and url_project != token.project_id:
            raise SimError(400, f"Malformed request URL: URL's project_id '{url_project}' "
                                "doesn't match Context's project_id "
                                f"'{token.project_id}'")
        if not token.project_id:
            raise SimError(403, "Policy doesn't allow compute to be used without a project "
                                "scoped token.")
        return Call(token=token, version=request[MICROVERSION], host_url=self._host_url(request),
                     url_project=url_project, request_id=request[REQUEST_ID])

    @staticmethod
    def _strict_query(request: web.Request, call: Call) -> None:
        """Since 2.102 a call whose query schema names no parameter takes none."""
        if call.at_least("2.102"):
            refuse_extra_query(_multi(request), ())

    @staticmethod
    def _context(call: Call) -> dict:
        """The request context that goes with a notification (never the token)."""
        token = call.token
        return {"request_id": call.request_id, "global_request_id": None,
                "user_id": token.user_id, "user_name": token.user_name,
                "project_id": token.project_id, "project_name": token.project_name,
                "tenant": token.project_id, "user": token.user_id,
                "roles": sorted(token.role_names), "is_admin": token.is_admin,
                "read_deleted": "no", "timestamp": iso_micro(utcnow())}

    # -- version documents -----------------------------------------------------------------

    @staticmethod
    def _host_url(request: web.Request) -> str:
        return f"{request.scheme}://{request.host}"

    @public
    @unversioned
    async def versions(self, request: web.Request) -> web.Response:
        host = self._host_url(request)
        return json_response({"versions": [
            {**V2_0, "links": [{"rel": "self", "href": f"{host}/v2/"}]},
            {"id": "v2.1", "status": "CURRENT", "version": str(MAX_VERSION),
             "min_version": str(MIN_VERSION), "updated": "2013-07-23T11:33:21Z",
             "links": [{"rel": "self", "href": f"{host}/v2.1/"}]},
        ]})

    @public
    @unversioned
    async def legacy_version(self, request: web.Request) -> web.Response:
        """The v2.0 API's document (the API itself is not simulated)."""
        return json_response({"version": {
            **V2_0, "links": self._version_links(request, "v2"),
            "media-types": [{"base": "application/json",
                             "type": "application/vnd.openstack.compute+json;version=2"}]}})

    @public
    async def version(self, request: web.Request) -> web.Response:
        return json_response({"version": {
            "id": "v2.1", "status": "CURRENT", "version": str(MAX_VERSION),
            "min_version": str(MIN_VERSION), "updated": "2013-07-23T11:33:21Z",
            "links": self._version_links(request, "v2.1"),
            "media-types": [{"base": "application/json",
                             "type": "application/vnd.openstack.compute+json;version=2.1"}]}})

    async def project_version(self, request: web.Request) -> web.Response:
        return await self.version(request)

    def _version_links(self, request: web.Request, version: str) -> list[dict]:
        return [{"rel": "self", "href": f"{self._host_url(request)}/{version}/"},
                {"rel": "describedby", "type": "text/html", "href": "http://docs.openstack.org/"}]

    # -- flavors ---------------------------------------------------------------------------

    async def list_flavors(self, request: web.Request) -> web.Response:
        return self._flavor_listing(request, detail=False)

    async def list_flavors_detail(self, request: web.Request) -> web.Response:
        return self._flavor_listing(request, detail=True)

    def _flavor_listing(self, request: web.Request, detail: bool) -> web.Response:
        call = self._call(request)
        flavors = select_flavors(_multi(request), call.version, call.is_admin)
        view = flavor_detail if detail else flavor_brief
        body: dict[str, Any] = {"flavors": [view(f, call) for f in flavors.items]}
        if flavors.full and flavors.items:
            body["flavors_links"] = [call.next_link("flavors/detail" if detail else "flavors",
                                                    request.query.items(),
                                                    flavors.items[-1].flavorid)]
        return json_response(body)

    async def show_flavor(self, request: web.Request) -> web.Response:
        call = self._call(request)
        self._strict_query(request, call)
        flavor_id = request.match_info["flavor_id"]
        flavor = FLAVORS.get(flavor_id)
        if flavor is None:
            raise SimError(404, f"Flavor {flavor_id} could not be found.")
        return json_response({"flavor": flavor_detail(flavor, call)})

    # -- key pairs -------------------------------------------------------------------------

    def _keypair_user(self, call: Call, request: web.Request, action: str,
                      asked: str | None = None) -> str:
        """Whose key pairs a call is about: one's own, or anyone's for an admin (2.10)."""
        user_id = asked or (request.query.get("user_id") if call.at_least("2.10") else None)
        if user_id and user_id != call.token.user_id and not call.is_admin:
            raise SimError(403, f"Policy doesn't allow os_compute_api:os-keypairs:{action} "
                                "to be performed.")
        return user_id or call.token.user_id

    def _keypair(self, user_id: str, name: str) -> dict:
        keypair = self.keypairs.get((user_id, name))
        if keypair is None:
            raise SimError(404, f"Keypair {name} not found for user {user_id}")
        return keypair

    async def list_keypairs(self, request: web.Request) -> web.Response:
        call = self._call(request)
        user_id = self._keypair_user(call, request, "index")
        keypairs = sorted((kp for (uid, _), kp in self.keypairs.items() if uid == user_id),
                          key=lambda kp: kp["name"])
        limit = None
        if call.at_least("2.35"):
            marker = request.query.get("marker")
            if marker is not None:
                names = [kp["name"] for kp in keypairs]
                if marker not in names:
                    raise SimError(400, f"Marker {marker} could not be found.")
                keypairs = keypairs[names.index(marker) + 1:]
            if "limit" in request.query:
                limit = _limit_param(request.query["limit"])
                keypairs = keypairs[:limit]
        body: dict[str, Any] = {"keypairs": [{"keypair": keypair_view(kp, call, full=False)}
                                             for kp in keypairs]}
        if limit and len(keypairs) == limit:
            body["keypairs_links"] = [call.next_link("os-keypairs", request.query.items(),
                                                     keypairs[-1]["name"])]
        return json_response(body)

    async def show_keypair(self, request: web.Request) -> web.Response:
        call = self._call(request)
        user_id = self._keypair_user(call, request, "show")
        keypair = self._keypair(user_id, request.match_info["name"])
        return json_response({"keypair": keypair_view(keypair, call, full=True)})

    async def delete_keypair(self, request: web.Request) -> web.Response:
        call = self._call(request)
        user_id = self._keypair_user(call, request, "delete")
        keypair = self._keypair(user_id, request.match_info["name"])
        del self.keypairs[(user_id, keypair["name"])]
        return web.Response(status=204 if call.at_least("2.2") else 202)

    async def create_keypair(self, request: web.Request) -> web.Response:
        call = self._call(request)
        body = await read_json(request)
        validate_body(keypair_create_schema(call.version), body)
        spec = body["keypair"]
        name, kind = spec["name"], spec.get("type", "ssh")
        user_id = self._keypair_user(call, request, "create", spec.get("user_id"))
        if (user_id, name) in self.keypairs:
            raise SimError(409, f"Key pair '{name}' already exists.")
        if sum(1 for uid, _ in self.keypairs if uid == user_id) >= self._quota()["key_pairs"]:
            raise SimError(403, "Quota exceeded, too many key pairs.")
        private = None
        if "public_key" in spec:
            public = spec["public_key"]
            try:
                fingerprint = (ssh_fingerprint(public) if kind == "ssh"
                               else x509_fingerprint(public))
            except (ValueError, TypeError, binascii.Error) as exc:
                reason = ("failed to generate fingerprint" if kind == "ssh" else
                          f"failed to generate X509 fingerprint. Error message: {exc}")
                raise SimError(400, f"Keypair data is invalid: {reason}") from None
        else:
            private, public, fingerprint = await asyncio.to_thread(generate_keypair, kind,
                                                                   user_id)
        if (user_id, name) in self.keypairs:  # made meanwhile by a concurrent call
            raise SimError(409, f"Key pair '{name}' already exists.")
        self._keypair_seq += 1
        keypair = {"name": name, "public_key": public, "fingerprint": fingerprint,
                   "type": kind, "user_id": user_id, "created_at": utcnow(),
                   "id": self._keypair_seq}
        self.keypairs[(user_id, name)] = keypair
        view = keypair_view(keypair, call, full=False)
        view["user_id"] = user_id
        if private is not None:
            view["private_key"] = private
        return json_response({"keypair": view}, status=201 if call.at_least("2.2") else 200)

    # -- availability zones, limits --------------------------------------------------------

    async def list_zones(self, request: web.Request) -> web.Response:
        self._strict_query(request, self._call(request))
        return json_response({"availabilityZoneInfo": [
            {"zoneName": ZONE, "zoneState": {"available": True}, "hosts": None}]})

    async def list_zones_detail(self, request: web.Request) -> web.Response:
        call = self._call(request)
        self._strict_query(request, call)
        if not call.is_admin:
            raise SimError(403, "Policy doesn't allow os_compute_api:os-availability-zone:"
                                "detail to be performed.")
        now = iso_micro(utcnow())
        service = {"available": True, "active": True, "updated_at": now}
        return json_response({"availabilityZoneInfo": [
            {"zoneName": "internal", "zoneState": {"available": True},
             "hosts": {f"controller-{self.cloud.name}": {"nova-conductor": service,
                                                         "nova-scheduler": service}}},
            {"zoneName": ZONE, "zoneState": {"available": True},
             "hosts": {self.host: {"nova-compute": service}}}]})

    def _usage(self, project_id: str) -> dict[str, int]:
        mine = [i for i in self.instances.values() if i.project_id == project_id]
        return {"instances": len(mine), "cores": sum(i.flavor.vcpus for i in mine),
                "ram": sum(i.flavor.memory_mb for i in mine)}

    async def show_limits(self, request: web.Request) -> web.Response:
        call = self._call(request)
        project_id = request.query.get("tenant_id") if call.is_admin else None
        usage = self._usage(project_id or call.project_id)
        return json_response(limits_view(usage, self._quota(), call.version))

    # -- quota sets (read only: every project has the cloud's ``nova.quota_*``) ---------------

    def _quota_target(self, call: Call, target: str, action: str) -> str:
        if not call.is_admin and target != call.project_id:
            raise SimError(403, f"Policy doesn't allow os_compute_api:os-quota-sets:{action} "
                                "to be performed.")
        return target

    async def show_quota_set(self, request: web.Request) -> web.Response:
        call = self._call(request)
        target = self._quota_target(call, request.match_info["target"], "show")
        return json_response({"quota_set": {"id": target, **self._quota()}})

    async def show_quota_detail(self, request: web.Request) -> web.Response:
        """Each limit with what the project uses of it (``in_use``; nothing is ``reserved``)."""
        call = self._call(request)
        target = self._quota_target(call, request.match_info["target"], "detail")
        used = self._usage(target)
        used["key_pairs"] = sum(1 for uid, _ in self.keypairs if uid == call.token.user_id)
        return json_response({"quota_set": {"id": target, **{
            name: {"limit": limit, "in_use": used.get(name, 0), "reserved": 0}
            for name, limit in self._quota().items()}}})

    # -- servers: reading ------------------------------------------------------------------

    def _instance(self, call: Call, server_id: str, missing: str | None = None) -> Instance:
        """The caller's instance, or 404 saying it ``could not be found`` (or ``missing``)."""
        inst = self.instances.get(server_id)
        if inst is None or not (call.is_admin or inst.project_id == call.project_id):
            raise SimError(404, f"Instance {server_id} {missing or 'could not be found.'}")
        return inst

    async def list_servers(self, request: web.Request) -> web.Response:
        return self._server_listing(request, detail=False)

    async def list_servers_detail(self, request: web.Request) -> web.Response:
        return self._server_listing(request, detail=True)

    def _server_listing(self, request: web.Request, detail: bool) -> web.Response:
        call = self._call(request)
        query = parse_server_query(_multi(request), call.version, is_admin=call.is_admin,
                                   detail=detail)
        tenant = query.filters.pop("tenant_id", None)
        if tenant and "project_id" not in query.filters:
            query.filters["project_id"] = tenant
            query.all_tenants = query.all_tenants or tenant[-1] != call.project_id
        pool = list(self.instances.values())
        if query.include_deleted:
            pool += list(self.deleted.values())
        if not query.all_tenants:
            query.filters.pop("project_id", None)
            pool = [i for i in pool if i.project_id == call.project_id]
        marker = None
        if query.marker is not None:
            marker = self.instances.get(query.marker) or self.deleted.get(query.marker)
            if marker is None:
                raise SimError(400, f"marker [{query.marker}] not found")
        chosen = page_servers([i for i in pool if server_matches(i, query)], query, marker)
        body: dict[str, Any] = {"servers": [server_detail(i, call, "list") if detail
                                            else server_brief(i, call) for i in chosen]}
        if chosen and len(chosen) == query.limit:
            body["servers_links"] = [call.next_link("servers/detail" if detail else "servers",
                                                    request.query.items(), chosen[-1].uuid)]
        return json_response(body)

    async def show_server(self, request: web.Request) -> web.Response:
        call = self._call(request)
        self._strict_query(request, call)
        inst = self._instance(call, request.match_info["server_id"])
        return json_response({"server": server_detail(inst, call)})

    async def list_ips(self, request: web.Request) -> web.Response:
        call = self._call(request)
        self._strict_query(request, call)
        inst = self._instance(call, request.match_info["server_id"])
        return json_response({"addresses": _plain_addresses(addresses_view(inst))})

    async def show_ips(self, request: web.Request) -> web.Response:
        call = self._call(request)
        self._strict_query(request, call)
        inst = self._instance(call, request.match_info["server_id"])
        network = request.match_info["network"]
        addresses = _plain_addresses(addresses_view(inst))
        if network not in addresses:
            raise SimError(404, "Instance is not a member of specified network")
        return json_response({network: addresses[network]})

    # -- servers: changing -----------------------------------------------------------------

    async def update_server(self, request: web.Request) -> web.Response:
        call = self._call(request)
        body = await read_json(request)
        validate_body(server_update_schema(call.version), body)
        inst = self._instance(call, request.match_info["server_id"])
        changes = body["server"]
        updates: dict[str, Any] = {}
        for key, attr in (("name", "name"), ("description", "description"),
                          ("accessIPv4", "access_ip_v4"), ("accessIPv6", "access_ip_v6"),
                          ("hostname", "hostname")):
            if key in changes:
                updates[attr] = changes[key]
        if "OS-DCF:diskConfig" in changes:
            updates["auto_disk_config"] = changes["OS-DCF:diskConfig"] == "AUTO"
        inst.touch(**updates)
        return json_response({"server": server_detail(inst, call, "update")})

    async def delete_server(self, request: web.Request) -> web.Response:
        call = self._call(request)
        inst = self._instance(call, request.match_info["server_id"])
        self._check_lock(call, inst)
        if inst.uuid not in self._deleting:
            self._deleting.add(inst.uuid)
            inst.touch(task_state="deleting")
            self._spawn(self._delete(inst, call))
        return web.Response(status=204)

    async def server_action(self, request: web.Request) -> web.Response:
        call = self._call(request)
        body = await read_json(request)
        if not isinstance(body, dict) or len(body) != 1:
            raise SimError(400, "Malformed request body")
        action = next(iter(body))
        if action not in (*POWER_ACTIONS, "reboot", "lock", "unlock"):
            raise SimError(400, f"There is no such action: {action}")
        # os-start and os-stop look the instance up by its cell mapping first.
        missing = "has no mapping to a cell." if action in ("os-start", "os-stop") else None
        inst = self._instance(call, request.match_info["server_id"], missing)
        if action == "reboot":
            validate_body(REBOOT_SCHEMA, body)
            power = HARD_REBOOT if body["reboot"]["type"].upper() == "HARD" else SOFT_REBOOT
            allowed_tasks = (None, "rebooting", "reboot_pending", "reboot_started")
        elif action in ("lock", "unlock"):
            return self._lock(call, inst, action, body)
        else:
            power, allowed_tasks = POWER_ACTIONS[action], (None,)
        self._check_lock(call, inst)
        if inst.vm_state not in power.vm_states:
            raise invalid_state(power.name, inst, "vm_state")
        if inst.task_state not in allowed_tasks:
            raise invalid_state(power.name, inst, "task_state")
        inst.touch(task_state=power.task_state)
        self._spawn(self._power(inst, power, self._context(call)))
        return web.Response(status=202)

    def _lock(self, call: Call, inst: Instance, action: str, body: dict) -> web.Response:
        if action == "lock":
            validate_body(lock_schema(call.version), body)
            reason = (body["lock"] or {}).get("locked_reason")
            inst.touch(locked_by="admin" if call.is_admin else "owner", locked_reason=reason)
        else:
            if inst.locked_by == "admin" and not call.is_admin:
                raise SimError(403, "Policy doesn't allow os_compute_api:os-lock-server:"
                                    "unlock:unlock_override to be performed.")
            inst.touch(locked_by=None, locked_reason=None)
        return web.Response(status=202)

    @staticmethod
    def _check_lock(call: Call, inst: Instance) -> None:
        if inst.locked_by is not None and not call.is_admin:
            raise SimError(409, f"Instance {inst.uuid} is locked")

    async def _power(self, inst: Instance, power: PowerAction, ctx: dict) -> None:
        self._notify(inst, f"compute.instance.{power.event}.start", ctx)
        await asyncio.sleep(self._delay())
        if inst.uuid in self._deleting or inst.task_state != power.task_state:
            return
        inst.touch(vm_state=power.final_vm_state, task_state=None,
                   power_state=power.final_power_state)
        self._notify(inst, f"compute.instance.{power.event}.end", ctx)

    # -- servers: create -------------------------------------------------------------------

    async def create_server(self, request: web.Request) -> web.Response:
        call = self._call(request)
        body = await read_json(request)
        validate_body(server_create_schema(call.version), body)
        server = body["server"]
        hints = body.get("os:scheduler_hints") or body.get("OS-SCH-HNT:scheduler_hints") or {}
        bdms = parse_bdms(server, image_given=bool(server.get("imageRef")))
        if not server.get("imageRef") and not bdms:
            raise SimError(400, "Missing imageRef attribute")
        networks = parse_networks(server.get("networks"), call.version)
        flavor = FLAVORS.get(str(server["flavorRef"]).rstrip("/").rsplit("/", 1)[-1])
        if flavor is None:
            raise SimError(400, "Invalid flavorRef provided.")
        min_count, max_count = instance_count(server)
        zone = self._zone(call, server.get("availability_zone"))
        keypair = self._boot_keypair(call, server.get("key_name"))
        if len(server.get("metadata") or {}) > self._quota()["metadata_items"]:
            raise SimError(403, "Maximum number of metadata items exceeds "
                                f"{self._quota()['metadata_items']}")
        image = await self._boot_image(call, server.get("imageRef"), bdms, flavor)
        check_boot_sequence(bdms, bool(server.get("imageRef")))
        groups = [g["name"] for g in server.get("security_groups") or []
                  if g.get("name")] or ["default"]
        group_ids = await self._security_group_ids(call, groups)
        plans = await self._network_plans(call, networks)
        count = self._count_within_quota(call, flavor, min_count, max_count)
        if count > 1 and any(p.port for p in plans):
            raise SimError(400, "Unable to launch multiple instances with a single configured "
                                "port ID. Please launch your instance one by one with "
                                "different ports.")
        if count > 1 and any(b.volume_id for b in bdms):
            raise SimError(400, "Cannot attach one or more volumes to multiple instances")
        volume_image = await self._check_boot_volumes(call, bdms)
        reservation = "r-" + secrets.token_hex(4)
        instances = []
        for index in range(count):
            name = server["name"] if count == 1 else f"{server['name']}-{index + 1}"
            inst = self._new_instance(call, server, name, flavor, image or volume_image,
                                      bdms, keypair, zone, hints, groups)
            inst.reservation_id, inst.launch_index = reservation, index
            instances.append(inst)
        await self._reserve_volumes(call, instances[0])
        admin_pass = server.get("adminPass") or generate_password()
        for inst in instances:
            self.instances[inst.uuid] = inst
            self._builds[inst.uuid] = self._spawn(
                self._build(inst, call, plans, group_ids, self._context(call)))
        first = instances[0]
        if _as_bool(server.get("return_reservation_id", False)):
            return json_response({"reservation_id": reservation}, status=202)
        created = {"id": first.uuid, "links": call.links("servers", first.uuid),
                   "OS-DCF:diskConfig": "AUTO" if first.auto_disk_config else "MANUAL",
                   "security_groups": [{"name": g} for g in groups], "adminPass": admin_pass}
        return json_response({"server": created}, status=202,
                             headers={"Location": call.href("servers", first.uuid)})

    def _zone(self, call: Call, requested: str | None) -> str | None:
        if requested is None:
            return None
        zone, _, host = requested.partition(":")
        if zone != ZONE or (host and (not call.is_admin or host.split(":")[0] != self.host)):
            raise SimError(400, "The requested availability zone is not available")
        return zone

    def _boot_keypair(self, call: Call, name: str | None) -> dict | None:
        if name is None:
            return None
        keypair = self.keypairs.get((call.token.user_id, name))
        if keypair is None:
            raise SimError(400, "Invalid key_name provided.")
        return keypair

    async def _boot_image(self, call: Call, image_ref: str | None, bdms: list[Bdm],
                          flavor: Flavor) -> dict | None:
        """The image a server boots from, checked against the flavor; ``None`` when it boots
        from a volume made from something else."""
        if image_ref:
            image = await self._image(call, image_ref)
            if not any(b.is_root and b.is_volume for b in bdms):
                image_fits(image, flavor)
            return image
        root = next((b for b in bdms if b.is_root), None)
        if root is not None and root.image_id:
            try:
                image = await self._glance(call.token, "GET", f"/v2/images/{root.image_id}")
            except UpstreamError as exc:
                if exc.status in (0, 500, 502, 503):
                    raise exc.unexpected() from None
                raise SimError(400, "Block Device Mapping is Invalid: failed to get image "
                                    f"{root.image_id}.") from None
            if image.get("status") != "active":
                raise SimError(400, f"Image {root.image_id} is not active.")
            min_disk = int(image.get("min_disk") or 0)
            if root.volume_size is not None and min_disk > root.volume_size:
                raise SimError(400, "Volume is smaller than the minimum size specified in "
                                    f"image metadata. Volume size is "
                                    f"{root.volume_size * GiB} bytes, minimum size is "
                                    f"{min_disk * GiB} bytes.")
            return image
        return None

    async def _image(self, call: Call, image_id: str) -> dict:
        try:
            return await self._glance(call.token, "GET", f"/v2/images/{image_id}")
        except UpstreamError as exc:
            if exc.status in (400, 403, 404):
                raise SimError(400, f"Image {image_id} could not be found.") from None
            raise exc.unexpected() from None

    def _count_within_quota(self, call: Call, flavor: Flavor, min_count: int,
                            max_count: int) -> int:
        """As many servers as asked for that the quota allows, or Nova's 403."""
        quota, used = self._quota(), self._usage(call.project_id)
        per_server = {"instances": 1, "cores": flavor.vcpus, "ram": flavor.memory_mb}
        fits = min((quota[k] - used[k]) // per_server[k] for k in per_server)
        if fits >= min_count:
            return min(fits, max_count)
        for resource in ("instances", "cores", "ram"):
            wanted = per_server[resource] * min_count
            if used[resource] + wanted > quota[resource]:
                raise SimError(403, f"Quota exceeded for {resource}: Requested {wanted}, but "
                                    f"already used {used[resource]} of {quota[resource]} "
                                    f"{resource}")
        return min_count

    def _new_instance(self, call: Call, server: dict, name: str, flavor: Flavor,
                      image: dict | None, bdms: list[Bdm], keypair: dict | None,
                      zone: str | None, hints: dict, groups: list[str]) -> Instance:
        self._seq += 1
        server_uuid = str(uuid.uuid4())
        now = utcnow()
        booted_from_image = bool(server.get("imageRef"))
        return Instance(
            uuid=server_uuid, seq=self._seq, name=name, project_id=call.project_id,
            user_id=call.token.user_id, flavor=flavor,
            image_ref=server["imageRef"] if booted_from_image else "",
            image_properties=image_properties(image) if image else {},
            host=self.host, created_at=now, updated_at=now,
            description=server.get("description"),
            key_name=keypair["name"] if keypair else None,
            key_data=keypair["public_key"] if keypair else None,
            metadata=dict(server.get("metadata") or {}),
            availability_zone=zone or ZONE, pinned_availability_zone=zone,
            hostname=server.get("hostname") or sanitize_hostname(name, f"server-{server_uuid}"),
            access_ip_v4=server.get("accessIPv4"), access_ip_v6=server.get("accessIPv6"),
            config_drive="True" if _as_bool(server.get("config_drive", False)) else "",
            auto_disk_config=server.get("OS-DCF:diskConfig") == "AUTO",
            user_data=server.get("user_data"), tags=list(server.get("tags") or []),
            trusted_certs=server.get("trusted_image_certificates"),
            scheduler_hints=dict(hints), security_groups=list(groups),
            bdms=[dataclasses.replace(b, uuid=str(uuid.uuid4())) for b in bdms])

    # -- servers: the checks Nova makes with Neutron and Cinder before building ------------

    async def _security_group_ids(self, call: Call, names: list[str]) -> list[str] | None:
        """Neutron ids of the requested groups; ``None`` for Neutron's default group."""
        if names == ["default"] or self._endpoint("neutron", call.project_id) is None:
            return None
        ids = []
        for name in names:
            found: list[dict] = []
            with contextlib.suppress(UpstreamError):
                listing = await self._neutron(call.token, "GET", "/v2.0/security-groups?"
                                              + urlencode({"name": name}))
                found = [g for g in (listing or {}).get("security_groups", [])
                         if g.get("name") == name]
            if name == "default":  # every project has one; the caller's is meant
                found = [g for g in found if _owner(g) == call.project_id]
            if not found and _is_uuid_like(name):
                with contextlib.suppress(UpstreamError, KeyError, TypeError):
                    got = await self._neutron(call.token, "GET", f"/v2.0/security-groups/{name}")
                    found = [got["security_group"]]
            if not found:
                raise SimError(400, f"Security group {name} not found.")
            if len(found) > 1:
                raise SimError(409, f"Multiple security groups found matching '{name}'. Use "
                                    "an ID to be more specific.")
            ids.append(found[0]["id"])
        return ids

    async def _network_plans(self, call: Call,
                             requested: list[NetworkRequest] | str | None) -> list[NetworkPlan]:
        """The networks a server will have ports on, as ``validate_networks`` finds them."""
        if requested == "none" or self._endpoint("neutron", call.project_id) is None:
            return []
        try:
            if requested is None or requested == "auto":
                return await self._default_network(call, auto=requested == "auto")
            return [await self._requested_network(call, item) for item in requested]
        except UpstreamError as exc:
            raise exc.unexpected() from None

    async def _default_network(self, call: Call, auto: bool) -> list[NetworkPlan]:
        listing = await self._neutron(call.token, "GET", "/v2.0/networks")
        networks = [n for n in (listing or {}).get("networks", [])
                    if not n.get("router:external")]
        own = [n for n in networks if _owner(n) == call.project_id and not n.get("shared")]
        candidates = own or [n for n in networks if n.get("shared")]
        if len(candidates) > 1:
            raise SimError(409, "Multiple possible networks found, use a Network ID to be more "
                                "specific.")
        if candidates:
            return [NetworkPlan(candidates[0]["id"], candidates[0].get("name", ""))]
        if not auto:
            return []
        try:
            topology = await self._neutron(call.token, "GET",
                                           f"/v2.0/auto-allocated-topology/{call.project_id}")
            network_id = topology["auto_allocated_topology"]["id"]
        except (UpstreamError, KeyError, TypeError):
            raise SimError(400, "Unable to automatically allocate a network for project "
                                f"{call.project_id}") from None
        network = await self._neutron(call.token, "GET", f"/v2.0/networks/{network_id}")
        return [NetworkPlan(network_id, network["network"].get("name", ""))]

    async def _requested_network(self, call: Call, item: NetworkRequest) -> NetworkPlan:
        port = None
        network_id = item.network_id
        if item.port_id:
            try:
                port = (await self._neutron(call.token, "GET",
                                            f"/v2.0/ports/{item.port_id}"))["port"]
            except UpstreamError as exc:
                if exc.status != 404:
                    raise
                raise SimError(400, f"Port id {item.port_id} could not be found.") from None
            if port.get("device_id"):
                raise SimError(409, f"Port {item.port_id} is still in use.")
            network_id = port["network_id"]
        try:
            network = (await self._neutron(call.token, "GET",
                                           f"/v2.0/networks/{network_id}"))["network"]
        except UpstreamError as exc:
            if exc.status != 404:
                raise
            raise SimError(400, f"Network {network_id} could not be found.") from None
        if port is None and not network.get("subnets"):
            raise SimError(400, f"Network {network_id} requires a subnet in order to boot "
                                "instances on.")
        return NetworkPlan(network_id, network.get("name", ""), port=port,
                           fixed_ip=item.fixed_ip)

    async def _check_boot_volumes(self, call: Call, bdms: list[Bdm]) -> dict | None:
        """Existing volumes and snapshots a server boots with must be there (and a root volume
        bootable); the image metadata of the root volume, as Nova keeps it."""
        image = None
        for bdm in bdms:
            if bdm.volume_id:
                try:
                    volume = (await self._cinder(call.token, "GET",
                                                 f"/volumes/{bdm.volume_id}"))["volume"]
                except (UpstreamError, KeyError, TypeError):
                    raise SimError(400, "Block Device Mapping is Invalid: failed to get volume "
                                        f"{bdm.volume_id}.") from None
                if bdm.is_root and str(volume.get("bootable", "true")).lower() == "false":
                    raise SimError(400, f"Block Device {bdm.volume_id} is not bootable.")
                if bdm.is_root:
                    image = dict(volume.get("volume_image_metadata") or {})
            elif bdm.snapshot_id:
                try:
                    await self._cinder(call.token, "GET", f"/snapshots/{bdm.snapshot_id}")
                except UpstreamError:
                    raise SimError(400, "Block Device Mapping is Invalid: failed to get "
                                        f"snapshot {bdm.snapshot_id}.") from None
        return image

    async def _reserve_volumes(self, call: Call, inst: Instance) -> None:
        """Reserve the existing volumes a server boots with (attachments without a
        connector), releasing those already reserved when one fails."""
        reserved: list[Bdm] = []
        for bdm in (b for b in inst.bdms if b.volume_id):
            try:
                bdm.attachment_id = await self._attachment_create(call.token, bdm.volume_id,
                                                                  inst.uuid)
            except UpstreamError as exc:
                for done in reserved:
                    await self._attachment_delete(call.token, done)
                if exc.status == 400:
                    raise SimError(400, "Invalid volume: Invalid input received: "
                                        f"{exc.client_text}") from None
                raise SimError(400, "Block Device Mapping is Invalid: failed to get volume "
                                    f"{bdm.volume_id}.") from None
            reserved.append(bdm)

    # -- servers: building and deleting in the background ----------------------------------

    async def _build(self, inst: Instance, call: Call, plans: list[NetworkPlan],
                     group_ids: list[str] | None, ctx: dict) -> None:
        """What nova-compute does: ports, volumes, then the server runs (or is in ERROR)."""
        self._notify(inst, "compute.instance.create.start", ctx)
        try:
            await asyncio.sleep(self._delay())
            steps = (("networking",
                      lambda: self._allocate_ports(inst, call.token, plans, group_ids)),
                     ("block_device_mapping", lambda: self._prepare_volumes(inst, call.token)))
            for task_state, step in steps:
                if inst.uuid in self._deleting:
                    break  # deleted while building: the delete cleans up what was made
                inst.touch(task_state=task_state)
                await step()
        except Exception as exc:  # noqa: BLE001 - whatever breaks a build puts it in ERROR
            message = str(exc) if isinstance(exc, BuildFailed) else (
                f"Build of instance {inst.uuid} aborted: {type(exc).__name__}: {exc}")
            if not isinstance(exc, BuildFailed):
                log.exception("instance %s: build failed", inst.uuid)
            inst.fault = {"code": 500, "created": iso_z(utcnow()), "message": message}
            inst.touch(vm_state="error", task_state=None, power_state=NOSTATE)
            self._notify(inst, "compute.instance.create.error", ctx, priority="ERROR",
                         extra={"message": message, "code": 500})
            return
        finally:
            self._builds.pop(inst.uuid, None)
        if inst.uuid in self._deleting:
            return
        inst.touch(vm_state="active", task_state=None, power_state=RUNNING,
                   launched_at=utcnow())
        self._notify(inst, "compute.instance.create.end", ctx,
                     extra={"message": "Success", "fixed_ips": _legacy_fixed_ips(inst)})

    async def _allocate_ports(self, inst: Instance, token: Token, plans: list[NetworkPlan],
                              group_ids: list[str] | None) -> None:
        owner = f"compute:{inst.availability_zone}"
        try:
            for plan in plans:
                if plan.port is not None:
                    # Nova binds with its admin client: binding:host_id is an admin's to set.
                    port = (await self._neutron(self._service_token(), "PUT",
                                                f"/v2.0/ports/{plan.port['id']}",
                                                {"port": {"device_id": inst.uuid,
                                                          "device_owner": owner,
                                                          "binding:host_id": inst.host}}
                                                ))["port"]
                else:
                    spec: dict[str, Any] = {"network_id": plan.network_id,
                                            "device_id": inst.uuid, "device_owner": owner,
                                            "admin_state_up": True}
                    if plan.fixed_ip:
                        spec["fixed_ips"] = [{"ip_address": plan.fixed_ip}]
                    if group_ids is not None:
                        spec["security_groups"] = group_ids
                    port = (await self._neutron(token, "POST", "/v2.0/ports",
                                                {"port": spec}))["port"]
                    port = (await self._neutron(self._service_token(), "PUT",
                                                f"/v2.0/ports/{port['id']}",
                                                {"port": {"binding:host_id": inst.host}}
                                                ))["port"]
                inst.vifs.append(Vif(
                    port_id=port["id"], network_id=plan.network_id,
                    network_name=plan.network_name, mac_address=port.get("mac_address", ""),
                    fixed_ips=[ip["ip_address"] for ip in port.get("fixed_ips", [])],
                    preexisting=plan.port is not None))
        except (UpstreamError, KeyError, TypeError) as exc:
            log.warning("instance %s: network allocation failed: %s", inst.uuid, exc)
            raise BuildFailed(f"Build of instance {inst.uuid} aborted: Failed to allocate the "
                              "network(s), not rescheduling.") from None

    async def _prepare_volumes(self, inst: Instance, token: Token) -> None:
        """Create the volumes to be made, then attach every volume (connector, complete)."""
        for bdm in sorted((b for b in inst.bdms if b.is_volume),
                          key=lambda b: (b.boot_index is None, b.boot_index or 0)):
            try:
                if bdm.volume_id is None:
                    bdm.volume_id = await self._create_volume(inst, bdm, token)
                    bdm.attachment_id = await self._attachment_create(token, bdm.volume_id,
                                                                      inst.uuid)
                await self._attachment_connect(token, inst, bdm)
            except UpstreamError as exc:
                log.warning("instance %s: volume %s failed: %s", inst.uuid, bdm.volume_id, exc)
                raise BuildFailed(f"Build of instance {inst.uuid} aborted: Failure prepping "
                                  f"block device.: {exc.message}") from None

    async def _create_volume(self, inst: Instance, bdm: Bdm, token: Token) -> str:
        spec: dict[str, Any] = {"size": bdm.volume_size, "name": "", "description": ""}
        if bdm.source_type == "blank":
            spec["name"] = f"{inst.uuid}-blank-vol"
        if bdm.image_id:
            spec["imageRef"] = bdm.image_id
        if bdm.snapshot_id:
            spec["snapshot_id"] = bdm.snapshot_id
        if bdm.volume_type:
            spec["volume_type"] = bdm.volume_type
        created = await self._cinder(token, "POST", "/volumes", {"volume": spec})
        volume_id = created["volume"]["id"]
        attempts = int(self.cloud.setting("nova.volume_wait_attempts", "600"))
        interval = float(self.cloud.setting("nova.volume_wait_interval", "0.05"))
        status = "creating"
        for _ in range(attempts):
            status = (await self._cinder(token, "GET", f"/volumes/{volume_id}"))["volume"]["status"]
            if status == "available":
                return volume_id
            if status not in ("creating", "downloading"):
                break
            await asyncio.sleep(interval)
        raise BuildFailed(f"Build of instance {inst.uuid} aborted: Volume {volume_id} did not "
                          f"finish being created even after we waited "
                          f"{int(attempts * interval)} seconds or {attempts} attempts. And its "
                          f"status is {status}.")

    async def _delete(self, inst: Instance, call: Call) -> None:
        """Terminate: wait for a build in flight, release volumes and ports, then the row."""
        ctx = self._context(call)
        self._notify(inst, "compute.instance.delete.start", ctx)
        build = self._builds.get(inst.uuid)
        if build is not None:
            await asyncio.wait({build}, timeout=60)
        await asyncio.sleep(self._delay())
        try:
            await self._release(inst, call.token)
        except Exception:  # noqa: BLE001 - a server being deleted goes, whatever is left over
            log.exception("instance %s: cleaning up after it failed", inst.uuid)
        now = utcnow()
        inst.touch(vm_state="deleted", task_state=None, power_state=NOSTATE,
                   terminated_at=now, deleted_at=now)
        self.instances.pop(inst.uuid, None)
        self.deleted[inst.uuid] = inst
        self._deleting.discard(inst.uuid)
        self._notify(inst, "compute.instance.delete.end", ctx)

    async def _release(self, inst: Instance, token: Token) -> None:
        """Detach (and delete if asked) the volumes, delete the ports Nova made, unbind the
        user's; what another service refuses is logged, as nova-compute does."""
        for bdm in inst.volume_bdms:
            await self._attachment_delete(token, bdm)
            if bdm.delete_on_termination:
                try:
                    await self._cinder(token, "DELETE", f"/volumes/{bdm.volume_id}")
                except UpstreamError as exc:
                    log.warning("instance %s: could not delete volume %s: %s", inst.uuid,
                                bdm.volume_id, exc)
        for vif in inst.vifs:
            try:
                if vif.preexisting:
                    await self._neutron(self._service_token(), "PUT",
                                        f"/v2.0/ports/{vif.port_id}",
                                        {"port": {"device_id": "", "device_owner": "",
                                                  "binding:host_id": ""}})
                else:
                    await self._neutron(token, "DELETE", f"/v2.0/ports/{vif.port_id}")
            except UpstreamError as exc:
                log.warning("instance %s: could not release port %s: %s", inst.uuid,
                            vif.port_id, exc)

    # -- volume attachments ----------------------------------------------------------------

    async def list_attachments(self, request: web.Request) -> web.Response:
        call = self._call(request)
        inst = self._instance(call, request.match_info["server_id"])
        bdms = inst.volume_bdms
        offset = _limit_param(request.query.get("offset", "0"), "offset")
        limit = min(_limit_param(request.query.get("limit", "1000")), 1000)
        return json_response({"volumeAttachments": [
            volume_attachment_view(inst, b, call) for b in bdms[offset:offset + limit]]})

    def _attached(self, inst: Instance, volume_id: str) -> Bdm:
        for bdm in inst.volume_bdms:
            if bdm.volume_id == volume_id:
                return bdm
        raise SimError(404, f"Instance {inst.uuid} is not attached to volume {volume_id}")

    async def show_attachment(self, request: web.Request) -> web.Response:
        call = self._call(request)
        inst = self._instance(call, request.match_info["server_id"])
        bdm = self._attached(inst, request.match_info["volume_id"])
        return json_response({"volumeAttachment": volume_attachment_view(inst, bdm, call)})

    def _check_volume_state(self, inst: Instance, action: str) -> None:
        if inst.vm_state not in VOLUME_STATES:
            raise invalid_state(action, inst, "vm_state")
        if inst.task_state is not None:
            raise invalid_state(action, inst, "task_state")

    async def attach_volume(self, request: web.Request) -> web.Response:
        call = self._call(request)
        body = await read_json(request)
        validate_body(volume_attach_schema(call.version), body)
        spec = body["volumeAttachment"]
        volume_id = spec["volumeId"]
        inst = self._instance(call, request.match_info["server_id"])
        self._check_lock(call, inst)
        self._check_volume_state(inst, "attach_volume")
        volume = await self._volume(call, volume_id)
        if any(b.volume_id == volume_id for b in inst.bdms):
            raise SimError(400, f"Invalid volume: volume {volume_id} already attached")
        if volume.get("multiattach") and not call.at_least("2.60"):
            raise SimError(400, "Multiattach volumes are only supported starting with compute "
                                "API version 2.60.")
        device = self._device_for(inst, spec.get("device"))
        try:
            attachment_id = await self._attachment_create(call.token, volume_id, inst.uuid)
        except UpstreamError as exc:
            if exc.status == 404:
                raise SimError(404, f"Volume {volume_id} could not be found.") from None
            if exc.status == 400:
                raise SimError(400, f"Invalid input received: {exc.client_text}") from None
            raise exc.unexpected() from None
        bdm = Bdm(source_type="volume", destination_type="volume", boot_index=None,
                  device_name=device, volume_id=volume_id, attachment_id=attachment_id,
                  tag=spec.get("tag"),
                  delete_on_termination=spec.get("delete_on_termination", False))
        inst.bdms.append(bdm)
        inst.touch()
        self._spawn(self._finish_attach(inst, bdm, call.token, self._context(call)))
        if call.at_least("2.101"):
            return web.Response(status=202)  # the attachment is asynchronous: no body
        created: dict[str, Any] = {"id": volume_id, "serverId": inst.uuid,
                                   "volumeId": volume_id, "device": device}
        if call.at_least("2.70"):
            created["tag"] = bdm.tag
        if call.at_least("2.79"):
            created["delete_on_termination"] = bdm.delete_on_termination
        return json_response({"volumeAttachment": created})

    def _device_for(self, inst: Instance, requested: str | None) -> str:
        used = [b.device_name for b in inst.bdms] + ["/dev/vda"]
        if requested:
            device = _device_path(requested)
            if device in {_device_path(u) for u in used if u}:
                raise SimError(409, f"The supplied device path ({device}) is in use.")
            return device
        return next_device_name(used)

    async def _finish_attach(self, inst: Instance, bdm: Bdm, token: Token, ctx: dict) -> None:
        """nova-compute's half of an attach: connect, complete, notify; undone on failure."""
        try:
            await self._attachment_connect(token, inst, bdm)
        except UpstreamError as exc:
            log.warning("instance %s: attaching volume %s failed: %s", inst.uuid,
                        bdm.volume_id, exc)
            await self._attachment_delete(token, bdm)
            with contextlib.suppress(ValueError):
                inst.bdms.remove(bdm)
            return
        inst.touch()
        self._notify(inst, "compute.instance.volume.attach", ctx,
                     extra={"volume_id": bdm.volume_id})

    async def detach_volume(self, request: web.Request) -> web.Response:
        call = self._call(request)
        inst = self._instance(call, request.match_info["server_id"])
        volume_id = request.match_info["volume_id"]
        self._check_lock(call, inst)
        self._check_volume_state(inst, "detach_volume")
        await self._volume(call, volume_id)
        bdm = self._attached(inst, volume_id)
        if bdm.is_root:
            raise SimError(400, "Cannot detach a root device volume")
        if not bdm.attached:
            raise SimError(400, "Invalid volume: Unable to detach volume. Volume status must "
                                "be 'in-use' and attach_status must be 'attached' to detach.")
        bdm.attached = False  # detaching: a second detach is refused like the one above
        self._spawn(self._finish_detach(inst, bdm, call.token, self._context(call)))
        return web.Response(status=202)

    async def _finish_detach(self, inst: Instance, bdm: Bdm, token: Token, ctx: dict) -> None:
        await self._attachment_delete(token, bdm)
        with contextlib.suppress(ValueError):
            inst.bdms.remove(bdm)
        inst.touch()
        self._notify(inst, "compute.instance.volume.detach", ctx,
                     extra={"volume_id": bdm.volume_id})

    async def _volume(self, call: Call, volume_id: str) -> dict:
        try:
            return (await self._cinder(call.token, "GET", f"/volumes/{volume_id}"))["volume"]
        except UpstreamError as exc:
            if exc.status == 404:
                raise SimError(404, f"Volume {volume_id} could not be found.") from None
            raise exc.unexpected() from None

    # -- Cinder's attachments API, as nova.volume.cinder uses it ---------------------------

    async def _attachment_create(self, token: Token, volume_id: str, instance_uuid: str) -> str:
        body = {"attachment": {"volume_uuid": volume_id, "instance_uuid": instance_uuid,
                               "connector": None}}
        return (await self._cinder(token, "POST", "/attachments", body))["attachment"]["id"]

    async def _attachment_connect(self, token: Token, inst: Instance, bdm: Bdm) -> None:
        """Give the attachment the host's connector, then mark it complete (in-use)."""
        connector = {"platform": "x86_64", "os_type": "linux", "ip": "127.0.0.1",
                     "host": inst.host, "multipath": False, "do_local_attach": False,
                     "initiator": f"iqn.2004-10.org.openstack:{inst.host}",
                     "mountpoint": bdm.device_name}
        await self._cinder(token, "PUT", f"/attachments/{bdm.attachment_id}",
                           {"attachment": {"connector": connector}})
        await self._cinder(token, "POST", f"/attachments/{bdm.attachment_id}/action",
                           {"os-complete": None})
        bdm.attached = True

    async def _attachment_delete(self, token: Token, bdm: Bdm) -> None:
        """Release an attachment; one that is gone already is fine, other failures logged."""
        if not bdm.attachment_id:
            return
        try:
            await self._cinder(token, "DELETE", f"/attachments/{bdm.attachment_id}")
        except UpstreamError as exc:
            if exc.status != 404:
                log.warning("could not delete attachment %s of volume %s: %s",
                            bdm.attachment_id, bdm.volume_id, exc)

    # -- calls to other services -----------------------------------------------------------

    def _endpoint(self, service: str, project_id: str) -> str | None:
        """Where Nova reaches a service: its ``nova.<service>_url`` or the cloud's own."""
        url = self.cloud.setting(f"nova.{service}_url")
        if not url:
            own = self.cloud.services.get(service)
            if own is None or not own.base_url:
                return None
            url = own.project_endpoint(project_id)
        url = url.replace("%(project_id)s", project_id).replace("%(tenant_id)s", project_id)
        url = url.rstrip("/")
        suffix = {"glance": "/v2", "neutron": "/v2.0"}.get(service)  # Nova adds these itself
        if suffix and url.endswith(suffix):
            url = url[:-len(suffix)]
        return url

    def _service_token(self) -> Token:
        """A token of the cloud's service user (its ``ocx`` user: admin and service roles),
        standing for Nova's own ``[neutron]`` credentials, renewed before it expires."""
        token = self._service
        if token is None or token.expires_at <= utcnow() + dt.timedelta(minutes=5):
            keystone = self.cloud.keystone
            token = self._service = keystone.issue_token(
                keystone.find_user("ocx"), ("password",),
                project_id=keystone.project_id("service"))
        return token

    async def _cinder(self, token: Token, method: str, path: str, body: Any = None) -> Any:
        return await self._upstream("cinder", token, method, path, body,
                                    {"OpenStack-API-Version": f"volume {CINDER_MICROVERSION}"})

    async def _glance(self, token: Token, method: str, path: str, body: Any = None) -> Any:
        return await self._upstream("glance", token, method, path, body)

    async def _neutron(self, token: Token, method: str, path: str, body: Any = None) -> Any:
        return await self._upstream("neutron", token, method, path, body)

    async def _upstream(self, service: str, token: Token, method: str, path: str,
                        body: Any = None, headers: dict[str, str] | None = None) -> Any:
        """One call to another service with the caller's token, as Nova's clients make it."""
        base = self._endpoint(service, token.project_id or "")
        if base is None or self._session is None:
            raise UpstreamError(service, 0, f"no {service} endpoint")
        sent = {"X-Auth-Token": token.id, "Accept": "application/json",
                "User-Agent": f"nova-sim/{self.cloud.name}", **(headers or {})}
        data = None
        if body is not None:
            data = orjson.dumps(body)
            sent["Content-Type"] = "application/json"
        try:
            async with self._session.request(method, base + path, data=data,
                                             headers=sent) as resp:
                raw = await resp.read()
                status, rid = resp.status, resp.headers.get("x-openstack-request-id")
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            raise UpstreamError(service, 0, str(exc) or type(exc).__name__) from None
        parsed = _loads(raw)
        if status >= 400:
            raise UpstreamError(service, status, _error_text(parsed, raw), rid)
        return parsed

    # -- notifications ---------------------------------------------------------------------

    def _notify(self, inst: Instance, event_type: str, ctx: dict, *,
                extra: dict | None = None, priority: str = "INFO") -> None:
        """A legacy (unversioned) instance notification on the ``nova`` exchange."""
        payload = self._instance_payload(inst)
        payload.update(extra or {})
        self.cloud.notifier.emit("nova", event_type, payload, service="compute", context=ctx,
                                 priority=priority)

    def _instance_payload(self, inst: Instance) -> dict:
        flavor = inst.flavor
        glance = self._endpoint("glance", inst.project_id) or ""

        def when(t: dt.datetime | None) -> str:
            return str(t.replace(microsecond=0)) if t else ""

        return {
            "tenant_id": inst.project_id, "user_id": inst.user_id, "instance_id": inst.uuid,
            "display_name": inst.name, "reservation_id": inst.reservation_id,
            "hostname": inst.hostname, "instance_type": flavor.name,
            "instance_type_id": flavor.db_id, "instance_flavor_id": flavor.flavorid,
            "memory_mb": flavor.memory_mb, "vcpus": flavor.vcpus, "root_gb": flavor.root_gb,
            "ephemeral_gb": flavor.ephemeral_gb, "disk_gb": flavor.root_gb + flavor.ephemeral_gb,
            "host": inst.host, "node": inst.host, "availability_zone": inst.availability_zone,
            "cell_name": "", "created_at": when(inst.created_at),
            "launched_at": when(inst.launched_at), "terminated_at": when(inst.terminated_at),
            "deleted_at": when(inst.deleted_at),
            "image_ref_url": f"{glance}/images/{inst.image_ref}" if inst.image_ref else "",
            "image_meta": dict(inst.image_properties), "metadata": dict(inst.metadata),
            "state": inst.vm_state, "state_description": inst.task_state or "",
            "progress": "", "access_ip_v4": inst.access_ip_v4, "access_ip_v6": inst.access_ip_v6,
            "os_type": None, "architecture": None, "kernel_id": "", "ramdisk_id": "",
        }
