"""Group-Based Policy rendered onto the real cloud A's Neutron (issue 11), through A's OCX.

A's demo user calls A's OCX's GBP API (``/policy/v2.0``) with its token of A; OCX renders
through its own network API onto A's real Neutron (ML2, the ``router`` service plugin, which
has ``extraroute``). What the test reads of Neutron it reads straight from A's Neutron
(openstacksdk as A's demo user, region RegionOne), never through OCX:

- a default gateway target in a group the router is attached to: real Neutron's 409
  ``IpAddressAlreadyAllocated``, passed on in Neutron's form, nothing left behind;
- a service chain (a transparent service next to the provider group, then a gateway: an L2
  and an L3 proxy) that A's Neutron refuses half-way (the project's subnet quota, which the
  simulated Neutron does not enforce): Neutron's 409 ``OverQuota`` is the answer and A's
  Neutron holds exactly what it held before;
- the same chain rendered: the router is attached to the outermost proxy only, the L3
  proxy's subnet is a /29 of the L3 policy's ``proxy_ip_pool``, the L2 proxy's has the CIDR
  of the group it proxies on a network of its own, the router's route (extraroute) and the
  L3 proxy's host route lead to the original group through the gateway's consumer-side
  target, its provider-side target holds the L2 proxy's gateway address; deleting the chain
  gives A's Neutron back exactly what it had before (interfaces and their addresses, routes,
  networks, subnets with their host routes, ports);
- deleting everything leaves nothing of GBP's in A's Neutron.

Then a controller landlord beside the real clouds (issue 10): two simulated SDN controllers
(``ocx.sim.controller``, in the test process) as provider ``ctl`` of a second OCX of A (B
pinned too; in A's catalog under a region of its own, removed at the end: the tier's shared
OCX keeps its providers, so the other tests' merged listings and quotas stay as they are).
The real ``openstack`` command through it lists A's real networks, B's and ctl's together;
``network create NAME@ctl`` lands on the controllers, not in A's Neutron; an L3 policy made
with ``X-OCX-Provider: ctl`` renders its router there.
"""
from __future__ import annotations

import ipaddress
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import openstack
import pytest
import requests
from keystoneauth1 import session as ks_session
from keystoneauth1.identity import v3

from ocx.sim.controller import ClusterSpec, ControllerCluster
from ocx.sim.exchange import ExchangeThread
from tests.integration.controller.conftest import SimControllers

from .gateway import RealOcx
from .layout import REGION

# The second OCX (the controller landlord's) starts at the first test, in the background.
pytestmark = [pytest.mark.timeout(600), pytest.mark.usefixtures("landlord_starting")]

ROUTER_INTERFACE = "network:router_interface"
OPENSTACK = Path(sys.executable).with_name("openstack")
CTL_REGION = "OCX-CTL"   # the second OCX's region in A's catalog


# -- the GBP API of A's OCX ----------------------------------------------------------------------

@dataclass
class Gbp:
    url: str          # A's OCX's /policy/v2.0
    token: str        # A's demo user's token of A

    def call(self, method: str, path: str, body: dict | None = None, *,
             headers: dict | None = None) -> requests.Response:
        return requests.request(method, f"{self.url}/{path}", json=body,
                                headers={"X-Auth-Token": self.token, **(headers or {})},
                                timeout=120)

    def create(self, collection: str, resource: str, headers: dict | None = None,
               **attrs) -> dict:
        resp = self.call("POST", collection, {resource: attrs}, headers=headers)
        assert resp.status_code == 201, resp.text
        return resp.json()[resource]

    def delete(self, collection: str, resource_id: str) -> None:
        resp = self.call("DELETE", f"{collection}/{resource_id}")
        assert resp.status_code == 204, resp.text

    def listed(self, collection: str, query: str = "") -> list[dict]:
        resp = self.call("GET", f"{collection}{query}")
        assert resp.status_code == 200, resp.text
        return resp.json()[collection]


@pytest.fixture(scope="module")
def gbp(ocx, in_a) -> Gbp:
    return Gbp(f"{ocx.url}/policy/v2.0", in_a.session.get_token())


@pytest.fixture(scope="module")
def neutron(in_a):
    """A's real Neutron, straight (not through OCX), as A's demo user."""
    return in_a.network


# -- what A's Neutron holds ----------------------------------------------------------------------

