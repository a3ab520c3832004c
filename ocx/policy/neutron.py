"""A small asyncio Neutron client that renders GBP through OCX's own network path.

Every call goes to OCX's own public Neutron endpoint (``<public_url>/network/v2.0/...``) with
the caller's token, and names the provider the L3 policy renders onto (``X-OCX-Provider``),
over the HTTP session the gateway already has. OCX then plans, credits and executes it like
any client's call: on a Neutron provider today, on a controller provider the same way, and the
resources are learned as mappings. No token is logged; an error carries Neutron's own type and
message.
"""
from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from typing import Any

import aiohttp
import orjson

SINGULAR = {"networks": "network", "subnets": "subnet", "ports": "port", "routers": "router"}
EXTENSION_CACHE_SECONDS = 300.0


class NeutronFailure(Exception):
    """Neutron (or OCX on its way) refused or failed a call."""

    def __init__(self, status: int, type_: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.type = type_
        self.message = message


def _failure(status: int, body: bytes) -> NeutronFailure:
    try:
        error = orjson.loads(body)["NeutronError"]
        return NeutronFailure(status, str(error.get("type") or "NeutronError"),
                              str(error.get("message") or ""))
    except (orjson.JSONDecodeError, KeyError, TypeError, AttributeError):
        pass
    try:   # OCX's own errors before Neutron (401 in Keystone's form, 50x)
        error = orjson.loads(body)["error"]
        return NeutronFailure(status, str(error.get("title") or "Error"),
                              str(error.get("message") or ""))
    except (orjson.JSONDecodeError, KeyError, TypeError, AttributeError):
        text = body[:200].decode(errors="replace").strip()
        return NeutronFailure(status, "Error", text or f"HTTP {status}")


class NeutronClients:
    """Makes a client per caller; remembers which providers' Neutrons have an extension."""

    def __init__(self, http: aiohttp.ClientSession, public_url: str, timeout: float) -> None:
        self.http = http
        self.base = f"{public_url.rstrip('/')}/network/v2.0"
        self.timeout = timeout
        self._extensions: dict[tuple[str | None, str], tuple[bool, float]] = {}

    def for_caller(self, token: str, provider: str | None) -> Neutron:
        return Neutron(self, token, provider)


class Neutron:
    def __init__(self, clients: NeutronClients, token: str, provider: str | None) -> None:
        self._clients = clients
        self._token = token
        self.provider = provider

    async def _call(self, method: str, path: str, body: Any = None,
                    query: list[tuple[str, str]] | None = None) -> tuple[int, Any]:
        headers = {"X-Auth-Token": self._token, "Accept": "application/json"}
        if self.provider:
            headers["X-OCX-Provider"] = self.provider
        data = None
        if body is not None:
            headers["Content-Type"] = "application/json"
            data = orjson.dumps(body)
        url = f"{self._clients.base}/{path}"
        try:
            async with asyncio.timeout(self._clients.timeout):
                async with self._clients.http.request(method, url, data=data, params=query,
                                                      headers=headers) as resp:
                    raw = await resp.read()
        except TimeoutError:
            raise NeutronFailure(504, "GatewayTimeout",
                                 f"Neutron did not answer {method} {path} within "
                                 f"{self._clients.timeout:g} s") from None
        except aiohttp.ClientError as exc:
            raise NeutronFailure(502, "BadGateway",
                                 f"Neutron could not be reached for {method} {path}: "
                                 f"{type(exc).__name__}") from None
        if resp.status >= 400:
            raise _failure(resp.status, raw)
        return resp.status, (orjson.loads(raw) if raw else None)

    async def create(self, collection: str, attrs: Mapping[str, Any]) -> dict:
        key = SINGULAR[collection]
        _, doc = await self._call("POST", collection, {key: dict(attrs)})
        return doc[key]

    async def show(self, collection: str, resource_id: str) -> dict:
        _, doc = await self._call("GET", f"{collection}/{resource_id}")
        return doc[SINGULAR[collection]]

    async def update(self, collection: str, resource_id: str,
                     attrs: Mapping[str, Any]) -> dict:
        key = SINGULAR[collection]
        _, doc = await self._call("PUT", f"{collection}/{resource_id}", {key: dict(attrs)})
        return doc[key]

    async def delete(self, collection: str, resource_id: str, *,
                     missing_ok: bool = True) -> None:
        try:
            await self._call("DELETE", f"{collection}/{resource_id}")
        except NeutronFailure as exc:
            if not (missing_ok and exc.status == 404):
                raise

    async def list(self, collection: str, **filters: Any) -> list[dict]:
        """A listing; a filter given a list is repeated (any of the values)."""
        query = [(name, str(v)) for name, value in filters.items()
                 for v in (value if isinstance(value, (list, tuple)) else [value])]
        _, doc = await self._call("GET", collection, query=query)
        return doc[collection]

    async def add_interface(self, router_id: str, subnet_id: str) -> dict:
        _, doc = await self._call("PUT", f"routers/{router_id}/add_router_interface",
                                  {"subnet_id": subnet_id})
        return doc

    async def remove_interface(self, router_id: str, subnet_id: str, *,
                               missing_ok: bool = True) -> None:
        try:
            await self._call("PUT", f"routers/{router_id}/remove_router_interface",
                             {"subnet_id": subnet_id})
        except NeutronFailure as exc:
            # Neutron's RouterInterfaceNotFoundForSubnet is a 404: nothing to remove.
            if not (missing_ok and exc.status == 404):
                raise

    async def has_extension(self, alias: str) -> bool:
        """Whether this provider's Neutron offers ``alias`` (kept a while)."""
        key = (self.provider, alias)
        known = self._clients._extensions.get(key)
        now = time.monotonic()
        if known is not None and known[1] > now:
            return known[0]
        try:
            await self._call("GET", f"extensions/{alias}")
            found = True
        except NeutronFailure as exc:
            if exc.status != 404:
                raise
            found = False
        self._clients._extensions[key] = (found, now + EXTENSION_CACHE_SECONDS)
        return found
