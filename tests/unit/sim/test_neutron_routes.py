"""A router's extra routes (extraroute) as Neutron's API layer checks the body."""
from __future__ import annotations

import pytest

from ocx.sim.errors import SimError
from ocx.sim.neutron import ROUTER, invalid_routes, prepare_body, same_route
from tests.unit.sim.test_neutron_requests import token


def refused(body: dict, is_create: bool) -> SimError:
    with pytest.raises(SimError) as info:
        prepare_body(ROUTER, token(), body, is_create)
    return info.value


def test_routes_are_not_allowed_on_create_and_none_clears_them_on_update():
    err = refused({"router": {"routes": []}}, True)
    assert (err.status, err.kind, err.message) == (
        400, "HTTPBadRequest", "Attribute 'routes' not allowed in POST")
    [item] = prepare_body(ROUTER, token(), {"router": {"routes": None}}, False)
    assert item["routes"] == []
    [item] = prepare_body(ROUTER, token(), {"router": {"name": "r"}}, True)
    assert "routes" not in item


@pytest.mark.parametrize("routes, reason", [
    ("10.0.0.0/8", "Invalid data format for hostroute: '10.0.0.0/8'"),
    ([{"destination": "10.0.0.0/8"}],
     "Validation of dictionary's keys failed. Expected keys: {'destination', 'nexthop'} "
     "Provided keys: {'destination'}"),
    ([{"destination": "10.0.0.0/33", "nexthop": "10.1.0.5"}],
     "'10.0.0.0/33' is not a valid IP subnet"),
    ([{"destination": "10.0.0.0/8", "nexthop": "10.1.0.500"}],
     "'10.1.0.500' is not a valid IP address"),
    ([{"destination": "10.0.0.0/8", "nexthop": "10.1.0.5"}] * 2,
     "Duplicate hostroute '{'destination': '10.0.0.0/8', 'nexthop': '10.1.0.5'}'"),
])
def test_bad_routes_get_the_hostroutes_validators_reasons(routes, reason):
    err = refused({"router": {"routes": routes}}, False)
    assert (err.status, err.kind) == (400, "HTTPBadRequest")
    if "Expected keys" in reason:   # a set's order is not fixed
        assert err.message.startswith("Invalid input for routes. Reason: Validation of "
                                      "dictionary's keys failed.")
    else:
        assert err.message == f"Invalid input for routes. Reason: {reason}."


def test_invalid_routes_name_every_route_and_the_reason():
    err = invalid_routes([{"destination": "10.9.0.0/16", "nexthop": "10.1.0.5"}],
                         "the nexthop is not connected with router")
    assert (err.status, err.kind) == (400, "InvalidRoutes")
    assert err.message == ("Invalid format for routes: [{'destination': '10.9.0.0/16', "
                           "'nexthop': '10.1.0.5'}], the nexthop is not connected with router")


def test_a_route_is_the_same_by_destination_and_next_hop_address():
    a = {"destination": "fd00:1::/64", "nexthop": "fd00::A"}
    assert same_route(a, {"destination": "fd00:1::/64", "nexthop": "fd00::a"})
    assert not same_route(a, {"destination": "fd00:2::/64", "nexthop": "fd00::a"})
    assert not same_route(a, {"destination": "fd00:1::/64", "nexthop": "fd00::b"})
