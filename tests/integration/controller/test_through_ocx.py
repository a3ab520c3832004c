"""Seed 003 through OCX (issue 10): a landlord ``ctl`` whose networking is two redundant SDN
controllers. The user's ``openstack`` command creates, lists, shows, updates and deletes
networks, subnets, ports and routers there through OCX; the controllers hold what OCX's store
holds; the primary can die mid-run, come back empty, or every controller can be down.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest
from keystoneauth1 import session as ks_session
from keystoneauth1.identity import v3

from ocx.backends import controller_translate as tr
from ocx.sim.controller import parse_topology
from tests.integration.gateway.conftest import ocx_env  # noqa: F401 - the fixture
from tests.postgres import postgres_url  # noqa: F401 - the fixture ocx_env uses

from .conftest import SimControllers

SIM_CLOUDS = "home,sp1,ctl=controller"
OCX_DEFAULTS = {"health_probe_interval": "0.2"}
OPENSTACK = Path(sys.executable).with_name("openstack")


def openstack(env, *args: str, check: bool = True) -> object:
    """The real ``openstack`` command as home's demo user, through OCX; JSON parsed."""
    auth = env.sim.auth_args("home")
    environ = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
    environ.update({f"OS_{k.upper()}": v for k, v in auth.items()},
                   OS_IDENTITY_API_VERSION="3", OS_INTERFACE="public",
                   OS_REGION_NAME="RegionOne")
    cmd = [str(OPENSTACK), *args]
    if any(a in args for a in ("list", "show", "create")):
        cmd += ["-f", "json"]
    proc = subprocess.run(cmd, env=environ, capture_output=True, text=True, timeout=120)
    if not check:
        return proc
    assert proc.returncode == 0, proc.stderr
    return orjson.loads(proc.stdout) if proc.stdout.strip().startswith(("{", "[")) else None


def session(env) -> ks_session.Session:
    return ks_session.Session(auth=v3.Password(**env.sim.auth_args("home")))


@pytest.fixture(scope="module")
def ctl(ocx_env) -> SimControllers:  # noqa: F811
    return SimControllers(ocx_env.sim.runner, ocx_env.sim.cloud("ctl").controllers)


def store_topology(env) -> dict:
    """What OCX's store holds, as a controller holds it once given the whole state."""
    async def read():
        from ocx.store import MappingStore
        from ocx.store.location import store_keys, store_url

        store = await MappingStore.open(store_url(env.conf), store_keys(env.conf),
                                        cache_size=0, migrate=False)
        try:
            snap = await store.controller.snapshot("ctl")
        finally:
            await store.close()
        call = tr.topology(snap.networks, snap.subnets, snap.ports, snap.routers,
                           snap.interfaces)
        return parse_topology(orjson.loads(orjson.dumps(call.body))).topology()
    return env.sim.call(read())


def held_by(ctl: SimControllers, i: int) -> dict:
    state = ctl.state(i)
    return {"networks": state["networks"], "routers": state["routers"]}


def wait_for(check, timeout: float = 20.0):
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError("the condition never held")
        time.sleep(0.1)


