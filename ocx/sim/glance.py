"""Glance (image API v2) as the real service puts it on the wire.

Images and their data, tags, members (sharing), deactivation and the JSON schemas, with
Glance's visibility rules (public, private, shared, community), its list filters, sorting and
``next`` links, its JSON-patch updates and its notifications (exchange ``glance``: glance-api
sets oslo.messaging's control exchange to ``glance``; publisher ``image.<host>``; an empty
request context, as Glance sends). Image data streams to a file under the cloud's data
directory and back, in chunks: a large image never sits in memory.

Errors are WebOb's, because Glance raises ``webob.exc`` exceptions and lets WebOb write the
body, which depends on the client's ``Accept`` header: ``{"message", "code", "title"}`` JSON
for a client that asks for JSON, an HTML page for ``*/*`` (what ``requests`` sends, so what
openstacksdk usually gets, and parses), plain text when no ``Accept`` header is sent.

Left out: the interoperable import workflow (stage, import, ``/v2/info``), locations (hidden,
as with Glance's default ``show_multiple_locations = False``), tasks, metadefs, the image cache
API and quotas. The deployment simulated has Glance's defaults, a single store and no image
cache, so its version list is that of such a Glance.
"""
from __future__ import annotations

import asyncio
import copy
import datetime as dt
import hashlib
import json
import logging
import os
import pprint
import re
import struct
import textwrap
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar
from urllib.parse import urlencode

from aiohttp import web

from .auth import TOKEN, Token, public
from .errors import REQUEST_ID, SimError
from .webob import WebobError, render_for, render_webob
from .service import SimService
from .wire import iso_z, json_response, new_id, parse_time, utcnow

log = logging.getLogger(__name__)

EXCHANGE = "glance"
PUBLISHER = "image"
HASH_ALGO = "sha512"  # Glance's default ``hashing_algorithm``
LIMIT_DEFAULT, LIMIT_MAX = 25, 1000  # ``limit_param_default``, ``api_limit_max``
MAX_DB_INT = 2 ** 31 - 1  # min_disk and min_ram are 4-byte INT columns
CHUNK = 1 << 20  # data is written, hashed and read back in pieces of this size
HEAD_BYTES = 64 * 1024  # enough of an upload to recognise its disk format (ISO needs 34 KiB)

DISK_FORMATS = ("ami", "ari", "aki", "vhd", "vhdx", "vmdk", "raw", "qcow2", "vdi", "iso",
                "ploop")
CONTAINER_FORMATS = ("ami", "ari", "aki", "bare", "ovf", "ova", "docker", "compressed")
STATUSES = ("queued", "saving", "active", "killed", "deleted", "uploading", "importing",
            "pending_delete", "deactivated")
VISIBILITIES = ("community", "public", "private", "shared")
MEMBER_STATUSES = ("pending", "accepted", "rejected")

# The versions glance-api 2026.1 lists without an image cache and without multiple stores (its
# defaults), in its order: the cache API's 2.14 and 2.16 and the stores' 2.8 and 2.10-2.13 are
# left out, and 2.17 comes after 2.9 (glance/api/versions.py).
VERSIONS = (("2.15", "SUPPORTED"), ("2.9", "SUPPORTED"), ("2.17", "CURRENT"),
            ("2.7", "SUPPORTED"), ("2.6", "SUPPORTED"), ("2.5", "SUPPORTED"),
            ("2.4", "SUPPORTED"), ("2.3", "SUPPORTED"), ("2.2", "SUPPORTED"),
            ("2.1", "SUPPORTED"), ("2.0", "SUPPORTED"))
# URL prefixes version negotiation maps to /v2 (``/v2``, ``/v2.0`` ... ``/v2.17``); any other
# first path segment gets the version list.
_MINORS = "|".join(sorted((v.split(".")[1] for v, _ in VERSIONS), key=len, reverse=True))
V2_ALIAS = r"v2\.(?:%s)" % _MINORS
NOT_V2 = r"(?!(?:v2|%s)(?:/|$)).*" % V2_ALIAS


def versions_document(host_url: str) -> dict:
    """``{"versions": [...]}`` as glance-api builds it from the URL the client called."""
    href = host_url.rstrip("/") + "/v2/"
    return {"versions": [{"id": f"v{version}", "status": status,
                          "links": [{"rel": "self", "href": href}]}
                         for version, status in VERSIONS]}


# -- schemas ---------------------------------------------------------------------------------

_UUID_PATTERN = ("^([0-9a-fA-F]){8}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}"
                 "-([0-9a-fA-F]){4}-([0-9a-fA-F]){12}$")


def _base_properties() -> dict:
    """The image attributes of Glance's image schema, in its order."""
    def ro(kind, description, **more):
        return {"type": kind, "readOnly": True, "description": description, **more}

    hash_data = {
        "description": "Values to be used to populate the corresponding image properties. "
                       "If the image status is not 'queued', values must exactly match "
                       "those already contained in the image properties.",
        "type": "object", "writeOnly": True, "additionalProperties": False,
        "properties": {"checksum": {"type": "string", "minLength": 32, "maxLength": 32},
                       "os_hash_algo": {"type": "string", "maxLength": 64},
                       "os_hash_value": {"type": "string", "maxLength": 128}},
        "required": ["os_hash_algo", "os_hash_value"]}
    return {
        "id": {"type": "string", "description": "An identifier for the image",
               "pattern": _UUID_PATTERN},
        "name": {"type": ["null", "string"], "description": "Descriptive name for the image",
                 "maxLength": 255},
        "status": ro("string", "Status of the image", enum=list(STATUSES)),
        "visibility": {"type": "string", "description": "Scope of image accessibility",
                       "enum": list(VISIBILITIES)},
        "protected": {"type": "boolean",
                      "description": "If true, image will not be deletable."},
        "os_hidden": {"type": "boolean", "description": "If true, image will not appear in "
                                                       "default image list response."},
        "checksum": ro(["null", "string"], "md5 hash of image contents.", maxLength=32),
        "os_hash_algo": ro(["null", "string"], "Algorithm to calculate the os_hash_value",
                           maxLength=64),
        "os_hash_value": ro(["null", "string"], "Hexdigest of the image contents using the "
                            "algorithm specified by the os_hash_algo", maxLength=128),
        "owner": {"type": ["null", "string"], "description": "Owner of the image",
                  "maxLength": 255},
        "size": ro(["null", "integer"], "Size of image file in bytes"),
        "virtual_size": ro(["null", "integer"], "Virtual size of image in bytes"),
        "container_format": {"type": ["null", "string"], "description": "Format of the container",
                             "enum": [None, *CONTAINER_FORMATS]},
        "disk_format": {"type": ["null", "string"], "description": "Format of the disk",
                        "enum": [None, *DISK_FORMATS]},
        "created_at": ro("string", "Date and time of image registration"),
        "updated_at": ro("string", "Date and time of the last image modification"),
        "tags": {"type": "array", "description": "List of strings related to the image",
                 "items": {"type": "string", "maxLength": 255}},
        "direct_url": ro("string", "URL to access the image file kept in external store"),
        "min_ram": {"type": "integer",
                    "description": "Amount of ram (in MB) required to boot image."},
        "min_disk": {"type": "integer",
                     "description": "Amount of disk space (in GB) required to boot image."},
        "self": ro("string", "An image self url"),
        "file": ro("string", "An image file url"),
        "stores": ro("string", "Store in which image data resides.  Only present when the "
                     "operator has enabled multiple stores.  May be a comma-separated list of "
                     "store identifiers."),
        "schema": ro("string", "An image schema url"),
        "locations": {
            "type": "array",
            "items": {"type": "object",
                      "properties": {"url": {"type": "string", "maxLength": 255},
                                     "metadata": {"type": "object"},
                                     "validation_data": hash_data},
                      "required": ["url", "metadata"]},
            "description": "A set of URLs to access the image file kept in external store"},
    }


