"""One world for the whole folder: OCX as ``ocx serve --workers 2`` in front of three
simulated clouds, on dependencies of the tests' own (``services.py``) that the tests stop and
start while clients call OCX from several threads (``traffic.py``):

- the mapping store is a PostgreSQL server of the folder's own;
- the Gluon port registry is an etcd of its own, written by sp1's Proton server;
- sp1's services publish their notifications to a RabbitMQ virtual host of its own, which
  OCX listens to (``listen_notifications``);
- the clouds run in this process (their faults switched directly); home is the K2K identity
  provider, sp1 and sp2 its service providers.

Several users in two projects of home call OCX; what OCX acknowledged is read back from the
store after each fault (:meth:`World.stored`).
"""
from __future__ import annotations

import dataclasses
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import openstack
import pytest
from keystoneauth1 import session as ks_session
from keystoneauth1.identity import v3

from ocx import config
from ocx.demo import free_port, gateway_config
from ocx.identity import ksa
from ocx.identity.catalog import register_ocx
from ocx.identity.validate import service_auth
from ocx.sim.exchange import ExchangeThread, SimExchange, parse_clouds
from ocx.sim.notify import Notifier
from ocx.store import MappingStore, token_hash
from ocx.store.location import store_keys, store_url
from tests.conftest import Sim
from tests.integration.gateway.conftest import _describe

from .services import OwnEtcd, OwnPostgres, OwnVhost

CLOUDS = "home,sp1=nova+cinder+glance+neutron+proton,sp2"
GLUON_PREFIX = "/gluon/port/"
# OCX's time limits in this folder; every answer must come within them (CLIENT_TIMEOUT is
# what the clients wait before calling it a hang).
OCX_LIMITS = {"call_timeout": 6, "connect_timeout": 1, "listing_timeout": 3,
              "health_probe_interval": 0.2, "readiness_timeout": 1}
STORE_TIMEOUT = 2
CLIENT_TIMEOUT = 30
# Users of home calling OCX: (user, project).
USERS = (("alice", "demo"), ("bob", "demo"), ("carol", "blue"), ("dave", "blue"))
PASSWORD = "faults-pass-1"


@dataclass(frozen=True)
class User:
    name: str
    project: str
    auth_url: str

    def session(self, timeout: float = CLIENT_TIMEOUT) -> ks_session.Session:
        return ks_session.Session(auth=v3.Password(
            auth_url=self.auth_url, username=self.name, password=PASSWORD,
            project_name=self.project, user_domain_name="Default",
            project_domain_name="Default"), timeout=timeout)

    def connect(self, timeout: float = CLIENT_TIMEOUT) -> openstack.connection.Connection:
        """openstacksdk through OCX (home's public endpoints are OCX's); no retries."""
        return openstack.connection.Connection(
            session=self.session(timeout), region_name="RegionOne", interface="public",
            connect_retries=0, status_code_retries=0)


