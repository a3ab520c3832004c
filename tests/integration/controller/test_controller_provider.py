"""The controller provider's client and write path against simulated controllers (issue 10):
writes reach the primary, move on when it dies, a returning server is given the whole state,
and with every controller down nothing is recorded and the caller gets a 503."""
from __future__ import annotations

import aiohttp
import pytest

from ocx.backends.controller import (
    ControllerAuthFailed,
    ControllerClient,
    ControllerNetworking,
    ControllerUnavailable,
)
from ocx.backends.controller_config import settings
from ocx.store import MappingStore, generate_key
from ocx.store.controller import NotFound, RouterInterface

NET = {"id": "n1", "tenant_id": "t1", "name": "blue", "admin_state_up": True}
SUB = {"id": "s1", "tenant_id": "t1", "network_id": "n1", "cidr": "10.0.0.0/24",
       "gateway_ip": "10.0.0.1"}
PORT = {"id": "p1", "tenant_id": "t1", "network_id": "n1", "mac_address": "fa:16:3e:00:00:01",
        "device_id": "", "fixed_ips": []}
ROUTER = {"id": "r1", "tenant_id": "t1", "name": "edge", "admin_state_up": True}


@pytest.fixture
async def store(tmp_path):
    store = await MappingStore.open(f"sqlite:///{tmp_path}/ocx.sqlite", [generate_key()],
                                    migrate=True)
    yield store
    await store.close()


@pytest.fixture
async def connect(store):
    sessions = []

    async def make(sim, *, auth: str | None = None, deployment_id: str = "ocx-test"):
        http = aiohttp.ClientSession()
        sessions.append(http)
        waits: list[float] = []

        async def sleep(seconds: float) -> None:   # back-off recorded, not waited
            waits.append(seconds)

        client = ControllerClient(
            settings("ctl", servers=",".join(sim.servers), serverauth=auth or sim.auth,
                     server_timeout=5, deployment_id=sim.deployment_id or deployment_id),
            store.controller, http, sleep=sleep)
        client.waits = waits
        return ControllerNetworking(client)

    yield make
    for http in sessions:
        await http.close()


def held(sim, i: int) -> dict:
    state = sim.state(i)
    return {"networks": sorted(n["id"] for n in state["networks"]),
            "ports": sorted(p["id"] for n in state["networks"] for p in n.get("ports", [])),
            "subnets": sorted(s["id"] for n in state["networks"] for s in n.get("subnets", [])),
            "routers": sorted(r["id"] for r in state["routers"])}


async def build(net: ControllerNetworking) -> None:
    await net.create("networks", NET)
    await net.create("subnets", SUB)
    await net.create("ports", PORT)
    await net.create("routers", ROUTER)
    await net.create("ports", PORT | {"id": "p9", "mac_address": "fa:16:3e:00:00:09"})
    await net.add_interface(RouterInterface("r1", "s1", "p9"))


FULL = {"networks": ["n1"], "ports": ["p1", "p9"], "subnets": ["s1"], "routers": ["r1"]}


async def test_writes_reach_the_primary_and_match_the_store(controllers, connect):
    sim = controllers(2)
    net = await connect(sim)
    await build(net)
    assert held(sim, 0) == FULL
    attached = await net.update("ports", "p1", {"device_id": "vm1"})
    assert attached["device_id"] == "vm1"
    [port] = [p for n in sim.state(0)["networks"] for p in n["ports"] if p["id"] == "p1"]
    assert port["attachment"] == {"id": "vm1", "mac": "fa:16:3e:00:00:01"}
    await net.update("ports", "p1", {"device_id": ""})
    await net.remove_interface("r1", "p9")
    await net.delete("routers", "r1")
    await net.delete("subnets", "s1")
    assert held(sim, 0)["subnets"] == [] and held(sim, 0)["routers"] == []
    assert await net.list("subnets") == []
    assert [s["state"] for s in net.client.view()] == ["primary", "standby"]


async def test_a_dead_primary_is_left_and_a_returning_one_gets_the_whole_state(controllers,
                                                                             connect):
    sim = controllers(2)
    net = await connect(sim)
    await build(net)
    sim.stop(0)
    await net.update("networks", "n1", {"name": "red"})          # no error for the caller
    assert held(sim, 1) == FULL                                  # synchronised on first use
    assert [s["state"] for s in net.client.view()] == ["primary", "failed"]
    sim.restart(0, empty=True)
    await net.client.probe()
    assert held(sim, 0) == FULL and net.client.pool.failed == ()
    assert [n["name"] for n in sim.state(0)["networks"]] == ["red"]


async def test_a_controller_restarted_empty_is_resynchronised_on_its_409(controllers, connect):
    sim = controllers(1)
    net = await connect(sim)
    await build(net)
    sim.restart(0, empty=True)
    await net.create("routers", ROUTER | {"id": "r2"})
    assert held(sim, 0) == FULL | {"routers": ["r1", "r2"]}


async def test_with_every_controller_down_writes_are_refused_and_nothing_recorded(
        controllers, connect):
    sim = controllers(2)
    net = await connect(sim)
    await build(net)
    sim.stop(0)
    sim.stop(1)
    with pytest.raises(ControllerUnavailable) as caught:
        await net.create("networks", NET | {"id": "n2"})
    assert caught.value.status == 503 and sim.servers[1] in caught.value.reason
    assert await net.get("networks", "n2") is None
    with pytest.raises(ControllerUnavailable):
        await net.update("networks", "n1", {"name": "green"})
    with pytest.raises(ControllerUnavailable):
        await net.delete("ports", "p1")
    assert (await net.get("networks", "n1"))["name"] == "blue"   # reads: from the store
    assert await net.get("ports", "p1") is not None
    with pytest.raises(NotFound):
        await net.delete("networks", "n9")                       # 404 without a controller


async def test_a_busy_controller_is_retried_with_back_off(controllers, connect):
    sim = controllers(2)
    net = await connect(sim)
    await net.create("networks", NET)
    sim.fail(0, status=503, count=2)
    await net.create("routers", ROUTER)
    assert net.client.waits == [0.5, 1.0]
    assert held(sim, 0)["routers"] == ["r1"] and net.client.pool.failed == ()


async def test_wrong_credentials_are_a_clear_error_naming_the_server(controllers, connect):
    sim = controllers(1)
    net = await connect(sim, auth="ocx:wrong")
    with pytest.raises(ControllerAuthFailed) as caught:
        await net.create("networks", NET)
    assert sim.servers[0] in caught.value.reason and "serverauth" in caught.value.reason
    assert "wrong" not in caught.value.reason
    assert await net.get("networks", "n1") is None