def _custom_properties() -> dict:
    """The ``schema-image.json`` Glance ships, each marked ``is_base: false`` as Glance does."""
    def custom(description, kind="string", **more):
        return {"description": description, "type": kind, **more, "is_base": False}

    keys_doc = ("https://docs.openstack.org/python-glanceclient/latest/cli/"
                "property-keys.html")
    return {
        "kernel_id": custom("ID of image stored in Glance that should be used as the kernel "
                            "when booting an AMI-style image.", ["null", "string"],
                            pattern=_UUID_PATTERN),
        "ramdisk_id": custom("ID of image stored in Glance that should be used as the ramdisk "
                             "when booting an AMI-style image.", ["null", "string"],
                             pattern=_UUID_PATTERN),
        "instance_uuid": custom("Metadata which can be used to record which instance this "
                                "image is associated with. (Informational only, does not "
                                "create an instance snapshot.)"),
        "architecture": custom("Operating system architecture as specified in " + keys_doc),
        "os_distro": custom("Common name of operating system distribution as specified in "
                            + keys_doc),
        "os_version": custom("Operating system version as specified by the distributor."),
        "description": custom("A human-readable string describing this image."),
    }


IMAGE_PROPERTIES = {**_base_properties(), **_custom_properties()}
ADDITIONAL_PROPERTY = {"type": "string"}  # Glance's image schema is permissive: strings only


def image_schema() -> dict:
    return {"name": "image", "properties": copy.deepcopy(IMAGE_PROPERTIES),
            "additionalProperties": dict(ADDITIONAL_PROPERTY),
            "links": [{"rel": "self", "href": "{self}"},
                      {"rel": "enclosure", "href": "{file}"},
                      {"rel": "describedby", "href": "{schema}"}]}


def images_schema() -> dict:
    return {"name": "images",
            "properties": {"images": {"type": "array", "items": image_schema()},
                           "first": {"type": "string"}, "next": {"type": "string"},
                           "schema": {"type": "string"}},
            "links": [{"rel": "first", "href": "{first}"}, {"rel": "next", "href": "{next}"},
                      {"rel": "describedby", "href": "{schema}"}]}


def member_schema() -> dict:
    return {"name": "member", "properties": {
        "member_id": {"type": "string",
                      "description": "An identifier for the image member (tenantId)"},
        "image_id": {"type": "string", "description": "An identifier for the image",
                     "pattern": _UUID_PATTERN},
        "created_at": {"type": "string", "description": "Date and time of image member creation"},
        "updated_at": {"type": "string",
                       "description": "Date and time of last modification of image member"},
        "status": {"type": "string", "description": "The status of this image member",
                   "enum": list(MEMBER_STATUSES)},
        "schema": {"readOnly": True, "type": "string"}}}


def members_schema() -> dict:
    return {"name": "members",
            "properties": {"members": {"type": "array", "items": member_schema()},
                           "schema": {"type": "string"}},
            "links": [{"rel": "describedby", "href": "{schema}"}]}


# -- errors: webob.exc as Glance raises them (rendered by ``webob``) ------------------------

_IMPLEMENTED_METHODS = ("GET", "HEAD", "POST", "PUT", "DELETE", "PATCH")


def render_glance_error(err: SimError, request: web.Request | None = None) -> web.Response:
    if request is None:
        return render_webob(err)
    method = request.method
    if (err.status == 404 and not isinstance(err, WebobError)
            and method not in _IMPLEMENTED_METHODS):
        err = WebobError(501)  # Glance's router: no route, and a method it does not know
    return render_for(err, request)


# -- schema validation (jsonschema's messages) -----------------------------------------------

def _is_type(value: Any, kind: str) -> bool:
    if kind == "integer":
        return (isinstance(value, int) and not isinstance(value, bool)) or (
            isinstance(value, float) and value.is_integer())
    return {"null": value is None, "string": isinstance(value, str),
            "boolean": isinstance(value, bool), "array": isinstance(value, list),
            "object": isinstance(value, dict)}.get(kind, False)


def _pretty(thing: Any) -> str:
    return textwrap.indent(pprint.pformat(thing, width=72, sort_dicts=False), "    ")


def _violations(value: Any, schema: dict, schema_path: list, path: list) -> Iterable[tuple]:
    """(path, message, keyword, schema, schema_path, instance) for each rule ``value`` breaks."""
    for keyword, rule in schema.items():
        message = None
        if keyword == "type":
            kinds = rule if isinstance(rule, list) else [rule]
            if not any(_is_type(value, k) for k in kinds):
                message = f"{value!r} is not of type {', '.join(repr(k) for k in kinds)}"
        elif keyword == "enum":
            if not any(value == v and type(value) is type(v) for v in rule):
                message = f"{value!r} is not one of {rule!r}"
        elif keyword == "maxLength" and isinstance(value, str) and len(value) > rule:
            message = f"{value!r} is too long"
        elif keyword == "pattern" and isinstance(value, str) and not re.search(rule, value):
            message = f"{value!r} does not match {rule!r}"
        elif keyword == "items" and isinstance(value, list):
            for i, item in enumerate(value):
                yield from _violations(item, rule, [*schema_path, "items"], [*path, i])
        if message:
            yield path, message, keyword, schema, schema_path, value


def schema_error(obj: dict, name: str = "image") -> str | None:
    """Glance's InvalidObject message for the first rule ``obj`` breaks, or None.

    Like jsonschema's ``best_match``, an error higher up in the object wins.
    """
    found = []
    for key, subschema in IMAGE_PROPERTIES.items():
        if key in obj:
            found.extend(_violations(obj[key], subschema, ["properties", key], [key]))
    for key, value in obj.items():
        if key not in IMAGE_PROPERTIES:
            found.extend(_violations(value, ADDITIONAL_PROPERTY, ["additionalProperties"], [key]))
    if not found:
        return None
    path, message, keyword, schema, schema_path, instance = min(found, key=lambda f: len(f[0]))
    where = "schema" + "".join(f"[{p!r}]" for p in schema_path)
    on = "instance" + "".join(f"[{p!r}]" for p in path)
    reason = (f"{message}\n\nFailed validating {keyword!r} in {where}:\n{_pretty(schema)}"
              f"\n\nOn {on}:\n{_pretty(instance)}")
    return f"Provided object does not match schema '{name}': {reason}"


# -- the model -------------------------------------------------------------------------------

@dataclass
class Image:
    id: str
    owner: str | None
    created_at: dt.datetime
    updated_at: dt.datetime
    name: str | None = None
    status: str = "queued"
    visibility: str = "shared"
    protected: bool = False
    os_hidden: bool = False
    min_disk: int = 0
    min_ram: int = 0
    disk_format: str | None = None
    container_format: str | None = None
    size: int | None = None
    virtual_size: int | None = None
    checksum: str | None = None
    os_hash_algo: str | None = None
    os_hash_value: str | None = None
    tags: list[str] = field(default_factory=list)
    properties: dict[str, str] = field(default_factory=dict)
    data_path: str | None = None  # where the uploaded data is (Glance's location)


@dataclass
class Member:
    image_id: str
    member_id: str
    created_at: dt.datetime
    updated_at: dt.datetime
    status: str = "pending"


# Image attributes a PATCH or a create may set (the rest are read-only or not attributes).
SETTABLE = ("name", "visibility", "protected", "os_hidden", "min_disk", "min_ram", "owner",
            "disk_format", "container_format", "tags")
# What a create takes as attributes; the other keys are custom properties.
_CREATE_ATTRIBUTES = ("checksum", "created_at", "container_format", "disk_format", "id",
                      "min_disk", "min_ram", "name", "size", "virtual_size", "status", "tags",
                      "owner", "updated_at", "visibility", "protected", "os_hidden")
_DISALLOWED = ("direct_url", "self", "file", "schema", "stores")
_READ_ONLY = ("created_at", "updated_at", "status", "checksum", "size", "virtual_size",
              "direct_url", "self", "file", "schema", "id", "os_hash_algo", "os_hash_value")
_FACTORY_READ_ONLY = ("created_at", "updated_at", "status", "checksum", "os_hash_algo",
                      "os_hash_value", "size", "virtual_size")
_RESERVED = ("location", "deleted", "deleted_at")
_RESERVED_PREFIX = "os_glance"
_FACTORY_RESERVED = ("owner", "locations", "deleted", "deleted_at", "direct_url", "self",
                     "file", "schema")
# Columns of Glance's images table, which list filters compare directly.
_COLUMNS = ("id", "name", "disk_format", "container_format", "size", "virtual_size", "status",
            "visibility", "checksum", "os_hash_algo", "os_hash_value", "min_disk", "min_ram",
            "owner", "protected", "os_hidden", "created_at", "updated_at")
