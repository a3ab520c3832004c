"""The simulated Neutron's extra routes (extraroute, extraroute-atomic) as the real clients use
them: openstacksdk's router update and atomic route calls, the openstack CLI's ``router add
route``/``router remove route``, and the exact errors on the wire."""
from __future__ import annotations

import pytest

from tests.conftest import start_sim
from tests.integration.sim.test_neutron import Raw, neutron_error, unique

CLOUD = "net"

pytestmark = pytest.mark.timeout(180)


@pytest.fixture(scope="module")
def sim():
    yield from start_sim(f"{CLOUD}=neutron")


@pytest.fixture(scope="module")
def demo(sim):
    return sim.connect(CLOUD)


@pytest.fixture(scope="module")
def raw(sim, demo):
    return Raw(sim, demo)


@pytest.fixture
def wired(demo):
    """A router with an interface on 10.60.0.0/24 (the router holds 10.60.0.1)."""
    net = demo.network.create_network(name=unique("xr"))
    subnet = demo.network.create_subnet(network_id=net.id, ip_version=4, cidr="10.60.0.0/24")
    router = demo.network.create_router(name=unique("xr"))
    demo.network.add_interface_to_router(router, subnet=subnet.id)
    yield router, subnet
    demo.network.update_router(router.id, routes=[])   # by id: the SDK sends routes=[]
    demo.network.remove_interface_from_router(router, subnet=subnet.id)
    demo.network.delete_router(router)
    demo.network.delete_network(net)


def routes_of(demo, router) -> list[tuple[str, str]]:
    return [(r["destination"], r["nexthop"]) for r in demo.network.get_router(router.id).routes]


def test_extraroute_and_its_atomic_form_are_listed(demo, raw):
    aliases = {e.alias for e in demo.network.extensions()}
    assert {"extraroute", "extraroute-atomic"} <= aliases
    shown = raw("GET", "/v2.0/extensions/extraroute").json()["extension"]
    assert (shown["name"], shown["updated"]) == ("Neutron Extra Route",
                                                 "2013-02-01T10:00:00-00:00")


def test_routes_are_set_by_update_and_each_next_hop_must_be_connected(demo, raw, wired):
    router, subnet = wired
    assert demo.network.get_router(router.id).routes == []
    neutron_error(raw("POST", "/v2.0/routers", {"router": {"routes": []}}), 400,
                  "HTTPBadRequest", "Attribute 'routes' not allowed in POST")
    routes = [{"destination": "10.99.0.0/16", "nexthop": "10.60.0.10"},
              {"destination": "10.98.0.0/16", "nexthop": "10.60.0.10"}]
    updated = demo.network.update_router(router, routes=routes)
    assert updated.routes == routes
    assert routes_of(demo, router) == [("10.99.0.0/16", "10.60.0.10"),
                                       ("10.98.0.0/16", "10.60.0.10")]
    revision = demo.network.get_router(router.id).revision_number

    far = [{"destination": "10.97.0.0/16", "nexthop": "10.61.0.5"}]
    neutron_error(raw("PUT", f"/v2.0/routers/{router.id}", {"router": {"routes": far}}), 400,
                  "InvalidRoutes", "Invalid format for routes: [{'destination': "
                  "'10.97.0.0/16', 'nexthop': '10.61.0.5'}], the nexthop is not connected "
                  "with router")
    own = [{"destination": "10.97.0.0/16", "nexthop": "10.60.0.1"}]
    neutron_error(raw("PUT", f"/v2.0/routers/{router.id}", {"router": {"routes": own}}), 400,
                  "InvalidRoutes", "Invalid format for routes: [{'destination': "
                  "'10.97.0.0/16', 'nexthop': '10.60.0.1'}], the nexthop is used by router")
    neutron_error(raw("PUT", f"/v2.0/routers/{router.id}", {"router": {"routes": [
        {"destination": "10.97.0.0", "nexthop": "10.60.0.10"}]}}), 400, "HTTPBadRequest",
        "Invalid input for routes. Reason: '10.97.0.0' isn't a recognized IP subnet cidr, "
        "'10.97.0.0/32' is recommended.")
    neutron_error(raw("PUT", f"/v2.0/routers/{router.id}", {"router": {"routes": routes * 2}}),
                  400, "HTTPBadRequest")
    neutron_error(raw("GET", "/v2.0/routers?routes=x"), 400, "HTTPBadRequest",
                  "['routes'] is invalid attribute for filtering")
    # Nothing of a refused update was kept.
    kept = demo.network.get_router(router.id)
    assert (kept.routes, kept.revision_number) == (routes, revision)

    # The interface a route goes through stays until the route is gone.
    neutron_error(raw("PUT", f"/v2.0/routers/{router.id}/remove_router_interface",
                      {"subnet_id": subnet.id}), 409, "RouterInterfaceInUseByRoute",
                  f"Router interface for subnet {subnet.id} on router {router.id} cannot be "
                  f"deleted, as it is required by one or more routes.")
    assert raw("PUT", f"/v2.0/routers/{router.id}",
               {"router": {"routes": None}}).json()["router"]["routes"] == []


