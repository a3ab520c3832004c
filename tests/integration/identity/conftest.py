"""What the identity tests share: OCX's service user, users' tokens, validators, sim helpers."""
from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import aiohttp
import pytest
from keystoneauth1 import session as ks_session
from keystoneauth1.identity import v3

from ocx.identity.validate import TokenValidator


def on_sim(sim, fn: Callable, *args, **kwargs):
    """Run ``fn`` on the clouds' own loop (their state is only touched there)."""
    async def run():
        return fn(*args, **kwargs)
    return sim.call(run())


def ocx_auth(sim, password: str | None = None) -> v3.Password:
    """OCX's service user at the home cloud, as ``service_auth`` builds it from the config."""
    return v3.Password(auth_url=sim.cloud("idp").keystone.endpoint, username="ocx",
                       password=password or sim.credentials("idp", "ocx")["password"],
                       project_name="service", user_domain_name="Default",
                       project_domain_name="Default")


async def user_token(sim, user: str = "demo", project: str | None = None,
                     unscoped: bool = False) -> str:
    """A home token of a bootstrap user, got the way a client gets one."""
    creds = sim.credentials("idp", user)
    scope = {"unscoped": True} if unscoped else {
        "project_name": project or creds["project"], "project_domain_name": "Default"}
    auth = v3.Password(auth_url=sim.cloud("idp").keystone.endpoint, username=user,
                       password=creds["password"], user_domain_name="Default", **scope)
    return await asyncio.to_thread(ks_session.Session(auth=auth).get_token)


def keystone_calls(sim, cloud: str = "idp", method: str = "GET") -> int:
    return sim.cloud(cloud).calls[("keystone", method)]


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
def make_validator(sim, http) -> Callable[..., TokenValidator]:
    def make(**kwargs) -> TokenValidator:
        kwargs.setdefault("timeout", 5.0)
        auth = kwargs.pop("auth", None) or ocx_auth(sim)
        session = kwargs.pop("session", None) or http
        return TokenValidator(sim.cloud("idp").keystone.endpoint, auth, session, **kwargs)
    return make
