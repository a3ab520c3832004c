"""Proxy chains: a linked list with at most one proxy per group, no self-proxy, no cycle."""
from __future__ import annotations

import pytest

from ocx.policy import chains
from ocx.policy.chains import Link
from ocx.policy.errors import PolicyError

# original ← p1 ← p2 ← p3
LINKS = {"original": Link(None, "p1"), "p1": Link("original", "p2", "l3"),
         "p2": Link("p1", "p3", "l2"), "p3": Link("p2", None, "l3"), "alone": Link()}


def test_proxy_type_defaults_to_l3_and_needs_a_proxied_group():
    assert chains.proxy_type_for("g", None) == "l3"
    assert chains.proxy_type_for("g", "l2") == "l2"
    assert chains.proxy_type_for(None, None) is None
    with pytest.raises(PolicyError) as refused:
        chains.proxy_type_for(None, "l2")
    assert refused.value.type == "ProxyTypeSetWithoutProxiedPTG"
    assert refused.value.message == "Proxy type can't be set without a proxied PTG."


def test_a_group_has_at_most_one_proxy():
    with pytest.raises(PolicyError) as refused:
        chains.check_new_proxy(LINKS, "new", "p1")
    assert refused.value.type == "InvalidProxiedGroup"
    assert refused.value.message == "Proxied group p1 already has a proxy."
    chains.check_new_proxy(LINKS, "new", "p3")      # the outermost may get one
    chains.check_new_proxy(LINKS, "new", "alone")


def test_no_self_proxy_and_no_cycle():
    with pytest.raises(PolicyError, match="cannot proxy itself"):
        chains.check_new_proxy(LINKS, "alone", "alone")
    with pytest.raises(PolicyError, match="cycle"):
        chains.check_new_proxy(LINKS, "original", "p3")


def test_walking_a_chain():
    assert chains.behind(LINKS, "p3") == ["p2", "p1", "original"]
    assert chains.in_front(LINKS, "original") == ["p1", "p2", "p3"]
    assert chains.outermost(LINKS, "p1") == "p3"
    assert chains.outermost(LINKS, "alone") == "alone"


def test_deleting_a_group_in_the_middle_deletes_its_proxies_first_outermost_first():
    assert chains.deletion_order(LINKS, "p1") == ["p3", "p2", "p1"]
    assert chains.deletion_order(LINKS, "p3") == ["p3"]


def test_a_broken_cycle_in_the_data_does_not_loop_forever():
    looped = {"a": Link("b", "b"), "b": Link("a", "a")}
    assert chains.behind(looped, "a") == ["b"]
    assert chains.in_front(looped, "a") == ["b"]


def test_gateway_routes_and_route_updates():
    routes = chains.gateway_routes(["10.0.0.0/24", "192.168.0.0/29"], "192.168.0.13")
    assert routes == {("10.0.0.0/24", "192.168.0.13"), ("192.168.0.0/29", "192.168.0.13")}
    assert chains.gateway_routes(["10.0.0.0/24"], None) == set()
    current = [{"destination": "0.0.0.0/0", "nexthop": "10.0.0.254"},
               {"destination": "10.1.0.0/24", "nexthop": "10.0.0.9"}]
    updated = chains.updated_routes(current, add=routes, remove={("10.1.0.0/24", "10.0.0.9")})
    assert updated == [{"destination": "0.0.0.0/0", "nexthop": "10.0.0.254"},
                       {"destination": "10.0.0.0/24", "nexthop": "192.168.0.13"},
                       {"destination": "192.168.0.0/29", "nexthop": "192.168.0.13"}]
    assert chains.updated_routes(updated, remove=routes) == current[:1]


def test_groups_of_a_service_chain_instance_are_not_deleted_by_hand():
    refusal = chains.owned_by_instance("g", {"g": "sci-1"}, {})
    assert refusal.status == 409 and "sci-1" in refusal.message
    assert chains.owned_by_instance("p", {}, {"p": "sci-2"}).type == "PolicyTargetGroupInUse"
    assert chains.owned_by_instance("x", {"g": "sci-1"}, {"p": "sci-2"}) is None
