"""Neutron changes → the controller's REST calls (the downstream API of seed 003), pure.

The layout (the contract with ``ocx/sim/controller.py``, after networking-bigswitch's proxy),
under ``/networkService/v1.1``: ``/tenants/{t}/networks[/{n}]``, ``.../networks/{n}/ports[/{p}]``,
``.../ports/{p}/attachment``, ``/tenants/{t}/routers[/{r}]``, ``.../routers/{r}/interfaces[/{i}]``,
``PUT /topology`` (everything at once), ``GET /health``.

Objects are Neutron's JSON with ``admin_state_up`` as ``"state": "UP" | "DOWN"`` and without
``status`` (the controller's own). Subnets have no path: a subnet change is a ``PUT`` of its
network carrying the network's full subnet list and its ``gateway`` (the first subnet's
gateway, or ""). A port is attached when Neutron gives it a ``device_id`` (the attachment's id,
with the port's MAC), detached when that is cleared.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

BASE_URI = "/networkService/v1.1"
HASH_HEADER = "X-BSN-BVS-HASH-MATCH"
INSTANCE_HEADER = "Instance-ID"

# Neutron's fields the controller does not take (it keeps its own status).
_DROPPED = frozenset({"admin_state_up", "status"})


@dataclass(frozen=True)
class RestCall:
    method: str
    path: str                                 # under BASE_URI
    body: Mapping[str, Any] | None = None

    @property
    def writes(self) -> bool:
        return self.method != "GET"


def _q(value: str) -> str:
    return quote(str(value), safe="")


def tenant_of(resource: Mapping[str, Any]) -> str:
    tenant = resource.get("tenant_id") or resource.get("project_id")
    if not tenant:
        raise ValueError(f"resource {resource.get('id')!r} has no tenant_id or project_id")
    return str(tenant)


def _object(resource: Mapping[str, Any]) -> dict:
    body = {k: v for k, v in resource.items() if k not in _DROPPED}
    body["state"] = "UP" if resource.get("admin_state_up", True) else "DOWN"
    return body


def _networks(tenant: str) -> str:
    return f"/tenants/{_q(tenant)}/networks"


def _network(network: Mapping[str, Any]) -> str:
    return f"{_networks(tenant_of(network))}/{_q(network['id'])}"


def _port(port: Mapping[str, Any]) -> str:
    return (f"{_networks(tenant_of(port))}/{_q(port['network_id'])}/ports/{_q(port['id'])}")


def _router(router: Mapping[str, Any]) -> str:
    return f"/tenants/{_q(tenant_of(router))}/routers/{_q(router['id'])}"


def gateway(subnets: Sequence[Mapping[str, Any]]) -> str:
    """The network's gateway the controller is given: its first subnet's, or ""."""
    return (subnets[0].get("gateway_ip") or "") if subnets else ""


def network_object(network: Mapping[str, Any], subnets: Sequence[Mapping[str, Any]] = ()
                   ) -> dict:
    body = _object(network)
    body.pop("subnets", None)                  # Neutron's list of ids; the controller's: objects
    body["subnets"] = [dict(s) for s in subnets]
    body["gateway"] = gateway(subnets)
    return body


def port_object(port: Mapping[str, Any]) -> dict:
    return _object(port)


def router_object(router: Mapping[str, Any]) -> dict:
    return _object(router)


def attachment(port: Mapping[str, Any]) -> dict | None:
    """The attachment a port carries: its device, with its MAC; None when it has no device."""
    device = port.get("device_id")
    return {"id": device, "mac": port.get("mac_address")} if device else None


# -- networks and subnets -------------------------------------------------------------------

def create_network(network: Mapping[str, Any], subnets: Sequence[Mapping[str, Any]] = ()
                   ) -> RestCall:
    return RestCall("POST", _networks(tenant_of(network)),
                    {"network": network_object(network, subnets)})


def update_network(network: Mapping[str, Any], subnets: Sequence[Mapping[str, Any]]
                   ) -> RestCall:
    """The network as it is now, with its subnets (also the call of every subnet change:
    ``subnets`` is the network's list after the change)."""
    return RestCall("PUT", _network(network), {"network": network_object(network, subnets)})


def delete_network(network: Mapping[str, Any]) -> RestCall:
    return RestCall("DELETE", _network(network))


# -- ports ------------------------------------------------------------------------------------

def create_port(port: Mapping[str, Any]) -> list[RestCall]:
    """A port made with a device is made and attached at once (one call)."""
    plugged = attachment(port)
    if plugged is not None:
        return [attach(port)]
    return [RestCall("POST", f"{_networks(tenant_of(port))}/{_q(port['network_id'])}/ports",
                     {"port": port_object(port)})]


def update_port(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[RestCall]:
    """The port's new fields; then attach, re-attach or detach when its device changed."""
    calls = [RestCall("PUT", _port(after), {"port": port_object(after)})]
    old, new = attachment(before), attachment(after)
    if new is not None and new != old:
        calls.append(attach(after))
    elif new is None and old is not None:
        calls.append(detach(after))
    return calls


def delete_port(port: Mapping[str, Any]) -> RestCall:
    return RestCall("DELETE", _port(port))


def attach(port: Mapping[str, Any]) -> RestCall:
    """Plug the port's device (with the port's MAC) into it; the port rides along so that a
    controller missing it makes it."""
    plugged = attachment(port)
    if plugged is None:
        raise ValueError(f"port {port.get('id')!r} has no device_id to attach")
    return RestCall("PUT", f"{_port(port)}/attachment",
                    {"attachment": plugged, "port": port_object(port)})


def detach(port: Mapping[str, Any]) -> RestCall:
    return RestCall("DELETE", f"{_port(port)}/attachment")


# -- routers ------------------------------------------------------------------------------------

def create_router(router: Mapping[str, Any]) -> RestCall:
    return RestCall("POST", f"/tenants/{_q(tenant_of(router))}/routers",
                    {"router": router_object(router)})


def update_router(router: Mapping[str, Any]) -> RestCall:
    return RestCall("PUT", _router(router), {"router": router_object(router)})


def delete_router(router: Mapping[str, Any]) -> RestCall:
    return RestCall("DELETE", _router(router))


def interface_object(port_id: str, network: Mapping[str, Any], subnet: Mapping[str, Any]
                     ) -> dict:
    # The interface's id is its port's, so that two subnets of one network can both attach.
    shown = {k: v for k, v in _object(network).items() if k != "subnets"}
    return {"id": port_id, "network": shown, "subnet": dict(subnet)}


def add_interface(router: Mapping[str, Any], port_id: str, network: Mapping[str, Any],
                  subnet: Mapping[str, Any]) -> RestCall:
    return RestCall("POST", f"{_router(router)}/interfaces",
                    {"interface": interface_object(port_id, network, subnet)})


def remove_interface(router: Mapping[str, Any], port_id: str) -> RestCall:
    return RestCall("DELETE", f"{_router(router)}/interfaces/{_q(port_id)}")


# -- the whole state, and health ----------------------------------------------------------------

@dataclass(frozen=True)
class Interface:
    router_id: str
    subnet_id: str
    port_id: str


def topology(networks: Iterable[Mapping[str, Any]], subnets: Iterable[Mapping[str, Any]],
             ports: Iterable[Mapping[str, Any]], routers: Iterable[Mapping[str, Any]],
             interfaces: Iterable[Interface]) -> RestCall:
    """``PUT /topology``: every network with its subnets and ports (with attachments), every
    router with its interfaces, in id order (the same state always gives the same body)."""
    networks = sorted(networks, key=lambda n: n["id"])
    subnets_of: dict[str, list] = {}
    subnet_by_id = {}
    for s in sorted(subnets, key=lambda s: s["id"]):
        subnets_of.setdefault(s["network_id"], []).append(dict(s))
        subnet_by_id[s["id"]] = s
    ports_of: dict[str, list] = {}
    for p in sorted(ports, key=lambda p: p["id"]):
        ports_of.setdefault(p["network_id"], []).append(port_object(p) | {
            "attachment": attachment(p)})
    network_by_id = {n["id"]: n for n in networks}
    body_networks = []
    for n in networks:
        body = network_object(n, subnets_of.get(n["id"], []))
        body["tenant_id"] = tenant_of(n)
        body["ports"] = ports_of.get(n["id"], [])
        body_networks.append(body)
    interfaces_of: dict[str, list] = {}
    for i in sorted(interfaces, key=lambda i: (i.router_id, i.port_id)):
        subnet = subnet_by_id.get(i.subnet_id)
        if subnet is None or subnet["network_id"] not in network_by_id:
            raise ValueError(f"interface {i.port_id} of router {i.router_id}: "
                             f"subnet {i.subnet_id} is not in the state")
        interfaces_of.setdefault(i.router_id, []).append(
            interface_object(i.port_id, network_by_id[subnet["network_id"]], subnet))
    body_routers = [router_object(r) | {"tenant_id": tenant_of(r),
                                        "interfaces": interfaces_of.get(r["id"], [])}
                    for r in sorted(routers, key=lambda r: r["id"])]
    return RestCall("PUT", "/topology", {"networks": body_networks, "routers": body_routers,
                                         "triggered_by_tenant": None})


def health() -> RestCall:
    return RestCall("GET", "/health")
