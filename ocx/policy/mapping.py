"""The resource mapping driver's Neutron side: an L3 policy's topology read from the GBP state
(and the addresses of its gateway targets from Neutron), and a change of wiring applied to
Neutron through OCX's own network path (``ocx.policy.neutron``).

What to change is decided by ``ocx.policy.wiring`` (pure); this module only reads and writes.
Applying is idempotent: an interface already there is not added again, one already gone is not
removed, routes are sets. So a failed change is undone by applying the reverse change.
"""
from __future__ import annotations

from collections.abc import Sequence

from ..store.policy import PolicyStore
from . import wiring
from .chains import Link, updated_routes
from .neutron import Neutron, NeutronFailure
from .wiring import Topology, Wiring

ROUTER_INTERFACE = "network:router_interface"
EXTRAROUTE = "extraroute"


async def load_topology(store: PolicyStore, neutron: Neutron, l3_policy_id: str) -> Topology:
    """The topology of one L3 policy as it is now."""
    l2ps = [r["id"] for r in await store.rows("l2_policies", l3_policy_id=l3_policy_id)]
    groups = [r["id"] for r in await store.rows("policy_target_groups", l2_policy_id=l2ps)] \
        if l2ps else []
    links = {r["policy_target_group_id"]: Link(r["proxied_group_id"], r["proxy_group_id"],
                                               r["proxy_type"])
             for r in await store.rows("group_proxies", policy_target_group_id=groups)} \
        if groups else {}
    subnets: dict[str, tuple[str, ...]] = {g: () for g in groups}
    cidrs: dict[str, str] = {}
    for row in await store.rows("group_subnets", l3_policy_id=l3_policy_id):
        subnets[row["policy_target_group_id"]] = \
            subnets.get(row["policy_target_group_id"], ()) + (row["subnet_id"],)
        cidrs[row["subnet_id"]] = row["cidr"]
    gateways = await gateway_addresses(store, neutron, groups)
    return Topology(tuple(groups), links, subnets, cidrs, gateways)


async def gateway_addresses(store: PolicyStore, neutron: Neutron,
                            groups: Sequence[str]) -> dict[str, tuple[str, ...]]:
    """group id → the addresses of its proxy_gateway targets (their ports' first address)."""
    if not groups:
        return {}
    targets = await store.rows("policy_targets", policy_target_group_id=list(groups))
    flags = {r["policy_target_id"]: r for r in await store.rows(
        "proxy_gateways", policy_target_id=[t["id"] for t in targets])} if targets else {}
    gateways = [t for t in targets if flags.get(t["id"], {}).get("proxy_gateway")
                and t["port_id"]]
    if not gateways:
        return {}
    ports = {p["id"]: p for p in await neutron.list("ports", id=[t["port_id"]
                                                                 for t in gateways])}
    found: dict[str, tuple[str, ...]] = {}
    for target in gateways:
        address = port_address(ports.get(target["port_id"]))
        if address:
            group = target["policy_target_group_id"]
            found[group] = found.get(group, ()) + (address,)
    return found


def port_address(port: dict | None) -> str | None:
    for fixed in (port or {}).get("fixed_ips") or ():
        if fixed.get("ip_address"):
            return fixed["ip_address"]
    return None


async def apply(neutron: Neutron, router_id: str | None, before: Wiring, after: Wiring,
                order: Sequence[str] = ()) -> None:
    """Make Neutron go from wiring ``before`` to wiring ``after``."""
    todo = wiring.changes(before, after, order)
    if todo.empty:
        return
    routes = bool(todo.routes_out or todo.routes_in) and router_id is not None \
        and await neutron.has_extension(EXTRAROUTE)
    if routes and todo.routes_out:
        await _router_routes(neutron, router_id, remove=todo.routes_out)
    if router_id is not None and (todo.interfaces_out or todo.interfaces_in):
        attached = await attached_subnets(neutron, router_id)
        for subnet in todo.interfaces_out:
            if subnet in attached:
                await neutron.remove_interface(router_id, subnet)
        for subnet in todo.interfaces_in:
            if subnet not in attached:
                await neutron.add_interface(router_id, subnet)
    if routes and todo.routes_in:
        await _router_routes(neutron, router_id, add=todo.routes_in)
    for subnet, (add, remove) in sorted(todo.subnet_routes.items()):
        try:
            current = await neutron.show("subnets", subnet)
        except NeutronFailure as exc:
            if exc.status == 404 and not add:
                continue    # a subnet already gone has no routes to take out
            raise
        new = updated_routes(current.get("host_routes") or [], add, remove)
        if new != current.get("host_routes"):
            await neutron.update("subnets", subnet, {"host_routes": new})


async def attached_subnets(neutron: Neutron, router_id: str) -> set[str]:
    """The subnets a router has an interface on."""
    ports = await neutron.list("ports", device_id=router_id, device_owner=ROUTER_INTERFACE)
    return {f["subnet_id"] for p in ports for f in p.get("fixed_ips") or ()}


async def _router_routes(neutron: Neutron, router_id: str, *, add=(), remove=()) -> None:
    router = await neutron.show("routers", router_id)
    current = router.get("routes") or []
    new = updated_routes(current, add, remove)
    if new != current:
        await neutron.update("routers", router_id, {"routes": new})
