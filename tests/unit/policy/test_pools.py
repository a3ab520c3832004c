"""IP pools of L3 policies: checks as GBP makes them, and allocation that never overlaps."""
from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ocx.policy import pools
from ocx.policy.errors import PolicyError


def test_a_28_with_prefix_29_gives_two_subnets_and_refuses_the_third():
    first = pools.allocate("192.168.0.0/28", 29, [])
    second = pools.allocate("192.168.0.0/28", 29, [first])
    assert {first, second} == {"192.168.0.0/29", "192.168.0.8/29"}
    with pytest.raises(PolicyError) as refused:
        pools.allocate("192.168.0.0/28", 29, [first, second])
    assert refused.value.status == 503 and refused.value.type == "NoSubnetAvailable"
    assert "no /29 is left in 192.168.0.0/28" in refused.value.message
    assert "192.168.0.0/29, 192.168.0.8/29" in refused.value.message


def test_allocation_skips_whatever_the_l3_policy_holds_from_any_pool():
    # A subnet given explicitly or from the other pool counts as much as an allocated one.
    assert pools.allocate("10.0.0.0/16", 24, ["10.0.0.0/23", "10.0.3.0/24"]) == "10.0.2.0/24"
    assert pools.allocate("10.0.0.0/16", 24, ["10.0.0.128/25"]) == "10.0.1.0/24"
    assert pools.allocate("10.0.0.0/16", 24, ["192.168.0.0/16"]) == "10.0.0.0/24"


def test_smaller_free_blocks_are_used_before_big_ones():
    # Free: 10.0.0.0/23 and 10.0.3.0/24; the /24 hole is filled, the /23 kept whole.
    assert pools.allocate("10.0.0.0/22", 24, ["10.0.2.0/24"]) == "10.0.3.0/24"


def test_ipv6_pools_allocate_too():
    assert pools.allocate("fd00::/48", 64, ["fd00::/64"]) == "fd00:0:0:1::/64"


@given(st.lists(st.integers(min_value=24, max_value=29), max_size=12))
def test_allocations_never_overlap(lengths):
    used: list[str] = []
    for length in lengths:
        try:
            cidr = pools.allocate("172.16.0.0/22", length, used)
        except PolicyError:
            continue
        net = ipaddress.ip_network(cidr)
        assert net.subnet_of(ipaddress.ip_network("172.16.0.0/22"))
        assert not any(net.overlaps(ipaddress.ip_network(u)) for u in used)
        used.append(cidr)


@pytest.mark.parametrize("version,length,ok", [
    (4, 1, False), (4, 2, True), (4, 29, True), (4, 30, True), (4, 31, False),
    (6, 1, False), (6, 2, True), (6, 64, True), (6, 127, True), (6, 128, False)])
def test_prefix_length_bounds(version, length, ok):
    if ok:
        pools.check_prefix_length(version, length)
        return
    with pytest.raises(PolicyError) as refused:
        pools.check_prefix_length(version, length)
    assert refused.value.type == "InvalidDefaultSubnetPrefixLength"
    assert refused.value.message == (f"Default subnet prefix length {length} is invalid for "
                                     f"ipv{version}")


def test_a_prefix_shorter_than_the_pool_is_refused():
    with pytest.raises(PolicyError) as refused:
        pools.check_prefix_length(4, 26, "192.168.0.0/28")
    assert refused.value.type == "SubnetPrefixLengthExceedsIpPool"
    pools.check_prefix_length(4, 28, "192.168.0.0/28")


@pytest.mark.parametrize("pool,version,kind", [
    ("fd00::/64", 4, "InvalidIpPoolVersion"), ("10.0.0.0/8", 6, "InvalidIpPoolVersion"),
    ("10.0.0.0/31", 4, "InvalidIpPoolSize"), ("::/0", 6, "InvalidIpPoolPrefixLength")])
def test_pool_checks(pool, version, kind):
    with pytest.raises(PolicyError) as refused:
        pools.check_pool(pool, version)
    assert refused.value.status == 400 and refused.value.type == kind


def test_overlapping_pools_of_other_l3_policies():
    assert pools.overlapping(["10.0.0.0/16", "192.168.0.0/16"],
                             ["10.0.5.0/24", "172.16.0.0/12", "192.168.7.0/28"]) == [
        "10.0.5.0/24", "192.168.7.0/28"]
    assert pools.overlapping(["10.0.0.0/16"], ["fd00::/8"]) == []