def snapshot(neutron, project_id: str, router_id: str) -> dict:
    """The router's interfaces (subnet, address) and routes, and the project's networks,
    subnets (CIDR, gateway, host routes) and other ports (addresses), as A's Neutron has
    them."""
    router_ports = list(neutron.ports(device_id=router_id))
    assert {p.device_owner for p in router_ports} <= {ROUTER_INTERFACE}
    return {
        "interfaces": sorted((f["subnet_id"], f["ip_address"]) for p in router_ports
                             for f in p.fixed_ips),
        "routes": sorted((r["destination"], r["nexthop"])
                         for r in neutron.get_router(router_id).routes or []),
        "networks": sorted(n.id for n in neutron.networks(project_id=project_id)),
        "subnets": sorted((s.id, s.cidr, s.gateway_ip,
                           json.dumps(s.host_routes, sort_keys=True))
                          for s in neutron.subnets(project_id=project_id)),
        "ports": sorted((p.id, json.dumps(p.fixed_ips, sort_keys=True))
                        for p in neutron.ports(project_id=project_id)
                        if p.device_id != router_id)}


def subnet_of(neutron, group: dict):
    [subnet_id] = group["subnets"]
    return neutron.get_subnet(subnet_id)


def targets_of(gbp: Gbp, neutron, group: dict) -> dict[str, dict]:
    """name → the target with its port's address, as A's Neutron has the port."""
    found = {}
    for target in gbp.listed("policy_targets", f"?policy_target_group_id={group['id']}"):
        port = neutron.get_port(target["port_id"])
        found[target["name"]] = {**target, "address": port.fixed_ips[0]["ip_address"],
                                 "device_owner": port.device_owner}
    return found


def node(gbp: Gbp, name: str, **config) -> dict:
    return gbp.create("servicechain_nodes", "servicechain_node", name=name,
                      config=json.dumps(config))


@pytest.fixture(scope="module")
def provider(gbp):
    """An L3 policy with a proxy pool, an L2 policy, a provider group with a target (the last
    test deletes them; whatever a failed test left goes here)."""
    l3p = gbp.create("l3_policies", "l3_policy", name="real-apps", ip_pool="10.61.0.0/16",
                     proxy_ip_pool="192.168.61.0/24")
    l2p = gbp.create("l2_policies", "l2_policy", name="real-web", l3_policy_id=l3p["id"])
    web = gbp.create("policy_target_groups", "policy_target_group", name="real-web",
                     l2_policy_id=l2p["id"])
    server = gbp.create("policy_targets", "policy_target", name="server",
                        policy_target_group_id=web["id"])
    yield {"l3p": l3p, "l2p": l2p, "web": web, "server": server,
           "router": l3p["routers"][0], "network": l2p["network_id"]}
    for instance in gbp.listed("servicechain_instances"):
        gbp.call("DELETE", f"servicechain_instances/{instance['id']}")
    for collection, made in (("policy_targets", server), ("policy_target_groups", web),
                             ("l2_policies", l2p), ("l3_policies", l3p)):
        gbp.call("DELETE", f"{collection}/{made['id']}")
    for collection in ("servicechain_specs", "servicechain_nodes"):
        for made in gbp.listed(collection):
            gbp.call("DELETE", f"{collection}/{made['id']}")


# -- tests ---------------------------------------------------------------------------------------

def test_the_l3_policy_and_group_are_real_neutron_resources(gbp, neutron, provider):
    router = neutron.get_router(provider["router"])
    assert router.name == "l3p_real-apps"
    network = neutron.get_network(provider["network"])
    assert network.name == "l2p_real-web"
    web = subnet_of(neutron, provider["web"])
    assert web.network_id == network.id and web.name == "ptg_real-web"
    assert ipaddress.ip_network(web.cidr).subnet_of(ipaddress.ip_network("10.61.0.0/16"))
    # The router is on the group's subnet at its gateway address; the target is a port there.
    [interface] = neutron.ports(device_id=router.id)
    assert interface.device_owner == ROUTER_INTERFACE
    assert interface.fixed_ips == [{"subnet_id": web.id, "ip_address": web.gateway_ip}]
    port = neutron.get_port(provider["server"]["port_id"])
    assert port.network_id == network.id and port.fixed_ips[0]["subnet_id"] == web.id