def test_the_openstack_client_works_on_a_controller_landlord(ocx_env, ctl):  # noqa: F811
    net = openstack(ocx_env, "network", "create", "blue@ctl")
    assert net["name"] == "blue" and net["status"] == "ACTIVE"
    sub = openstack(ocx_env, "subnet", "create", "--network", net["id"], "--subnet-range",
                    "10.31.0.0/24", "blue-sub")
    assert sub["gateway_ip"] == "10.31.0.1"
    assert sub["allocation_pools"] == [{"start": "10.31.0.2", "end": "10.31.0.254"}]
    port = openstack(ocx_env, "port", "create", "--network", net["id"], "blue-port")
    address = port["fixed_ips"][0]["ip_address"]
    assert port["fixed_ips"][0]["subnet_id"] == sub["id"]
    assert address.startswith("10.31.0.") and port["mac_address"].startswith("fa:16:3e:")
    router = openstack(ocx_env, "router", "create", "edge@ctl")
    openstack(ocx_env, "router", "add", "subnet", router["id"], sub["id"])

    # Listings merge ctl's with the clouds'; shows and updates reach ctl by the mapping.
    assert net["id"] in {n["ID"] for n in openstack(ocx_env, "network", "list")}
    assert openstack(ocx_env, "network", "show", "blue")["id"] == net["id"]
    assert {p["ID"] for p in openstack(ocx_env, "port", "list", "--network", net["id"])} \
        >= {port["id"]}
    openstack(ocx_env, "network", "set", "--name", "azure", net["id"])
    openstack(ocx_env, "port", "set", "--name", "azure-port", port["id"])
    assert openstack(ocx_env, "network", "show", net["id"])["name"] == "azure"
    shown = openstack(ocx_env, "router", "show", router["id"])
    assert shown["name"] == "edge"

    # Each controller holds exactly what OCX's store holds.
    expected = store_topology(ocx_env)
    assert [n["name"] for n in expected["networks"]] == ["azure"]
    held = held_by(ctl, 0)
    assert held["networks"] == expected["networks"]
    assert held["routers"] == expected["routers"], orjson.dumps(
        [held["routers"], expected["routers"]]).decode()
    assert net["id"] not in ocx_env.sim.cloud("sp1").services["neutron"].networks

    # Deletes in Neutron's order; each controller is left as empty as the store.
    openstack(ocx_env, "router", "remove", "subnet", router["id"], sub["id"])
    openstack(ocx_env, "router", "delete", router["id"])
    openstack(ocx_env, "port", "delete", port["id"])
    openstack(ocx_env, "subnet", "delete", sub["id"])
    openstack(ocx_env, "network", "delete", net["id"])
    assert store_topology(ocx_env) == {"networks": [], "routers": []}
    assert held_by(ctl, 0) == {"networks": [], "routers": []}


def test_neutron_refusals_come_in_neutrons_format_and_change_nothing(ocx_env, ctl):  # noqa: F811
    http = session(ocx_env)
    url = f"{ocx_env.url}/network/v2.0"
    headers = {"X-OCX-Provider": "ctl"}
    net = http.post(f"{url}/networks", json={"network": {"name": "red"}},
                    headers=headers).json()["network"]
    before = held_by(ctl, 0)
    refusals = [
        (f"{url}/networks", {"network": {"name": "x", "bogus": 1}}, 400, "HTTPBadRequest"),
        (f"{url}/networks", {"network": {"admin_state_up": "maybe"}}, 400, "InvalidInput"),
        (f"{url}/networks", {"network": {"name": "x", "shared": True}}, 403,
         "PolicyNotAuthorized"),
        (f"{url}/subnets", {"subnet": {"network_id": net["id"], "ip_version": 4,
                                       "cidr": "10.40.0.0/33"}}, 400, "InvalidInput"),
        (f"{url}/subnets", {"subnet": {"network_id": net["id"], "ip_version": 6,
                                       "cidr": "10.40.0.0/24"}}, 400, "InvalidInput"),
        (f"{url}/ports", {"port": {"network_id": "8d1c2c1e-0000-4000-8000-000000000000"}},
         404, "NetworkNotFound"),
    ]
    for target, body, status, kind in refusals:
        answer = http.post(target, json=body, headers=headers, raise_exc=False)
        assert answer.status_code == status, (body, answer.text)
        assert answer.json()["NeutronError"]["type"] == kind, answer.text
    # A clash is refused locally: the second subnet overlapping the first.
    first = http.post(f"{url}/subnets", json={"subnet": {
        "network_id": net["id"], "ip_version": 4, "cidr": "10.40.0.0/24"}}, headers=headers)
    assert first.status_code == 201
    clash = http.post(f"{url}/subnets", json={"subnet": {
        "network_id": net["id"], "ip_version": 4, "cidr": "10.40.0.128/25"}},
        headers=headers, raise_exc=False)
    assert clash.status_code == 400 and "overlaps" in clash.json()["NeutronError"]["message"]
    missing = http.get(f"{url}/ports/8d1c2c1e-0000-4000-8000-000000000001", headers=headers,
                       raise_exc=False)
    assert missing.status_code == 404
    assert missing.json()["NeutronError"]["type"] == "PortNotFound"
    after = held_by(ctl, 0)
    assert len(after["networks"]) == len(before["networks"])
    http.delete(f"{url}/subnets/{first.json()['subnet']['id']}")
    http.delete(f"{url}/networks/{net['id']}")


