"""Proxy chains (pure): a group proxied by another forms a linked list, the original group at
one end and the outermost proxy at the other (original ← proxy ← proxy of the proxy).

- a group has at most one proxy, and a proxy proxies exactly one group;
- a proxy cannot proxy itself, nor form a cycle;
- ``proxy_type`` is only set with ``proxied_group_id`` (default ``l3``);
- deleting a group deletes its proxies first, the outermost first, as GBP's plugin does
  (``delete_policy_target_group``: "Proxy PTGs must be deleted before the group itself"); the
  group it proxied is then attached to the L3 policy's router again.

And the routes that lead traffic through a proxy (GBP's ``_update_proxy_gateway_routes``): the
``proxy_gateway`` target of a proxy is the next hop to every subnet of the groups behind it; the
routes go on the proxy's own subnets and, when the proxy is the outermost one (the one the
router is attached to), on the L3 policy's router.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from .errors import PolicyError, invalid

PROXY_TYPES = ("l2", "l3")
DEFAULT_PROXY_TYPE = "l3"


@dataclass(frozen=True)
class Link:
    """A group's place in its chain."""

    proxied: str | None = None     # the group this one proxies
    proxy: str | None = None       # the group proxying this one
    proxy_type: str | None = None  # this group's type as a proxy


Links = Mapping[str, Link]


def proxy_type_for(proxied_id: str | None, proxy_type: str | None) -> str | None:
    """The type a new group gets: ``l3`` by default for a proxy, none otherwise."""
    if proxied_id is None:
        if proxy_type is not None:
            raise invalid("ProxyTypeSetWithoutProxiedPTG",
                          "Proxy type can't be set without a proxied PTG.")
        return None
    return proxy_type or DEFAULT_PROXY_TYPE


def check_new_proxy(links: Links, new_id: str, proxied_id: str) -> None:
    """``new_id`` may become the proxy of ``proxied_id``."""
    if proxied_id == new_id:
        raise invalid("InvalidProxiedGroup", f"Group {new_id} cannot proxy itself.")
    if links.get(proxied_id, Link()).proxy is not None:
        raise invalid("InvalidProxiedGroup", f"Proxied group {proxied_id} already has a proxy.")
    # Walking down from the proxied group must never reach the new one (a cycle).
    if new_id in behind(links, proxied_id) or new_id in in_front(links, proxied_id):
        raise invalid("InvalidProxiedGroup",
                      f"Group {new_id} proxying {proxied_id} would form a cycle.")


def behind(links: Links, group_id: str) -> list[str]:
    """The groups behind ``group_id``: the one it proxies, that one's proxied group... down to
    the original group."""
    found: list[str] = []
    current = links.get(group_id, Link()).proxied
    while current is not None and current not in found and current != group_id:
        found.append(current)
        current = links.get(current, Link()).proxied
    return found


def in_front(links: Links, group_id: str) -> list[str]:
    """The proxies in front of ``group_id``, the nearest first, the outermost last."""
    found: list[str] = []
    current = links.get(group_id, Link()).proxy
    while current is not None and current not in found and current != group_id:
        found.append(current)
        current = links.get(current, Link()).proxy
    return found


def outermost(links: Links, group_id: str) -> str:
    """The group of the chain the router is attached to."""
    ahead = in_front(links, group_id)
    return ahead[-1] if ahead else group_id


def deletion_order(links: Links, group_id: str) -> list[str]:
    """Deleting ``group_id``: its proxies, the outermost first, then the group."""
    return list(reversed(in_front(links, group_id))) + [group_id]


def gateway_routes(cidrs_behind: Iterable[str], nexthop: str | None) -> set[tuple[str, str]]:
    """(destination, nexthop) for every subnet behind a proxy, through its gateway target."""
    if not nexthop:
        return set()
    return {(cidr, nexthop) for cidr in cidrs_behind}


def updated_routes(current: Sequence[Mapping[str, str]], add: Iterable[tuple[str, str]] = (),
                   remove: Iterable[tuple[str, str]] = ()) -> list[dict[str, str]]:
    """Neutron routes (``host_routes`` of a subnet, ``routes`` of a router) with ``remove``
    taken out and ``add`` put in: the routes already there keep their order, new ones follow
    in a stable order."""
    remove = set(remove)
    kept = [(r["destination"], r["nexthop"]) for r in current]
    kept = [r for r in kept if r not in remove]
    result = list(dict.fromkeys(kept))
    result += sorted(set(add) - set(result))
    return [{"destination": d, "nexthop": n} for d, n in result if n]


def owned_by_instance(group_id: str, plumbed: Mapping[str, str],
                      providers: Mapping[str, str]) -> PolicyError | None:
    """A group a service chain instance stands on (its provider) or that its plumber made is
    not deleted by hand: deleting the instance removes what it made (409 otherwise)."""
    instance = plumbed.get(group_id) or providers.get(group_id)
    if instance is None:
        return None
    return PolicyError(409, "PolicyTargetGroupInUse",
                       f"Policy Target Group {group_id} is in use by service chain instance "
                       f"{instance}; delete the instance first.")
