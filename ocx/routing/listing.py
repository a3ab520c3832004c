"""How each service lists a collection, in its own wire format. Pure: no I/O.

A :class:`Listing` describes one collection of one service: the body key, how its items are
sorted (``merge``), how it pages (``limit``, ``marker`` and the links it gives), and its
summary form. :func:`parse_query` reads a caller's listing query the way the service would
(bad ``limit`` or sort parameters get the service's own 400 wording); :func:`provider_request`
is the call one provider gets; :func:`body` is the merged answer.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from multidict import MultiDict, MultiDictProxy

from ..call import ApiRequest
from .merge import (
    Cursor,
    InvalidMarker,
    SortError,
    SortSpec,
    cinder_sort,
    decode_marker,
    glance_sort,
    neutron_sort,
    nova_sort,
)

PAGING = ("limit", "marker")


class ListingError(ValueError):
    """The query is one the service itself refuses; ``status`` and ``message`` say how
    (``kind``: Neutron's error type, when it is not the status's)."""

    def __init__(self, status: int, message: str, kind: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.kind = kind


def _keep(fields: frozenset[str]) -> Callable[[dict], dict]:
    return lambda item: {k: v for k, v in item.items() if k in fields}


def _drop_prefix(prefix: str) -> Callable[[dict], dict]:
    return lambda item: {k: v for k, v in item.items() if not k.startswith(prefix)}


# Nova sorts flavors by columns; the items name them differently.
NOVA_FLAVOR_FIELDS: Mapping[str, str] = {
    "flavorid": "id", "memory_mb": "ram", "root_gb": "disk",
    "ephemeral_gb": "OS-FLV-EXT-DATA:ephemeral", "is_public": "os-flavor-access:is_public",
}


def nova_flavor_sort(pairs) -> SortSpec:
    """Nova's flavor index: the last ``sort_key`` (default ``flavorid``) and ``sort_dir``
    (default ``asc``); the row id, here the flavor id, breaks ties in that direction."""
    params = dict(pairs)
    key, direction = params.get("sort_key", "flavorid"), params.get("sort_dir", "asc")
    if direction not in ("asc", "desc"):
        raise SortError(f"Invalid input for query parameters sort_dir. Value: {direction}.")
    field_name = NOVA_FLAVOR_FIELDS.get(key, key)
    keys = [(field_name, direction)] + ([("id", direction)] if field_name != "id" else [])
    return SortSpec(tuple(keys))


def by_name(pairs) -> SortSpec:
    """Nova's key pairs: by name."""
    return SortSpec((("name", "asc"),))


@dataclass(frozen=True)
class Listing:
    """One collection of one service, as the service lists it."""

    service: str
    collection: str                   # in the URL: "servers", "os-keypairs", "security-groups"
    key: str                          # in the body: "servers", "keypairs", "security_groups"
    style: str                        # "nova" | "cinder" | "glance" | "neutron": links, errors
    sort: Callable[[Any], SortSpec]
    id_field: str = "id"
    wrapper: str | None = None        # Nova's key pairs: each item is {"keypair": {...}}
    fold: bool = False                # what every cloud may hold alike (flavors): shown once
    default_limit: int | None = 1000  # page size without ``limit`` (None: everything)
    max_limit: int | None = 1000      # the service's own cap on ``limit``
    summary_fields: frozenset[str] = frozenset()  # what the non-detail form always shows
    summary: Callable[[dict], dict] | None = None  # detail item → summary item
    learnable: bool = True            # ids unique across clouds: worth a resource mapping
    links_need_limit: bool = False    # Neutron gives links only when a limit is asked

    @property
    def links_key(self) -> str:
        return f"{self.key}_links"

    def items(self, document: Any) -> list[dict] | None:
        """The items of one provider's answer; None if it is not a listing of this collection."""
        if not isinstance(document, dict) or not isinstance(document.get(self.key), list):
            return None
        items = document[self.key]
        if self.wrapper:
            items = [i.get(self.wrapper) for i in items if isinstance(i, dict)]
        return [i for i in items if isinstance(i, dict) and self.id_field in i]

    def item(self, document: Any) -> dict | None:
        """The resource of a show answer (what a marker resolves to)."""
        if not isinstance(document, dict):
            return None
        single = self.wrapper or (self.key[:-1] if self.key.endswith("s") else self.key)
        found = document.get(single)
        if found is None and self.style == "glance":
            found = document  # Glance answers with the bare image
        return found if isinstance(found, dict) else None

    def marker_not_found(self, marker: str) -> ListingError:
        if self.wrapper:
            return ListingError(400, f"Marker {marker} could not be found.")
        if self.style == "nova":
            return ListingError(400, f"marker [{marker}] not found")
        if self.style == "glance":
            return ListingError(400, f"No image found with ID {marker}")
        # Cinder and Neutron look the marker up as one of the listed resources: their 404.
        message, kind = _MARKER_NOT_FOUND[self.collection]
        return ListingError(404, message.format(marker), kind)

    def limit_error(self, value: str) -> ListingError:
        if self.style == "nova":
            return ListingError(400, f"Invalid input for query parameters limit. Value: "
                                     f"{value}. '{value}' does not match '^[0-9]*$'")
        if self.style == "neutron":
            return ListingError(400, f"Bad limit request: Limit must be an integer 0 or "
                                     f"greater and not '{value}'.")
        return ListingError(400, "limit param must be an integer" if not _is_int(value)
                            else "limit param must be positive")


