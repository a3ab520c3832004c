"""OCX under the operator's own server (``ocx.api.wsgi``): the real ``gunicorn`` command with
aiohttp's worker class, two workers, in front of simulated clouds; an authenticated call
through it, OCX's own limits on what it reads, and a clean stop on SIGTERM."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import openstack
import pytest
import requests

from ocx.demo import free_port, gateway_config
from tests.conftest import start_sim
from tests.integration.gateway.conftest import _describe

GUNICORN = shutil.which("gunicorn", path=os.path.dirname(sys.executable))
pytestmark = pytest.mark.skipif(GUNICORN is None, reason="gunicorn is not installed (it "
                                "comes with the test extra: pip install -e '.[test]')")
HEADER_LIMIT = 2048


def gunicorn(port: int, env: dict[str, str], workers: int = 2) -> subprocess.Popen:
    return subprocess.Popen(
        [GUNICORN, "ocx.api.wsgi:app_factory", "--worker-class", "aiohttp.GunicornWebWorker",
         "--bind", f"127.0.0.1:{port}", "--workers", str(workers), "--graceful-timeout", "10"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def wait_ready(url: str, proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"gunicorn stopped ({proc.returncode}):\n{proc.stdout.read()}")
        try:
            if requests.get(url + "/readyz", timeout=2).status_code == 200:
                return
        except (requests.ConnectionError, requests.Timeout):   # workers still booting
            pass
        time.sleep(0.2)
    proc.kill()
    raise AssertionError(f"gunicorn did not become ready:\n{proc.stdout.read()}")


@pytest.fixture(scope="module")
def served():
    for sim in start_sim("home,sp1"):
        with tempfile.TemporaryDirectory(prefix="ocx-gunicorn-") as state:
            port = free_port()
            path = os.path.join(state, "ocx.conf")
            text = gateway_config(_describe(sim), port, state)
            with open(path, "w") as f:
                f.write(text.replace("[DEFAULT]\n", f"[DEFAULT]\nmax_header_line = "
                                                     f"{HEADER_LIMIT}\n", 1))
            proc = gunicorn(port, {**os.environ, "OCX_CONFIG": path})
            url = f"http://127.0.0.1:{port}"
            try:
                wait_ready(url, proc)
                yield sim, url, proc
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait(10)


def test_an_authenticated_call_is_answered_through_gunicorn(served):
    sim, url, _ = served
    token = openstack.connection.Connection(identity_api_version="3",
                                            **sim.auth_args("home")).session.get_token()
    resp = requests.get(url + "/compute/v2.1/servers", headers={"X-Auth-Token": token},
                        timeout=30)
    assert resp.status_code == 200, resp.text
    assert resp.json() == {"servers": []}
    refused = requests.get(url + "/compute/v2.1/servers",
                           headers={"X-Auth-Token": "not-a-token"}, timeout=30)
    assert refused.status_code == 401


def test_ocx_limits_what_it_reads_under_gunicorn_too(served):
    _, url, _ = served
    resp = requests.get(url + "/compute/v2.1/servers",
                        headers={"X-Auth-Token": "x" * (HEADER_LIMIT + 10)}, timeout=30)
    assert resp.status_code == 431   # aiohttp's own runner would answer 400
    assert resp.json()["error"]["message"] == (f"A request header is longer than "
                                               f"{HEADER_LIMIT} bytes.")


def test_sigterm_stops_the_workers_cleanly(served):
    _, url, proc = served
    proc.send_signal(signal.SIGTERM)
    output, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, output
    assert "Traceback" not in output, output
    assert "Shutting down: Master" in output


def test_without_a_configuration_no_worker_boots(tmp_path):
    proc = gunicorn(free_port(), {**os.environ,
                                  "OCX_CONFIG": str(tmp_path / "missing.conf")}, workers=1)
    output, _ = proc.communicate(timeout=60)
    assert proc.returncode == 3   # gunicorn's "worker failed to boot"
    assert "Failed to find some config files: " in output and "missing.conf" in output
