"""A simulated Cinder (block storage API v3) that real clients cannot tell from the real one.

What it speaks, as Cinder does:

- version documents at ``/`` (300) and ``/v3/`` (public), microversions through
  ``OpenStack-API-Version: volume 3.x`` (echoed back with ``Vary``; 406 outside 3.0-3.71);
- every route with and without the project id (``/v3/{project_id}/volumes`` and, since 3.67,
  ``/v3/volumes``); a project id that is not the token's is Cinder's "Malformed request url";
- volumes (create from nothing, a snapshot, a volume or a Glance image; list, detail, show,
  update, delete, metadata, summary, actions), snapshots, the v3 attachments API, volume types,
  availability zones and quota sets (an admin sets a project's; ``gigabytes`` is enforced);
- listings with Cinder's filters, ``sort``/``sort_key``/``sort_dir``, ``limit``/``marker``/
  ``offset``, ``with_count`` and ``*_links`` built the way Cinder builds them;
- Cinder's request validation and error bodies (``{"badRequest": {"code", "message"}}``);
- oslo notifications (exchange ``cinder``, publisher ``volume.<host>``) where Cinder sends them.

Work that Cinder's volume service does in the background (creating, deleting, extending) takes a
short delay here too (setting ``cinder.delay``, seconds, default 0.1). A volume made from an
image asks Glance for it with the caller's token: the Glance at setting ``cinder.glance_url``,
else the cloud's own.

Errors follow Cinder even where a client might expect otherwise: deleting a volume that is
attached or has snapshots is Cinder's 400 ``Invalid volume: ...``, not a 409.
"""
from __future__ import annotations

import ast
import asyncio
import datetime as dt
import json
import logging
import re
import unicodedata
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import aiohttp
from aiohttp import web

from .auth import TOKEN, Token, public
from .errors import SimError, bad_request, not_found, render_fault
from .paging import sort_items
from .service import SimService, is_unversioned, unversioned
from .wire import iso_micro, json_response, new_id, parse_time, request_id, utcnow

log = logging.getLogger(__name__)

MIN_VERSION = (3, 0)
MAX_VERSION = (3, 71)
VERSION_HEADER = "OpenStack-API-Version"
MAX_LIMIT = 1000                 # Cinder's osapi_max_limit
DB_MAX_INT = 0x7FFFFFFF
DEFAULT_AZ = "nova"
DEFAULT_TYPE = "__DEFAULT__"
JSON_TYPES = ("application/json", "application/vnd.openstack.volume+json")
GENERIC_400 = ("The server could not comply with the request since it is either malformed or "
               "otherwise incorrect.")
NOT_FOUND = "The resource could not be found."
GB = 1 << 30

# The microversion a request asked for, learnt before its handler runs.
VERSION_KEY = web.RequestKey("cinder_version", tuple)


def fmt_version(version: tuple[int, int]) -> str:
    return f"{version[0]}.{version[1]}"


def invalid_input(reason: str) -> SimError:
    return bad_request(f"Invalid input received: {reason}")


def invalid_volume(reason: str) -> SimError:
    return bad_request(f"Invalid volume: {reason}")


def or_str(items: Iterable[str]) -> str:
    """Cinder's ``build_or_str``."""
    return " or ".join(items)


# -- microversions -------------------------------------------------------------------------------

_VERSION_RE = re.compile(r"^([1-9]\d*)\.([1-9]\d*|0)$")


def requested_version(header: str | None) -> tuple[int, int]:
    """The version a request asks for in ``OpenStack-API-Version``; 3.0 when it asks none.

    Raises Cinder's 400 for a malformed value; the range is checked by the caller (406), which
    still echoes the requested version, as Cinder does.
    """
    if header is None:
        return MIN_VERSION
    for part in header.split(","):
        if "volume" in part:
            words = part.split()
            value = words[1] if len(words) == 2 else part.strip()
            break
    else:
        raise bad_request(GENERIC_400)
    if value == "latest":
        return MAX_VERSION
    match = _VERSION_RE.match(value)
    if not match:
        raise bad_request(f"API Version String {value} is of invalid format. Must be of format "
                          "MajorNum.MinorNum.")
    return int(match[1]), int(match[2])


def is_legacy_version(version: tuple[int, int]) -> bool:
    """Cinder's ``_is_legacy_endpoint``: a substring test on the version's text."""
    text = fmt_version(version)
    return "1.0" in text or "2.0" in text


def version_not_acceptable(version: tuple[int, int]) -> SimError:
    return SimError(406, f"Version {fmt_version(version)} is not supported by the API. Minimum "
                         f"is {fmt_version(MIN_VERSION)} and maximum is "
                         f"{fmt_version(MAX_VERSION)}.")


def version_document(base_url: str) -> dict:
    return {"id": "v3.0", "status": "CURRENT", "version": fmt_version(MAX_VERSION),
            "min_version": fmt_version(MIN_VERSION), "updated": "2023-08-31T00:00:00Z",
            "links": [{"rel": "describedby", "type": "text/html",
                       "href": "https://docs.openstack.org/"},
                      {"rel": "self", "href": base_url + "/v3/"}],
            "media-types": [{"base": "application/json",
                             "type": "application/vnd.openstack.volume+json;version=3"}]}


# Cinder's default quotas (its quota_* options) and the body an admin changes them with.
QUOTA_DEFAULTS = {"volumes": 10, "snapshots": 10, "gigabytes": 1000, "backups": 10,
                  "backup_gigabytes": 1000, "per_volume_gigabytes": -1, "groups": 10}
QUOTA_LIMIT = {"type": ["integer", "string"], "pattern": "^-?[0-9]+$", "minimum": -1,
               "maximum": 0x7FFFFFFF}


# -- request bodies: Cinder's JSON-schema validation, with jsonschema's messages -----------------

def is_uuid_like(value: Any) -> bool:
    """oslo's ``is_uuid_like``: any spelling ``uuid.UUID`` accepts, with or without dashes."""
    if not isinstance(value, str):
        return False
    try:
        parsed = uuid.UUID(value)
    except ValueError:
        return False
    bare = value.lower().replace("urn:", "").replace("uuid:", "").strip("{}").replace("-", "")
    return parsed.hex == bare


def _printable(text: str) -> bool:
    for char in text:
        category = unicodedata.category(char)
        if category.startswith("C") or (category.startswith("Z") and category != "Zs"):
            return False
    return True


_TYPES: dict[str, Callable[[Any], bool]] = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
}


def _as_number(value: Any) -> int | float | None:
    # Cinder's validator also holds strings such as "10" to minimum and maximum.
    for convert in (int, float):
        try:
            return convert(value)
        except (TypeError, ValueError, OverflowError):
            continue
    return None


def _same(a: Any, b: Any) -> bool:
    return type(a) is type(b) and a == b


@dataclass(frozen=True)
class SchemaError:
    path: tuple
    message: str
    instance: Any
    raw: bool = False   # a format check's own message, not wrapped in "Invalid input for ..."

    def detail(self) -> str:
        if self.raw or not self.path:
            return self.message
        return (f"Invalid input for field/attribute {self.path[-1]}. Value: {self.instance}. "
                f"{self.message}")


def _format_error(fmt: str, value: Any, path: tuple) -> SchemaError | None:
    if fmt == "uuid":
        if not is_uuid_like(value):
            return SchemaError(path, f"{value!r} is not a 'uuid'", value)
    elif fmt in ("name", "description") and isinstance(value, str) and value:
        length = len(value.strip())
        if length > 255:
            return SchemaError(path, f"Invalid input received: {fmt} has {length} characters, "
                                     "more than 255.", value, raw=True)
    elif fmt == "printable" and isinstance(value, str) and not _printable(value):
        return SchemaError(path, f"{value!r} does not match '^[printable characters]*$'", value)
    return None


def schema_errors(schema: Mapping, value: Any, path: tuple = ()) -> Iterator[SchemaError]:
    """The errors of ``value`` against ``schema``, in the order jsonschema finds them.

    Covers the JSON-schema subset Cinder's request schemas use.
    """
    props = schema.get("properties", {})
    for key, arg in schema.items():
        if key == "type":
            types = arg if isinstance(arg, list) else [arg]
            if not any(_TYPES[t](value) for t in types):
                yield SchemaError(path, f"{value!r} is not of type "
                                        f"{', '.join(repr(t) for t in types)}", value)
        elif key == "properties" and isinstance(value, dict):
            for name, sub in arg.items():
                if name in value:
                    yield from schema_errors(sub, value[name], path + (name,))
        elif key == "patternProperties" and isinstance(value, dict):
            for pattern, sub in arg.items():
                for name, item in value.items():
                    if isinstance(name, str) and re.search(pattern, name):
                        yield from schema_errors(sub, item, path + (name,))
        elif key == "required" and isinstance(value, dict):
            for name in arg:
                if name not in value:
                    yield SchemaError(path, f"{name!r} is a required property", value)
        elif key == "additionalProperties" and arg is False and isinstance(value, dict):
            patterns = list(schema.get("patternProperties", {}))
            extras = sorted((k for k in value if k not in props
                             and not any(re.search(p, k) for p in patterns)), key=str)
            if extras:
                verb = "was" if len(extras) == 1 else "were"
                yield SchemaError(path, "Additional properties are not allowed "
                                        f"({', '.join(repr(e) for e in extras)} {verb} "
                                        "unexpected)", value)
        elif key == "pattern" and isinstance(value, str) and not re.search(arg, value):
            yield SchemaError(path, f"{value!r} does not match {arg!r}", value)
        elif key in ("minimum", "maximum") and not isinstance(value, (dict, list)):
            number = _as_number(value)
            if number is not None and key == "minimum" and number < arg:
                yield SchemaError(path, f"{number!r} is less than the minimum of {arg!r}", value)
            if number is not None and key == "maximum" and number > arg:
                yield SchemaError(path, f"{number!r} is greater than the maximum of {arg!r}",
                                  value)
        elif key == "minLength" and isinstance(value, str) and len(value) < arg:
            yield SchemaError(path, f"{value!r} is too short", value)
        elif key == "maxLength" and isinstance(value, str) and len(value) > arg:
            yield SchemaError(path, f"{value!r} is too long", value)
        elif key == "minProperties" and isinstance(value, dict) and len(value) < arg:
            yield SchemaError(path, f"{value!r} does not have enough properties", value)
        elif key == "enum" and not any(_same(value, option) for option in arg):
            yield SchemaError(path, f"{value!r} is not one of {arg!r}", value)
        elif key in ("oneOf", "anyOf"):
            valid = [sub for sub in arg if next(schema_errors(sub, value, path), None) is None]
            if not valid:
                yield SchemaError(path, f"{value!r} is not valid under any of the given schemas",
                                  value)
        elif key == "format":
            error = _format_error(arg, value, path)
            if error is not None:
                yield error


def validate(schema: Mapping, body: Any) -> None:
    """Raise Cinder's 400 for the first thing wrong with ``body``."""
    error = next(schema_errors(schema, body), None)
    if error is not None:
        raise bad_request(error.detail())


_BOOL_STRINGS = [True, "True", "TRUE", "true", "1", "ON", "On", "on", "YES", "Yes", "yes", "y",
                 "t", False, "False", "FALSE", "false", "0", "OFF", "Off", "off", "NO", "No",
                 "no", "n", "f"]