# What Cinder and Neutron say of a marker that names none of their resources.
_MARKER_NOT_FOUND: Mapping[str, tuple[str, str | None]] = {
    "volumes": ("Volume {} could not be found.", None),
    "snapshots": ("Snapshot {} could not be found.", None),
    "networks": ("Network {} could not be found.", "NetworkNotFound"),
    "subnets": ("Subnet {} could not be found.", "SubnetNotFound"),
    "ports": ("Port {} could not be found.", "PortNotFound"),
    "routers": ("Router {} could not be found", "RouterNotFound"),
    "security-groups": ("Security group {} does not exist", "SecurityGroupNotFound"),
}


def _is_int(value: str) -> bool:
    try:
        int(value)
    except ValueError:
        return False
    return True


# -- the collections OCX lists over every cloud ----------------------------------------------

_SERVER_SUMMARY = frozenset({"id", "name", "links"})
_FLAVOR_SUMMARY = frozenset({"id", "name", "links", "description"})

LISTINGS: tuple[Listing, ...] = (
    Listing("compute", "servers", "servers", "nova", nova_sort,
            summary_fields=frozenset({"id", "name"}), summary=_keep(_SERVER_SUMMARY)),
    Listing("compute", "flavors", "flavors", "nova", nova_flavor_sort, fold=True,
            learnable=False, summary_fields=frozenset({"id", "name"}),
            summary=_keep(_FLAVOR_SUMMARY)),
    Listing("compute", "os-keypairs", "keypairs", "nova", by_name, id_field="name",
            wrapper="keypair", fold=True, learnable=False, default_limit=None,
            max_limit=None),
    Listing("volume", "volumes", "volumes", "cinder", cinder_sort,
            summary_fields=frozenset({"id", "name"}), summary=_keep(_SERVER_SUMMARY)),
    Listing("volume", "snapshots", "snapshots", "cinder", cinder_sort,
            summary_fields=frozenset({"id", "name", "created_at", "updated_at", "description",
                                      "volume_id", "status", "size"}),
            summary=_drop_prefix("os-extended-snapshot-attributes:")),
    Listing("image", "images", "images", "glance", glance_sort, default_limit=25),
    *(Listing("network", collection, collection.replace("-", "_"), "neutron", neutron_sort,
              default_limit=None, max_limit=None, links_need_limit=True)
      for collection in ("networks", "subnets", "ports", "routers", "security-groups")),
)


def find(service: str, collection: str | None) -> Listing | None:
    for listing in LISTINGS:
        if listing.service == service and listing.collection == collection:
            return listing
    return None


# -- the caller's query -------------------------------------------------------------------------

@dataclass(frozen=True)
class Query:
    """A caller's listing query, read as the service reads it."""

    spec: SortSpec
    limit: int | None            # items on this page (None: all)
    cursor: Cursor               # where OCX's own marker says each provider stands
    marker: str | None = None    # a provider's resource id given as marker (resolved by OCX)
    offset: int = 0              # Cinder's offset: items of the merged order to skip first
    fields: tuple[str, ...] = ()  # Neutron's field selection
    detail: bool = False         # ask providers for the detail form (sorting needs it)
    limited: bool = False        # the caller gave a limit (Neutron links depend on it)


def marker_context(listing: Listing, request: ApiRequest) -> str:
    """What an OCX marker is bound to: one listing of one service."""
    return f"{listing.service}/{listing.collection}/{'detail' if request.detail else ''}"


def _compute_version(request: ApiRequest) -> tuple[int, int] | None:
    value = request.headers.get("OpenStack-API-Version", "")
    parts = value.split()
    if len(parts) == 2 and parts[0].lower() == "compute":
        value = parts[1]
    else:
        value = request.headers.get("X-OpenStack-Nova-API-Version", "")
    if value == "latest":
        return (99, 99)
    major, _, minor = value.partition(".")
    return (int(major), int(minor)) if major.isdigit() and minor.isdigit() else None


