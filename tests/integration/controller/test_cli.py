"""The operator's commands for a controller landlord (issue 10), run as an operator runs them:
``ocx controller sync``, ``ocx providers`` and ``ocx sim-fault --controller`` against the
configuration of a running OCX in front of home and ``ctl`` (two simulated controllers), on
each store. State is made through OCX; the controllers are compared with OCX's store as a
controller given the whole state holds it.
"""
from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
import time

import orjson
import pytest
from aiohttp import web
from keystoneauth1 import session as ks_session
from keystoneauth1.identity import v3

from ocx import cli
from ocx.backends import controller_translate as tr
from ocx.sim.control import make_control_app
from ocx.sim.controller import ControllerState, parse_topology
from tests.integration.gateway.conftest import ocx_env  # noqa: F401 - the fixture
from tests.postgres import postgres_url  # noqa: F401 - ocx_env's, for its PostgreSQL runs

from .conftest import SimControllers

SIM_CLOUDS = "home,ctl=controller"
OCX = os.path.join(os.path.dirname(sys.executable), "ocx")
EMPTY = {"networks": [], "routers": []}


def ocx(config: str | None, *args: str, expect: int = 0) -> subprocess.CompletedProcess:
    """Run ``ocx ARGS --config CONFIG`` (no --config when None); it exits with ``expect``."""
    proc = subprocess.run([OCX, *args, *(("--config", config) if config else ())],
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == expect, f"ocx {' '.join(args)}: {proc.returncode}\n{proc.stderr}"
    return proc


def in_process(capsys, *argv: str) -> tuple[int, str, str]:
    """``ocx ARGV`` in this process (the usage errors: no need to pay for a start-up)."""
    status = cli.main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


@pytest.fixture(scope="module")
def config_file(ocx_env) -> str:  # noqa: F811
    return ocx_env.conf.config_file[0]


@pytest.fixture(scope="module")
def ctl(ocx_env) -> SimControllers:  # noqa: F811
    return SimControllers(ocx_env.sim.runner, ocx_env.sim.cloud("ctl").controllers)


@pytest.fixture(scope="module")
def control(ocx_env) -> str:  # noqa: F811
    """The simulator's control endpoint (as ``ocx sim`` serves it), on the clouds' loop."""
    async def start():
        runner = web.AppRunner(make_control_app(ocx_env.sim.exchange), access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        return runner, site._server.sockets[0].getsockname()[1]

    runner, port = ocx_env.sim.call(start())
    yield f"http://127.0.0.1:{port}/sim"
    ocx_env.sim.call(runner.cleanup())


@pytest.fixture(scope="module")
def made(ocx_env):  # noqa: F811
    """A network with a subnet and a port, and a router on the subnet, made through OCX."""
    http = ks_session.Session(auth=v3.Password(**ocx_env.sim.auth_args("home")))
    url = f"{ocx_env.url}/network/v2.0"
    to_ctl = {"X-OCX-Provider": "ctl"}
    net = http.post(f"{url}/networks", json={"network": {"name": "ops"}},
                    headers=to_ctl).json()["network"]
    sub = http.post(f"{url}/subnets", json={"subnet": {
        "network_id": net["id"], "ip_version": 4, "cidr": "10.51.0.0/24"}}).json()["subnet"]
    port = http.post(f"{url}/ports", json={"port": {"network_id": net["id"]}}).json()["port"]
    router = http.post(f"{url}/routers", json={"router": {"name": "ops-edge"}},
                       headers=to_ctl).json()["router"]
    http.put(f"{url}/routers/{router['id']}/add_router_interface",
             json={"subnet_id": sub["id"]})
    yield {"network": net, "subnet": sub, "port": port, "router": router}
    http.put(f"{url}/routers/{router['id']}/remove_router_interface",
             json={"subnet_id": sub["id"]})
    for kind, item in (("routers", router), ("ports", port), ("subnets", sub),
                       ("networks", net)):
        http.delete(f"{url}/{kind}/{item['id']}")


def store_state(env) -> dict:
    """What OCX's store holds for ctl, as a controller holds it once given the whole state.

    Read on an engine of its own, not ``store.engine.make_engine``'s: that one opens and
    closes the SQLite file itself, which drops the locks the gateway's connections in this
    process hold on it, and another process (the command) then takes the WAL away."""
    async def read():
        from sqlalchemy.ext.asyncio import create_async_engine

        from ocx.store.controller import ControllerStore
        from ocx.store.location import store_url
        from ocx.store.urls import async_url

        engine = create_async_engine(async_url(store_url(env.conf)))
        try:
            snap = await ControllerStore(engine).snapshot("ctl")
        finally:
            await engine.dispose()
        call = tr.topology(snap.networks, snap.subnets, snap.ports, snap.routers,
                           snap.interfaces)
        return parse_topology(orjson.loads(orjson.dumps(call.body))).topology()
    return env.sim.call(read())


def held_by(ctl: SimControllers, i: int) -> dict:
    state = ctl.state(i)
    return {"networks": state["networks"], "routers": state["routers"]}


def topology_puts(ctl: SimControllers, i: int) -> int:
    return sum(1 for method, path, _ in ctl.requests(i) if (method, path) == ("PUT",
                                                                              "/topology"))


def test_a_controller_back_empty_is_given_exactly_the_stores_state(ocx_env, ctl,  # noqa: F811
                                                                   config_file, made):
    expected = store_state(ocx_env)
    assert made["port"]["id"] in json.dumps(expected)
    assert held_by(ctl, 0) == expected
    ctl.restart(0, empty=True)
    assert held_by(ctl, 0) == EMPTY

    [result] = json.loads(ocx(config_file, "controller", "sync", "ctl", "--server",
                              ctl.servers[0], "-f", "json").stdout)
    assert held_by(ctl, 0) == expected
    assert result["server"] == ctl.servers[0] and result["synced"] is True
    assert (result["networks"], result["routers"]) == (len(expected["networks"]),
                                                       len(expected["routers"]))
    assert result["ports"] == sum(len(n["ports"]) for n in expected["networks"])

    # The gateway goes on with the hash the command stored: no second sync of its own.
    puts = topology_puts(ctl, 0)
    http = ks_session.Session(auth=v3.Password(**ocx_env.sim.auth_args("home")))
    renamed = http.put(f"{ocx_env.url}/network/v2.0/networks/{made['network']['id']}",
                       json={"network": {"name": "ops-2"}})
    assert renamed.status_code == 200, renamed.text
    assert held_by(ctl, 0) == store_state(ocx_env) and "ops-2" in json.dumps(held_by(ctl, 0))
    assert topology_puts(ctl, 0) == puts


def test_every_server_is_tried_and_one_not_reached_makes_the_status_1(ocx_env, ctl,  # noqa: F811
                                                                      config_file, made):
    ctl.restart(0, empty=True)
    ctl.stop(1)
    try:
        table = ocx(config_file, "controller", "sync", "ctl", expect=1).stdout
    finally:
        ctl.start(1)
    rows = {line.split("|")[1].strip(): line for line in table.splitlines()
            if line.startswith("| 127.")}
    assert list(rows) == ctl.servers
    assert "| True " in rows[ctl.servers[0]]
    assert "| False " in rows[ctl.servers[1]] and "cannot be reached" in rows[ctl.servers[1]]
    assert held_by(ctl, 0) == store_state(ocx_env)


def test_what_the_configuration_does_not_have_is_refused_with_status_2(ocx_env, ctl,  # noqa: F811
                                                                       config_file, capsys,
                                                                       tmp_path):
    before = [ctl.state(i)["hash"] for i in range(2)]
    puts = [topology_puts(ctl, i) for i in range(2)]
    status, out, err = in_process(capsys, "controller", "sync", "nope", "--config", config_file)
    assert (status, out) == (2, "")
    assert err.strip() == ("ocx controller sync: no provider 'nope' in the configuration's "
                           "providers (controller providers: ctl)")
    status, _, err = in_process(capsys, "controller", "sync", "ctl", "--server",
                                "127.0.0.1:1", "--config", config_file)
    assert status == 2 and "127.0.0.1:1 is not a controller of ctl" in err
    # A K2K provider has no controllers.
    text = open(config_file).read().replace("providers = ctl", "providers = ctl, sp9")
    (tmp_path / "k2k.conf").write_text(text)
    status, _, err = in_process(capsys, "controller", "sync", "sp9", "--config",
                                str(tmp_path / "k2k.conf"))
    assert status == 2 and "provider 'sp9' is of kind openstack, not controller" in err
    # A configuration OCX would not start with.
    (tmp_path / "bad.conf").write_text(text.replace("kind = controller\nservers = ",
                                                    "kind = controller\nservers = x:0,"))
    status, _, err = in_process(capsys, "controller", "sync", "ctl", "--config",
                                str(tmp_path / "bad.conf"))
    assert status == 2 and "servers: entry 1" in err
    assert [ctl.state(i)["hash"] for i in range(2)] == before
    assert [topology_puts(ctl, i) for i in range(2)] == puts


def test_credentials_the_controllers_refuse_are_named(ocx_env, ctl, config_file,  # noqa: F811
                                                      tmp_path):
    once(ocx_env)
    lines = open(config_file).read().splitlines()
    (tmp_path / "wrong.conf").write_text("\n".join(
        "serverauth = ocx:not-the-password" if line.startswith("serverauth =") else line
        for line in lines) + "\n")
    # In a process of its own: the gateway in this one has the SQLite file open.
    proc = ocx(str(tmp_path / "wrong.conf"), "controller", "sync", "ctl", "-f", "json",
               expect=1)
    out, err = proc.stdout, proc.stderr
    results = json.loads(out)
    assert [r["synced"] for r in results] == [False, False]
    assert {r["detail"] for r in results} == {
        "refuses OCX's credentials (check serverauth / deployment_id)"}
    assert "not-the-password" not in out + err and ctl.password not in out + err


def test_the_sync_waits_for_a_sync_in_progress_elsewhere(ocx_env, ctl, config_file, made):  # noqa: F811
    """On PostgreSQL the sync lock holds across processes (gateway workers and this
    command); SQLite serves one process, whose syncs its client's own lock orders."""
    from ocx.store.location import store_url

    url = store_url(ocx_env.conf)
    if not url.startswith("postgresql"):
        pytest.skip("the sync lock spans processes on PostgreSQL only")
    ctl.restart(1, empty=True)
    acquired, release, holder = hold_sync_lock(ocx_env.conf)
    proc = subprocess.Popen([OCX, "controller", "sync", "ctl", "--server", ctl.servers[1],
                             "--config", config_file], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        assert acquired.wait(30)
        wait_for(lambda: waiting_on_advisory_lock(url), what="the command waiting for the lock")
        assert proc.poll() is None and held_by(ctl, 1) == EMPTY
    finally:
        release.set()
        holder.join(30)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert held_by(ctl, 1) == store_state(ocx_env)


def test_ocx_providers_shows_the_controllers_in_order_with_their_health(ocx_env, ctl,  # noqa: F811
                                                                        config_file, control):
    once(ocx_env)
    stopped = ocx(None, "sim-fault", "--control", control, "ctl", "--controller", "1",
                  "--stop").stdout
    try:
        assert json.loads(stopped)["running"] is False and not ctl.state(1)["running"]
        listed = ocx(config_file, "providers", "-f", "json").stdout
    finally:
        started = ocx(None, "sim-fault", "--control", control, "ctl", "--controller",
                      "1", "--start").stdout
    assert json.loads(started)["running"] is True and ctl.state(1)["running"]
    assert ctl.password not in listed
    providers = json.loads(listed)
    # The home Keystone knows a cloud named ctl too; the controller provider is the one.
    assert [p["name"] for p in providers] == ["home", "ctl"]
    record = providers[1]
    assert (record["kind"], record["sp_id"], record["services"]) == \
        ("controller", None, ["network"])
    assert record["health"] == "degraded"
    assert record["detail"] == f"1 of 2 controllers answer; {ctl.servers[1]} is unreachable"
    servers = record["controllers"]
    # The running gateway's order and states (it has not called the stopped one yet).
    assert sorted(c["server"] for c in servers) == sorted(ctl.servers)
    assert [c["state"] for c in servers] in (["primary", "standby"], ["primary", "failed"])
    assert {c["server"]: c["health"] for c in servers} == {ctl.servers[0]: "up",
                                                           ctl.servers[1]: "down"}


def test_sim_fault_restarts_a_controller_empty_and_shows_one(ocx_env, ctl, control,  # noqa: F811
                                                             capsys, made):
    once(ocx_env)
    status, _, err = in_process(capsys, "controller", "sync", "ctl", "--server", ctl.servers[1],
                                "--config", ocx_env.conf.config_file[0])
    assert status == 0, err
    assert held_by(ctl, 1) == store_state(ocx_env) != EMPTY
    status, out, _ = in_process(capsys, "sim-fault", "--control", control, "ctl",
                                "--controller", "1", "--restart")
    shown = json.loads(out)
    assert status == 0 and shown["running"] and shown["restarts"] >= 1
    assert {"networks": shown["networks"], "routers": shown["routers"]} == EMPTY
    assert shown["hash"] == ControllerState().hash() == ctl.state(1)["hash"]
    status, out, _ = in_process(capsys, "sim-fault", "--control", control, "ctl",
                                "--controller", "1", "--latency-ms", "5")
    assert status == 0 and json.loads(out)["faults"]["latency_ms"] == 5.0
    status, out, _ = in_process(capsys, "sim-fault", "--control", control, "ctl",
                                "--controller", "1", "--clear")
    assert json.loads(out)["faults"]["latency_ms"] == 0.0
    status, out, _ = in_process(capsys, "sim-fault", "--control", control, "ctl",
                                "--controller", "1")
    assert json.loads(out)["server"] == ctl.servers[1]
    with pytest.raises(SystemExit) as missing:
        cli.main(["sim-fault", "--control", control, "ctl", "--controller", "7"])
    assert "no controller 7 in this cloud" in str(missing.value)
    with pytest.raises(SystemExit) as usage:
        cli.main(["sim-fault", "--control", control, "ctl", "--stop"])
    assert usage.value.code == 2
    capsys.readouterr()


# -- helpers -----------------------------------------------------------------------------------

def once(env) -> None:
    """A test that does not depend on the store runs with one: PostgreSQL, where this
    process may open the store beside the gateway (see :func:`store_state`)."""
    if not env.conf.store.url:
        pytest.skip("store-independent: run once, with PostgreSQL")


def hold_sync_lock(conf) -> tuple[threading.Event, threading.Event, threading.Thread]:
    """Another process's sync in progress: ctl's sync lock, held in a thread of this one
    until ``release`` is set."""
    from ocx.store import MappingStore
    from ocx.store.location import store_keys, store_url

    acquired, release = threading.Event(), threading.Event()

    async def hold():
        store = await MappingStore.open(store_url(conf), store_keys(conf), cache_size=0,
                                        migrate=False)
        try:
            async with store.controller.sync_lock("ctl"):
                acquired.set()
                while not release.is_set():
                    await asyncio.sleep(0.05)
        finally:
            await store.close()

    thread = threading.Thread(target=asyncio.run, args=(hold(),), daemon=True)
    thread.start()
    return acquired, release, thread


def waiting_on_advisory_lock(url: str) -> bool:
    """Whether a session of this database waits for an advisory lock."""
    import asyncpg
    from sqlalchemy.engine import make_url

    dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)

    async def ask():
        conn = await asyncpg.connect(dsn, timeout=10)
        try:
            return await conn.fetchval(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted "
                "AND database = (SELECT oid FROM pg_database "
                "WHERE datname = current_database())")
        finally:
            await conn.close()
    return asyncio.run(ask()) > 0


def wait_for(check, *, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"never happened: {what}")
        time.sleep(0.1)
