"""Neutron's API rules as a controller provider applies them (controller_neutron, pure)."""
from __future__ import annotations

import ipaddress
import random
import uuid

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ocx.backends import controller_neutron as nn

ME = nn.Asker("p-me")
ADMIN = nn.Asker("p-admin", is_admin=True)
NET = str(uuid.uuid4())


def refused(status: int, kind: str, fn, *args, **kwargs) -> str:
    with pytest.raises(nn.NeutronApiError) as caught:
        fn(*args, **kwargs)
    assert (caught.value.status, caught.value.kind) == (status, kind), caught.value.message
    return caught.value.message


def subnet(cidr: str, **extra) -> dict:
    item = nn.prepare("subnets", {"subnet": {"network_id": NET, "ip_version":
                                             ipaddress.ip_network(cidr, strict=False).version,
                                             "cidr": cidr, **extra}}, ME, create=True)[0]
    return nn.new_subnet(item, [])


def test_a_create_gets_neutrons_defaults_and_the_callers_project():
    item = nn.prepare("networks", {"network": {"name": "n"}}, ME, create=True)[0]
    assert item == {"name": "n", "project_id": "p-me", "tenant_id": "p-me",
                    "admin_state_up": True, "shared": False, "description": ""}
    made = nn.new_network(item)
    assert made["status"] == "ACTIVE" and made["subnets"] == [] and uuid.UUID(made["id"])


def test_bodies_are_refused_with_neutrons_words():
    assert refused(400, "HTTPBadRequest", nn.prepare, "networks",
                   {"network": {"bogus": 1}}, ME, create=True) == \
        "Unrecognized attribute(s) 'bogus'"
    assert refused(400, "HTTPBadRequest", nn.prepare, "networks",
                   {"network": {"status": "DOWN"}}, ME, create=True) == \
        "Attribute 'status' not allowed in POST"
    assert refused(400, "HTTPBadRequest", nn.prepare, "ports",
                   {"port": {"network_id": NET, "id": "x"}}, ME, create=False) == \
        "Cannot update read-only attribute network_id"
    assert "Unable to find 'router'" in refused(400, "HTTPBadRequest", nn.prepare, "routers",
                                                {"network": {}}, ME, create=True)
    assert refused(400, "HTTPBadRequest", nn.prepare, "routers",
                   {"routers": [{"name": "a"}]}, ME, create=True) == \
        "Bulk operation not supported"
    assert "other than the authenticated project" in refused(
        400, "HTTPBadRequest", nn.prepare, "networks", {"network": {"tenant_id": "other"}},
        ME, create=True)
    assert "is not a valid UUID" in refused(400, "HTTPBadRequest", nn.prepare, "ports",
                                            {"port": {"network_id": "x"}}, ME, create=True)
    # An admin may create for another project.
    assert nn.prepare("networks", {"network": {"tenant_id": "other"}}, ADMIN,
                      create=True)[0]["project_id"] == "other"


def test_bulk_creates_are_read_whole():
    items = nn.prepare("networks", {"networks": [{"name": "a"}, {"network": {"name": "b"}}]},
                       ME, create=True)
    assert [i["name"] for i in items] == ["a", "b"]
    refused(400, "HTTPBadRequest", nn.prepare, "networks", {"networks": []}, ME, create=True)


def test_shared_networks_and_mac_changes_are_for_admins():
    refused(403, "PolicyNotAuthorized", nn.check_policy, "networks", "create",
            {"shared": True}, ME)
    refused(403, "PolicyNotAuthorized", nn.check_policy, "ports", "update",
            {"mac_address": "fa:16:3e:00:00:01"}, ME)
    nn.check_policy("networks", "create", {"shared": True}, ADMIN)


def test_a_subnet_gets_its_gateway_and_pools():
    made = subnet("10.0.0.0/24")
    assert made["gateway_ip"] == "10.0.0.1"
    assert made["allocation_pools"] == [{"start": "10.0.0.2", "end": "10.0.0.254"}]
    no_gateway = subnet("10.0.1.0/24", gateway_ip=None)
    assert no_gateway["allocation_pools"] == [{"start": "10.0.1.1", "end": "10.0.1.254"}]
    middle = subnet("10.0.2.0/24", gateway_ip="10.0.2.100")
    assert middle["allocation_pools"] == [{"start": "10.0.2.1", "end": "10.0.2.99"},
                                          {"start": "10.0.2.101", "end": "10.0.2.254"}]
    v6 = subnet("fd00::/64")
    assert v6["gateway_ip"] == "fd00::"   # the subnet-router anycast address, as Neutron
    assert subnet("10.0.3.7/24")["cidr"] == "10.0.3.0/24"


