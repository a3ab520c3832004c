"""A cloud of simulated network controllers, named on the command line or in the INI file."""
from __future__ import annotations

import pytest

from ocx.sim.cloud import CloudSpec, SimCloud
from ocx.sim.config import parse_config
from ocx.sim.controller import ControllerError, SimController, apply_faults
from ocx.sim.exchange import parse_clouds


def test_a_cloud_named_with_controller_runs_a_cluster_not_a_catalog_service():
    home, ctl = parse_clouds("home,ctl=controller")
    assert ctl.services == ("controller",)
    cloud = SimCloud(CloudSpec(name="ctl", services=("controller",),
                               settings={"controller.count": "3"}))
    assert "controller" not in cloud.services and len(cloud.controllers) == 3
    assert SimCloud(home).controllers is None


def test_the_ini_file_sets_the_count_credentials_and_fixed_ports():
    config = parse_config("""
[cloud ctl]
services = controller
ports = controller-0:9100, controller-1:9101
settings = controller.count=2, controller.user=bsn, controller.deployment_id=dep1
""")
    cloud = SimCloud(config.clouds[0])
    assert [s.port for s in cloud.controllers.servers] == [9100, 9101]
    assert cloud.controllers.auth.startswith("bsn:")
    assert cloud.controllers.describe()["servers"] == "127.0.0.1:9100,127.0.0.1:9101"
    assert cloud.controllers.describe()["deployment_id"] == "dep1"


def test_an_ipv6_server_is_named_in_brackets():
    assert SimController("c", user="u", password="p", host="::1", port=80).server == "[::1]:80"


@pytest.mark.parametrize("body", [{"status": 404}, {"status": 503, "count": -1},
                                  {"latency_ms": "slow"}, {"error_rate": 2}, {"down": True}, []])
def test_bad_fault_requests_change_nothing(body):
    server = SimController("c", user="u", password="p")
    before = server.describe()["faults"]
    with pytest.raises(ControllerError):
        apply_faults(server, body)
    assert server.describe()["faults"] == before
