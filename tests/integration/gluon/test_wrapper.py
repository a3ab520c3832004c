"""Seed 002's Gluon wrapper, played by OCX: Gluon ports of two Proton servers served on OCX's
Neutron API (show, list, bind and unbind with the real ``openstack`` CLI, Nova booting on one),
Neutron's own ports untouched."""
from __future__ import annotations

import time
import uuid

import aetcd
import pytest

from tests.integration.gluon.wrapper_fixtures import world

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def wrapper():
    yield from world()


def eventually(check, what: str, attempts: int = 100, pause: float = 0.1):
    """``check()`` until it gives something true (the registry is followed by a watch)."""
    for _ in range(attempts):
        found = check()
        if found is not None and found is not False:  # an error answer is falsy
            return found
        time.sleep(pause)
    raise AssertionError(f"never: {what}")


def shown(world, port_id: str, user: str = "demo"):
    """``openstack port show`` through OCX once OCX has seen the port in the registry."""
    def show():
        found = world.osc("port", "show", port_id, user=user, check=False)
        return found if isinstance(found, dict) else None
    return eventually(show, f"port {port_id} shown")


def dummies(world) -> tuple[str, str]:
    home = world.home("admin")
    network = home.network.find_network("GluonNetwork")
    subnet = home.network.find_subnet("GluonSubnet", network_id=network.id)
    return network.id, subnet.id


def in_proton(world, cloud: str, port_id: str) -> dict:
    return world.proton("GET", cloud, f"ports/{port_id}")


def test_port_show_gives_the_proton_port_as_neutron_shows_it(wrapper):
    port = wrapper.make_port("sp1", "vpn-a", ip="10.1.0.5")
    network_id, subnet_id = dummies(wrapper)
    seen = shown(wrapper, port["id"])
    assert seen["id"] == port["id"] and seen["name"] == "vpn-a"
    assert seen["network_id"] == network_id
    assert seen["fixed_ips"] == [{"subnet_id": subnet_id, "ip_address": "10.1.0.5"}]
    assert seen["project_id"] == wrapper.project_id()
    assert seen["mac_address"] == port["mac_address"]
    assert seen["status"] == "ACTIVE" and seen["admin_state_up"] in (True, "UP")


def test_port_set_host_binds_and_unset_unbinds_on_the_right_proton_server(wrapper):
    one = wrapper.make_port("sp1", "bind-one", ip="10.1.0.6")
    two = wrapper.make_port("sp2", "bind-two", ip="10.2.0.6")
    shown(wrapper, one["id"], user="admin")
    shown(wrapper, two["id"], user="admin")
    device = str(uuid.uuid4())
    wrapper.osc("port", "set", "--host", "compute-7", "--device", device,
                "--device-owner", "compute:nova", two["id"], user="admin")
    bound = in_proton(wrapper, "sp2", two["id"])
    assert (bound["host_id"], bound["device_id"], bound["vif_type"]) == \
        ("compute-7", device, "ovs")
    assert in_proton(wrapper, "sp1", one["id"])["host_id"] in (None, "")  # the other untouched
    seen = shown(wrapper, two["id"], user="admin")
    assert seen["binding_host_id"] == "compute-7" and seen["binding_vif_type"] == "ovs"
    assert seen["device_id"] == device

    wrapper.osc("port", "unset", "--host", two["id"], user="admin")
    unbound = in_proton(wrapper, "sp2", two["id"])
    assert unbound["host_id"] in (None, "") and unbound["vif_type"] is None


def test_a_rename_is_sent_as_an_update_and_leaves_the_binding(wrapper):
    port = wrapper.make_port("sp1", "to-rename")
    shown(wrapper, port["id"], user="admin")
    device = str(uuid.uuid4())
    wrapper.osc("port", "set", "--host", "compute-3", "--device", device, port["id"],
                user="admin")
    wrapper.osc("port", "set", "--name", "renamed", port["id"], user="admin")
    after = in_proton(wrapper, "sp1", port["id"])
    assert (after["name"], after["host_id"], after["device_id"]) == \
        ("renamed", "compute-3", device)


