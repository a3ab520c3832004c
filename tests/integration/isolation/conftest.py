"""Two users of two projects of the home cloud, one OCX in front of four simulated landlords.

``demo`` (project ``demo``) and ``eve`` (project ``rival``) both have a project of their own name
at every service provider (K2K lands the federated user there by name; the federated users'
group is a member of both, as an operator's group mapping often makes it), so that both have
token mappings at the same providers, and both make resources of the same names there. What
OCX keeps for one (its token mappings, validated tokens, recent cursors, combined documents,
markers) must never serve the other.

OCX runs on the clouds' event loop with the SQLite store (what is kept in memory is the same
with either store); it takes injections from the peer ``friend``, signed with a secret or sent
with a token whose user has the role ``ocx-peer``.
"""
from __future__ import annotations

import os
import secrets
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field

import openstack
import pytest
import requests
from aiohttp import web

from ocx import config
from ocx.api.server import gateway
from ocx.demo import free_port, gateway_config
from ocx.identity import ksa
from ocx.identity.catalog import register_ocx
from ocx.identity.validate import service_auth
from ocx.sim.k2k import FEDERATED_GROUP
from tests.conftest import Sim, start_sim
from tests.integration.gateway.conftest import _describe

# ctl: a landlord whose networking is SDN controllers; OCX serves its Neutron from its own store,
# so keeping projects apart there is OCX's own work.
CLOUDS = ("home", "sp1", "sp2", "ctl=controller")
SERVICE_PROVIDERS = ("sp1", "sp2")
PEER = "friend"
PEER_ROLE = "ocx-peer"
# user → (home project, roles there); demo and admin are the clouds' own.
USERS = {"eve": ("rival", ("member", "reader")), "courier": ("service", (PEER_ROLE,))}


@dataclass
class Env:
    sim: Sim
    url: str
    conf: object
    gateway: object            # the pipeline (api.app.Gateway): its caches are read, as a test
    peer_secret: str = field(repr=False)
    passwords: dict[str, str] = field(repr=False, default_factory=dict)

    def auth_args(self, user: str) -> dict[str, str]:
        if user not in self.passwords:
            return self.sim.auth_args("home", user)
        return {"auth_url": self.sim.cloud("home").keystone.endpoint, "username": user,
                "password": self.passwords[user], "project_name": USERS[user][0],
                "user_domain_name": "Default", "project_domain_name": "Default"}

    def connect(self, user: str) -> openstack.connection.Connection:
        """openstacksdk as ``user`` makes it: the home catalog's public endpoints are OCX's."""
        return openstack.connection.Connection(region_name="RegionOne",
                                               identity_api_version="3", interface="public",
                                               **self.auth_args(user))

    def direct(self, cloud: str, user: str = "demo") -> openstack.connection.Connection:
        """Straight to a cloud (home's internal endpoints), not through OCX."""
        args = self.auth_args(user) if cloud == "home" else self.sim.auth_args(cloud, user)
        return openstack.connection.Connection(
            region_name="RegionOne", identity_api_version="3",
            interface="internal" if cloud == "home" else "public", **args)

    def token(self, user: str) -> str:
        return self.connect(user).session.get_token()

    def get(self, path: str, token: str | None = None, **kwargs) -> requests.Response:
        headers = dict(kwargs.pop("headers", {}))
        if token is not None:
            headers["X-Auth-Token"] = token
        return requests.get(self.url + path, headers=headers, timeout=60, **kwargs)

    def project_at(self, cloud: str, name: str) -> str:
        return self.sim.cloud(cloud).keystone.project_id(name)


def _add_users(sim: Sim) -> dict[str, str]:
    passwords = {user: secrets.token_urlsafe(12) for user in USERS}

    async def setup():
        home = sim.cloud("home").keystone
        home.create_role(PEER_ROLE)
        for user, (project, roles) in USERS.items():
            pid = home.project_id(project) or home.create_project(project)
            uid = home.create_user(user, passwords[user], default_project=pid)
            for role in roles:
                home.assign_role("user", uid, pid, home.role_id(role))
        for name in SERVICE_PROVIDERS:
            ks = sim.cloud(name).keystone
            rival = ks.create_project("rival")
            ks.assign_role("group", ks.find_group(FEDERATED_GROUP), rival, ks.role_id("member"))

    sim.call(setup())
    return passwords


@pytest.fixture(scope="package")
def env() -> Iterator[Env]:
    for sim in start_sim(",".join(CLOUDS)):
        passwords = _add_users(sim)
        peer_secret = secrets.token_urlsafe(24)
        with tempfile.TemporaryDirectory(prefix="ocx-isolation-") as state:
            path = os.path.join(state, "ocx.conf")
            text = gateway_config(_describe(sim), free_port(), state)
            text = text.replace("[DEFAULT]\n", f"[DEFAULT]\npeers = {PEER}\n"
                                               "health_probe_interval = 0.1\n", 1)
            with open(path, "w") as f:
                f.write(text + f"\n[peer:{PEER}]\nsecret = {peer_secret}\n"
                               f"accept_providers = sp1, sp2\naccept_role = {PEER_ROLE}\n")
            conf = config.load(path)
            url = config.public_url(conf)
            kept = {}

            async def start():
                context = gateway(conf)
                app = await context.__aenter__()
                runner = web.AppRunner(app, access_log=None)
                await runner.setup()
                await web.TCPSite(runner, conf.bind_host, conf.bind_port).start()
                await register_ocx(ksa.session(10, service_auth(conf)), conf.keystone.auth_url,
                                   url)
                kept["gateway"] = _gateway_of(app)
                return context, runner

            context, runner = sim.call(start())
            try:
                yield Env(sim, url, conf, kept["gateway"], peer_secret, passwords)
            finally:
                async def stop():
                    await runner.cleanup()
                    await context.__aexit__(None, None, None)
                sim.call(stop())


def _gateway_of(app: web.Application):
    """The pipeline behind the services' routes (``api.app.Gateway``)."""
    for resource in app.router.resources():
        for route in resource:
            handler = getattr(route.handler, "__self__", None)
            if handler is not None and hasattr(handler, "fanout"):
                return handler
    raise AssertionError("no gateway route found")
