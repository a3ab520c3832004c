"""TLS (issue 12): a CA of the tests' own, OCXs served as ``ocx serve`` serves them (on the
simulated clouds' event loop), and TLS-terminating proxies in front of simulated services.
"""
from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from ocx import config
from ocx.api.server import serve
from ocx.demo import free_port, gateway_config
from ocx.identity import ksa
from ocx.identity.catalog import register_ocx
from ocx.identity.validate import service_auth
from tests.conftest import Sim
from tests.integration.gateway.conftest import _describe

from .pki import Authority, Pair


@dataclass(frozen=True)
class Pki:
    ca: Authority          # the deployment's CA
    server: Pair           # a server certificate it signed (127.0.0.1, localhost)
    client: Pair           # a client certificate it signed
    rogue: Authority       # another CA, that nothing here trusts
    rogue_server: Pair
    rogue_client: Pair


@pytest.fixture(scope="package")
def pki(tmp_path_factory) -> Pki:
    folder = tmp_path_factory.mktemp("pki")
    ca, rogue = Authority(folder, "exchange"), Authority(folder, "rogue")
    return Pki(ca, ca.issue("server", server=True), ca.issue("ocx", server=False), rogue,
               rogue.issue("server", server=True), rogue.issue("ocx", server=False))


def write_config(sim: Sim, state: Path, *, sections: dict[str, dict[str, object]] | None = None
                 ) -> config.cfg.ConfigOpts:
    """An OCX in front of ``sim``'s clouds; ``sections``: options to set, by section (those
    given replace the generated ones)."""
    text = gateway_config(_describe(sim), free_port(), state)
    lines: list[str] = []
    section = None
    sections = sections or {}
    left = dict(sections)
    for line in text.splitlines():
        if line.startswith("["):
            section = line.strip("[]")
        elif line.partition("=")[0].strip() in sections.get(section, ()):
            continue
        lines.append(line)
        if line.startswith("[") and section in left:
            lines += [f"{k} = {v}" for k, v in left.pop(section).items()]
    for name, options in left.items():
        lines += ["", f"[{name}]", *(f"{k} = {v}" for k, v in options.items())]
    path = os.path.join(state, "ocx.conf")
    Path(path).write_text("\n".join(lines) + "\n")
    return config.load(path)


@contextlib.contextmanager
def serving(sim: Sim, conf, *, catalog: bool = False) -> Iterator[str]:
    """``serve(conf)`` while the block runs (put in home's catalog if ``catalog``); its URL."""
    async def start() -> asyncio.Task:
        listening = asyncio.get_running_loop().create_future()
        task = asyncio.create_task(serve(conf, listening.set_result, notifications=False))
        await asyncio.wait({listening, task}, return_when=asyncio.FIRST_COMPLETED)
        if task.done():
            task.result()   # it failed to start: say why
        if catalog:
            await register_ocx(ksa.session(10, service_auth(conf),
                                           tls=config.client_tls(conf)),
                               conf.keystone.auth_url, config.public_url(conf))
        return task

    task = sim.call(start())
    try:
        yield config.public_url(conf)
    finally:
        async def stop() -> None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        sim.call(stop())
