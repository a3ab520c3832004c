"""A controller provider: OCX serves Neutron's API for a landlord whose networking is a set
of redundant SDN controllers (issue 10, seed 003).

``send`` takes the Neutron call the pipeline planned for this provider and answers it as
Neutron would: the request checked (``controller_neutron``), then read from OCX's store or
written through :class:`~ocx.backends.controller.ControllerNetworking` (store first, then the
controllers; rolled back when none accepts). Refusals come back as Neutron error answers;
only "no controller accepted" (503) and a configuration error (502) are failures.

The caller's own identity serves here (no K2K: the controllers know no Keystone): the tenant
is the caller's home project, and the caller's roles decide what Neutron's policy allows.
This provider keeps its own servers' health (``own_health``): the gateway's health book never
marks it down, so reads are answered from the store while every controller is down.
"""
from __future__ import annotations

import asyncio
import ipaddress
import logging
import uuid
from collections.abc import Mapping
from typing import Any, NamedTuple
from urllib.parse import urlencode

import aiohttp
import orjson
from multidict import CIMultiDict
from neutron_lib.api import converters

from ..call import ApiRequest
from . import controller_neutron as nn
from .base import Credentials, Provider, ProviderResponse, ServiceNotOffered
from .controller import ControllerNetworking

log = logging.getLogger(__name__)
JSON = "application/json"
VERSION = "v2.0"
_INTERFACE_ACTIONS = ("add_router_interface", "remove_router_interface")


class Interface(NamedTuple):
    """A router interface as the store records it (its ``RouterInterface``'s fields)."""

    router_id: str
    subnet_id: str
    port_id: str


