"""OCX in front of the real clouds: A's Keystone as home, B as its K2K service provider.

OCX gets a service user of its own in A (the admin role in A's service project: it validates
tokens and edits the catalog, as an operator's service user does), runs as ``ocx serve`` in a
process of its own, and is put in A's catalog in a region of its own, ``OCX``: a client that
names that region goes through OCX, the services themselves (and OCX) keep using RegionOne.
A's OCX listens on the port A's layout has for it: A's Nova reaches Glance and Cinder there.
"""
from __future__ import annotations

import asyncio
import os
import re
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

import openstack
from keystoneauth1 import session as ks_session
from keystoneauth1.identity import v3

from ocx.demo import free_port
from ocx.identity.catalog import register_ocx

from . import configs
from .federation import OCX_USER
from .layout import REGION
from .procs import die_with_parent

OCX_REGION = "OCX"
# The Gluon port registry (scripts/ensure-services runs etcd there, like RabbitMQ).
ETCD_URL = os.environ.get("OCX_TEST_ETCD_URL", "http://127.0.0.1:2379")
# OCX's one line per call (ocx.api.app, oslo.log's form), its context first:
# [global_request_id request_id user project] "GET /path" status: 200 ...
CALL_LINE = re.compile(r' ocx\.api\.app \[(\S+) (\S+) [^\]]*\] "([A-Z]+) (\S+)" status: (\d{3}) ')


