"""Simulated SDN network controllers: the downstream API of a Neutron REST proxy.

A REST proxy (the seed's Quantum REST Proxy, networking-bigswitch's ``servermanager.py``)
translates Neutron calls into authenticated REST calls on a set of redundant controllers. This
module serves that API in memory, under ``/networkService/v1.1`` on one loopback port per server:

- ``GET /health``, ``GET /capabilities``, ``PUT /topology`` (the bulk sync: replaces everything);
- ``/tenants/{t}/networks[/{n}]``, ``.../networks/{n}/ports[/{p}]``, ``.../ports/{p}/attachment``,
  ``/tenants/{t}/routers[/{r}]``, ``.../routers/{r}/interfaces[/{i}]``.

Every call needs HTTP Basic credentials and the deployment's ``Instance-ID``; a call carrying
``X-BSN-BVS-HASH-MATCH`` is refused with 409 unless it matches the server's consistency hash (a
digest of its whole state, sent back on every 2xx). Errors are ``{"code", "reason",
"description"}``. A server can be stopped (its socket closed), started again on the same port,
restarted empty, made slow or made to answer a given 5xx. The contract the OCX controller
provider speaks is written out in ``ocx/sim/README.md``.
"""
from __future__ import annotations

import asyncio
import base64
import binascii
import copy
import hashlib
import hmac
import logging
import random
import secrets
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web

from .faults import Faults
from .wire import json_response

log = logging.getLogger(__name__)

BASE_URI = "/networkService/v1.1"
HASH_HEADER = "X-BSN-BVS-HASH-MATCH"
INSTANCE_HEADER = "Instance-ID"
REALM = "ocx-sim-controller"
CAPABILITIES = ["consistency", "topology", "attachment"]
FAULT_KEY = "controller"
STATES = ("UP", "DOWN")
MAX_BODY = 16 << 20  # a topology of a large deployment


