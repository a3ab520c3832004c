"""How an L3 policy is wired onto Neutron, computed from the GBP state alone (pure).

The resource mapping driver's rules (GBP's ``_stitch_ptg_to_l3p``, ``_stitch_proxy_ptg_to_l3p``
and ``_update_proxy_gateway_routes``) come down to one picture of what Neutron must hold:

- the L3 policy's router has an interface on every subnet of every group that has no proxy
  (a group alone, or the outermost proxy of a chain), and on no other group's subnet: putting a
  proxy in front of a group detaches the group and attaches the proxy in its place;
- each ``proxy_gateway`` target of a proxy is the next hop to every subnet behind the proxy:
  those routes are on the proxy's own subnets (``host_routes``), and on the router
  (``routes``) when the proxy is the outermost one.

Every change (a group or target made or deleted) is then the difference between the picture
before and after it (:func:`changes`), applied by ``ocx.policy.mapping``; the reverse
difference undoes it, and deleting a chain gives back the picture, hence the wiring, from
before the chain.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from . import chains
from .chains import Link

Route = tuple[str, str]   # (destination CIDR, nexthop)


@dataclass(frozen=True)
class Topology:
    """The GBP state of one L3 policy that the wiring depends on."""

    groups: tuple[str, ...]                          # group ids of the L3 policy
    links: Mapping[str, Link]                        # group id → its place in a chain
    subnets: Mapping[str, tuple[str, ...]]           # group id → its subnet ids, in order
    cidrs: Mapping[str, str]                         # subnet id → CIDR
    gateways: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    # group id → the addresses of its proxy_gateway targets

    def without_group(self, group_id: str) -> Topology:
        """The topology once ``group_id`` (already without proxies) is deleted."""
        link = self.links.get(group_id, Link())
        links = {g: l for g, l in self.links.items() if g != group_id}
        if link.proxied is not None and link.proxied in links:
            below = links[link.proxied]
            links[link.proxied] = Link(below.proxied, None, below.proxy_type)
        return Topology(tuple(g for g in self.groups if g != group_id), links,
                        {g: s for g, s in self.subnets.items() if g != group_id},
                        {s: c for s, c in self.cidrs.items()
                         if s not in self.subnets.get(group_id, ())},
                        {g: a for g, a in self.gateways.items() if g != group_id})

    def with_group(self, group_id: str, subnets: Mapping[str, str], *,
                   proxied: str | None = None, proxy_type: str | None = None) -> Topology:
        """The topology once ``group_id`` is made with ``subnets`` (id → CIDR), in front of
        ``proxied`` if given."""
        links = dict(self.links)
        links[group_id] = Link(proxied, None, proxy_type if proxied else None)
        if proxied is not None:
            below = links.get(proxied, Link())
            links[proxied] = Link(below.proxied, group_id, below.proxy_type)
        return Topology(self.groups + (group_id,), links,
                        {**self.subnets, group_id: tuple(subnets)}, {**self.cidrs, **subnets},
                        dict(self.gateways))

    def with_subnets(self, group_id: str, subnets: Mapping[str, str]) -> Topology:
        return Topology(self.groups, self.links,
                        {**self.subnets, group_id: self.subnets.get(group_id, ()) +
                         tuple(s for s in subnets if s not in self.subnets.get(group_id, ()))},
                        {**self.cidrs, **subnets}, dict(self.gateways))

    def with_gateway(self, group_id: str, address: str) -> Topology:
        gateways = dict(self.gateways)
        gateways[group_id] = gateways.get(group_id, ()) + (address,)
        return Topology(self.groups, self.links, self.subnets, self.cidrs, gateways)

    def without_gateway(self, group_id: str, address: str) -> Topology:
        gateways = dict(self.gateways)
        left = list(gateways.get(group_id, ()))
        if address in left:
            left.remove(address)
        gateways[group_id] = tuple(left)
        return Topology(self.groups, self.links, self.subnets, self.cidrs, gateways)


@dataclass(frozen=True)
class Wiring:
    interfaces: frozenset[str]                      # subnets the router is attached to
    router_routes: frozenset[Route]
    subnet_routes: Mapping[str, frozenset[Route]]   # subnet id → its host routes from GBP


def wiring(topology: Topology) -> Wiring:
    interfaces: set[str] = set()
    router_routes: set[Route] = set()
    subnet_routes: dict[str, set[Route]] = {}
    for group in topology.groups:
        outermost = topology.links.get(group, Link()).proxy is None
        if outermost:
            interfaces.update(topology.subnets.get(group, ()))
        behind = [cidr for g in chains.behind(topology.links, group)
                  for s in topology.subnets.get(g, ()) for cidr in [topology.cidrs[s]]]
        for address in topology.gateways.get(group, ()):
            routes = chains.gateway_routes(behind, address)
            for subnet in topology.subnets.get(group, ()):
                subnet_routes.setdefault(subnet, set()).update(routes)
            if outermost:
                router_routes.update(routes)
    return Wiring(frozenset(interfaces), frozenset(router_routes),
                  {s: frozenset(r) for s, r in subnet_routes.items()})


@dataclass(frozen=True)
class Changes:
    """What to do to Neutron to go from one wiring to another, in this order: router routes
    out (an interface a route goes through cannot be removed), interfaces out, interfaces in,
    router routes in (a route's next hop must be on an attached subnet), subnets' routes."""

    routes_out: frozenset[Route]
    interfaces_out: tuple[str, ...]
    interfaces_in: tuple[str, ...]
    routes_in: frozenset[Route]
    subnet_routes: Mapping[str, tuple[frozenset[Route], frozenset[Route]]]  # (add, remove)

    @property
    def empty(self) -> bool:
        return not (self.routes_out or self.interfaces_out or self.interfaces_in
                    or self.routes_in or self.subnet_routes)


def changes(before: Wiring, after: Wiring, order: Sequence[str] = ()) -> Changes:
    """``order``: subnet ids in a stable order (interfaces are attached in it)."""
    rank = {s: i for i, s in enumerate(order)}

    def ordered(items: Iterable[str]) -> tuple[str, ...]:
        return tuple(sorted(items, key=lambda s: (rank.get(s, len(rank)), s)))

    subnet_routes = {}
    for subnet in set(before.subnet_routes) | set(after.subnet_routes):
        old = before.subnet_routes.get(subnet, frozenset())
        new = after.subnet_routes.get(subnet, frozenset())
        if old != new:
            subnet_routes[subnet] = (new - old, old - new)
    return Changes(routes_out=before.router_routes - after.router_routes,
                   interfaces_out=ordered(before.interfaces - after.interfaces),
                   interfaces_in=ordered(after.interfaces - before.interfaces),
                   routes_in=after.router_routes - before.router_routes,
                   subnet_routes=subnet_routes)
