"""Allocation pools of one subnet shared by several clouds (issue 7, spanning networks). Pure.

A spanning network has one CIDR in every cloud. So that no two clouds ever hand out the same
address, the addresses Neutron would hand out (every host address of the CIDR but the gateway,
or the caller's own pools) are cut into contiguous slices, one per provider; each cloud's twin
subnet gets its slice as its allocation pools.

Caller-given pools are checked as Neutron checks them (the same refusals, the same words), since
Neutron only ever sees the slices.
"""
from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass

Range = tuple[int, int]   # first and last address, inclusive, as integers


class PoolError(ValueError):
    """The subnet cannot be shared as asked: ``status`` and ``message`` as Neutron words it."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class SubnetSpec:
    """What the split needs of a subnet create: its CIDR, gateway and pools."""

    cidr: str                     # normalised, e.g. "10.0.0.0/24"
    gateway: str | None           # None: no gateway
    pools: tuple[Range, ...]      # the caller's, or Neutron's defaults


def _network(cidr: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    try:
        return ipaddress.ip_network(cidr, strict=False)
    except (ValueError, TypeError):
        raise PoolError(400, f"Invalid input for cidr. Reason: '{cidr}' is not a valid IP "
                             f"subnet.") from None


def _address(value: object, what: str) -> int:
    try:
        return int(ipaddress.ip_address(value))  # type: ignore[arg-type]
    except (ValueError, TypeError):
        raise PoolError(400, f"Invalid input for {what}. Reason: '{value}' is not a valid IP "
                             f"address.") from None


def host_bounds(cidr: str) -> Range:
    """The first and last address Neutron may allocate in ``cidr`` (not the network address,
    nor the IPv4 broadcast address)."""
    net = _network(cidr)
    first, last = int(net.network_address), int(net.broadcast_address)
    if first == last:
        return first, last
    return first + 1, last - (net.version == 4)


def default_gateway(cidr: str) -> str | None:
    """Neutron's default gateway: the first host address (IPv6: the subnet-router anycast
    address, the subnet's own)."""
    net = _network(cidr)
    if net.num_addresses < 2:
        return None
    return str(net.network_address + (1 if net.version == 4 else 0))


def _shown(version: int, address: int) -> str:
    return str(ipaddress.IPv4Address(address) if version == 4 else ipaddress.IPv6Address(address))


def _text(version: int, r: Range) -> str:
    return f"{_shown(version, r[0])}-{_shown(version, r[1])}"


def spec(cidr: str, gateway: object, pools: object, gateway_given: bool) -> SubnetSpec:
    """The subnet a create asks for, checked as Neutron checks it (``gateway_given``: the body
    has ``gateway_ip``, possibly null)."""
    net = _network(cidr)
    normal = str(net)
    if not gateway_given:
        gw = default_gateway(normal)
    elif gateway is None:
        gw = None
    else:
        _address(gateway, "gateway_ip")
        gw = str(ipaddress.ip_address(gateway))  # type: ignore[arg-type]
        if ipaddress.ip_address(gw).version != net.version:
            raise PoolError(400, f"Invalid input for operation: gateway_ip '{gw}' does not "
                                 f"match the ip_version '{net.version}'.")
    if pools is None:
        ranges = _default_ranges(normal, gw)
    else:
        ranges = _given_ranges(normal, pools)
        if gw is not None:
            g = int(ipaddress.ip_address(gw))
            for r in ranges:
                if r[0] <= g <= r[1]:
                    raise PoolError(409, f"Gateway ip {gw} conflicts with allocation pool "
                                         f"{_text(net.version, r)}.")
    return SubnetSpec(normal, gw, tuple(ranges))


def _default_ranges(cidr: str, gateway: str | None) -> list[Range]:
    """Every host address but the gateway, as Neutron's default pools."""
    lo, hi = host_bounds(cidr)
    if lo > hi:
        return []
    ranges = [(lo, hi)]
    if gateway is not None:
        g = int(ipaddress.ip_address(gateway))
        if lo <= g <= hi:
            ranges = [(a, b) for a, b in ((lo, g - 1), (g + 1, hi)) if a <= b]
    return ranges


def _given_ranges(cidr: str, pools: object) -> list[Range]:
    """The caller's pools, refused as Neutron refuses them."""
    net = _network(cidr)
    if not isinstance(pools, list) or not all(
            isinstance(p, dict) and set(p) == {"start", "end"} for p in pools):
        raise PoolError(400, f"Invalid input for allocation_pools. Reason: Invalid data format "
                             f"for IP pool: '{pools}'.")
    first, last = host_bounds(cidr)
    ranges: list[Range] = []
    for pool in pools:
        start, end = (_address(pool["start"], "allocation_pools"),
                      _address(pool["end"], "allocation_pools"))
        versions = {ipaddress.ip_address(pool["start"]).version,
                    ipaddress.ip_address(pool["end"]).version}
        if versions != {net.version} or start > end:
            raise PoolError(400, f"The allocation pool {pool['start']}-{pool['end']} is not "
                                 f"valid.")
        if start < first or end > last:
            raise PoolError(400, f"The allocation pool {pool['start']}-{pool['end']} spans "
                                 f"beyond the subnet cidr {cidr}.")
        ranges.append((start, end))
    for i, (a1, b1) in enumerate(ranges):
        for a2, b2 in ranges[i + 1:]:
            if a1 <= b2 and a2 <= b1:
                raise PoolError(409, f"Found overlapping allocation pools: "
                                     f"{_text(net.version, (a1, b1))} "
                                     f"{_text(net.version, (a2, b2))} for subnet {cidr}.")
    return sorted(ranges)


def split(subnet: SubnetSpec, count: int) -> list[list[dict[str, str]]]:
    """``count`` slices of the subnet's pools, in address order, as Neutron pool lists.

    Each slice gets a contiguous share of the addresses (the first ones get one more when they
    do not divide evenly); a slice may be several pools where the gateway or the caller's gaps
    cut it. Refused when some slice would be empty.
    """
    if count < 1:
        raise ValueError("count must be at least 1")
    version = _network(subnet.cidr).version
    total = sum(b - a + 1 for a, b in subnet.pools)
    if total < count:
        raise PoolError(400, f"Invalid input for allocation_pools. Reason: the subnet "
                             f"{subnet.cidr} has {total} addresses to allocate, fewer than the "
                             f"{count} clouds a spanning network shares them between.")
    base, extra = divmod(total, count)
    sizes = [base + (i < extra) for i in range(count)]
    slices: list[list[dict[str, str]]] = []
    ranges = list(subnet.pools)
    at = 0                           # index into ranges
    offset = ranges[0][0] if ranges else 0  # next unassigned address in ranges[at]
    for size in sizes:
        part: list[dict[str, str]] = []
        while size:
            a, b = ranges[at]
            take = min(size, b - offset + 1)
            part.append({"start": _shown(version, offset),
                         "end": _shown(version, offset + take - 1)})
            size -= take
            offset += take
            if offset > b and at + 1 < len(ranges):
                at += 1
                offset = ranges[at][0]
        slices.append(part)
    return slices


def pool_ranges(pools: Sequence[dict[str, str]]) -> list[Range]:
    """Neutron pool dicts as integer ranges."""
    return [(int(ipaddress.ip_address(p["start"])), int(ipaddress.ip_address(p["end"])))
            for p in pools]
