"""Neutron's IP address management: pools, gateways, which addresses a port may get."""
from __future__ import annotations

import pytest

from ocx.sim.errors import SimError
from ocx.sim.neutron import (
    check_pools,
    default_gateway,
    default_pools,
    eui64_address,
    free_addresses,
    gateway_conflict,
    gateway_invalid,
    ip_on_subnet,
)


def test_the_default_pool_is_every_host_but_the_gateway():
    assert default_gateway("10.0.0.0/24") == "10.0.0.1"
    assert default_pools("10.0.0.0/24", "10.0.0.1") == [{"start": "10.0.0.2",
                                                         "end": "10.0.0.254"}]
    assert default_pools("10.0.0.0/24", "10.0.0.100") == [
        {"start": "10.0.0.1", "end": "10.0.0.99"}, {"start": "10.0.0.101", "end": "10.0.0.254"}]
    assert default_pools("10.0.0.0/24", None) == [{"start": "10.0.0.1", "end": "10.0.0.254"}]


def test_ipv6_pools_keep_the_last_address_and_tiny_subnets_have_none():
    assert default_pools("fd00::/64", "fd00::1") == [
        {"start": "fd00::2", "end": "fd00::ffff:ffff:ffff:ffff"}]
    assert default_pools("10.0.0.0/31", None) == []
    assert default_pools("10.0.0.7/32", None) == [{"start": "10.0.0.7", "end": "10.0.0.7"}]


@pytest.mark.parametrize("pools, kind, message", [
    ([{"start": "10.0.0.2", "end": "10.0.1.5"}], "OutOfBoundsAllocationPool",
     "The allocation pool 10.0.0.2-10.0.1.5 spans beyond the subnet cidr 10.0.0.0/24."),
    ([{"start": "10.0.0.0", "end": "10.0.0.5"}], "OutOfBoundsAllocationPool",
     "The allocation pool 10.0.0.0-10.0.0.5 spans beyond the subnet cidr 10.0.0.0/24."),
    ([{"start": "10.0.0.9", "end": "10.0.0.2"}], "InvalidAllocationPool",
     "The allocation pool {'start': '10.0.0.9', 'end': '10.0.0.2'} is not valid."),
    ([{"start": "10.0.0.2", "end": "10.0.0.50"}, {"start": "10.0.0.40", "end": "10.0.0.60"}],
     "OverlappingAllocationPools",
     "Found overlapping allocation pools: 10.0.0.2-10.0.0.50 10.0.0.40-10.0.0.60 for subnet "
     "10.0.0.0/24."),
])
def test_bad_pools_get_neutrons_exceptions(pools, kind, message):
    with pytest.raises(SimError) as info:
        check_pools("10.0.0.0/24", pools)
    assert (info.value.kind, info.value.message) == (kind, message)


def test_a_gateway_may_not_sit_in_a_pool_nor_be_the_network_address():
    pools = [{"start": "10.0.0.1", "end": "10.0.0.10"}]
    clash = gateway_conflict("10.0.0.5", pools)
    assert (clash.status, clash.kind) == (409, "GatewayConflictWithAllocationPools")
    assert clash.message == "Gateway ip 10.0.0.5 conflicts with allocation pool 10.0.0.1-10.0.0.10."
    assert gateway_conflict("10.0.0.11", pools) is None
    assert gateway_invalid("10.0.0.0/24", "10.0.0.255")
    assert gateway_invalid("10.0.0.0/24", "10.0.0.0")
    assert not gateway_invalid("10.0.0.0/24", "192.168.1.1")  # off-subnet gateways are allowed


def test_free_addresses_come_from_the_first_pool_with_room():
    pools = [{"start": "10.0.0.2", "end": "10.0.0.3"}, {"start": "10.0.0.10", "end": "10.0.0.20"}]
    assert free_addresses(pools, {"10.0.0.2", "10.0.0.3"}, window=3) == [
        "10.0.0.10", "10.0.0.11", "10.0.0.12"]
    assert free_addresses(pools[:1], {"10.0.0.2", "10.0.0.3"}) == []


def test_which_addresses_a_port_may_hold():
    assert ip_on_subnet("10.0.0.0/24", "10.0.0.7")
    assert not ip_on_subnet("10.0.0.0/24", "10.0.0.255")
    assert not ip_on_subnet("10.0.0.0/24", "10.0.1.7")
    assert not ip_on_subnet("fd00::/64", "fd00::")
    assert ip_on_subnet("fd00::/64", "fd00::", router_owner=True)


def test_slaac_addresses_are_eui64_of_the_mac():
    assert eui64_address("fd00::/64", "fa:16:3e:12:34:56") == "fd00::f816:3eff:fe12:3456"
