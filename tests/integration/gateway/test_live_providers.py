"""Landlords come and go while OCX runs (issue 8): service providers discovered at the home
Keystone, sessions that heal after a provider's Keystone forgets its tokens, providers that
stop and come back.

Four simulated clouds: ``home`` (the K2K identity provider), ``sp1`` (pinned in OCX's
configuration), ``sp2`` (only registered at home: discovered) and ``sp3`` (federated, but not
registered at home when OCX starts: the operator adds it while OCX runs).
"""
from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Iterator

import openstack
import pytest
import requests
from aiohttp import web

from ocx import config
from ocx.api.server import gateway
from ocx.demo import clouds_yaml, free_port, gateway_config
from ocx.identity import ksa
from ocx.identity.catalog import register_ocx
from ocx.identity.validate import service_auth
from ocx.sim.control import make_control_app
from tests.conftest import start_sim
from tests.integration.gateway.conftest import _describe

MISSING = "X-OCX-Missing-Providers"
SERVICES = ("keystone", "nova", "cinder", "glance", "neutron")


class Env:
    def __init__(self, sim, url: str, control: str, clouds: dict, conf_path: str) -> None:
        self.sim, self.url, self.control, self.clouds = sim, url, control, clouds
        self.conf_path = conf_path

    def connect(self, cloud: str = "ocx", user: str = "demo") -> openstack.connection.Connection:
        entry = self.clouds[cloud]
        auth = dict(entry["auth"])
        if user != "demo":
            creds = self.sim.credentials(cloud if cloud != "ocx" else "home", user)
            auth.update(username=user, password=creds["password"], project_name=creds["project"])
        return openstack.connection.Connection(
            region_name=entry["region_name"], interface=entry["interface"],
            identity_api_version="3", **auth)

    def assertions(self, sp: str) -> int:
        """SAML assertions home has issued for ``sp``: one per K2K exchange."""
        return self.sim.cloud("home").keystone.federation.assertions[sp]


@pytest.fixture(scope="module")
def env() -> Iterator[Env]:
    for sim in start_sim("home,sp1,sp2,sp3"):
        described = _describe(sim)
        home = sim.cloud("home").keystone.federation
        sp3 = home.service_providers.pop("sp3")   # registered later, by the operator
        with tempfile.TemporaryDirectory(prefix="ocx-test-") as state:
            path = os.path.join(state, "ocx.conf")
            text = gateway_config(described, free_port(), state).replace(
                "providers = sp1, sp2, sp3",
                "providers = sp1\ndiscovery_interval = 1\nhealth_probe_interval = 0.2")
            with open(path, "w") as f:
                f.write(text)
            conf = config.load(path)
            url = config.public_url(conf)

            async def start():
                context = gateway(conf, notifications=False)
                app = await context.__aenter__()
                runner = web.AppRunner(app, access_log=None)
                await runner.setup()
                await web.TCPSite(runner, conf.bind_host, conf.bind_port).start()
                await register_ocx(ksa.session(10, service_auth(conf)), conf.keystone.auth_url,
                                   url)
                control = web.AppRunner(make_control_app(sim.exchange), access_log=None)
                await control.setup()
                site = web.TCPSite(control, "127.0.0.1", 0)
                await site.start()
                port = site._server.sockets[0].getsockname()[1]
                return context, runner, control, f"http://127.0.0.1:{port}/sim"

            context, runner, control, control_url = sim.call(start())
            environment = Env(sim, url, control_url, clouds_yaml(described, url)["clouds"],
                              path)
            environment.sp3 = sp3
            try:
                yield environment
            finally:
                async def stop():
                    await control.cleanup()
                    await runner.cleanup()
                    await context.__aexit__(None, None, None)
                sim.call(stop())


def providers_view(env: Env) -> dict[str, dict]:
    admin = env.connect("ocx", user="admin")
    resp = requests.get(f"{env.url}/ocx/v1/providers",
                        headers={"X-Auth-Token": admin.session.get_token()}, timeout=30)
    assert resp.status_code == 200, resp.text
    return {p["name"]: p for p in resp.json()["providers"]}