def test_a_default_gateway_target_on_an_attached_group_is_neutrons_409(gbp, neutron, provider,
                                                                       in_a):
    """The router holds the gateway address: A's Neutron refuses the port, GBP answers with
    Neutron's error and leaves nothing."""
    web = provider["web"]
    before = snapshot(neutron, in_a.current_project_id, provider["router"])
    resp = gbp.call("POST", "policy_targets", {"policy_target": {
        "policy_target_group_id": web["id"], "group_default_gateway": True}})
    assert resp.status_code == 409, resp.text
    error = resp.json()["NeutronError"]
    gateway = subnet_of(neutron, web).gateway_ip
    assert error["type"] == "IpAddressAlreadyAllocated"
    assert gateway in error["message"]
    assert [t["id"] for t in gbp.listed(
        "policy_targets", f"?policy_target_group_id={web['id']}")] == [provider["server"]["id"]]
    assert snapshot(neutron, in_a.current_project_id, provider["router"]) == before


@pytest.fixture(scope="module")
def chain_spec(gbp):
    """A transparent service (an IDS: an L2 proxy) next to the provider, then a gateway (a
    firewall: an L3 proxy)."""
    ids = gbp.create("servicechain_nodes", "servicechain_node", name="real-ids",
                     service_type="IDS", config="{}")
    fw = node(gbp, "real-fw", plumbing_type="gateway")
    spec = gbp.create("servicechain_specs", "servicechain_spec", name="real-ids-fw",
                      nodes=[ids["id"], fw["id"]])
    return {"ids": ids, "fw": fw, "spec": spec}


@pytest.fixture(scope="module")
def a_admin(real_clouds):
    """A's admin, straight to A's services."""
    return openstack.connection.Connection(region_name=REGION,
                                           **real_clouds.auth(real_clouds.a, "admin"))


def test_a_chain_neutron_refuses_half_way_is_undone_in_as_neutron(gbp, neutron, provider,
                                                                  chain_spec, a_admin, in_a):
    """A's Neutron refuses the second proxy's subnet (the project's subnet quota, which
    only a real Neutron keeps): its own 409 OverQuota is the answer, and everything the
    plumber did before is undone there."""
    project, router_id = in_a.current_project_id, provider["router"]
    before = snapshot(neutron, project, router_id)
    groups = {g["id"] for g in gbp.listed("policy_target_groups")}
    a_admin.network.update_quota(project, subnets=len(before["subnets"]) + 1)
    try:
        resp = gbp.call("POST", "servicechain_instances", {"servicechain_instance": {
            "name": "real-refused", "servicechain_specs": [chain_spec["spec"]["id"]],
            "provider_ptg_id": provider["web"]["id"]}})
    finally:
        a_admin.network.delete_quota(project)   # back to Neutron's defaults
    assert resp.status_code == 409, resp.text
    error = resp.json()["NeutronError"]
    assert error["type"] == "OverQuota" and "subnet" in error["message"]
    assert gbp.listed("servicechain_instances") == []
    assert {g["id"] for g in gbp.listed("policy_target_groups")} == groups
    assert snapshot(neutron, project, router_id) == before


