"""Policy target groups and policy targets: made, changed and deleted with their Neutron side,
as GBP's resource mapping driver renders them (with the PROXY_GROUP extension).

- A group gets its subnets from its L2 policy's network: its own CIDR from the L3 policy's
  ``ip_pool``; an L3 proxy a CIDR of ``proxy_subnet_prefix_length`` from ``proxy_ip_pool``; an
  L2 proxy subnets of the very CIDRs of the group it proxies (on its own network); or the
  subnets given. Never a CIDR overlapping another subnet of the L3 policy.
- A target gets a port on its group's first subnet; a ``group_default_gateway`` target the
  subnet's gateway address (reserved: the router cannot take it while the target holds it).
- Attaching, detaching and routing follow ``ocx.policy.wiring``: every change is the
  difference between the L3 policy's wiring before and after it.

Each operation holds the L3 policy's topology lock, records what it did in a journal and
undoes it all if a later step fails (``ocx.policy.undo``). Deleting has a point of no return:
once the wiring is changed back, the group's ports and subnets are deleted; one Neutron does
not delete is left, logged and named.
"""
from __future__ import annotations

import logging
import uuid

from . import chains, mapping, pools
from .chains import Link
from .errors import PolicyError, in_use, invalid
from .mapping import load_topology
from .neutron import Neutron, NeutronFailure
from .service import Context, PolicyService, _left, failed
from .undo import Journal
from .wiring import Topology, wiring
from ..store.policy import Conflict

log = logging.getLogger(__name__)