_INT_COLUMNS = ("size", "virtual_size", "min_disk", "min_ram")


def image_view(image: Image) -> dict:
    """The image as Glance's serializer writes it: custom properties first, then attributes."""
    view: dict[str, Any] = dict(image.properties)
    view.update({
        "name": image.name, "disk_format": image.disk_format,
        "container_format": image.container_format, "visibility": image.visibility,
        "size": image.size, "virtual_size": image.virtual_size, "status": image.status,
        "checksum": image.checksum, "protected": image.protected, "min_ram": image.min_ram,
        "min_disk": image.min_disk, "owner": image.owner, "os_hidden": image.os_hidden,
        "os_hash_algo": image.os_hash_algo, "os_hash_value": image.os_hash_value,
        "id": image.id, "created_at": iso_z(image.created_at),
        "updated_at": iso_z(image.updated_at), "tags": list(image.tags),
        "self": f"/v2/images/{image.id}", "file": f"/v2/images/{image.id}/file",
        "schema": "/v2/schemas/image"})
    return view


def member_view(member: Member) -> dict:
    return {"member_id": member.member_id, "image_id": member.image_id,
            "status": member.status, "created_at": iso_z(member.created_at),
            "updated_at": iso_z(member.updated_at), "schema": "/v2/schemas/member"}


def image_payload(image: Image) -> dict:
    """Glance's ``format_image_notification`` (no locations: they may hold credentials)."""
    return {"id": image.id, "name": image.name, "status": image.status,
            "created_at": iso_z(image.created_at), "updated_at": iso_z(image.updated_at),
            "min_disk": image.min_disk, "min_ram": image.min_ram,
            "protected": image.protected, "checksum": image.checksum, "owner": image.owner,
            "disk_format": image.disk_format, "container_format": image.container_format,
            "size": image.size, "virtual_size": image.virtual_size,
            "is_public": image.visibility == "public", "visibility": image.visibility,
            "properties": dict(image.properties), "tags": list(image.tags),
            "deleted": False, "deleted_at": None}


def member_payload(member: Member) -> dict:
    return {"image_id": member.image_id, "member_id": member.member_id,
            "status": member.status, "created_at": iso_z(member.created_at),
            "updated_at": iso_z(member.updated_at), "deleted": False, "deleted_at": None}


# -- who may do what -------------------------------------------------------------------------

@dataclass(frozen=True)
class Caller:
    """What Glance's request context knows: the project, the user, the roles."""

    project_id: str | None
    user_id: str
    roles: frozenset[str] = frozenset()

    @classmethod
    def from_token(cls, token: Token) -> Caller:
        return cls(token.project_id, token.user_id, token.role_names)

    @property
    def is_admin(self) -> bool:
        return "admin" in self.roles

    @property
    def is_member(self) -> bool:
        return self.is_admin or "member" in self.roles

    @property
    def is_reader(self) -> bool:  # Keystone's default roles: member implies reader
        return self.is_member or "reader" in self.roles


def can_see(caller: Caller, image: Image, membership: Member | None) -> bool:
    """Glance's ``is_image_visible``: may the caller look at this image at all."""
    if caller.is_admin or image.owner is None or image.visibility in ("public", "community"):
        return True
    if caller.project_id is None:
        return False
    if image.owner == caller.project_id:
        return True
    return image.visibility == "shared" and membership is not None


def owns(caller: Caller, image: Image) -> bool:
    """The default policy of changes: admin, or a member of the owning project."""
    return caller.is_admin or (caller.is_member and caller.project_id is not None
                               and image.owner == caller.project_id)


def in_listing(caller: Caller, image: Image, membership: Member | None,
               visibility: str | None, member_status: str) -> bool:
    """Whether the image is in the caller's ``GET /v2/images`` (before the other filters).

    A regular user sees public and community images, the project's own, and shared ones
    whose membership has ``member_status``; an admin sees every image. Without a
    ``visibility`` filter, community images appear only to their owner.
    """
    if not caller.is_admin:
        own = caller.project_id is not None and image.owner == caller.project_id
        shared = (image.visibility == "shared" and membership is not None
                  and member_status in ("all", membership.status))
        if not (image.visibility in ("public", "community") or own or shared):
            return False
    if visibility is not None:
        return visibility == "all" or image.visibility == visibility
    if caller.project_id is None:
        return image.visibility != "community"
    return image.owner == caller.project_id or image.visibility != "community"


def _forbidden_action(action: str) -> WebobError:
    return WebobError(403, f"You are not authorized to complete {action} action.")


def check_visibility_change(caller: Caller, image_owner: str | None, visibility: str) -> None:
    """``publicize_image`` is for admins; ``communitize_image`` for the owning project."""
    if visibility == "public" and not caller.is_admin:
        raise _forbidden_action("publicize_image")
    if visibility == "community" and not (
            caller.is_admin or (caller.is_member and image_owner == caller.project_id)):
        raise _forbidden_action("communitize_image")


# -- creating --------------------------------------------------------------------------------

def _check_db_ints(values: dict) -> None:
    for key in ("min_disk", "min_ram"):
        value = values.get(key)
        if value and value > MAX_DB_INT:
            raise WebobError(400, f"'{key}' value out of range, must not exceed {MAX_DB_INT}.")


def _check_not_negative(key: str, value: Any) -> None:
    if value and value < 0:
        raise WebobError(400, f"Invalid value '{value}' for parameter '{key}': "
                              "Cannot be a negative value")


def _as_int(value: Any) -> Any:
    return int(value) if isinstance(value, float) else value


def new_image(body: Any, caller: Caller, now: dt.datetime) -> Image:
    """The image a ``POST /v2/images`` body describes, checked as Glance checks it."""
    if not isinstance(body, dict):
        # Glance itself crashes here (500); a client mistake gets the schema's answer.
        raise WebobError(400, f"Provided object does not match schema 'image': {body!r} is "
                              "not of type 'object'")
    for key in _DISALLOWED:
        if key in body:
            raise WebobError(403, f"Attribute '{key}' is read-only.")
    problem = schema_error(body)
    if problem:
        raise WebobError(400, problem)
    extra = dict(body)
    attrs = {key: extra.pop(key) for key in _CREATE_ATTRIBUTES if key in extra}
    tags = attrs.pop("tags", [])
    for key in extra:
        if len(key) > 255:
            raise WebobError(400, "Custom property should not be greater than 255 characters.")
        if key in _RESERVED or key.startswith(_RESERVED_PREFIX):
            raise WebobError(403, detail=f"Attribute '{key}' is reserved.")
    owner = attrs.get("owner", caller.project_id)
    if not (caller.is_admin or (caller.is_member and owner == caller.project_id)):
        if owner != caller.project_id:
            raise WebobError(403, detail=f"You are not permitted to create images owned by "
                                         f"'{owner}'")
        raise _forbidden_action("add_image")
    check_visibility_change(caller, owner, attrs.get("visibility", "private"))
    for key in _FACTORY_READ_ONLY:
        if key in attrs:
            raise WebobError(403, f"Attribute '{key}' is read-only.")
    for key in _FACTORY_RESERVED:
        if key in extra:
            raise WebobError(403, f"Attribute '{key}' is reserved.")
    for key in ("min_disk", "min_ram"):
        attrs[key] = _as_int(attrs.get(key, 0))
        _check_not_negative(key, attrs[key])
    _check_db_ints(attrs)
    return Image(id=attrs.get("id") or new_id(), owner=owner, created_at=now, updated_at=now,
                 name=attrs.get("name"), visibility=attrs.get("visibility", "shared"),
                 protected=attrs.get("protected", False),
                 os_hidden=attrs.get("os_hidden", False), min_disk=attrs["min_disk"],
                 min_ram=attrs["min_ram"], disk_format=attrs.get("disk_format"),
                 container_format=attrs.get("container_format"),
                 tags=list(dict.fromkeys(tags)), properties=extra)


# -- listing ---------------------------------------------------------------------------------

SORT_KEYS = ("name", "status", "container_format", "disk_format", "size", "id", "created_at",
             "updated_at")


