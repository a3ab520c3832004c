"""The simulated network controller's state: what each REST call does to it, and the hash."""
from __future__ import annotations

import base64

import pytest

from ocx.sim.controller import (ClusterSpec, ControllerError, ControllerState, ForcedFailure,
                                basic_credentials, parse_topology)

MAC = "fa:16:3e:00:00:01"


def with_network(tenant="t1", net_id="n1", **fields) -> ControllerState:
    state = ControllerState()
    state.put_network(tenant, {"network": {"id": net_id, "name": "net", **fields}})
    return state


def refused(call, status=400, reason="bad-request") -> ControllerError:
    with pytest.raises(ControllerError) as info:
        call()
    assert (info.value.status, info.value.reason) == (status, reason)
    return info.value


def test_a_created_network_belongs_to_the_paths_tenant_and_is_up_by_default():
    state = ControllerState()
    net, created = state.put_network("t1", {"network": {"id": "n1", "gateway": "10.0.0.1"}})
    assert created
    assert net == {"id": "n1", "tenant_id": "t1", "state": "UP", "gateway": "10.0.0.1",
                   "subnets": [], "ports": []}


def test_creating_a_network_again_replaces_it_and_keeps_its_ports():
    state = with_network()
    state.put_port("t1", "n1", {"port": {"id": "p1"}})
    net, created = state.put_network("t1", {"network": {"id": "n1", "name": "renamed"}})
    assert not created
    assert net["name"] == "renamed" and [p["id"] for p in net["ports"]] == ["p1"]


@pytest.mark.parametrize("body", [
    [], {"net": {}}, {"network": {"name": "no id"}}, {"network": {"id": ""}},
    {"network": {"id": "n1", "state": "SIDEWAYS"}}, {"network": {"id": "n1", "subnets": {}}},
    {"network": {"id": "n1", "subnets": [{"cidr": "10.0.0.0/24"}]}},
    {"network": {"id": "n1", "tenant_id": "t2"}}, {"network": {"id": "n1", "ports": []}},
    {"network": {"id": "n1", "gateway": 7}},
])
def test_a_bad_network_body_is_refused_and_nothing_changes(body):
    state = ControllerState()
    before = state.hash()
    refused(lambda: state.put_network("t1", body))
    assert state.hash() == before


def test_another_tenants_network_is_not_found_under_this_tenant():
    state = with_network("t1")
    err = refused(lambda: state.network("t2", "n1"), 404, "NXVNS")
    assert "n1" in err.description
    refused(lambda: state.put_network("t2", {"network": {"id": "n1"}}))


def test_a_network_update_changes_only_the_fields_sent():
    state = with_network(gateway="10.0.0.1")
    net = state.update_network("t1", "n1", {"network": {
        "name": "new", "subnets": [{"id": "s1", "gateway_ip": "10.0.0.1"}]}})
    assert net["name"] == "new" and net["gateway"] == "10.0.0.1" and net["state"] == "UP"
    assert [s["id"] for s in net["subnets"]] == ["s1"]
    refused(lambda: state.update_network("t1", "n1", {"network": {"id": "other"}}))


def test_deleting_a_network_takes_its_ports_and_the_router_interfaces_on_it():
    state = with_network()
    state.put_port("t1", "n1", {"port": {"id": "p1"}})
    state.put_router("t1", {"router": {"id": "r1"}})
    state.add_interface("t1", "r1", {"interface": {"id": "i1", "network": {"id": "n1"},
                                                   "subnet": {"id": "s1"}}})
    state.delete_network("t1", "n1")
    assert state.topology() == {"networks": [], "routers": [
        {"id": "r1", "tenant_id": "t1", "state": "UP", "interfaces": []}]}
    refused(lambda: state.delete_network("t1", "n1"), 404, "NXVNS")


def test_ports_live_on_their_network_and_a_missing_one_is_nxport():
    state = with_network()
    port, created = state.put_port("t1", "n1", {"port": {"id": "p1", "mac_address": MAC}})
    assert created and port["attachment"] is None and port["state"] == "UP"
    assert state.update_port("t1", "n1", "p1", {"port": {"state": "DOWN"}})["state"] == "DOWN"
    refused(lambda: state.port("t1", "n1", "p2"), 404, "NXPORT")
    refused(lambda: state.put_port("t1", "n2", {"port": {"id": "p1"}}), 404, "NXVNS")
    state.delete_port("t1", "n1", "p1")
    refused(lambda: state.delete_port("t1", "n1", "p1"), 404, "NXPORT")


def test_attaching_plugs_a_device_and_detaching_keeps_the_port():
    state = with_network()
    state.put_port("t1", "n1", {"port": {"id": "p1"}})
    port = state.attach("t1", "n1", "p1", {"attachment": {"id": "vm1", "mac": MAC}})
    assert port["attachment"] == {"id": "vm1", "mac": MAC}
    assert state.detach("t1", "n1", "p1")["attachment"] is None
    assert state.port("t1", "n1", "p1")["id"] == "p1"


def test_an_attachment_with_its_port_creates_the_port_as_the_real_proxy_sends_it():
    state = with_network()
    port = state.attach("t1", "n1", "p9", {"port": {"id": "p9", "device_id": "vm1"},
                                           "attachment": {"id": "vm1", "mac": MAC}})
    assert port["device_id"] == "vm1" and port["attachment"]["mac"] == MAC
    refused(lambda: state.attach("t1", "n1", "p8", {"attachment": {"id": "vm", "mac": MAC}}),
            404, "NXPORT")


