"""The Proton provider kind: Gluon networking services reached over REST, one driver per service.

A Gluon port lives on a Proton server (its base URL comes from the port registry, see
``gluon_registry.py``); the driver for the port's networking service id turns bind, unbind,
show and list into that service's REST calls, as Gluon's backend drivers do
(``gluon/backends/backend_base.py``): under ``{url}/proton/{service}/v{version}/ports``, bind is
a ``PUT`` of ``device_owner``, ``device_id``, ``host_id`` and ``profile`` (a JSON string),
unbind the same four emptied, and a port's IP address is its service binding's.

Drivers are found by service id in the ``ocx.proton_drivers`` entry points, so a new
networking service is a new package. Any number of Proton servers can be called at once: the
URL is an argument of every call, the aiohttp session is the caller's (shared).

Failures: a Proton 404 → :class:`ProtonNotFound`; a Proton server that refuses, drops or does
not answer in time → :class:`ProtonUnavailable` naming its URL (a 503 for the Neutron API); any
other error status → :class:`ProtonError` with that status and Proton's own message (an answer
that is not JSON: status 502).
"""
from __future__ import annotations

import abc
import asyncio
import json
import logging
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any, ClassVar

import aiohttp
import orjson

from .base import ProviderUnreachable

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "ocx.proton_drivers"
DEFAULT_TIMEOUT = aiohttp.ClientTimeout(total=10, connect=3)


class ProtonError(Exception):
    """Proton answered with an error status; ``message`` is its WSME ``faultstring``."""

    def __init__(self, url: str, status: int, message: str) -> None:
        super().__init__(f"Proton server {url}: {status} {message}")
        self.url = url
        self.status = status
        self.message = message


class ProtonNotFound(ProtonError):
    """The Proton server has no such object (its 404)."""


class ProtonUnavailable(ProviderUnreachable):
    """The Proton server at ``url`` cannot be reached or did not answer in time (503)."""

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(f"Proton server {url}", reason)
        self.url = url


@dataclass(frozen=True)
class ProtonPort:
    """A Proton port as its server shows it, with the service binding that gives its IP."""

    url: str                                 # the Proton server's base URL
    service: str                             # the networking service id (net-l3vpn)
    port: dict[str, Any]                     # the port object, every attribute as Proton sends
    binding: dict[str, Any] | None = None    # the service binding, when the port has one

    @property
    def id(self) -> str:
        return self.port["id"]

    @property
    def tenant_id(self) -> str | None:
        return self.port.get("tenant_id")

    @property
    def ip_address(self) -> str | None:
        if not self.binding:
            return None
        # Gluon's driver reads ``ipaddress`` and falls back to ``ip``.
        return self.binding.get("ipaddress") or self.binding.get("ip") or None

    @property
    def subnet_prefix(self) -> int | None:
        return (self.binding or {}).get("subnet_prefix")

    @property
    def gateway(self) -> str | None:
        return (self.binding or {}).get("gateway")


# -- pure: request shapes ---------------------------------------------------------------------

def bind_body(device_owner: str, device_id: str, host_id: str,
              profile: dict[str, Any] | None) -> dict[str, Any]:
    """The PUT body that binds a port (``profile`` travels as a JSON string, as Gluon's)."""
    body: dict[str, Any] = {"device_owner": device_owner or "", "device_id": device_id or "",
                            "host_id": host_id or ""}
    if profile is not None:
        body["profile"] = json.dumps(profile)
    return body


def unbind_body() -> dict[str, Any]:
    return {"device_owner": "", "device_id": "", "host_id": "", "profile": ""}


def fault_message(body: bytes) -> str:
    """WSME's ``faultstring``, or the text of an answer that is not a WSME fault."""
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError:
        return body[:200].decode(errors="replace").strip() or "no message"
    if isinstance(doc, dict) and isinstance(doc.get("faultstring"), str):
        return doc["faultstring"]
    return body[:200].decode(errors="replace")


# -- drivers ----------------------------------------------------------------------------------

