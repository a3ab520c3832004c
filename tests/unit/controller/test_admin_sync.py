"""What `ocx controller sync NAME [--server HOST:PORT]` chooses, and how it words a failure
(ocx/admin/controller.py; the I/O is in tests/integration/controller/test_cli.py)."""
from __future__ import annotations

import aiohttp
import pytest

from ocx import config
from ocx.admin.controller import (
    REFUSES_CREDENTIALS,
    SyncResult,
    UsageError,
    chosen_servers,
    failure_detail,
    target,
)
from ocx.backends.controller import ControllerAuthFailed, ControllerRefused
from ocx.backends.controller_config import Server

CONFIG = """[DEFAULT]
providers = sp1, ctl, lab
[provider:ctl]
kind = controller
servers = 10.0.0.1:8000,10.0.0.2:8000
serverauth = ocx:secret
sync_timeout = 7.5
[provider:lab]
kind = controller
servers = [fd00::1]:80
"""


@pytest.fixture
def conf(tmp_path):
    (tmp_path / "ocx.conf").write_text(CONFIG)
    return config.load(str(tmp_path / "ocx.conf"))


def test_every_server_of_the_provider_in_the_configured_order(conf):
    chosen = target(conf, "ctl")
    assert chosen.servers == (Server("10.0.0.1", 8000), Server("10.0.0.2", 8000))
    assert (chosen.settings.name, chosen.settings.username, chosen.settings.sync_timeout) == \
        ("ctl", "ocx", 7.5)


def test_one_server_named_as_the_configuration_writes_it(conf):
    assert target(conf, "ctl", "10.0.0.2:8000").servers == (Server("10.0.0.2", 8000),)
    assert target(conf, "lab", "[fd00:0::1]:80").servers == (Server("fd00::1", 80),)


@pytest.mark.parametrize("name, server, says", [
    ("nope", None, "no provider 'nope' in the configuration's providers (controller "
                   "providers: ctl, lab)"),
    ("home", None, "no provider 'home'"),
    ("sp1", None, "provider 'sp1' is of kind openstack, not controller"),
    ("ctl", "10.0.0.3:8000", "10.0.0.3:8000 is not a controller of ctl (its servers: "
                             "10.0.0.1:8000, 10.0.0.2:8000)"),
    ("ctl", "10.0.0.1", "--server: '10.0.0.1': no port (host:port)"),
    ("ctl", "10.0.0.1:99999", "out of range"),
])
def test_what_the_configuration_does_not_have_is_a_usage_error_naming_it(conf, name, server,
                                                                       says):
    with pytest.raises(UsageError) as raised:
        target(conf, name, server)
    assert says in str(raised.value)


def test_no_server_named_means_every_one(conf):
    settings = target(conf, "ctl").settings
    assert chosen_servers(settings, None) == settings.servers


def test_why_a_server_was_not_synchronised(conf):
    settings = target(conf, "ctl").settings
    auth = ControllerAuthFailed("ctl", "controller 10.0.0.1:8000 refused OCX (401 "
                                       "unauthorized): check serverauth and deployment_id")
    assert failure_detail(auth, settings) == REFUSES_CREDENTIALS
    refused = ControllerRefused("ctl", "controller 10.0.0.1:8000 refused the topology: 400 "
                                       "bad-request")
    assert failure_detail(refused, settings) == refused.reason
    assert failure_detail(TimeoutError(), settings) == \
        "took no state within 7.5 s (sync_timeout)"
    unreachable = aiohttp.ClientConnectionError()
    assert failure_detail(unreachable, settings) == \
        "cannot be reached (ClientConnectionError)"
    assert failure_detail(aiohttp.ClientPayloadError(), settings) == \
        "failed (ClientPayloadError)"


def test_a_result_record_has_every_field():
    assert SyncResult("10.0.0.1:8000", True, "given", 2, 3, 4, 1).record() == {
        "server": "10.0.0.1:8000", "synced": True, "networks": 2, "subnets": 3, "ports": 4,
        "routers": 1, "detail": "given"}
    assert SyncResult("10.0.0.1:8000", False, "cannot be reached").record()["networks"] is None
