"""Node drivers declare what a service needs from the network (get_plumbing_info)."""
from __future__ import annotations

import pytest

from ocx.policy import nodes
from ocx.policy.errors import PolicyError

DRIVERS = nodes.load(["config"])


def info(config: str = "{}", service_type: str | None = None) -> nodes.PlumbingInfo:
    return nodes.plumbing_info(DRIVERS, {"id": "n1", "config": config,
                                         "service_type": service_type})


def test_the_service_type_says_the_plumbing_as_gbp_drivers_do():
    assert info(service_type="FIREWALL") == nodes.PlumbingInfo("gateway", ({},), ({},))
    assert info(service_type="LOADBALANCERV2") == nodes.PlumbingInfo("endpoint", ({},), ())
    assert info(service_type="ids").plumbing_type == "transparent"


def test_the_config_says_it_explicitly():
    got = info('{"plumbing_type": "transparent", "provider_targets": 2, '
               '"management_targets": 1}', service_type="FIREWALL")
    assert got == nodes.PlumbingInfo("transparent", ({}, {}), ({},), ({},))


@pytest.mark.parametrize("config,service_type,reason", [
    ("not json", None, "not a JSON object"),
    ("[1]", None, "not a JSON object"),
    ("{}", None, "names no plumbing_type"),
    ("{}", "WEIRD", "names no plumbing_type"),
    ('{"plumbing_type": "tunnel"}', None, "'tunnel' is none of"),
    ('{"plumbing_type": "gateway", "consumer_targets": 0}', None, "a target on each side"),
    ('{"plumbing_type": "endpoint", "consumer_targets": 1}', None, "no consumer-side"),
    ('{"plumbing_type": "gateway", "provider_targets": true}', None, "must be an integer"),
    ('{"plumbing_type": "gateway", "provider_targets": 99}', None, "must be an integer"),
])
def test_what_no_driver_can_plumb_is_refused(config, service_type, reason):
    with pytest.raises(PolicyError) as refused:
        info(config, service_type)
    assert refused.value.status == 400 and refused.value.type == "NoDriverAvailableForAction"
    assert reason in refused.value.message


def test_unknown_drivers_are_refused_at_start_up():
    with pytest.raises(ValueError, match="unknown driver"):
        nodes.load(["config", "heat"])