@dataclass
class ListQuery:
    """A parsed ``GET /v2/images``: what to show, in which order, from where."""

    filters: dict[str, str]
    tags: list[str]
    member_status: str
    visibility: str | None
    os_hidden: bool
    protected: bool | None
    marker: str | None
    limit: int
    sort: list[tuple[str, str]]


def _pop(params: list[tuple[str, str]], key: str, default: Any = None) -> Any:
    """webob's ``MultiDict.pop``: remove and return the first value of ``key``."""
    for i, (k, v) in enumerate(params):
        if k == key:
            del params[i]
            return v
    return default


def _pop_all(params: list[tuple[str, str]], key: str) -> list[str]:
    values = []
    while (value := _pop(params, key)) is not None:
        values.append(value)
    return values


def _last(params: list[tuple[str, str]], key: str) -> str | None:
    values = [v for k, v in params if k == key]
    return values[-1] if values else None


def _sort_key(key: str) -> str:
    if key not in SORT_KEYS:
        raise WebobError(400, f"Invalid sort key: {key}. It must be one of the following: "
                              f"{', '.join(SORT_KEYS)}.")
    return key


def _sort_dir(direction: str) -> str:
    if direction not in ("asc", "desc"):
        raise WebobError(400, f"Invalid sort direction: {direction}")
    return direction


def _sorting(params: list[tuple[str, str]]) -> tuple[list[str], list[str]]:
    """``sort=key:dir,...`` or repeated ``sort_key``/``sort_dir``, validated."""
    keys: list[str] = []
    dirs: list[str] = []
    if any(k == "sort" for k, _ in params):
        if any(k in ("sort_key", "sort_dir") for k, _ in params):
            raise WebobError(400, "Old and new sorting syntax cannot be combined")
        for part in _pop(params, "sort").strip().split(","):
            key, _, direction = part.partition(":")
            keys.append(_sort_key(key.strip()))
            dirs.append(_sort_dir((direction or "desc").strip()))
    else:
        keys = [_sort_key(v.strip()) for v in _pop_all(params, "sort_key")]
        dirs = [_sort_dir(v.strip()) for v in _pop_all(params, "sort_dir")]
        if len(dirs) > 1 and len(dirs) != len(keys):
            raise WebobError(400, "Number of sort dirs does not match the number of sort keys")
    return keys or ["created_at"], dirs or ["desc"]


def full_sort(keys: Sequence[str], dirs: Sequence[str]) -> list[tuple[str, str]]:
    """Glance's database order: the keys asked for, then created_at and id for stability."""
    keys, dirs = list(keys), list(dirs)
    default = dirs[0] if len(dirs) == 1 else "desc"
    if len(dirs) == 1:
        dirs = dirs * len(keys)
    for key in ("created_at", "id"):
        if key not in keys:
            keys.append(key)
            dirs.append(default)
    return list(zip(keys, dirs))


def parse_list_query(pairs: Iterable[tuple[str, str]]) -> ListQuery:
    """The query string of ``GET /v2/images``, checked in the order Glance checks it."""
    params = list(pairs)
    limit = _pop(params, "limit")
    marker = _pop(params, "marker")
    member_status = _pop(params, "member_status", "accepted")
    tags = [t.strip() for t in _pop_all(params, "tag")]
    visibility = _last(params, "visibility")
    if visibility and visibility not in ("community", "public", "private", "shared", "all"):
        raise WebobError(400, f"Invalid visibility value: {visibility}")
    if _last(params, "changes-since"):
        raise WebobError(400, 'The "changes-since" filter is no longer available on v2.')
    if member_status not in ("pending", "accepted", "rejected", "all"):
        raise WebobError(400, f"Invalid status: {member_status}")
    if limit is not None:
        try:
            limit = int(limit)
        except ValueError:
            raise WebobError(400, "limit param must be an integer") from None
        if limit < 0:
            raise WebobError(400, "limit param must be positive")
    keys, dirs = _sorting(params)
    filters: dict[str, str] = {}
    for key, value in params:  # dict(MultiDict): a repeated key keeps its last value
        filters[key] = value
    filters.pop("visibility", None)
    hidden = filters.pop("os_hidden", "false").lower()
    if hidden not in ("true", "false"):
        raise WebobError(400, f"Invalid value '{hidden}' for 'os_hidden' filter. Valid values "
                              "are 'true' or 'false'.")
    protected = filters.pop("protected", None)
    if protected is not None and protected not in ("true", "false"):
        raise WebobError(400, f"Invalid value '{protected}' for 'protected' filter. Valid "
                              "values are 'true' or 'false'.")
    return ListQuery(filters=filters, tags=tags, member_status=member_status,
                     visibility=visibility or None, os_hidden=hidden == "true",
                     protected=None if protected is None else protected == "true",
                     marker=marker, limit=min(LIMIT_MAX, LIMIT_DEFAULT if limit is None else limit),
                     sort=full_sort(keys, dirs))


def split_filter_op(expression: str) -> tuple[str, str]:
    """``gte:2024-01-01T00:00:00Z`` → (gte, time); a bare ISO time keeps its colons."""
    left, sep, right = expression.partition(":")
    if not sep:
        return "eq", left
    try:
        parse_time(expression)
        return "eq", expression
    except ValueError:
        return left, right


def _check_quotes(value: str) -> None:
    opened = False
    for i, char in enumerate(value):
        if char != '"' or (i and value[i - 1] == "\\"):
            continue
        if not opened and i and value[i - 1] != ",":
            raise WebobError(400, f"Invalid filter value {value}. There is no comma before "
                                  "opening quotation mark.")
        if opened and i + 1 != len(value) and value[i + 1] != ",":
            raise WebobError(400, f"Invalid filter value {value}. There is no comma after "
                                  "closing quotation mark.")
        opened = not opened
    if opened:
        raise WebobError(400, f"Invalid filter value {value}. The quote is not closed.")


_IN_VALUE = re.compile(r'"([^"\\]*(?:\\.[^"\\]*)*)",?|([^,]+),?|,')


def split_in_values(value: str) -> list[str]:
    """The values of an ``in:`` filter: comma-separated, double quotes protect commas."""
    _check_quotes(value)
    return [quoted or plain for quoted, plain in _IN_VALUE.findall(value)]


_COMPARE = {"gt": lambda a, b: a > b, "gte": lambda a, b: a >= b, "lt": lambda a, b: a < b,
            "lte": lambda a, b: a <= b, "neq": lambda a, b: a != b, "eq": lambda a, b: a == b}


def _seconds(t: dt.datetime) -> dt.datetime:
    return t.replace(microsecond=0)  # the database keeps whole seconds


def image_filters(query: ListQuery) -> list[Callable[[Image], bool]]:
    """Predicates for the filters of a listing; bad filter values raise Glance's 400s."""
    preds: list[Callable[[Image], bool]] = [
        lambda i: i.os_hidden == query.os_hidden,
        lambda i: i.status != "killed" and i.status != "deleted"]
    if query.protected is not None:
        preds.append(lambda i: i.protected == query.protected)
    for tag in query.tags:
        preds.append(lambda i, t=tag: t in i.tags)
    for key, value in query.filters.items():
        if key.endswith(("_min", "_max")):
            column = key[:-4]
            try:
                bound = int(value)
            except ValueError:
                raise WebobError(400, "Unable to filter on a range with a non-numeric "
                                      "value.") from None
            if column not in _INT_COLUMNS:
                raise WebobError(400, "Unable to filter using the specified range.")
            above = key.endswith("_min")
            preds.append(lambda i, c=column, b=bound, up=above: getattr(i, c) is not None
                         and (getattr(i, c) >= b if up else getattr(i, c) <= b))
        elif key in ("created_at", "updated_at"):
            op, text = split_filter_op(value)
            try:
                when = _seconds(parse_time(text))
            except ValueError:
                raise WebobError(400, f'Bad "{key}" query filter format. Use ISO 8601 '
                                      'DateTime notation.') from None
            if op not in _COMPARE:
                raise WebobError(400, "Unable to filter on a unknown operator.")
            preds.append(lambda i, k=key, o=_COMPARE[op], w=when: o(_seconds(getattr(i, k)), w))
        elif key in ("name", "id", "status", "container_format", "disk_format"):
            op, text = split_filter_op(value)
            if op == "in":
                wanted = split_in_values(text)
                preds.append(lambda i, k=key, w=wanted: getattr(i, k) in w)
            elif op == "eq":
                preds.append(lambda i, k=key, w=text: getattr(i, k) == w)
            else:
                raise WebobError(400, f"Unable to filter by unknown operator '{op}'.")
        elif key in _COLUMNS:
            preds.append(lambda i, k=key, w=value: getattr(i, k) is not None
                         and str(getattr(i, k)) == w)
        else:  # any other key filters on a custom property
            preds.append(lambda i, k=key, w=value: i.properties.get(k) == w)
    return preds