class ControllerProvider(Provider):
    kind = "controller"
    own_health = True

    def __init__(self, networking: ControllerNetworking) -> None:
        super().__init__(networking.name)
        self.networking = networking
        self.store = networking.store
        # Ports of one network get their addresses one at a time in this process (the store
        # has no address table; across workers the random choice keeps clashes rare).
        self._address_locks: dict[str, asyncio.Lock] = {}

    @property
    def client(self):
        return self.networking.client

    def root(self, service: str, credentials: Credentials) -> str | None:
        return f"controller://{self.name}/network" if service == "network" else None

    async def send(self, session: aiohttp.ClientSession, request: ApiRequest,
                   credentials: Credentials, *, body, timeout: aiohttp.ClientTimeout,
                   method: str | None = None) -> ProviderResponse:
        root = self.root(request.service, credentials)
        if root is None:
            raise ServiceNotOffered(self.name, f"offers no {request.service} service")
        if request.collection not in (None, "extensions", *nn.COLLECTIONS):
            # Like a cloud without the service: absent from listings, not missing.
            raise ServiceNotOffered(self.name, f"offers no {request.collection}")
        asker = nn.Asker(credentials.project_id or "", "admin" in credentials.roles)
        try:
            if body is not None and not isinstance(body, (bytes, bytearray)):
                raise nn.NeutronApiError(415, "Unsupported Content-Type",
                                         "HTTPUnsupportedMediaType")
            status, document = await self._answer(request.replace(method=method or
                                                                  request.method),
                                                  asker, body, root)
        except nn.NeutronApiError as exc:
            status, document = exc.status, _error(exc.kind, exc.message)
        except Exception as exc:
            refusal = _refusal(exc)
            if refusal is None:
                raise
            status, document = refusal
        return _response(self.name, root, credentials, status, document,
                         head=(method or request.method) == "HEAD")

    # -- routing a Neutron call ------------------------------------------------------------------

    async def _answer(self, api: ApiRequest, asker: nn.Asker, body: bytes | None,
                      root: str) -> tuple[int, Any]:
        method = "GET" if api.method == "HEAD" else api.method
        if api.version is None:
            _only(method, "GET")
            return 200, {"versions": [{"id": VERSION, "status": "CURRENT", "links": [
                {"href": f"{root}/{VERSION}/", "rel": "self"}]}]}
        if api.version != VERSION:
            raise nn.NeutronApiError(404, "The resource could not be found.", "HTTPNotFound")
        collection = api.collection
        if collection is None:
            _only(method, "GET")
            return 200, {"resources": [
                {"name": nn.COLLECTIONS[c], "collection": c,
                 "links": [{"href": f"{root}/{VERSION}/{c}", "rel": "self"}]}
                for c in nn.COLLECTIONS]}
        if collection == "extensions":
            return _extensions(method, api.resource_id)
        rid = api.resource_id
        if rid is None:
            if method == "GET":
                return 200, await self._list(collection, api, asker, root)
            _only(method, "GET", "POST")
            return 201, await self._create(collection, _json(body), asker)
        if api.subpath:
            if collection != "routers" or len(api.subpath) != 1 \
                    or api.subpath[0] not in _INTERFACE_ACTIONS:
                raise nn.NeutronApiError(404, "The resource could not be found.",
                                         "HTTPNotFound")
            _only(method, "PUT")
            return 200, await self._interface(api.subpath[0], rid, _json(body), asker)
        if method == "GET":
            return 200, {nn.COLLECTIONS[collection]: nn.select(
                await self._visible(collection, rid, asker), _fields(api))}
        if method == "PUT":
            return 200, await self._update(collection, rid, _json(body), asker)
        _only(method, "GET", "PUT", "DELETE")
        await self._visible(collection, rid, asker)
        await self.networking.delete(collection, rid)
        return 204, None

    async def _visible(self, collection: str, rid: str, asker: nn.Asker) -> dict:
        """The resource, if the asker may see it; Neutron's 404 otherwise (also for one that
        exists in another project), without asking a controller."""
        item = await self.networking.get(collection, rid)
        if item is None or not nn.visible(collection, item, asker,
                                          await self._shared(collection, item)):
            raise nn.not_found(collection, rid)
        return item

    async def _shared(self, collection: str, item: Mapping[str, Any] | None = None
                      ) -> frozenset[str]:
        if collection != "subnets":
            return frozenset()
        if item is not None:
            network = await self.networking.get("networks", item["network_id"])
            return frozenset([network["id"]]) if network and network.get("shared") \
                else frozenset()
        return frozenset(n["id"] for n in await self.networking.list("networks")
                         if n.get("shared"))

    # -- reads -------------------------------------------------------------------------------------

    async def _list(self, collection: str, api: ApiRequest, asker: nn.Asker, root: str
                    ) -> dict:
        query = nn.parse_list(collection, list(api.query.items()))
        shared = await self._shared(collection)
        items = [i for i in await self.networking.list(collection)
                 if nn.visible(collection, i, asker, shared) and nn.matches(i, query.filters)]
        page, more = nn.page(items, query)
        document: dict[str, Any] = {collection: [nn.select(i, query.fields) for i in page]}
        if more and page:
            pairs = [(k, v) for k, v in api.query.items() if k != "marker"]
            pairs.append(("marker", page[-1]["id"]))
            document[f"{collection}_links"] = [
                {"rel": "next", "href": f"{root}/{VERSION}/{collection}?{urlencode(pairs)}"}]
        return document

    # -- writes ------------------------------------------------------------------------------------

    async def _create(self, collection: str, body: Any, asker: nn.Asker) -> dict:
        items = nn.prepare(collection, body, asker, create=True)
        for item in items:
            nn.check_policy(collection, "create", item, asker)
        made = []
        try:
            for item in items:
                made.append(await self._create_one(collection, item, asker))
        except Exception:
            # A bulk create is all or nothing, as Neutron's.
            for done in reversed(made):
                try:
                    await self.networking.delete(collection, done["id"])
                except Exception:  # noqa: BLE001 - the create's failure is the answer
                    log.exception("%s: %s %s of a failed bulk create could not be deleted",
                                  self.name, nn.COLLECTIONS[collection], done["id"])
            raise
        if collection in body:   # a bulk create (prepare checked the body is a dict)
            return {collection: made}
        return {nn.COLLECTIONS[collection]: made[0]}

    async def _create_one(self, collection: str, item: dict, asker: nn.Asker) -> dict:
        if collection == "networks":
            return await self.networking.create("networks", nn.new_network(item))
        if collection == "routers":
            return await self.networking.create("routers", nn.new_router(item))
        network = await self._visible("networks", item["network_id"], asker)
        if collection == "subnets":
            async with self._lock(network["id"]):
                siblings = await self.networking.list("subnets", network_id=network["id"])
                return await self.networking.create("subnets", nn.new_subnet(item, siblings))
        async with self._lock(network["id"]):
            subnets = await self.networking.list("subnets", network_id=network["id"])
            ports = await self.networking.list("ports", network_id=network["id"])
            return await self.networking.create(
                "ports", nn.new_port(item, subnets, nn.Addresses.of(ports, subnets)))

    async def _update(self, collection: str, rid: str, body: Any, asker: nn.Asker) -> dict:
        before = await self._visible(collection, rid, asker)
        changes = nn.prepare(collection, body, asker, create=False)[0]
        nn.check_policy(collection, "update", changes, asker)
        if collection == "subnets" and ({"gateway_ip", "allocation_pools"} & set(changes)):
            merged = {**before, **changes}
            changes["allocation_pools"] = nn.check_pools(
                ipaddress.ip_network(before["cidr"]), merged["allocation_pools"],
                merged["gateway_ip"])
        if collection == "routers" and changes.get("external_gateway_info"):
            nn.new_router({**before, **changes})   # refuses a gateway, as on create
        if collection == "routers" and changes.get("routes"):
            connected, own = await self._connected(rid)
            nn.check_routes(changes["routes"], connected, own)
        if collection == "ports":
            async with self._lock(before["network_id"]):
                changes = await self._port_changes(before, changes)
                after = await self.networking.update(collection, rid,
                                                     nn.touched(before, changes))
        else:
            after = await self.networking.update(collection, rid, nn.touched(before, changes))
        return {nn.COLLECTIONS[collection]: after}

    async def _port_changes(self, before: dict, changes: dict) -> dict:
        if "mac_address" in changes:
            changes["mac_address"] = converters.convert_to_sanitized_mac_address(
                changes["mac_address"])
        if "fixed_ips" in changes:
            subnets = await self.networking.list("subnets", network_id=before["network_id"])
            ports = await self.networking.list("ports", network_id=before["network_id"])
            changes["fixed_ips"] = nn.fixed_ips(
                changes["fixed_ips"], before["network_id"], subnets,
                nn.Addresses.of(ports, subnets, except_port=before["id"]),
                changes.get("mac_address", before["mac_address"]),
                router_owner=before.get("device_owner") == nn.ROUTER_INTERFACE)
        return changes

    async def _interface(self, action: str, router_id: str, body: Any, asker: nn.Asker
                         ) -> dict:
        """Neutron's router interface calls, by subnet (a port is made with the subnet's
        gateway address) or by port (an unused port of the caller's)."""
        router = await self._visible("routers", router_id, asker)
        if not isinstance(body, dict):
            raise nn.bad_request("Body contains invalid data")
        subnet_id, port_id = body.get("subnet_id"), body.get("port_id")
        if (subnet_id is None) == (port_id is None):
            raise nn.NeutronApiError(400, "Bad router request: Either subnet_id or port_id "
                                          "must be specified.", "BadRequest")
        if action == "remove_router_interface":
            return await self._remove_interface(router, subnet_id, port_id, asker)
        if port_id is not None:
            port = await self._visible("ports", port_id, asker)
            if port.get("device_id") or port.get("device_owner"):
                raise nn.NeutronApiError(409, f"Port {port_id} is in use: it has a device "
                                              "owner or id.", "PortInUse")
            if not port.get("fixed_ips"):
                raise nn.NeutronApiError(400, "Bad router request: Router port must have at "
                                              "least one fixed IP.", "BadRequest")
            subnet_id = port["fixed_ips"][0]["subnet_id"]
            await self.networking.update("ports", port_id, nn.touched(
                port, {"device_owner": nn.ROUTER_INTERFACE, "device_id": router_id}))
            made = False
        else:
            subnet = await self._visible("subnets", subnet_id, asker)
            if not subnet.get("gateway_ip"):
                raise nn.NeutronApiError(400, "Bad router request: Subnet for router "
                                              "interface must have a gateway IP.",
                                         "BadRequest")
            item = nn.prepare("ports", {"port": {
                "network_id": subnet["network_id"], "tenant_id": router["tenant_id"],
                "fixed_ips": [{"subnet_id": subnet_id, "ip_address": subnet["gateway_ip"]}],
                "device_owner": nn.ROUTER_INTERFACE, "device_id": router_id}},
                nn.Asker(router["tenant_id"], True), create=True)[0]
            port = await self._create_one("ports", item, asker)
            port_id = port["id"]
            made = True
        try:
            await self.networking.add_interface(Interface(router_id, subnet_id, port_id))
        except Exception:
            if made:
                await self.networking.delete("ports", port_id)
            else:
                await self.networking.update("ports", port_id, {"device_owner": "",
                                                                "device_id": ""})
            raise
        network_id = port["network_id"]
        return {"id": router_id, "tenant_id": router["tenant_id"],
                "project_id": router["tenant_id"], "port_id": port_id, "subnet_id": subnet_id,
                "subnet_ids": [subnet_id], "network_id": network_id}

    async def _remove_interface(self, router: dict, subnet_id: str | None,
                                port_id: str | None, asker: nn.Asker) -> dict:
        router_id = router["id"]
        interfaces = await self.store.interfaces(self.name, router_id)
        match = [i for i in interfaces if (port_id is not None and i.port_id == port_id)
                 or (subnet_id is not None and i.subnet_id == subnet_id)]
        if not match:
            what = f"port {port_id}" if port_id is not None else f"subnet {subnet_id}"
            raise nn.NeutronApiError(404, f"Router {router_id} does not have an interface "
                                          f"with {what}.", "RouterInterfaceNotFound")
        interface = match[0]
        subnet = await self.networking.get("subnets", interface.subnet_id)
        cidr = ipaddress.ip_network(subnet["cidr"])
        used = [r for r in router.get("routes") or ()
                if ipaddress.ip_address(r["nexthop"]) in cidr]
        if used:
            raise nn.NeutronApiError(
                409, f"Router interface for subnet {interface.subnet_id} on router {router_id} "
                     f"cannot be deleted, as it is required by one or more routes.",
                "RouterInterfaceInUseByRoute")
        await self.networking.remove_interface(router_id, interface.port_id)
        # Neutron deletes the interface's port with the interface.
        await self.networking.delete("ports", interface.port_id)
        return {"id": router_id, "tenant_id": router["tenant_id"],
                "project_id": router["tenant_id"], "port_id": interface.port_id,
                "subnet_id": interface.subnet_id, "subnet_ids": [interface.subnet_id]}

    async def _connected(self, router_id: str) -> tuple[list[dict], list[str]]:
        """The subnets a router has interfaces on, and its own addresses on them."""
        subnets, own = [], []
        for interface in await self.store.interfaces(self.name, router_id):
            subnet = await self.networking.get("subnets", interface.subnet_id)
            port = await self.networking.get("ports", interface.port_id)
            if subnet is not None:
                subnets.append(subnet)
            if port is not None:
                own += [ip["ip_address"] for ip in port.get("fixed_ips") or ()]
        return subnets, own

    def _lock(self, network_id: str) -> asyncio.Lock:
        return self._address_locks.setdefault(network_id, asyncio.Lock())


