"""The GBP service: the resources' lifecycle, as GBP's plugin and its resource mapping driver
run it, for one caller at a time.

Every resource belongs to the caller's project (``tenant_id``); a caller sees its project's
resources and shared ones, changes only its own; an admin sees and changes all (as Neutron's
policy does: another project's resource is 404, a shared one it does not own 403 on change).

Groups and targets, whose rendering changes an L3 policy's wiring, are in ``groups.py``;
service chain instances and the plumber in ``plumber.py``. This module has the rest and what
they share.
"""
from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..store.policy import PolicyStore
from . import attributes, nodes, pools, views
from .chains import Link
from .errors import PolicyError, RenderFailed, in_use, invalid, not_found
from .neutron import Neutron, NeutronClients, NeutronFailure
from .undo import Journal

log = logging.getLogger(__name__)

DEFAULT_L3P_NAME = "default"


@dataclass(frozen=True)
class Context:
    """The caller of one request."""

    project_id: str
    is_admin: bool
    token: str
    provider: str | None = None    # X-OCX-Provider of the request: where an L3 policy renders


@dataclass(frozen=True)
class Settings:
    provider: str                  # where L3 policies render unless the request names one
    proxy_ip_pool: str = attributes.DEFAULT_PROXY_IP_POOL
    proxy_subnet_prefix_length: int = attributes.DEFAULT_PROXY_SUBNET_PREFIX_LENGTH
    default_ip_pool: str = attributes.DEFAULT_IP_POOL
    default_subnet_prefix_length: int = attributes.DEFAULT_SUBNET_PREFIX_LENGTH


SINGULAR = attributes.RESOURCES


def policy_denied(action: str) -> PolicyError:
    return PolicyError(403, "PolicyNotAuthorized", f"rule:{action} is disallowed by policy")


async def failed(journal: Journal, exc: BaseException) -> BaseException:
    """Undo what ``journal`` recorded; the error to raise, naming what could not be undone."""
    leftovers = await journal.rollback()
    if isinstance(exc, NeutronFailure):
        return RenderFailed(exc.status, exc.type, exc.message, leftovers)
    if isinstance(exc, PolicyError) and leftovers:
        return RenderFailed(exc.status, exc.type, exc.message, leftovers)
    return exc