def test_the_primary_dies_mid_run_and_comes_back_empty(ocx_env, ctl):  # noqa: F811
    green = openstack(ocx_env, "network", "create", "green@ctl")
    ctl.stop(0)
    try:
        # The next writes go to the other controller, with no error to the user.
        sub = openstack(ocx_env, "subnet", "create", "--network", green["id"],
                        "--subnet-range", "10.32.0.0/24", "green-sub")
        port = openstack(ocx_env, "port", "create", "--network", green["id"], "green-port")
        assert held_by(ctl, 1) == store_topology(ocx_env)
        assert port["id"] in {p["id"] for n in held_by(ctl, 1)["networks"]
                              for p in n["ports"]}
    finally:
        ctl.restart(0, empty=True)
    # Back, empty: OCX's probe finds it, gives it the whole state.
    wait_for(lambda: held_by(ctl, 0) == store_topology(ocx_env))
    assert sub["id"] in orjson.dumps(held_by(ctl, 0)).decode()
    openstack(ocx_env, "port", "delete", port["id"])
    openstack(ocx_env, "subnet", "delete", sub["id"])
    openstack(ocx_env, "network", "delete", green["id"])


def test_with_every_controller_down_reads_work_and_writes_are_refused(ocx_env, ctl):  # noqa: F811
    grey = openstack(ocx_env, "network", "create", "grey@ctl")
    stored = store_topology(ocx_env)
    ctl.stop(0)
    ctl.stop(1)
    try:
        # Reads: the store answers.
        assert grey["id"] in {n["ID"] for n in openstack(ocx_env, "network", "list")}
        assert openstack(ocx_env, "network", "show", grey["id"])["name"] == "grey"
        # Writes: a clear 503, and nothing is recorded.
        refused = openstack(ocx_env, "network", "create", "black@ctl", check=False)
        assert refused.returncode != 0
        answer = session(ocx_env).post(f"{ocx_env.url}/network/v2.0/networks",
                                       json={"network": {"name": "black"}},
                                       headers={"X-OCX-Provider": "ctl"}, raise_exc=False)
        assert answer.status_code == 503, answer.text
        assert "no controller accepted" in answer.json()["NeutronError"]["message"]
        deleted = session(ocx_env).delete(f"{ocx_env.url}/network/v2.0/networks/{grey['id']}",
                                          raise_exc=False)
        assert deleted.status_code == 503
        assert store_topology(ocx_env) == stored
    finally:
        ctl.start(0)
        ctl.start(1)
    wait_for(lambda: held_by(ctl, 0) == store_topology(ocx_env))
    openstack(ocx_env, "network", "delete", grey["id"])
    assert store_topology(ocx_env) == stored | {"networks": [
        n for n in stored["networks"] if n["id"] != grey["id"]]}


def test_ocx_providers_shows_the_controllers_in_order(ocx_env, ctl):  # noqa: F811
    admin = ks_session.Session(auth=v3.Password(**ocx_env.sim.auth_args("home", "admin")))
    records = {p["name"]: p for p in admin.get(f"{ocx_env.url}/ocx/v1/providers").json()[
        "providers"]}
    ctl_record = records["ctl"]
    assert ctl_record["kind"] == "controller" and ctl_record["sp_id"] is None
    assert [c["server"] for c in ctl_record["controllers"]] in (ctl.servers,
                                                                ctl.servers[::-1])
    assert ctl_record["state"] in ("up", "degraded")