def test_a_chain_of_an_l2_and_an_l3_proxy_renders_onto_as_neutron_and_unrenders_exactly(
        gbp, neutron, provider, chain_spec, in_a):
    assert neutron.find_extension("extraroute") is not None   # the router plugin has it
    project, router_id, web = in_a.current_project_id, provider["router"], provider["web"]
    ids, fw = chain_spec["ids"], chain_spec["fw"]
    before = snapshot(neutron, project, router_id)
    web_subnet = subnet_of(neutron, web)
    assert before["interfaces"] == [(web_subnet.id, web_subnet.gateway_ip)]
    assert before["routes"] == []

    instance = gbp.create("servicechain_instances", "servicechain_instance",
                          name="real-chain", servicechain_specs=[chain_spec["spec"]["id"]],
                          provider_ptg_id=web["id"])
    try:
        # The chain: web ← j1 (L2, ids) ← j2 (L3, fw).
        every = {g["id"]: g for g in gbp.listed("policy_target_groups")}
        web = every[web["id"]]
        j1 = every[web["proxy_group_id"]]
        j2 = every[j1["proxy_group_id"]]
        assert j2["proxy_group_id"] is None
        assert [j1["proxy_type"], j2["proxy_type"]] == ["l2", "l3"]
        assert [j1["proxied_group_id"], j2["proxied_group_id"]] == [web["id"], j1["id"]]
        after = snapshot(neutron, project, router_id)

        # In A's Neutron the router is on the outermost proxy only, at its gateway address.
        j1_subnet, j2_subnet = subnet_of(neutron, j1), subnet_of(neutron, j2)
        assert after["interfaces"] == [(j2_subnet.id, j2_subnet.gateway_ip)]

        # The L3 proxy's subnet is a /29 of the proxy pool; the L2 proxy's has the CIDR of
        # the group it proxies, on a network of its own.
        web_net, j2_net = (ipaddress.ip_network(s.cidr) for s in (web_subnet, j2_subnet))
        assert j2_net.prefixlen == 29
        assert j2_net.subnet_of(ipaddress.ip_network("192.168.61.0/24"))
        assert j1_subnet.cidr == web_subnet.cidr
        assert j1_subnet.network_id not in (web_subnet.network_id, j2_subnet.network_id)

        # The hops lead to the original group: the router's route (A's Neutron's extraroute)
        # and j2's host route go through fw's consumer side to web's CIDR; fw's provider
        # side holds j1's gateway address; ids has a target on each side of j1.
        in_j2, in_j1, in_web = (targets_of(gbp, neutron, g) for g in (j2, j1, web))
        fw_out = next(t for t in in_j2.values() if t["proxy_gateway"])
        assert ipaddress.ip_address(fw_out["address"]) in j2_net
        assert after["routes"] == [(str(web_net), fw_out["address"])]
        assert j2_subnet.host_routes == [{"destination": str(web_net),
                                          "nexthop": fw_out["address"]}]
        fw_in = next(t for t in in_j1.values() if t["group_default_gateway"])
        assert fw_in["address"] == j1_subnet.gateway_ip
        assert fw["id"][:5] in fw_in["name"] and fw["id"][:5] in fw_out["name"]
        assert any(ids["id"][:5] in name for name in in_j1)
        assert any(ids["id"][:5] in name for name in in_web)
        assert j1_subnet.host_routes == [] and web_subnet.host_routes == []
        # The targets' ports are plain ports of the project; the router's interfaces the
        # only ports with an owner.
        assert {t["device_owner"] for g in (in_j2, in_j1, in_web) for t in g.values()} == {""}
    finally:
        gbp.delete("servicechain_instances", instance["id"])

    assert snapshot(neutron, project, router_id) == before
    assert set(g["id"] for g in gbp.listed("policy_target_groups")) == {web["id"]}
    assert [t["name"] for t in gbp.listed("policy_targets")] == ["server"]


def test_deleting_the_policies_leaves_nothing_of_them_in_as_neutron(gbp, neutron, provider,
                                                                     in_a):
    gbp.delete("policy_targets", provider["server"]["id"])
    gbp.delete("policy_target_groups", provider["web"]["id"])
    gbp.delete("l2_policies", provider["l2p"]["id"])
    gbp.delete("l3_policies", provider["l3p"]["id"])
    assert neutron.find_router(provider["router"]) is None
    assert neutron.find_network(provider["network"]) is None
    assert neutron.find_port(provider["server"]["port_id"]) is None
    project = in_a.current_project_id
    assert not [x.name for kind in (neutron.networks, neutron.subnets, neutron.routers,
                                    neutron.ports)
                for x in kind(project_id=project)
                if x.name.startswith(("l3p_", "l2p_", "ptg_", "pt_"))]


# -- a controller landlord beside the real clouds ------------------------------------------------

@dataclass
class Landlord:
    ocx: RealOcx
    controllers: SimControllers


@pytest.fixture(scope="module")
def landlord_starting(real_clouds) -> Iterator[Future]:
    """Two simulated controllers, and a second OCX of A with them as provider ``ctl``
    (region OCX-CTL), started in the background while the first tests render on A's
    Neutron (an OCX takes a while to start; the tests wait on Neutron meanwhile). The
    thread that starts the OCX lives until it is stopped (it dies with that thread)."""
    cluster = ControllerCluster(ClusterSpec(count=2, user="ocx", seed=61), name="ctl")
    runner = ExchangeThread(cluster)
    with runner, ThreadPoolExecutor(1) as pool:
        controllers = SimControllers(runner, cluster)
        starting = pool.submit(
            lambda: Landlord(RealOcx(
                real_clouds, real_clouds.a.dir / "ocx-ctl", user="ocx-ctl", region=CTL_REGION,
                providers=("ctl",), sections={"provider:ctl": {
                    "kind": "controller", "servers": ",".join(controllers.servers),
                    "serverauth": controllers.auth}}), controllers))
        try:
            yield starting
        finally:
            if starting.exception() is None:
                gateway = starting.result().ocx
                gateway.stop()
                _unregister(real_clouds, gateway)


@pytest.fixture(scope="module")
def landlord(landlord_starting) -> Landlord:
    return landlord_starting.result(timeout=120)