def test_subnets_are_refused_as_neutron_refuses_them():
    first = subnet("10.1.0.0/24")
    item = nn.prepare("subnets", {"subnet": {"network_id": NET, "ip_version": 4,
                                             "cidr": "10.1.0.128/25"}}, ME, create=True)[0]
    assert "overlaps with another subnet" in refused(400, "InvalidInput", nn.new_subnet, item,
                                                     [first])
    mismatch = nn.prepare("subnets", {"subnet": {"network_id": NET, "ip_version": 6,
                                                 "cidr": "10.2.0.0/24"}}, ME, create=True)[0]
    refused(400, "InvalidInput", nn.new_subnet, mismatch, [])
    outside = nn.prepare("subnets", {"subnet": {
        "network_id": NET, "ip_version": 4, "cidr": "10.3.0.0/24",
        "allocation_pools": [{"start": "10.3.1.2", "end": "10.3.1.9"}]}}, ME, create=True)[0]
    refused(400, "OutOfBoundsAllocationPool", nn.new_subnet, outside, [])
    gateway_in_pool = nn.prepare("subnets", {"subnet": {
        "network_id": NET, "ip_version": 4, "cidr": "10.4.0.0/24", "gateway_ip": "10.4.0.5",
        "allocation_pools": [{"start": "10.4.0.2", "end": "10.4.0.9"}]}}, ME, create=True)[0]
    refused(409, "GatewayConflictWithAllocationPools", nn.new_subnet, gateway_in_pool, [])
    overlapping = nn.prepare("subnets", {"subnet": {
        "network_id": NET, "ip_version": 4, "cidr": "10.5.0.0/24",
        "allocation_pools": [{"start": "10.5.0.2", "end": "10.5.0.9"},
                             {"start": "10.5.0.9", "end": "10.5.0.20"}]}}, ME, create=True)[0]
    refused(400, "OverlappingAllocationPools", nn.new_subnet, overlapping, [])


def test_ports_get_a_free_address_and_refuse_a_taken_one():
    s = subnet("10.6.0.0/29")       # hosts .1-.6; .1 the gateway
    rng = random.Random(3)
    taken = []
    for _ in range(5):
        item = nn.prepare("ports", {"port": {"network_id": NET}}, ME, create=True)[0]
        port = nn.new_port(item, [s], nn.Addresses.of(taken, [s]), rng)
        taken.append(port)
    addresses = sorted(p["fixed_ips"][0]["ip_address"] for p in taken)
    assert addresses == [f"10.6.0.{i}" for i in range(2, 7)]
    item = nn.prepare("ports", {"port": {"network_id": NET}}, ME, create=True)[0]
    refused(409, "IpAddressGenerationFailure", nn.new_port, item, [s],
            nn.Addresses.of(taken, [s]), rng)
    # A network without subnets gives ports without addresses.
    assert nn.new_port(dict(item), [], nn.Addresses.of([], []), rng)["fixed_ips"] == []
    asked = nn.prepare("ports", {"port": {"network_id": NET, "fixed_ips": [
        {"ip_address": "10.6.0.3"}]}}, ME, create=True)[0]
    refused(409, "IpAddressAlreadyAllocated", nn.new_port, asked, [s],
            nn.Addresses.of(taken, [s]))
    wrong = nn.prepare("ports", {"port": {"network_id": NET, "fixed_ips": [
        {"subnet_id": str(uuid.uuid4())}]}}, ME, create=True)[0]
    refused(400, "InvalidInput", nn.new_port, wrong, [s], nn.Addresses.of([], [s]))


def test_slaac_subnets_give_every_port_its_eui64_address():
    s = subnet("fd00:1::/64", ipv6_address_mode="slaac", ipv6_ra_mode="slaac")
    item = nn.prepare("ports", {"port": {"network_id": NET,
                                         "mac_address": "fa:16:3e:12:34:56"}}, ME,
                      create=True)[0]
    port = nn.new_port(item, [s], nn.Addresses.of([], [s]))
    assert port["fixed_ips"] == [{"subnet_id": s["id"],
                                  "ip_address": "fd00:1::f816:3eff:fe12:3456"}]


def test_listing_queries_are_checked_as_neutron_checks_them():
    refused(400, "HTTPBadRequest", nn.parse_list, "networks", [("sort_key", "name")])
    refused(400, "HTTPBadRequest", nn.parse_list, "networks", [("sort_key", "nope"),
                                                               ("sort_dir", "asc")])
    refused(400, "HTTPBadRequest", nn.parse_list, "networks", [("colour", "red")])
    refused(400, "BadRequest", nn.parse_list, "networks", [("limit", "-1")])
    query = nn.parse_list("networks", [("name", "a"), ("name", "b"), ("fields", "id"),
                                       ("shared", "false")])
    assert query.filters == {"name": ("a", "b"), "shared": ("false",)}
    assert nn.matches({"name": "b", "shared": False}, query.filters)
    assert not nn.matches({"name": "c", "shared": False}, query.filters)
    assert not nn.matches({"name": "a", "shared": True}, query.filters)


@settings(max_examples=60, deadline=None)
@given(names=st.lists(st.sampled_from("abcde"), min_size=0, max_size=25),
       limit=st.integers(min_value=1, max_value=7))
def test_paging_with_markers_gives_every_item_once_in_order(names, limit):
    items = [{"id": f"{i:04d}", "name": n} for i, n in enumerate(names)]
    expected = sorted(items, key=lambda i: (i["name"], i["id"]))
    seen, marker = [], None
    while True:
        pairs = [("sort_key", "name"), ("sort_dir", "asc"), ("limit", str(limit))]
        if marker:
            pairs.append(("marker", marker))
        page, more = nn.page(items, nn.parse_list("networks", pairs))
        seen += page
        if not more:
            break
        marker = page[-1]["id"]
    assert seen == expected


def test_an_unknown_marker_is_neutrons_404():
    refused(404, "NotFound", nn.page, [{"id": "a"}],
            nn.parse_list("networks", [("limit", "1"), ("marker", "zz")]))
