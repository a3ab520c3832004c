"""Putting OCX in the home cloud's catalog, the way an operator would with `openstack endpoint`.

The public endpoint of each service OCX fronts is pointed at OCX; the internal and admin
endpoints keep pointing at the real services, which is where OCX itself sends home calls
(``[keystone] home_interface = internal``).
"""
from __future__ import annotations

import asyncio
from dataclasses import dataclass

from keystoneauth1 import session as ks_session

from ..call import SERVICES

# How OCX's URL for a service looks in the catalog, as each real service registers itself.
CATALOG_PATHS = {"compute": "/v2.1", "volume": "/v3/$(project_id)s", "image": "",
                 "network": ""}


@dataclass(frozen=True)
class Change:
    service_type: str
    endpoint_id: str
    old_url: str
    new_url: str


def planned_urls(public_url: str) -> dict[str, str]:
    """Catalog type → OCX URL, for every type a service may be registered under."""
    return {stype: f"{public_url}/{service}{CATALOG_PATHS[service]}"
            for service, types in SERVICES.items() for stype in types}


def _register(session: ks_session.Session, auth_url: str, public_url: str,
              region: str | None) -> list[Change]:
    base = auth_url.rstrip("/")
    wanted = planned_urls(public_url)
    services = session.get(f"{base}/services").json()["services"]
    changes = []
    for service in services:
        url = wanted.get(service["type"])
        if url is None:
            continue
        endpoints = session.get(f"{base}/endpoints", params={
            "service_id": service["id"], "interface": "public"}).json()["endpoints"]
        endpoints = [e for e in endpoints if region in (None, e.get("region_id"))]
        if not endpoints:
            created = session.post(f"{base}/endpoints", json={"endpoint": {
                "service_id": service["id"], "interface": "public", "url": url,
                "region_id": region}}).json()["endpoint"]
            changes.append(Change(service["type"], created["id"], "", url))
        for endpoint in endpoints:
            if endpoint["url"] != url:
                session.patch(f"{base}/endpoints/{endpoint['id']}",
                              json={"endpoint": {"url": url}})
                changes.append(Change(service["type"], endpoint["id"], endpoint["url"], url))
    return changes


async def register_ocx(session: ks_session.Session, auth_url: str, public_url: str,
                       region: str | None = None) -> list[Change]:
    """Point the home catalog's public endpoints at OCX; returns what changed."""
    return await asyncio.to_thread(_register, session, auth_url, public_url, region)