class Groups:
    def __init__(self, service: PolicyService) -> None:
        self.s = service
        self.store = service.store

    async def policies(self, group: dict) -> tuple[dict, dict]:
        """A group's L2 policy and L3 policy."""
        l2p = await self.store.get("l2_policies", group["l2_policy_id"])
        return l2p, await self.store.get("l3_policies", l2p["l3_policy_id"])

    # -- groups ----------------------------------------------------------------------------

    async def create_group(self, ctx: Context, a: dict, *,
                           l3_policy_id: str | None = None) -> str:
        """``l3_policy_id``: where an implicit L2 policy goes (the plumber's management
        group); otherwise the proxied group's, or the tenant's default L3 policy."""
        proxied_id = a.get("proxied_group_id")
        proxy_type = chains.proxy_type_for(proxied_id, a.get("proxy_type"))
        proxied = await self.s.owned(ctx, "policy_target_groups", proxied_id, "update") \
            if proxied_id else None
        l2p = None
        if a.get("l2_policy_id"):
            l2p = await self.s.find(ctx, "l2_policies", a["l2_policy_id"])
            if l2p["tenant_id"] != a["tenant_id"]:
                raise invalid("CrossTenantPolicyTargetGroupL2PolicyNotSupported",
                              "Cross tenancy not supported between PTGs and L2Ps")
            l3p = await self.store.get("l3_policies", l2p["l3_policy_id"])
        elif proxied is not None:
            l3p = (await self.policies(proxied))[1]
        elif l3_policy_id is not None:
            l3p = await self.store.get("l3_policies", l3_policy_id)
        else:
            l3p = await self.s.default_l3_policy(ctx, a["tenant_id"])
        if proxied is not None:
            proxied_l2p, proxied_l3p = await self.policies(proxied)
            if proxied_l3p["id"] != l3p["id"]:
                raise invalid("InvalidProxiedGroupL3P",
                              f"Cannot proxy PTG {proxied_id}: it's on a different L3 policy "
                              f"{proxied_l3p['id']}")
            if proxy_type == "l2" and l2p is not None and l2p["id"] == proxied_l2p["id"]:
                raise invalid("InvalidProxiedGroupL2P",
                              f"Cannot proxy PTG {proxied_id}: it's on the same L2 Policy as "
                              f"the proxy group of type L2.")
        group_id = str(uuid.uuid4())
        neutron = self.s.neutron(ctx, l3p)
        async with self.store.topology_lock(l3p["id"]):
            journal = Journal()
            try:
                before = await load_topology(self.store, neutron, l3p["id"])
                if proxied_id:
                    chains.check_new_proxy(before.links, group_id, proxied_id)
                if l2p is None:
                    l2p = await self.s.make_l2_policy(ctx, journal, l3p, {
                        "tenant_id": a["tenant_id"], "name": a["name"],
                        "description": "Implicitly created L2 policy"}, implicit=True)
                subnets = await self._subnets(neutron, journal, l3p, l2p, a, group_id,
                                              before, proxied_id, proxy_type)
                await self._record_group(journal, a, group_id, l2p, l3p, subnets,
                                         proxied_id, proxy_type)
                after = before.with_group(group_id, {s: c for s, c, *_ in subnets},
                                          proxied=proxied_id, proxy_type=proxy_type)
                await self.rewire(neutron, l3p, journal, before, after)
            except Exception as exc:
                raise await failed(journal, exc) from None
        return group_id

    async def _subnets(self, neutron: Neutron, journal: Journal, l3p: dict, l2p: dict,
                       a: dict, group_id: str, before: Topology, proxied_id: str | None,
                       proxy_type: str | None) -> list[tuple[str, str, bool, bool]]:
        """(subnet id, CIDR, taken from a pool, made by OCX) for a new group."""
        if a.get("subnets"):
            found = []
            for subnet_id in a["subnets"]:
                subnet = await _subnet_on(neutron, subnet_id, l2p, group_id)
                found.append((subnet_id, subnet["cidr"], False, False))
            return found
        if proxied_id and proxy_type == "l2":
            cidrs = [before.cidrs[s] for s in before.subnets.get(proxied_id, ())]
            return [(await self._make_subnet(neutron, journal, l3p, l2p, a, cidr), cidr,
                     False, True) for cidr in cidrs]
        if proxied_id:
            pool = await self.store.get("proxy_ip_pools", l3p["id"])
            cidr = pools.allocate(pool["proxy_ip_pool"], pool["proxy_subnet_prefix_length"],
                                  before.cidrs.values())
        else:
            cidr = pools.allocate(l3p["ip_pool"], l3p["subnet_prefix_length"],
                                  before.cidrs.values())
        return [(await self._make_subnet(neutron, journal, l3p, l2p, a, cidr), cidr, True,
                 True)]

    @staticmethod
    async def _make_subnet(neutron: Neutron, journal: Journal, l3p: dict, l2p: dict, a: dict,
                           cidr: str) -> str:
        subnet = await neutron.create("subnets", {
            "name": f"ptg_{a['name']}", "network_id": l2p["network_id"],
            "ip_version": l3p["ip_version"], "cidr": cidr, "enable_dhcp": True})
        journal.done(f"subnet {subnet['id']}", lambda: neutron.delete("subnets", subnet["id"]))
        return subnet["id"]

    async def _record_group(self, journal: Journal, a: dict, group_id: str, l2p: dict,
                            l3p: dict, subnets: list, proxied_id: str | None,
                            proxy_type: str | None) -> None:
        row = {"id": group_id, "tenant_id": a["tenant_id"], "name": a["name"],
               "description": a.get("description", ""), "l2_policy_id": l2p["id"],
               "shared": a.get("shared", False),
               "service_management": a.get("service_management", False)}
        already = PolicyError(400, "InvalidProxiedGroup",
                              f"Proxied group {proxied_id} already has a proxy.")
        try:
            async with self.store.transaction() as tx:
                await tx.insert("policy_target_groups", row)
                await tx.insert("group_proxies", {
                    "policy_target_group_id": group_id, "proxied_group_id": proxied_id,
                    "proxy_group_id": None, "proxy_type": proxy_type})
                if proxied_id and not await tx.claim_proxy(proxied_id, group_id):
                    raise already
                for position, (subnet_id, cidr, allocated, owned) in enumerate(subnets):
                    await tx.insert("group_subnets", {
                        "subnet_id": subnet_id, "policy_target_group_id": group_id,
                        "l3_policy_id": l3p["id"], "cidr": cidr, "allocated": allocated,
                        "position": position})
                    if owned:
                        await tx.own("subnet", subnet_id)
        except Conflict:
            raise already from None
        journal.done(f"policy target group {group_id}", lambda: self._forget_group(group_id))

    async def _forget_group(self, group_id: str) -> None:
        async with self.store.transaction() as tx:
            link = await tx.get("group_proxies", group_id)
            for subnet in await tx.rows("group_subnets", policy_target_group_id=group_id):
                await tx.disown("subnet", subnet["subnet_id"])
            await tx.delete_where("group_subnets", policy_target_group_id=group_id)
            await tx.delete("group_proxies", group_id)
            await tx.delete("policy_target_groups", group_id)
            if link and link["proxied_group_id"]:
                below = await tx.get("group_proxies", link["proxied_group_id"])
                if below and below["proxy_group_id"] == group_id:
                    await tx.update("group_proxies", link["proxied_group_id"],
                                    {"proxy_group_id": None})

    async def rewire(self, neutron: Neutron, l3p: dict, journal: Journal, before: Topology,
                     after: Topology) -> None:
        """Change Neutron's wiring from ``before`` to ``after``; the reverse is recorded
        first, so that a change that fails half-way is taken back too."""
        router = l3p["routers"][0] if l3p["routers"] else None
        order = [s for t in (after, before) for g in t.groups for s in t.subnets.get(g, ())]
        old, new = wiring(before), wiring(after)
        journal.done("the L3 policy's wiring",
                     lambda: mapping.apply(neutron, router, new, old, order))
        await mapping.apply(neutron, router, old, new, order)

    async def update_group(self, ctx: Context, row: dict, a: dict) -> None:
        if "l2_policy_id" in a and a["l2_policy_id"] != row["l2_policy_id"]:
            raise invalid("L2PolicyUpdateOfPolicyTargetGroupNotSupported",
                          "Updating L2 policy of policy target group is not supported.")
        a.pop("l2_policy_id", None)
        subnets = a.pop("subnets", None)
        if subnets is not None:
            await self._add_subnets(ctx, row, list(subnets))
        async with self.store.transaction() as tx:
            await tx.update("policy_target_groups", row["id"], a)

    async def _add_subnets(self, ctx: Context, row: dict, subnets: list[str]) -> None:
        l2p, l3p = await self.policies(row)
        neutron = self.s.neutron(ctx, l3p)
        async with self.store.topology_lock(l3p["id"]):
            current = [r["subnet_id"] for r in await self.store.rows(
                "group_subnets", policy_target_group_id=row["id"])]
            if set(current) - set(subnets):
                raise invalid("PolicyTargetGroupSubnetRemovalNotSupported",
                              "Removing a subnet from an policy target group is not supported.")
            new = [s for s in dict.fromkeys(subnets) if s not in current]
            if not new:
                return
            journal = Journal()
            try:
                added = {}
                for subnet_id in new:
                    added[subnet_id] = (await _subnet_on(neutron, subnet_id, l2p,
                                                         row["id"]))["cidr"]
                before = await load_topology(self.store, neutron, l3p["id"])
                async with self.store.transaction() as tx:
                    for position, (subnet_id, cidr) in enumerate(added.items(), len(current)):
                        await tx.insert("group_subnets", {
                            "subnet_id": subnet_id, "policy_target_group_id": row["id"],
                            "l3_policy_id": l3p["id"], "cidr": cidr, "allocated": False,
                            "position": position})

                async def forget() -> None:
                    async with self.store.transaction() as tx:
                        await tx.delete_where("group_subnets", subnet_id=list(added))
                journal.done("the group's new subnets", forget)
                await self.rewire(neutron, l3p, journal, before,
                                  before.with_subnets(row["id"], added))
            except Exception as exc:
                raise await failed(journal, exc) from None

    async def delete_group(self, ctx: Context, row: dict, *, by_plumber: bool = False) -> None:
        """Delete a group: its proxies first, the outermost first (GBP's plugin), each one's
        targets and subnets, and its implicit L2 policy."""
        _, l3p = await self.policies(row)
        neutron = self.s.neutron(ctx, l3p)
        async with self.store.topology_lock(l3p["id"]):
            links = await self.s.links([g["id"] for g in await self._groups_of(l3p)])
            order = chains.deletion_order(links, row["id"])
            if not by_plumber:
                await self._not_an_instances(order)
            left: list[str] = []
            for group_id in order:
                left += await self._delete_one(ctx, neutron, l3p, group_id)
        if left:
            log.warning("GBP: deleting group %s left in Neutron: %s", row["id"],
                        "; ".join(left))

    async def _groups_of(self, l3p: dict) -> list[dict]:
        l2ps = [r["id"] for r in await self.store.rows("l2_policies", l3_policy_id=l3p["id"])]
        return await self.store.rows("policy_target_groups", l2_policy_id=l2ps) if l2ps else []

    async def _not_an_instances(self, group_ids: list[str]) -> None:
        """A group a service chain instance stands on, or one its plumber made, is deleted
        with the instance, not by hand."""
        plumbed = {r["policy_target_group_id"]: r["servicechain_instance_id"]
                   for r in await self.store.rows("plumbed_groups",
                                                  policy_target_group_id=group_ids)}
        providers = {r["provider_ptg_id"]: r["id"] for r in await self.store.rows(
            "servicechain_instances", provider_ptg_id=group_ids)}
        for group_id in group_ids:
            refusal = chains.owned_by_instance(group_id, plumbed, providers)
            if refusal is not None:
                raise refusal

    async def _delete_one(self, ctx: Context, neutron: Neutron, l3p: dict,
                          group_id: str) -> list[str]:
        """Delete one group that has no proxy (under the topology lock)."""
        group = await self.store.get("policy_target_groups", group_id)
        if group is None:
            return []      # deleted meanwhile by another request
        targets = await self.store.rows("policy_targets", policy_target_group_id=group_id)
        await self._not_bound(neutron, group_id, targets)
        before = await load_topology(self.store, neutron, l3p["id"])
        journal = Journal()
        try:
            await self.rewire(neutron, l3p, journal, before, before.without_group(group_id))
        except Exception as exc:
            raise await failed(journal, exc) from None
        # The point of no return: the group is off the router, its proxied group back on.
        left: list[str] = []
        for target in targets:
            left += await self._drop_port(neutron, target)
        subnets = await self.store.rows("group_subnets", policy_target_group_id=group_id)
        for subnet in subnets:
            if await self.store.owns("subnet", subnet["subnet_id"]):
                left += await _left(neutron.delete("subnets", subnet["subnet_id"]),
                                    f"subnet {subnet['subnet_id']}")
        async with self.store.transaction() as tx:
            for target in targets:
                await _forget_target(tx, target)
        await self._forget_group(group_id)
        l2p = await self.store.get("l2_policies", group["l2_policy_id"])
        if l2p["implicit"] and not await self.store.rows("policy_target_groups",
                                                         l2_policy_id=l2p["id"]):
            left += await self.s.drop_l2_policy(ctx, l2p)
        return left

    async def _not_bound(self, neutron: Neutron, group_id: str, targets: list[dict]) -> None:
        """GBP refuses to delete a group whose targets' ports a device uses (a server), unless
        they are service targets."""
        service = {r["policy_target_id"] for r in await self.store.rows(
            "service_targets", policy_target_id=[t["id"] for t in targets])} if targets else set()
        ports = [t["port_id"] for t in targets if t["port_id"] and t["id"] not in service]
        if ports and any(p.get("device_id") for p in await neutron.list("ports", id=ports)):
            raise in_use("policy_target_group", group_id)

    # -- targets ---------------------------------------------------------------------------

    async def create_target(self, ctx: Context, a: dict) -> str:
        group_id = a["policy_target_group_id"]
        if not group_id:
            raise invalid("PolicyTargetRequiresPolicyTargetGroup",
                          "An policy target group was not specified when creating "
                          "policy_target.")
        group = await self.s.find(ctx, "policy_target_groups", group_id)
        l2p, l3p = await self.policies(group)
        neutron = self.s.neutron(ctx, l3p)
        target_id = str(uuid.uuid4())
        async with self.store.topology_lock(l3p["id"]):
            await self._check_flags(group_id, a)
            journal = Journal()
            try:
                before = await load_topology(self.store, neutron, l3p["id"]) \
                    if a["proxy_gateway"] else None
                port, owned = await self._port(neutron, journal, group, l2p, a)
                row = {"id": target_id, "tenant_id": a["tenant_id"], "name": a["name"],
                       "description": a["description"], "policy_target_group_id": group_id,
                       "port_id": port["id"]}
                async with self.store.transaction() as tx:
                    await tx.insert("policy_targets", row)
                    await tx.insert("proxy_gateways", {
                        "policy_target_id": target_id, "proxy_gateway": a["proxy_gateway"],
                        "group_default_gateway": a["group_default_gateway"]})
                    if owned:
                        await tx.own("port", port["id"])

                async def forget() -> None:
                    async with self.store.transaction() as tx:
                        await _forget_target(tx, row)
                journal.done(f"policy target {target_id}", forget)
                address = mapping.port_address(port)
                if before is not None and address:
                    await self.rewire(neutron, l3p, journal, before,
                                      before.with_gateway(group_id, address))
            except Exception as exc:
                raise await failed(journal, exc) from None
        return target_id

    async def _check_flags(self, group_id: str, a: dict) -> None:
        """GBP's proxy gateway rules: only a proxy has one, and a group has at most one proxy
        gateway and one default gateway target."""
        targets = await self.store.rows("policy_targets", policy_target_group_id=group_id)
        flags = await self.store.rows("proxy_gateways",
                                      policy_target_id=[t["id"] for t in targets]) \
            if targets else []
        if a["proxy_gateway"]:
            link = (await self.s.links([group_id])).get(group_id, Link())
            if link.proxied is None:
                raise invalid("InvalidProxyGatewayGroup",
                              f"Proxy gateway can't be set for non proxy PTG {group_id}.")
            if any(f["proxy_gateway"] for f in flags):
                raise invalid("OnlyOneProxyGatewayAllowed",
                              f"Another proxy gateway PT already exists for group {group_id}")
        if a["group_default_gateway"] and any(f["group_default_gateway"] for f in flags):
            raise invalid("OnlyOneGroupDefaultGatewayAllowed",
                          f"Another group default gateway PT already exists for group "
                          f"{group_id}")

    async def _port(self, neutron: Neutron, journal: Journal, group: dict, l2p: dict,
                    a: dict) -> tuple[dict, bool]:
        """The target's port: the one given (on one of the group's subnets), or one made on
        the group's first subnet with room (its gateway address for a default gateway)."""
        subnets = [r["subnet_id"] for r in await self.store.rows(
            "group_subnets", policy_target_group_id=group["id"])]
        if a["port_id"]:
            port = await neutron.show("ports", a["port_id"])
            fixed = port.get("fixed_ips") or []
            on = fixed[0]["subnet_id"] if fixed else None
            if on not in subnets:
                raise invalid("InvalidPortForPTG",
                              f"Subnet {on} of port {a['port_id']} does not match subnet "
                              f"{','.join(subnets)} of Policy Target Group {group['id']}.")
            return port, False
        last: Exception = PolicyError(503, "NoSubnetAvailable",
                                      "No subnet is available from l3 policy's pool.")
        for subnet_id in subnets:
            fixed_ip = {"subnet_id": subnet_id}
            if a["group_default_gateway"]:
                gateway = (await neutron.show("subnets", subnet_id)).get("gateway_ip")
                if gateway:
                    fixed_ip["ip_address"] = gateway
            try:
                port = await neutron.create("ports", {
                    "name": f"pt_{a['name']}", "network_id": l2p["network_id"],
                    "fixed_ips": [fixed_ip], "admin_state_up": True})
            except NeutronFailure as exc:
                if exc.type != "IpAddressGenerationFailure":
                    raise
                last = exc
                continue
            journal.done(f"port {port['id']}", lambda: neutron.delete("ports", port["id"]))
            return port, True
        raise last

    async def update_target(self, ctx: Context, row: dict, a: dict) -> None:
        if "policy_target_group_id" in a and \
                a["policy_target_group_id"] != row["policy_target_group_id"]:
            raise invalid("PolicyTargetGroupUpdateOfPolicyTargetNotSupported",
                          "Updating policy target group of policy target is not supported.")
        a.pop("policy_target_group_id", None)
        async with self.store.transaction() as tx:
            await tx.update("policy_targets", row["id"], a)

    async def delete_target(self, ctx: Context, row: dict, *, by_plumber: bool = False) -> None:
        if not by_plumber:
            service = await self.store.get("service_targets", row["id"])
            if service is not None:
                raise PolicyError(409, "PolicyTargetInUse",
                                  f"Policy target {row['id']} is a service target of service "
                                  f"chain instance {service['servicechain_instance_id']}; "
                                  f"delete the instance instead.")
        group = await self.store.get("policy_target_groups", row["policy_target_group_id"])
        _, l3p = await self.policies(group)
        neutron = self.s.neutron(ctx, l3p)
        async with self.store.topology_lock(l3p["id"]):
            flags = await self.store.get("proxy_gateways", row["id"])
            if flags and flags["proxy_gateway"] and row["port_id"]:
                journal = Journal()
                try:
                    before = await load_topology(self.store, neutron, l3p["id"])
                    port = await neutron.show("ports", row["port_id"])
                    address = mapping.port_address(port)
                    if address:
                        await self.rewire(neutron, l3p, journal, before,
                                          before.without_gateway(group["id"], address))
                except Exception as exc:
                    raise await failed(journal, exc) from None
            left = await self._drop_port(neutron, row)
            async with self.store.transaction() as tx:
                await _forget_target(tx, row)
        if left:
            log.warning("GBP: deleting target %s left in Neutron: %s", row["id"],
                        "; ".join(left))

    async def _drop_port(self, neutron: Neutron, target: dict) -> list[str]:
        if target["port_id"] and await self.store.owns("port", target["port_id"]):
            return await _left(neutron.delete("ports", target["port_id"]),
                               f"port {target['port_id']}")
        return []


async def _forget_target(tx, target: dict) -> None:
    await tx.delete("policy_targets", target["id"])
    await tx.delete("proxy_gateways", target["id"])
    await tx.delete("service_targets", target["id"])
    if target.get("port_id"):
        await tx.disown("port", target["port_id"])


async def _subnet_on(neutron: Neutron, subnet_id: str, l2p: dict, group_id: str) -> dict:
    """A subnet given for a group must be on its L2 policy's network."""
    try:
        subnet = await neutron.show("subnets", subnet_id)
    except NeutronFailure as exc:
        if exc.status != 404:
            raise
        subnet = None
    if subnet is None or subnet.get("network_id") != l2p["network_id"]:
        raise invalid("InvalidSubnetForPTG",
                      f"Subnet {subnet_id} does not belong to network {l2p['network_id']} "
                      f"associated with L2P {l2p['id']} for PTG {group_id}.")
    return subnet
