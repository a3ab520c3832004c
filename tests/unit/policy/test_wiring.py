"""The wiring of an L3 policy, from its GBP state: router interfaces on the outermost groups
only, routes through the proxies' gateway targets, and every change undone by its reverse."""
from __future__ import annotations

from ocx.policy.wiring import Topology, changes, wiring

ORIGINAL = Topology(groups=("web",), links={}, subnets={"web": ("s-web",)},
                    cidrs={"s-web": "10.0.0.0/24"})


def chain_of_three() -> Topology:
    """web ← j1 (L3) ← j2 (L2) ← j3 (L3), gateways of j1 and j3 as the plumber makes them."""
    t = ORIGINAL.with_group("j1", {"s-j1": "192.168.0.0/29"}, proxied="web", proxy_type="l3")
    t = t.with_gateway("j1", "192.168.0.4")
    t = t.with_group("j2", {"s-j2": "192.168.0.0/29"}, proxied="j1", proxy_type="l2")
    t = t.with_group("j3", {"s-j3": "192.168.0.8/29"}, proxied="j2", proxy_type="l3")
    return t.with_gateway("j3", "192.168.0.13")


def test_a_group_alone_is_on_the_router():
    w = wiring(ORIGINAL)
    assert w.interfaces == {"s-web"} and not w.router_routes and not w.subnet_routes


def test_the_router_is_on_the_outermost_proxy_only_and_routes_lead_back():
    w = wiring(chain_of_three())
    assert w.interfaces == {"s-j3"}
    via_j3 = {("10.0.0.0/24", "192.168.0.13"), ("192.168.0.0/29", "192.168.0.13")}
    assert w.router_routes == via_j3
    assert w.subnet_routes == {"s-j3": via_j3, "s-j1": {("10.0.0.0/24", "192.168.0.4")}}


def test_putting_a_proxy_in_front_moves_the_router_and_the_gateway_routes():
    before = ORIGINAL.with_group("j1", {"s-j1": "192.168.0.0/29"}, proxied="web",
                                 proxy_type="l3").with_gateway("j1", "192.168.0.4")
    after = before.with_group("j2", {"s-j2": "192.168.0.0/29"}, proxied="j1", proxy_type="l2")
    todo = changes(wiring(before), wiring(after))
    assert todo.routes_out == {("10.0.0.0/24", "192.168.0.4")}
    assert todo.interfaces_out == ("s-j1",) and todo.interfaces_in == ("s-j2",)
    assert not todo.routes_in and not todo.subnet_routes   # j1 keeps its own routes


def test_deleting_the_chain_gives_back_the_original_wiring():
    t = chain_of_three()
    for gone, gateway in (("j3", "192.168.0.13"), ("j2", None), ("j1", "192.168.0.4")):
        if gateway:
            t = t.without_gateway(gone, gateway)
        t = t.without_group(gone)
    assert wiring(t) == wiring(ORIGINAL)
    assert t.links["web"].proxy is None


def test_a_change_and_its_reverse():
    before, after = wiring(ORIGINAL), wiring(chain_of_three())
    forth, back = changes(before, after), changes(after, before)
    assert forth.interfaces_in == back.interfaces_out
    assert forth.interfaces_out == back.interfaces_in
    assert forth.routes_in == back.routes_out
    assert changes(before, before).empty


def test_interfaces_are_changed_in_the_order_given():
    t = ORIGINAL.with_group("other", {"s-b": "10.0.1.0/24", "s-a": "10.0.2.0/24"})
    assert changes(wiring(ORIGINAL), wiring(t), order=["s-b", "s-a"]).interfaces_in == (
        "s-b", "s-a")
