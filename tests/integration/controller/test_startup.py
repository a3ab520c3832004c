"""A controller provider's configuration is checked when OCX starts (issue 10): no server, a
malformed entry, or credentials a controller refuses stop it with a message naming the
server; credentials refused later (the controller was down at start-up) are a clear error on
first use, naming it too, and nothing is recorded."""
from __future__ import annotations

import os
import tempfile

import pytest

from ocx import config
from ocx.api.server import gateway
from ocx.backends.controller_config import ControllerConfigError
from ocx.demo import free_port, ocx_config
from tests.conftest import start_sim


@pytest.fixture(scope="module")
def home():
    for sim in start_sim("home"):
        yield sim


def conf_with(home, section: str, state: str):
    described = {"clouds": home.exchange.describe()}
    path = os.path.join(state, "ocx.conf")
    with open(path, "w") as f:
        f.write(ocx_config(described, "home", free_port(), state, ["providers = ctl"]))
        f.write("\n[provider:ctl]\nkind = controller\n" + section)
    return config.load(path)


def start(home, conf):
    async def enter():
        context = gateway(conf, notifications=False)
        return context, await context.__aenter__()
    return home.call(enter())


@pytest.mark.parametrize("servers, named", [
    ("", "no server given"),
    ("127.0.0.1:8000, 127.0.0.1", "entry 2: '127.0.0.1': no port"),
    ("[fd00::1:8000", "entry 1"),
    ("127.0.0.1:8000,127.0.0.1:8000", "listed twice"),
])
def test_a_bad_server_list_stops_ocx_at_start_up(home, servers, named):
    with tempfile.TemporaryDirectory() as state:
        with pytest.raises(ControllerConfigError) as caught:   # reading it, or starting
            start(home, conf_with(home, f"servers = {servers}\nserverauth = ocx:pw\n", state))
    assert "[provider:ctl] servers" in str(caught.value) and named in str(caught.value)


def test_refused_credentials_stop_ocx_at_start_up_naming_the_server(home, controllers):
    ctl = controllers(2)
    with tempfile.TemporaryDirectory() as state:
        conf = conf_with(home, f"servers = {','.join(ctl.servers)}\n"
                               f"serverauth = {ctl.user}:wrong\n", state)
        with pytest.raises(ValueError) as caught:
            start(home, conf)
    message = str(caught.value)
    assert "[provider:ctl]" in message and "serverauth" in message
    assert any(server in message for server in ctl.servers)
    assert "wrong" not in message


def test_refused_credentials_on_first_use_are_a_clear_error(home, controllers):
    ctl = controllers(1)
    ctl.stop(0)   # down at start-up: OCX starts (reads are its store's)
    token = home.connect("home").session.get_token()
    with tempfile.TemporaryDirectory() as state:
        conf = conf_with(home, f"servers = {ctl.servers[0]}\n"
                               f"serverauth = {ctl.user}:wrong\n", state)
        context, app = start(home, conf)
        try:
            ctl.start(0)
            status, body = home.call(_create_network(app, token))
        finally:
            home.call(context.__aexit__(None, None, None))
    assert status == 502, body
    assert ctl.servers[0] in body and "serverauth" in body and "wrong" not in body
    assert ctl.state(0)["networks"] == []


async def _create_network(app, token: str) -> tuple[int, str]:
    """``POST /network/v2.0/networks`` to ctl through the gateway, as home's demo user."""
    from aiohttp.test_utils import TestClient, TestServer

    async with TestClient(TestServer(app)) as client:
        async with client.post("/network/v2.0/networks", json={"network": {"name": "n"}},
                               headers={"X-Auth-Token": token,
                                        "X-OCX-Provider": "ctl"}) as response:
            return response.status, await response.text()