def parse_query(listing: Listing, request: ApiRequest, key: bytes) -> Query:
    """Read ``limit``, ``marker``, sorting and field selection; refuse what the service would."""
    pairs = list(request.query.items())
    try:
        spec = listing.sort(pairs)
    except SortError as exc:
        raise ListingError(400, str(exc)) from None
    values = {k: v for k, v in pairs if k in ("limit", "marker", "offset")}
    if listing.wrapper and (_compute_version(request) or (2, 1)) < (2, 35):
        values = {}  # key pairs page only from microversion 2.35 on
    limit = listing.default_limit
    limited = "limit" in values
    if limited:
        raw = values["limit"].strip()
        if not _is_int(raw) or int(raw) < 0:
            raise listing.limit_error(raw)
        limit = int(raw) or listing.default_limit  # 0 asks for the default page, as Nova does
    if limit is not None and listing.max_limit is not None:
        limit = min(limit, listing.max_limit)
    if listing.style == "neutron" and limit is not None and any(
            k == "page_reverse" and v.strip().lower() == "true" for k, v in pairs):
        # Backwards from an OCX marker would need every cloud's items before the page, which
        # the marker does not hold; clients page forwards (openstacksdk never pages back).
        raise ListingError(400, "OCX pages listings over several clouds forwards only: "
                                "page_reverse=True is not supported; name a provider with "
                                "X-OCX-Provider to page one cloud backwards.", "BadRequest")
    if listing.style == "neutron" and limit is None:
        values.pop("marker", None)  # Neutron reads a marker only with a limit
    offset = 0
    if listing.style == "cinder" and "offset" in values:
        raw = values["offset"].strip()
        if not _is_int(raw) or int(raw) < 0:
            raise ListingError(400, "offset must be an integer" if not _is_int(raw)
                               else "offset must be >= 0")
        offset = int(raw)
    cursor, marker = Cursor(), values.get("marker") or None
    if marker is not None:
        try:
            decoded = decode_marker(marker, key, marker_context(listing, request))
        except InvalidMarker:
            raise listing.marker_not_found(marker) from None
        if decoded is not None:
            cursor, marker = decoded, None
    fields = tuple(v for k, v in pairs if k == "fields" and listing.style == "neutron")
    wanted = {f for f, _ in spec.keys}
    detail = listing.summary is not None and not request.detail \
        and not wanted <= listing.summary_fields
    return Query(spec, limit, cursor, marker, offset, fields, detail, limited)


def provider_request(listing: Listing, request: ApiRequest, query: Query,
                     marker: str | None, limit: int | None) -> ApiRequest:
    """The call one provider gets: the caller's filters and sort, its own marker and limit."""
    pairs = [(k, v) for k, v in request.query.items()
             if k not in PAGING and k != "offset" and k != "fields"]
    if query.fields:
        # The merge needs the sort fields and the id even where the caller did not ask.
        needed = dict.fromkeys([*query.fields, *(f for f, _ in query.spec.keys),
                                listing.id_field])
        pairs += [("fields", f) for f in needed]
    if listing.style == "neutron" and ("sort_key", "id") not in pairs:
        # Neutron breaks ties by id only when it pages; the merge needs every provider's items
        # in the full order, without a limit too.
        pairs += [("sort_key", "id"), ("sort_dir", "asc")]
    if limit is not None:
        pairs.append(("limit", str(limit)))
    if marker is not None:
        pairs.append(("marker", marker))
    return request.replace(query=MultiDictProxy(MultiDict(pairs)),
                           detail=request.detail or query.detail)


def present(listing: Listing, query: Query, item: dict) -> dict:
    """An item as the caller asked for it: its summary form, only the fields selected."""
    if query.detail and listing.summary is not None:
        item = listing.summary(item)
    if query.fields:
        item = {k: v for k, v in item.items() if k in query.fields}
    return item


def next_href(listing: Listing, request: ApiRequest, base: str, marker: str) -> str:
    """The caller's own query with OCX's marker in place of the old one, at OCX's URL."""
    pairs = [(k, v) for k, v in request.query.items() if k not in ("marker", "offset")]
    pairs.append(("marker", marker))
    path = request.path_for(request.project_id)
    if listing.style == "glance":
        return f"{path}?{urlencode(pairs)}"  # Glance's links are paths, not URLs
    return f"{base}{path}?{urlencode(pairs)}"


def body(listing: Listing, request: ApiRequest, query: Query, items: list[dict],
         next_link: str | None, extras: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The merged answer in the service's own shape."""
    shown = [{listing.wrapper: i} for i in items] if listing.wrapper else items
    document: dict[str, Any] = {listing.key: shown}
    if listing.style == "glance":
        first = [(k, v) for k, v in request.query.items() if k != "marker"]
        document["first"] = request.path_for(None) + (f"?{urlencode(first)}" if first else "")
        document["schema"] = f"/{request.version}/schemas/images"
        if next_link:
            document["next"] = next_link
    elif next_link and (query.limited or not listing.links_need_limit):
        document[listing.links_key] = [{"rel": "next", "href": next_link}]
    document.update(extras or {})
    return document
