"""Group-Based Policy rendered onto a controller landlord (issue 11 over issue 10).

OCX in front of simulated clouds, one of them (``ctl``) a landlord whose networking is two
redundant SDN controllers, for which OCX serves Neutron itself. An L3 policy created with
``X-OCX-Provider: ctl`` renders there: a chain of three services (gateway, transparent,
gateway: an L3, an L2 and an L3 proxy) in front of a group. The primary controller then holds
exactly what OCX's store holds, wiring included (networks, subnets with their host routes,
router interfaces, router routes through the chain's hops), nothing reached the home cloud's
Neutron, and deleting the chain gives the controllers back the wiring from before it.
"""
from __future__ import annotations

import ipaddress
import json

import orjson
import pytest

from tests import postgres
from tests.integration.controller.conftest import SimControllers
from tests.integration.controller.test_through_ocx import held_by, store_topology
from tests.integration.gateway import conftest as gateway

from .conftest import Gbp

ocx_env = gateway.ocx_env               # the fixtures: OCX in front of SIM_CLOUDS
postgres_url = postgres.postgres_url    # (on SQLite, then on PostgreSQL)

SIM_CLOUDS = "home,sp1,ctl=controller"
OCX_DEFAULTS = {"health_probe_interval": "0.2"}
ON_CTL = {"X-OCX-Provider": "ctl"}

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def ctl(ocx_env) -> SimControllers:
    return SimControllers(ocx_env.sim.runner, ocx_env.sim.cloud("ctl").controllers)


@pytest.fixture(scope="module")
def gbp(ocx_env) -> Gbp:
    return Gbp(ocx_env.sim, ocx_env.url)


def held(env, ctl: SimControllers) -> dict:
    """The primary controller's state, checked to be exactly what OCX's store holds."""
    state = held_by(ctl, 0)
    expected = store_topology(env)
    assert state == expected, orjson.dumps([state, expected]).decode()
    return state


def wiring(state: dict, router_id: str) -> dict:
    """The wiring a controller holds: the router's interfaces (subnet, address) and routes,
    every network, subnet (CIDR, gateway, host routes) and other port (addresses)."""
    ports = {p["id"]: p for n in state["networks"] for p in n["ports"]}
    [router] = [r for r in state["routers"] if r["id"] == router_id]
    return {
        "interfaces": sorted((i["subnet"]["id"], f["ip_address"]) for i in router["interfaces"]
                             for f in ports[i["id"]]["fixed_ips"]),
        "routes": sorted((r["destination"], r["nexthop"]) for r in router["routes"]),
        "networks": sorted(n["id"] for n in state["networks"]),
        "subnets": sorted((s["id"], s["cidr"], s["gateway_ip"],
                           json.dumps(s["host_routes"], sort_keys=True))
                          for n in state["networks"] for s in n["subnets"]),
        "ports": sorted((p["id"], json.dumps(p["fixed_ips"], sort_keys=True))
                        for p in ports.values() if p.get("device_id") != router_id)}


def node(gbp, name: str, **config) -> dict:
    return gbp.create("servicechain_nodes", "servicechain_node", name=name,
                      config=json.dumps(config))