def test_binding_is_nova_s_to_set_as_neutron_s_policy_says(wrapper):
    port = wrapper.make_port("sp1", "not-yours-to-bind")
    shown(wrapper, port["id"])
    refused = wrapper.osc("port", "set", "--host", "compute-1", port["id"], check=False)
    assert refused.returncode != 0
    assert "disallowed by policy" in refused.stderr
    assert in_proton(wrapper, "sp1", port["id"])["host_id"] in (None, "")


def test_port_list_merges_neutron_and_gluon_ports_with_filters_sort_and_paging(wrapper):
    demo = wrapper.home("demo")
    network = demo.network.create_network(name=f"lan-{uuid.uuid4().hex[:6]}")
    demo.network.create_subnet(network_id=network.id, ip_version=4, cidr="10.77.0.0/24")
    mine = demo.network.create_port(network_id=network.id, name="zz-neutron")
    gluon = [wrapper.make_port(cloud, f"zz-gluon-{cloud}", ip=ip)
             for cloud, ip in (("sp1", "10.1.0.9"), ("sp2", "10.2.0.9"))]
    try:
        for port in gluon:
            shown(wrapper, port["id"])
        listed = {p["ID"] for p in wrapper.osc("port", "list")}
        assert {mine.id, *(p["id"] for p in gluon)} <= listed

        network_id, _ = dummies(wrapper)
        on_dummy = {p["ID"] for p in wrapper.osc("port", "list", "--network", network_id)}
        assert {p["id"] for p in gluon} <= on_dummy and mine.id not in on_dummy
        by_ip = wrapper.osc("port", "list", "--fixed-ip", "ip-address=10.2.0.9")
        assert [p["ID"] for p in by_ip] == [gluon[1]["id"]]

        conn = wrapper.through_ocx()
        # Pages of two, sorted by name, over Neutron's port and the two Proton servers'.
        paged = [(p.name, p.id) for p in conn.network.ports(
            sort_key="name", sort_dir="desc", limit=2, name=["zz-neutron", "zz-gluon-sp1",
                                                             "zz-gluon-sp2"])]
        assert [name for name, _ in paged] == ["zz-neutron", "zz-gluon-sp2", "zz-gluon-sp1"]
        only = list(conn.network.ports(name="zz-gluon-sp1", fields=["id", "name"]))
        assert [(p.id, p.name, p.network_id) for p in only] == \
            [(gluon[0]["id"], "zz-gluon-sp1", None)]
    finally:
        demo.network.delete_port(mine.id)
        demo.network.delete_network(network.id)


def test_a_port_made_on_a_proton_server_appears_and_deleted_disappears(wrapper):
    port = wrapper.make_port("sp2", "comes-and-goes")
    eventually(lambda: port["id"] in {p["ID"] for p in wrapper.osc("port", "list")},
               "the new port listed")
    wrapper.proton("DELETE", "sp2", f"ports/{port['id']}")
    eventually(lambda: port["id"] not in {p["ID"] for p in wrapper.osc("port", "list")},
               "the deleted port gone")
    gone = wrapper.osc("port", "show", port["id"], check=False)
    assert gone.returncode != 0


def test_neutron_ports_are_untouched(wrapper):
    demo = wrapper.home("demo")
    network = demo.network.create_network(name=f"plain-{uuid.uuid4().hex[:6]}")
    subnet = demo.network.create_subnet(network_id=network.id, ip_version=4,
                                        cidr="10.78.0.0/24")
    port = demo.network.create_port(network_id=network.id, name="plain")
    try:
        seen = wrapper.osc("port", "show", port.id)
        assert seen["network_id"] == network.id
        assert seen["fixed_ips"][0]["subnet_id"] == subnet.id
        wrapper.osc("port", "set", "--name", "plain-renamed", port.id)
        assert demo.network.get_port(port.id).name == "plain-renamed"
    finally:
        demo.network.delete_port(port.id)
        demo.network.delete_network(network.id)


