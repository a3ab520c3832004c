"""A spanning network's subnet: one CIDR, each cloud its own slice of the addresses."""
from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ocx.routing.pools import PoolError, pool_ranges, spec, split
from ocx.sim.neutron import check_pools


def addresses(pools: list[dict]) -> set[int]:
    return {a for lo, hi in pool_ranges(pools) for a in range(lo, hi + 1)}


def test_three_clouds_share_a_slash_24_without_the_gateway():
    slices = split(spec("10.0.0.0/24", None, None, gateway_given=False), 3)
    assert slices == [[{"start": "10.0.0.2", "end": "10.0.0.86"}],
                      [{"start": "10.0.0.87", "end": "10.0.0.170"}],
                      [{"start": "10.0.0.171", "end": "10.0.0.254"}]]


def test_a_gateway_in_the_middle_cuts_a_slice_in_two():
    slices = split(spec("10.0.0.0/29", "10.0.0.3", None, gateway_given=True), 2)
    assert slices == [[{"start": "10.0.0.1", "end": "10.0.0.2"},
                       {"start": "10.0.0.4", "end": "10.0.0.4"}],
                      [{"start": "10.0.0.5", "end": "10.0.0.6"}]]


def test_no_gateway_leaves_every_host_address_to_share():
    slices = split(spec("10.0.0.0/30", None, None, gateway_given=True), 2)
    assert slices == [[{"start": "10.0.0.1", "end": "10.0.0.1"}],
                      [{"start": "10.0.0.2", "end": "10.0.0.2"}]]


def test_the_callers_pools_are_what_is_shared():
    pools = [{"start": "10.0.0.100", "end": "10.0.0.101"},
             {"start": "10.0.0.10", "end": "10.0.0.11"}]
    slices = split(spec("10.0.0.0/24", None, pools, gateway_given=False), 2)
    assert slices == [[{"start": "10.0.0.10", "end": "10.0.0.11"}],
                      [{"start": "10.0.0.100", "end": "10.0.0.101"}]]


@pytest.mark.parametrize("pools, status, message", [
    ([{"start": "10.0.0.10", "end": "10.0.1.20"}], 400,
     "The allocation pool 10.0.0.10-10.0.1.20 spans beyond the subnet cidr 10.0.0.0/24."),
    ([{"start": "10.0.0.20", "end": "10.0.0.10"}], 400,
     "The allocation pool 10.0.0.20-10.0.0.10 is not valid."),
    ([{"start": "10.0.0.10", "end": "10.0.0.20"}, {"start": "10.0.0.15", "end": "10.0.0.30"}],
     409, "Found overlapping allocation pools: 10.0.0.10-10.0.0.20 10.0.0.15-10.0.0.30 for "
          "subnet 10.0.0.0/24."),
    ([{"start": "10.0.0.1", "end": "10.0.0.9"}], 409,
     "Gateway ip 10.0.0.1 conflicts with allocation pool 10.0.0.1-10.0.0.9."),
    ([{"start": "nonsense", "end": "10.0.0.9"}], 400,
     "Invalid input for allocation_pools. Reason: 'nonsense' is not a valid IP address."),
])
def test_pools_neutron_refuses_are_refused_in_its_words(pools, status, message):
    with pytest.raises(PoolError) as refused:
        spec("10.0.0.0/24", None, pools, gateway_given=False)
    assert (refused.value.status, refused.value.message) == (status, message)


def test_the_sim_refuses_bad_pools_in_the_same_words():
    """The simulated Neutron (held against the real one) says what the split says."""
    pools = [{"start": "10.0.0.10", "end": "10.0.1.20"}]
    with pytest.raises(Exception) as sim:
        check_pools("10.0.0.0/24", pools)
    with pytest.raises(PoolError) as ours:
        spec("10.0.0.0/24", None, pools, gateway_given=False)
    assert ours.value.message == sim.value.message


def test_fewer_addresses_than_clouds_is_refused():
    with pytest.raises(PoolError, match="fewer than the 4 clouds"):
        split(spec("10.0.0.0/30", None, None, gateway_given=False), 4)


def test_a_bad_cidr_is_refused():
    with pytest.raises(PoolError, match="is not a valid IP subnet"):
        spec("10.0.0.0/33", None, None, gateway_given=False)


@st.composite
def subnets(draw):
    version = draw(st.sampled_from([4, 6]))
    bits = 32 if version == 4 else 128
    prefix = draw(st.integers(min_value=bits - 12, max_value=bits - 2))
    base = draw(st.integers(min_value=0, max_value=2 ** bits - 1)) >> (bits - prefix) << (
        bits - prefix)
    net = ipaddress.ip_network((base, prefix))
    hosts = net.num_addresses
    gateway = draw(st.one_of(st.none(), st.integers(min_value=1, max_value=hosts - 2)))
    gateway_ip = str(net.network_address + gateway) if gateway is not None else None
    return str(net), gateway_ip, draw(st.integers(min_value=1, max_value=6))


@settings(max_examples=300, deadline=None)
@given(subnets())
def test_slices_never_overlap_stay_inside_the_cidr_and_leave_out_the_gateway(case):
    cidr, gateway, count = case
    subnet = spec(cidr, gateway, None, gateway_given=True)
    net = ipaddress.ip_network(cidr)
    address = type(net.network_address)
    usable = {a for lo, hi in subnet.pools for a in range(lo, hi + 1)}
    assert int(net.network_address) not in usable
    if len(usable) < count:
        with pytest.raises(PoolError):
            split(subnet, count)
        return
    slices = split(subnet, count)
    assert len(slices) == count
    held = [addresses(s) for s in slices]
    assert all(held)                                        # every cloud gets addresses
    assert sum(map(len, held)) == len(set().union(*held))   # no address in two clouds
    assert set().union(*held) == usable                     # every usable address shared out
    for pools in slices:
        check_pools(cidr, pools)                            # Neutron takes each slice
        for a in addresses(pools):
            assert address(a) in net
        if gateway is not None:
            assert int(ipaddress.ip_address(gateway)) not in addresses(pools)
    assert max(map(len, held)) - min(map(len, held)) <= 1   # shared out evenly