def _unregister(real_clouds, gateway: RealOcx) -> None:
    """Take the second OCX's endpoints and region out of A's catalog again."""
    admin = ks_session.Session(auth=v3.Password(**real_clouds.auth(real_clouds.a)))
    keystone = real_clouds.a.keystone_url
    for change in gateway.registered:
        if not change.old_url:      # made for it (a region of its own has none to patch)
            admin.delete(f"{keystone}/endpoints/{change.endpoint_id}", raise_exc=False)
    admin.delete(f"{keystone}/regions/{CTL_REGION}", raise_exc=False)


def openstack_cli(real_clouds, *args: str):
    """The real ``openstack`` command as A's demo user through the second OCX; JSON parsed."""
    auth = real_clouds.auth(real_clouds.a, "demo")
    env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
    env.update(OS_AUTH_URL=auth["auth_url"], OS_USERNAME=auth["username"],
               OS_PASSWORD=auth["password"], OS_PROJECT_NAME=auth["project_name"],
               OS_USER_DOMAIN_NAME="Default", OS_PROJECT_DOMAIN_NAME="Default",
               OS_IDENTITY_API_VERSION="3", OS_INTERFACE="public",
               OS_REGION_NAME=CTL_REGION)
    wants_json = args[-1] in ("list",) or args[1] in ("create", "show")
    proc = subprocess.run([str(OPENSTACK), *args, *(("-f", "json") if wants_json else ())],
                          env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout) if wants_json else proc.stdout


def held_networks(landlord: Landlord) -> dict[str, str]:
    """id → name of the networks the primary controller holds."""
    return {n["id"]: n["name"] for n in landlord.controllers.state(0)["networks"]}


def test_network_list_merges_as_real_networks_bs_and_the_controller_landlords(
        real_clouds, landlord, in_a, in_b):
    through = openstack.connection.Connection(region_name=CTL_REGION,
                                              **real_clouds.auth(real_clouds.a, "demo"))
    of_a = in_a.network.create_network(name="real-red")      # straight in A's Neutron
    of_b = in_b.network.create_network(name="real-green")    # straight in B's (K2K)
    made = None
    try:
        made = openstack_cli(real_clouds, "network", "create", "real-blue@ctl")
        assert made["name"] == "real-blue"
        assert held_networks(landlord) == {made["id"]: "real-blue"}
        assert in_a.network.find_network(made["id"]) is None     # not in A's Neutron
        listed = {n["ID"]: n["Name"] for n in openstack_cli(real_clouds, "network", "list")}
        assert {of_a.id: "real-red", of_b.id: "real-green", made["id"]: "real-blue"}.items() \
            <= listed.items()
        assert {n.id for n in in_a.network.networks()} <= set(listed)   # all of A's
        # Shown and deleted at the controllers through the same OCX (openstacksdk).
        assert through.network.get_network(made["id"]).name == "real-blue"
    finally:
        if made is not None:
            through.network.delete_network(made["id"], ignore_missing=True)
        in_a.network.delete_network(of_a, ignore_missing=True)
        in_b.network.delete_network(of_b, ignore_missing=True)
    assert held_networks(landlord) == {}


def test_an_l3_policy_on_the_landlord_renders_on_the_controllers(landlord, in_a, neutron):
    gbp = Gbp(f"{landlord.ocx.url}/policy/v2.0", in_a.session.get_token())
    l3p = gbp.create("l3_policies", "l3_policy", headers={"X-OCX-Provider": "ctl"},
                     name="real-ctl", ip_pool="10.62.0.0/16")
    try:
        l2p = gbp.create("l2_policies", "l2_policy", name="real-ctl", l3_policy_id=l3p["id"])
        group = gbp.create("policy_target_groups", "policy_target_group", name="real-ctl",
                           l2_policy_id=l2p["id"])
        state = landlord.controllers.state(0)
        [router] = [r for r in state["routers"] if r["id"] == l3p["routers"][0]]
        assert router["name"] == "l3p_real-ctl"
        assert [i["subnet"]["id"] for i in router["interfaces"]] == group["subnets"]
        assert neutron.find_router(router["id"]) is None          # not in A's Neutron
        gbp.delete("policy_target_groups", group["id"])
        gbp.delete("l2_policies", l2p["id"])
    finally:
        gbp.call("DELETE", f"l3_policies/{l3p['id']}")
    state = landlord.controllers.state(0)
    assert state["networks"] == [] and state["routers"] == []