def test_proton_failures_are_neutron_errors_not_empty_ports(wrapper):
    conn = wrapper.through_ocx()
    base = f"{wrapper.ocx_url}/network/v2.0/ports"
    # Registered, but its Proton server has no such port: Neutron's 404.
    ghost = str(uuid.uuid4())
    bad = str(uuid.uuid4())

    async def register():
        async with aetcd.Client(host="127.0.0.1", port=2379) as etcd:
            await etcd.put(f"{wrapper.prefix}{ghost}".encode(),
                           ('{"tenant_id": "%s", "service": "net-l3vpn", "url": "%s"}'
                            % (wrapper.project_id(), wrapper.proton_url("sp1"))).encode())
            await etcd.put(f"{wrapper.prefix}{bad}".encode(), b"not json")
    wrapper.sim.call(register())

    malformed = eventually(lambda: (lambda a: a if a.status_code == 500 else None)(
        conn.session.get(f"{base}/{bad}", raise_exc=False)), "the bad entry known")
    assert f"{wrapper.prefix}{bad}" in malformed.json()["NeutronError"]["message"]
    missing = conn.session.get(f"{base}/{ghost}", raise_exc=False)  # registered by now
    assert missing.status_code == 404, missing.text
    assert missing.json()["NeutronError"]["type"] == "PortNotFound"

    # A Proton server that is down: a 503 naming it; the listing goes on without it.
    port = wrapper.make_port("sp1", "server-down")
    shown(wrapper, port["id"])
    wrapper.sim.call(wrapper.sim.cloud("sp1").set_down("proton", True))
    try:
        down = conn.session.get(f"{base}/{port['id']}", raise_exc=False)
        assert down.status_code == 503
        assert wrapper.proton_url("sp1") in down.json()["NeutronError"]["message"]
        listing = conn.session.get(base, raise_exc=False)
        assert listing.status_code == 200
        assert wrapper.proton_url("sp1") in listing.headers["X-OCX-Missing-Providers"]
    finally:
        wrapper.sim.call(wrapper.sim.cloud("sp1").set_down("proton", False))


def test_a_nova_server_boots_with_a_gluon_port_nova_binding_it_through_ocx(wrapper):
    port = wrapper.make_port("sp2", "for-nova", ip="10.2.0.40")
    shown(wrapper, port["id"])
    home = wrapper.home("demo")
    image = home.image.create_image(name="gluon-image", disk_format="raw",
                                    container_format="bare", data=b"\0" * 4096)
    conn = wrapper.through_ocx()
    server = conn.compute.create_server(name="on-gluon", flavor_id="42", image_id=image.id,
                                        networks=[{"port": port["id"]}])
    try:
        server = conn.compute.wait_for_server(server, interval=0.2, wait=60)
        assert server.status == "ACTIVE"
        bound = in_proton(wrapper, "sp2", port["id"])
        assert bound["device_id"] == server.id and bound["host_id"]
        assert bound["vif_type"] == "ovs"
        assert "10.2.0.40" in str(conn.compute.get_server(server.id).addresses)
    finally:
        conn.compute.delete_server(server.id, ignore_missing=True)
        conn.compute.wait_for_delete(server, interval=0.2, wait=60)
        home.image.delete_image(image.id, ignore_missing=True)
    released = in_proton(wrapper, "sp2", port["id"])
    assert released["host_id"] in (None, "") and released["device_id"] in (None, "")


def test_ocx_gluon_setup_twice_makes_the_network_and_subnet_once(wrapper):
    for _ in range(2):
        done = wrapper.ocx_cli("gluon", "setup")
        assert done.returncode == 0, done.stderr
        assert "network GluonNetwork" in done.stdout and "found" in done.stdout
        assert "created" not in done.stdout
    home = wrapper.home("admin")
    networks = list(home.network.networks(name="GluonNetwork"))
    assert len(networks) == 1
    assert networks[0].is_shared and networks[0].provider_network_type == "local"
    subnets = list(home.network.subnets(name="GluonSubnet"))
    assert len(subnets) == 1
    assert subnets[0].gateway_ip is None and subnets[0].is_dhcp_enabled is False
