"""Proxy chains rendered onto the home cloud's simulated Neutron through a running OCX.

A chain of three services (a gateway, a transparent one, a gateway: an L3, an L2 and an L3
proxy) in front of a provider group, made by the traffic stitching plumber for a service chain
instance: the router is attached to the outermost proxy only, every L3 proxy subnet comes from
the proxy pool without overlap, the hops lead to the original group, and deleting the
instance restores the original wiring exactly. Then a /28 pool with prefix 29, deleting in the
middle of a chain, and what cannot be deleted by hand.
"""
from __future__ import annotations

import ipaddress
import json

import pytest


def snapshot(gbp, router_id: str) -> dict:
    """What the wiring is: the router's interfaces (subnet, address), its routes, every
    network, subnet (CIDR, gateway, host routes) and other port (addresses) of the project."""
    n = gbp.neutron
    router_ports = list(n.ports(device_id=router_id))
    return {
        "interfaces": sorted((f["subnet_id"], f["ip_address"]) for p in router_ports
                             for f in p.fixed_ips),
        "routes": sorted((r["destination"], r["nexthop"])
                         for r in n.get_router(router_id).routes or []),
        "networks": sorted(x.id for x in n.networks()),
        "subnets": sorted((s.id, s.cidr, s.gateway_ip, json.dumps(s.host_routes))
                          for s in n.subnets()),
        "ports": sorted((p.id, json.dumps(p.fixed_ips, sort_keys=True)) for p in n.ports()
                        if p.device_id != router_id)}


@pytest.fixture(scope="module")
def provider(gbp) -> dict:
    l3p = gbp.create("l3_policies", "l3_policy", name="apps", ip_pool="10.0.0.0/16")
    l2p = gbp.create("l2_policies", "l2_policy", name="web", l3_policy_id=l3p["id"])
    web = gbp.create("policy_target_groups", "policy_target_group", name="web",
                     l2_policy_id=l2p["id"])
    server = gbp.create("policy_targets", "policy_target", name="server",
                        policy_target_group_id=web["id"])
    return {"l3p": l3p, "l2p": l2p, "web": web, "server": server}


def node(gbp, name: str, **config) -> dict:
    return gbp.create("servicechain_nodes", "servicechain_node", name=name,
                      config=json.dumps(config))


def groups(gbp) -> dict[str, dict]:
    return {g["id"]: g for g in gbp.call("GET", "policy_target_groups").json()[
        "policy_target_groups"]}


def subnet(gbp, group: dict):
    [subnet_id] = group["subnets"]
    return gbp.neutron.get_subnet(subnet_id)


def targets_of(gbp, group: dict) -> dict[str, dict]:
    """name → (target, its port's address) of a group's targets."""
    found = {}
    for t in gbp.call("GET", f"policy_targets?policy_target_group_id={group['id']}").json()[
            "policy_targets"]:
        port = gbp.neutron.get_port(t["port_id"])
        found[t["name"]] = {**t, "address": port.fixed_ips[0]["ip_address"]}
    return found


def route(subnet, destination: str) -> str | None:
    return next((r["nexthop"] for r in subnet.host_routes
                 if r["destination"] == destination), None)


