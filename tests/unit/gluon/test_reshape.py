"""A Proton port as Neutron shows it, what an update asks, and filters (seed 002's wrapper)."""
from __future__ import annotations

import pytest

from ocx.extensions import gluon_shape as shape

NET, SUBNET = "net-dummy", "subnet-dummy"
PROJECT = "c5b6e2a4d7f34f0f9a1b2c3d4e5f6a7b"


def proton_port(**changes) -> dict:
    port = {"id": "11111111-2222-3333-4444-555555555555", "name": "vm-port",
            "tenant_id": PROJECT, "mac_address": "fa:16:3e:00:00:01", "admin_state_up": True,
            "status": "ACTIVE", "vnic_type": "normal", "mtu": 1500, "vlan_transparency": False,
            "profile": None, "device_id": None, "device_owner": None, "host_id": None,
            "vif_details": None, "vif_type": None, "alarms": None,
            "created_at": "2026-11-25T00:00:00", "updated_at": "2026-11-25T00:00:00"}
    port.update(changes)
    return port


def test_an_unbound_port_with_an_ip_is_on_the_dummy_network_and_subnet():
    port = shape.neutron_port(proton_port(), network_id=NET, subnet_id=SUBNET,
                              ip_address="10.5.0.7")
    assert port["network_id"] == NET
    assert port["fixed_ips"] == [{"subnet_id": SUBNET, "ip_address": "10.5.0.7"}]
    assert port["tenant_id"] == port["project_id"] == PROJECT
    assert port["binding:host_id"] == "" and port["binding:vif_type"] == "unbound"
    assert port["binding:profile"] == {} and port["binding:vif_details"] == {}
    assert port["device_id"] == "" and port["device_owner"] == ""
    assert port["security_groups"] == [] and port["allowed_address_pairs"] == []
    assert port["status"] == "ACTIVE" and port["admin_state_up"] is True


def test_a_port_without_an_ip_has_no_fixed_ips():
    port = shape.neutron_port(proton_port(), network_id=NET, subnet_id=SUBNET)
    assert port["fixed_ips"] == []


def test_a_bound_port_shows_its_binding_with_the_json_text_parsed():
    port = shape.neutron_port(proton_port(
        host_id="compute-1", device_id="vm-1", device_owner="compute:nova", vif_type="ovs",
        vif_details='{"port_filter": true}', profile='{"pci_slot": "0000:05:00.1"}'),
        network_id=NET, subnet_id=SUBNET)
    assert port["binding:host_id"] == "compute-1"
    assert port["binding:vif_type"] == "ovs"
    assert port["binding:vif_details"] == {"port_filter": True}
    assert port["binding:profile"] == {"pci_slot": "0000:05:00.1"}
    assert port["device_id"] == "vm-1" and port["device_owner"] == "compute:nova"


def test_every_neutron_port_attribute_is_there():
    port = shape.neutron_port(proton_port(), network_id=NET, subnet_id=SUBNET)
    for attribute in ("id", "name", "network_id", "tenant_id", "project_id", "mac_address",
                      "admin_state_up", "status", "device_id", "device_owner", "fixed_ips",
                      "allowed_address_pairs", "security_groups", "port_security_enabled",
                      "binding:host_id", "binding:vnic_type", "binding:profile",
                      "binding:vif_type", "binding:vif_details", "description", "tags",
                      "created_at", "updated_at", "revision_number"):
        assert attribute in port, attribute


CURRENT = shape.neutron_port(proton_port(device_id="vm-0", device_owner="compute:nova"),
                             network_id=NET, subnet_id=SUBNET)


def test_a_host_id_binds_with_the_device_and_profile_given():
    update = shape.decide({"binding:host_id": "compute-2", "device_id": "vm-9",
                           "device_owner": "compute:az1", "binding:profile": {"a": 1}},
                          CURRENT)
    assert (update.action, update.host_id, update.device_id, update.device_owner,
            update.profile, update.changes) == ("bind", "compute-2", "vm-9", "compute:az1",
                                                {"a": 1}, {})


def test_a_bind_without_a_device_keeps_the_ports_own():
    update = shape.decide({"binding:host_id": "compute-2"}, CURRENT)
    assert (update.action, update.device_id, update.device_owner) == \
        ("bind", "vm-0", "compute:nova")


@pytest.mark.parametrize("cleared", ["", None])
def test_a_cleared_host_id_unbinds(cleared):
    update = shape.decide({"binding:host_id": cleared, "device_id": ""}, CURRENT)
    assert update.action == "unbind" and update.changes == {}


