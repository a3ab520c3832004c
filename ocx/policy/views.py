"""GBP resources as the API shows them, composed from their rows (pure)."""
from __future__ import annotations

import orjson

from .chains import Link


def _common(row: dict) -> dict:
    return {"id": row["id"], "tenant_id": row["tenant_id"], "project_id": row["tenant_id"],
            "name": row["name"], "description": row["description"]}


def l3_policy(row: dict, pool: dict | None, l2_policies: list[str]) -> dict:
    return {**_common(row), "ip_version": row["ip_version"], "ip_pool": row["ip_pool"],
            "subnet_prefix_length": row["subnet_prefix_length"], "l2_policies": l2_policies,
            "routers": list(row["routers"]), "shared": row["shared"],
            "proxy_ip_pool": pool["proxy_ip_pool"] if pool else None,
            "proxy_subnet_prefix_length": pool["proxy_subnet_prefix_length"] if pool else None}


def l2_policy(row: dict, groups: list[str]) -> dict:
    return {**_common(row), "policy_target_groups": groups,
            "l3_policy_id": row["l3_policy_id"], "network_id": row["network_id"],
            "shared": row["shared"]}


def policy_target_group(row: dict, targets: list[str], subnets: list[str],
                        link: Link) -> dict:
    return {**_common(row), "policy_targets": targets, "l2_policy_id": row["l2_policy_id"],
            "subnets": subnets, "shared": row["shared"],
            "service_management": row["service_management"],
            "proxied_group_id": link.proxied, "proxy_type": link.proxy_type,
            "proxy_group_id": link.proxy}


def policy_target(row: dict, flags: dict | None) -> dict:
    return {**_common(row), "policy_target_group_id": row["policy_target_group_id"],
            "port_id": row["port_id"],
            "proxy_gateway": bool(flags and flags["proxy_gateway"]),
            "group_default_gateway": bool(flags and flags["group_default_gateway"])}


def servicechain_node(row: dict) -> dict:
    return {**_common(row), "service_type": row["service_type"], "config": row["config"],
            "shared": row["shared"]}


def config_param_names(configs: list[str]) -> list[str]:
    """The parameters the nodes' configs declare (``"parameters": {...}``), as GBP lists a
    spec's template parameters."""
    names: list[str] = []
    for config in configs:
        try:
            document = orjson.loads(config)
        except orjson.JSONDecodeError:
            continue
        parameters = document.get("parameters") if isinstance(document, dict) else None
        if isinstance(parameters, dict):
            names += [str(n) for n in parameters if str(n) not in names]
    return names


def servicechain_spec(row: dict, param_names: list[str]) -> dict:
    return {**_common(row), "nodes": list(row["nodes"]), "config_param_names": param_names,
            "shared": row["shared"]}


def servicechain_instance(row: dict) -> dict:
    return {**_common(row), "servicechain_specs": list(row["servicechain_specs"]),
            "provider_ptg_id": row["provider_ptg_id"],
            "consumer_ptg_id": row["consumer_ptg_id"],
            "management_ptg_id": row["management_ptg_id"],
            "classifier_id": row["classifier_id"],
            "config_param_values": row["config_param_values"]}
