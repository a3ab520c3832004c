"""Gluon ports on OCX's Neutron API (issue 9; seed 002, the Gluon wrapper plugin).

OCX stands where Nova calls Neutron. A port the etcd registry names (``<prefix><port id>``:
its tenant, networking service and Proton server) is a Gluon port, served by its Proton
server; any other port, and every other Neutron call, goes on to Neutron unchanged.

- ``GET /v2.0/ports/{id}``: the Proton port as a Neutron port (``gluon_shape``).
- ``PUT /v2.0/ports/{id}``: ``binding:host_id`` set → bind, cleared → unbind, not given → an
  update (a rename is never an unbind); answered with the whole port as Neutron shows it.
- ``GET /v2.0/ports``: each Proton server holding ports of the caller's project is one more
  *listing source* of the gateway's merged listing (``api.fanout``), so that filters,
  ``fields``, ``sort_key``/``sort_dir``, ``limit`` and ``marker`` apply to Neutron's and
  Gluon's ports alike.

Unlike the original wrapper, errors are not swallowed: Proton's 404 is Neutron's
``PortNotFound``, a Proton server that cannot be reached is a 503 naming it, a malformed
registry entry is a 500 naming the key, never a guess.
"""
from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

import aiohttp
import orjson
from multidict import CIMultiDict, CIMultiDictProxy, MultiDict, MultiDictProxy

from ..backends.base import ProviderResponse, ProviderUnreachable
from ..backends.gluon_registry import GluonRegistry, Malformed, PortBackend
from ..backends.proton import (ProtonDrivers, ProtonError, ProtonNotFound, ProtonPort,
                               ProtonUnavailable)
from ..call import ApiRequest, Shaped
from . import gluon_shape as shape
from .base import Call, Extension, ExtensionError

log = logging.getLogger(__name__)

BINDING_ROLES = frozenset({"admin", "service"})
# Where an extension hands the gateway's merged listing sources of its own (api.fanout).
LISTING_SOURCES = "listing_sources"


@dataclass(frozen=True)
class GluonSettings:
    """``[gluon]``: the registry and the dummy network and subnet (by id, else by name)."""

    etcd_url: str
    key_prefix: str = "/gluon/port/"
    network_id: str | None = None
    network_name: str = "GluonNetwork"
    subnet_id: str | None = None
    subnet_name: str = "GluonSubnet"
    timeout: float = 10.0


@dataclass(frozen=True)
class Dummies:
    network_id: str
    subnet_id: str


def _port_not_found(port_id: str) -> ExtensionError:
    return ExtensionError(404, f"Port {port_id} could not be found.", "PortNotFound")


