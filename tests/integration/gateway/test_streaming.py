"""A 1 GiB image goes up and comes back through OCX intact, and OCX's memory stays bounded.

OCX runs as ``ocx serve`` in a process of its own, so that its peak resident memory (VmHWM) is
its alone; the simulated clouds (home, sp1, sp2) run in the test process. The client is the real
openstacksdk, naming sp1 with the ``X-OCX-Provider`` header on every call.
"""
from __future__ import annotations

import hashlib
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import openstack
import pytest
from keystoneauth1 import session as ks_session
from keystoneauth1.identity import v3

from ocx import config
from ocx.demo import clouds_yaml, free_port, gateway_config
from ocx.identity import ksa
from ocx.identity.catalog import register_ocx
from ocx.identity.validate import service_auth
from tests.conftest import start_sim

GIB = 1 << 30
MIB = 1 << 20
PEAK_MEMORY_LIMIT = 200 * MIB


class OcxProcess:
    """``ocx serve`` in a child process in front of simulated clouds, put in home's catalog.

    Its stdout and stderr go to files in ``state_dir`` (``output()`` reads them back);
    ``verbose`` runs it with ``-v`` (every logger at DEBUG); ``store_url`` sets ``[store] url``
    (default: SQLite in ``state_dir``); ``serve_args`` are more arguments of ``ocx serve``.
    """

    def __init__(self, sim, state_dir: Path, *, verbose: bool = False,
                 store_url: str | None = None, serve_args: tuple[str, ...] = ()) -> None:
        self.sim = sim
        self.state_dir = state_dir
        self.store_url = store_url
        described = {"clouds": {
            name: {"auth_url": c.keystone.endpoint, "region": c.spec.region, "idp": c.spec.idp,
                   "users": c.keystone.demo_credentials(), "endpoints": c.endpoints()}
            for name, c in sim.exchange.clouds.items()}}
        self.config_path = state_dir / "ocx.conf"
        self.config_path.write_text(gateway_config(described, free_port(), state_dir)
                                    + (f"\n[store]\nurl = {store_url}\n" if store_url else ""))
        self.conf = config.load(str(self.config_path))
        self.url = config.public_url(self.conf)
        self.clouds = clouds_yaml(described, self.url)["clouds"]
        self.stdout_path, self.stderr_path = state_dir / "stdout", state_dir / "stderr"
        with open(self.stdout_path, "wb") as out, open(self.stderr_path, "wb") as err:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "ocx.cli", *(["-v"] if verbose else []), "serve",
                 "--config", str(self.config_path), *serve_args], stdout=out, stderr=err)
        try:
            self._wait_ready()
            sim.call(register_ocx(ksa.session(10, service_auth(self.conf)),
                                  self.conf.keystone.auth_url, self.url))
        except BaseException:
            self.stop()
            raise

    def _wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while b"OCX ready: " not in self.stdout_path.read_bytes():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"ocx serve did not start:\n{self.output()}")
            time.sleep(0.05)

    def output(self) -> str:
        """Everything the process wrote so far, stdout then stderr."""
        return (self.stdout_path.read_text(errors="replace")
                + self.stderr_path.read_text(errors="replace"))

    def peak_memory(self) -> int:
        """The process's peak resident set size (VmHWM), in bytes."""
        status = Path(f"/proc/{self.proc.pid}/status").read_text()
        line = next(line for line in status.splitlines() if line.startswith("VmHWM:"))
        return int(line.split()[1]) * 1024  # reported in kB

    def connect(self, cloud: str = "ocx", *, provider: str | None = None
                ) -> openstack.connection.Connection:
        """openstacksdk as a user makes it; ``provider`` is sent as X-OCX-Provider on every call."""
        entry = self.clouds[cloud]
        headers = {"X-OCX-Provider": provider} if provider else {}
        session = ks_session.Session(auth=v3.Password(**entry["auth"]),
                                     additional_headers=headers)
        return openstack.connection.Connection(session=session,
                                               region_name=entry["region_name"],
                                               interface=entry["interface"])

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture(scope="module")
def clouds():
    yield from start_sim("home,sp1,sp2")


@pytest.fixture(scope="module")
def ocx_process(clouds, tmp_path_factory) -> Iterator[OcxProcess]:
    ocx = OcxProcess(clouds, tmp_path_factory.mktemp("ocx-serve"))
    try:
        yield ocx
    finally:
        ocx.stop()


def write_image(path: Path, size: int, chunk: int = MIB) -> str:
    """A file of ``size`` bytes written piece by piece; its sha256.

    Every piece differs (its index leads it), so a piece lost, repeated or reordered on the way
    changes the checksum.
    """
    piece = bytearray(random.Random(7).randbytes(chunk))
    digest = hashlib.sha256()
    with open(path, "wb") as f:
        for index in range(size // chunk):
            piece[:8] = index.to_bytes(8, "big")
            f.write(piece)
            digest.update(piece)
    return digest.hexdigest()


def sha256_of(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(4 * MIB):
            digest.update(chunk)
    return digest.hexdigest()


@pytest.fixture
def scratch(tmp_path) -> Iterator[Path]:
    """A folder for the big files, emptied after the test (pytest keeps its tmp_paths)."""
    yield tmp_path
    for path in tmp_path.iterdir():
        path.unlink()


@pytest.mark.slow
def test_a_1_gib_image_goes_through_ocx_both_ways_intact_in_bounded_memory(
        ocx_process, clouds, scratch):
    at_rest = ocx_process.peak_memory()
    source = scratch / "image.raw"
    checksum = write_image(source, GIB)
    conn = ocx_process.connect("ocx", provider="sp1")

    image = conn.image.create_image("one-gib", filename=str(source), disk_format="raw",
                                    container_format="bare", allow_duplicates=True)
    source.unlink()  # two copies on disk at a time are enough

    # It landed in sp1, whole: the simulated Glance's own file holds the same bytes.
    stored = clouds.cloud("sp1").services["glance"].images[image.id]
    assert (stored.status, stored.size) == ("active", GIB)
    assert sha256_of(stored.data_path) == checksum
    assert ocx_process.connect("sp1").image.get_image(image.id).size == GIB

    # Back through OCX, streamed to a file (openstacksdk checks Glance's sha512 on the way).
    target = scratch / "downloaded.raw"
    conn.image.download_image(image, stream=True, output=str(target))
    assert target.stat().st_size == GIB
    assert sha256_of(target) == checksum
    conn.image.delete_image(image)

    peak = ocx_process.peak_memory()
    assert peak < PEAK_MEMORY_LIMIT, \
        f"OCX peaked at {peak / MIB:.0f} MiB ({at_rest / MIB:.0f} MiB before the transfers)"