class ProtonDriver(abc.ABC):
    """One networking service's REST calls on any Proton server."""

    service: ClassVar[str]
    version: ClassVar[str] = "1.0"

    def __init__(self, session: aiohttp.ClientSession, *,
                 timeout: aiohttp.ClientTimeout = DEFAULT_TIMEOUT) -> None:
        self.session = session
        self.timeout = timeout

    def api_root(self, url: str) -> str:
        return f"{url.rstrip('/')}/proton/{self.service}/v{self.version}"

    async def _call(self, method: str, url: str, path: str, body: Any = None) -> Any:
        """One REST call; the decoded JSON answer (None for an empty one)."""
        target = f"{self.api_root(url)}/{path}"
        data = orjson.dumps(body) if body is not None else None
        headers = {"Accept": "application/json"}
        if data is not None:
            headers["Content-Type"] = "application/json"
        try:
            async with self.session.request(method, target, data=data, headers=headers,
                                            timeout=self.timeout) as resp:
                raw = await resp.read()
                status = resp.status
        except asyncio.TimeoutError:
            raise ProtonUnavailable(url, "timed out") from None
        except aiohttp.ClientError as exc:
            raise ProtonUnavailable(url, f"{type(exc).__name__}: {exc}") from None
        if status == 404:
            raise ProtonNotFound(url, status, fault_message(raw))
        if status >= 400:
            raise ProtonError(url, status, fault_message(raw))
        if not raw:
            return None
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise ProtonError(url, 502, "answer is not JSON") from None

    @abc.abstractmethod
    async def get_binding(self, url: str, port_id: str) -> dict[str, Any] | None:
        """The port's service binding, None when it has none."""

    @abc.abstractmethod
    async def list_bindings(self, url: str) -> dict[str, dict[str, Any]]:
        """Every service binding of the server by port id."""

    async def bind_port(self, url: str, port_id: str, device_owner: str, device_id: str,
                        host_id: str, profile: dict[str, Any] | None = None) -> ProtonPort:
        port = await self._call("PUT", url, f"ports/{port_id}",
                                bind_body(device_owner, device_id, host_id, profile))
        return ProtonPort(url, self.service, port, await self.get_binding(url, port_id))

    async def unbind_port(self, url: str, port_id: str) -> ProtonPort:
        port = await self._call("PUT", url, f"ports/{port_id}", unbind_body())
        return ProtonPort(url, self.service, port, await self.get_binding(url, port_id))

    async def update_port(self, url: str, port_id: str, values: dict[str, Any]) -> ProtonPort:
        """Any other change (a rename): sent as it is, not as an unbind."""
        port = await self._call("PUT", url, f"ports/{port_id}", values)
        return ProtonPort(url, self.service, port, await self.get_binding(url, port_id))

    async def get_port(self, url: str, port_id: str) -> ProtonPort:
        port = await self._call("GET", url, f"ports/{port_id}")
        return ProtonPort(url, self.service, port, await self.get_binding(url, port_id))

    async def list_ports(self, url: str, tenant_id: str | None = None) -> list[ProtonPort]:
        """The server's ports (of ``tenant_id`` only, when given), each with its binding.

        Two calls whatever the number of ports: the ports, then every binding.
        """
        doc = await self._call("GET", url, "ports")
        ports = [p for p in (doc or {}).get("ports", [])
                 if tenant_id is None or p.get("tenant_id") == tenant_id]
        bindings = await self.list_bindings(url) if ports else {}
        return [ProtonPort(url, self.service, p, bindings.get(p["id"])) for p in ports]


class L3VpnDriver(ProtonDriver):
    """``net-l3vpn``: the port's IP is in ``vpnbindings/{port id}`` (its default interface
    shares the port's id)."""

    service = "net-l3vpn"
    version = "1.0"

    async def get_binding(self, url: str, port_id: str) -> dict[str, Any] | None:
        try:
            return await self._call("GET", url, f"vpnbindings/{port_id}")
        except ProtonNotFound:
            return None

    async def list_bindings(self, url: str) -> dict[str, dict[str, Any]]:
        doc = await self._call("GET", url, "vpnbindings")
        return {b["interface_id"]: b for b in (doc or {}).get("vpnbindings", [])
                if isinstance(b, dict) and b.get("interface_id")}


# -- finding drivers --------------------------------------------------------------------------

def driver_classes() -> dict[str, type[ProtonDriver]]:
    """Driver classes by service id, from the ``ocx.proton_drivers`` entry points."""
    classes = {}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            cls = ep.load()
        except Exception as exc:  # noqa: BLE001 - a broken plugin must not stop the others
            log.error("proton driver %s could not be loaded: %s", ep.name, exc)
            continue
        classes[ep.name] = cls
    return classes


class ProtonDrivers:
    """The drivers of every installed networking service, sharing one session."""

    def __init__(self, session: aiohttp.ClientSession, *,
                 timeout: aiohttp.ClientTimeout = DEFAULT_TIMEOUT,
                 classes: dict[str, type[ProtonDriver]] | None = None) -> None:
        self._classes = driver_classes() if classes is None else dict(classes)
        self._session = session
        self._timeout = timeout
        self._drivers: dict[str, ProtonDriver] = {}

    @property
    def services(self) -> frozenset[str]:
        return frozenset(self._classes)

    def for_service(self, service: str) -> ProtonDriver | None:
        """The driver of a networking service id; None when none is installed."""
        driver = self._drivers.get(service)
        if driver is None and service in self._classes:
            driver = self._drivers[service] = self._classes[service](
                self._session, timeout=self._timeout)
        return driver
