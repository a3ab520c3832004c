"""The Gluon port registry against a real etcd: read once, then kept current by its watch."""
from __future__ import annotations

import asyncio
import dataclasses
import shutil
import socket
import subprocess
import tempfile
import uuid

import aetcd
import aiohttp
import orjson
import pytest

from ocx.backends.gluon_registry import GluonRegistry, Malformed, PortBackend
from ocx.sim.exchange import SimExchange, parse_clouds

ETCD = "http://127.0.0.1:2379"
TENANT = "5205b400-fa6c-4a88-8a0b-229200562229"
API = "/proton/net-l3vpn/v1.0"
PORT_BODY = {"tenant_id": TENANT, "mac_address": "c8:2a:14:04:43:80", "admin_state_up": True,
             "status": "ACTIVE", "vnic_type": "normal", "mtu": 1500, "vlan_transparency": False}


async def eventually(check, timeout: float = 20.0):
    """Wait until ``check()`` is truthy (the watch is asynchronous); its last value."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not (result := check()):
        if loop.time() > deadline:
            raise AssertionError("condition not reached")
        await asyncio.sleep(0.05)
    return result


@pytest.fixture
async def etcd():
    async with aetcd.Client(host="127.0.0.1", port=2379) as client:
        yield client


@pytest.fixture
async def proton(prefix):
    specs = [dataclasses.replace(s, settings={"proton.etcd": ETCD, "proton.etcd_prefix": prefix})
             for s in parse_clouds("sp1=proton", seed=5)]
    exchange = SimExchange(specs)
    await exchange.start()
    yield exchange["sp1"].services["proton"].base_url
    await exchange.stop()


async def test_what_is_registered_before_start_is_read(prefix, etcd):
    port_id = str(uuid.uuid4())
    await etcd.put(f"{prefix}{port_id}".encode(), orjson.dumps(
        {"tenant_id": TENANT, "service": "net-l3vpn", "url": "http://127.0.0.1:9/"}))
    async with GluonRegistry(ETCD, prefix) as registry:
        assert registry.lookup(port_id) == PortBackend(port_id, TENANT, "net-l3vpn",
                                                       "http://127.0.0.1:9")
        assert registry.lookup(str(uuid.uuid4())) is None  # a Neutron port
        assert registry.synced and registry.reads == 1


async def test_a_port_created_on_proton_is_seen_through_the_watch_and_gone_when_deleted(
        prefix, proton):
    async with GluonRegistry(ETCD, prefix) as registry, aiohttp.ClientSession() as http:
        assert registry.entries() == {}
        async with http.post(f"{proton}{API}/ports", json=PORT_BODY) as resp:
            port_id = (await resp.json())["id"]
        entry = await eventually(lambda: registry.lookup(port_id))
        assert entry == PortBackend(port_id, TENANT, "net-l3vpn", proton)
        async with http.delete(f"{proton}{API}/ports/{port_id}") as resp:
            assert resp.status == 200
        await eventually(lambda: registry.lookup(port_id) is None)
        assert registry.reads == 1  # the watch told it; etcd was read once


async def test_a_malformed_entry_is_reported_not_guessed(prefix, etcd):
    async with GluonRegistry(ETCD, prefix) as registry:
        port_id = str(uuid.uuid4())
        await etcd.put(f"{prefix}{port_id}".encode(), b'{"tenant_id": "t", "service": "net-l3vpn"}')
        entry = await eventually(lambda: registry.lookup(port_id))
        assert isinstance(entry, Malformed) and "'url'" in entry.reason
        await etcd.put(f"{prefix}{port_id}".encode(), orjson.dumps(
            {"tenant_id": "t", "service": "net-l3vpn", "url": "http://127.0.0.1:9"}))
        await eventually(lambda: isinstance(registry.lookup(port_id), PortBackend))


async def test_keys_beside_the_registry_are_not_ports(prefix, etcd):
    async with GluonRegistry(ETCD, prefix) as registry:
        await etcd.put(f"{prefix}a/b".encode(), b"{}")
        marker = str(uuid.uuid4())
        await etcd.put(f"{prefix}{marker}".encode(), b"{}")
        await eventually(lambda: registry.lookup(marker))  # later key seen: earlier one too
        assert set(registry.entries()) == {marker}


async def test_an_etcd_that_does_not_answer_at_start_is_an_error_naming_it():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{s.getsockname()[1]}"  # bound, not listening
        registry = GluonRegistry(url, timeout=0.5)
        with pytest.raises(ConnectionError, match=url):
            await registry.start()
        assert not registry.synced and registry.lookup(str(uuid.uuid4())) is None
        await registry.stop()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class OwnEtcd:
    """An etcd of the test's own on free loopback ports (the machine's is never stopped)."""

    def __init__(self) -> None:
        self.data_dir = tempfile.mkdtemp(prefix="ocx-proton-etcd-")
        self.client_port, self.peer_port = free_port(), free_port()
        self.url = f"http://127.0.0.1:{self.client_port}"
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        peer = f"http://127.0.0.1:{self.peer_port}"
        self.proc = subprocess.Popen(
            ["etcd", "--name", "ocx-proton-test", "--data-dir", self.data_dir,
             "--listen-client-urls", self.url, "--advertise-client-urls", self.url,
             "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
             "--initial-cluster", f"ocx-proton-test={peer}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=30)
            self.proc = None

    async def ready(self) -> None:
        for _ in range(200):
            try:
                async with aetcd.Client(host="127.0.0.1", port=self.client_port,
                                        timeout=1) as client:
                    await client.get(b"/")
                return
            except Exception:  # noqa: BLE001 - not up yet
                await asyncio.sleep(0.1)
        raise AssertionError("own etcd did not start")


@pytest.fixture
async def own_etcd():
    if shutil.which("etcd") is None:
        pytest.skip("no etcd binary")
    etcd = OwnEtcd()
    etcd.start()
    await etcd.ready()
    yield etcd
    etcd.stop()
    shutil.rmtree(etcd.data_dir, ignore_errors=True)


async def test_an_etcd_restart_is_survived_by_reading_again_and_watching_again(own_etcd):
    prefix = "/gluon/port/"
    port = own_etcd.client_port
    before, after = str(uuid.uuid4()), str(uuid.uuid4())
    value = orjson.dumps({"tenant_id": TENANT, "service": "net-l3vpn", "url": "http://h:1"})
    registry = GluonRegistry(own_etcd.url, prefix, retry_delay=0.1, max_retry_delay=0.5)
    await registry.start()
    try:
        async with aetcd.Client(host="127.0.0.1", port=port) as client:
            await client.put(f"{prefix}{before}".encode(), value)
        await eventually(lambda: registry.lookup(before))

        own_etcd.stop()
        await eventually(lambda: not registry.synced)
        assert registry.lookup(before) is not None  # what was last seen is still answered

        own_etcd.start()
        await own_etcd.ready()
        async with aetcd.Client(host="127.0.0.1", port=port) as client:
            await client.delete(f"{prefix}{before}".encode())
            await client.put(f"{prefix}{after}".encode(), value)
        await eventually(lambda: registry.synced and registry.lookup(after))
        await eventually(lambda: registry.lookup(before) is None)
        assert registry.reads >= 2
    finally:
        await registry.stop()