class PolicyService:
    def __init__(self, store: PolicyStore, clients: NeutronClients, settings: Settings,
                 drivers: Sequence | None = None) -> None:
        from .groups import Groups
        from .plumber import Instances

        self.store = store
        self.clients = clients
        self.settings = settings
        self.drivers = list(drivers) if drivers is not None else nodes.load(["config"])
        self.maps = None
        self.groups = Groups(self)
        self.instances = Instances(self)
        self._default_locks: dict[str, asyncio.Lock] = {}

    def attribute_maps(self) -> dict:
        if self.maps is None:
            self.maps = attributes.attribute_maps(self.settings.proxy_ip_pool,
                                                  self.settings.proxy_subnet_prefix_length)
        return self.maps

    # -- the API's five operations -----------------------------------------------------------

    async def list(self, ctx: Context, collection: str,
                   filters: Sequence[tuple[str, str]] = (), fields: Sequence[str] = ()
                   ) -> list[dict]:
        rows = [r for r in await self.store.rows(collection) if self.visible(ctx, r)]
        wanted: dict[str, list] = {}
        names = attributes.visible(collection, self.attribute_maps())
        for name, value in filters:
            if name in names:
                wanted.setdefault(name, []).append(
                    attributes.convert_filter(collection, name, value, self.attribute_maps()))
        shown = [v for v in await self.views(collection, rows) if _matches(v, wanted)]
        return [_fields(v, fields) for v in shown]

    async def show(self, ctx: Context, collection: str, resource_id: str,
                   fields: Sequence[str] = ()) -> dict:
        row = await self.find(ctx, collection, resource_id)
        return _fields((await self.views(collection, [row]))[0], fields)

    async def create(self, ctx: Context, collection: str, body: Any) -> dict:
        attrs = attributes.prepare(collection, body, is_create=True,
                                   project_id=ctx.project_id, is_admin=ctx.is_admin,
                                   maps=self.attribute_maps())
        if attrs.get("shared") and not ctx.is_admin:
            raise policy_denied(f"create_{SINGULAR[collection]}:shared")
        create = {"l3_policies": self.create_l3_policy, "l2_policies": self.create_l2_policy,
                  "policy_target_groups": self.groups.create_group,
                  "policy_targets": self.groups.create_target,
                  "servicechain_nodes": self.create_node,
                  "servicechain_specs": self.create_spec,
                  "servicechain_instances": self.instances.create}[collection]
        resource_id = await create(ctx, attrs)
        return (await self.views(collection, [await self.store.get(collection,
                                                                    resource_id)]))[0]

    async def update(self, ctx: Context, collection: str, resource_id: str,
                     body: Any) -> dict:
        row = await self.owned(ctx, collection, resource_id, "update")
        attrs = attributes.prepare(collection, body, is_create=False,
                                   project_id=ctx.project_id, is_admin=ctx.is_admin,
                                   maps=self.attribute_maps())
        attrs.pop("tenant_id", None)
        attrs.pop("project_id", None)
        if attrs.get("shared") and not ctx.is_admin:
            raise policy_denied(f"update_{SINGULAR[collection]}:shared")
        update = {"l3_policies": self.update_l3_policy, "l2_policies": self.update_l2_policy,
                  "policy_target_groups": self.groups.update_group,
                  "policy_targets": self.groups.update_target,
                  "servicechain_nodes": self.update_node,
                  "servicechain_specs": self.update_spec,
                  "servicechain_instances": self.instances.update}[collection]
        await update(ctx, row, attrs)
        return (await self.views(collection, [await self.store.get(collection,
                                                                    resource_id)]))[0]

    async def delete(self, ctx: Context, collection: str, resource_id: str) -> None:
        row = await self.owned(ctx, collection, resource_id, "delete")
        delete = {"l3_policies": self.delete_l3_policy, "l2_policies": self.delete_l2_policy,
                  "policy_target_groups": self.groups.delete_group,
                  "policy_targets": self.groups.delete_target,
                  "servicechain_nodes": self.delete_node,
                  "servicechain_specs": self.delete_spec,
                  "servicechain_instances": self.instances.delete}[collection]
        await delete(ctx, row)

    # -- visibility and ownership ------------------------------------------------------------

    @staticmethod
    def visible(ctx: Context, row: dict) -> bool:
        return ctx.is_admin or row["tenant_id"] == ctx.project_id or bool(row.get("shared"))

    async def find(self, ctx: Context, collection: str, resource_id: str | None) -> dict:
        """A resource the caller may see, else its NotFound (404)."""
        row = await self.store.get(collection, resource_id) if resource_id else None
        if row is None or not self.visible(ctx, row):
            raise not_found(SINGULAR[collection], str(resource_id))
        return row

    async def owned(self, ctx: Context, collection: str, resource_id: str,
                    action: str) -> dict:
        row = await self.find(ctx, collection, resource_id)
        if not (ctx.is_admin or row["tenant_id"] == ctx.project_id):
            raise policy_denied(f"{action}_{SINGULAR[collection]}")
        return row

    def neutron(self, ctx: Context, l3p: dict) -> Neutron:
        return self.clients.for_caller(ctx.token, l3p["provider"])

    # -- the API's views -------------------------------------------------------------------

    async def views(self, collection: str, rows: list[dict]) -> list[dict]:
        ids = [r["id"] for r in rows]
        related = self.store.related
        if collection == "l3_policies":
            pools_ = {r["l3_policy_id"]: r for r in await self.store.rows(
                "proxy_ip_pools", l3_policy_id=ids)} if ids else {}
            l2ps = await related("l2_policies", "l3_policy_id", ids)
            return [views.l3_policy(r, pools_.get(r["id"]), [x["id"] for x in l2ps[r["id"]]])
                    for r in rows]
        if collection == "l2_policies":
            groups = await related("policy_target_groups", "l2_policy_id", ids)
            return [views.l2_policy(r, [g["id"] for g in groups[r["id"]]]) for r in rows]
        if collection == "policy_target_groups":
            targets = await related("policy_targets", "policy_target_group_id", ids)
            subnets = await related("group_subnets", "policy_target_group_id", ids)
            links = await self.links(ids)
            return [views.policy_target_group(
                r, [t["id"] for t in targets[r["id"]]],
                [s["subnet_id"] for s in subnets[r["id"]]], links.get(r["id"], Link()))
                for r in rows]
        if collection == "policy_targets":
            flags = {r["policy_target_id"]: r for r in await self.store.rows(
                "proxy_gateways", policy_target_id=ids)} if ids else {}
            return [views.policy_target(r, flags.get(r["id"])) for r in rows]
        if collection == "servicechain_nodes":
            return [views.servicechain_node(r) for r in rows]
        if collection == "servicechain_specs":
            node_ids = sorted({n for r in rows for n in r["nodes"]})
            configs = {n["id"]: n["config"] for n in await self.store.rows(
                "servicechain_nodes", id=node_ids)} if node_ids else {}
            return [views.servicechain_spec(r, views.config_param_names(
                [configs[n] for n in r["nodes"] if n in configs])) for r in rows]
        return [views.servicechain_instance(r) for r in rows]

    async def links(self, group_ids: Sequence[str]) -> dict[str, Link]:
        if not group_ids:
            return {}
        return {r["policy_target_group_id"]: Link(r["proxied_group_id"], r["proxy_group_id"],
                                                  r["proxy_type"])
                for r in await self.store.rows("group_proxies",
                                               policy_target_group_id=list(group_ids))}

    # -- L3 policies -----------------------------------------------------------------------

    async def create_l3_policy(self, ctx: Context, a: dict, *, implicit: bool = False) -> str:
        version = a["ip_version"]
        if len(a["routers"]) > 1:
            raise invalid("L3PolicyMultipleRoutersNotSupported",
                          "L3 policy does not support multiple routers.")
        pools.check_pool(a["ip_pool"], version)
        pools.check_prefix_length(version, a["subnet_prefix_length"], a["ip_pool"])
        pools.check_pool(a["proxy_ip_pool"], version)
        pools.check_prefix_length(version, a["proxy_subnet_prefix_length"], a["proxy_ip_pool"])
        theirs = await self.store.rows("l3_policies", tenant_id=a["tenant_id"])
        proxies = {r["l3_policy_id"]: r for r in await self.store.rows(
            "proxy_ip_pools", l3_policy_id=[t["id"] for t in theirs])} if theirs else {}
        others = [p for t in theirs for p in (t["ip_pool"], proxies.get(t["id"], {}).get(
            "proxy_ip_pool")) if p]
        mine = [a["ip_pool"], a["proxy_ip_pool"]]
        clash = pools.overlapping(mine, others)
        if clash:
            raise invalid("OverlappingIPPoolsInSameTenantNotAllowed",
                          f"IP Pool {mine} overlaps with one of the existing L3P for the same "
                          f"tenant {clash}.")
        row = {"id": str(uuid.uuid4()), "tenant_id": a["tenant_id"], "name": a["name"],
               "description": a["description"], "ip_version": version,
               "ip_pool": a["ip_pool"], "subnet_prefix_length": a["subnet_prefix_length"],
               "routers": list(a["routers"]), "shared": a["shared"],
               "provider": ctx.provider or self.settings.provider, "implicit": implicit}
        neutron = self.neutron(ctx, row)
        journal = Journal()
        try:
            owned = []
            for router_id in row["routers"]:
                await self._check_router(neutron, router_id, row["tenant_id"])
            if not row["routers"]:
                router = await neutron.create("routers", {"name": f"l3p_{a['name']}",
                                                          "admin_state_up": True})
                journal.done(f"router {router['id']}",
                             lambda: neutron.delete("routers", router["id"]))
                row["routers"] = [router["id"]]
                owned.append(router["id"])
            async with self.store.transaction() as tx:
                await tx.insert("l3_policies", row)
                await tx.insert("proxy_ip_pools", {
                    "l3_policy_id": row["id"], "proxy_ip_pool": a["proxy_ip_pool"],
                    "proxy_subnet_prefix_length": a["proxy_subnet_prefix_length"]})
                for router_id in owned:
                    await tx.own("router", router_id)
        except Exception as exc:
            raise await failed(journal, exc) from None
        return row["id"]

    async def _check_router(self, neutron: Neutron, router_id: str, tenant_id: str) -> None:
        """An explicit router must be one the caller reaches at the provider: a router is
        never shared, so one the caller sees (not an admin) is its project's."""
        if not await _reachable(neutron, "routers", router_id):
            raise invalid("InvalidRouterAccess",
                          f"Can't access other tenants router : Router id {router_id} does "
                          f"not belong to the  tenant id {tenant_id}.")

    async def update_l3_policy(self, ctx: Context, row: dict, a: dict) -> None:
        if "routers" in a and list(a["routers"]) != list(row["routers"]):
            raise invalid("L3PolicyRoutersUpdateNotSupported",
                          "Updating L3 policy's routers is not supported.")
        a.pop("routers", None)
        pool = await self.store.get("proxy_ip_pools", row["id"])
        if "subnet_prefix_length" in a:
            pools.check_prefix_length(row["ip_version"], a["subnet_prefix_length"],
                                      row["ip_pool"])
        proxy_length = a.pop("proxy_subnet_prefix_length", None)
        if proxy_length is not None:
            pools.check_prefix_length(row["ip_version"], proxy_length, pool["proxy_ip_pool"])
        async with self.store.transaction() as tx:
            await tx.update("l3_policies", row["id"], a)
            if proxy_length is not None:
                await tx.update("proxy_ip_pools", row["id"],
                                {"proxy_subnet_prefix_length": proxy_length})

    async def delete_l3_policy(self, ctx: Context, row: dict) -> None:
        if await self.store.rows("l2_policies", l3_policy_id=row["id"]):
            raise in_use("l3_policy", row["id"])
        neutron = self.neutron(ctx, row)
        for router_id in row["routers"]:
            if await self.store.owns("router", router_id):
                await _neutron_step(neutron.delete("routers", router_id))
        async with self.store.transaction() as tx:
            await tx.delete("l3_policies", row["id"])
            await tx.delete("proxy_ip_pools", row["id"])
            for router_id in row["routers"]:
                await tx.disown("router", router_id)

    async def default_l3_policy(self, ctx: Context, tenant_id: str) -> dict:
        """The tenant's implicit L3 policy, made on first need (GBP's implicit policy)."""
        lock = self._default_locks.setdefault(tenant_id, asyncio.Lock())
        async with lock:
            for row in await self.store.rows("l3_policies", tenant_id=tenant_id, implicit=True):
                if row["name"] == DEFAULT_L3P_NAME:
                    return row
            s = self.settings
            l3p_id = await self.create_l3_policy(ctx, {
                "tenant_id": tenant_id, "name": DEFAULT_L3P_NAME,
                "description": "Implicitly created L3 policy", "ip_version": 4,
                "ip_pool": s.default_ip_pool,
                "subnet_prefix_length": s.default_subnet_prefix_length, "routers": [],
                "shared": False, "proxy_ip_pool": s.proxy_ip_pool,
                "proxy_subnet_prefix_length": s.proxy_subnet_prefix_length}, implicit=True)
            return await self.store.get("l3_policies", l3p_id)

    # -- L2 policies -----------------------------------------------------------------------

    async def create_l2_policy(self, ctx: Context, a: dict) -> str:
        if a["l3_policy_id"] is None:
            l3p = await self.default_l3_policy(ctx, a["tenant_id"])
        else:
            l3p = await self.find(ctx, "l3_policies", a["l3_policy_id"])
            if l3p["tenant_id"] != a["tenant_id"]:
                raise invalid("CrossTenantL2PolicyL3PolicyNotSupported",
                              "Cross tenancy not supported between L2Ps and L3Ps")
        journal = Journal()
        try:
            row = await self.make_l2_policy(ctx, journal, l3p, a)
        except Exception as exc:
            raise await failed(journal, exc) from None
        return row["id"]

    async def make_l2_policy(self, ctx: Context, journal: Journal, l3p: dict, a: dict, *,
                             implicit: bool = False) -> dict:
        """An L2 policy of ``l3p`` with its network (made, unless ``a`` names one)."""
        neutron = self.neutron(ctx, l3p)
        row = {"id": str(uuid.uuid4()), "tenant_id": a["tenant_id"], "name": a["name"],
               "description": a.get("description", ""), "l3_policy_id": l3p["id"],
               "network_id": a.get("network_id"), "shared": a.get("shared", False),
               "implicit": implicit}
        owned = row["network_id"] is None
        if owned:
            network = await neutron.create("networks", {"name": f"l2p_{a['name']}",
                                                        "admin_state_up": True})
            journal.done(f"network {network['id']}",
                         lambda: neutron.delete("networks", network["id"]))
            row["network_id"] = network["id"]
        else:
            await self._check_network(neutron, row["network_id"], row["tenant_id"])
        async with self.store.transaction() as tx:
            await tx.insert("l2_policies", row)
            if owned:
                await tx.own("network", row["network_id"])

        async def forget() -> None:
            async with self.store.transaction() as tx:
                await tx.delete("l2_policies", row["id"])
                await tx.disown("network", row["network_id"])
        journal.done(f"L2 policy {row['id']}", forget)
        return row

    async def _check_network(self, neutron: Neutron, network_id: str, tenant_id: str) -> None:
        """An explicit network must be the caller's at the provider: one it sees that is not
        shared (a shared one may be another project's)."""
        network = await _reachable(neutron, "networks", network_id)
        if network is None or network.get("shared"):
            raise invalid("InvalidNetworkAccess",
                          f"Can't access other tenants networks : Network id {network_id} "
                          f"doesn't belong to  the tenant id {tenant_id}.")

    async def update_l2_policy(self, ctx: Context, row: dict, a: dict) -> None:
        if "l3_policy_id" in a and a["l3_policy_id"] != row["l3_policy_id"]:
            raise invalid("L3PolicyUpdateOfL2PolicyNotSupported",
                          "Updating L3 policy of L2 policy is not supported.")
        a.pop("l3_policy_id", None)
        async with self.store.transaction() as tx:
            await tx.update("l2_policies", row["id"], a)

    async def delete_l2_policy(self, ctx: Context, row: dict) -> None:
        if await self.store.rows("policy_target_groups", l2_policy_id=row["id"]):
            raise in_use("l2_policy", row["id"])
        await self.drop_l2_policy(ctx, row)

    async def drop_l2_policy(self, ctx: Context, row: dict) -> tuple[str, ...]:
        """Delete an unused L2 policy, its network if OCX made it, and the implicit L3 policy
        it leaves unused; returns what was left in Neutron."""
        l3p = await self.store.get("l3_policies", row["l3_policy_id"])
        neutron = self.neutron(ctx, l3p)
        left = []
        if row["network_id"] and await self.store.owns("network", row["network_id"]):
            left += await _left(neutron.delete("networks", row["network_id"]),
                                f"network {row['network_id']}")
        async with self.store.transaction() as tx:
            await tx.delete("l2_policies", row["id"])
            if row["network_id"]:
                await tx.disown("network", row["network_id"])
        if l3p["implicit"] and not await self.store.rows("l2_policies",
                                                         l3_policy_id=l3p["id"]):
            try:
                await self.delete_l3_policy(ctx, l3p)
            except PolicyError as exc:
                left.append(f"implicit L3 policy {l3p['id']} ({exc.message})")
        return tuple(left)

    # -- service chain nodes and specs -----------------------------------------------------

    async def create_node(self, ctx: Context, a: dict) -> str:
        row = {"id": str(uuid.uuid4()), "tenant_id": a["tenant_id"], "name": a["name"],
               "description": a["description"], "service_type": a["service_type"],
               "config": a["config"], "shared": a["shared"]}
        nodes.plumbing_info(self.drivers, row)      # a driver must be able to plumb it
        async with self.store.transaction() as tx:
            await tx.insert("servicechain_nodes", row)
        return row["id"]

    async def update_node(self, ctx: Context, row: dict, a: dict) -> None:
        if "config" in a and a["config"] != row["config"]:
            if await self._specs_using_node(row["id"]):
                raise in_use("servicechain_node", row["id"])
            nodes.plumbing_info(self.drivers, {**row, **a})
        async with self.store.transaction() as tx:
            await tx.update("servicechain_nodes", row["id"], a)

    async def delete_node(self, ctx: Context, row: dict) -> None:
        if await self._specs_using_node(row["id"]):
            raise in_use("servicechain_node", row["id"])
        async with self.store.transaction() as tx:
            await tx.delete("servicechain_nodes", row["id"])

    async def _specs_using_node(self, node_id: str) -> list[dict]:
        return [s for s in await self.store.rows("servicechain_specs") if node_id in s["nodes"]]

    async def create_spec(self, ctx: Context, a: dict) -> str:
        for node_id in a["nodes"]:
            await self.find(ctx, "servicechain_nodes", node_id)
        row = {"id": str(uuid.uuid4()), "tenant_id": a["tenant_id"], "name": a["name"],
               "description": a["description"], "nodes": list(a["nodes"]),
               "shared": a["shared"]}
        async with self.store.transaction() as tx:
            await tx.insert("servicechain_specs", row)
        return row["id"]

    async def update_spec(self, ctx: Context, row: dict, a: dict) -> None:
        if "nodes" in a and list(a["nodes"]) != list(row["nodes"]):
            if await self._instances_using_spec(row["id"]):
                raise in_use("servicechain_spec", row["id"])
            for node_id in a["nodes"]:
                await self.find(ctx, "servicechain_nodes", node_id)
        async with self.store.transaction() as tx:
            await tx.update("servicechain_specs", row["id"], a)

    async def delete_spec(self, ctx: Context, row: dict) -> None:
        if await self._instances_using_spec(row["id"]):
            raise in_use("servicechain_spec", row["id"])
        async with self.store.transaction() as tx:
            await tx.delete("servicechain_specs", row["id"])

    async def _instances_using_spec(self, spec_id: str) -> list[dict]:
        return [i for i in await self.store.rows("servicechain_instances")
                if spec_id in i["servicechain_specs"]]


async def _reachable(neutron: Neutron, collection: str, resource_id: str) -> dict | None:
    try:
        return await neutron.show(collection, resource_id)
    except NeutronFailure as exc:
        if exc.status == 404:
            return None
        raise


async def _neutron_step(call) -> None:
    """A Neutron call whose refusal is the API's answer (its status, type and message)."""
    try:
        await call
    except NeutronFailure as exc:
        raise PolicyError(exc.status, exc.type, exc.message) from None


async def _left(call, what: str) -> list[str]:
    """A clean-up call after the point of no return: a failure is named, not raised."""
    try:
        await call
    except NeutronFailure as exc:
        log.warning("GBP: %s is left in Neutron: %s", what, exc.message)
        return [f"{what} ({exc.message})"]
    return []


def _matches(view: dict, wanted: dict[str, list]) -> bool:
    for name, values in wanted.items():
        value = view.get(name)
        if isinstance(value, list):
            if not any(v in value for v in values):
                return False
        elif value not in values and str(value) not in values:
            return False
    return True


def _fields(view: dict, fields: Sequence[str]) -> dict:
    if not fields:
        return view
    return {k: v for k, v in view.items() if k in fields}