_BOOLEAN = {"type": ["boolean", "string"], "enum": _BOOL_STRINGS}
_OPTIONAL_BOOLEAN = {"oneOf": [{"type": "null"}, _BOOLEAN]}
_UUID = {"type": "string", "format": "uuid"}
_OPTIONAL_UUID = {"oneOf": [{"type": "null"}, _UUID]}
_UUID_OR_NULL = {"oneOf": [_UUID, {"type": "null"}]}
_STRING_255_OR_NULL = {"type": ["string", "null"], "minLength": 0, "maxLength": 255}
_NAME = {"type": ["string", "null"], "format": "name"}
_DESCRIPTION = {"type": ["string", "null"], "format": "description"}
# The character class is Cinder's own, "9-_" range included.
_METADATA_KEY = "^[a-zA-Z0-9-_:. /]{1,255}$"
_METADATA = {"type": "object",
             "patternProperties": {_METADATA_KEY: {"type": "string", "maxLength": 255}},
             "additionalProperties": False}
_METADATA_OR_NULL = {**_METADATA, "type": ["object", "null"]}
_SIZE = {"type": ["integer", "string"], "pattern": "^[0-9]+$", "minimum": 1,
         "maximum": DB_MAX_INT}
_SIZE_OR_NULL = {**_SIZE, "type": ["integer", "string", "null"]}


def _wrapped(key: str, inner: Mapping, *, nullable: bool = False) -> dict:
    return {"type": "object",
            "properties": {key: {**inner, "type": ["object", "null"]} if nullable else inner},
            "required": [key], "additionalProperties": False}


def volume_create_schema(version: tuple[int, int]) -> dict:
    props: dict[str, Any] = {
        "name": _NAME, "description": _DESCRIPTION, "display_name": _NAME,
        "display_description": _DESCRIPTION, "volume_type": _STRING_255_OR_NULL,
        "metadata": _METADATA_OR_NULL, "snapshot_id": _OPTIONAL_UUID,
        "source_volid": _OPTIONAL_UUID, "consistencygroup_id": _OPTIONAL_UUID,
        "size": _SIZE_OR_NULL,
        "availability_zone": {"type": ["string", "null"], "minLength": 1, "maxLength": 255},
        "multiattach": _OPTIONAL_BOOLEAN, "image_id": _STRING_255_OR_NULL,
        "imageRef": _STRING_255_OR_NULL}
    if version >= (3, 13):
        props["group_id"] = _STRING_255_OR_NULL
    if version >= (3, 47):
        props["backup_id"] = _OPTIONAL_UUID
    volume = {"type": "object", "properties": props,
              "additionalProperties": version < (3, 53)}
    return {"type": "object",
            "properties": {"volume": volume,
                           "OS-SCH-HNT:scheduler_hints": {"type": ["object", "null"]}},
            "required": ["volume"], "additionalProperties": False}


def volume_update_schema(version: tuple[int, int]) -> dict:
    fields = ("name", "description", "display_name", "display_description", "metadata")
    volume: dict[str, Any] = {
        "type": "object",
        "properties": {"name": _NAME, "description": _DESCRIPTION, "display_name": _NAME,
                       "display_description": _DESCRIPTION, "metadata": _METADATA},
        "additionalProperties": False}
    if version >= (3, 53):
        volume["anyOf"] = [{"required": [f]} for f in fields]
    return _wrapped("volume", volume)


_SNAPSHOT_DESCRIPTION = {"type": ["string", "null"], "minLength": 0, "maxLength": 255,
                         "format": "printable"}
SNAPSHOT_CREATE = _wrapped("snapshot", {
    "type": "object",
    "properties": {"name": _STRING_255_OR_NULL, "display_name": _STRING_255_OR_NULL,
                   "description": _SNAPSHOT_DESCRIPTION, "volume_id": _UUID_OR_NULL,
                   "force": _BOOLEAN, "metadata": _METADATA_OR_NULL},
    "required": ["volume_id"], "additionalProperties": False})
SNAPSHOT_UPDATE = _wrapped("snapshot", {
    "type": "object",
    "properties": {"name": _STRING_255_OR_NULL, "description": _SNAPSHOT_DESCRIPTION,
                   "display_name": _STRING_255_OR_NULL,
                   "display_description": _SNAPSHOT_DESCRIPTION},
    "additionalProperties": False,
    "anyOf": [{"required": [f]} for f in ("name", "description", "display_name",
                                          "display_description")]})
METADATA_BODY = _wrapped("metadata", _METADATA)
QUOTA_UPDATE = {"type": "object",
                "properties": {"quota_set": {"type": "object",
                                             "patternProperties": {"^[a-zA-Z0-9-_:. ]{1,300}$":
                                                                   QUOTA_LIMIT}}},
                "required": ["quota_set"], "additionalProperties": False}
META_ITEM_BODY = _wrapped("meta", _METADATA)


def attachment_create_schema(version: tuple[int, int]) -> dict:
    props: dict[str, Any] = {"instance_uuid": _UUID, "connector": {"type": ["object", "null"]},
                             "volume_uuid": _UUID}
    if version >= (3, 54):
        props["mode"] = {"type": "string", "enum": ["rw", "ro"]}
    return _wrapped("attachment", {"type": "object", "properties": props,
                                   "required": ["instance_uuid", "volume_uuid"],
                                   "additionalProperties": False})


ATTACHMENT_UPDATE = _wrapped("attachment", {
    "type": "object", "properties": {"connector": {"type": "object", "minProperties": 1}},
    "required": ["connector"], "additionalProperties": False})

ACTION_SCHEMAS: dict[str, dict] = {
    "os-extend": _wrapped("os-extend", {"type": "object", "properties": {"new_size": _SIZE},
                                        "required": ["new_size"],
                                        "additionalProperties": False}),
    "os-attach": _wrapped("os-attach", {
        "type": "object",
        "properties": {"instance_uuid": _UUID,
                       "mountpoint": {"type": "string", "minLength": 1, "maxLength": 255},
                       "host_name": {"type": "string", "maxLength": 255},
                       "mode": {"type": "string", "enum": ["rw", "ro"]}},
        "required": ["mountpoint"],
        "anyOf": [{"required": ["instance_uuid"]}, {"required": ["host_name"]}],
        "additionalProperties": False}),
    "os-detach": _wrapped("os-detach", {"type": "object",
                                        "properties": {"attachment_id": _UUID_OR_NULL},
                                        "additionalProperties": False}, nullable=True),
    "os-set_bootable": _wrapped("os-set_bootable", {
        "type": "object", "properties": {"bootable": _BOOLEAN}, "required": ["bootable"],
        "additionalProperties": False}),
    "os-update_readonly_flag": _wrapped("os-update_readonly_flag", {
        "type": "object", "properties": {"readonly": _BOOLEAN}, "required": ["readonly"],
        "additionalProperties": False}),
    "os-initialize_connection": _wrapped("os-initialize_connection", {
        "type": "object", "properties": {"connector": {"type": ["object", "string"]}},
        "required": ["connector"], "additionalProperties": False}),
    "os-terminate_connection": _wrapped("os-terminate_connection", {
        "type": "object", "properties": {"connector": {"type": ["string", "object", "null"]}},
        "required": ["connector"], "additionalProperties": False}),
    "os-reset_status": _wrapped("os-reset_status", {
        "type": "object",
        "properties": {"status": {"type": ["string", "null"]},
                       "attach_status": {"type": ["string", "null"]},
                       "migration_status": {"type": ["string", "null"]}},
        "additionalProperties": False}),
}


_TRUE_STRINGS = ("1", "t", "true", "on", "y", "yes")
_FALSE_STRINGS = ("0", "f", "false", "off", "n", "no")


def bool_from_string(value: Any) -> bool:
    """oslo's strict ``bool_from_string`` for values that passed Cinder's boolean schema."""
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in _TRUE_STRINGS


def bool_param(name: str, value: Any) -> bool:
    """Cinder's ``get_bool_param``."""
    if str(value).lower() not in _TRUE_STRINGS + _FALSE_STRINGS:
        raise bad_request(f"Value '{value}' for '{name}' is not a boolean.")
    return str(value).lower() in _TRUE_STRINGS


def peek_action(content_type: str | None, raw: bytes) -> tuple[str, Any]:
    """The action named by a ``POST .../action`` body, and the body (Cinder's ``action_peek``)."""
    if content_type is None:
        raise bad_request("There is no such action: None. Verify the request body and "
                          "Content-Type header and try again.")
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError):
        raise bad_request("Malformed request body") from None
    try:
        if len(body) != 1:
            raise bad_request("Malformed request body")
        return next(iter(body.keys())), body
    except (AttributeError, TypeError):
        raise SimError(404, NOT_FOUND) from None


def no_such_action(name: str) -> SimError:
    return bad_request(f"There is no such action: {name}. Verify the request body and "
                       "Content-Type header and try again.")


# -- listings: pagination, sorting and filters as Cinder's API and database layer do them ---------

def pagination_params(params: dict[str, str]) -> tuple[str | None, int, int]:
    """Pop ``marker``, ``limit`` and ``offset`` (Cinder's ``get_pagination_params``)."""
    try:
        limit = int(params.pop("limit", MAX_LIMIT))
    except ValueError:
        raise bad_request("limit param must be an integer") from None
    if limit < 0:
        raise bad_request("limit param must be positive")
    marker = params.pop("marker", None)
    offset = params.pop("offset", 0)
    try:
        offset = int(offset)
    except (TypeError, ValueError):
        raise bad_request("offset must be an integer") from None
    if offset < 0:
        raise bad_request("offset must be >= 0")
    if offset > DB_MAX_INT:
        raise bad_request(f"offset must be <= {DB_MAX_INT}")
    return marker, min(limit, MAX_LIMIT), offset


def link_limit(query: Iterable[tuple[str, str]]) -> int:
    """The page size Cinder compares with the page when it decides on a ``next`` link."""
    limit = dict(query).get("limit")
    try:
        return min(int(limit), MAX_LIMIT) if limit is not None else MAX_LIMIT
    except ValueError:
        return MAX_LIMIT


def sort_params(params: dict[str, str]) -> tuple[list[str], list[str]]:
    """Pop ``sort`` or the legacy ``sort_key``/``sort_dir`` (Cinder's ``get_sort_params``)."""
    if "sort" in params and ("sort_key" in params or "sort_dir" in params):
        raise bad_request("The 'sort_key' and 'sort_dir' parameters are deprecated and cannot "
                          "be used with the 'sort' parameter.")
    keys, dirs = [], []
    if "sort" in params:
        for part in params.pop("sort").strip().split(","):
            key, _, direction = part.partition(":")
            keys.append(key.strip())
            dirs.append((direction or "desc").strip())
    else:
        keys.append(params.pop("sort_key", "created_at").strip())
        dirs.append(params.pop("sort_dir", "desc").strip())
    return keys, dirs


def full_sort(keys: list[str], dirs: list[str]) -> list[tuple[str, str]]:
    """Cinder's ``process_sort_params``: check the directions, add ``created_at`` and ``id``."""
    for direction in dirs:
        if direction not in ("asc", "desc"):
            raise invalid_input("Unknown sort direction, must be 'desc' or 'asc'.")
    if len(dirs) > len(keys):
        raise invalid_input("Sort direction array size exceeds sort key array size.")
    default = dirs[0] if dirs else "desc"
    dirs = dirs + [default] * (len(keys) - len(dirs))
    pairs = list(zip(keys, dirs))
    for key in ("created_at", "id"):
        if key not in keys:
            pairs.append((key, default))
    return pairs