def _order_value(image: Image, key: str) -> tuple:
    value = getattr(image, key)
    return (0,) if value is None else (1, value)  # NULL first, as in MySQL ascending


def sort_images(images: Iterable[Image], sort: Sequence[tuple[str, str]]) -> list[Image]:
    result = list(images)
    for key, direction in reversed(sort):  # stable: least significant key first
        result.sort(key=lambda i, k=key: _order_value(i, k), reverse=direction == "desc")
    return result


def comes_after(image: Image, marker: Image, sort: Sequence[tuple[str, str]]) -> bool:
    """Whether ``image`` sorts strictly after ``marker`` (Glance's marker criteria)."""
    for key, direction in sort:
        a, b = _order_value(image, key), _order_value(marker, key)
        if a != b:
            return a > b if direction == "asc" else a < b
    return False


def list_links(pairs: Iterable[tuple[str, str]], next_marker: str | None) -> dict:
    """``first`` and ``next`` as Glance builds them from the request's parameters.

    ``dict()`` of the request's parameters keeps one value per key (the last one), so a
    repeated ``sort_key`` or ``tag`` appears once in these links, as with Glance.
    """
    params: dict[str, str] = {}
    for key, value in pairs:
        params[key] = value
    params.pop("marker", None)
    query = urlencode(params)
    links = {"first": "/v2/images" + (f"?{query}" if query else "")}
    if next_marker is not None:
        params["marker"] = next_marker
        links["next"] = f"/v2/images?{urlencode(params)}"
    return links


# -- JSON patch ------------------------------------------------------------------------------

PATCH_TYPES = {"application/openstack-images-v2.0-json-patch": 4,
               "application/openstack-images-v2.1-json-patch": 10}
_OPERATIONS = ("add", "remove", "replace")
_PATH_DEPTH = {"locations": {"add": 2, "remove": 2, "replace": 1}}


@dataclass(frozen=True)
class Change:
    op: str
    path: tuple[str, ...]
    value: Any = None
    draft: int = 10


def _pointer(pointer: Any) -> tuple[str, ...]:
    """Decode a JSON pointer, accepting only the forms Glance accepts."""
    if not isinstance(pointer, str) or not pointer.startswith("/"):
        raise WebobError(400, f'Pointer `{pointer}` does not start with "/".')
    if re.search(r"/\s*?/", pointer[1:]):
        raise WebobError(400, f'Pointer `{pointer}` contains adjacent "/".')
    if len(pointer) > 1 and pointer.endswith("/"):
        raise WebobError(400, f'Pointer `{pointer}` end with "/".')
    if pointer[1:].strip() == "/":
        raise WebobError(400, f"Pointer `{pointer}` does not contains valid token.")
    if re.search("~[^01]", pointer) or pointer.endswith("~"):
        raise WebobError(400, f'Pointer `{pointer}` contains "~" not part of a recognized '
                              'escape sequence.')
    return tuple(part.replace("~1", "/").replace("~0", "~").strip()
                 for part in pointer.lstrip("/").split("/"))


def _operation(raw: dict, draft: int) -> tuple[str, Any]:
    if draft == 10:
        op = raw.get("op")
        choices = ", ".join(_OPERATIONS)
        if op is None:
            raise WebobError(400, "Unable to find `op` in JSON Schema change. It must be one "
                                  f"of the following: {choices}.")
        if op not in _OPERATIONS:
            raise WebobError(400, f"Invalid operation: `{op}`. It must be one of the "
                                  f"following: {choices}.")
        if "path" not in raw:
            raise WebobError(400, "Unable to find 'path' in JSON Schema change")
        return op, raw["path"]
    present = [key for key in _OPERATIONS if key in raw]
    if len(present) > 1:
        raise WebobError(400, 'Operation objects must contain only one member named "add", '
                              '"remove", or "replace".')
    if not present:
        raise WebobError(400, 'Operation objects must contain exactly one member named '
                              '"add", "remove", or "replace".')
    return present[0], raw[present[0]]


def parse_patch(content_type: str | None, body: Any) -> list[Change]:
    """The changes of a ``PATCH /v2/images/{id}`` body; ``body`` is the decoded JSON."""
    draft = PATCH_TYPES[content_type]  # the caller has checked the media type
    if not isinstance(body, list):
        raise WebobError(400, "Request body must be a JSON array of operation objects.")
    changes = []
    for raw in body:
        if not isinstance(raw, dict):
            raise WebobError(400, "Operations must be JSON objects.")
        op, pointer = _operation(raw, draft)
        path = _pointer(pointer)
        if len(path) != _PATH_DEPTH.get(path[0], {}).get(op, 1):
            raise WebobError(400, f"Invalid JSON pointer for this resource: '/{'/'.join(path)}'")
        if op != "remove" and "value" not in raw:
            raise WebobError(400, f'Operation "{op}" requires a member named "value".')
        change = Change(op, path, raw.get("value"), draft)
        _check_change(change)
        changes.append(change)
    return changes


def _check_change(change: Change) -> None:
    root = change.path[0]
    if root in _READ_ONLY:
        raise WebobError(403, f"Attribute '{root}' is read-only.")
    if root in _RESERVED or root.startswith(_RESERVED_PREFIX):
        raise WebobError(403, f"Attribute '{root}' is reserved.")
    if change.op == "remove":
        return
    partial = None
    if len(change.path) == 1:
        partial = {root: change.value}
    elif IMAGE_PROPERTIES.get(root, {}).get("type") == "array":
        partial = {root: [change.value]}
    problem = partial is not None and schema_error(partial)
    if problem:
        raise WebobError(400, problem)


def _set(image: Image, key: str, value: Any) -> None:
    """Set an attribute with the checks of Glance's domain model."""
    if key in ("disk_format", "container_format") and image.status not in ("queued",
                                                                          "importing"):
        raise WebobError(403, f"Attribute {key} can be only replaced for a queued image.")
    if key in ("min_disk", "min_ram"):
        value = _as_int(value)
        _check_not_negative(key, value)
    if key == "tags":
        value = list(dict.fromkeys(value))
    setattr(image, key, value)


def _may_change(caller: Caller, image: Image, key: str, value: Any = None) -> None:
    if key == "visibility":
        check_visibility_change(caller, image.owner, value)
    if not owns(caller, image):
        raise _forbidden_action("modify_image")


def apply_changes(image: Image, changes: Sequence[Change], caller: Caller,
                  now: dt.datetime) -> Image:
    """A changed copy of the image; any refused change leaves the image as it was."""
    new = copy.deepcopy(image)
    for change in changes:
        root = change.path[0]
        if root == "locations":
            _location_change(change, caller, new)
        elif change.op == "replace":
            if root == "owner" and not caller.is_admin:
                raise WebobError(403, detail="Owner can't be updated by non admin.")
            _may_change(caller, new, root, change.value)
            if root in SETTABLE:
                _set(new, root, change.value)
            elif root in new.properties:
                new.properties[root] = change.value
            else:
                raise WebobError(409, detail=f"Property {root} does not exist.")
        elif change.op == "add":
            _may_change(caller, new, root, change.value)
            if change.draft == 4 and (root in SETTABLE or root in new.properties):
                raise WebobError(409, detail=f"Property {root} already present.")
            if root in SETTABLE:
                _set(new, root, change.value)
            else:
                new.properties[root] = change.value
        else:
            _may_change(caller, new, root)
            if root in SETTABLE:
                raise WebobError(403, detail=f"Property {root} may not be removed.")
            if root not in new.properties:
                raise WebobError(409, detail=f"Property {root} does not exist.")
            del new.properties[root]
    _check_db_ints({"min_disk": new.min_disk, "min_ram": new.min_ram})
    if changes:
        new.updated_at = now
    return new