def until(check, what: str, timeout: float = 30.0):
    """Poll ``check()`` until it gives something true (OCX's tasks run on their own)."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"never happened: {what}")
        time.sleep(0.1)


def volume_list(env: Env, conn) -> requests.Response:
    return requests.get(f"{env.url}/volume/v3/{conn.current_project_id}/volumes",
                        headers={"X-Auth-Token": conn.session.get_token()}, timeout=60)


def test_the_pinned_and_the_discovered_providers_are_used_from_the_start(env):
    view = providers_view(env)
    assert [(n, p["source"]) for n, p in view.items()] == [
        ("home", "home"), ("sp1", "configured"), ("sp2", "discovered")]
    assert all(p["state"] == "up" for p in view.values())


def test_only_an_admin_sees_the_providers(env):
    demo = env.connect("ocx")
    resp = requests.get(f"{env.url}/ocx/v1/providers",
                        headers={"X-Auth-Token": demo.session.get_token()}, timeout=30)
    assert resp.status_code == 403
    assert requests.get(f"{env.url}/ocx/v1/providers", timeout=30).status_code == 401


def test_a_service_provider_added_at_home_is_used_without_restarting_ocx(env):
    sim = env.sim
    made = env.connect("sp3").block_storage.create_volume(size=1, name="newcomer")
    conn = env.connect("ocx")
    assert made.id not in {v["id"] for v in volume_list(env, conn).json()["volumes"]}
    # The operator registers sp3 at home, as home's admin, with the real client.
    sim.osc("service", "provider", "create", "--auth-url", env.sp3["auth_url"],
            "--service-provider-url", env.sp3["sp_url"], "--enable", "sp3",
            cloud="home", user="admin")
    until(lambda: "sp3" in providers_view(env), "sp3 discovered")
    listed = volume_list(env, conn)
    assert listed.status_code == 200 and MISSING not in listed.headers
    assert made.id in {v["id"] for v in listed.json()["volumes"]}
    assert conn.block_storage.get_volume(made.id).name == "newcomer"   # found, mapped

    # Disabled at home: no longer called; what OCX learnt of it is left as it is.
    sim.osc("service", "provider", "set", "--disable", "sp3", cloud="home", user="admin")
    until(lambda: "sp3" not in providers_view(env), "sp3 no longer used")
    sim.cloud("sp3").calls.clear()
    listed = volume_list(env, conn)
    assert listed.status_code == 200 and MISSING not in listed.headers
    assert made.id not in {v["id"] for v in listed.json()["volumes"]}
    assert sim.cloud("sp3").call_counts() == {}
    mappings = env.sim.call(_mapping_of(env, made.id))
    assert mappings == "sp3"


async def _mapping_of(env: Env, volume_id: str) -> str | None:
    from ocx.store import MappingStore
    from ocx.store.location import store_keys, store_url

    conf = config.load(env.conf_path)
    async with await MappingStore.open(store_url(conf), store_keys(conf), cache_size=0) as store:
        found = await store.get_resource_mapping("volumes", volume_id)
    return found.provider if found else None


def test_after_a_providers_keystone_forgets_every_token_the_next_call_just_works(env):
    made = env.connect("sp1").block_storage.create_volume(size=1, name="steady")
    conn = env.connect("ocx")
    assert conn.block_storage.get_volume(made.id).name == "steady"
    before = env.assertions("sp1")
    resp = requests.post(f"{env.control}/clouds/sp1/keystone/restart", timeout=30)
    assert resp.status_code == 200 and resp.json()["tokens_forgotten"] > 0
    # The same token at home (a plain client that would not log in again on a 401): OCX's
    # token at sp1 is gone there.
    shown = requests.get(f"{env.url}/volume/v3/{conn.current_project_id}/volumes/{made.id}",
                         headers={"X-Auth-Token": conn.session.get_token()}, timeout=60)
    assert shown.status_code == 200, shown.text
    assert shown.json()["volume"]["name"] == "steady"
    listed = volume_list(env, conn)
    assert listed.status_code == 200 and MISSING not in listed.headers
    assert made.id in {v["id"] for v in listed.json()["volumes"]}
    assert env.assertions("sp1") == before + 1      # one fresh exchange, not one per call


def test_a_caller_whose_own_token_is_bad_still_gets_401(env):
    conn = env.connect("ocx")
    resp = requests.get(f"{env.url}/volume/v3/{conn.current_project_id}/volumes",
                        headers={"X-Auth-Token": "gAAAAA" + "x" * 120}, timeout=30)
    assert resp.status_code == 401


def test_a_provider_stopped_mid_run_is_down_skipped_and_comes_back(env):
    sim = env.sim
    made = env.connect("sp2").block_storage.create_volume(size=1, name="patient")
    conn = env.connect("ocx")
    assert made.id in {v["id"] for v in volume_list(env, conn).json()["volumes"]}
    project = conn.current_project_id
    token = conn.session.get_token()

    async def stop(down: bool):
        for service in SERVICES:
            await sim.cloud("sp2").set_down(service, down)

    sim.call(stop(True))
    try:
        first = volume_list(env, conn)
        assert first.status_code == 200 and first.headers[MISSING] == "sp2"
        sp2 = providers_view(env)["sp2"]
        assert sp2["state"] == "down" and sp2["since"] and "cannot be reached" in sp2["last_error"]
        # Skipped at once: not even tried, the search says so.
        again = volume_list(env, conn)
        assert again.status_code == 200 and again.headers[MISSING] == "sp2"
        lost = requests.get(f"{env.url}/volume/v3/{project}/volumes/nowhere",
                            headers={"X-Auth-Token": token}, timeout=30)
        assert lost.status_code == 502
        assert "sp2: is down" in lost.json()["computeFault"]["message"]
        table = sim_cli(env, "providers", "-f", "json")
        shown = {p["name"]: p for p in table}
        assert shown["sp2"]["state"] == "down" and shown["sp2"]["source"] == "discovered"
    finally:
        sim.call(stop(False))
    until(lambda: providers_view(env)["sp2"]["state"] == "up", "sp2 probed back in")
    back = volume_list(env, conn)
    assert back.status_code == 200 and MISSING not in back.headers
    assert made.id in {v["id"] for v in back.json()["volumes"]}


def sim_cli(env: Env, *args: str):
    import json
    import subprocess
    import sys

    ocx = os.path.join(os.path.dirname(sys.executable), "ocx")
    proc = subprocess.run([ocx, *args, "--config", env.conf_path], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)
