"""Seed 000's topology for using resources of different clouds together.

Four simulated clouds: ``home`` (the K2K identity provider), ``sp1`` (with Nova), ``sp2``
(Cinder and Glance), ``sp3``. Two OCXs: the user's (home Keystone, every cloud a provider), and
sp1's own, standing where sp1's Nova calls Cinder and Glance (sp1's Keystone is its home; it
reaches sp2 and sp3 only with the mappings the user's OCX injects). The two are peers with a
shared secret.
"""
from __future__ import annotations

import contextlib
import secrets
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import openstack
import pytest
from aiohttp import web

from ocx import config
from ocx.api.server import gateway
from ocx.demo import free_port
from ocx.identity import ksa
from ocx.identity.catalog import register_ocx
from ocx.identity.validate import service_auth
from tests.conftest import Sim, start_sim

CLOUDS = "home,sp1,sp2=cinder+glance,sp3"


@dataclass
class Gateway:
    url: str
    conf: object


@dataclass
class Exchange:
    sim: Sim
    user_ocx: Gateway
    sp1_ocx: Gateway
    secret: str

    def connect(self, cloud: str = "ocx", user: str = "demo") -> openstack.connection.Connection:
        """``ocx``: home's demo user through the user's OCX; a cloud's name: straight there."""
        if cloud == "ocx":
            return openstack.connection.Connection(
                region_name="RegionOne", interface="public",
                **self.sim.auth_args("home", user))
        interface = "internal" if cloud == "home" else "public"
        return openstack.connection.Connection(region_name="RegionOne", interface=interface,
                                               **self.sim.auth_args(cloud, user))


def _config(sim: Sim, home: str, port: int, state: Path, lines: list[str]) -> str:
    service = sim.credentials(home, "ocx")
    return "\n".join([
        "[DEFAULT]", "bind_host = 127.0.0.1", f"bind_port = {port}", f"state_dir = {state}",
        *lines, "",
        "[keystone]", f"auth_url = {sim.cloud(home).keystone.endpoint}", "username = ocx",
        f"password = {service['password']}", f"project_name = {service['project']}",
        "home_interface = internal", ""])


@contextlib.contextmanager
def running(sim: Sim, text: str, state: Path, *, catalog: bool) -> Iterator[Gateway]:
    path = state / "ocx.conf"
    path.write_text(text)
    conf = config.load(str(path))
    url = config.public_url(conf)

    async def start():
        context = gateway(conf)
        runner = web.AppRunner(await context.__aenter__(), access_log=None)
        await runner.setup()
        await web.TCPSite(runner, conf.bind_host, conf.bind_port).start()
        if catalog:
            await register_ocx(ksa.session(10, service_auth(conf)), conf.keystone.auth_url, url)
        return context, runner

    context, runner = sim.call(start())
    try:
        yield Gateway(url, conf)
    finally:
        async def stop():
            await runner.cleanup()
            await context.__aexit__(None, None, None)
        sim.call(stop())


@pytest.fixture(scope="module")
def exchange() -> Iterator[Exchange]:
    secret = secrets.token_urlsafe(24)
    user_port, sp1_port = free_port(), free_port()
    for sim in start_sim(CLOUDS):
        with tempfile.TemporaryDirectory(prefix="ocx-mixmatch-") as work:
            work = Path(work)
            (work / "user").mkdir()
            (work / "sp1").mkdir()
            user_text = _config(sim, "home", user_port, work / "user", [
                "providers = sp1, sp2, sp3", "peer_name = user-ocx", "peers = sp1-ocx", "",
                "[peer:sp1-ocx]", f"url = http://127.0.0.1:{sp1_port}", "fronts = sp1",
                f"secret = {secret}"])
            sp1_text = _config(sim, "sp1", sp1_port, work / "sp1", [
                "peers = user-ocx", "",
                "[peer:user-ocx]", f"secret = {secret}", "accept_providers = sp2, sp3",
                "accept_role = admin"])
            with running(sim, sp1_text, work / "sp1", catalog=False) as sp1_ocx, \
                    running(sim, user_text, work / "user", catalog=True) as user_ocx:
                # sp1's Nova reaches Cinder and Glance through sp1's OCX.
                settings = sim.cloud("sp1").settings
                settings["nova.cinder_url"] = f"{sp1_ocx.url}/volume/v3/%(project_id)s"
                settings["nova.glance_url"] = f"{sp1_ocx.url}/image"
                # ...and so does its Cinder, to make a volume from an image of another cloud.
                settings["cinder.glance_url"] = f"{sp1_ocx.url}/image"
                yield Exchange(sim, user_ocx, sp1_ocx, secret)