def _location_change(change: Change, caller: Caller, image: Image) -> None:
    """Locations are hidden (``show_multiple_locations = False``): every change is refused."""
    if change.op == "replace" and not change.value:
        raise WebobError(403, detail="Cannot set locations to empty list.")
    if change.op == "remove" and not caller.is_admin:
        raise _forbidden_action("delete_image_location")
    if not owns(caller, image):
        raise _forbidden_action("set_image_location")
    verb = {"replace": "update", "add": "add", "remove": "remove"}[change.op]
    raise WebobError(403, f"It's not allowed to {verb} locations if locations are invisible.")


# -- image data ------------------------------------------------------------------------------

# The formats Glance's format inspector recognises (the raw inspector matches anything).
INSPECTABLE = ("raw", "qcow2", "vhd", "vhdx", "vmdk", "vdi", "qed", "iso", "gpt", "luks")


def detect_format(head: bytes) -> tuple[str, int | None]:
    """The disk format the first bytes of an upload show, and its virtual size if known."""
    if head[:4] == b"QFI\xfb" and len(head) >= 32:
        return "qcow2", struct.unpack(">Q", head[24:32])[0]
    for magic, name in ((b"conectix", "vhd"), (b"vhdxfile", "vhdx"), (b"KDMV", "vmdk"),
                        (b"QED\x00", "qed"), (b"LUKS\xba\xbe", "luks")):
        if head.startswith(magic):
            return name, None
    if head[0x40:0x44] == b"\x7f\x10\xda\xbe":
        return "vdi", None
    if head[32 * 1024 + 1:32 * 1024 + 6] in (b"CD001", b"NSR02", b"NSR03"):
        return "iso", None
    return "raw", None


def check_format(disk_format: str | None, container_format: str | None, head: bytes,
                 size: int) -> tuple[int | None, str | None]:
    """(virtual size, error) for uploaded data, as Glance's in-flight inspection decides.

    Only ``bare`` containers are inspected. Data must be what ``disk_format`` says, except
    that anything may be called ``raw`` and that formats Glance cannot inspect (ami...)
    accept data that looks raw.
    """
    if container_format != "bare":
        return None, None
    found, virtual = detect_format(head)
    if found == "qcow2" and struct.unpack(">Q", head[8:16])[0]:
        return None, "Image failed safety checks"  # a backing file could read host files
    if found == disk_format:
        return (size if found == "raw" else virtual) or None, None
    if found == "raw" and disk_format not in INSPECTABLE:
        return None, None
    if disk_format == "raw":
        return size or None, None
    return None, f"Image disk_format {disk_format} does not match stream data {found}"


def parse_range(header: str, size: int) -> tuple[int, int]:
    """(offset, length) to send for a ``Range`` header, with Glance's errors."""
    if "," in header:
        raise WebobError(400, "Requests with multiple ranges are not supported in Glance. You "
                              "may make multiple single-range requests instead.")
    match = re.fullmatch(r"bytes *= *(\d*) *- *(\d*)", header.strip())
    if match is None or not (match.group(1) or match.group(2)):
        raise WebobError(416, detail="Invalid Range header.")
    first, last = match.groups()
    if not first:  # the last N bytes
        start, end = -int(last), None
    else:
        start, end = int(first), int(last) + 1 if last else None
        if end is not None and start >= end:
            raise WebobError(416, detail="Invalid Range header.")
    if start >= size:
        raise WebobError(416, detail="Invalid start position in Range header. Start position "
                                     f"MUST be in the inclusive range [0, {size - 1}].")
    offset = start if start >= 0 else (size + start if -start < size else 0)
    if end is not None and end < size:
        return offset, end - offset
    return offset, size - offset


def _write_chunk(handle, hashers: Sequence, data: bytes | bytearray) -> None:
    handle.write(data)
    for hasher in hashers:
        hasher.update(data)


def _mimetype(content_type: str | None) -> str | None:
    return content_type.split(";", 1)[0].strip() if content_type is not None else None


def _has_body(request: web.Request) -> bool:
    """Glance's ``has_body``: a length above zero, or a body-carrying method with chunks."""
    encoding = request.headers.get("Transfer-Encoding", "").lower()
    if encoding in ("chunked", "compress", "deflate", "gzip", "identity") and \
            request.method in ("POST", "PUT", "PATCH"):
        return True
    return bool(request.content_length)


def _reject_body(request: web.Request) -> None:
    if _has_body(request):
        raise WebobError(400, "A body is not expected with this request.")


async def _json_body(request: web.Request) -> Any:
    """The request body as JSON, with the errors of Glance's JSON deserializer."""
    if not _has_body(request):
        raise WebobError(400, "Body expected in request.")
    raw = await request.read()
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):
        raise WebobError(400, "Malformed JSON in request body.") from None
    if not isinstance(data, (dict, list)):
        raise WebobError(400, "Unexpected body type. Expected list/dict.")
    return data


def _caller(request: web.Request) -> Caller:
    return Caller.from_token(request[TOKEN])


# -- the service -----------------------------------------------------------------------------

