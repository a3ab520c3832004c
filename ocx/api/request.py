"""Parse: an inbound HTTP request → an immutable :class:`ApiRequest`.

OCX serves each OpenStack service under a prefix (``/compute``, ``/volume``, ``/image``,
``/network``); beneath it the path is the one the real service uses, with or without a project
id as that service does. REST paths are predictable (seed 000): after the version and the
optional project come a collection, an optional resource id and what follows it.
"""
from __future__ import annotations

import re
from urllib.parse import unquote

from multidict import CIMultiDict, CIMultiDictProxy, MultiDict, MultiDictProxy

from ..call import SERVICES, ApiRequest

_VERSION = re.compile(r"^v\d+(\.\d+)?$")
_PROJECT = re.compile(r"^[0-9a-f]{32}$|^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
# A collection's "id" segment that is really a listing.
_LISTINGS = frozenset({"detail"})


class ParseError(ValueError):
    """The path cannot be a call to an OpenStack service; ``status`` says how to answer."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _segments(raw_path: str) -> list[str]:
    """Path segments, still percent-encoded; dot segments are refused, not resolved."""
    segments = [s for s in raw_path.split("/") if s]
    for segment in segments:
        decoded = unquote(segment)
        if decoded in (".", "..") or "/" in decoded or "\x00" in decoded:
            raise ParseError(400, "The request path is not valid.")
    return segments


def parse(method: str, raw_path: str, query: MultiDict | MultiDictProxy,
          headers: CIMultiDict | CIMultiDictProxy, body: bytes | None = None) -> ApiRequest:
    """Parse ``/{service}/{version}[/{project}]/{collection}[/{id}[/...]]``."""
    segments = _segments(raw_path)
    if not segments or segments[0] not in SERVICES:
        raise ParseError(404, "The resource could not be found.")
    service, rest = segments[0], segments[1:]
    version = project = collection = resource_id = None
    listing = detail = False
    subpath: tuple[str, ...] = ()
    if rest and _VERSION.match(rest[0]):
        version, rest = rest[0], rest[1:]
        if rest and service in ("compute", "volume") and _PROJECT.match(rest[0]):
            project, rest = rest[0], rest[1:]
        if rest:
            collection, rest = unquote(rest[0]), rest[1:]
            if rest and rest[0] in _LISTINGS and len(rest) == 1:
                detail, rest = True, []
            if rest:
                resource_id, subpath = unquote(rest[0]), tuple(rest[1:])
            listing = method in ("GET", "HEAD") and resource_id is None
    elif rest:
        # Under the service root only version documents live (e.g. Glance's /versions).
        collection, subpath = unquote(rest[0]), tuple(rest[1:])
    return ApiRequest(method=method, service=service, version=version, project_id=project,
                      collection=collection, resource_id=resource_id, subpath=subpath,
                      query=MultiDictProxy(MultiDict(query)),
                      headers=CIMultiDictProxy(CIMultiDict(headers)),
                      listing=listing, detail=detail, body=body,
                      trailing_slash=len(segments) > 1 and raw_path.endswith("/"))