def test_a_chain_renders_onto_the_controllers_and_unrenders_exactly(ocx_env, ctl, gbp):
    resp = gbp.call("POST", "l3_policies", {"l3_policy": {
        "name": "apps", "ip_pool": "10.80.0.0/16", "proxy_ip_pool": "192.168.80.0/24"}},
        headers=ON_CTL)
    assert resp.status_code == 201, resp.text
    l3p = resp.json()["l3_policy"]
    [router_id] = l3p["routers"]
    l2p = gbp.create("l2_policies", "l2_policy", name="web", l3_policy_id=l3p["id"])
    web = gbp.create("policy_target_groups", "policy_target_group", name="web",
                     l2_policy_id=l2p["id"])
    gbp.create("policy_targets", "policy_target", name="server",
               policy_target_group_id=web["id"])
    # Rendered at ctl, not at home.
    home = ocx_env.sim.cloud("home").services["neutron"]
    assert router_id not in home.routers and l2p["network_id"] not in home.networks
    state = held(ocx_env, ctl)
    assert {r["name"] for r in state["routers"] if r["id"] == router_id} == {"l3p_apps"}
    before = wiring(state, router_id)
    [web_subnet] = web["subnets"]
    assert [s for s, _ in before["interfaces"]] == [web_subnet] and before["routes"] == []

    fw = node(gbp, "fw", plumbing_type="gateway")
    ids = node(gbp, "ids", plumbing_type="transparent")
    vpn = node(gbp, "vpn", plumbing_type="gateway")
    spec = gbp.create("servicechain_specs", "servicechain_spec", name="fw-ids-vpn",
                      nodes=[fw["id"], ids["id"], vpn["id"]])
    instance = gbp.create("servicechain_instances", "servicechain_instance", name="chain",
                          servicechain_specs=[spec["id"]], provider_ptg_id=web["id"])

    # The chain: web ← j1 (L3, fw) ← j2 (L2, ids) ← j3 (L3, vpn).
    every = {g["id"]: g for g in gbp.call("GET", "policy_target_groups").json()[
        "policy_target_groups"]}
    j1 = every[every[web["id"]]["proxy_group_id"]]
    j2 = every[j1["proxy_group_id"]]
    j3 = every[j2["proxy_group_id"]]
    assert [j1["proxy_type"], j2["proxy_type"], j3["proxy_type"]] == ["l3", "l2", "l3"]

    state = held(ocx_env, ctl)
    during = wiring(state, router_id)
    subnets = {s["id"]: s for n in state["networks"] for s in n["subnets"]}
    ports = {p["id"]: p for n in state["networks"] for p in n["ports"]}
    [j1_subnet], [j2_subnet], [j3_subnet] = j1["subnets"], j2["subnets"], j3["subnets"]
    # The router is on the outermost proxy only (at the subnet's gateway address).
    assert during["interfaces"] == [(j3_subnet, subnets[j3_subnet]["gateway_ip"])]
    web_net, j1_net, j3_net = (ipaddress.ip_network(subnets[s]["cidr"])
                               for s in (web_subnet, j1_subnet, j3_subnet))
    assert subnets[j2_subnet]["cidr"] == str(j1_net)   # the L2 proxy shares j1's CIDR
    assert j1_net.subnet_of(ipaddress.ip_network("192.168.80.0/24")) and j1_net.prefixlen == 29

    # The hops lead to web: the router's routes and j3's host routes go to vpn's consumer
    # side (a proxy_gateway target in j3), j1's to fw's; fw's and vpn's provider sides hold
    # the gateway addresses of web and j2.
    def target_address(group: dict, flag: str) -> str:
        found = gbp.call("GET", f"policy_targets?policy_target_group_id={group['id']}").json()[
            "policy_targets"]
        [target] = [t for t in found if t[flag]]
        return ports[target["port_id"]]["fixed_ips"][0]["ip_address"]

    vpn_out, fw_out = target_address(j3, "proxy_gateway"), target_address(j1, "proxy_gateway")
    assert ipaddress.ip_address(vpn_out) in j3_net
    assert during["routes"] == sorted([(str(web_net), vpn_out), (str(j1_net), vpn_out)])
    assert sorted((r["destination"], r["nexthop"]) for r in subnets[j3_subnet]["host_routes"]) \
        == during["routes"]
    assert subnets[j1_subnet]["host_routes"] == [{"destination": str(web_net),
                                                  "nexthop": fw_out}]
    assert subnets[web_subnet]["host_routes"] == []
    assert target_address(web, "group_default_gateway") == subnets[web_subnet]["gateway_ip"]
    assert target_address(j2, "group_default_gateway") == subnets[j2_subnet]["gateway_ip"]

    # Deleting the chain gives the controllers back the wiring from before it.
    gbp.delete("servicechain_instances", instance["id"])
    assert wiring(held(ocx_env, ctl), router_id) == before

    for kind, rid in (("policy_target_groups", web["id"]), ("l2_policies", l2p["id"]),
                      ("l3_policies", l3p["id"])):
        if kind == "policy_target_groups":
            for t in gbp.call("GET", f"policy_targets?policy_target_group_id={rid}").json()[
                    "policy_targets"]:
                gbp.delete("policy_targets", t["id"])
        gbp.delete(kind, rid)
    state = held(ocx_env, ctl)
    assert router_id not in {r["id"] for r in state["routers"]}
    assert l2p["network_id"] not in {n["id"] for n in state["networks"]}
