"""Putting OCX's GBP API in the home catalog as service type ``policy``, the way an operator
would (``openstack service create --name gbp policy``, ``openstack endpoint create policy
public <url>``), in the region of home's network endpoint."""
from __future__ import annotations

import asyncio

from keystoneauth1 import session as ks_session

SERVICE_TYPE = "policy"
SERVICE_NAME = "gbp"


def _register(session: ks_session.Session, auth_url: str, public_url: str) -> str:
    base = auth_url.rstrip("/")
    url = f"{public_url.rstrip('/')}/policy"
    services = session.get(f"{base}/services").json()["services"]
    region = None
    for service in services:
        if service["type"] == "network":
            for endpoint in session.get(f"{base}/endpoints", params={
                    "service_id": service["id"]}).json()["endpoints"]:
                region = region or endpoint.get("region_id")
    policy = next((s for s in services if s["type"] == SERVICE_TYPE), None)
    if policy is None:
        policy = session.post(f"{base}/services", json={"service": {
            "type": SERVICE_TYPE, "name": SERVICE_NAME, "enabled": True,
            "description": "Group-Based Policy, served by OCX"}}).json()["service"]
    endpoints = session.get(f"{base}/endpoints", params={
        "service_id": policy["id"], "interface": "public"}).json()["endpoints"]
    if not endpoints:
        session.post(f"{base}/endpoints", json={"endpoint": {
            "service_id": policy["id"], "interface": "public", "url": url,
            "region_id": region}})
    for endpoint in endpoints:
        if endpoint["url"] != url:
            session.patch(f"{base}/endpoints/{endpoint['id']}", json={"endpoint": {"url": url}})
    return url


async def register_policy(session: ks_session.Session, auth_url: str, public_url: str) -> str:
    """Make sure the home catalog lists ``<public_url>/policy`` as the public ``policy``
    endpoint; returns it."""
    return await asyncio.to_thread(_register, session, auth_url, public_url)
