"""A subnet's gateway address on a controller provider, as Neutron treats it: kept out of the
allocation pools, free for a port that asks for it (GBP's default-gateway target, a router
interface), then taken (controller_neutron, pure)."""
from __future__ import annotations

from ocx.backends import controller_neutron as nn
from tests.unit.controller.test_neutron_rules import ME, NET, refused, subnet


def port(s: dict, address: str | None = None, **extra) -> dict:
    fixed = {"fixed_ips": [{"subnet_id": s["id"], "ip_address": address}]} if address else {}
    return nn.prepare("ports", {"port": {"network_id": NET, **fixed, **extra}}, ME,
                      create=True)[0]


def test_a_port_may_ask_for_the_gateway_address_and_then_it_is_taken():
    s = subnet("10.7.0.0/29")
    target = nn.new_port(port(s, "10.7.0.1"), [s], nn.Addresses.of([], [s]))
    assert target["fixed_ips"] == [{"subnet_id": s["id"], "ip_address": "10.7.0.1"}]
    # Neither another port nor a router interface gets it while the port holds it.
    refused(409, "IpAddressAlreadyAllocated", nn.new_port, port(s, "10.7.0.1"), [s],
            nn.Addresses.of([target], [s]))
    interface = port(s, "10.7.0.1", device_owner=nn.ROUTER_INTERFACE, device_id="r")
    refused(409, "IpAddressAlreadyAllocated", nn.new_port, interface, [s],
            nn.Addresses.of([target], [s]))
    assert nn.new_port(port(s, "10.7.0.1", device_owner=nn.ROUTER_INTERFACE, device_id="r"),
                       [s], nn.Addresses.of([], [s]))["fixed_ips"][0]["ip_address"] == "10.7.0.1"


def test_the_gateway_is_never_chosen_for_a_port_that_asks_for_no_address():
    s = subnet("10.7.1.0/29")     # hosts .1-.6, .1 the gateway
    taken: list[dict] = []
    for _ in range(5):
        taken.append(nn.new_port(port(s), [s], nn.Addresses.of(taken, [s])))
    assert "10.7.1.1" not in {p["fixed_ips"][0]["ip_address"] for p in taken}
    refused(409, "IpAddressGenerationFailure", nn.new_port, port(s), [s],
            nn.Addresses.of(taken, [s]))


def test_only_a_router_takes_an_ipv6_subnets_anycast_address():
    s = subnet("fd00:7::/64")
    refused(400, "InvalidInput", nn.new_port, port(s, "fd00:7::"), [s], nn.Addresses.of([], [s]))
    router = port(s, "fd00:7::", device_owner=nn.ROUTER_INTERFACE, device_id="r")
    assert nn.new_port(router, [s], nn.Addresses.of([], [s]))["fixed_ips"][0][
        "ip_address"] == "fd00:7::"
