"""Neutron changes as the controller's REST calls (the contract of ocx/sim/controller.py)."""
from __future__ import annotations

import pytest

from ocx.backends import controller_translate as t

NET = {"id": "n1", "tenant_id": "t1", "name": "blue", "admin_state_up": True,
       "status": "ACTIVE", "shared": False, "subnets": ["s1"]}
SUB = {"id": "s1", "tenant_id": "t1", "network_id": "n1", "cidr": "10.0.0.0/24",
       "gateway_ip": "10.0.0.1", "ip_version": 4}
PORT = {"id": "p1", "project_id": "t1", "network_id": "n1", "admin_state_up": False,
        "mac_address": "fa:16:3e:00:00:01", "device_id": "", "fixed_ips": []}
ROUTER = {"id": "r1", "tenant_id": "t1", "name": "edge", "admin_state_up": True}


def test_a_network_is_created_with_its_gateway_and_state():
    call = t.create_network(NET)
    assert (call.method, call.path) == ("POST", "/tenants/t1/networks")
    assert call.body == {"network": {"id": "n1", "tenant_id": "t1", "name": "blue",
                                     "shared": False, "state": "UP", "subnets": [],
                                     "gateway": ""}}


def test_a_subnet_change_is_a_put_of_its_network_with_every_subnet():
    second = SUB | {"id": "s2", "cidr": "10.0.1.0/24", "gateway_ip": "10.0.1.1"}
    call = t.update_network(NET, [SUB, second])
    assert (call.method, call.path) == ("PUT", "/tenants/t1/networks/n1")
    body = call.body["network"]
    assert body["gateway"] == "10.0.0.1" and [s["id"] for s in body["subnets"]] == ["s1", "s2"]
    assert t.update_network(NET, []).body["network"]["gateway"] == ""


def test_network_delete():
    assert t.delete_network(NET) == t.RestCall("DELETE", "/tenants/t1/networks/n1")


def test_a_port_is_made_on_its_network_down_when_neutron_says_so():
    [call] = t.create_port(PORT)
    assert (call.method, call.path) == ("POST", "/tenants/t1/networks/n1/ports")
    assert call.body["port"]["state"] == "DOWN" and "admin_state_up" not in call.body["port"]


def test_a_port_made_with_a_device_is_attached_with_its_mac():
    [call] = t.create_port(PORT | {"device_id": "vm1"})
    assert (call.method, call.path) == ("PUT", "/tenants/t1/networks/n1/ports/p1/attachment")
    assert call.body["attachment"] == {"id": "vm1", "mac": "fa:16:3e:00:00:01"}
    assert call.body["port"]["id"] == "p1"


@pytest.mark.parametrize("before, after, extra", [
    ("", "vm1", ("PUT", "/attachment")),
    ("vm1", "", ("DELETE", "/attachment")),
    ("vm1", "vm2", ("PUT", "/attachment")),
    ("vm1", "vm1", None),
])
def test_a_device_change_attaches_or_detaches(before, after, extra):
    calls = t.update_port(PORT | {"device_id": before}, PORT | {"device_id": after})
    assert (calls[0].method, calls[0].path) == ("PUT", "/tenants/t1/networks/n1/ports/p1")
    if extra is None:
        assert len(calls) == 1
    else:
        assert (calls[1].method, calls[1].path[-len(extra[1]):]) == extra


def test_port_delete_and_detach():
    assert t.delete_port(PORT).path == "/tenants/t1/networks/n1/ports/p1"
    assert t.detach(PORT) == t.RestCall("DELETE",
                                        "/tenants/t1/networks/n1/ports/p1/attachment")
    with pytest.raises(ValueError, match="no device_id"):
        t.attach(PORT)


def test_routers_and_their_interfaces():
    assert t.create_router(ROUTER).body == {"router": {"id": "r1", "tenant_id": "t1",
                                                       "name": "edge", "state": "UP"}}
    assert t.update_router(ROUTER).path == "/tenants/t1/routers/r1"
    assert t.delete_router(ROUTER).method == "DELETE"
    call = t.add_interface(ROUTER, "p9", NET, SUB)
    assert (call.method, call.path) == ("POST", "/tenants/t1/routers/r1/interfaces")
    assert call.body["interface"]["id"] == "p9"
    assert call.body["interface"]["network"]["id"] == "n1"
    assert call.body["interface"]["subnet"]["cidr"] == "10.0.0.0/24"
    assert t.remove_interface(ROUTER, "p9").path == "/tenants/t1/routers/r1/interfaces/p9"


def test_ids_are_quoted_in_paths():
    assert t.delete_network(NET | {"id": "a/b"}).path == "/tenants/t1/networks/a%2Fb"


def test_a_resource_without_a_tenant_is_refused():
    with pytest.raises(ValueError, match="no tenant_id"):
        t.create_router({"id": "r1"})


def test_the_whole_state_in_one_put():
    plugged = PORT | {"id": "p2", "device_id": "vm1", "mac_address": "fa:16:3e:00:00:02"}
    call = t.topology([NET], [SUB], [plugged, PORT], [ROUTER],
                      [t.Interface("r1", "s1", "p1")])
    assert (call.method, call.path) == ("PUT", "/topology")
    [net] = call.body["networks"]
    assert net["tenant_id"] == "t1" and net["gateway"] == "10.0.0.1"
    assert [p["id"] for p in net["ports"]] == ["p1", "p2"]
    assert [p["attachment"] for p in net["ports"]] == [
        None, {"id": "vm1", "mac": "fa:16:3e:00:00:02"}]
    [router] = call.body["routers"]
    assert router["interfaces"][0]["id"] == "p1" and router["state"] == "UP"
    assert call.body["triggered_by_tenant"] is None
    with pytest.raises(ValueError, match="subnet s9 is not in the state"):
        t.topology([NET], [SUB], [], [ROUTER], [t.Interface("r1", "s9", "p1")])
