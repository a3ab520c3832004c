"""Name routing (mixmatch's ``name_routing``): a create whose name ends in ``@provider`` goes to
that provider, the suffix removed, for clients that cannot send ``X-OCX-Provider``::

    openstack volume create --size 1 data@sp2      # a volume named "data", in sp2

Only a known provider's name counts as a suffix: ``backup@example.org`` stays a name.
"""
from __future__ import annotations

from collections.abc import Sequence

import orjson
from multidict import CIMultiDict, CIMultiDictProxy

from ..call import ApiRequest
from ..routing.plan import TARGET_HEADERS, named_provider
from .base import Call, Extension, ExtensionError


def split_name(name: str, providers: Sequence[str]) -> tuple[str, str] | None:
    """``("data", "sp2")`` for ``"data@sp2"`` when sp2 is a provider; None otherwise."""
    base, at, suffix = name.rpartition("@")
    if not at or not base or suffix not in providers:
        return None
    return base, suffix


def _named(body: object) -> dict | None:
    """The object holding the created resource's ``name``: the body itself (Glance's image
    create), else the one member that has a name (``{"server": {...}, "os:scheduler_hints":
    {...}}``)."""
    if not isinstance(body, dict):
        return None
    if isinstance(body.get("name"), str):
        return body
    named = [inner for inner in body.values()
             if isinstance(inner, dict) and isinstance(inner.get("name"), str)]
    return named[0] if len(named) == 1 else None


def routed(request: ApiRequest, providers: Sequence[str]) -> ApiRequest | None:
    """``request`` with the suffix taken off the name and the provider named in its headers;
    None when the name has no provider suffix."""
    try:
        body = orjson.loads(request.body or b"")
    except orjson.JSONDecodeError:
        return None  # the service answers a malformed body itself
    holder = _named(body)
    found = split_name(holder["name"], providers) if holder is not None else None
    if found is None:
        return None
    holder["name"], provider = found
    already = named_provider(request)
    if already is not None and already != provider:
        raise ExtensionError(400, f"The name names provider {provider!r} and the "
                                  f"{TARGET_HEADERS[0]} header {already!r}: name one.")
    headers = CIMultiDict(request.headers)
    headers[TARGET_HEADERS[0]] = provider
    return request.replace(body=orjson.dumps(body), headers=CIMultiDictProxy(headers))


class NameRouting(Extension):
    name = "name-routing"
    methods = frozenset({"POST"})
    paths = ("/compute/{collection}", "/volume/{collection}", "/image/{collection}",
             "/network/{collection}")

    def __init__(self, providers: Sequence[str]) -> None:
        self.providers = providers  # live: the gateway's providers change while it runs

    async def on_request(self, call: Call, params: dict[str, str]) -> None:
        changed = routed(call.request, self.providers)
        if changed is not None:
            call.request = changed
