"""IP pools of L3 policies (pure): their checks and the allocation of group subnets.

A normal group's subnet comes from the L3 policy's ``ip_pool`` at ``subnet_prefix_length``; an
L3 proxy's from ``proxy_ip_pool`` at ``proxy_subnet_prefix_length``. Either way the subnet
never overlaps any subnet the L3 policy already holds (whichever pool it came from, or given
explicitly), as GBP's resource mapping driver allocates: the free part of the pool, its
smallest free blocks first, the lowest address first.
"""
from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from .errors import PolicyError, invalid

MAX_PREFIX = {4: 30, 6: 127}
MIN_PREFIX = 2

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def check_pool(pool: str, ip_version: int) -> Network:
    """GBP's ``validate_ip_pool``: the pool is of the L3 policy's IP version, holds more than
    three addresses and has a prefix."""
    net = ipaddress.ip_network(pool, strict=False)
    if net.version != ip_version:
        raise invalid("InvalidIpPoolVersion", f"{pool} is not a ipv{ip_version} address.")
    if net.num_addresses <= 3:
        raise invalid("InvalidIpPoolSize", f"IP pool {pool} is invalid:Too few available IPs "
                                           f"in the pool.Pool size={net.num_addresses}")
    if net.prefixlen == 0:
        raise invalid("InvalidIpPoolPrefixLength", f"IP pool {pool} is invalid:Prefix length "
                                                   f"of 0 is invalid.Prefix Length=0")
    return net


def check_prefix_length(ip_version: int, length: int, pool: str | None = None) -> None:
    """GBP's ``validate_subnet_prefix_length``: 2–30 for IPv4, 2–127 for IPv6, and not shorter
    than the pool's own prefix (a subnet must fit in the pool)."""
    if not MIN_PREFIX <= length <= MAX_PREFIX[ip_version]:
        raise invalid("InvalidDefaultSubnetPrefixLength",
                      f"Default subnet prefix length {length} is invalid for ipv{ip_version}")
    if pool is not None:
        net = ipaddress.ip_network(pool, strict=False)
        if net.prefixlen > length:
            raise invalid("SubnetPrefixLengthExceedsIpPool",
                          f"IP pool {pool} prefix greater than subnet mask {length}")


def overlapping(pools: Iterable[str], others: Iterable[str]) -> list[str]:
    """The pools of ``others`` that overlap any of ``pools`` (GBP refuses an L3 policy whose
    pools overlap another L3 policy's of the same tenant)."""
    mine = [ipaddress.ip_network(p, strict=False) for p in pools]
    found = []
    for other in others:
        net = ipaddress.ip_network(other, strict=False)
        if any(net.version == m.version and net.overlaps(m) for m in mine):
            found.append(other)
    return found


def no_subnet_available(pool: str, prefix_length: int, used: Iterable[str]) -> PolicyError:
    inside = sorted(c for c in used
                    if ipaddress.ip_network(c).overlaps(ipaddress.ip_network(pool, strict=False)))
    taken = ", ".join(inside) if inside else "nothing"
    return PolicyError(503, "NoSubnetAvailable",
                       f"No subnet is available from l3 policy's pool: no /{prefix_length} is "
                       f"left in {pool} (taken: {taken}).")


def allocate(pool: str, prefix_length: int, used: Iterable[str]) -> str:
    """The first free ``/prefix_length`` of ``pool`` overlapping none of ``used``.

    Raises the 503 ``NoSubnetAvailable`` when the pool has no room left.
    """
    used = list(used)
    whole = ipaddress.ip_network(pool, strict=False)
    taken = [ipaddress.ip_network(c, strict=False) for c in used]
    taken = [t for t in taken if t.version == whole.version and t.overlaps(whole)]
    free = [whole]
    for block in taken:
        rest = []
        for piece in free:
            if not piece.overlaps(block):
                rest.append(piece)
            elif block.supernet_of(piece):
                continue
            else:
                rest.extend(piece.address_exclude(block))
        free = rest
    # The smallest free blocks first keep big ones whole for later (GBP's order), then by
    # address so that allocation is deterministic.
    for block in sorted(free, key=lambda b: (-b.prefixlen, int(b.network_address))):
        if block.prefixlen <= prefix_length:
            return str(next(block.subnets(new_prefix=prefix_length)))
    raise no_subnet_available(pool, prefix_length, used)
