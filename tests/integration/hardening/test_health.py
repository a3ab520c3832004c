"""``GET /healthz`` and ``GET /readyz`` for orchestrators (issue 12): no token needed, a small
JSON body naming each check, 503 naming what failed, within the readiness time limit, and
nothing secret in either answer."""
from __future__ import annotations

import asyncio
import socket
import threading
import types

import aiohttp
import orjson
import pytest
from sqlalchemy.ext.asyncio import create_async_engine

from ocx.api.health_api import Health


def test_healthz_answers_without_a_token(hardened):
    resp = hardened.get("/healthz")
    assert resp.status_code == 200
    assert resp.json() == {"status": "alive"}
    assert resp.headers["Cache-Control"] == "no-store"
    assert hardened.get("/healthz", headers={"X-Auth-Token": "not a token"}).status_code == 200


def test_readyz_names_each_check_that_passed(hardened):
    resp = hardened.get("/readyz")
    assert resp.status_code == 200
    assert resp.json() == {"status": "ready",
                           "checks": {"store": {"ok": True}, "keystone": {"ok": True}}}


@pytest.fixture
def home_keystone(hardened):
    """The home cloud's Keystone, put back as it was after the test."""
    cloud = hardened.sim.cloud("home")
    yield cloud
    hardened.sim.call(cloud.set_down("keystone", False))
    cloud.faults.latency_ms.pop("keystone", None)


def test_readyz_is_503_naming_a_keystone_that_is_down(hardened, home_keystone):
    hardened.sim.call(home_keystone.set_down("keystone", True))
    resp = hardened.get("/readyz")
    assert resp.status_code == 503
    body = resp.json()
    assert body["status"] == "not ready"
    assert body["checks"]["store"] == {"ok": True}
    assert body["checks"]["keystone"]["ok"] is False
    assert body["checks"]["keystone"]["reason"].startswith("failed (")
    keystone = hardened.conf.keystone.auth_url
    assert keystone.split("//")[1].split("/")[0] not in resp.text   # no host, no port
    assert hardened.get("/healthz").status_code == 200      # alive all the same


def test_readyz_does_not_wait_for_a_keystone_that_hangs(hardened, home_keystone):
    home_keystone.faults.latency_ms["keystone"] = 30_000
    resp = hardened.get("/readyz", timeout=10)     # the check's limit is 2 s (LIMITS)
    assert resp.status_code == 503
    assert resp.json()["checks"]["keystone"] == {"ok": False, "reason": "no answer within 2 s"}


@pytest.fixture
def silent_port():
    """A loopback port that accepts connections and never says a word (a hung database)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    accepted = []
    stop = threading.Event()

    def accept():
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    thread.join()
    for conn in accepted:
        conn.close()
    listener.close()


@pytest.mark.parametrize("kind", ["hangs", "refuses"])
def test_readyz_names_a_store_that_hangs_or_refuses(hardened, silent_port, kind):
    free = socket.socket()
    free.bind(("127.0.0.1", 0))
    closed_port = free.getsockname()[1]
    free.close()
    port = silent_port if kind == "hangs" else closed_port
    url = f"postgresql+asyncpg://ocx:very-secret-password@127.0.0.1:{port}/ocx"

    async def ready():
        engine = create_async_engine(url)
        async with aiohttp.ClientSession() as http:
            health = Health(store=types.SimpleNamespace(engine=engine), http=http,
                            keystone_url=hardened.conf.keystone.auth_url, timeout=0.5)
            try:
                return await asyncio.wait_for(health.ready(None), 10)
            finally:
                await engine.dispose()

    response = asyncio.run(ready())
    assert response.status == 503
    body = orjson.loads(response.body)
    assert body["checks"]["keystone"] == {"ok": True}
    reason = body["checks"]["store"]["reason"]
    if kind == "hangs":
        assert reason == "no answer within 0.5 s"
    else:
        assert reason.startswith("failed (")
    assert b"very-secret-password" not in response.body and str(port).encode() \
        not in response.body
