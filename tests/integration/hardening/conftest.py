"""OCX served as ``ocx serve`` serves it (``api.server.serve``: the limits of what it reads,
``/healthz`` and ``/readyz``), in front of three simulated clouds on loopback, once for the
whole folder: the tests here throw what they like at it, and none may break it for the next.

The limits are set low (``LIMITS``) so that going past them costs little.
"""
from __future__ import annotations

import asyncio
import os
import secrets
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass

import openstack
import pytest
import requests

from ocx import config
from ocx.api.server import serve
from ocx.demo import free_port, gateway_config
from ocx.identity import ksa
from ocx.identity.catalog import register_ocx
from ocx.identity.validate import service_auth
from tests.conftest import Sim, start_sim
from tests.integration.gateway.conftest import _describe
from tests.postgres import postgres_url  # noqa: F401 - fixture

LIMITS = {"max_request_line": 4096, "max_header_line": 2048, "max_headers": 32,
          "max_request_body_size": 65536, "readiness_timeout": 2}
# A peer whose injections the folder's OCX takes (signed with ``Hardened.peer_secret``).
PEER = "fuzzpeer"


@dataclass
class Hardened:
    sim: Sim
    url: str
    conf: object
    state_dir: str
    peer_secret: str

    def token(self, cloud: str = "home", user: str = "demo") -> str:
        """A token of the home cloud's user, as a client would get it."""
        return openstack.connection.Connection(identity_api_version="3",
                                               **self.sim.auth_args(cloud, user)
                                               ).session.get_token()

    def project(self, user: str = "demo") -> str:
        return openstack.connection.Connection(identity_api_version="3",
                                               **self.sim.auth_args("home", user)
                                               ).current_project_id

    def get(self, path: str, **kwargs) -> requests.Response:
        return requests.get(self.url + path, **{"timeout": 30, **kwargs})


def write_config(sim: Sim, state: str, options: dict[str, object], extra: str = ""):
    """The configuration of an OCX in front of ``sim``'s clouds with ``state`` its folder and
    ``options`` in [DEFAULT]; ``extra``: sections of its own."""
    path = os.path.join(state, "ocx.conf")
    text = gateway_config(_describe(sim), free_port(), state)
    lines = "".join(f"{name} = {value}\n" for name, value in options.items())
    with open(path, "w") as f:
        f.write(text.replace("[DEFAULT]\n", f"[DEFAULT]\n{lines}", 1) + "\n" + extra)
    return path, config.load(path)


def start_ocx(sim: Sim, conf, *, catalog: bool = True) -> asyncio.Task:
    """``serve(conf)`` on the clouds' event loop, listening (and in home's catalog)."""
    async def start() -> asyncio.Task:
        listening = asyncio.get_running_loop().create_future()
        task = asyncio.create_task(serve(conf, listening.set_result, notifications=False))
        await asyncio.wait({listening, task}, return_when=asyncio.FIRST_COMPLETED)
        if task.done():
            task.result()   # it failed to start: say why
        if catalog:
            await register_ocx(ksa.session(10, service_auth(conf)), conf.keystone.auth_url,
                               config.public_url(conf))
        return task

    return sim.call(start())


def stop_ocx(sim: Sim, task: asyncio.Task) -> None:
    async def stop() -> None:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    sim.call(stop())


@pytest.fixture(scope="package")
def hardened() -> Iterator[Hardened]:
    for sim in start_sim("home,sp1,sp2"):
        with tempfile.TemporaryDirectory(prefix="ocx-hardening-") as state:
            secret = secrets.token_urlsafe(24)
            _, conf = write_config(sim, state, {**LIMITS, "peers": PEER},
                                   f"[peer:{PEER}]\nsecret = {secret}\n"
                                   f"accept_providers = sp1, sp2\n")
            task = start_ocx(sim, conf)
            try:
                yield Hardened(sim, config.public_url(conf), conf, state, secret)
            finally:
                stop_ocx(sim, task)


@pytest.fixture(scope="package")
def hardened_pg(hardened, postgres_url) -> Iterator[Hardened]:
    """A second OCX in front of the same clouds, with the same limits, on PostgreSQL (which
    refuses what SQLite takes: a NUL in a text, for one)."""
    with tempfile.TemporaryDirectory(prefix="ocx-hardening-pg-") as state:
        _, conf = write_config(hardened.sim, state, LIMITS, f"[store]\nurl = {postgres_url}\n")
        task = start_ocx(hardened.sim, conf, catalog=False)
        try:
            yield Hardened(hardened.sim, config.public_url(conf), conf, state, "")
        finally:
            stop_ocx(hardened.sim, task)