def test_a_next_hop_may_be_on_the_gateways_subnet(sim, demo, raw):
    admin = sim.connect(CLOUD, user="admin")
    public = admin.network.create_network(name=unique("public"), is_router_external=True)
    admin.network.create_subnet(network_id=public.id, ip_version=4, cidr="172.24.8.0/24",
                                enable_dhcp=False)
    router = demo.network.create_router(name=unique("edge"),
                                        external_gateway_info={"network_id": public.id})
    try:
        [external] = router.external_gateway_info["external_fixed_ips"]
        updated = demo.network.update_router(router, routes=[
            {"destination": "198.51.100.0/24", "nexthop": "172.24.8.254"}])
        assert updated.routes == [{"destination": "198.51.100.0/24",
                                   "nexthop": "172.24.8.254"}]
        neutron_error(raw("PUT", f"/v2.0/routers/{router.id}", {"router": {"routes": [
            {"destination": "198.51.100.0/24", "nexthop": external["ip_address"]}]}}), 400,
            "InvalidRoutes")
    finally:
        demo.network.delete_router(router)
        admin.network.delete_network(public)


def test_max_routes_limits_the_routes_of_one_router(sim, demo, raw, wired):
    router, _ = wired
    sim.cloud(CLOUD).settings["neutron.max_routes"] = "2"
    try:
        three = [{"destination": f"10.9{i}.0.0/16", "nexthop": "10.60.0.10"} for i in range(3)]
        neutron_error(raw("PUT", f"/v2.0/routers/{router.id}", {"router": {"routes": three}}),
                      400, "RoutesExhausted", f"Unable to complete operation for {router.id}. "
                      f"The number of routes exceeds the maximum 2.")
        demo.network.update_router(router, routes=three[:2])
        neutron_error(raw("PUT", f"/v2.0/routers/{router.id}/add_extraroutes",
                          {"router": {"routes": three[2:]}}), 400, "RoutesExhausted")
        assert len(routes_of(demo, router)) == 2
    finally:
        del sim.cloud(CLOUD).settings["neutron.max_routes"]


def test_routes_are_added_and_removed_atomically(demo, raw, wired):
    router, _ = wired
    a = {"destination": "10.90.0.0/16", "nexthop": "10.60.0.10"}
    b = {"destination": "10.90.0.0/16", "nexthop": "10.60.0.11"}   # same place, other hop
    c = {"destination": "10.91.0.0/16", "nexthop": "10.60.0.12"}
    assert demo.network.add_extra_routes_to_router(
        router, body={"router": {"routes": [a, b]}}).routes == [a, b]
    # An exact duplicate merges (with the ones there and within the body).
    assert demo.network.add_extra_routes_to_router(
        router, body={"router": {"routes": [a, c, c]}}).routes == [a, b, c]
    # A route that is not there is no error when removed.
    gone = {"destination": "10.92.0.0/16", "nexthop": "10.60.0.13"}
    assert demo.network.remove_extra_routes_from_router(
        router, body={"router": {"routes": [a, gone]}}).routes == [b, c]
    neutron_error(raw("PUT", f"/v2.0/routers/{router.id}/add_extraroutes",
                      {"router": {"routes": [{"destination": "10.93.0.0/16",
                                              "nexthop": "10.61.0.1"}]}}), 400,
                  "InvalidRoutes")
    neutron_error(raw("PUT", f"/v2.0/routers/{router.id}/add_extraroutes", {"routes": [a]}),
                  400, "HTTPBadRequest", "Unable to find 'router' in request body")
    neutron_error(raw("PUT", f"/v2.0/routers/{router.id}/remove_extraroutes",
                      {"router": {"routes": [{"destination": "10.9.0.0/16"}]}}), 400,
                  "HTTPBadRequest")
    neutron_error(raw("PUT", f"/v2.0/routers/{router.id}/add_extraroutes",
                      {"router": {"routes": [a], "name": "x"}}), 400, "HTTPBadRequest",
                  "Unrecognized attribute(s) 'name'")
    assert [(r["destination"], r["nexthop"]) for r in demo.network.get_router(
        router.id).routes] == [(b["destination"], b["nexthop"]), (c["destination"],
                                                                 c["nexthop"])]


def test_the_openstack_cli_adds_and_removes_a_route(sim, demo, wired):
    router, _ = wired
    shown = sim.osc("router", "add", "route", "--route",
                    "destination=10.95.0.0/16,gateway=10.60.0.20", router.id, "-f", "json",
                    cloud=CLOUD)
    assert shown["routes"] == [{"destination": "10.95.0.0/16", "nexthop": "10.60.0.20"}]
    sim.osc("router", "remove", "route", "--route",
            "destination=10.95.0.0/16,gateway=10.60.0.20", router.id, cloud=CLOUD)
    assert routes_of(demo, router) == []