class GlanceService(SimService):
    name: ClassVar[str] = "glance"
    service_type: ClassVar[str] = "image"
    catalog_path: ClassVar[str] = ""  # Glance is registered with its unversioned URL
    render_error = render_glance_error
    keystone_401 = False  # delay_auth_decision: Glance's context middleware answers WebOb's 401

    def __init__(self, cloud) -> None:
        super().__init__(cloud)
        self.images: dict[str, Image] = {}
        self.members: dict[str, dict[str, Member]] = {}
        self._ids: set[str] = set()  # deleted images keep their id, as in Glance's database
        self.data_dir = os.path.join(cloud.data_dir, "glance")

    async def on_start(self) -> None:
        os.makedirs(self.data_dir, exist_ok=True)

    def routes(self) -> list[web.AbstractRouteDef]:
        routes = [web.route("*", "/{path:%s}" % NOT_V2, self.versions)]
        for prefix in ("/v2", "/{version:%s}" % V2_ALIAS):
            routes.append(web.route("*", prefix, self.v2_root))
            for path, allowed, handlers in (
                    ("/images", "GET, POST", {"GET": self.list_images, "POST": self.create}),
                    ("/images/{image_id}", "GET, PATCH, DELETE",
                     {"GET": self.show, "PATCH": self.update, "DELETE": self.delete}),
                    ("/images/{image_id}/actions/deactivate", "POST", {"POST": self.deactivate}),
                    ("/images/{image_id}/actions/reactivate", "POST", {"POST": self.reactivate}),
                    ("/images/{image_id}/file", "GET, PUT",
                     {"GET": self.download, "PUT": self.upload}),
                    ("/images/{image_id}/tags/{tag_value}", "PUT, DELETE",
                     {"PUT": self.add_tag, "DELETE": self.delete_tag}),
                    ("/images/{image_id}/members", "GET, POST",
                     {"GET": self.list_members, "POST": self.add_member}),
                    ("/images/{image_id}/members/{member_id}", "GET, PUT, DELETE",
                     {"GET": self.show_member, "PUT": self.update_member,
                      "DELETE": self.delete_member}),
                    ("/schemas/image", "GET", {"GET": self._schema_route(image_schema)}),
                    ("/schemas/images", "GET", {"GET": self._schema_route(images_schema)}),
                    ("/schemas/member", "GET", {"GET": self._schema_route(member_schema)}),
                    ("/schemas/members", "GET", {"GET": self._schema_route(members_schema)})):
                for method, handler in handlers.items():
                    routes.append(web.route(method, prefix + path, handler))
                routes.append(web.route("*", prefix + path, _reject(allowed)))
        return routes

    # -- helpers ----------------------------------------------------------------------------

    def _membership(self, image: Image, caller: Caller) -> Member | None:
        return self.members.get(image.id, {}).get(caller.project_id or "")

    def _visible(self, caller: Caller, image_id: str) -> Image | None:
        image = self.images.get(image_id)
        if image is None or not can_see(caller, image, self._membership(image, caller)):
            return None
        return image

    def _image(self, request: web.Request, not_found: str | None = None) -> Image:
        """The image of the URL if the caller may see it, else 404 with ``not_found``."""
        image_id = request.match_info["image_id"]
        image = self._visible(_caller(request), image_id)
        if image is None:
            raise WebobError(404, (not_found or "No image found with ID %s") % image_id)
        return image

    def _notify(self, event_type: str, payload: Any, priority: str = "INFO") -> None:
        self.cloud.notifier.emit(EXCHANGE, event_type, payload, service=PUBLISHER,
                                 priority=priority)

    def _save(self, image: Image) -> None:
        image.updated_at = utcnow()
        self._notify("image.update", image_payload(image))

    def _data_file(self, image_id: str) -> str:
        return os.path.join(self.data_dir, image_id)

    def _restore(self, image: Image) -> None:
        """Back to ``queued`` after a failed upload, so that it can be retried."""
        if self.images.get(image.id) is image and image.status == "saving":
            image.status = "queued"
            image.size = image.virtual_size = None
            self._save(image)

    # -- versions ---------------------------------------------------------------------------

    @public
    async def versions(self, request: web.Request) -> web.Response:
        explicit = request.match_info["path"].split("/", 1)[0] == "versions"
        return json_response(versions_document(f"{request.scheme}://{request.host}"),
                             status=200 if explicit else 300)

    async def v2_root(self, request: web.Request) -> web.Response:
        # Glance's router redirects the empty path to "/", where no route matches.
        location = f"{request.scheme}://{request.host}{request.path}/"
        return web.Response(status=302, headers={"Location": location,
                                                 "Content-Type": "text/plain; charset=utf8"})

    def _schema_route(self, make: Callable[[], dict]):
        async def handler(request: web.Request) -> web.Response:
            return json_response(make())
        return handler

    # -- images -----------------------------------------------------------------------------

    async def create(self, request: web.Request) -> web.Response:
        caller = _caller(request)
        image = new_image(await _json_body(request), caller, utcnow())
        if image.id in self._ids:
            raise WebobError(409, f"Image ID {image.id} already exists!")
        self._ids.add(image.id)
        self.images[image.id] = image
        self._notify("image.create", image_payload(image))
        return json_response(image_view(image), status=201, headers={
            "Location": f"{request.scheme}://{request.host}/v2/images/{image.id}"})

    async def list_images(self, request: web.Request) -> web.Response:
        caller = _caller(request)
        if not caller.is_reader:
            raise _forbidden_action("get_images")
        pairs = list(request.query.items())
        query = parse_list_query(pairs)
        preds = image_filters(query)
        candidates = [
            image for image in self.images.values()
            if in_listing(caller, image, self._membership(image, caller), query.visibility,
                          query.member_status) and all(p(image) for p in preds)]
        ordered = sort_images(candidates, query.sort)
        if query.marker is not None:
            marker = self.images.get(query.marker)
            if marker is None:
                raise WebobError(400, f"No image found with ID {query.marker}")
            if not can_see(caller, marker, self._membership(marker, caller)):
                raise WebobError(403, f"Forbidding request, image {query.marker} not visible")
            ordered = [i for i in ordered if comes_after(i, marker, query.sort)]
        page = ordered[:query.limit]
        next_marker = page[-1].id if page and len(page) == query.limit else None
        body = {"images": [image_view(i) for i in page]}
        links = list_links(pairs, next_marker)
        body["first"] = links["first"]
        body["schema"] = "/v2/schemas/images"
        if "next" in links:
            body["next"] = links["next"]
        return json_response(body)

    async def show(self, request: web.Request) -> web.Response:
        _reject_body(request)
        return json_response(image_view(self._image(request)))

    async def update(self, request: web.Request) -> web.Response:
        mimetype = _mimetype(request.headers.get("Content-Type"))
        if mimetype not in PATCH_TYPES:
            allowed = ", ".join(sorted(PATCH_TYPES))
            raise WebobError(415, detail=f"Image PATCH expects Content-Type one of: {allowed}",
                             headers={"Accept-Patch": allowed})
        changes = parse_patch(mimetype, await _json_body(request))
        caller = _caller(request)
        image = self._image(request)
        updated = apply_changes(image, changes, caller, utcnow())
        if changes:
            vars(image).update(vars(updated))  # in place: an upload in progress holds it
            self._notify("image.update", image_payload(image))
        return json_response(image_view(image))

    async def delete(self, request: web.Request) -> web.Response:
        _reject_body(request)
        caller = _caller(request)
        image = self._image(request, "Failed to find image %s to delete")
        if not owns(caller, image):
            raise _forbidden_action("delete_image")
        if image.protected:
            raise WebobError(403, f"Image {image.id} is protected and cannot be deleted.")
        image.status = "deleted"
        del self.images[image.id]
        self.members.pop(image.id, None)
        if image.data_path:
            _remove(image.data_path)
        self._notify("image.delete", {**image_payload(image), "deleted": True,
                                      "deleted_at": iso_z(utcnow())})
        return web.Response(status=204)

    async def deactivate(self, request: web.Request) -> web.Response:
        return self._switch(request, "deactivate", "active", "deactivated")

    async def reactivate(self, request: web.Request) -> web.Response:
        return self._switch(request, "reactivate", "deactivated", "active")

    def _switch(self, request: web.Request, action: str, source: str,
                target: str) -> web.Response:
        _reject_body(request)
        image = self._image(request)
        if not owns(_caller(request), image):
            raise _forbidden_action(action)
        if image.status == source:
            image.status = target
            self._save(image)
        elif image.status != target:
            raise WebobError(403, f"Not allowed to {action} image in status '{image.status}'")
        return web.Response(status=204)

    # -- tags -------------------------------------------------------------------------------

    async def add_tag(self, request: web.Request) -> web.Response:
        _reject_body(request)
        tag = request.match_info["tag_value"]
        problem = schema_error({"tags": [tag]})
        if problem:
            raise WebobError(400, problem)
        image = self._image(request, "Image %s not found.")
        if not owns(_caller(request), image):
            raise _forbidden_action("modify_image")
        if tag not in image.tags:
            image.tags.append(tag)
        self._save(image)
        return web.Response(status=204)

    async def delete_tag(self, request: web.Request) -> web.Response:
        _reject_body(request)
        image = self._image(request, "Image %s not found.")
        if not owns(_caller(request), image):
            raise _forbidden_action("modify_image")
        tag = request.match_info["tag_value"]
        if tag not in image.tags:
            raise WebobError(404)
        image.tags.remove(tag)
        self._save(image)
        return web.Response(status=204)

    # -- data -------------------------------------------------------------------------------

    async def upload(self, request: web.Request) -> web.Response:
        """``PUT /v2/images/{id}/file``: stream the body to a file, hashing it on the way."""
        mimetype = _mimetype(request.headers.get("Content-Type"))
        if mimetype != "application/octet-stream":
            raise WebobError(415, detail=f"Invalid content type {mimetype}")
        size_header = request.headers.get("X-OpenStack-Image-Size")
        if size_header is not None:
            try:
                int(size_header)
            except ValueError:
                raise WebobError(400, "Invalid or missing image size in request "
                                      "headers.") from None
        caller = _caller(request)
        image = self._image(request)
        if not owns(caller, image):
            raise _forbidden_action("upload_image")
        if image.status != "queued":
            raise WebobError(409, f"Image status transition from {image.status} to saving is "
                                  "not allowed")
        missing = [k for k in ("disk_format", "container_format") if not getattr(image, k)]
        if missing:
            noun = "Property" if len(missing) == 1 else "Properties"
            raise WebobError(400, f"{noun} {', '.join(missing)} must be set prior to saving "
                                  "data.")
        image.status = "saving"
        self._save(image)
        import_state = {"os_glance_importing_to_stores": [], "os_glance_failed_import": []}
        self._notify("image.prepare", {**image_payload(image), **import_state})
        part = self._data_file(image.id) + f".{new_id()}.part"
        try:
            size, md5, sha512, head = await self._receive(request, part)
        except BaseException:  # client gone, cancelled: the image can be uploaded again
            _remove(part)
            self._restore(image)
            raise
        if self.images.get(image.id) is not image or image.status != "saving":
            _remove(part)
            raise WebobError(410, f"Image {image.id} could not be found after upload. The "
                                  "image may have been deleted during the upload, cleaning up "
                                  "the chunks uploaded.")
        virtual_size, problem = check_format(image.disk_format, image.container_format, head,
                                             size)
        if problem:
            _remove(part)
            self._notify("image.upload", f"Failed to upload image data for image {image.id} "
                                         f"due to internal error: {problem}", "ERROR")
            self._restore(image)
            raise WebobError(415, detail=problem)
        image.data_path = self._data_file(image.id)
        os.replace(part, image.data_path)
        image.size, image.virtual_size = size, virtual_size
        image.checksum, image.os_hash_algo, image.os_hash_value = md5, HASH_ALGO, sha512
        image.status = "active"
        self._notify("image.upload", {**image_payload(image), **import_state})
        self._notify("image.activate", image_payload(image))
        self._save(image)
        return web.Response(status=204)

    async def _receive(self, request: web.Request, path: str) -> tuple[int, str, str, bytes]:
        """Write the request body to ``path`` in 1 MiB pieces; (size, md5, sha512, head).

        The body is read from the stream as it arrives (aiohttp's ``client_max_size`` limits
        only bodies read whole); file writes and hashing run in a worker thread.
        """
        loop = asyncio.get_running_loop()
        hashers = (hashlib.md5(usedforsecurity=False), hashlib.sha512())
        head = bytearray()
        size = 0
        handle = await loop.run_in_executor(None, open, path, "wb")
        try:
            pending = bytearray()
            async for chunk in request.content.iter_any():
                if len(head) < HEAD_BYTES:
                    head += chunk[:HEAD_BYTES - len(head)]
                size += len(chunk)
                pending += chunk
                if len(pending) >= CHUNK:
                    batch, pending = pending, bytearray()
                    await loop.run_in_executor(None, _write_chunk, handle, hashers, batch)
            if pending:
                await loop.run_in_executor(None, _write_chunk, handle, hashers, pending)
        finally:
            await loop.run_in_executor(None, handle.close)
        return size, hashers[0].hexdigest(), hashers[1].hexdigest(), bytes(head)

    async def download(self, request: web.Request) -> web.StreamResponse:
        """``GET /v2/images/{id}/file``: the data, read back from its file in pieces."""
        _reject_body(request)
        caller = _caller(request)
        image = self._image(request)
        if image.status == "deactivated" and not caller.is_admin:
            raise WebobError(403, "The requested image has been deactivated. Image data "
                                  "download is forbidden.")
        if not caller.is_member:
            raise _forbidden_action("download_image")
        if image.data_path is None or image.size is None:
            return web.Response(status=204)  # Glance: no location, no content
        offset, length = 0, image.size
        response = web.StreamResponse(status=200)
        if "Range" in request.headers:
            offset, length = parse_range(request.headers["Range"], image.size)
            response.set_status(206)
            response.headers["Content-Range"] = (
                f"bytes {offset}-{offset + length - 1}/{image.size}")
        response.headers["Content-Type"] = "application/octet-stream"
        if image.checksum:
            response.headers["Content-MD5"] = image.checksum
        response.headers["X-OpenStack-Request-ID"] = request[REQUEST_ID]
        response.content_length = length
        sent = await self._send(request, response, image.data_path, offset, length)
        self._notify("image.send", {
            "bytes_sent": sent, "image_id": image.id, "owner_id": image.owner,
            "receiver_tenant_id": caller.project_id, "receiver_user_id": caller.user_id},
            "INFO" if sent == length else "ERROR")
        return response

    async def _send(self, request: web.Request, response: web.StreamResponse, path: str,
                    offset: int, length: int) -> int:
        loop = asyncio.get_running_loop()
        handle = await loop.run_in_executor(None, open, path, "rb")
        sent = 0
        try:
            await loop.run_in_executor(None, handle.seek, offset)
            await response.prepare(request)
            while sent < length:
                chunk = await loop.run_in_executor(None, handle.read, min(CHUNK, length - sent))
                if not chunk:
                    break
                await response.write(chunk)
                sent += len(chunk)
            await response.write_eof()
        finally:
            await loop.run_in_executor(None, handle.close)
        return sent

    # -- members ----------------------------------------------------------------------------

    def _shared_image(self, request: web.Request, refusal: str | None) -> Image:
        """The image of a members call; it must be shared (403 ``refusal``, or 404)."""
        image = self._image(request, "Image %s not found.")
        if image.visibility != "shared":
            if refusal is None:
                raise WebobError(404, "Only shared images have members.")
            raise WebobError(403, refusal % image.id)
        return image

    def _member(self, request: web.Request, image: Image) -> Member:
        member_id = request.match_info["member_id"]
        member = self._members_seen(_caller(request), image).get(member_id)
        if member is None:
            raise WebobError(404, f"{member_id} not found in the member list of the image "
                                  f"{image.id}.")
        return member

    def _members_seen(self, caller: Caller, image: Image) -> dict[str, Member]:
        """The owner (and an admin) sees every member; a member project only itself."""
        members = self.members.get(image.id, {})
        if caller.is_admin or image.owner == caller.project_id:
            return members
        return {k: m for k, m in members.items() if k == caller.project_id}

    async def add_member(self, request: web.Request) -> web.Response:
        body = await _json_body(request)
        if not isinstance(body, dict):
            raise WebobError(400, 'Expected a member in the form: {"member": "image_id"}')
        if "member" not in body:
            raise WebobError(400, "Member to be added not specified")
        member_id = body["member"]
        if not member_id:
            raise WebobError(400, "Member can't be empty")
        image = self._shared_image(request, "Not allowed to create members for image %s.")
        if not owns(_caller(request), image):
            raise _forbidden_action("add_member")
        if not isinstance(member_id, str) or len(member_id) > 255:
            raise WebobError(400, "Provided object does not match schema 'member': "
                                  f"{member_id!r} is not of type 'string'")
        members = self.members.setdefault(image.id, {})
        if member_id in members:
            raise WebobError(409, f"Member {member_id} is duplicated for image {image.id}")
        now = utcnow()
        member = members[member_id] = Member(image.id, member_id, now, now)
        self._notify("image.member.create", member_payload(member))
        return json_response(member_view(member))

    async def list_members(self, request: web.Request) -> web.Response:
        image = self._image(request, "Image %s not found.")
        if image.visibility != "shared":
            raise WebobError(403, f"Not allowed to list members for image {image.id}: Only "
                                  "shared images have members.")
        members = self._members_seen(_caller(request), image)
        return json_response({"members": [member_view(m) for m in members.values()],
                              "schema": "/v2/schemas/members"})

    async def show_member(self, request: web.Request) -> web.Response:
        _reject_body(request)
        image = self._shared_image(request, None)
        return json_response(member_view(self._member(request, image)))

    async def update_member(self, request: web.Request) -> web.Response:
        body = await _json_body(request)
        if not isinstance(body, dict):
            raise WebobError(400, 'Expected a status in the form: {"status": "status"}')
        if "status" not in body:
            raise WebobError(400, "Status not specified")
        caller = _caller(request)
        image = self._shared_image(request, "Not allowed to update members for image %s.")
        member = self._member(request, image)
        if not (caller.is_admin or (caller.is_member and member.member_id == caller.project_id)):
            raise _forbidden_action("modify_member")
        if body["status"] not in MEMBER_STATUSES:
            raise WebobError(400, 'Incorrect request: Status must be "pending", "accepted" or '
                                  '"rejected".')
        member.status = body["status"]
        member.updated_at = utcnow()
        self._notify("image.member.update", member_payload(member))
        return json_response(member_view(member))

    async def delete_member(self, request: web.Request) -> web.Response:
        _reject_body(request)
        image = self._shared_image(request, "Not allowed to delete members for image %s.")
        member = self._member(request, image)
        if not owns(_caller(request), image):
            raise _forbidden_action("delete_member")
        del self.members[image.id][member.member_id]
        self._notify("image.member.delete", {**member_payload(member), "deleted": True,
                                             "deleted_at": iso_z(utcnow())})
        return web.Response(status=204)


def _reject(allowed: str):
    """Glance's ``RejectMethodController``: 405 with the methods the resource has."""
    async def reject(request: web.Request) -> web.Response:
        raise WebobError(405, headers={"Allow": allowed})
    return reject


def _remove(path: str) -> None:
    try:
        os.remove(path)
    except FileNotFoundError:
        pass