def page_after(records: list[dict], sort: list[tuple[str, str]], marker: dict | None,
               offset: int, limit: int) -> list[dict]:
    """Keyset paging: the records that sort after the marker, then offset and limit."""
    if marker is not None and all(r["id"] != marker["id"] for r in records):
        records = [*records, marker]
    ordered = sort_items(records, sort)
    if marker is not None:
        ordered = ordered[[r["id"] for r in ordered].index(marker["id"]) + 1:]
    return ordered[offset:offset + limit]


_TIME_OPERATORS = {"gt": lambda a, b: a > b, "gte": lambda a, b: a >= b,
                   "eq": lambda a, b: a == b, "neq": lambda a, b: a != b,
                   "lt": lambda a, b: a < b, "lte": lambda a, b: a <= b}


@dataclass(frozen=True)
class TimeComparison:
    """A ``created_at``/``updated_at`` filter: every (operator, moment) must hold."""

    conditions: tuple[tuple[str, dt.datetime], ...]

    def holds(self, moment: dt.datetime | None) -> bool:
        return moment is not None and all(_TIME_OPERATORS[op](moment, when)
                                          for op, when in self.conditions)


def time_filter(value: str) -> TimeComparison:
    """``created_at=gt:2024-01-01T00:00:00,lt:...`` as Cinder parses it (3.60)."""
    conditions = {}
    for unit in value.split(","):
        operator, _, moment = unit.partition(":")
        if operator not in _TIME_OPERATORS:
            raise bad_request(f"Invalid {operator} operator")
        try:
            conditions[operator] = parse_time(moment)
        except ValueError:
            raise bad_request(f"Invalid {moment} value") from None
    return TimeComparison(tuple(conditions.items()))


@dataclass(frozen=True)
class Resource:
    """What Cinder's list filters may name for one kind of resource."""

    name: str
    user_filters: frozenset[str]         # resource_filters.json, 3.31 and later
    legacy_filters: frozenset[str]       # what non-admins may filter on before 3.31
    added_filters: tuple[tuple[tuple[int, int], str], ...]  # (last version without, filter)
    columns: frozenset[str]              # what the database can filter and sort on
    booleans: frozenset[str]


VOLUME = Resource(
    "volume",
    frozenset({"name", "status", "metadata", "bootable", "migration_status",
               "availability_zone", "group_id", "size", "created_at", "updated_at",
               "consumes_quota"}),
    frozenset({"name", "status", "metadata", "availability_zone", "bootable", "group_id",
               "glance_metadata"}),
    (((3, 3), "glance_metadata"), ((3, 9), "group_id"), ((3, 59), "created_at"),
     ((3, 59), "updated_at"), ((3, 64), "use_quota")),
    frozenset({"id", "display_name", "display_description", "size", "status", "attach_status",
               "availability_zone", "bootable", "created_at", "updated_at", "launched_at",
               "terminated_at", "project_id", "user_id", "volume_type_id", "snapshot_id",
               "source_volid", "multiattach", "host", "migration_status",
               "replication_status", "consistencygroup_id", "group_id", "provider_id",
               "encryption_key_id", "service_uuid", "shared_targets", "cluster_name",
               "use_quota", "previous_status", "deleted"}),
    frozenset({"bootable", "multiattach", "use_quota", "shared_targets", "deleted"}))

SNAPSHOT = Resource(
    "snapshot",
    frozenset({"name", "status", "volume_id", "metadata", "availability_zone",
               "consumes_quota"}),
    frozenset({"status", "volume_id", "name", "metadata"}),
    (((3, 21), "metadata"), ((3, 64), "use_quota")),
    frozenset({"id", "display_name", "display_description", "volume_id", "status",
               "progress", "volume_size", "project_id", "user_id", "created_at",
               "updated_at", "group_snapshot_id", "use_quota", "volume_type_id",
               "availability_zone", "deleted"}),
    frozenset({"use_quota", "deleted"}))


ATTACHMENT_COLUMNS = frozenset({
    "id", "volume_id", "instance_uuid", "attached_host", "mountpoint", "attach_time",
    "detach_time", "attach_mode", "attach_status", "created_at", "updated_at"})


def process_filters(params: dict[str, str], resource: Resource, *, is_admin: bool,
                    version: tuple[int, int]) -> dict[str, Any] | None:
    """The query parameters left after paging and sorting, as Cinder's database filters.

    Raises Cinder's 400 for filters a user may not use; returns None when a filter names no
    column, for which Cinder answers an empty list.
    """
    filters: dict[str, Any] = dict(params)
    filters.pop("all_tenants", None)
    if version >= (3, 31):
        if not is_admin:
            like = version >= (3, 34)
            invalid = [k for k in filters if k not in resource.user_filters
                       and not (like and f"{k}~" in resource.user_filters)]
            if invalid:
                raise bad_request(f"Invalid filters {','.join(invalid)} are found in query "
                                  "options.")
        for short, column in (("name~", "display_name~"), ("description~", "display_description~"),
                              ("consumes_quota", "use_quota")):
            if short in filters:
                filters[column] = filters.pop(short)
    else:
        for last_without, field in resource.added_filters:
            if version <= last_without:
                filters.pop(field, None)
        if not is_admin:
            filters = {k: v for k, v in filters.items() if k in resource.legacy_filters}
    if "name" in filters:
        filters["display_name"] = filters.pop("name")
    if "use_quota" in filters:
        filters["use_quota"] = bool_param("use_quota", filters["use_quota"])
    for key in ("created_at", "updated_at"):
        if key in filters and resource is VOLUME:
            filters[key] = time_filter(filters[key])
    for key, value in list(filters.items()):
        if key in resource.booleans and isinstance(value, str):
            filters[key] = _boolean_filter(key, value, strict=version >= (3, 2))
        elif key != "display_name" and isinstance(value, str):
            try:
                filters[key] = ast.literal_eval(value)
            except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
                pass
    for key, value in filters.items():
        if key in ("metadata", "glance_metadata"):
            if not isinstance(value, dict):
                return None
        elif key.rstrip("~") not in resource.columns:
            return None
    return filters


def _boolean_filter(key: str, value: str, strict: bool) -> bool:
    if strict:
        if value.strip().lower() not in _TRUE_STRINGS + _FALSE_STRINGS:
            raise invalid_input(f"'{key} = {value}'")
        return value.strip().lower() in _TRUE_STRINGS
    return value not in ("False", "false", "FALSE")


def _equal(value: Any, wanted: Any) -> bool:
    if value == wanted:
        return True
    return not isinstance(value, bool) and value is not None and str(value) == str(wanted)


def record_matches(record: dict, filters: Mapping[str, Any]) -> bool:
    """Whether a volume or snapshot record passes Cinder's database filters."""
    for key, wanted in filters.items():
        if key == "metadata":
            have = {**record.get("admin_metadata", {}), **record.get("metadata", {})}
            if any(k not in have or not _equal(have[k], v) for k, v in wanted.items()):
                return False
        elif key == "glance_metadata":
            have = record.get("image_metadata") or {}
            if any(k not in have or not _equal(have[k], v) for k, v in wanted.items()):
                return False
        elif key.endswith("~"):
            if str(wanted) not in str(record.get(key[:-1]) or ""):
                return False
        elif isinstance(wanted, TimeComparison):
            if not wanted.holds(record.get(key)):
                return False
        elif isinstance(wanted, (list, tuple, set, frozenset)):
            if not any(_equal(record.get(key), w) for w in wanted):
                return False
        elif not _equal(record.get(key), wanted):
            return False
    return True


# -- what Cinder puts on the wire -------------------------------------------------------------

@dataclass(frozen=True)
class Call:
    """What a handler needs to know about the request it answers."""

    token: Token
    version: tuple[int, int]
    prefix: str                        # http://host:port/v3, as the client reached us
    url_project: str                   # the project id in the URL, '' when it had none
    request_id: str
    query: tuple[tuple[str, str], ...]

    @property
    def is_admin(self) -> bool:
        return self.token.is_admin

    @property
    def project_id(self) -> str | None:
        return self.token.project_id

    def at_least(self, major: int, minor: int) -> bool:
        return self.version >= (major, minor)

    def link(self, *parts: str) -> str:
        return "/".join(p for p in (self.prefix, self.url_project, *parts) if p)

    def bookmark(self, *parts: str) -> str:
        root = self.prefix[: -len("/v3")] if self.prefix.endswith("/v3") else self.prefix
        return "/".join(p for p in (root, self.url_project, *parts) if p)

    def next_link(self, collection: str, marker: str) -> str:
        """Cinder keeps every query parameter and puts the new marker last."""
        params = [(k, v) for k, v in self.query if k != "marker"] + [("marker", marker)]
        return f"{self.link(collection)}?{urlencode(params)}"

    def collection_links(self, items: list[dict], collection: str,
                         count: int | None = None) -> list[dict]:
        """Cinder's ``_get_collection_links``: a ``next`` link whenever the page is full."""
        if items and link_limit(self.query) <= (count or len(items)):
            return [{"rel": "next", "href": self.next_link(collection, items[-1]["id"])}]
        return []


def _time(moment: dt.datetime | None) -> str | None:
    return iso_micro(moment) if moment else None


def volume_links(call: Call, volume_id: str) -> list[dict]:
    return [{"rel": "self", "href": call.link("volumes", volume_id)},
            {"rel": "bookmark", "href": call.bookmark("volumes", volume_id)}]


def volume_summary_view(call: Call, vol: dict) -> dict:
    return {"id": vol["id"], "name": vol["display_name"],
            "links": volume_links(call, vol["id"])}


def volume_attachments_view(vol: dict, attachments: Iterable[dict], is_admin: bool) -> list:
    return [{"id": vol["id"], "attachment_id": a["id"], "volume_id": vol["id"],
             "server_id": a["instance_uuid"],
             "host_name": a["attached_host"] if is_admin else None,
             "device": a["mountpoint"], "attached_at": _time(a["attach_time"])}
            for a in attachments if a["attach_status"] == "attached"]


def volume_detail_view(call: Call, vol: dict, attachments: Iterable[dict],
                       type_name: str | None) -> dict:
    """A volume as ``GET /volumes/{id}`` shows it at the caller's microversion and role."""
    admin = call.is_admin
    view: dict[str, Any] = {
        "id": vol["id"], "status": vol["status"], "size": vol["size"],
        "availability_zone": vol["availability_zone"], "created_at": _time(vol["created_at"]),
        "updated_at": _time(vol["updated_at"]), "name": vol["display_name"],
        "description": vol["display_description"], "volume_type": type_name,
        "snapshot_id": vol["snapshot_id"], "source_volid": vol["source_volid"],
        "metadata": dict(vol["metadata"]), "links": volume_links(call, vol["id"]),
        "user_id": vol["user_id"], "bootable": str(vol["bootable"]).lower(),
        "encrypted": vol["encryption_key_id"] is not None,
        "replication_status": vol["replication_status"],
        "consistencygroup_id": vol["consistencygroup_id"], "multiattach": vol["multiattach"],
        "attachments": volume_attachments_view(vol, attachments, admin),
        "os-vol-tenant-attr:tenant_id": vol["project_id"],
    }
    if admin:
        view["migration_status"] = vol["migration_status"]
        view["os-vol-host-attr:host"] = vol["host"]
        view["os-vol-mig-status-attr:migstat"] = vol["migration_status"]
        view["os-vol-mig-status-attr:name_id"] = None
    if vol["image_metadata"]:
        view["volume_image_metadata"] = dict(vol["image_metadata"])
    if call.at_least(3, 13):
        view["group_id"] = vol["group_id"]
    if admin and call.at_least(3, 21):
        view["provider_id"] = vol["provider_id"]
    if call.at_least(3, 48):
        view["shared_targets"] = vol["shared_targets"]
        view["service_uuid"] = vol["service_uuid"]
    if admin and call.at_least(3, 61):
        view["cluster_name"] = vol["cluster_name"]
    if call.at_least(3, 63):
        view["volume_type_id"] = vol["volume_type_id"]
    if call.at_least(3, 65):
        view["consumes_quota"] = vol["use_quota"]
    return view