class ControllerError(Exception):
    """An answer with an error status: ``{"code", "reason", "description"}``."""

    def __init__(self, status: int, reason: str, description: str,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(description)
        self.status = status
        self.reason = reason
        self.description = description
        self.headers = headers or {}

    def body(self) -> dict:
        return {"code": self.status, "reason": self.reason, "description": self.description}


def bad(description: str) -> ControllerError:
    return ControllerError(400, "bad-request", description)


def missing(reason: str, description: str) -> ControllerError:
    return ControllerError(404, reason, description)


# -- bodies: pure validation --------------------------------------------------------------------

def wrapped(body: Any, key: str) -> dict:
    """``{"network": {...}}`` → the inner object."""
    if not isinstance(body, dict):
        raise bad("The body must be a JSON object.")
    inner = body.get(key)
    if not isinstance(inner, dict):
        raise bad(f"The body must hold an object under {key!r}.")
    return inner


def _id_of(obj: dict, what: str, path_id: str | None = None) -> str:
    value = obj.get("id", path_id)
    if not isinstance(value, str) or not value:
        raise bad(f"{what}: 'id' must be a non-empty string.")
    if path_id is not None and value != path_id:
        raise bad(f"{what}: 'id' {value!r} differs from the path's {path_id!r}.")
    return value


def _state(obj: dict, what: str, default: str | None = "UP") -> None:
    if "state" not in obj:
        if default is not None:
            obj["state"] = default
        return
    if obj["state"] not in STATES:
        raise bad(f"{what}: 'state' must be UP or DOWN, not {obj['state']!r}.")


def _tenant(obj: dict, what: str, tenant: str | None) -> str:
    value = obj.get("tenant_id", tenant)
    if not isinstance(value, str) or not value:
        raise bad(f"{what}: 'tenant_id' must be a non-empty string.")
    if tenant is not None and value != tenant:
        raise bad(f"{what}: 'tenant_id' {value!r} differs from the path's tenant {tenant!r}.")
    return value


def _list_of_ids(value: Any, what: str) -> list[dict]:
    if not isinstance(value, list) or not all(isinstance(i, dict) for i in value):
        raise bad(f"{what} must be a list of objects.")
    for item in value:
        _id_of(item, what)
    ids = [item["id"] for item in value]
    if len(set(ids)) != len(ids):
        raise bad(f"{what}: ids must be unique.")
    return copy.deepcopy(value)


def attachment(value: Any) -> dict | None:
    """``{"id": <device id>, "mac": <mac>}`` or null."""
    if value is None:
        return None
    if (not isinstance(value, dict) or not isinstance(value.get("id"), str)
            or not isinstance(value.get("mac"), str)):
        raise bad("'attachment' must be {\"id\": <device id>, \"mac\": <MAC address>} or null.")
    return dict(value)


def _no_children(obj: dict, what: str, key: str, where: str) -> None:
    if key in obj:
        raise bad(f"{what}: {key!r} are managed under {where}, not in this body.")


def network_fields(obj: dict, *, tenant: str | None, path_id: str | None = None,
                   partial: bool = False) -> dict:
    """A network body, checked; ``ports`` only travel in a topology."""
    net = copy.deepcopy(obj)
    _no_children(net, "network", "ports", ".../ports")
    if not partial or "id" in net:
        net["id"] = _id_of(net, "network", path_id)
    if not partial or "tenant_id" in net:
        net["tenant_id"] = _tenant(net, "network", tenant)
    _state(net, "network", None if partial else "UP")
    if "subnets" in net or not partial:
        net["subnets"] = _list_of_ids(net.get("subnets", []), "network subnets")
    if "gateway" in net and not isinstance(net["gateway"], str):
        raise bad("network: 'gateway' must be a string.")
    return net


def port_fields(obj: dict, *, path_id: str | None = None, partial: bool = False) -> dict:
    port = copy.deepcopy(obj)
    if not partial or "id" in port:
        port["id"] = _id_of(port, "port", path_id)
    _state(port, "port", None if partial else "UP")
    if "attachment" in port or not partial:
        port["attachment"] = attachment(port.get("attachment"))
    return port


def router_fields(obj: dict, *, tenant: str | None, path_id: str | None = None,
                  partial: bool = False) -> dict:
    router = copy.deepcopy(obj)
    _no_children(router, "router", "interfaces", ".../interfaces")
    if not partial or "id" in router:
        router["id"] = _id_of(router, "router", path_id)
    if not partial or "tenant_id" in router:
        router["tenant_id"] = _tenant(router, "router", tenant)
    _state(router, "router", None if partial else "UP")
    return router


def interface_fields(obj: dict) -> dict:
    intf = copy.deepcopy(obj)
    _id_of(intf, "interface")
    for key in ("network", "subnet"):
        if not isinstance(intf.get(key), dict):
            raise bad(f"interface: {key!r} must be an object with an 'id'.")
        _id_of(intf[key], f"interface {key}")
    return intf


# -- the state: pure, in memory ---------------------------------------------------------------

@dataclass
class ControllerState:
    """Networks (with subnets and ports) and routers (with interfaces), keyed by id.

    Ports and interfaces are kept as ``{id: object}`` inside their parent; the topology form
    (:meth:`topology`) has them as lists sorted by id, as ``PUT /topology`` takes them.
    """

    networks: dict[str, dict] = field(default_factory=dict)
    routers: dict[str, dict] = field(default_factory=dict)

    # -- reading --

    def network(self, tenant: str, net_id: str) -> dict:
        net = self.networks.get(net_id)
        if net is None or net["tenant_id"] != tenant:
            raise missing("NXVNS", f"network {net_id} does not exist for tenant {tenant}")
        return net

    def port(self, tenant: str, net_id: str, port_id: str) -> dict:
        port = self.network(tenant, net_id)["ports"].get(port_id)
        if port is None:
            raise missing("NXPORT", f"port {port_id} does not exist on network {net_id}")
        return port

    def router(self, tenant: str, router_id: str) -> dict:
        router = self.routers.get(router_id)
        if router is None or router["tenant_id"] != tenant:
            raise missing("NXROUTER", f"router {router_id} does not exist for tenant {tenant}")
        return router

    @staticmethod
    def network_view(net: dict) -> dict:
        return {**net, "ports": [net["ports"][k] for k in sorted(net["ports"])]}

    def router_view(self, router: dict) -> dict:
        intfs = router["interfaces"]
        return {**router, "interfaces": [self.interface_view(intfs[k]) for k in sorted(intfs)]}

    def interface_view(self, intf: dict) -> dict:
        """An interface names its network and subnet; a controller keeps one copy of each
        (as a real one does), so it shows them as they are now, not as they were attached."""
        net = self.networks.get(intf["network"]["id"])
        if net is None:
            return intf
        subnet = next((s for s in net.get("subnets") or () if isinstance(s, dict)
                       and s.get("id") == intf["subnet"]["id"]), intf["subnet"])
        shown = {k: v for k, v in net.items() if k not in ("ports", "subnets", "gateway")}
        return {**intf, "network": shown, "subnet": subnet}

    def topology(self) -> dict:
        return {"networks": [self.network_view(self.networks[k]) for k in sorted(self.networks)],
                "routers": [self.router_view(self.routers[k]) for k in sorted(self.routers)]}

    def hash(self) -> str:
        """A digest of the whole state: equal states give equal hashes."""
        canonical = orjson.dumps(self.topology(), option=orjson.OPT_SORT_KEYS)
        return hashlib.sha1(canonical).hexdigest()

    def tenant_networks(self, tenant: str) -> list[dict]:
        return [self.network_view(n) for k, n in sorted(self.networks.items())
                if n["tenant_id"] == tenant]

    def tenant_routers(self, tenant: str) -> list[dict]:
        return [self.router_view(r) for k, r in sorted(self.routers.items())
                if r["tenant_id"] == tenant]

    # -- writing: validate first, then change --

    def put_network(self, tenant: str, body: Any) -> tuple[dict, bool]:
        """Create, or replace one of the same id (a retried create); True when created."""
        net = network_fields(wrapped(body, "network"), tenant=tenant)
        old = self.networks.get(net["id"])
        if old is not None and old["tenant_id"] != tenant:
            raise bad(f"network {net['id']} belongs to another tenant.")
        net["ports"] = old["ports"] if old else {}
        self.networks[net["id"]] = net
        return self.network_view(net), old is None

    def update_network(self, tenant: str, net_id: str, body: Any) -> dict:
        net = self.network(tenant, net_id)
        changes = network_fields(wrapped(body, "network"), tenant=tenant, path_id=net_id,
                                 partial=True)
        net.update(changes)
        return self.network_view(net)

    def delete_network(self, tenant: str, net_id: str) -> None:
        self.network(tenant, net_id)
        del self.networks[net_id]
        for router in self.routers.values():
            router["interfaces"] = {k: i for k, i in router["interfaces"].items()
                                    if i["network"]["id"] != net_id}

    def put_port(self, tenant: str, net_id: str, body: Any) -> tuple[dict, bool]:
        net = self.network(tenant, net_id)
        port = port_fields(wrapped(body, "port"))
        created = port["id"] not in net["ports"]
        net["ports"][port["id"]] = port
        return port, created

    def update_port(self, tenant: str, net_id: str, port_id: str, body: Any) -> dict:
        port = self.port(tenant, net_id, port_id)
        port.update(port_fields(wrapped(body, "port"), path_id=port_id, partial=True))
        return port

    def delete_port(self, tenant: str, net_id: str, port_id: str) -> None:
        self.port(tenant, net_id, port_id)
        del self.networks[net_id]["ports"][port_id]

    def attach(self, tenant: str, net_id: str, port_id: str, body: Any) -> dict:
        """Plug a device in; a port given in the body is created (or replaced) with it."""
        if not isinstance(body, dict):
            raise bad("The body must be a JSON object.")
        plug = attachment(body.get("attachment"))
        if plug is None:
            raise bad("'attachment' is required; DELETE the attachment to unplug.")
        net = self.network(tenant, net_id)
        if "port" in body:
            port = port_fields(wrapped(body, "port"), path_id=port_id)
        else:
            port = self.port(tenant, net_id, port_id)
        port["attachment"] = plug
        net["ports"][port_id] = port
        return port

    def detach(self, tenant: str, net_id: str, port_id: str) -> dict:
        port = self.port(tenant, net_id, port_id)
        port["attachment"] = None
        return port

    def put_router(self, tenant: str, body: Any) -> tuple[dict, bool]:
        router = router_fields(wrapped(body, "router"), tenant=tenant)
        old = self.routers.get(router["id"])
        if old is not None and old["tenant_id"] != tenant:
            raise bad(f"router {router['id']} belongs to another tenant.")
        router["interfaces"] = old["interfaces"] if old else {}
        self.routers[router["id"]] = router
        return self.router_view(router), old is None

    def update_router(self, tenant: str, router_id: str, body: Any) -> dict:
        router = self.router(tenant, router_id)
        router.update(router_fields(wrapped(body, "router"), tenant=tenant, path_id=router_id,
                                    partial=True))
        return self.router_view(router)

    def delete_router(self, tenant: str, router_id: str) -> None:
        self.router(tenant, router_id)
        del self.routers[router_id]

    def add_interface(self, tenant: str, router_id: str, body: Any) -> tuple[dict, bool]:
        router = self.router(tenant, router_id)
        intf = interface_fields(wrapped(body, "interface"))
        net_id = intf["network"]["id"]
        if net_id not in self.networks:
            raise missing("NXVNS", f"network {net_id} of the interface does not exist")
        created = intf["id"] not in router["interfaces"]
        router["interfaces"][intf["id"]] = intf
        return intf, created

    def remove_interface(self, tenant: str, router_id: str, intf_id: str) -> None:
        router = self.router(tenant, router_id)
        if intf_id not in router["interfaces"]:
            raise missing("NXINTF", f"interface {intf_id} does not exist on router {router_id}")
        del router["interfaces"][intf_id]


def parse_topology(body: Any) -> ControllerState:
    """The body of ``PUT /topology`` as a whole new state; any error refuses all of it."""
    if not isinstance(body, dict):
        raise bad("The topology must be a JSON object.")
    state = ControllerState()
    for net in _list_of_ids(body.get("networks", []), "networks"):
        ports = _list_of_ids(net.pop("ports", []), f"network {net['id']} ports")
        net = network_fields(net, tenant=None)
        net["ports"] = {p["id"]: port_fields(p) for p in ports}
        state.networks[net["id"]] = net
    for router in _list_of_ids(body.get("routers", []), "routers"):
        intfs = _list_of_ids(router.pop("interfaces", []), f"router {router['id']} interfaces")
        router = router_fields(router, tenant=None)
        router["interfaces"] = {}
        for intf in map(interface_fields, intfs):
            if intf["network"]["id"] not in state.networks:
                raise bad(f"router {router['id']}: interface {intf['id']} is on network "
                          f"{intf['network']['id']}, which the topology does not hold.")
            router["interfaces"][intf["id"]] = intf
        state.routers[router["id"]] = router
    return state


def basic_credentials(header: str | None) -> tuple[str, str] | None:
    """``Basic base64(user:pass)`` → (user, pass); None when absent or malformed."""
    if not header:
        return None
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        user, sep, password = base64.b64decode(encoded.strip(), validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return (user, password) if sep else None


# -- one server ---------------------------------------------------------------------------------

@dataclass
class ForcedFailure:
    """Answer ``status`` to the next ``count`` requests (all of them while ``count`` is None)."""

    status: int
    count: int | None = None

    def take(self) -> bool:
        if self.count is None:
            return True
        if self.count <= 0:
            return False
        self.count -= 1
        return True


class SimController:
    """One controller server: its state, its credentials, its socket, its faults."""

    def __init__(self, name: str, *, user: str, password: str, deployment_id: str | None = None,
                 host: str = "127.0.0.1", port: int = 0, seed: int | None = None) -> None:
        self.name = name
        self.user = user
        self.password = password
        self.deployment_id = deployment_id
        self.host = host
        self.port = port
        self.state = ControllerState()
        self.faults = Faults(rng=random.Random(seed))
        self.failure: ForcedFailure | None = None
        self.calls: Counter[str] = Counter()
        self.log: list[tuple[str, str, int]] = []  # (method, path, status) of every request
        self.restarts = 0
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None

    @property
    def running(self) -> bool:
        return self._site is not None

    @property
    def server(self) -> str:
        """``host:port`` as the proxy's ``servers=`` option names it."""
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.server}{BASE_URI}"

    # -- life cycle --

    async def start(self) -> None:
        if self._runner is None:
            self._runner = web.AppRunner(self.make_app(), access_log=None,
                                         handler_cancellation=True)
            await self._runner.setup()
        if self._site is None:
            site = web.TCPSite(self._runner, self.host, self.port, reuse_address=True)
            await site.start()
            self.port = site._server.sockets[0].getsockname()[1]  # the port the kernel gave
            self._site = site

    async def stop(self) -> None:
        """Close the socket and drop open connections, as a dead host would."""
        if self._site is not None:
            await self._site.stop()
            self._site = None
            for connection in self._runner.server.connections:
                connection.force_close()

    async def restart(self, *, empty: bool = True) -> None:
        """Stop and start again on the same port; ``empty`` forgets every network and router."""
        await self.stop()
        if empty:
            self.state = ControllerState()
        self.restarts += 1
        await self.start()

    async def close(self) -> None:
        await self.stop()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def describe(self) -> dict:
        """The whole state, for tests and the control endpoint."""
        return {"name": self.name, "server": self.server, "url": self.url,
                "running": self.running, "restarts": self.restarts, "hash": self.state.hash(),
                **self.state.topology(),
                "faults": {"latency_ms": self.faults.latency_ms.get(FAULT_KEY, 0.0),
                           "error_rate": self.faults.error_rate.get(FAULT_KEY, 0.0),
                           "status": self.failure.status if self.failure else None,
                           "count": self.failure.count if self.failure else None}}

    # -- HTTP --

    def check_request(self, request: web.Request) -> None:
        """Credentials, then deployment id, then consistency hash: the order the API documents."""
        creds = basic_credentials(request.headers.get("Authorization"))
        if creds is None or not (hmac.compare_digest(creds[0], self.user)
                                 and hmac.compare_digest(creds[1], self.password)):
            raise ControllerError(
                401, "unauthorized",
                f"controller {self.name}: valid HTTP Basic credentials are required",
                headers={"WWW-Authenticate": f'Basic realm="{REALM}"'})
        instance = request.headers.get(INSTANCE_HEADER, "")
        if not instance:
            raise ControllerError(400, "missing-instance-id",
                                  f"the {INSTANCE_HEADER} header (the deployment id) is required")
        if self.deployment_id is not None and instance != self.deployment_id:
            raise ControllerError(403, "wrong-instance-id",
                                  f"controller {self.name} serves another deployment")
        sent = request.headers.get(HASH_HEADER)
        # The bulk sync is how a client gets back in line: never refused for a stale hash.
        is_sync = request.path == f"{BASE_URI}/topology"
        if sent is not None and not is_sync and sent != self.state.hash():
            raise ControllerError(409, "hash-mismatch",
                                  "the consistency hash does not match: synchronise the "
                                  "topology (PUT /topology)")

    def make_app(self) -> web.Application:
        @web.middleware
        async def middleware(request: web.Request, handler):
            self.calls[request.method] += 1
            path = request.path.removeprefix(BASE_URI) or "/"
            try:
                delay = self.faults.latency_for(FAULT_KEY)
                if delay > 0:
                    await asyncio.sleep(delay)
                if self.failure is not None and self.failure.take():
                    raise ControllerError(self.failure.status, "server-error"
                                          if self.failure.status != 503 else "unavailable",
                                          f"controller {self.name} is failing (simulated)")
                if self.faults.fails(FAULT_KEY):
                    raise ControllerError(503, "unavailable",
                                          f"controller {self.name} is unavailable (simulated)")
                self.check_request(request)
                response = await handler(request)
                response.headers[HASH_HEADER] = self.state.hash()
            except ControllerError as err:
                response = json_response(err.body(), status=err.status, headers=err.headers)
            except web.HTTPException as exc:  # no such path, wrong method, body too large
                reason = {404: "not-found", 405: "method-not-allowed"}.get(exc.status,
                                                                          "bad-request")
                response = json_response(
                    {"code": exc.status, "reason": reason,
                     "description": f"{request.method} {path}: {exc.reason}"},
                    status=exc.status)
            except Exception:  # a bug here must still answer in the API's format
                log.exception("controller %s: %s %s failed", self.name, request.method, path)
                response = json_response({"code": 500, "reason": "server-error",
                                          "description": "internal error"}, status=500)
            self.log.append((request.method, path, response.status))
            return response

        app = web.Application(client_max_size=MAX_BODY, middlewares=[middleware])
        app.add_routes(self.routes())
        return app

    def routes(self) -> list[web.RouteDef]:
        state = lambda: self.state  # noqa: E731 - restart swaps the state object
        t, n, p, r = "{tenant}", "{network}", "{port}", "{router}"
        base = f"{BASE_URI}/tenants/{t}"

        def answer(key: str, obj: Any, created: bool = False) -> web.Response:
            return json_response({key: obj}, status=201 if created else 200)

        async def health(request):
            return json_response({"status": "ok", "hash": state().hash()})

        async def capabilities(request):
            return json_response(CAPABILITIES)

        async def topology(request):
            self.state = parse_topology(await _json(request))
            return json_response({"networks": len(self.state.networks),
                                  "routers": len(self.state.routers)})

        async def list_networks(request):
            return answer("networks", state().tenant_networks(_m(request, "tenant")))

        async def create_network(request):
            return answer("network", *state().put_network(_m(request, "tenant"),
                                                          await _json(request)))

        async def show_network(request):
            return answer("network", state().network_view(
                state().network(_m(request, "tenant"), _m(request, "network"))))

        async def update_network(request):
            return answer("network", state().update_network(
                _m(request, "tenant"), _m(request, "network"), await _json(request)))

        async def delete_network(request):
            state().delete_network(_m(request, "tenant"), _m(request, "network"))
            return json_response({})

        async def list_ports(request):
            net = state().network(_m(request, "tenant"), _m(request, "network"))
            return answer("ports", state().network_view(net)["ports"])

        async def create_port(request):
            return answer("port", *state().put_port(_m(request, "tenant"), _m(request, "network"),
                                                    await _json(request)))

        async def show_port(request):
            return answer("port", state().port(*_ids(request, "tenant", "network", "port")))

        async def update_port(request):
            return answer("port", state().update_port(*_ids(request, "tenant", "network", "port"),
                                                      await _json(request)))

        async def delete_port(request):
            state().delete_port(*_ids(request, "tenant", "network", "port"))
            return json_response({})

        async def attach(request):
            return answer("port", state().attach(*_ids(request, "tenant", "network", "port"),
                                                 await _json(request)))

        async def detach(request):
            return answer("port", state().detach(*_ids(request, "tenant", "network", "port")))

        async def list_routers(request):
            return answer("routers", state().tenant_routers(_m(request, "tenant")))

        async def create_router(request):
            return answer("router", *state().put_router(_m(request, "tenant"),
                                                        await _json(request)))

        async def show_router(request):
            return answer("router", state().router_view(
                state().router(*_ids(request, "tenant", "router"))))

        async def update_router(request):
            return answer("router", state().update_router(*_ids(request, "tenant", "router"),
                                                          await _json(request)))

        async def delete_router(request):
            state().delete_router(*_ids(request, "tenant", "router"))
            return json_response({})

        async def add_interface(request):
            return answer("interface", *state().add_interface(
                *_ids(request, "tenant", "router"), await _json(request)))

        async def remove_interface(request):
            state().remove_interface(*_ids(request, "tenant", "router", "interface"))
            return json_response({})

        return [
            web.get(f"{BASE_URI}/health", health),
            web.get(f"{BASE_URI}/capabilities", capabilities),
            web.put(f"{BASE_URI}/topology", topology),
            web.get(f"{base}/networks", list_networks),
            web.post(f"{base}/networks", create_network),
            web.get(f"{base}/networks/{n}", show_network),
            web.put(f"{base}/networks/{n}", update_network),
            web.delete(f"{base}/networks/{n}", delete_network),
            web.get(f"{base}/networks/{n}/ports", list_ports),
            web.post(f"{base}/networks/{n}/ports", create_port),
            web.get(f"{base}/networks/{n}/ports/{p}", show_port),
            web.put(f"{base}/networks/{n}/ports/{p}", update_port),
            web.delete(f"{base}/networks/{n}/ports/{p}", delete_port),
            web.put(f"{base}/networks/{n}/ports/{p}/attachment", attach),
            web.delete(f"{base}/networks/{n}/ports/{p}/attachment", detach),
            web.get(f"{base}/routers", list_routers),
            web.post(f"{base}/routers", create_router),
            web.get(f"{base}/routers/{r}", show_router),
            web.put(f"{base}/routers/{r}", update_router),
            web.delete(f"{base}/routers/{r}", delete_router),
            web.post(f"{base}/routers/{r}/interfaces", add_interface),
            web.delete(f"{base}/routers/{r}/interfaces/{{interface}}", remove_interface),
        ]


def _m(request: web.Request, key: str) -> str:
    return request.match_info[key]


def _ids(request: web.Request, *keys: str) -> tuple[str, ...]:
    return tuple(request.match_info[k] for k in keys)


async def _json(request: web.Request) -> Any:
    try:
        return orjson.loads(await request.read())
    except orjson.JSONDecodeError:
        raise bad("The body is not valid JSON.") from None


# -- several servers ----------------------------------------------------------------------------

DEFAULT_COUNT = 2
DEFAULT_USER = "ocx"


@dataclass(frozen=True)
class ClusterSpec:
    """How many servers, which credentials, which ports (0: a free one)."""

    count: int = DEFAULT_COUNT
    user: str = DEFAULT_USER
    password: str = ""  # empty: a random one
    deployment_id: str | None = None
    host: str = "127.0.0.1"
    ports: tuple[int, ...] = ()
    seed: int | None = None

    @classmethod
    def from_settings(cls, settings: dict[str, str], ports: dict[str, int], *,
                      host: str = "127.0.0.1", seed: int | None = None) -> ClusterSpec:
        """``controller.count``, ``controller.user``, ``controller.password``,
        ``controller.deployment_id``; ports ``controller-0``, ``controller-1``..."""
        raw = settings.get("controller.count", str(DEFAULT_COUNT))
        if not raw.isdigit() or not 1 <= int(raw) <= 16:
            raise ValueError(f"controller.count must be a number from 1 to 16, not {raw!r}")
        count = int(raw)
        user = settings.get("controller.user", DEFAULT_USER)
        if not user or ":" in user:
            raise ValueError("controller.user must be non-empty and hold no ':'")
        return cls(count=count, user=user, password=settings.get("controller.password", ""),
                   deployment_id=settings.get("controller.deployment_id") or None, host=host,
                   ports=tuple(ports.get(f"controller-{i}", 0) for i in range(count)), seed=seed)


class ControllerCluster:
    """N independent controller servers sharing credentials: what one landlord runs."""

    def __init__(self, spec: ClusterSpec = ClusterSpec(), *, name: str = "ctl") -> None:
        self.spec = spec
        self.password = spec.password or secrets.token_urlsafe(12)
        self.servers = [
            SimController(f"{name}-{i}", user=spec.user, password=self.password,
                          deployment_id=spec.deployment_id, host=spec.host,
                          port=spec.ports[i] if i < len(spec.ports) else 0,
                          seed=None if spec.seed is None else spec.seed + i)
            for i in range(spec.count)]

    def __getitem__(self, index: int) -> SimController:
        return self.servers[index]

    def __len__(self) -> int:
        return len(self.servers)

    @property
    def auth(self) -> str:
        """The proxy's ``serverauth`` option."""
        return f"{self.spec.user}:{self.password}"

    async def start(self) -> None:
        started = []
        try:
            for server in self.servers:
                await server.start()
                started.append(server)
        except BaseException:
            for server in started:
                await server.close()
            raise

    async def stop(self) -> None:
        for server in self.servers:
            await server.close()

    def urls(self) -> list[str]:
        return [s.url for s in self.servers]

    def describe(self) -> dict:
        """What the describe file holds for a cloud's controllers (with the password)."""
        return {"servers": ",".join(s.server for s in self.servers), "auth": self.auth,
                "deployment_id": self.spec.deployment_id}


# -- control routes (served by ``ocx sim``'s control endpoint) ------------------------------------

def _number(value: Any, what: str, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        raise ControllerError(400, "bad-request", f"{what} must be a number from {low} to {high}.")
    return value


def apply_faults(server: SimController, body: Any) -> None:
    """``{"status": 503, "count": 2, "latency_ms": 100, "error_rate": 0.5}``, checked first."""
    if not isinstance(body, dict):
        raise bad("The body must be a JSON object.")
    unknown = set(body) - {"status", "count", "latency_ms", "error_rate"}
    if unknown:
        raise bad(f"Unknown fault kinds: {', '.join(sorted(unknown))}.")
    status = body.get("status")
    if status is not None and (not isinstance(status, int) or not 500 <= status <= 599):
        raise bad("status must be a 5xx status code or null.")
    count = body.get("count")
    if count is not None:
        count = int(_number(count, "count", 0, 1_000_000))
    latency = body.get("latency_ms")
    rate = body.get("error_rate")
    if latency is not None:
        latency = _number(latency, "latency_ms", 0, 600_000)
    if rate is not None:
        rate = _number(rate, "error_rate", 0, 1)
    if "status" in body:
        server.failure = ForcedFailure(status, count) if status else None
    if latency is not None:
        server.faults.latency_ms[FAULT_KEY] = float(latency)
    if rate is not None:
        server.faults.error_rate[FAULT_KEY] = float(rate)


def clear_faults(server: SimController) -> None:
    server.failure = None
    server.faults.latency_ms.clear()
    server.faults.error_rate.clear()


def control_routes(find: Callable[[str], ControllerCluster | None]) -> Iterable[web.RouteDef]:
    """``/sim/clouds/{cloud}/controllers[/{index}/{stop|start|restart|faults}]``."""

    def server_of(request: web.Request) -> SimController:
        cluster = cluster_of(request)
        index = request.match_info["index"]
        if not index.isdigit() or int(index) >= len(cluster):
            raise ControllerError(404, "not-found", f"no controller {index} in this cloud")
        return cluster[int(index)]

    def cluster_of(request: web.Request) -> ControllerCluster:
        cluster = find(request.match_info["cloud"])
        if cluster is None:
            raise ControllerError(404, "not-found",
                                  f"cloud {request.match_info['cloud']!r} runs no controllers")
        return cluster

    def handle(action):
        async def handler(request: web.Request) -> web.Response:
            try:
                return json_response(await action(request))
            except ControllerError as err:
                return json_response(err.body(), status=err.status)
        return handler

    async def list_all(request):
        return [s.describe() for s in cluster_of(request).servers]

    async def show(request):
        return server_of(request).describe()

    async def stop(request):
        server = server_of(request)
        await server.stop()
        return server.describe()

    async def start(request):
        server = server_of(request)
        await server.start()
        return server.describe()

    async def restart(request):
        server = server_of(request)
        empty = request.query.get("empty", "true").lower() not in ("false", "0", "no")
        await server.restart(empty=empty)
        return server.describe()

    async def patch_faults(request):
        server = server_of(request)
        try:
            body = orjson.loads(await request.read())
        except orjson.JSONDecodeError:
            raise bad("The body is not valid JSON.") from None
        apply_faults(server, body)
        return server.describe()

    async def delete_faults(request):
        server = server_of(request)
        clear_faults(server)
        return server.describe()

    base = "/sim/clouds/{cloud}/controllers"
    return [web.get(base, handle(list_all)),
            web.get(base + "/{index}", handle(show)),
            web.post(base + "/{index}/stop", handle(stop)),
            web.post(base + "/{index}/start", handle(start)),
            web.post(base + "/{index}/restart", handle(restart)),
            web.patch(base + "/{index}/faults", handle(patch_faults)),
            web.delete(base + "/{index}/faults", handle(delete_faults))]
