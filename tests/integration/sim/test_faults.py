"""Faults a tester switches on while the clouds run: latency, errors, a service or Keystone down."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import requests
from aiohttp import web

from ocx.sim.control import make_control_app


@pytest.fixture
def control(make_sim):
    """One cloud with Cinder and the simulator's control endpoint in front of it."""
    sim = make_sim("f=cinder")

    async def serve():
        runner = web.AppRunner(make_control_app(sim.exchange), access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        return runner, "http://127.0.0.1:%d/sim" % site._server.sockets[0].getsockname()[1]

    runner, url = sim.call(serve())
    yield sim, url
    sim.call(runner.cleanup())


def volumes_url(sim):
    conn = sim.connect("f")
    return conn, conn.block_storage.get_endpoint() + "/volumes"


def test_added_latency_slows_every_call_and_can_be_taken_away(control):
    sim, url = control
    conn, volumes = volumes_url(sim)
    headers = {"X-Auth-Token": conn.session.get_token()}
    resp = requests.patch(f"{url}/clouds/f/faults", json={"latency_ms": {"cinder": 300}},
                          timeout=10)
    assert resp.json()["latency_ms"] == {"cinder": 300.0}
    started = time.monotonic()
    assert requests.get(volumes, headers=headers, timeout=10).status_code == 200
    assert time.monotonic() - started >= 0.3
    requests.delete(f"{url}/clouds/f/faults", timeout=10)
    assert sim.cloud("f").faults.latency_for("cinder") == 0


def test_an_error_rate_of_one_fails_every_call_in_the_services_format(control):
    sim, url = control
    conn, volumes = volumes_url(sim)
    requests.patch(f"{url}/clouds/f/faults", json={"error_rate": {"*": 1}}, timeout=10)
    resp = requests.get(volumes, headers={"X-Auth-Token": conn.session.get_token()}, timeout=10)
    assert resp.status_code == 503
    assert resp.json()["serviceUnavailable"]["code"] == 503


def test_a_service_down_refuses_connections_and_comes_back_on_the_same_port(control):
    sim, url = control
    conn, volumes = volumes_url(sim)
    token = conn.session.get_token()
    requests.patch(f"{url}/clouds/f/faults", json={"down": {"cinder": True}}, timeout=10)
    with pytest.raises(requests.ConnectionError):
        requests.get(volumes, headers={"X-Auth-Token": token}, timeout=10)
    assert requests.get(f"{url}/clouds/f/faults", timeout=10).json()["down"] == ["cinder"]
    requests.patch(f"{url}/clouds/f/faults", json={"down": {"cinder": False}}, timeout=10)
    assert requests.get(volumes, headers={"X-Auth-Token": token}, timeout=10).status_code == 200


def test_keystone_down_means_no_new_logins(control):
    sim, url = control
    requests.patch(f"{url}/clouds/f/faults", json={"down": {"keystone": True}}, timeout=10)
    with pytest.raises(Exception):
        sim.connect("f").session.get_token()
    requests.delete(f"{url}/clouds/f/faults", timeout=10)
    assert sim.connect("f").session.get_token()


@pytest.mark.parametrize("body", [
    {"latency_ms": {"nova": 5}},          # no Nova in this cloud
    {"error_rate": {"cinder": 1.5}},
    {"latency_ms": {"cinder": -1}},
    {"down": {"cinder": "yes"}},
    {"weather": {"*": 1}},
    [1, 2],
])
def test_bad_fault_requests_are_refused_and_change_nothing(control, body):
    sim, url = control
    resp = requests.patch(f"{url}/clouds/f/faults", json=body, timeout=10)
    assert resp.status_code == 400
    assert resp.json()["error"]["code"] == 400
    assert sim.cloud("f").faults.describe() == {"latency_ms": {}, "error_rate": {}, "down": []}


def test_an_unknown_cloud_is_404(control):
    _, url = control
    assert requests.get(f"{url}/clouds/nowhere/faults", timeout=10).status_code == 404


def test_ocx_sim_runs_clouds_in_a_process_and_sim_fault_changes_them(tmp_path):
    """The command a tester types: ``ocx sim`` prints endpoints; ``ocx sim-fault`` acts."""
    ocx = os.path.join(os.path.dirname(sys.executable), "ocx")
    clouds_yaml = tmp_path / "clouds.yaml"
    proc = subprocess.Popen([ocx, "sim", "--clouds", "a=cinder,b=glance", "--clouds-yaml",
                             str(clouds_yaml)], stdout=subprocess.PIPE, text=True)
    try:
        lines = []
        while not lines or lines[-1] != "}\n":
            line = proc.stdout.readline()
            assert line, "ocx sim exited early"
            lines.append(line)
        printed = json.loads("".join(lines))
        assert set(printed["clouds"]) == {"a", "b"}
        assert printed["clouds"]["b"]["idp"] == "a"
        assert "cinder" in printed["clouds"]["a"]["endpoints"]
        for _ in range(50):
            if clouds_yaml.exists():
                break
            time.sleep(0.1)
        assert set(json.loads(clouds_yaml.read_text())["clouds"]) == {"a", "b"}
        out = subprocess.run([ocx, "sim-fault", "--control", printed["control"], "b",
                              "--latency-ms", "20", "--down", "glance"],
                             capture_output=True, text=True, timeout=30, check=True)
        assert json.loads(out.stdout) == {"latency_ms": {"*": 20.0}, "error_rate": {},
                                          "down": ["glance"]}
        glance = printed["clouds"]["b"]["endpoints"]["glance"]
        with pytest.raises(requests.ConnectionError):
            requests.get(glance + "/", timeout=5)
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0


def test_each_cloud_counts_the_calls_it_receives(control):
    sim, url = control
    requests.delete(f"{url}/clouds/f/calls", timeout=10)
    conn, volumes = volumes_url(sim)
    requests.get(volumes, headers={"X-Auth-Token": conn.session.get_token()}, timeout=10)
    counts = requests.get(f"{url}/clouds/f/calls", timeout=10).json()
    assert counts["cinder"] == {"GET": 1}
    assert counts["keystone"]["POST"] >= 1


def test_a_service_taken_down_drops_its_kept_alive_connections(control):
    sim, url = control
    conn, volumes = volumes_url(sim)
    pooled = requests.Session()  # keeps the connection alive between calls
    headers = {"X-Auth-Token": conn.session.get_token()}
    assert pooled.get(volumes, headers=headers, timeout=10).status_code == 200
    requests.patch(f"{url}/clouds/f/faults", json={"down": {"cinder": True}}, timeout=10)
    with pytest.raises(requests.ConnectionError):
        pooled.get(volumes, headers=headers, timeout=10)