class OcxServe:
    """``ocx serve --config PATH [args]`` in a child process; its output in files."""

    def __init__(self, config_path: Path, *args: str) -> None:
        self.config_path = config_path
        self.args = args
        self.conf = config.load(str(config_path))
        self.url = config.public_url(self.conf)
        folder = config_path.parent
        self.stdout_path = folder / f"{config_path.stem}.stdout"
        self.stderr_path = folder / f"{config_path.stem}.stderr"
        with open(self.stdout_path, "wb") as out, open(self.stderr_path, "wb") as err:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "ocx.cli", "serve", "--config", str(config_path), *args],
                stdout=out, stderr=err)
        deadline = time.monotonic() + 90
        while b"OCX ready: " not in self.stdout_path.read_bytes():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.kill()
                raise AssertionError(f"ocx serve did not start:\n{self.output()[-3000:]}")
            time.sleep(0.05)

    def output(self) -> str:
        return (self.stdout_path.read_text(errors="replace")
                + self.stderr_path.read_text(errors="replace"))

    def terminate(self, timeout: float = 60) -> int:
        """SIGTERM, as an orchestrator stops it; its exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError("ocx serve did not stop on SIGTERM") from None

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@dataclass
class World:
    sim: Sim
    pg: OwnPostgres
    etcd: OwnEtcd
    vhost: OwnVhost
    state: Path
    users: tuple[User, ...]
    ocx: OcxServe | None = None

    @property
    def conf(self):
        return self.ocx.conf

    def write_config(self, name: str, **defaults) -> Path:
        """An OCX configuration over the world's clouds and dependencies; ``defaults`` are
        more ``[DEFAULT]`` options. Every OCX of the folder shares the store (and its key)."""
        described = _describe(self.sim)
        options = {**OCX_LIMITS, "listen_notifications": "true", **defaults}
        text = gateway_config(described, free_port(), self.state)
        lines = "".join(f"{k} = {v}\n" for k, v in options.items())
        text = text.replace("[DEFAULT]\n", f"[DEFAULT]\n{lines}", 1)
        text += (f"\n[store]\nurl = {self.pg.url}\ntimeout = {STORE_TIMEOUT}\n"
                 f"\n[gluon]\netcd_url = {self.etcd.url}\nkey_prefix = {GLUON_PREFIX}\n"
                 f"\n[provider:sp1]\nnotifications_url = {self.vhost.url}\n"
                 "\n[notifications]\nreconnect_max = 1\n")
        path = self.state / f"{name}.conf"
        path.touch(mode=0o600)
        path.write_text(text)
        return path

    def serve(self, name: str, *args: str, **defaults) -> OcxServe:
        """Start an OCX and put it in home's catalog."""
        return self.to_catalog(OcxServe(self.write_config(name, **defaults), *args))

    def serve_again(self, stopped: OcxServe) -> OcxServe:
        """Start a stopped OCX again, as it was (same configuration, port and store)."""
        return self.to_catalog(OcxServe(stopped.config_path, *stopped.args))

    def to_catalog(self, ocx: OcxServe) -> OcxServe:
        """Point home's public endpoints at ``ocx``, as ``ocx catalog`` does."""
        self.sim.call(register_ocx(ksa.session(10, service_auth(ocx.conf)),
                                   ocx.conf.keystone.auth_url, ocx.url))
        return ocx

    # -- the simulated clouds' faults (changed on their loop, as the control routes do) -----

    def set_faults(self, cloud: str, *, latency_ms: float | None = None,
                   error_rate: float | None = None, down: dict[str, bool] | None = None,
                   service: str = "*") -> None:
        target = self.sim.cloud(cloud)

        async def change():
            if latency_ms is not None:
                target.faults.latency_ms[service] = latency_ms
            if error_rate is not None:
                target.faults.error_rate[service] = error_rate
            for name, is_down in (down or {}).items():
                await target.set_down(name, is_down)
        self.sim.call(change())

    def clear_faults(self, cloud: str) -> None:
        target = self.sim.cloud(cloud)

        async def clear():
            target.faults.latency_ms.clear()
            target.faults.error_rate.clear()
            for name in list(target.faults.down):
                await target.set_down(name, False)
        self.sim.call(clear())

    def local_user(self, cloud: str, project: str) -> openstack.connection.Connection:
        """A user of ``cloud`` itself, in a project of its own there (one OCX's users never
        land in): straight to that cloud, not through OCX."""
        keystone = self.sim.cloud(cloud).keystone
        name = f"{project}-user"

        async def add() -> None:
            project_id = keystone.create_project(project)
            uid = keystone.create_user(name, PASSWORD, default_project=project_id)
            keystone.assign_role("user", uid, project_id, keystone.role_id("member"))
        self.sim.call(add())
        return openstack.connection.Connection(
            auth_url=keystone.endpoint, username=name, password=PASSWORD, project_name=project,
            user_domain_name="Default", project_domain_name="Default",
            region_name="RegionOne", identity_api_version="3", interface="public")

    def restart_keystone(self, cloud: str) -> int:
        return self.sim.call(self.sim.cloud(cloud).keystone.restart())

    # -- what the store holds ----------------------------------------------------------------

    def stored(self, resources: list[tuple[str, str]],
               tokens: list[tuple[str, str, str]] = ()) -> tuple[dict, dict]:
        """Resource mappings by (type, id) and token mappings by (token, project, provider)
        as the store holds them now (read by a store of our own: no cache)."""
        conf = self.conf

        async def read():
            store = await MappingStore.open(store_url(conf), store_keys(conf), cache_size=0)
            try:
                found = {key: await store.get_resource_mapping(*key) for key in resources}
                held = {key: await store.get_token_mapping(token_hash(key[0]), key[1], key[2])
                        for key in tokens}
                return found, held
            finally:
                await store.close()
        return self.sim.call(read())


def _add_users(sim: Sim) -> tuple[User, ...]:
    keystone = sim.cloud("home").keystone

    async def add() -> None:
        member = keystone.role_id("member")
        for name, project in USERS:
            project_id = keystone.find_project(project) or keystone.create_project(project)
            uid = keystone.create_user(name, PASSWORD, default_project=project_id)
            keystone.assign_role("user", uid, project_id, member)
    sim.call(add())
    return tuple(User(name, project, keystone.endpoint) for name, project in USERS)


def _gluon_setup(world: World) -> None:
    """The dummy network and subnet Gluon ports hang on, as ``ocx gluon setup`` makes them."""
    from ocx.admin import gluon

    conf = world.conf
    neutron = gluon.HomeNeutron(ksa.session(10, service_auth(conf)),
                                conf.keystone.home_interface, conf.keystone.region_name)
    gluon.setup(neutron, conf.gluon)


@pytest.fixture(scope="package")
def world() -> Iterator[World]:
    pg, etcd, vhost = OwnPostgres(), OwnEtcd(), OwnVhost()
    try:
        pg.start()
        etcd.start()
        specs = [dataclasses.replace(s, settings={**s.settings, "proton.etcd": etcd.url,
                                                  "proton.etcd_prefix": GLUON_PREFIX})
                 if s.name == "sp1" else s for s in parse_clouds(CLOUDS, seed=12)]
        exchange = SimExchange(specs)
        exchange["sp1"].notifier = Notifier(vhost.url, "sp1")
        runner = ExchangeThread(exchange)
        with runner, tempfile.TemporaryDirectory(prefix="ocx-faults-") as state:
            sim = Sim(runner, exchange)
            world = World(sim, pg, etcd, vhost, Path(state), _add_users(sim))
            world.ocx = world.serve("ocx", "--workers", "2")
            try:
                _gluon_setup(world)
                yield world
            finally:
                world.ocx.terminate()
    finally:
        vhost.delete()
        etcd.destroy()
        pg.destroy()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """A failed test's report ends with what OCX logged (its warnings and errors)."""
    outcome = yield
    report = outcome.get_result()
    world = item.funcargs.get("world") if hasattr(item, "funcargs") else None
    if report.when == "call" and report.failed and world is not None and world.ocx:
        lines = [line for line in world.ocx.output().splitlines()
                 if " WARNING " in line or " ERROR " in line or "Error" in line
                 or "ocx.learn" in line]
        report.sections.append(("OCX's warnings and errors", "\n".join(lines[-60:])))
