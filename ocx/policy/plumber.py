"""Service chain instances and the Traffic Stitching Plumber (GBP's TScP).

For an instance, each node of its spec says what it needs (``ocx.policy.nodes``); the plumber
walks the nodes from the provider outwards (the spec's first node is the one next to the
provider group, GBP's ``current_position`` order) and, for each:

- ``endpoint``: service targets in the current provider group (named
  ``tscp_endpoint_service_<node>_<instance>``);
- ``gateway``: an L3 proxy of the current provider (``tscp_<position>_<provider name>``), a
  provider-side target holding the provider's default gateway address
  (``group_default_gateway``), and a consumer-side target that is the proxy's gateway to the
  groups behind it (``proxy_gateway``);
- ``transparent``: provider-side targets, then an L2 proxy, then consumer-side targets in it;

the proxy then becomes the provider of the next node. Management targets go to the instance's
management group, else the project's group with ``service_management``, else a group the
plumber makes (``tscp_management_<instance>``). Every group and target it makes is recorded
with the instance the moment it exists; deleting the instance (or a failure half-way) deletes
exactly those, targets first, then groups newest first: the wiring goes back to what it was.
"""
from __future__ import annotations

import logging
import uuid

from . import nodes
from .errors import invalid
from .nodes import PlumbingInfo
from .service import Context, PolicyService

log = logging.getLogger(__name__)

PREFIX = "tscp_"
TARGET_NAME = "service_target__%s_%s_%s"
TARGET_DESCRIPTION = "%s facing Service Target for node %s in instance %s"