def test_a_chain_of_three_services_renders_and_unrenders_exactly(gbp, provider):
    web, router_id = provider["web"], provider["l3p"]["routers"][0]
    fw = node(gbp, "fw", plumbing_type="gateway")
    ids = gbp.create("servicechain_nodes", "servicechain_node", name="ids",
                     service_type="IDS", config="{}")
    vpn = node(gbp, "vpn", plumbing_type="gateway", management_targets=1)
    spec = gbp.create("servicechain_specs", "servicechain_spec", name="fw-ids-vpn",
                      nodes=[fw["id"], ids["id"], vpn["id"]])
    before = snapshot(gbp, router_id)
    assert before["interfaces"] == [(web["subnets"][0], subnet(gbp, web).gateway_ip)]

    instance = gbp.create("servicechain_instances", "servicechain_instance", name="chain",
                          servicechain_specs=[spec["id"]], provider_ptg_id=web["id"])

    # The chain: web ← j1 (L3, fw) ← j2 (L2, ids) ← j3 (L3, vpn).
    every = groups(gbp)
    web = every[web["id"]]
    j1 = every[web["proxy_group_id"]]
    j2 = every[j1["proxy_group_id"]]
    j3 = every[j2["proxy_group_id"]]
    assert j3["proxy_group_id"] is None
    assert [j1["proxy_type"], j2["proxy_type"], j3["proxy_type"]] == ["l3", "l2", "l3"]
    assert [j1["proxied_group_id"], j2["proxied_group_id"], j3["proxied_group_id"]] == [
        web["id"], j1["id"], j2["id"]]

    # Of the chain, the router is attached to the outermost proxy only.
    attached = {s for s, _ in snapshot(gbp, router_id)["interfaces"]}
    chain = {s for g in (web, j1, j2, j3) for s in g["subnets"]}
    assert attached & chain == set(j3["subnets"])

    # L3 proxies take /29s of the proxy pool, overlapping nothing else of the L3 policy; the
    # L2 proxy shares the CIDR of the group it proxies.
    web_net, j1_net, j2_net, j3_net = (ipaddress.ip_network(subnet(gbp, g).cidr)
                                       for g in (web, j1, j2, j3))
    pool = ipaddress.ip_network("192.168.0.0/16")
    for proxy in (j1_net, j3_net):
        assert proxy.prefixlen == 29 and proxy.subnet_of(pool)
    assert j2_net == j1_net
    assert not j1_net.overlaps(j3_net)
    assert not web_net.overlaps(j1_net) and not web_net.overlaps(j3_net)

    # The hops lead to the original group: the router's routes (the simulated Neutron has
    # extraroute) and j3's host routes go to vpn's consumer side, to everything behind j3;
    # vpn's provider side holds j2's gateway address; ids bridges j2 and j1 (same CIDR); j1's
    # route goes to fw's consumer side; fw's provider side holds web's gateway address.
    in_j3, in_j2, in_j1, in_web = (targets_of(gbp, g) for g in (j3, j2, j1, web))
    vpn_out = next(t for t in in_j3.values() if t["proxy_gateway"])
    assert route(subnet(gbp, j3), str(web_net)) == vpn_out["address"]
    assert route(subnet(gbp, j3), str(j1_net)) == vpn_out["address"]
    assert gbp.neutron.find_extension("extraroute") is not None
    assert before["routes"] == []
    assert snapshot(gbp, router_id)["routes"] == sorted(
        [(str(web_net), vpn_out["address"]), (str(j1_net), vpn_out["address"])])
    assert ipaddress.ip_address(vpn_out["address"]) in j3_net   # a hop the router reaches
    vpn_in = next(t for t in in_j2.values() if t["group_default_gateway"])
    assert vpn_in["address"] == subnet(gbp, j2).gateway_ip
    assert vpn["id"][:5] in vpn_in["name"] and vpn["id"][:5] in vpn_out["name"]
    assert any(ids["id"][:5] in name for name in in_j2) and any(
        ids["id"][:5] in name for name in in_j1)
    fw_out = next(t for t in in_j1.values() if t["proxy_gateway"])
    assert route(subnet(gbp, j1), str(web_net)) == fw_out["address"]
    fw_in = next(t for t in in_web.values() if t["group_default_gateway"])
    assert fw_in["address"] == subnet(gbp, web).gateway_ip
    assert route(subnet(gbp, web), str(web_net)) is None   # the original group is untouched

    # vpn asked for a management target: the plumber made a management group for it.
    [management] = [g for g in every.values() if g["service_management"]]
    assert attached - chain == set(management["subnets"])   # a group of its own
    assert [t["name"] for t in targets_of(gbp, management).values()] == [
        f"service_target__management_{vpn['id'][:5]}_{instance['id'][:5]}"]

    # What the plumber made cannot be deleted by hand, nor the group it stands on.
    for group in (web, j2):
        resp = gbp.call("DELETE", f"policy_target_groups/{group['id']}")
        assert resp.status_code == 409, resp.text
        assert instance["id"] in resp.json()["NeutronError"]["message"]
    assert gbp.call("DELETE", f"policy_targets/{fw_in['id']}").status_code == 409

    gbp.delete("servicechain_instances", instance["id"])
    assert snapshot(gbp, router_id) == before
    assert set(groups(gbp)) == {web["id"]}
    assert gbp.show("policy_target_groups", "policy_target_group", web["id"])[
        "proxy_group_id"] is None
    assert [t["name"] for t in gbp.call("GET", "policy_targets").json()[
        "policy_targets"]] == ["server"]