def snapshot_view(call: Call, snap: dict, detail: bool) -> dict:
    view: dict[str, Any] = {
        "id": snap["id"], "created_at": _time(snap["created_at"]),
        "updated_at": _time(snap["updated_at"]), "name": snap["display_name"],
        "description": snap["display_description"], "volume_id": snap["volume_id"],
        "status": snap["status"], "size": snap["volume_size"],
        "metadata": dict(snap["metadata"])}
    if detail:
        view["os-extended-snapshot-attributes:progress"] = snap["progress"]
        view["os-extended-snapshot-attributes:project_id"] = snap["project_id"]
        if call.at_least(3, 14):
            view["group_snapshot_id"] = snap["group_snapshot_id"]
        if call.at_least(3, 41):
            view["user_id"] = snap["user_id"]
        if call.at_least(3, 65):
            view["consumes_quota"] = snap["use_quota"]
    return view


def attachment_view(att: dict, detail: bool = True) -> dict:
    view = {"id": att["id"], "status": att["attach_status"], "instance": att["instance_uuid"],
            "volume_id": att["volume_id"]}
    if detail:
        view.update(attached_at=_time(att["attach_time"]) or "",
                    detached_at=_time(att["detach_time"]) or "",
                    attach_mode=att["attach_mode"], connection_info=att["connection_info"])
    return view


def type_view(vtype: dict, is_admin: bool) -> dict:
    """A volume type; ``qos_specs_id`` only for an admin (``access_types_qos_specs_id``)."""
    view = {"id": vtype["id"], "name": vtype["name"], "is_public": True,
            "description": vtype["description"], "extra_specs": dict(vtype["extra_specs"])}
    if is_admin:
        view["qos_specs_id"] = None
    view["os-volume-type-access:is_public"] = True
    return view


def _naive_iso(moment: dt.datetime | None) -> str | None:
    return moment.astimezone(dt.timezone.utc).replace(tzinfo=None).isoformat() if moment else None


def volume_usage(vol: dict, attachments: Iterable[dict], **extra: Any) -> dict:
    """The payload of Cinder's ``volume.*`` notifications (``_usage_from_volume``)."""
    now = utcnow()
    payload = {
        "tenant_id": vol["project_id"], "host": vol["host"], "user_id": vol["user_id"],
        "availability_zone": vol["availability_zone"], "volume_id": vol["id"],
        "volume_type": vol["volume_type_id"], "display_name": vol["display_name"],
        "launched_at": _naive_iso(vol["launched_at"] or now),
        "created_at": _naive_iso(vol["created_at"] or now), "status": vol["status"],
        "snapshot_id": vol["snapshot_id"], "size": vol["size"],
        "replication_status": vol["replication_status"], "replication_extended_status": None,
        "replication_driver_data": None,
        "metadata": [{"key": k, "value": v} for k, v in vol["metadata"].items()],
        "volume_attachment": [{"id": a["id"], "volume_id": a["volume_id"],
                               "instance_uuid": a["instance_uuid"],
                               "attached_host": a["attached_host"],
                               "mountpoint": a["mountpoint"],
                               "attach_time": _naive_iso(a["attach_time"]),
                               "detach_time": _naive_iso(a["detach_time"]),
                               "attach_mode": a["attach_mode"],
                               "attach_status": a["attach_status"]} for a in attachments],
    }
    if vol["image_metadata"]:
        payload["glance_metadata"] = [{"key": k, "value": v}
                                      for k, v in vol["image_metadata"].items()]
    payload.update(extra)
    return payload


def snapshot_usage(snap: dict) -> dict:
    """The payload of Cinder's ``snapshot.*`` notifications (``_usage_from_snapshot``)."""
    return {"tenant_id": snap["project_id"], "user_id": snap["user_id"],
            "availability_zone": snap["availability_zone"], "volume_id": snap["volume_id"],
            "volume_size": snap["volume_size"], "snapshot_id": snap["id"],
            "display_name": snap["display_name"], "created_at": _naive_iso(snap["created_at"]),
            "status": snap["status"], "deleted": "",
            "metadata": str(snap["metadata"]) if snap["metadata"] else ""}


# Glance's own image attributes; everything else in an image is a property Cinder copies.
_IMAGE_BASE = ("checksum", "container_format", "disk_format", "min_disk", "min_ram", "size")
_IMAGE_NOT_PROPERTIES = frozenset({
    "id", "name", "status", "visibility", "protected", "owner", "created_at", "updated_at",
    "deleted", "deleted_at", "tags", "file", "schema", "self", "locations", "direct_url",
    "virtual_size", "os_hash_algo", "os_hash_value", "os_hidden", "stores",
    *_IMAGE_BASE})


def image_volume_metadata(image: dict) -> dict[str, str]:
    """What Cinder records as ``volume_image_metadata`` for a volume made from ``image``."""
    meta = {k: str(v) for k, v in image.items()
            if k not in _IMAGE_NOT_PROPERTIES and v is not None and not isinstance(v, (dict, list))}
    meta["image_id"] = str(image["id"])
    if image.get("name"):
        meta["image_name"] = str(image["name"])
    for key in _IMAGE_BASE:
        if image.get(key) is not None:
            meta[key] = str(image[key])
    return meta


def check_image(image: dict, size: int) -> None:
    """Cinder's checks of an image a volume is made from (``_check_image_metadata``)."""
    if image.get("status") != "active":
        raise invalid_input(f"Image {image.get('id')} is not active.")
    image_gb = (int(_as_number(image.get("size")) or 0) + GB - 1) // GB
    if image_gb > size:
        raise invalid_input(f"Size of specified image {image_gb}GB is larger than volume size "
                            f"{size}GB.")
    min_disk = int(_as_number(image.get("min_disk")) or 0)
    if size < min_disk:
        raise invalid_input(f"Volume size {size}GB cannot be smaller than the image minDisk "
                            f"size {min_disk}GB.")


def connection_info(vol: dict, connector: Mapping, mode: str) -> dict:
    """What the iSCSI driver answers to ``initialize_connection``."""
    return {"driver_volume_type": "iscsi",
            "data": {"target_discovered": False,
                     "target_iqn": f"iqn.2010-10.org.openstack:volume-{vol['id']}",
                     "target_portal": "127.0.0.1:3260", "target_lun": 1,
                     "volume_id": vol["id"], "auth_method": "CHAP",
                     "access_mode": mode, "encrypted": False, "qos_specs": None,
                     "discard": False, "cacheable": False,
                     "initiator": connector.get("initiator") if isinstance(connector, Mapping)
                     else None}}


# -- the service ------------------------------------------------------------------------------

def listing_response(call: Call, collection: str, items: list, page: list, count: int | None,
                     detail: bool) -> web.Response:
    """A listing as Cinder answers it: the items, ``<collection>_links`` and ``count``."""
    body: dict[str, Any] = {collection: items}
    links = call.collection_links(page, f"{collection}/detail" if detail else collection, count)
    if links:
        body[f"{collection}_links"] = links
    if count is not None:
        body["count"] = count
    return json_response(body)


