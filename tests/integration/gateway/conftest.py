"""OCX in front of three simulated clouds, all on loopback, as `ocx demo` sets them up.

``home`` is the K2K identity provider; ``sp1`` and ``sp2`` are its service providers. OCX runs
on the clouds' event loop; it is put in home's catalog the way ``ocx catalog`` does it, so a
client logging in to home finds OCX. ``ocx_env.connect("ocx")`` is such a client;
``connect("sp1")`` goes straight to sp1 as a local user of the project the K2K mapping lands
in, so that what it creates is what OCX must find.
"""
from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from importlib.metadata import EntryPoint

import openstack
import pytest
from aiohttp import web

from ocx import config
from ocx.api.server import gateway
from ocx.demo import clouds_yaml, free_port, gateway_config
from ocx.extensions import base as extensions_base
from ocx.extensions.base import ENTRY_POINT_GROUP
from ocx.identity import ksa
from ocx.identity.catalog import register_ocx
from ocx.identity.validate import service_auth
from tests.conftest import start_sim
from tests.postgres import postgres_url  # noqa: F401 - fixture


class OcxEnv:
    def __init__(self, sim, url: str, conf, clouds: dict) -> None:
        self.sim = sim
        self.url = url
        self.conf = conf
        self.clouds = clouds["clouds"]

    def connect(self, cloud: str = "ocx") -> openstack.connection.Connection:
        entry = self.clouds[cloud]
        return openstack.connection.Connection(
            region_name=entry["region_name"], interface=entry["interface"],
            identity_api_version="3", **entry["auth"])

    def calls(self, cloud: str) -> dict:
        return self.sim.cloud(cloud).call_counts()

    def reset_calls(self) -> None:
        for cloud in self.sim.exchange.clouds.values():
            cloud.calls.clear()

    def until_up(self, *providers: str, timeout: float = 30) -> None:
        """Wait until OCX's probe has found ``providers`` answering again: a service that
        went down is skipped until then (``GET /ocx/v1/providers``, as home's admin)."""
        import time

        import requests

        admin = self.sim.auth_args("home", "admin")
        token = openstack.connection.Connection(identity_api_version="3", interface="internal",
                                                **admin).session.get_token()
        deadline = time.monotonic() + timeout
        while True:
            states = {p["name"]: p["state"] for p in requests.get(
                f"{self.url}/ocx/v1/providers", headers={"X-Auth-Token": token},
                timeout=30).json()["providers"]}
            if all(states.get(p) == "up" for p in providers):
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"OCX never saw {', '.join(providers)} up: {states}")
            time.sleep(0.05)


def _describe(sim) -> dict:
    return {"clouds": sim.exchange.describe()}


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def ocx_env(request) -> Iterator[OcxEnv]:
    """Every gateway test runs twice: with the SQLite store and with PostgreSQL."""
    store_url = request.getfixturevalue("postgres_url") if request.param == "postgresql" \
        else None
    # A test module may bring clouds of its own: SIM_CLOUDS = "home,sp1,ctl=controller".
    for sim in start_sim(getattr(request.module, "SIM_CLOUDS", "home,sp1,sp2")):
        described = _describe(sim)
        with tempfile.TemporaryDirectory(prefix="ocx-test-") as state:
            path = os.path.join(state, "ocx.conf")
            # A test module may bring extensions: EXTENSIONS = {"name": "module:Class"},
            # and options: OCX_DEFAULTS = {"listing_timeout": "2"} (in [DEFAULT]).
            extensions = getattr(request.module, "EXTENSIONS", {})
            options = dict(getattr(request.module, "OCX_DEFAULTS", {}))
            options.setdefault("health_probe_interval", "0.1")  # a service back is soon seen
            if extensions:
                options["extensions"] = ", ".join(extensions)
            with open(path, "w") as f:
                f.write(gateway_config(described, free_port(), state))
                if store_url:
                    f.write(f"\n[store]\nurl = {store_url}\n")
                # And sections of its own: OCX_SECTIONS = "[project:demo]\nproviders = sp2\n".
                f.write("\n" + getattr(request.module, "OCX_SECTIONS", ""))
            if options:
                lines = "".join(f"{name} = {value}\n" for name, value in options.items())
                text = open(path).read().replace("[DEFAULT]\n", f"[DEFAULT]\n{lines}", 1)
                open(path, "w").write(text)
            conf = config.load(path)
            points = [EntryPoint(name, target, ENTRY_POINT_GROUP)
                      for name, target in extensions.items()]
            url = config.public_url(conf)

            async def start():
                context = gateway(conf)
                app = await context.__aenter__()
                runner = web.AppRunner(app, access_log=None)
                await runner.setup()
                await web.TCPSite(runner, conf.bind_host, conf.bind_port).start()
                await register_ocx(ksa.session(10, service_auth(conf)), conf.keystone.auth_url,
                                   url)
                return context, runner

            with pytest.MonkeyPatch.context() as patch:
                if points:
                    patch.setattr(extensions_base, "entry_points", lambda group: points)
                context, runner = sim.call(start())
            try:
                yield OcxEnv(sim, url, conf, clouds_yaml(described, url))
            finally:
                async def stop():
                    await runner.cleanup()
                    await context.__aexit__(None, None, None)
                sim.call(stop())