class GluonPorts(Extension):
    name = "gluon-ports"
    methods = frozenset({"GET", "PUT"})
    paths = ("/network/ports", "/network/ports/{port_id}")

    def __init__(self, executor, mapper, providers: Sequence[str],
                 gluon: GluonSettings | None = None) -> None:
        self.executor = executor            # routing.execute.Executor (the home Neutron)
        self.mapper = mapper                # the caller's credentials at home
        self.providers = providers          # home first
        self.settings = gluon
        if gluon is None:
            self.paths = ()                 # not configured: joins no call
        self.registry = None
        self.session: aiohttp.ClientSession | None = None
        self.drivers: ProtonDrivers | None = None
        self._dummies: Dummies | None = None

    # -- life -----------------------------------------------------------------------------------

    async def start(self) -> None:
        if self.settings is None:
            return
        self.session = aiohttp.ClientSession()
        self.drivers = ProtonDrivers(self.session, timeout=aiohttp.ClientTimeout(
            total=self.settings.timeout, connect=min(3.0, self.settings.timeout)))
        self.registry = GluonRegistry(self.settings.etcd_url, self.settings.key_prefix,
                                      timeout=self.settings.timeout)
        try:
            await self.registry.start()
        except ConnectionError as exc:
            # OCX serves the rest meanwhile; the registry keeps trying (see _entry).
            log.warning("gluon: the port registry cannot be read yet: %s", exc)

    async def stop(self) -> None:
        if self.registry is not None:
            await self.registry.stop()
        if self.session is not None:
            await self.session.close()

    # -- hooks ----------------------------------------------------------------------------------

    async def on_request(self, call: Call, params: dict[str, str]) -> None:
        api = call.request
        port_id = params.get("port_id")
        if port_id is None:
            if api.method == "GET" and api.listing:
                call.extras[LISTING_SOURCES] = self._sources(call)
            return
        entry = self._entry(port_id)
        if entry is None:
            return  # a Neutron port
        if not self._visible(call, entry):
            raise _port_not_found(port_id)
        if api.method == "GET":
            port = await self._neutron_port(call, entry, await self._get(entry))
            fields = api.query.getall("fields", [])
            self._reply(call, {"port": shape.select(port, fields)})
        elif api.method == "PUT":
            self._reply(call, {"port": await self._update(call, entry)})

    # -- the registry ---------------------------------------------------------------------------

    def _key(self, port_id: str) -> str:
        return f"{self.registry.prefix}{port_id}"

    def _entry(self, port_id: str) -> PortBackend | None:
        entry = self.registry.lookup(port_id)
        if entry is None and not self.registry.synced:
            # Whether it is a Gluon port is unknown: not sent to Neutron on a guess.
            raise ExtensionError(503, f"The Gluon port registry (etcd at "
                                      f"{self.registry.endpoint}) cannot be read now, so "
                                      f"whether port {port_id} is a Gluon port is unknown; "
                                      f"try again.")
        if isinstance(entry, Malformed):
            log.error("gluon: registry entry %s is malformed: %s", self._key(port_id),
                      entry.reason)
            raise ExtensionError(500, f"The Gluon port registry entry {self._key(port_id)} is "
                                      f"malformed ({entry.reason}); the port cannot be served "
                                      f"until it is fixed.")
        return entry

    def _entries(self, call: Call) -> list[PortBackend]:
        found = []
        for port_id, entry in self.registry.entries().items():
            if isinstance(entry, Malformed):
                log.warning("gluon: registry entry %s is malformed and left out of listings: "
                            "%s", self._key(port_id), entry.reason)
            elif self._visible(call, entry):
                found.append(entry)
        return found

    @staticmethod
    def _visible(call: Call, entry) -> bool:
        """Neutron shows a port to its project, and every port to an admin."""
        return call.caller.is_admin or entry.tenant_id == call.caller.project_id

    # -- Proton ---------------------------------------------------------------------------------

    async def _proton(self, entry: PortBackend, operation: str, *args):
        """One driver call for ``entry``'s port; Proton's failures in Neutron's words."""
        driver = self.drivers.for_service(entry.service)
        if driver is None:
            raise ExtensionError(500, f"Gluon port {entry.port_id} belongs to networking "
                                      f"service {entry.service!r}, for which OCX has no "
                                      f"Proton driver installed.")
        try:
            return await getattr(driver, operation)(entry.url, *args)
        except ProtonNotFound:
            raise _port_not_found(entry.port_id) from None
        except ProtonUnavailable as exc:
            raise ExtensionError(503, f"The Proton server {entry.url} ({entry.service}) of "
                                      f"Gluon port {entry.port_id} is unavailable: "
                                      f"{exc.reason}.") from None
        except ProtonError as exc:
            raise ExtensionError(exc.status if 400 <= exc.status < 500 else 502,
                                 f"The Proton server {entry.url} ({entry.service}) refused "
                                 f"the call on Gluon port {entry.port_id}: "
                                 f"{exc.message}") from None

    async def _get(self, entry: PortBackend) -> ProtonPort:
        return await self._proton(entry, "get_port", entry.port_id)

    async def _update(self, call: Call, entry) -> dict:
        try:
            document = orjson.loads(call.request.body or b"")
        except orjson.JSONDecodeError:
            raise ExtensionError(400, "Malformed request body") from None
        if not isinstance(document, dict) or "port" not in document:
            raise ExtensionError(400, "Resource body required")
        current = await self._neutron_port(call, entry, await self._get(entry))
        try:
            update = shape.decide(document["port"], current)
        except shape.Refused as exc:
            raise ExtensionError(400, exc.message, exc.kind) from None
        binding = [k for k in shape.BINDING_ONLY if k in document["port"]]
        if binding and not call.caller.roles & BINDING_ROLES:
            # Neutron's default policy: a port's binding is Nova's (admin or service) to set.
            rules = " and ".join(["rule:update_port", *(f"rule:update_port:{k}"
                                                         for k in binding)])
            raise ExtensionError(403, f"({rules}) is disallowed by policy",
                                 "PolicyNotAuthorized")
        port_id = entry.port_id
        if update.action == "bind":
            log.info("gluon: binding port %s to host %s at %s", port_id, update.host_id,
                     entry.url)
            port = await self._proton(entry, "bind_port", port_id, update.device_owner,
                                      update.device_id, update.host_id, update.profile)
        elif update.action == "unbind":
            log.info("gluon: unbinding port %s at %s", port_id, entry.url)
            port = await self._proton(entry, "unbind_port", port_id)
        else:
            port = None
        if update.changes:
            port = await self._proton(entry, "update_port", port_id,
                                      shape.proton_values(update.changes))
        if port is None:
            port = await self._get(entry)
        return await self._neutron_port(call, entry, port)

    async def _neutron_port(self, call: Call, entry: PortBackend, port: ProtonPort) -> dict:
        dummies = await self._dummy_ids(call)
        fields = {**port.port, "id": port.port.get("id") or entry.port_id}
        if not fields.get("tenant_id"):
            fields["tenant_id"] = entry.tenant_id
        return shape.neutron_port(fields, network_id=dummies.network_id,
                                  subnet_id=dummies.subnet_id, ip_address=port.ip_address)

    # -- the listing sources --------------------------------------------------------------------

    def _sources(self, call: Call) -> dict:
        """One listing source per Proton server holding ports the caller may see."""
        by_server: dict[tuple[str, str], dict[str, object]] = {}
        for entry in self._entries(call):
            by_server.setdefault((entry.service, entry.url), {})[entry.port_id] = entry
        return {f"proton {url}": self._source(call, service, url, entries)
                for (service, url), entries in by_server.items()}

    def _source(self, call: Call, service: str, url: str, entries: dict):
        name = f"proton {url}"

        async def ask(request: ApiRequest) -> ProviderResponse:
            try:
                if request.resource_id is not None:  # the merge looks a marker up
                    entry = entries.get(request.resource_id)
                    if entry is None:
                        return _answer(name, url, 404, {"NeutronError": {
                            "type": "PortNotFound", "detail": "",
                            "message": f"Port {request.resource_id} could not be found."}})
                    port = await self._neutron_port(call, entry, await self._get(entry))
                    return _answer(name, url, 200, {"port": port})
                held = await self._proton(next(iter(entries.values())), "list_ports")
                ports = [await self._neutron_port(call, entries[p.id], p)
                         for p in held if p.id in entries]
                try:
                    document = shape.listing(ports, request.query.items())
                except shape.Refused as exc:
                    return _answer(name, url, 400, {"NeutronError": {
                        "type": exc.kind, "message": exc.message, "detail": ""}})
                except LookupError as exc:
                    return _answer(name, url, 404, {"NeutronError": {
                        "type": "PortNotFound", "detail": "",
                        "message": f"Port {exc.args[0]} could not be found."}})
                return _answer(name, url, 200, document)
            except ExtensionError as exc:
                if exc.status in (400, 404) and exc.kind:
                    return _answer(name, url, exc.status, {"NeutronError": {
                        "type": exc.kind, "message": exc.message, "detail": ""}})
                raise ProviderUnreachable(name, exc.message) from None

        return ask

    # -- the dummy network and subnet -----------------------------------------------------------

    async def _dummy_ids(self, call: Call) -> Dummies:
        """The configured ids, else those found by name in the home cloud's Neutron (once)."""
        if self._dummies is not None:
            return self._dummies
        settings = self.settings
        network_id, subnet_id = settings.network_id, settings.subnet_id
        if not network_id:
            network_id = await self._find(call, "networks", name=settings.network_name)
            if network_id is None:
                raise ExtensionError(503, f"The Gluon network {settings.network_name!r} is "
                                          f"not in the home cloud's Neutron: run `ocx gluon "
                                          f"setup`.")
        if not subnet_id:
            subnet_id = await self._find(call, "subnets", name=settings.subnet_name,
                                         network_id=network_id)
            if subnet_id is None:
                raise ExtensionError(503, f"The Gluon subnet {settings.subnet_name!r} is not "
                                          f"in the home cloud's Neutron: run `ocx gluon "
                                          f"setup`.")
        self._dummies = Dummies(network_id, subnet_id)
        return self._dummies

    async def _find(self, call: Call, collection: str, **query: str) -> str | None:
        home = self.providers[0]
        credentials = await self.mapper.credentials(call.caller, home)
        request = ApiRequest.own("GET", "network", call.caller.project_id, collection,
                                 None).replace(
            query=MultiDictProxy(MultiDict([*query.items(), ("fields", "id")])),
            headers=CIMultiDictProxy(CIMultiDict({"Accept": "application/json"})))
        answer = await self.executor.send(home, request, credentials)
        answer.release()
        try:
            items = orjson.loads(answer.body or b"").get(collection) if answer.ok else None
        except (orjson.JSONDecodeError, AttributeError):
            items = None
        if not isinstance(items, list):
            raise ExtensionError(503, f"The home cloud's Neutron could not be asked for the "
                                      f"Gluon {collection[:-1]} (it answered {answer.status}).")
        ids = [i["id"] for i in items if isinstance(i, dict) and isinstance(i.get("id"), str)]
        return ids[0] if ids else None

    # -- answers --------------------------------------------------------------------------------

    @staticmethod
    def _reply(call: Call, document: dict) -> None:
        call.response = Shaped(200, _json_headers(), orjson.dumps(document))


def _json_headers() -> CIMultiDict:
    return CIMultiDict({"Content-Type": "application/json",
                        "X-OpenStack-Request-ID": f"req-{uuid.uuid4()}"})


def _answer(name: str, url: str, status: int, document: dict) -> ProviderResponse:
    """A listing source's answer, as a provider's would be."""
    return ProviderResponse(name, status, _json_headers(), url, None, orjson.dumps(document))