def _only(method: str, *allowed: str) -> None:
    if method not in allowed:
        raise nn.NeutronApiError(405, "The server could not comply with the request since it "
                                      "is either malformed or otherwise incorrect.",
                                 "HTTPMethodNotAllowed")


def _json(body: bytes | None) -> Any:
    if not body:
        raise nn.bad_request("Resource body required")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        raise nn.bad_request("Malformed request body") from None


def _fields(api: ApiRequest) -> list[str]:
    return [v for k, v in api.query.items() if k == "fields" and v]


def _extensions(method: str, alias: str | None) -> tuple[int, Any]:
    _only(method, "GET")
    docs = [{"alias": a, "name": n, "description": d, "updated": "2013-01-20T00:00:00-00:00",
             "links": []} for a, n, d in nn.EXTENSIONS]
    if alias is None:
        return 200, {"extensions": docs}
    for doc in docs:
        if doc["alias"] == alias:
            return 200, {"extension": doc}
    raise nn.NeutronApiError(404, f"Extension with alias {alias} does not exist",
                             "HTTPNotFound")


def _error(kind: str, message: str) -> dict:
    return {"NeutronError": {"type": kind, "message": message, "detail": ""}}


def _refusal(exc: Exception) -> tuple[int, dict] | None:
    """A refusal of the store (it carries Neutron's status and type) as an answer."""
    status, kind = getattr(exc, "status", None), getattr(exc, "type", None)
    if isinstance(status, int) and isinstance(kind, str) and 400 <= status < 500:
        return status, _error(kind, str(exc))
    return None


def _response(provider: str, root: str, credentials: Credentials, status: int, document: Any,
              *, head: bool) -> ProviderResponse:
    headers = CIMultiDict({"X-Openstack-Request-Id": f"req-{uuid.uuid4()}"})
    body = b""
    if document is not None:
        headers["Content-Type"] = JSON
        body = b"" if head else orjson.dumps(document)
    return ProviderResponse(provider=provider, status=status, headers=headers, root=root,
                            remote_project=credentials.project_id, body=body)
