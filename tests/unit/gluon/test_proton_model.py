"""The simulated Proton server's checks and bind decisions, as Gluon's net-l3vpn API makes them."""
from __future__ import annotations

import json

import pytest

from ocx.sim.errors import SimError
from ocx.sim.proton import COLLECTIONS, bind_change, check_body

PORTS = COLLECTIONS["ports"]
GOOD_PORT = {"tenant_id": "5205b400-fa6c-4a88-8a0b-229200562229",
             "mac_address": "c8:2a:14:04:43:80", "admin_state_up": True, "status": "ACTIVE",
             "vnic_type": "normal", "mtu": 1500, "vlan_transparency": False, "name": "p"}


def test_a_port_as_protonclient_creates_it_is_accepted():
    assert check_body(PORTS, GOOD_PORT, create=True) == GOOD_PORT


@pytest.mark.parametrize("change, message", [
    ({"colour": "blue"}, "Unknown attribute for argument body: colour"),
    ({"mtu": "1500"}, "Invalid input for field/attribute mtu. Value: '1500'. Wrong type"),
    ({"status": "UP"}, "Invalid input for field/attribute status"),
    ({"mac_address": "c8:2a:14"}, "Invalid MAC address"),
    ({"tenant_id": "not-a-uuid"}, "Expected a uuid"),
    ({"profile": "{not json"}, "Invalid JSON string"),
    ({"admin_state_up": 1}, "Expected 'bool'"),
    ({"tenant_id": None}, "Invalid input for field/attribute tenant_id. Value: 'None'. "
                          "Mandatory field missing."),
])
def test_a_bad_port_body_is_refused_with_wsme_messages(change, message):
    with pytest.raises(SimError) as err:
        check_body(PORTS, {**GOOD_PORT, **change}, create=True)
    assert err.value.status == 400 and message in err.value.message


def test_a_body_that_is_not_an_object_is_refused():
    with pytest.raises(SimError) as err:
        check_body(PORTS, [GOOD_PORT], create=True)
    assert err.value.status == 400


def test_a_binding_checks_its_ip_and_prefix():
    bindings = COLLECTIONS["vpnbindings"]
    base = {"interface_id": GOOD_PORT["tenant_id"], "service_id": GOOD_PORT["tenant_id"]}
    assert check_body(bindings, {**base, "ipaddress": "10.10.10.3", "subnet_prefix": 24},
                      create=True)["ipaddress"] == "10.10.10.3"
    for bad in ({"ipaddress": "10.10.10.300"}, {"subnet_prefix": 32}, {"gateway": "::1"}):
        with pytest.raises(SimError):
            check_body(bindings, {**base, **bad}, create=True)


def test_bind_needs_host_and_device_unbind_empties_them_anything_else_is_no_binding_change():
    bound = bind_change({"host_id": "compute1", "device_id": "d", "device_owner": "compute:nova"},
                        "ovs")
    assert bound["vif_type"] == "ovs" and json.loads(bound["vif_details"]) == {"port_filter": True}
    assert bind_change({"host_id": "", "device_id": "", "profile": ""}, "ovs") == {
        "vif_type": None, "vif_details": "{}"}
    assert bind_change({"name": "renamed"}, "ovs") is None
    assert bind_change({"host_id": "compute1"}, "ovs") is None


def test_a_proton_server_runs_only_in_a_cloud_that_names_it():
    from ocx.sim.exchange import parse_clouds

    home, sp1 = parse_clouds("home,sp1=nova+neutron+proton")
    assert "proton" not in home.services
    assert sp1.services == ("nova", "neutron", "proton")
    with pytest.raises(ValueError):
        parse_clouds("sp1=protons")
