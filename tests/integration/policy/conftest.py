"""OCX in front of a simulated home cloud, serving the GBP API at /policy: what the policy
tests drive, with real tokens of the home Keystone, over real sockets.

``gbp.call(method, path, body, user=...)`` calls OCX's /policy API as a user of the home
cloud (``demo``, or ``admin``); ``gbp.neutron`` is openstacksdk straight to the home cloud's
Neutron (the internal interface, not through OCX), to see what GBP rendered there.
"""
from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator

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
from ocx.policy.catalog import register_policy
from tests.conftest import start_sim
from tests.integration.gateway.conftest import _describe


class Gbp:
    def __init__(self, sim, url: str) -> None:
        self.sim = sim
        self.url = url
        self._tokens: dict[str, str] = {}
        self.neutron = self.connect("demo").network

    def connect(self, user: str) -> openstack.connection.Connection:
        return openstack.connection.Connection(identity_api_version="3", interface="internal",
                                               **self.sim.auth_args("home", user))

    def token(self, user: str = "demo") -> str:
        if user not in self._tokens:
            self._tokens[user] = self.connect(user).session.get_token()
        return self._tokens[user]

    def project(self, user: str = "demo") -> str:
        return self.connect(user).current_project_id

    def call(self, method: str, path: str, body: dict | None = None, *, user: str = "demo",
             headers: dict | None = None) -> requests.Response:
        return requests.request(method, f"{self.url}/policy/v2.0/{path}", json=body,
                                headers={"X-Auth-Token": self.token(user), **(headers or {})},
                                timeout=60)

    def create(self, collection: str, resource: str, user: str = "demo", **attrs) -> dict:
        resp = self.call("POST", collection, {resource: attrs}, user=user)
        assert resp.status_code == 201, resp.text
        return resp.json()[resource]

    def show(self, collection: str, resource: str, resource_id: str) -> dict:
        resp = self.call("GET", f"{collection}/{resource_id}")
        assert resp.status_code == 200, resp.text
        return resp.json()[resource]

    def delete(self, collection: str, resource_id: str, user: str = "demo") -> None:
        resp = self.call("DELETE", f"{collection}/{resource_id}", user=user)
        assert resp.status_code == 204, resp.text


def start_ocx(sim, state: str, extra: str = ""):
    described = _describe(sim)
    path = os.path.join(state, "ocx.conf")
    with open(path, "w") as f:
        f.write(gateway_config(described, free_port(), state) + "\n" + extra)
    conf = config.load(path)
    url = config.public_url(conf)

    async def start():
        context = gateway(conf)
        app = await context.__aenter__()
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, conf.bind_host, conf.bind_port).start()
        await register_ocx(ksa.session(10, service_auth(conf)), conf.keystone.auth_url, url)
        await register_policy(ksa.session(10, service_auth(conf)), conf.keystone.auth_url, url)
        return context, runner

    context, runner = sim.call(start())

    def stop():
        async def stopping():
            await runner.cleanup()
            await context.__aexit__(None, None, None)
        sim.call(stopping())
    return url, stop


@pytest.fixture(scope="module")
def gbp(request) -> Iterator[Gbp]:
    """One home cloud and OCX in front of it per test module; a module may add sections to
    OCX's configuration (``OCX_SECTIONS = "[policy]\\n..."``)."""
    for sim in start_sim("home"):
        with tempfile.TemporaryDirectory(prefix="ocx-gbp-") as state:
            url, stop = start_ocx(sim, state, getattr(request.module, "OCX_SECTIONS", ""))
            try:
                yield Gbp(sim, url)
            finally:
                stop()