class Instances:
    def __init__(self, service: PolicyService) -> None:
        self.s = service
        self.store = service.store

    async def create(self, ctx: Context, a: dict) -> str:
        specs = list(a["servicechain_specs"])
        if len(specs) != 1:
            raise invalid("OneSpecPerInstanceAllowed",
                          "The Node Composition Plugin only supports one Service Chain Spec "
                          "per Service Chain Instance.")
        spec = await self.s.find(ctx, "servicechain_specs", specs[0])
        if not a["provider_ptg_id"]:
            raise invalid("ProviderGroupRequired",
                          "A service chain instance needs a provider_ptg_id: the group the "
                          "services are put in front of.")
        provider = await self.s.owned(ctx, "policy_target_groups", a["provider_ptg_id"],
                                      "update")
        if a["management_ptg_id"]:
            await self.s.find(ctx, "policy_target_groups", a["management_ptg_id"])
        parts = await self._deployment(ctx, spec)
        row = {"id": str(uuid.uuid4()), "tenant_id": a["tenant_id"], "name": a["name"],
               "description": a["description"], "servicechain_specs": specs,
               "provider_ptg_id": provider["id"], "consumer_ptg_id": a["consumer_ptg_id"],
               "management_ptg_id": a["management_ptg_id"], "classifier_id": a["classifier_id"],
               "config_param_values": a["config_param_values"]}
        async with self.store.transaction() as tx:
            await tx.insert("servicechain_instances", row)
        try:
            await self.plug(ctx, row, provider, parts)
        except BaseException:
            await self._unplug_after_failure(ctx, row)
            raise
        return row["id"]

    async def _deployment(self, ctx: Context, spec: dict) -> list[tuple[int, dict, PlumbingInfo]]:
        """(position, node, what it needs) for each node of the spec, from the provider out."""
        parts = []
        for position, node_id in enumerate(spec["nodes"], 1):
            node = await self.s.find(ctx, "servicechain_nodes", node_id)
            parts.append((position, node, nodes.plumbing_info(self.s.drivers, node)))
        return parts

    async def update(self, ctx: Context, row: dict, a: dict) -> None:
        specs = a.pop("servicechain_specs", None)
        if specs is not None and list(specs) != list(row["servicechain_specs"]):
            if len(specs) != 1:
                raise invalid("OneSpecPerInstanceAllowed",
                              "The Node Composition Plugin only supports one Service Chain "
                              "Spec per Service Chain Instance.")
            spec = await self.s.find(ctx, "servicechain_specs", specs[0])
            parts = await self._deployment(ctx, spec)
            provider = await self.store.get("policy_target_groups", row["provider_ptg_id"])
            # The chain is plumbed anew for the new spec; the old one first goes away.
            await self.unplug(ctx, row["id"])
            async with self.store.transaction() as tx:
                await tx.update("servicechain_instances", row["id"],
                                {"servicechain_specs": list(specs)})
            try:
                await self.plug(ctx, {**row, "servicechain_specs": list(specs)}, provider,
                                parts)
            except BaseException:
                await self._unplug_after_failure(ctx, row, keep=True)
                raise
        async with self.store.transaction() as tx:
            await tx.update("servicechain_instances", row["id"], a)

    async def delete(self, ctx: Context, row: dict) -> None:
        # A failure half-way leaves the instance with what is not yet deleted: deleting it
        # again goes on from there.
        await self.unplug(ctx, row["id"])
        async with self.store.transaction() as tx:
            await tx.delete("servicechain_instances", row["id"])

    async def _unplug_after_failure(self, ctx: Context, row: dict, *, keep: bool = False
                                    ) -> None:
        try:
            await self.unplug(ctx, row["id"])
        except Exception as exc:  # noqa: BLE001 - the plumbing failure is what is answered
            log.warning("GBP: unplugging instance %s after a failure failed too: %s",
                        row["id"], getattr(exc, "message", type(exc).__name__))
            return
        if not keep:
            async with self.store.transaction() as tx:
                await tx.delete("servicechain_instances", row["id"])

    # -- the plumber -----------------------------------------------------------------------

    async def plug(self, ctx: Context, instance: dict, provider: dict,
                   parts: list[tuple[int, dict, PlumbingInfo]]) -> None:
        current = provider
        management = None
        for position, node, info in parts:
            if info.management:
                if management is None:
                    management = await self._management_group(ctx, instance, provider)
                await self._targets(ctx, instance, node, position, info.management,
                                    management, "management")
            jump = None
            if info.plumbing_type == nodes.ENDPOINT:
                name = f"{PREFIX}endpoint_service_{node['id'][:5]}_{instance['id'][:5]}"
                await self._targets(ctx, instance, node, position, info.provider, current,
                                    "provider", name=name)
            elif info.plumbing_type == nodes.GATEWAY:
                jump = await self._jump_group(ctx, instance, current, position, "l3")
                await self._targets(ctx, instance, node, position, info.provider, current,
                                    "provider", first={"group_default_gateway": True})
                await self._targets(ctx, instance, node, position, info.consumer, jump,
                                    "consumer", first={"proxy_gateway": True})
            else:   # transparent
                await self._targets(ctx, instance, node, position, info.provider, current,
                                    "provider")
                jump = await self._jump_group(ctx, instance, current, position, "l2")
                await self._targets(ctx, instance, node, position, info.consumer, jump,
                                    "consumer")
            current = jump or current

    async def _jump_group(self, ctx: Context, instance: dict, proxied: dict, position: int,
                          proxy_type: str) -> dict:
        group_id = await self.s.groups.create_group(ctx, {
            "tenant_id": instance["tenant_id"],
            "name": f"{PREFIX}{position}_{proxied['name']}",
            "description": "Implicitly created stitching group", "l2_policy_id": None,
            "proxied_group_id": proxied["id"], "proxy_type": proxy_type})
        await self._record_group(instance, group_id, "proxy")
        return await self.store.get("policy_target_groups", group_id)

    async def _management_group(self, ctx: Context, instance: dict, provider: dict) -> dict:
        if instance["management_ptg_id"]:
            return await self.store.get("policy_target_groups", instance["management_ptg_id"])
        for group in await self.store.rows("policy_target_groups",
                                           tenant_id=instance["tenant_id"],
                                           service_management=True):
            return group
        _, l3p = await self.s.groups.policies(provider)
        group_id = await self.s.groups.create_group(ctx, {
            "tenant_id": instance["tenant_id"], "name": f"{PREFIX}management_"
                                                       f"{instance['id'][:5]}",
            "description": "Implicitly created management group", "l2_policy_id": None,
            "service_management": True}, l3_policy_id=l3p["id"])
        await self._record_group(instance, group_id, "management")
        return await self.store.get("policy_target_groups", group_id)

    async def _record_group(self, instance: dict, group_id: str, role: str) -> None:
        async with self.store.transaction() as tx:
            made = await tx.rows("plumbed_groups", servicechain_instance_id=instance["id"])
            await tx.insert("plumbed_groups", {
                "policy_target_group_id": group_id, "servicechain_instance_id": instance["id"],
                "role": role, "sequence": len(made)})

    async def _targets(self, ctx: Context, instance: dict, node: dict, position: int,
                       wanted: tuple[dict, ...], group: dict, relationship: str, *,
                       name: str | None = None, first: dict | None = None) -> None:
        for index, extra in enumerate(wanted):
            flags = {"proxy_gateway": False, "group_default_gateway": False,
                     **((first or {}) if index == 0 else {}), **extra}
            target_id = await self.s.groups.create_target(ctx, {
                "tenant_id": instance["tenant_id"], "policy_target_group_id": group["id"],
                "name": name or TARGET_NAME % (relationship, node["id"][:5],
                                               instance["id"][:5]),
                "description": TARGET_DESCRIPTION % (relationship, node["id"],
                                                     instance["id"]),
                "port_id": None, **flags})
            async with self.store.transaction() as tx:
                await tx.insert("service_targets", {
                    "policy_target_id": target_id, "servicechain_instance_id": instance["id"],
                    "servicechain_node_id": node["id"], "relationship": relationship,
                    "position": position})

    async def unplug(self, ctx: Context, instance_id: str) -> None:
        """Delete what the plumber made for the instance: its service targets (by position),
        then its groups, the newest first (the outermost proxy first)."""
        for record in await self.store.rows("service_targets",
                                            servicechain_instance_id=instance_id):
            target = await self.store.get("policy_targets", record["policy_target_id"])
            if target is not None:
                await self.s.groups.delete_target(ctx, target, by_plumber=True)
            async with self.store.transaction() as tx:
                await tx.delete("service_targets", record["policy_target_id"])
        made = await self.store.rows("plumbed_groups", servicechain_instance_id=instance_id)
        for record in reversed(made):
            group = await self.store.get("policy_target_groups",
                                         record["policy_target_group_id"])
            if group is not None:
                await self.s.groups.delete_group(ctx, group, by_plumber=True)
            async with self.store.transaction() as tx:
                await tx.delete("plumbed_groups", record["policy_target_group_id"])