class RealOcx:
    """``ocx serve`` for A's users (and Nova): ``.url``, ``.connect(user)``, ``.calls()``,
    ``.stop()``. Each has a service user of its own (``user``, made anew); one registered at a
    time in a region (OCX unless told)."""

    def __init__(self, clouds, state_dir: Path, port: int | None = None, *,
                 user: str = OCX_USER, pinned: bool = True, register: bool = True,
                 region: str = OCX_REGION, notifications_url: str | None = None,
                 providers: tuple[str, ...] = (),
                 sections: dict[str, dict[str, str]] | None = None) -> None:
        """``pinned``: B named in ``providers`` (else OCX finds it at A's Keystone alone);
        ``register``: OCX's endpoints in A's catalog, in ``region``; ``notifications_url``:
        where B's services notify (OCX listens); ``providers``: more providers (their
        ``[provider:NAME]`` in ``sections``); ``sections``: more settings, by section."""
        self.clouds = clouds
        self.state_dir = state_dir
        state_dir.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        password = secrets.token_urlsafe(16)
        admin = ks_session.Session(auth=v3.Password(**clouds.auth(clouds.a)))
        _service_user(admin, clouds.a.keystone_url, user, password)
        self.config_path = state_dir / "ocx.conf"
        lines = ["[DEFAULT]", "bind_host = 127.0.0.1", f"bind_port = {self.port}",
                 f"state_dir = {state_dir}"]
        named = ([clouds.sp_id] if pinned else []) + list(providers)
        if named:
            lines.append(f"providers = {', '.join(named)}")
        if notifications_url:
            lines.append("listen_notifications = true")
        lines += ["", "[keystone]", f"auth_url = {clouds.a.keystone_url}", f"username = {user}",
                  f"password = {password}", "project_name = service",
                  f"region_name = {REGION}", "home_interface = internal", ""]
        if notifications_url:
            lines += [f"[provider:{clouds.sp_id}]", f"notifications_url = {notifications_url}",
                      ""]
        self.sections = sections or {}
        self.registered: list = []   # the catalog's changes (ocx.identity.catalog.Change)
        for section, values in self.sections.items():
            lines += [f"[{section}]", *(f"{k} = {v}" for k, v in values.items()), ""]
        self.config_path.write_text("\n".join(lines))
        self.log = state_dir / "ocx.log"
        with open(self.log, "wb") as out:
            # Like the services: it goes when the harness does, even a killed one.
            self.proc = subprocess.Popen([sys.executable, "-m", "ocx.cli", "serve", "--config",
                                          str(self.config_path)], stdout=out, stderr=out,
                                         stdin=subprocess.DEVNULL, preexec_fn=die_with_parent)
        try:
            self._wait_ready()
            if register:
                _region(admin, clouds.a.keystone_url, region)
                self.registered = asyncio.run(register_ocx(admin, clouds.a.keystone_url,
                                                           self.url, region))
        except BaseException:
            self.stop()
            raise

    def _wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while b"OCX ready: " not in self.log.read_bytes():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError("ocx serve did not start:\n"
                                     + self.log.read_text(errors="replace")[-4000:])
            time.sleep(0.05)

    def connect(self, user: str = "demo") -> openstack.connection.Connection:
        """openstacksdk as A's user makes it, with OCX's region: every call goes through OCX."""
        return openstack.connection.Connection(region_name=OCX_REGION,
                                               **self.clouds.auth(self.clouds.a, user))

    def log_size(self) -> int:
        """Where OCX's log ends now: ``calls(since=...)`` gives those logged after it."""
        return self.log.stat().st_size

    def calls(self, since: int = 0) -> list[str]:
        """The calls OCX answered, as it logged them ("GET /image/v2/images/ID 200")."""
        return [call for call, _ in self._logged_calls(since)]

    def passed_on(self, since: int, call: str) -> list[str]:
        """The request ids OCX sent the providers for each ``call`` ("POST /path 202") logged
        after ``since``: the caller's global id, else OCX's own (see ocx/logs.py)."""
        return [sent for logged, sent in self._logged_calls(since) if logged == call]

    def _logged_calls(self, since: int) -> list[tuple[str, str]]:
        """(call, the request id passed on) for each call logged after ``since``."""
        with open(self.log, "rb") as log:
            log.seek(since)
            lines = log.read().decode(errors="replace").splitlines()
        return [(" ".join(found.groups()[2:]),
                 found[1] if found[1] != "-" else found[2])
                for line in lines if (found := CALL_LINE.search(line))]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def _service_user(admin: ks_session.Session, keystone: str, name: str, password: str) -> None:
    """``name`` with ``password`` and the admin role in the project ``service`` (made anew)."""
    project = admin.get(f"{keystone}/projects", params={"name": "service"}).json()["projects"][0]
    found = admin.get(f"{keystone}/users", params={"name": name}).json()["users"]
    if found:
        user = found[0]
        admin.patch(f"{keystone}/users/{user['id']}", json={"user": {"password": password}})
    else:
        user = admin.post(f"{keystone}/users", json={"user": {
            "name": name, "password": password, "domain_id": "default",
            "default_project_id": project["id"]}}).json()["user"]
    role = admin.get(f"{keystone}/roles", params={"name": "admin"}).json()["roles"][0]
    admin.put(f"{keystone}/projects/{project['id']}/users/{user['id']}/roles/{role['id']}")


def _region(admin: ks_session.Session, keystone: str, region: str) -> None:
    if admin.get(f"{keystone}/regions/{region}", raise_exc=False).status_code == 404:
        admin.post(f"{keystone}/regions", json={"region": {"id": region}})


def gluon_settings() -> dict[str, str]:
    """``[gluon]`` of A's OCX: the machine's etcd, under a key prefix of this run's own (so
    that runs never see each other's Gluon ports; test_gluon.py removes it)."""
    return {"etcd_url": ETCD_URL,
            "key_prefix": f"/ocx-real-{os.getpid()}-{secrets.token_hex(4)}/gluon/port/"}


def start_ocx_of_a(clouds) -> RealOcx:
    """A's OCX, on A's port for it (where A's Nova reaches Glance, Cinder and Neutron), its
    configuration, store and log in A's run folder; Gluon ports from the machine's etcd."""
    return RealOcx(clouds, clouds.a.dir / "ocx", port=clouds.a.ports["ocx"],
                   notifications_url=configs.notifications_url(clouds.b),
                   sections={"gluon": gluon_settings()})