def test_a_rename_is_an_update_not_an_unbind():
    update = shape.decide({"name": "renamed"}, CURRENT)
    assert update.action == "update" and update.changes == {"name": "renamed"}


def test_an_update_is_in_protons_names():
    update = shape.decide({"admin_state_up": "false", "binding:vnic_type": "direct",
                           "binding:profile": {"x": "y"}}, CURRENT)
    assert update.changes == {"admin_state_up": False, "vnic_type": "direct",
                              "profile": {"x": "y"}}
    assert shape.proton_values(update.changes)["profile"] == '{"x":"y"}'


@pytest.mark.parametrize("item, words", [
    ({"id": "other"}, "Cannot update read-only attribute id"),
    ({"status": "DOWN"}, "read-only attribute status"),
    ({"fixed_ips": []}, "fixed_ips cannot be changed on Gluon port"),
    ({"network_id": NET}, "network_id cannot be changed"),
    ({"admin_state_up": "perhaps"}, "cannot be converted to boolean"),
    ({"name": 5}, "is not a valid string"),
    ({"binding:host_id": 3}, "is not a valid string"),
    ({"binding:profile": "text"}, "is not a dictionary"),
])
def test_what_neutron_or_proton_cannot_take_is_refused(item, words):
    with pytest.raises(shape.Refused) as refused:
        shape.decide(item, CURRENT)
    assert words in refused.value.message


# -- filters -------------------------------------------------------------------------------

def _port(**changes):
    return {**shape.neutron_port(proton_port(), network_id=NET, subnet_id=SUBNET,
                                 ip_address="10.5.0.7"), **changes}


@pytest.mark.parametrize("pairs, held", [
    ([("name", "vm-port")], True),
    ([("name", "other")], False),
    ([("name", "other"), ("name", "vm-port")], True),             # alternatives
    ([("network_id", NET)], True),
    ([("network_id", "another")], False),
    ([("admin_state_up", "True")], True),
    ([("admin_state_up", "false")], False),
    ([("fixed_ips", "ip_address=10.5.0.7")], True),
    ([("fixed_ips", "ip_address=10.5.0.8")], False),
    ([("fixed_ips", f"subnet_id={SUBNET}")], True),
    ([("fixed_ips", "ip_address_substr=5.0")], True),
    ([("binding:host_id", "")], True),                            # an empty value: no filter
    ([("device_owner", "compute:nova")], False),
    ([("tenant_id", PROJECT), ("status", "ACTIVE")], True),
    ([("limit", "1"), ("sort_key", "name"), ("sort_dir", "asc"), ("fields", "id")], True),
])
def test_filters_hold_as_neutron_holds_them(pairs, held):
    assert shape.matches(_port(), shape.parse_filters(pairs)) is held


def test_an_attribute_neutron_does_not_filter_on_is_refused():
    with pytest.raises(shape.Refused) as refused:
        shape.parse_filters([("colour", "red")])
    assert refused.value.message == "['colour'] is invalid attribute for filtering"


# -- one source's listing ------------------------------------------------------------------

PORTS = [_port(id=f"{n}0000000-0000-0000-0000-000000000000", name=name)
         for n, name in ((1, "b"), (2, "a"), (3, "c"), (4, "a"))]


def test_a_listing_is_sorted_with_id_breaking_ties_and_paged_after_the_marker():
    pairs = [("sort_key", "name"), ("sort_dir", "asc"), ("limit", "2")]
    first = shape.listing(PORTS, pairs)
    assert [p["name"] for p in first["ports"]] == ["a", "a"]
    assert [p["id"][0] for p in first["ports"]] == ["2", "4"]
    assert first["ports_links"][0]["rel"] == "next"
    second = shape.listing(PORTS, pairs + [("marker", first["ports"][-1]["id"])])
    assert [p["name"] for p in second["ports"]] == ["b", "c"]


def test_a_listing_gives_the_fields_asked_and_filters():
    document = shape.listing(PORTS, [("name", "a"), ("fields", "id"), ("fields", "name")])
    assert document["ports"] == [{"id": PORTS[1]["id"], "name": "a"},
                                 {"id": PORTS[3]["id"], "name": "a"}]
    assert "ports_links" not in document


def test_a_marker_that_is_none_of_the_ports_is_not_found():
    with pytest.raises(LookupError):
        shape.listing(PORTS, [("limit", "1"), ("marker", "nope")])


@pytest.mark.parametrize("pairs", [[("sort_key", "binding:profile"), ("sort_dir", "asc")],
                                   [("sort_key", "name")], [("limit", "-1")]])
def test_a_bad_sort_or_limit_is_refused(pairs):
    with pytest.raises(shape.Refused):
        shape.listing(PORTS, pairs)
