"""``ocx demo`` run as a user runs it, and the clients the tests drive it with.

:func:`run_demo` starts ``ocx demo`` in a child process, waits for its ``OCX ready: <url>``
line, and on exit stops it with SIGTERM and checks that it left nothing behind. A
:class:`Demo` reaches every cloud of the ``clouds.yaml`` the demo wrote: with openstacksdk
(:meth:`Demo.connect`, optionally sending the provider header through OCX) and with the real,
unmodified ``openstack`` command (:meth:`Demo.openstack`).
"""
from __future__ import annotations

import contextlib
import json
import os
import re
import select
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import openstack
import requests
from keystoneauth1 import session as ksa_session
from openstack import config as os_config
from openstack import exceptions as os_exc

OPENSTACK = Path(sys.executable).with_name("openstack")
READY = re.compile(r"^OCX ready: (\S+)$")
START_TIMEOUT = 90


class Demo:
    def __init__(self, directory: Path, url: str) -> None:
        self.directory = directory
        self.url = url
        self.clouds_yaml = directory / "clouds.yaml"
        self.described = json.loads((directory / "ocx-demo.json").read_text())
        self._config = os_config.OpenStackConfig(config_files=[str(self.clouds_yaml)])

    def connect(self, cloud: str, headers: dict[str, str] | None = None
                ) -> openstack.connection.Connection:
        """openstacksdk for a cloud of clouds.yaml; ``headers`` go with every call (through a
        keystoneauth1 Session, as a client that names a provider sends them)."""
        region = self._config.get_one(cloud)
        if not headers:
            return openstack.connection.Connection(config=region)
        session = ksa_session.Session(auth=region.get_auth(), additional_headers=headers)
        return openstack.connection.Connection(
            session=session, region_name=region.region_name,
            interface=region.get_interface(), identity_api_version="3")

    def openstack(self, cloud: str, *commands: str) -> list[dict]:
        """Run ``commands`` in one ``openstack`` process for ``cloud`` and return the JSON
        documents they print, in order.

        The command reads them from stdin (its interactive mode), so a batch costs one start of
        the client instead of one each. The cloud is chosen with ``OS_CLOUD``, the variable
        ``--os-cloud`` stands for (given on the command line it would be read as a command to
        run). Anything on stderr is a failed command.
        """
        env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
        env.update(OS_CLIENT_CONFIG_FILE=str(self.clouds_yaml), OS_CLOUD=cloud)
        proc = subprocess.run([str(OPENSTACK)], input="\n".join(commands) + "\n", env=env,
                              capture_output=True, text=True, timeout=300)
        if proc.stderr.strip():
            raise AssertionError(f"openstack --os-cloud {cloud} failed:\n{proc.stderr}")
        return list(_json_documents(proc.stdout))

    def calls(self, cloud: str) -> dict:
        """Calls ``cloud`` received since the last reset: service → method → count."""
        resp = requests.get(f"{self.described['control']}/clouds/{cloud}/calls", timeout=10)
        resp.raise_for_status()
        return resp.json()

    def reset_calls(self, cloud: str) -> None:
        requests.delete(f"{self.described['control']}/clouds/{cloud}/calls",
                        timeout=10).raise_for_status()


def _json_documents(text: str) -> Iterator[dict]:
    decoder = json.JSONDecoder()
    at = 0
    while True:
        while at < len(text) and text[at].isspace():
            at += 1
        if at == len(text):
            return
        document, at = decoder.raw_decode(text, at)
        yield document


def _read_line(stream, deadline: float) -> str:
    if not select.select([stream], [], [], max(0.0, deadline - time.monotonic()))[0]:
        raise TimeoutError
    return stream.readline()


def _refused(url: str) -> bool:
    parts = urlsplit(url)
    try:
        socket.create_connection((parts.hostname, parts.port), timeout=2).close()
    except OSError:
        return True
    return False


@contextlib.contextmanager
def run_demo(directory: Path) -> Iterator[Demo]:
    """``ocx demo --clouds-yaml DIRECTORY/clouds.yaml`` until the block ends.

    On exit the demo gets SIGTERM; it must exit 0, with every simulated service gone and its
    private working directory removed.
    """
    log_path = directory / "demo.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "ocx.cli", "demo", "--clouds-yaml",
             str(directory / "clouds.yaml")],
            stdout=subprocess.PIPE, stderr=log, text=True, cwd=directory)
    try:
        deadline = time.monotonic() + START_TIMEOUT
        line = ""
        try:
            while not READY.match(line.strip()):
                line = _read_line(proc.stdout, deadline)
                if not line and proc.poll() is not None:
                    raise AssertionError(f"ocx demo exited with {proc.returncode}:\n"
                                         f"{log_path.read_text()[-3000:]}")
        except TimeoutError:
            raise AssertionError(f"ocx demo did not get ready:\n"
                                 f"{log_path.read_text()[-3000:]}") from None
        demo = Demo(directory, READY.match(line.strip()).group(1))
        yield demo
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                raise AssertionError("ocx demo did not stop on SIGTERM") from None
        proc.stdout.close()
    assert proc.returncode == 0, log_path.read_text()[-3000:]
    # A service has one URL, or one per server (a landlord's SDN controllers).
    assert all(_refused(url) for services in demo.described["services"].values()
               for urls in services.values()
               for url in (urls if isinstance(urls, list) else [urls])), \
        "a simulated service outlived ocx demo"
    assert _refused(demo.url), "OCX outlived ocx demo"
    assert not Path(demo.described["config"]).parent.exists(), \
        "ocx demo left its working directory (with the service password) behind"


def wait_until_gone(fetch: Callable[[str], object], resource_id: str, timeout: float = 20) -> None:
    """Poll ``fetch(resource_id)`` until it raises NotFound (a deleting server or volume takes
    a moment to go)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            fetch(resource_id)
        except os_exc.NotFoundException:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"{resource_id} is still there after {timeout} s")
        time.sleep(0.05)