@pytest.mark.parametrize("body", [{}, {"attachment": None}, {"attachment": {"id": "vm"}},
                                  {"attachment": {"id": 1, "mac": MAC}}, "x"])
def test_a_bad_attachment_is_refused(body):
    state = with_network()
    state.put_port("t1", "n1", {"port": {"id": "p1"}})
    refused(lambda: state.attach("t1", "n1", "p1", body))
    assert state.port("t1", "n1", "p1")["attachment"] is None


def test_router_interfaces_need_a_network_the_controller_holds():
    state = with_network()
    state.put_router("t1", {"router": {"id": "r1", "name": "gw"}})
    body = {"interface": {"id": "i1", "network": {"id": "n1"}, "subnet": {"id": "s1"}}}
    intf, created = state.add_interface("t1", "r1", body)
    assert created and intf["network"]["id"] == "n1"
    missing_net = {"interface": {"id": "i2", "network": {"id": "nx"}, "subnet": {"id": "s"}}}
    refused(lambda: state.add_interface("t1", "r1", missing_net), 404, "NXVNS")
    refused(lambda: state.add_interface("t1", "r1", {"interface": {"id": "i3"}}))
    state.remove_interface("t1", "r1", "i1")
    refused(lambda: state.remove_interface("t1", "r1", "i1"), 404, "NXINTF")
    refused(lambda: state.router("t2", "r1"), 404, "NXROUTER")
    refused(lambda: state.put_router("t1", {"router": {"id": "r2", "interfaces": []}}))


def test_the_hash_is_a_digest_of_the_state_so_equal_states_hash_alike():
    a, b = with_network(), with_network()
    assert a.hash() == b.hash() != ControllerState().hash()
    b.put_port("t1", "n1", {"port": {"id": "p1"}})
    assert a.hash() != b.hash()


def test_a_topology_becomes_the_whole_state_and_round_trips():
    topology = {
        "networks": [{"id": "n1", "tenant_id": "t1", "state": "UP", "gateway": "10.0.0.1",
                      "subnets": [{"id": "s1", "cidr": "10.0.0.0/24"}],
                      "ports": [{"id": "p1", "state": "UP",
                                 "attachment": {"id": "vm1", "mac": MAC}}]}],
        "routers": [{"id": "r1", "tenant_id": "t1", "state": "UP",
                     "interfaces": [{"id": "i1", "network": {"id": "n1"},
                                     "subnet": {"id": "s1"}}]}],
        "triggered_by_tenant": None}
    state = parse_topology(topology)
    expected = {k: topology[k] for k in ("networks", "routers")}
    # An interface shows its network and subnet as the controller holds them now.
    expected["routers"] = [dict(topology["routers"][0], interfaces=[{
        "id": "i1", "network": {"id": "n1", "tenant_id": "t1", "state": "UP"},
        "subnet": {"id": "s1", "cidr": "10.0.0.0/24"}}])]
    assert state.topology() == expected
    assert parse_topology(state.topology()).hash() == state.hash()


@pytest.mark.parametrize("body", [
    [], {"networks": {}}, {"networks": [{"id": "n1"}]},  # no tenant
    {"networks": [{"id": "n1", "tenant_id": "t"}, {"id": "n1", "tenant_id": "t"}]},
    {"networks": [{"id": "n1", "tenant_id": "t", "ports": [{"id": "p", "state": "ON"}]}]},
    {"routers": [{"id": "r1", "tenant_id": "t", "interfaces": [
        {"id": "i", "network": {"id": "nowhere"}, "subnet": {"id": "s"}}]}]},
])
def test_a_bad_topology_is_refused_whole(body):
    refused(lambda: parse_topology(body))


@pytest.mark.parametrize("header, expected", [
    ("Basic " + base64.b64encode(b"ocx:s3:cret").decode(), ("ocx", "s3:cret")),
    ("basic " + base64.b64encode(b"u:").decode(), ("u", "")),
    ("Basic " + base64.b64encode(b"nocolon").decode(), None),
    ("Basic !!!", None), ("Bearer abc", None), ("", None), (None, None),
])
def test_basic_credentials_are_read_from_the_authorization_header(header, expected):
    assert basic_credentials(header) == expected


def test_a_forced_failure_answers_a_bounded_number_of_requests():
    once = ForcedFailure(503, 1)
    assert once.take() and not once.take()
    always = ForcedFailure(500)
    assert all(always.take() for _ in range(5))


def test_cluster_settings_name_count_credentials_and_ports():
    spec = ClusterSpec.from_settings(
        {"controller.count": "3", "controller.user": "bsn", "controller.deployment_id": "d1"},
        {"controller-1": 9101})
    assert (spec.count, spec.user, spec.deployment_id, spec.ports) == (3, "bsn", "d1",
                                                                        (0, 9101, 0))
    for bad in ({"controller.count": "0"}, {"controller.count": "two"},
                {"controller.user": "a:b"}):
        with pytest.raises(ValueError):
            ClusterSpec.from_settings(bad, {})
