"""Applying a change of wiring to Neutron, in the order Neutron needs, idempotently; against
an in-memory Neutron that enforces extraroute's rules (a route's next hop must be on a subnet
the router is attached to; an interface a route goes through cannot be removed)."""
from __future__ import annotations

import ipaddress

import pytest

from ocx.policy import mapping
from ocx.policy.neutron import NeutronFailure
from ocx.policy.wiring import Topology, wiring

CIDRS = {"s-web": "10.0.0.0/24", "s-j1": "192.168.0.0/29", "s-j3": "192.168.0.8/29"}


class MemoryNeutron:
    def __init__(self, extraroute: bool = True) -> None:
        self.extraroute = extraroute
        self.router = {"id": "r", "routes": []}
        self.attached: list[str] = []
        self.subnets = {s: {"id": s, "cidr": c, "host_routes": []} for s, c in CIDRS.items()}
        self.calls: list[str] = []

    async def has_extension(self, alias: str) -> bool:
        return self.extraroute and alias == "extraroute"

    async def show(self, collection: str, resource_id: str) -> dict:
        return dict(self.router if collection == "routers" else self.subnets[resource_id])

    async def update(self, collection: str, resource_id: str, attrs: dict) -> dict:
        self.calls.append(f"update {collection}")
        if collection == "routers":
            for r in attrs["routes"]:
                hop = ipaddress.ip_address(r["nexthop"])
                if not any(hop in ipaddress.ip_network(CIDRS[s]) for s in self.attached):
                    raise NeutronFailure(400, "InvalidRoutes", "nexthop not connected")
            self.router = {**self.router, **attrs}
        else:
            self.subnets[resource_id] = {**self.subnets[resource_id], **attrs}
        return attrs

    async def list(self, collection: str, **filters) -> list[dict]:
        return [{"fixed_ips": [{"subnet_id": s}]} for s in self.attached]

    async def add_interface(self, router_id: str, subnet_id: str) -> dict:
        self.calls.append(f"add {subnet_id}")
        assert subnet_id not in self.attached
        self.attached.append(subnet_id)
        return {}

    async def remove_interface(self, router_id: str, subnet_id: str) -> None:
        self.calls.append(f"remove {subnet_id}")
        net = ipaddress.ip_network(CIDRS[subnet_id])
        if any(ipaddress.ip_address(r["nexthop"]) in net for r in self.router["routes"]):
            raise NeutronFailure(409, "RouterInterfaceInUseByRoute", "in use by a route")
        self.attached.remove(subnet_id)


ALONE = Topology(("web",), {}, {"web": ("s-web",)}, {"s-web": CIDRS["s-web"]})
ONE = ALONE.with_group("j1", {"s-j1": CIDRS["s-j1"]}, proxied="web",
                       proxy_type="l3").with_gateway("j1", "192.168.0.4")
TWO = ONE.with_group("j3", {"s-j3": CIDRS["s-j3"]}, proxied="j1",
                     proxy_type="l3").with_gateway("j3", "192.168.0.13")


async def walk(neutron: MemoryNeutron, *topologies: Topology) -> None:
    for before, after in zip(topologies, topologies[1:]):
        await mapping.apply(neutron, "r", wiring(before), wiring(after))


async def test_proxies_come_and_go_in_an_order_neutron_accepts():
    neutron = MemoryNeutron()
    await walk(neutron, Topology((), {}, {}, {}), ALONE, ONE, TWO)
    assert neutron.attached == ["s-j3"]
    assert sorted((r["destination"], r["nexthop"]) for r in neutron.router["routes"]) == [
        ("10.0.0.0/24", "192.168.0.13"), ("192.168.0.0/29", "192.168.0.13")]
    assert neutron.subnets["s-j1"]["host_routes"] == [
        {"destination": "10.0.0.0/24", "nexthop": "192.168.0.4"}]
    await walk(neutron, TWO, ONE, ALONE)
    assert neutron.attached == ["s-web"] and neutron.router["routes"] == []
    assert all(s["host_routes"] == [] for s in neutron.subnets.values())


async def test_applying_twice_or_backwards_after_a_half_done_change_is_safe():
    neutron = MemoryNeutron()
    await walk(neutron, Topology((), {}, {}, {}), ALONE)
    await walk(neutron, ALONE, ONE)
    await walk(neutron, ALONE, ONE)             # again: nothing is added twice
    assert neutron.attached == ["s-j1"]
    await walk(neutron, ONE, ALONE)
    assert neutron.attached == ["s-web"] and neutron.router["routes"] == []


async def test_without_extraroute_only_subnets_get_routes():
    neutron = MemoryNeutron(extraroute=False)
    await walk(neutron, Topology((), {}, {}, {}), ALONE, ONE)
    assert neutron.router["routes"] == [] and "update routers" not in neutron.calls
    assert neutron.subnets["s-j1"]["host_routes"] != []


async def test_user_routes_are_kept():
    neutron = MemoryNeutron()
    await walk(neutron, Topology((), {}, {}, {}), ALONE, ONE)
    neutron.subnets["s-j1"]["host_routes"].append({"destination": "0.0.0.0/0",
                                                   "nexthop": "192.168.0.6"})
    await walk(neutron, ONE, ALONE.with_group("j1", {"s-j1": CIDRS["s-j1"]}, proxied="web",
                                              proxy_type="l3"))
    assert neutron.subnets["s-j1"]["host_routes"] == [{"destination": "0.0.0.0/0",
                                                       "nexthop": "192.168.0.6"}]


@pytest.mark.parametrize("address,expected", [
    ({"fixed_ips": [{"subnet_id": "s", "ip_address": "10.0.0.5"}]}, "10.0.0.5"),
    ({"fixed_ips": []}, None), (None, None)])
def test_a_ports_address(address, expected):
    assert mapping.port_address(address) == expected