def test_a_28_pool_with_prefix_29_gives_two_l3_proxies_and_refuses_the_third(gbp):
    l3p = gbp.create("l3_policies", "l3_policy", name="small", ip_pool="10.1.0.0/16",
                     proxy_ip_pool="192.169.0.0/28", proxy_subnet_prefix_length=29)
    l2p = gbp.create("l2_policies", "l2_policy", name="small", l3_policy_id=l3p["id"])
    original = gbp.create("policy_target_groups", "policy_target_group", name="o",
                          l2_policy_id=l2p["id"])
    first = gbp.create("policy_target_groups", "policy_target_group", name="p1",
                       proxied_group_id=original["id"])
    second = gbp.create("policy_target_groups", "policy_target_group", name="p2",
                        proxied_group_id=first["id"])
    assert sorted(subnet(gbp, g).cidr for g in (first, second)) == [
        "192.169.0.0/29", "192.169.0.8/29"]
    before = snapshot(gbp, l3p["routers"][0])
    known = set(groups(gbp))
    resp = gbp.call("POST", "policy_target_groups", {"policy_target_group": {
        "name": "p3", "proxied_group_id": second["id"]}})
    assert resp.status_code == 503, resp.text
    error = resp.json()["NeutronError"]
    assert error["type"] == "NoSubnetAvailable"
    assert error["message"] == ("No subnet is available from l3 policy's pool: no /29 is left "
                                "in 192.169.0.0/28 (taken: 192.169.0.0/29, 192.169.0.8/29).")
    # Nothing half-made is left: no group, no L2 policy, no network, the wiring as it was.
    assert set(groups(gbp)) == known
    assert snapshot(gbp, l3p["routers"][0]) == before
    assert gbp.show("policy_target_groups", "policy_target_group", second["id"])[
        "proxy_group_id"] is None

    # A plumber that runs out half-way undoes everything it made.
    gateways = [node(gbp, f"gw{i}", plumbing_type="gateway") for i in range(3)]
    spec = gbp.create("servicechain_specs", "servicechain_spec", name="three-gateways",
                      nodes=[g["id"] for g in gateways])
    lone = gbp.create("policy_target_groups", "policy_target_group", name="lone",
                      l2_policy_id=l2p["id"])
    before = snapshot(gbp, l3p["routers"][0])
    known = set(groups(gbp))
    resp = gbp.call("POST", "servicechain_instances", {"servicechain_instance": {
        "servicechain_specs": [spec["id"]], "provider_ptg_id": lone["id"]}})
    assert resp.status_code == 503 and "NoSubnetAvailable" in resp.text
    assert gbp.call("GET", "servicechain_instances").json()["servicechain_instances"] == []
    assert set(groups(gbp)) == known
    assert snapshot(gbp, l3p["routers"][0]) == before


def test_deleting_a_group_in_the_middle_deletes_the_proxies_in_front_of_it(gbp):
    l3p = gbp.create("l3_policies", "l3_policy", name="mid", ip_pool="10.2.0.0/16",
                     proxy_ip_pool="192.170.0.0/24")
    l2p = gbp.create("l2_policies", "l2_policy", name="mid", l3_policy_id=l3p["id"])
    original = gbp.create("policy_target_groups", "policy_target_group", name="o",
                          l2_policy_id=l2p["id"])
    before = snapshot(gbp, l3p["routers"][0])
    first = gbp.create("policy_target_groups", "policy_target_group", name="p1",
                       proxied_group_id=original["id"])
    hop = gbp.create("policy_targets", "policy_target", policy_target_group_id=first["id"],
                     proxy_gateway=True)
    hop_address = gbp.neutron.get_port(hop["port_id"]).fixed_ips[0]["ip_address"]
    original_cidr = subnet(gbp, original).cidr
    assert snapshot(gbp, l3p["routers"][0])["routes"] == [(original_cidr, hop_address)]
    second = gbp.create("policy_target_groups", "policy_target_group", name="p2",
                        proxied_group_id=first["id"], proxy_type="l2")
    # p1 is no longer the outermost: the router's route through it is gone, its host route
    # stays.
    assert snapshot(gbp, l3p["routers"][0])["routes"] == []
    assert route(subnet(gbp, first), original_cidr) == hop_address
    gbp.delete("policy_target_groups", first["id"])
    remaining = groups(gbp)
    assert first["id"] not in remaining and second["id"] not in remaining
    assert remaining[original["id"]]["proxy_group_id"] is None
    assert snapshot(gbp, l3p["routers"][0]) == before
