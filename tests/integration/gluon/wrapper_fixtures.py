"""Seed 002's wrapper topology: a home cloud (Keystone, Nova, Neutron...) with OCX in front,
two landlords each running a Proton server (net-l3vpn) that registers its ports in the
machine's real etcd (under a prefix of the tests' own), and OCX reading that registry.

Home's Nova calls Neutron through OCX (``nova.neutron_url``), as a Nova whose Neutron is the
Gluon wrapper does. The wrapper tests' ``wrapper`` fixture runs :func:`world`.
"""
from __future__ import annotations

import contextlib
import dataclasses
import os
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import aetcd
import aiohttp
import openstack
from aiohttp import web

from ocx import config
from ocx.api.server import gateway
from ocx.demo import free_port
from ocx.identity import ksa
from ocx.identity.catalog import register_ocx
from ocx.identity.validate import service_auth
from ocx.sim.exchange import ExchangeThread, SimExchange, parse_clouds
from tests.conftest import Sim

ETCD = "http://127.0.0.1:2379"
CLOUDS = "home,sp1=proton,sp2=proton"
API = "/proton/net-l3vpn/v1.0"


@dataclass
class Wrapper:
    sim: Sim
    ocx_url: str
    config_path: Path
    prefix: str

    def proton_url(self, cloud: str) -> str:
        return self.sim.cloud(cloud).services["proton"].base_url

    def project_id(self, user: str = "demo") -> str:
        keystone = self.sim.cloud("home").keystone
        return keystone.project_id(self.sim.credentials("home", user)["project"])

    def osc(self, *args: str, user: str = "demo", check: bool = True):
        """The real ``openstack`` CLI through OCX (home's public endpoints are OCX's)."""
        return self.sim.osc(*args, cloud="home", user=user, check=check)

    def home(self, user: str = "admin") -> openstack.connection.Connection:
        """Straight to home's own services (their internal endpoints), not through OCX."""
        return openstack.connection.Connection(region_name="RegionOne", interface="internal",
                                               **self.sim.auth_args("home", user))

    def through_ocx(self, user: str = "demo") -> openstack.connection.Connection:
        return openstack.connection.Connection(region_name="RegionOne", interface="public",
                                               **self.sim.auth_args("home", user))

    def proton(self, method: str, cloud: str, path: str, body: dict | None = None):
        """A call to a landlord's Proton server, as its own users make them."""
        async def call():
            async with aiohttp.ClientSession() as http:
                async with http.request(method, f"{self.proton_url(cloud)}{API}/{path}",
                                        json=body) as resp:
                    text = await resp.read()
                    assert resp.status < 300, (resp.status, text)
                    return await resp.json() if text else None
        return self.sim.call(call())

    def make_port(self, cloud: str, name: str, ip: str | None = None,
                  user: str = "demo") -> dict:
        """A Gluon port on a Proton server (its IP from an L3VPN binding, when given)."""
        port = self.proton("POST", cloud, "ports", {
            "tenant_id": self.project_id(user), "name": name,
            "mac_address": "fa:16:3e:%02x:%02x:%02x" % tuple(uuid.uuid4().bytes[:3]),
            "admin_state_up": True, "status": "ACTIVE", "vnic_type": "normal", "mtu": 1500,
            "vlan_transparency": False})
        if ip is not None:
            vpn = self.proton("POST", cloud, "vpns", {"name": f"vpn-{name}",
                                                      "ipv4_family": "1000:1000"})
            self.proton("POST", cloud, "vpnbindings", {
                "interface_id": port["id"], "service_id": vpn["id"], "ipaddress": ip,
                "subnet_prefix": 24})
        return port

    def ocx_cli(self, *args: str) -> subprocess.CompletedProcess:
        env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
        return subprocess.run([sys.executable, "-m", "ocx.cli", *args,
                               "--config", str(self.config_path)],
                              capture_output=True, text=True, timeout=120, env=env)


def _config(sim: Sim, port: int, state: Path, prefix: str) -> str:
    service = sim.credentials("home", "ocx")
    return "\n".join([
        "[DEFAULT]", "bind_host = 127.0.0.1", f"bind_port = {port}", f"state_dir = {state}",
        "discover_providers = false", "",
        "[keystone]", f"auth_url = {sim.cloud('home').keystone.endpoint}", "username = ocx",
        f"password = {service['password']}", f"project_name = {service['project']}",
        "home_interface = internal", "",
        "[gluon]", f"etcd_url = {ETCD}", f"key_prefix = {prefix}", ""])


@contextlib.contextmanager
def _running(sim: Sim, conf) -> Iterator[str]:
    url = config.public_url(conf)

    async def start():
        context = gateway(conf)
        runner = web.AppRunner(await context.__aenter__(), access_log=None)
        await runner.setup()
        await web.TCPSite(runner, conf.bind_host, conf.bind_port).start()
        await register_ocx(ksa.session(10, service_auth(conf)), conf.keystone.auth_url, url)
        return context, runner

    context, runner = sim.call(start())
    try:
        yield url
    finally:
        async def stop():
            await runner.cleanup()
            await context.__aexit__(None, None, None)
        sim.call(stop())


async def _forget(prefix: str) -> None:
    async with aetcd.Client(host="127.0.0.1", port=2379) as etcd:
        await etcd.delete_prefix(prefix.encode())


def world() -> Iterator[Wrapper]:
    """The topology, for a test module's fixture (``yield from world()``)."""
    prefix = f"/ocx-test-{uuid.uuid4().hex[:8]}/gluon/port/"
    specs = [dataclasses.replace(s, settings={**s.settings, "proton.etcd": ETCD,
                                              "proton.etcd_prefix": prefix})
             for s in parse_clouds(CLOUDS, seed=11)]
    exchange = SimExchange(specs)
    runner = ExchangeThread(exchange)
    with runner, tempfile.TemporaryDirectory(prefix="ocx-gluon-") as work:
        sim = Sim(runner, exchange)
        state = Path(work)
        path = state / "ocx.conf"
        path.write_text(_config(sim, free_port(), state, prefix))
        conf = config.load(str(path))
        try:
            with _running(sim, conf) as url:
                # Home's Nova calls Neutron through OCX, as it would the Gluon wrapper.
                sim.cloud("home").settings["nova.neutron_url"] = f"{url}/network"
                world = Wrapper(sim, url, path, prefix)
                setup = world.ocx_cli("gluon", "setup")
                assert setup.returncode == 0, setup.stderr
                yield world
        finally:
            sim.call(_forget(prefix))