class CinderService(SimService):
    name = "cinder"
    service_type = "block-storage"
    catalog_aliases = ("volumev3",)
    catalog_path = "/v3/%(project_id)s"
    render_error = staticmethod(render_fault)
    webob_route_miss = True

    def __init__(self, cloud) -> None:
        super().__init__(cloud)
        self.volumes: dict[str, dict] = {}
        self.snapshots: dict[str, dict] = {}
        self.attachments: dict[str, dict] = {}
        self.quotas: dict[str, dict[str, int]] = {}   # project → limits an admin set
        default_type = {"id": new_id(), "name": DEFAULT_TYPE,
                        "description": "Default Volume Type", "extra_specs": {}}
        self.types: dict[str, dict] = {default_type["id"]: default_type}
        self.default_type_id = default_type["id"]
        self.host = f"{cloud.name}@lvmdriver-1#lvmdriver-1"
        self.service_uuid = new_id()
        self._tasks: set[asyncio.Task] = set()
        self._http: aiohttp.ClientSession | None = None

    # -- life cycle -------------------------------------------------------------------------

    async def on_start(self) -> None:
        self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15))

    async def on_stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._http is not None:
            await self._http.close()
            self._http = None

    def make_app(self) -> web.Application:
        app = super().make_app()
        app.middlewares.append(self._api_middleware)   # innermost: runs after the token check
        app.on_response_prepare.append(self._stamp_response)
        return app

    @property
    def delay(self) -> float:
        try:
            return max(0.0, float(self.cloud.setting("cinder.delay", "0.1")))
        except ValueError:
            return 0.1

    @property
    def pending_work(self) -> int:
        """How many background tasks (creating, deleting, extending...) have not run yet."""
        return len(self._tasks)

    def _later(self, work: Callable[[], None]) -> None:
        """Run ``work`` after the volume service's delay, as Cinder's volume manager would."""
        async def run() -> None:
            await asyncio.sleep(self.delay)
            try:
                work()
            except Exception:  # noqa: BLE001 - background work must not kill the loop
                log.exception("cinder background work failed")

        task = asyncio.get_running_loop().create_task(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- the request pipeline -----------------------------------------------------------------

    @web.middleware
    async def _api_middleware(self, request: web.Request, handler):
        """Microversion and URL project checks, as Cinder's ``wsgi.Resource`` makes them; a
        path with no route never reaches it (the router's WebOb 404, no microversion)."""
        if is_unversioned(request):
            return await handler(request)
        version = requested_version(request.headers.get(VERSION_HEADER))
        request[VERSION_KEY] = version
        if not MIN_VERSION <= version <= MAX_VERSION:
            raise version_not_acceptable(version)
        url_project = request.match_info.get("project_id")
        token: Token | None = request.get(TOKEN)
        if url_project is not None and token is not None and url_project != token.project_id:
            raise bad_request("Malformed request url")
        return await handler(request)

    async def _stamp_response(self, request: web.Request, response: web.StreamResponse) -> None:
        """Every answer of the versioned API names its microversion, errors included; not
        one whose version reads as a legacy endpoint's (``_is_legacy_endpoint``: "1.0" or
        "2.0" anywhere in it, so "volume 2.0" is answered 406 without it)."""
        version = request.get(VERSION_KEY)
        if version is not None and not is_legacy_version(version):
            response.headers[VERSION_HEADER] = f"volume {fmt_version(version)}"
            response.headers["Vary"] = VERSION_HEADER

    def _call(self, request: web.Request) -> Call:
        host = request.headers.get("X-Forwarded-Host")
        host = re.split(r",\s?", host)[-1] if host else request.host
        return Call(token=request[TOKEN], version=request.get(VERSION_KEY, MIN_VERSION),
                    prefix=f"{request.scheme}://{host}/v3",
                    url_project=request.match_info.get("project_id", ""),
                    request_id=request.get("request_id") or request_id(),
                    query=tuple(request.query.items()))

    @staticmethod
    async def _body(request: web.Request) -> Any:
        """The JSON body; Cinder's 400 when there is none or it is not JSON, 415 for XML."""
        raw = await request.read()
        if not raw or "Content-Type" not in request.headers:
            raise bad_request(GENERIC_400)   # the handler misses its ``body`` argument
        if request.content_type not in JSON_TYPES:
            raise SimError(415, "Unsupported Content-Type")
        try:
            return json.loads(raw)
        except (ValueError, RecursionError):
            raise bad_request("Malformed request body") from None

    async def _action_body(self, request: web.Request) -> tuple[str, Any]:
        raw = await request.read()
        has_type = bool(raw) and "Content-Type" in request.headers
        if has_type and request.content_type not in JSON_TYPES:
            raise SimError(415, "Unsupported Content-Type")
        return peek_action("application/json" if has_type else None, raw)

    def _notify(self, call: Call | None, event: str, payload: dict) -> None:
        context = {}
        if call is not None:
            token = call.token
            context = {"user_id": token.user_id, "project_id": token.project_id,
                       "user_name": token.user_name, "project_name": token.project_name,
                       "roles": sorted(token.role_names), "is_admin": token.is_admin,
                       "request_id": call.request_id, "read_deleted": "no",
                       "timestamp": utcnow().isoformat()}
        # Cinder sets no control_exchange: it sends on oslo.messaging's default, "openstack".
        self.cloud.notifier.emit("openstack", event, payload, service="volume", context=context)

    # -- routes -----------------------------------------------------------------------------

    def routes(self) -> list[web.RouteDef]:
        api = [
            ("GET", "/volumes", self.list_volumes),
            ("GET", "/volumes/detail", self.list_volumes_detail),
            ("GET", "/volumes/summary", self.volumes_summary),
            ("POST", "/volumes", self.create_volume),
            ("GET", "/volumes/{volume_id}", self.show_volume),
            ("PUT", "/volumes/{volume_id}", self.update_volume),
            ("DELETE", "/volumes/{volume_id}", self.delete_volume),
            ("POST", "/volumes/{volume_id}/action", self.volume_action),
            ("GET", "/volumes/{volume_id}/metadata", self.show_metadata),
            ("POST", "/volumes/{volume_id}/metadata", self.add_metadata),
            ("PUT", "/volumes/{volume_id}/metadata", self.replace_metadata),
            ("GET", "/volumes/{volume_id}/metadata/{key}", self.show_metadata_item),
            ("PUT", "/volumes/{volume_id}/metadata/{key}", self.put_metadata_item),
            ("DELETE", "/volumes/{volume_id}/metadata/{key}", self.delete_metadata_item),
            ("GET", "/snapshots", self.list_snapshots),
            ("GET", "/snapshots/detail", self.list_snapshots_detail),
            ("POST", "/snapshots", self.create_snapshot),
            ("GET", "/snapshots/{snapshot_id}", self.show_snapshot),
            ("PUT", "/snapshots/{snapshot_id}", self.update_snapshot),
            ("DELETE", "/snapshots/{snapshot_id}", self.delete_snapshot),
            ("GET", "/attachments", self.list_attachments),
            ("GET", "/attachments/detail", self.list_attachments_detail),
            ("POST", "/attachments", self.create_attachment),
            ("GET", "/attachments/{attachment_id}", self.show_attachment),
            ("PUT", "/attachments/{attachment_id}", self.update_attachment),
            ("DELETE", "/attachments/{attachment_id}", self.delete_attachment),
            ("POST", "/attachments/{attachment_id}/action", self.attachment_action),
            ("GET", "/types", self.list_types),
            ("GET", "/types/{type_id}", self.show_type),
            ("GET", "/os-availability-zone", self.availability_zones),
            ("GET", "/os-quota-sets/{target}", self.show_quota_set),
            ("GET", "/os-quota-sets/{target}/defaults", self.show_quota_defaults),
            ("PUT", "/os-quota-sets/{target}", self.update_quota_set),
        ]
        routes = [web.route("GET", "/", self.versions), web.route("GET", "/v3", self.v3_redirect),
                  web.route("GET", "/v3/", self.version)]
        # Since 3.67 every path works without the project id too.
        for prefix in ("/v3/{project_id}", "/v3"):
            routes += [web.route(method, prefix + path, handler)
                       for method, path, handler in api]
        return routes

    # -- version documents ------------------------------------------------------------------

    def _base(self, request: web.Request) -> str:
        return f"{request.scheme}://{request.host}"

    @public
    async def versions(self, request: web.Request) -> web.Response:
        return json_response({"versions": [version_document(self._base(request))]}, status=300)

    async def version(self, request: web.Request) -> web.Response:
        # Behind keystonemiddleware, unlike the root: keystoneauth's first, tokenless call here
        # is refused, and it asks again with the token.
        return json_response({"versions": [version_document(self._base(request))]})

    @unversioned
    async def v3_redirect(self, request: web.Request) -> web.Response:
        # The v3 app's router sends its empty path to "/".
        return web.Response(status=302, headers={"Location": f"{self._base(request)}/v3/",
                                                 "Content-Type": "text/plain; charset=utf8"})

    # -- lookups ----------------------------------------------------------------------------

    def _visible(self, call: Call, record: dict) -> bool:
        return call.is_admin or record["project_id"] == call.project_id

    def _volume(self, call: Call, volume_id: str) -> dict:
        vol = self.volumes.get(volume_id)
        if vol is None or not self._visible(call, vol):
            raise not_found(f"Volume {volume_id} could not be found.")
        return vol

    def _snapshot(self, call: Call, snapshot_id: str) -> dict:
        snap = self.snapshots.get(snapshot_id)
        if snap is None or not self._visible(call, snap):
            raise not_found(f"Snapshot {snapshot_id} could not be found.")
        return snap

    def _attachment(self, call: Call, attachment_id: str) -> dict:
        att = self.attachments.get(attachment_id)
        if att is None or not self._visible(call, att):
            raise not_found("Volume attachment could not be found with filter: "
                            f"attachment_id = {attachment_id}.")
        return att

    def _volume_type(self, identity: str) -> dict:
        """Cinder's ``get_by_name_or_id``."""
        if is_uuid_like(identity):
            if identity in self.types:
                return self.types[identity]
            for vtype in self.types.values():
                if vtype["name"] == identity:
                    return vtype
            raise not_found(f"Volume type {identity} could not be found.")
        for vtype in self.types.values():
            if vtype["name"] == identity:
                return vtype
        raise not_found(f"Volume type with name {identity} could not be found.")

    def _attachments_of(self, vol: dict) -> list[dict]:
        return [self.attachments[a] for a in vol["attachment_ids"] if a in self.attachments]

    def _volume_view(self, call: Call, vol: dict) -> dict:
        vtype = self.types.get(vol["volume_type_id"])
        return volume_detail_view(call, vol, self._attachments_of(vol),
                                  vtype["name"] if vtype else vol["volume_type_id"])

    def _notify_volume(self, call: Call | None, vol: dict, event: str, **extra: Any) -> None:
        self._notify(call, f"volume.{event}",
                     volume_usage(vol, self._attachments_of(vol), **extra))

    # -- volumes: listing -------------------------------------------------------------------

    async def list_volumes(self, request: web.Request) -> web.Response:
        return self._volume_listing(self._call(request), detail=False)

    async def list_volumes_detail(self, request: web.Request) -> web.Response:
        return self._volume_listing(self._call(request), detail=True)

    def _listing(self, call: Call, resource: Resource, table: dict[str, dict],
                 lookup: Callable[[Call, str], dict]) -> tuple[list[dict], int | None]:
        """One page of a volume or snapshot listing, and the total when ``with_count`` asks."""
        params = dict(call.query)
        marker_id, limit, offset = pagination_params(params)
        sort_keys, sort_dirs = sort_params(params)
        show_count = False
        if call.at_least(3, 45) and "with_count" in params:
            show_count = bool_param("with_count", params.pop("with_count"))
        all_tenants_value = params.get("all_tenants", False)
        filters = process_filters(params, resource, is_admin=call.is_admin,
                                  version=call.version)
        all_tenants = bool_param("all_tenants", all_tenants_value)
        if "name" in sort_keys and (resource is VOLUME or call.at_least(3, 30)):
            sort_keys[sort_keys.index("name")] = "display_name"
        sort = full_sort(sort_keys, sort_dirs)
        if filters is None:
            return [], 0 if show_count else None
        scope = [r for r in table.values()
                 if (call.is_admin and all_tenants) or r["project_id"] == call.project_id]
        marker = lookup(call, marker_id) if marker_id is not None else None
        if any(key not in resource.columns for key, _ in sort):
            raise invalid_input("Invalid sort key")
        matching = [r for r in scope if record_matches(r, filters)]
        page = page_after(matching, sort, marker, offset, limit)
        return page, len(matching) if show_count else None

    def _volume_listing(self, call: Call, detail: bool) -> web.Response:
        page, count = self._listing(call, VOLUME, self.volumes, self._volume)
        if detail:
            items = [self._volume_view(call, v) for v in page]
        else:
            items = [volume_summary_view(call, v) for v in page]
        return listing_response(call, "volumes", items, page, count, detail)

    async def volumes_summary(self, request: web.Request) -> web.Response:
        call = self._call(request)
        if not call.at_least(3, 12):
            raise SimError(404, NOT_FOUND)
        all_tenants = bool_param("all_tenants", request.query.get("all_tenants", False))
        scope = [v for v in self.volumes.values()
                 if (call.is_admin and all_tenants) or v["project_id"] == call.project_id]
        summary: dict[str, Any] = {"total_count": len(scope),
                                   "total_size": sum(v["size"] for v in scope)}
        if call.at_least(3, 36):
            metadata: dict[str, list[str]] = {}
            for vol in scope:
                for key, value in vol["metadata"].items():
                    if value not in metadata.setdefault(key, []):
                        metadata[key].append(value)
            summary["metadata"] = metadata
        return json_response({"volume-summary": summary})

    async def show_volume(self, request: web.Request) -> web.Response:
        call = self._call(request)
        vol = self._volume(call, request.match_info["volume_id"])
        return json_response({"volume": self._volume_view(call, vol)})

    # -- volumes: create, update, delete ----------------------------------------------------

    async def create_volume(self, request: web.Request) -> web.Response:
        call = self._call(request)
        body = await self._body(request)
        validate(volume_create_schema(call.version), body)
        spec = {k: v.strip() if isinstance(v, str) and k in (
            "name", "description", "display_name", "display_description") else v
            for k, v in body["volume"].items()}
        vtype = self._volume_type(spec["volume_type"]) if spec.get("volume_type") else None
        snapshot = (self._snapshot(call, spec["snapshot_id"])
                    if spec.get("snapshot_id") is not None else None)
        source = (self._volume(call, spec["source_volid"])
                  if spec.get("source_volid") is not None else None)
        group_id = spec.get("group_id") or spec.get("consistencygroup_id")
        if group_id:
            raise not_found(f"Group {group_id} could not be found.")
        image_ref = spec["image_id"] if "image_id" in spec else spec.get("imageRef")
        image = await self._find_image(request, image_ref) if image_ref is not None else None
        if spec.get("backup_id"):
            raise not_found(f"Backup {spec['backup_id']} could not be found.")
        size = self._volume_size(spec.get("size"), snapshot, source, image)
        if image is not None:
            check_image(image, size)
        self._check_gigabytes(call, size)
        zone = self._availability_zone(spec.get("availability_zone"), snapshot, source)
        vol = self._new_volume(call, spec, size, zone, vtype, snapshot, source, image)
        self.volumes[vol["id"]] = vol
        self._notify_volume(call, vol, "create.start")
        self._later(lambda: self._finish_create(call, vol["id"]))
        return json_response({"volume": self._volume_view(call, vol)}, status=202)

    def _check_gigabytes(self, call: Call, size: int) -> None:
        """The project's ``gigabytes`` quota (set by an admin, else ``cinder.quota_gigabytes``,
        Cinder's default 1000), which volumes and snapshots share: 413 when ``size`` more would
        exceed it."""
        quota = self._quota_set(call.project_id)["gigabytes"]
        if quota < 0:
            return
        consumed = sum(r["size"] for r in self.volumes.values()
                       if r["project_id"] == call.project_id and r["use_quota"])
        consumed += sum(r["volume_size"] for r in self.snapshots.values()
                        if r["project_id"] == call.project_id and r["use_quota"])
        if consumed + size > quota:
            raise SimError(413, "VolumeSizeExceedsAvailableQuota: Requested volume or snapshot "
                                f"exceeds allowed gigabytes quota. Requested {size}G, quota is "
                                f"{quota}G and {consumed}G has been consumed.",
                           headers={"Retry-After": "0"})

    # -- quotas -------------------------------------------------------------------------------

    def _quota_defaults(self) -> dict[str, int]:
        """Cinder's default quotas (``cinder.quota_<name>`` settings change them)."""
        return {name: int(self.cloud.setting(f"cinder.quota_{name}", str(value)))
                for name, value in QUOTA_DEFAULTS.items()}

    def _quota_set(self, project_id: str | None) -> dict[str, int]:
        return self._quota_defaults() | self.quotas.get(project_id or "", {})

    def _quota_view(self, target: str, limits: dict[str, int], usage: bool) -> dict:
        if not usage:
            return {"id": target, **limits}
        volumes = [v for v in self.volumes.values()
                   if v["project_id"] == target and v["use_quota"]]
        snapshots = [s for s in self.snapshots.values()
                     if s["project_id"] == target and s["use_quota"]]
        in_use = {"volumes": len(volumes), "snapshots": len(snapshots),
                  "gigabytes": sum(v["size"] for v in volumes)
                  + sum(s["volume_size"] for s in snapshots)}
        return {"id": target, **{name: {"limit": limit, "in_use": in_use.get(name, 0),
                                        "reserved": 0, "allocated": 0}
                                 for name, limit in limits.items()}}

    def _quota_target(self, call: Call, target: str) -> str:
        if not call.is_admin and target != call.project_id:
            raise SimError(403, "Policy doesn't allow volume_extension:quotas:show to be "
                                "performed.")
        return target

    async def show_quota_set(self, request: web.Request) -> web.Response:
        call = self._call(request)
        target = self._quota_target(call, request.match_info["target"])
        usage = bool_param("usage", request.query.get("usage", False))
        return json_response({"quota_set": self._quota_view(target, self._quota_set(target),
                                                            usage)})

    async def show_quota_defaults(self, request: web.Request) -> web.Response:
        call = self._call(request)
        target = self._quota_target(call, request.match_info["target"])
        return json_response({"quota_set": self._quota_view(target, self._quota_defaults(),
                                                            False)})

    async def update_quota_set(self, request: web.Request) -> web.Response:
        """An admin sets a project's limits (only ``gigabytes`` is enforced here)."""
        call = self._call(request)
        if not call.is_admin:
            raise SimError(403, "Policy doesn't allow volume_extension:quotas:update to be "
                                "performed.")
        body = await self._body(request)
        validate(QUOTA_UPDATE, body)
        target = request.match_info["target"]
        changes = {k: v for k, v in body["quota_set"].items() if k in QUOTA_DEFAULTS}
        bad = sorted(set(body["quota_set"]) - set(QUOTA_DEFAULTS))
        if bad:
            raise bad_request(f"Bad key(s) in quota set: {','.join(bad)}")
        self.quotas.setdefault(target, {}).update({k: int(v) for k, v in changes.items()})
        limits = self._quota_set(target)
        return json_response({"quota_set": limits})

    def _volume_size(self, size: Any, snapshot: dict | None, source: dict | None,
                     image: dict | None) -> int:
        """Cinder's ``_extract_size``, after its check that only one source is named."""
        if sum(x is not None for x in (snapshot, source, image)) > 1:
            raise invalid_input("May specify only one of backup, imageRef, snapshot, "
                                "source volume")
        if not size and source is not None:
            size = source["size"]
        elif not size and snapshot is not None:
            size = snapshot["volume_size"]
        try:
            size = int(size)
        except (TypeError, ValueError):
            pass
        if not isinstance(size, int) or size <= 0:
            raise invalid_input(f"Volume size '{size}' must be an integer and greater than 0")
        if source is not None and size < source["size"]:
            raise invalid_input(f"Volume size '{size}'GB cannot be smaller than original volume "
                                f"size  {source['size']}GB. They must be >= original volume "
                                "size.")
        if snapshot is not None and size < snapshot["volume_size"]:
            raise invalid_input(f"Volume size '{size}'GB cannot be smaller than the snapshot "
                                f"size {snapshot['volume_size']}GB. They must be >= original "
                                "snapshot size.")
        if snapshot is not None and snapshot["status"] != "available":
            raise bad_request("Invalid snapshot: Originating snapshot status must be one of "
                              "'available' values")
        if source is not None and source["status"] not in ("available", "in-use"):
            raise invalid_volume("Originating source volume status must be one of "
                                 "'available, in-use' values")
        return size

    def _availability_zone(self, zone: str | None, snapshot: dict | None,
                           source: dict | None) -> str:
        if zone is None:
            zone = ((snapshot or {}).get("availability_zone")
                    or (source or {}).get("availability_zone") or DEFAULT_AZ)
        if zone != DEFAULT_AZ:
            raise invalid_input(f"Availability zone '{zone}' is invalid.")
        return zone

    def _new_volume(self, call: Call, spec: dict, size: int, zone: str, vtype: dict | None,
                    snapshot: dict | None, source: dict | None, image: dict | None) -> dict:
        origin = snapshot or source
        type_id = (vtype["id"] if vtype else
                   (origin or {}).get("volume_type_id") or self.default_type_id)
        if image is not None:
            image_metadata, bootable = image_volume_metadata(image), True
        elif origin is not None:
            image_metadata, bootable = dict(origin["image_metadata"]), origin["bootable"]
        else:
            image_metadata, bootable = {}, False
        return {
            "id": new_id(), "display_name": spec.get("name", spec.get("display_name")),
            "display_description": spec.get("description", spec.get("display_description")),
            "size": size, "status": "creating", "attach_status": "detached",
            "availability_zone": zone, "bootable": bootable, "created_at": utcnow(),
            "updated_at": None, "launched_at": None, "terminated_at": None,
            "project_id": call.project_id, "user_id": call.token.user_id,
            "volume_type_id": type_id, "snapshot_id": snapshot["id"] if snapshot else None,
            "source_volid": source["id"] if source else None,
            "multiattach": bool_from_string(spec.get("multiattach") or False),
            "host": self.host, "migration_status": None, "replication_status": "disabled",
            "consistencygroup_id": None, "group_id": None, "provider_id": None,
            "encryption_key_id": None, "service_uuid": self.service_uuid,
            "shared_targets": True, "cluster_name": None, "use_quota": True,
            "previous_status": None, "deleted": False,
            "metadata": dict(spec.get("metadata") or {}), "admin_metadata": {},
            "image_metadata": image_metadata, "attachment_ids": [],
        }

    def _finish_create(self, call: Call, volume_id: str) -> None:
        vol = self.volumes.get(volume_id)
        if vol is None or vol["status"] != "creating":
            return
        now = utcnow()
        vol.update(status="available", launched_at=now, updated_at=now)
        self._notify_volume(call, vol, "create.end")

    async def update_volume(self, request: web.Request) -> web.Response:
        call = self._call(request)
        body = await self._body(request)
        validate(volume_update_schema(call.version), body)
        changes = {k: v.strip() if isinstance(v, str) else v for k, v in body["volume"].items()}
        vol = self._volume(call, request.match_info["volume_id"])
        if vol["status"] == "maintenance":
            raise invalid_volume("The volume cannot be updated during maintenance.")
        self._notify_volume(call, vol, "update.start")
        for api_name, column in (("display_name", "display_name"), ("name", "display_name"),
                                 ("display_description", "display_description"),
                                 ("description", "display_description")):
            if api_name in changes:
                vol[column] = changes[api_name]
        if "metadata" in changes:
            vol["metadata"] = dict(changes["metadata"])
        vol["updated_at"] = utcnow()
        self._notify_volume(call, vol, "update.end")
        return json_response({"volume": self._volume_view(call, vol)})

    async def delete_volume(self, request: web.Request) -> web.Response:
        call = self._call(request)
        cascade = bool_param("cascade", request.query.get("cascade", False))
        force = call.at_least(3, 23) and bool_param("force", request.query.get("force", False))
        vol = self._volume(call, request.match_info["volume_id"])
        if force and not call.is_admin:
            raise SimError(403, "Policy doesn't allow volume:force_delete to be performed.")
        self._start_delete(call, vol, cascade=cascade, force=force)
        return web.Response(status=202)

    def _start_delete(self, call: Call, vol: dict, *, cascade: bool, force: bool) -> None:
        """Cinder's conditional update to ``deleting``, then the volume service's delete."""
        snaps = [s for s in self.snapshots.values() if s["volume_id"] == vol["id"]]
        allowed = ("available", "error", "error_restoring", "error_extending", "error_managing")
        deletable = (vol["attach_status"] != "attached" and vol["migration_status"] is None
                     and (force or vol["status"] in allowed)
                     and (not snaps or (cascade and (force or all(
                         s["status"] in ("available", "error") for s in snaps)))))
        if not deletable:
            status = "" if force else f"status must be {or_str(allowed)} and "
            raise invalid_volume(f"Volume {status}must not be migrating, attached, belong to a "
                                 "group, have snapshots or be disassociated from snapshots "
                                 "after volume transfer.")
        vol.update(status="deleting", terminated_at=utcnow(), updated_at=utcnow())
        for snap in snaps:
            snap["status"] = "deleting"
        self._notify_volume(call, vol, "delete.start")

        def finish() -> None:
            for snap in snaps:
                if self.snapshots.pop(snap["id"], None) is not None:
                    self._notify(call, "snapshot.delete.end", snapshot_usage(snap))
            if self.volumes.pop(vol["id"], None) is not None:
                for attachment_id in vol["attachment_ids"]:
                    self.attachments.pop(attachment_id, None)
                self._notify_volume(call, vol, "delete.end")

        self._later(finish)

    # -- volumes: metadata ------------------------------------------------------------------

    async def show_metadata(self, request: web.Request) -> web.Response:
        vol = self._volume(self._call(request), request.match_info["volume_id"])
        return json_response({"metadata": dict(vol["metadata"])})

    async def add_metadata(self, request: web.Request) -> web.Response:
        return await self._write_metadata(request, replace=False)

    async def replace_metadata(self, request: web.Request) -> web.Response:
        return await self._write_metadata(request, replace=True)

    async def _write_metadata(self, request: web.Request, replace: bool) -> web.Response:
        call = self._call(request)
        body = await self._body(request)
        validate(METADATA_BODY, body)
        vol = self._volume(call, request.match_info["volume_id"])
        if vol["status"] == "maintenance":
            raise invalid_volume("The volume metadata cannot be updated when the volume is in "
                                 "maintenance mode.")
        vol["metadata"] = ({} if replace else dict(vol["metadata"])) | body["metadata"]
        vol["updated_at"] = utcnow()
        return json_response({"metadata": body["metadata"] if replace
                              else dict(vol["metadata"])})

    async def show_metadata_item(self, request: web.Request) -> web.Response:
        vol = self._volume(self._call(request), request.match_info["volume_id"])
        key = request.match_info["key"]
        if key not in vol["metadata"]:
            raise not_found(f"Volume {vol['id']} has no metadata with key {key}.")
        return json_response({"meta": {key: vol["metadata"][key]}})

    async def put_metadata_item(self, request: web.Request) -> web.Response:
        call = self._call(request)
        body = await self._body(request)
        validate(META_ITEM_BODY, body)
        key = request.match_info["key"]
        if key not in body["meta"]:
            raise bad_request("Request body and URI mismatch")
        if len(body["meta"]) > 1:
            raise bad_request("Request body contains too many items")
        vol = self._volume(call, request.match_info["volume_id"])
        vol["metadata"][key] = body["meta"][key]
        vol["updated_at"] = utcnow()
        return json_response({"meta": {key: body["meta"][key]}})

    async def delete_metadata_item(self, request: web.Request) -> web.Response:
        vol = self._volume(self._call(request), request.match_info["volume_id"])
        key = request.match_info["key"]
        if key not in vol["metadata"]:
            raise not_found(f"Volume {vol['id']} has no metadata with key {key}.")
        del vol["metadata"][key]
        vol["updated_at"] = utcnow()
        return web.Response(status=200)

    # -- images -----------------------------------------------------------------------------

    def _glance_url(self) -> str | None:
        url = self.cloud.setting("cinder.glance_url")
        if not url:
            glance = self.cloud.services.get("glance")
            url = glance.base_url if glance is not None else None
        if not url:
            return None
        url = url.rstrip("/")
        return url[: -len("/v2")] if url.endswith("/v2") else url

    async def _glance_get(self, request: web.Request, path: str,
                          params: dict[str, str] | None = None) -> Any:
        """GET from the cloud's Glance with the caller's token; None when that fails."""
        base = self._glance_url()
        if base is None or self._http is None:
            return None
        headers = {"X-Auth-Token": request.headers.get("X-Auth-Token", ""),
                   "Accept": "application/json"}
        try:
            async with self._http.get(base + path, headers=headers, params=params) as resp:
                if resp.status != 200:
                    return None
                return await resp.json(content_type=None)
        except (aiohttp.ClientError, asyncio.TimeoutError, ValueError):
            return None

    async def _find_image(self, request: web.Request, image_ref: str) -> dict:
        """Cinder's ``_image_uuid_from_ref``: by id, then by name; 400 when neither finds it."""
        image_id = image_ref.split("/")[-1]
        if is_uuid_like(image_id):
            image = await self._glance_get(request, f"/v2/images/{image_id}")
            if isinstance(image, dict) and "id" in image:
                return image
        listing = await self._glance_get(request, "/v2/images", {"name": image_ref})
        images = listing.get("images") if isinstance(listing, dict) else None
        if isinstance(images, list):
            if len(images) > 1:
                raise SimError(409, f"Multiple matches found for '{image_ref}', use an ID to be "
                                    "more specific.")
            if images and isinstance(images[0], dict) and "id" in images[0]:
                return images[0]
        raise bad_request("Invalid image identifier or unable to access requested image.")

    # -- volumes: actions -------------------------------------------------------------------

    async def volume_action(self, request: web.Request) -> web.Response:
        call = self._call(request)
        name, body = await self._action_body(request)
        handler = self._VOLUME_ACTIONS.get(name)
        if handler is None:
            raise no_such_action(name)
        if name in ACTION_SCHEMAS:
            validate(ACTION_SCHEMAS[name], body)
        if name in ("os-reset_status", "os-force_delete") and not call.is_admin:
            raise SimError(403, f"Policy doesn't allow volume_extension:volume_admin_actions:"
                                f"{name[3:]} to be performed.")
        vol = self._volume(call, request.match_info["volume_id"])
        return await handler(self, call, vol, body[name])

    async def _extend(self, call: Call, vol: dict, args: dict) -> web.Response:
        new_size = int(args["new_size"])
        attached = call.at_least(3, 42) and vol["status"] == "in-use"
        if new_size - vol["size"] <= 0:
            raise invalid_input(f"New size for extend must be greater than current size. "
                                f"(current: {vol['size']}, extended: {args['new_size']}).")
        expected = {"status": "in-use" if attached else "available"}
        if vol["status"] != expected["status"]:
            # Cinder prints its whole condition dict here.
            raise invalid_volume(f"Volume {vol['id']} status must be '{expected}' to extend, "
                                 f"currently {vol['status']}.")
        vol.update(status="extending", previous_status=vol["status"], updated_at=utcnow())
        self._notify_volume(call, vol, "resize.start")

        def finish() -> None:
            if self.volumes.get(vol["id"]) is vol and vol["status"] == "extending":
                vol.update(size=new_size, status=vol["previous_status"], updated_at=utcnow())
                self._notify_volume(call, vol, "resize.end", size=new_size)

        self._later(finish)
        return web.Response(status=202)

    async def _reserve(self, call: Call, vol: dict, args: Any) -> web.Response:
        expected = ("available", "in-use") if vol["multiattach"] else ("available",)
        if vol["status"] not in expected:
            raise invalid_volume(f"Volume status must be {or_str(expected)} to reserve, but "
                                 f"the status is {vol['status']}.")
        vol.update(status="attaching", updated_at=utcnow())
        return web.Response(status=202)

    async def _unreserve(self, call: Call, vol: dict, args: Any) -> web.Response:
        if vol["status"] == "attaching":
            self._settle(vol)
        return web.Response(status=202)

    async def _begin_detaching(self, call: Call, vol: dict, args: Any) -> web.Response:
        if vol["status"] != "in-use" or vol["attach_status"] != "attached":
            raise invalid_volume("Unable to detach volume. Volume status must be 'in-use' and "
                                 "attach_status must be 'attached' to detach.")
        vol.update(status="detaching", updated_at=utcnow())
        return web.Response(status=202)

    async def _roll_detaching(self, call: Call, vol: dict, args: Any) -> web.Response:
        if vol["status"] == "detaching":
            vol.update(status="in-use", updated_at=utcnow())
        return web.Response(status=202)

    async def _attach(self, call: Call, vol: dict, args: dict) -> web.Response:
        """Legacy attach: the volume service records an attached attachment at once."""
        instance = args.get("instance_uuid")
        attached = [a for a in self._attachments_of(vol) if a["attach_status"] == "attached"]
        if vol["status"] == "maintenance":
            raise invalid_volume("The volume cannot be attached in maintenance mode.")
        if attached and not vol["multiattach"] and all(
                a["instance_uuid"] != instance for a in attached):
            raise bad_request("Error attaching volume - InvalidVolume: Invalid volume: volume "
                              "is already attached")
        mode = args.get("mode", "rw")
        if vol["admin_metadata"].get("readonly") == "True" and mode != "ro":
            raise bad_request("Error attaching volume - InvalidVolumeAttachMode: Invalid "
                              f"attaching mode '{mode}' for volume {vol['id']}.")
        self._notify_volume(call, vol, "attach.start")
        att = self._new_attachment(call, vol, instance, "attached")
        now = utcnow()
        att.update(mountpoint=args["mountpoint"], attached_host=args.get("host_name"),
                   attach_mode=mode, attach_time=now)
        vol.update(status="in-use", attach_status="attached", updated_at=now)
        self._notify_volume(call, vol, "attach.end")
        return web.Response(status=202)

    async def _detach(self, call: Call, vol: dict, args: dict | None) -> web.Response:
        attachment_id = (args or {}).get("attachment_id")
        attachments = self._attachments_of(vol)
        if attachment_id:
            att = self.attachments.get(attachment_id)
            if att is None or att["volume_id"] != vol["id"]:
                self._settle(vol)   # Cinder's "volume detach called, but volume not attached"
                return web.Response(status=202)
        elif len(attachments) > 1:
            raise bad_request("Error detaching volume - InvalidVolume: Invalid volume: Detach "
                              "volume failed: More than one attachment, but no attachment_id "
                              "provided.")
        elif not attachments:
            vol.update(status="available", attach_status="detached", updated_at=utcnow())
            return web.Response(status=202)
        else:
            att = attachments[0]
        self._notify_volume(call, vol, "detach.start")
        self._drop_attachment(att)
        self._settle(vol)
        self._notify_volume(call, vol, "detach.end")
        return web.Response(status=202)

    async def _initialize_connection(self, call: Call, vol: dict, args: dict) -> web.Response:
        mode = "ro" if vol["admin_metadata"].get("readonly") == "True" else "rw"
        return json_response({"connection_info": connection_info(vol, args["connector"], mode)})

    async def _terminate_connection(self, call: Call, vol: dict, args: dict) -> web.Response:
        return web.Response(status=202)

    async def _set_bootable(self, call: Call, vol: dict, args: dict) -> web.Response:
        vol.update(bootable=bool_from_string(args["bootable"]), updated_at=utcnow())
        return web.Response(status=200)

    async def _readonly(self, call: Call, vol: dict, args: dict) -> web.Response:
        vol["admin_metadata"]["readonly"] = str(bool_from_string(args["readonly"]))
        return web.Response(status=202)

    async def _reset_status(self, call: Call, vol: dict, args: dict) -> web.Response:
        if not any(args.get(k) for k in ("status", "attach_status", "migration_status")):
            raise bad_request("Must specify 'status', 'attach_status' or 'migration_status' for "
                              "update.")
        for key in ("status", "attach_status", "migration_status"):
            if args.get(key):
                vol[key] = args[key].lower()
        vol["updated_at"] = utcnow()
        return web.Response(status=202)

    async def _force_delete(self, call: Call, vol: dict, args: Any) -> web.Response:
        self._start_delete(call, vol, cascade=False, force=True)
        return web.Response(status=202)

    _VOLUME_ACTIONS: dict[str, Callable] = {
        "os-extend": _extend, "os-reserve": _reserve, "os-unreserve": _unreserve,
        "os-begin_detaching": _begin_detaching, "os-roll_detaching": _roll_detaching,
        "os-attach": _attach, "os-detach": _detach,
        "os-initialize_connection": _initialize_connection,
        "os-terminate_connection": _terminate_connection, "os-set_bootable": _set_bootable,
        "os-update_readonly_flag": _readonly, "os-reset_status": _reset_status,
        "os-force_delete": _force_delete,
    }

    # -- attachments ------------------------------------------------------------------------

    def _new_attachment(self, call: Call, vol: dict, instance: str | None,
                        status: str) -> dict:
        now = utcnow()
        att = {"id": new_id(), "volume_id": vol["id"], "instance_uuid": instance,
               "attached_host": None, "mountpoint": None, "attach_time": None,
               "detach_time": None, "attach_mode": "null", "attach_status": status,
               "connector": None, "connection_info": {}, "created_at": now,
               "updated_at": None, "project_id": vol["project_id"]}
        self.attachments[att["id"]] = att
        vol["attachment_ids"].append(att["id"])
        return att

    def _drop_attachment(self, att: dict) -> None:
        self.attachments.pop(att["id"], None)
        vol = self.volumes.get(att["volume_id"])
        if vol is not None and att["id"] in vol["attachment_ids"]:
            vol["attachment_ids"].remove(att["id"])

    def _settle(self, vol: dict) -> None:
        """The volume's status from its remaining attachments (Cinder's attachment_delete)."""
        pending = {a["attach_status"] for a in self._attachments_of(vol)}
        for state, status in (("attached", "in-use"), ("attaching", "attaching"),
                              ("detaching", "detaching"), ("reserved", "reserved")):
            if state in pending:
                vol.update(status=status, attach_status=state, updated_at=utcnow())
                return
        vol.update(status="available", attach_status="detached", updated_at=utcnow())

    def _need_new_attach(self, call: Call, completion: bool = False) -> None:
        if not call.at_least(3, 44 if completion else 27):
            raise SimError(404, NOT_FOUND)

    async def create_attachment(self, request: web.Request) -> web.Response:
        call = self._call(request)
        self._need_new_attach(call)
        body = await self._body(request)
        validate(attachment_create_schema(call.version), body)
        spec = body["attachment"]
        vol = self._volume(call, spec["volume_uuid"])
        if "error" in vol["status"]:
            raise invalid_volume("Volume attachments can not be created if the volume is in an "
                                 f"error state. The Volume {vol['id']} currently has a status "
                                 f"of: {vol['status']} ")
        self._reserve_for_attachment(vol, spec["instance_uuid"])
        att = self._new_attachment(call, vol, spec["instance_uuid"], "reserved")
        vol.update(status="reserved", attach_status="reserved", updated_at=utcnow())
        att["attach_mode"] = spec.get("mode", "null") if call.at_least(3, 54) else "null"
        if spec.get("connector"):
            self._connect(call, vol, att, spec["connector"])
        return json_response({"attachment": attachment_view(att)})

    def _reserve_for_attachment(self, vol: dict, instance: str) -> None:
        """Cinder's ``_attachment_reserve`` condition."""
        expected = (("available", "in-use", "downloading") if vol["multiattach"]
                    else ("available", "downloading"))
        if vol["status"] in expected:
            return
        if vol["status"] in ("in-use", "reserved") and any(
                a["instance_uuid"] == instance for a in self._attachments_of(vol)):
            return   # the same instance again: a migration
        raise invalid_volume(f"Volume {vol['id']} status must be {or_str(expected)} to "
                             f"reserve, but the current status is {vol['status']}.")

    def _connect(self, call: Call, vol: dict, att: dict, connector: dict) -> None:
        """The volume service's ``attachment_update``: export the volume, mark it attaching."""
        self._notify_volume(call, vol, "attach.start")
        mode = att["attach_mode"] if att["attach_mode"] != "null" else connector.get("mode",
                                                                                     "rw")
        info = connection_info(vol, connector, mode)
        flat = {**info["data"], "driver_volume_type": info["driver_volume_type"],
                "attachment_id": att["id"]}
        now = utcnow()
        att.update(connector=dict(connector), connection_info=flat, attach_status="attaching",
                   attached_host=connector.get("host"),
                   mountpoint=connector.get("mountpoint", "na"), attach_mode=mode,
                   attach_time=now, updated_at=now)
        vol.update(status="attaching", attach_status="attaching", updated_at=now)

    async def update_attachment(self, request: web.Request) -> web.Response:
        call = self._call(request)
        self._need_new_attach(call)
        body = await self._body(request)
        validate(ATTACHMENT_UPDATE, body)
        att = self._attachment(call, request.match_info["attachment_id"])
        vol = self._volume(call, att["volume_id"])
        if "error" in vol["status"]:
            raise invalid_volume("Volume attachments can not be updated if the volume is in an "
                                 f"error state. The Volume {vol['id']} currently has a status "
                                 f"of: {vol['status']} ")
        self._connect(call, vol, att, body["attachment"]["connector"])
        return json_response({"attachment": attachment_view(att)})

    async def attachment_action(self, request: web.Request) -> web.Response:
        call = self._call(request)
        name, _ = await self._action_body(request)
        if name != "os-complete":
            raise no_such_action(name)
        self._need_new_attach(call, completion=True)
        att = self._attachment(call, request.match_info["attachment_id"])
        vol = self._volume(call, att["volume_id"])
        att.update(attach_status="attached", updated_at=utcnow())
        vol.update(status="in-use", attach_status="attached", updated_at=utcnow())
        self._notify_volume(call, vol, "attach.end")
        return web.Response(status=204)

    async def delete_attachment(self, request: web.Request) -> web.Response:
        call = self._call(request)
        self._need_new_attach(call)
        att = self._attachment(call, request.match_info["attachment_id"])
        vol = self.volumes.get(att["volume_id"])
        if vol is None:
            self.attachments.pop(att["id"], None)
            return json_response({"attachments": []})
        if att["attach_status"] != "reserved":
            self._notify_volume(call, vol, "detach.start")
        att.update(attach_status="detached", detach_time=utcnow())
        self._drop_attachment(att)
        self._settle(vol)
        self._notify_volume(call, vol, "detach.end")
        return json_response({"attachments": [attachment_view(a, detail=False)
                                              for a in self._attachments_of(vol)]})

    async def show_attachment(self, request: web.Request) -> web.Response:
        call = self._call(request)
        self._need_new_attach(call)
        att = self._attachment(call, request.match_info["attachment_id"])
        return json_response({"attachment": attachment_view(att)})

    async def list_attachments(self, request: web.Request) -> web.Response:
        return self._attachment_listing(self._call(request), detail=False)

    async def list_attachments_detail(self, request: web.Request) -> web.Response:
        return self._attachment_listing(self._call(request), detail=True)

    def _attachment_listing(self, call: Call, detail: bool) -> web.Response:
        self._need_new_attach(call)
        params = dict(call.query)
        sort_keys, sort_dirs = sort_params(params)
        marker_id, limit, offset = pagination_params(params)
        all_tenants = call.is_admin and "all_tenants" in params
        params.pop("all_tenants", None)
        allowed = {"volume_id", "status", "instance_id", "attach_status"}
        filters = {k: v for k, v in params.items() if call.is_admin or k in allowed}
        renames = {"instance_id": "instance_uuid", "status": "attach_status"}
        filters = {renames.get(k, k): v for k, v in filters.items()}
        scope = [a for a in self.attachments.values()
                 if all_tenants or a["project_id"] == call.project_id]
        matching = [a for a in scope if all(_equal(a.get(k), v) for k, v in filters.items())]
        sort = full_sort(sort_keys, sort_dirs)
        marker = self._attachment(call, marker_id) if marker_id is not None else None
        if any(key not in ATTACHMENT_COLUMNS for key, _ in sort):
            raise invalid_input("Invalid sort key")
        page = page_after(matching, sort, marker, offset, limit)
        return json_response({"attachments": [attachment_view(a, detail) for a in page]})

    # -- snapshots --------------------------------------------------------------------------

    async def list_snapshots(self, request: web.Request) -> web.Response:
        return self._snapshot_listing(self._call(request), detail=False)

    async def list_snapshots_detail(self, request: web.Request) -> web.Response:
        return self._snapshot_listing(self._call(request), detail=True)

    def _snapshot_listing(self, call: Call, detail: bool) -> web.Response:
        page, count = self._listing(call, SNAPSHOT, self.snapshots, self._snapshot)
        return listing_response(call, "snapshots", [snapshot_view(call, s, detail) for s in page],
                                page, count, detail)

    async def show_snapshot(self, request: web.Request) -> web.Response:
        call = self._call(request)
        snap = self._snapshot(call, request.match_info["snapshot_id"])
        return json_response({"snapshot": snapshot_view(call, snap, detail=True)})

    async def create_snapshot(self, request: web.Request) -> web.Response:
        call = self._call(request)
        body = await self._body(request)
        validate(SNAPSHOT_CREATE, body)
        spec = body["snapshot"]
        vol = self._volume(call, spec["volume_id"])
        force = False
        if spec.get("force") is not None:
            force = bool_from_string(spec["force"])
            if call.at_least(3, 66) and not force:
                raise bad_request("Since microversion 3.66 the 'force' flag is invalid for this "
                                  "request.  For backward compatability, however, when the "
                                  "'force' flag is passed with a value evaluating to True, it "
                                  "is silently ignored.")
        valid = ("available", "in-use") if force or call.at_least(3, 66) else ("available",)
        if vol["status"] not in valid:
            raise invalid_volume(f"Volume {vol['id']} status must be {', '.join(valid)}, but "
                                 f"current status is: {vol['status']}.")
        self._check_gigabytes(call, vol["size"])
        name = spec.get("name", spec.get("display_name"))
        snap = {"id": new_id(), "display_name": name.strip() if isinstance(name, str) else name,
                "display_description": spec.get("description"), "volume_id": vol["id"],
                "status": "creating", "progress": "0%", "volume_size": vol["size"],
                "project_id": call.project_id, "user_id": call.token.user_id,
                "created_at": utcnow(), "updated_at": None,
                "metadata": dict(spec.get("metadata") or {}),
                "availability_zone": vol["availability_zone"], "use_quota": True,
                "group_snapshot_id": None, "volume_type_id": vol["volume_type_id"],
                "image_metadata": dict(vol["image_metadata"]), "bootable": vol["bootable"],
                "deleted": False}
        self.snapshots[snap["id"]] = snap
        self._notify(call, "snapshot.create.start", snapshot_usage(snap))

        def finish() -> None:
            if self.snapshots.get(snap["id"]) is snap and snap["status"] == "creating":
                snap.update(status="available", progress="100%", updated_at=utcnow())
                self._notify(call, "snapshot.create.end", snapshot_usage(snap))

        self._later(finish)
        return json_response({"snapshot": snapshot_view(call, snap, detail=True)}, status=202)

    async def update_snapshot(self, request: web.Request) -> web.Response:
        call = self._call(request)
        body = await self._body(request)
        validate(SNAPSHOT_UPDATE, body)
        changes = {k: v.strip() if isinstance(v, str) else v
                   for k, v in body["snapshot"].items()}
        snap = self._snapshot(call, request.match_info["snapshot_id"])
        self._notify(call, "snapshot.update.start", snapshot_usage(snap))
        for api_name, column in (("display_name", "display_name"), ("name", "display_name"),
                                 ("display_description", "display_description"),
                                 ("description", "display_description")):
            if api_name in changes:
                snap[column] = changes[api_name]
        snap["updated_at"] = utcnow()
        self._notify(call, "snapshot.update.end", snapshot_usage(snap))
        return json_response({"snapshot": snapshot_view(call, snap, detail=True)})

    async def delete_snapshot(self, request: web.Request) -> web.Response:
        call = self._call(request)
        snap = self._snapshot(call, request.match_info["snapshot_id"])
        if snap["status"] not in ("available", "error"):
            raise bad_request("Invalid snapshot: Snapshot status must be available or error "
                              "and must not be part of a group.")
        snap.update(status="deleting", updated_at=utcnow())
        self._notify(call, "snapshot.delete.start", snapshot_usage(snap))

        def finish() -> None:
            if self.snapshots.pop(snap["id"], None) is not None:
                self._notify(call, "snapshot.delete.end", snapshot_usage(snap))

        self._later(finish)
        return web.Response(status=202)

    # -- volume types, availability zones ---------------------------------------------------

    async def list_types(self, request: web.Request) -> web.Response:
        call = self._call(request)
        return json_response({"volume_types": [type_view(t, call.is_admin)
                                               for t in self.types.values()]})

    async def show_type(self, request: web.Request) -> web.Response:
        call = self._call(request)
        type_id = request.match_info["type_id"]
        if type_id == "default" and call.at_least(3, 62):
            type_id = self.default_type_id
        if type_id not in self.types:
            raise not_found(f"Volume type {type_id} could not be found.")
        return json_response({"volume_type": type_view(self.types[type_id], call.is_admin)})

    async def availability_zones(self, request: web.Request) -> web.Response:
        self._call(request)
        return json_response({"availabilityZoneInfo": [
            {"zoneName": DEFAULT_AZ, "zoneState": {"available": True}}]})
