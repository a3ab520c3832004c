"""Seed 004, "in a project deploy one VM on NU, one on BU, have sit on same network" (issue 7):
a network created through OCX with ``"ocx:spanning": true`` gets a twin in each cloud where a
port is asked on it: the same VXLAN VNI, the same CIDR, that cloud's own slice of the addresses.

The exchange's operators let its users set a network's segment (Neutron keeps the ``provider:*``
attributes to admins by default): the federated users hold the admin role in sp1 and sp3.
At home the user does not, so home's Neutron refuses them as it refuses any such network.
"""
from __future__ import annotations

import ipaddress
import os
import secrets
import subprocess
import sys
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import openstack
import pytest
from keystoneauth1 import session as ks_session
from keystoneauth1.identity import v3

from ocx.demo import free_port
from ocx.sim.k2k import FEDERATED_GROUP

from .conftest import _config, running

CIDR = "10.77.0.0/24"
OPENSTACK = Path(sys.executable).with_name("openstack")


@pytest.fixture(scope="module")
def spanning(exchange):
    """The exchange, its users allowed to set segments in sp1 and sp3."""
    async def grant():
        for cloud in ("sp1", "sp3"):
            ks = exchange.sim.cloud(cloud).keystone
            ks.assign_role("group", ks.find_group(FEDERATED_GROUP), ks.project_id("demo"),
                           ks.role_id("admin"))
    exchange.sim.call(grant())
    return exchange


def openstack_cli(exchange, *args: str) -> str:
    """The real ``openstack`` command as home's demo user, through the user's OCX."""
    auth = exchange.sim.auth_args("home")
    env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
    env.update({f"OS_{k.upper()}": v for k, v in auth.items()},
               OS_IDENTITY_API_VERSION="3", OS_INTERFACE="public", OS_REGION_NAME="RegionOne")
    proc = subprocess.run([str(OPENSTACK), *args], env=env, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def session(exchange, provider: str | None = None) -> ks_session.Session:
    """Home's demo user; calls through OCX name ``provider`` (X-OCX-Provider) when given."""
    headers = {"X-OCX-Provider": provider} if provider else {}
    return ks_session.Session(auth=v3.Password(**exchange.sim.auth_args("home")),
                              additional_headers=headers)


def through_ocx(exchange, provider: str | None = None) -> openstack.connection.Connection:
    return openstack.connection.Connection(session=session(exchange, provider),
                                           region_name="RegionOne", interface="public",
                                           identity_api_version="3")


def create_spanning(exchange, name: str, provider: str = "sp1", url: str | None = None,
                    flag: object = True):
    """``POST /v2.0/networks`` with the flag (no client has an option for it): the answer."""
    target = f"{url or exchange.user_ocx.url}/network/v2.0/networks"
    return session(exchange, provider).post(target, json={"network": {
        "name": name, "ocx:spanning": flag}}, raise_exc=False)


def admin(exchange, cloud: str) -> openstack.connection.Connection:
    return exchange.connect(cloud, user="admin")


def segment(exchange, cloud: str, vni: int) -> list:
    """The networks of ``cloud`` with VXLAN VNI ``vni``, as its admin sees them."""
    return [n for n in admin(exchange, cloud).network.networks(provider_segmentation_id=vni)
            if n.provider_network_type == "vxlan"]


def boot(exchange, provider: str, name: str, network_id: str):
    """A server booted through OCX in ``provider`` on the network, from an image of there."""
    image = exchange.connect(provider).image.create_image(
        name=f"{name}-image", disk_format="raw", container_format="bare", data=b"\0" * 1024)
    conn = through_ocx(exchange, provider)
    server = conn.compute.create_server(name=name, flavor_id="42", image_id=image.id,
                                        networks=[{"uuid": network_id}])
    return conn.compute.wait_for_server(server, interval=0.2, wait=60)


def ports_of(exchange, cloud: str, server_id: str) -> list:
    return list(admin(exchange, cloud).network.ports(device_id=server_id))


def in_pools(address: str, pools: list[dict]) -> bool:
    ip = ipaddress.ip_address(address)
    return any(ipaddress.ip_address(p["start"]) <= ip <= ipaddress.ip_address(p["end"])
               for p in pools)


def test_two_servers_in_two_clouds_sit_on_one_network(spanning):
    exchange = spanning
    made = create_spanning(exchange, "span-seed")
    assert made.status_code == 201, made.text
    network = made.json()["network"]
    assert network["ocx:spanning"] is True
    subnet = openstack_cli(exchange, "subnet", "create", "--network", network["id"],
                           "--subnet-range", CIDR, "span-seed-subnet", "-f", "value", "-c", "id")
    vm1 = boot(exchange, "sp1", "span-vm1", network["id"])
    vm2 = boot(exchange, "sp3", "span-vm2", network["id"])
    try:
        assert vm1.status == vm2.status == "ACTIVE"
        # Each cloud, asked directly by its admin: one vxlan network with one VNI.
        in_sp1 = admin(exchange, "sp1").network.get_network(network["id"])
        vni = in_sp1.provider_segmentation_id
        assert in_sp1.provider_network_type == "vxlan"
        twins = segment(exchange, "sp3", vni)
        assert [t.name for t in twins] == ["span-seed"]
        twin = twins[0]
        assert twin.id != network["id"]
        # One CIDR, and each cloud's own slice of its addresses.
        subnets = {cloud: list(admin(exchange, cloud).network.subnets(network_id=net_id))
                   for cloud, net_id in (("sp1", network["id"]), ("sp3", twin.id))}
        assert [s.cidr for s in subnets["sp1"]] == [s.cidr for s in subnets["sp3"]] == [CIDR]
        pools = {cloud: found[0].allocation_pools for cloud, found in subnets.items()}
        (port1,), (port2,) = ports_of(exchange, "sp1", vm1.id), ports_of(exchange, "sp3", vm2.id)
        assert port1.network_id == network["id"] and port2.network_id == twin.id
        ip1, ip2 = port1.fixed_ips[0]["ip_address"], port2.fixed_ips[0]["ip_address"]
        assert ip1 != ip2
        assert all(ipaddress.ip_address(ip) in ipaddress.ip_network(CIDR) for ip in (ip1, ip2))
        assert in_pools(ip1, pools["sp1"]) and in_pools(ip2, pools["sp3"])
        assert not in_pools(ip2, pools["sp1"]) and not in_pools(ip1, pools["sp3"])

        # Through OCX: one network, both clouds' ports on it.
        conn = through_ocx(exchange)
        listed = [n.id for n in conn.network.networks(name="span-seed")]
        assert listed == [network["id"]]
        assert twin.id not in {n.id for n in conn.network.networks()}
        assert conn.network.get_network(network["id"]).name == "span-seed"
        ports = openstack_cli(exchange, "port", "list", "--network", network["id"], "-f",
                              "value", "-c", "ID")
        assert {port1.id, port2.id} <= set(ports.split())
        for port in conn.network.ports(network_id=network["id"]):
            assert port.network_id == network["id"]
            assert all(ip["subnet_id"] == subnet.strip() for ip in port.fixed_ips)
        # The servers see one network by its name, each with its own address.
        assert conn.compute.get_server(vm2.id).addresses["span-seed"][0]["addr"] == ip2
    finally:
        conn = through_ocx(exchange)
        for vm in (vm1, vm2):
            conn.compute.delete_server(vm.id, ignore_missing=True)
            conn.compute.wait_for_delete(vm, interval=0.2, wait=30)


def test_ports_asked_at_once_in_one_cloud_make_one_twin(spanning):
    exchange = spanning
    network = create_spanning(exchange, "span-race").json()["network"]
    conn = through_ocx(exchange)
    subnet = conn.network.create_subnet(network_id=network["id"], cidr="10.78.0.0/24",
                                        ip_version=4)
    callers = [through_ocx(exchange, "sp3") for _ in range(4)]
    for caller in callers:   # tokens at home and in sp3 are had before the race
        list(caller.network.networks(name="nothing-by-this-name"))
    sp3 = exchange.sim.cloud("sp3")
    start = threading.Barrier(len(callers))

    def port(n: int):
        start.wait()
        return callers[n].network.create_port(network_id=network["id"], name=f"race-{n}")

    async def slow(ms: float):   # the twin takes a while to make: the calls overlap
        sp3.faults.latency_ms["neutron"] = ms
    exchange.sim.call(slow(300))
    try:
        with ThreadPoolExecutor(len(callers)) as pool:
            ports = list(pool.map(port, range(len(callers))))
    finally:
        exchange.sim.call(slow(0))
    vni = admin(exchange, "sp1").network.get_network(network["id"]).provider_segmentation_id
    twins = segment(exchange, "sp3", vni)
    assert len(twins) == 1
    in_sp3 = {p.id: p for p in admin(exchange, "sp3").network.ports(network_id=twins[0].id)}
    assert {p.id for p in ports} <= set(in_sp3)
    # OCX shows them on the spanning network and its subnet; the addresses all differ.
    assert {p.network_id for p in ports} == {network["id"]}
    assert {ip["subnet_id"] for p in ports for ip in p.fixed_ips} == {subnet.id}
    addresses = [ip["ip_address"] for p in ports for ip in p.fixed_ips]
    assert len(set(addresses)) == len(callers)


def test_deleting_it_deletes_every_twin_and_a_twin_in_use_refuses_first(spanning):
    exchange = spanning
    network = create_spanning(exchange, "span-gone").json()["network"]
    conn = through_ocx(exchange)
    conn.network.create_subnet(network_id=network["id"], cidr="10.79.0.0/24", ip_version=4)
    port = through_ocx(exchange, "sp3").network.create_port(network_id=network["id"],
                                                           device_owner="compute:nova",
                                                           device_id="vm-elsewhere")
    vni = admin(exchange, "sp1").network.get_network(network["id"]).provider_segmentation_id
    assert len(segment(exchange, "sp3", vni)) == 1

    with pytest.raises(openstack.exceptions.ConflictException) as refused:
        conn.network.delete_network(network["id"])
    assert port.id in str(refused.value)
    assert len(segment(exchange, "sp1", vni)) == len(segment(exchange, "sp3", vni)) == 1

    conn.network.delete_port(port.id)
    conn.network.delete_network(network["id"])
    assert segment(exchange, "sp1", vni) == [] and segment(exchange, "sp3", vni) == []
    assert conn.network.find_network(network["id"]) is None


def test_a_vni_is_never_handed_out_twice(spanning):
    exchange = spanning
    seen = []
    for n in range(3):
        network = create_spanning(exchange, f"span-once-{n}").json()["network"]
        seen.append(admin(exchange, "sp1").network.get_network(
            network["id"]).provider_segmentation_id)
        through_ocx(exchange).network.delete_network(network["id"])
    assert len(set(seen)) == 3


def test_where_the_caller_may_not_set_a_segment_neutron_refuses_and_no_vni_is_spent(spanning):
    exchange = spanning
    before = create_spanning(exchange, "span-before").json()["network"]
    refused = create_spanning(exchange, "span-home", provider="home")
    assert refused.status_code == 403
    error = refused.json()["NeutronError"]
    assert "provider:network_type" in error["message"] and "disallowed by policy" in \
        error["message"]
    after = create_spanning(exchange, "span-after").json()["network"]
    vnis = [admin(exchange, "sp1").network.get_network(n["id"]).provider_segmentation_id
            for n in (before, after)]
    assert vnis[1] == vnis[0] + 1
    assert not list(admin(exchange, "home").network.networks(name="span-home"))


def test_a_flag_that_is_not_a_boolean_is_refused_as_neutron_refuses(spanning):
    exchange = spanning
    refused = create_spanning(exchange, "span-bad", flag="maybe")
    assert refused.status_code == 400
    assert refused.json()["NeutronError"]["message"] == \
        "Invalid input for operation: 'maybe' cannot be converted to boolean."
    assert not list(admin(exchange, "sp1").network.networks(name="span-bad"))
    # False is a flag too: an ordinary network, with Neutron's own segment.
    plain = create_spanning(exchange, "span-plain", flag=False)
    assert plain.status_code == 201 and "ocx:spanning" not in plain.json()["network"]


def test_pools_outside_the_cidr_are_refused_and_no_subnet_is_made(spanning):
    exchange = spanning
    network = create_spanning(exchange, "span-pools").json()["network"]
    answer = session(exchange).post(
        f"{exchange.user_ocx.url}/network/v2.0/subnets", raise_exc=False, json={"subnet": {
            "network_id": network["id"], "cidr": "10.80.0.0/24", "ip_version": 4,
            "allocation_pools": [{"start": "10.80.0.10", "end": "10.80.1.20"}]}})
    assert answer.status_code == 400
    assert answer.json()["NeutronError"]["message"] == (
        "The allocation pool 10.80.0.10-10.80.1.20 spans beyond the subnet cidr "
        "10.80.0.0/24.")
    assert not list(admin(exchange, "sp1").network.subnets(network_id=network["id"]))


def test_when_the_range_is_used_up_the_create_is_refused(spanning):
    """A second OCX of the user's, with a range of two VNIs."""
    exchange, sim = spanning, spanning.sim
    with tempfile.TemporaryDirectory(prefix="ocx-spanning-") as work:
        state = Path(work)
        text = _config(sim, "home", free_port(), state, [
            "providers = sp1, sp2, sp3", f"peer_name = small-{secrets.token_hex(4)}", "",
            "[spanning]", "vni_ranges = 9000:9001"])
        with running(sim, text, state, catalog=False) as small:
            made = [create_spanning(exchange, f"span-small-{n}", url=small.url)
                    for n in range(2)]
            assert [m.status_code for m in made] == [201, 201]
            full = create_spanning(exchange, "span-small-2", url=small.url)
            assert full.status_code == 503
            assert full.json()["NeutronError"]["message"].startswith(
                "Unable to create the network. No tenant network is available for "
                "allocation.")
            # Deleting one gives nothing back.
            first = made[0].json()["network"]["id"]
            gone = session(exchange).delete(f"{small.url}/network/v2.0/networks/{first}",
                                            raise_exc=False)
            assert gone.status_code == 204
            assert create_spanning(exchange, "span-small-3", url=small.url).status_code == 503
            vnis = {admin(exchange, "sp1").network.get_network(
                made[1].json()["network"]["id"]).provider_segmentation_id}
            assert vnis <= {9000, 9001}


def test_deleting_its_subnet_deletes_it_in_every_cloud(spanning):
    exchange = spanning
    network = create_spanning(exchange, "span-subnet-gone").json()["network"]
    conn = through_ocx(exchange)
    subnet = conn.network.create_subnet(network_id=network["id"], cidr="10.81.0.0/24",
                                        ip_version=4)
    port = through_ocx(exchange, "sp3").network.create_port(network_id=network["id"])
    vni = admin(exchange, "sp1").network.get_network(network["id"]).provider_segmentation_id
    (twin,) = segment(exchange, "sp3", vni)
    assert len(list(admin(exchange, "sp3").network.subnets(network_id=twin.id))) == 1

    with pytest.raises(openstack.exceptions.ConflictException):
        conn.network.delete_subnet(subnet.id)   # an address of it is held in sp3
    assert conn.network.get_subnet(subnet.id).cidr == "10.81.0.0/24"

    conn.network.delete_port(port.id)
    conn.network.delete_subnet(subnet.id)
    assert list(admin(exchange, "sp3").network.subnets(network_id=twin.id)) == []
    assert list(admin(exchange, "sp1").network.subnets(network_id=network["id"])) == []
    conn.network.delete_network(network["id"])
    assert segment(exchange, "sp3", vni) == []


def test_a_cloud_that_already_uses_the_vni_refuses_the_twin_and_nothing_is_left(spanning):
    exchange = spanning
    network = create_spanning(exchange, "span-clash").json()["network"]
    conn = through_ocx(exchange)
    conn.network.create_subnet(network_id=network["id"], cidr="10.82.0.0/24", ip_version=4)
    vni = admin(exchange, "sp1").network.get_network(network["id"]).provider_segmentation_id
    sp3 = admin(exchange, "sp3").network
    squatter = sp3.create_network(name="squatter", provider_network_type="vxlan",
                                  provider_segmentation_id=vni)
    in_sp3 = through_ocx(exchange, "sp3").network
    with pytest.raises(openstack.exceptions.ConflictException) as refused:
        in_sp3.create_port(network_id=network["id"])
    assert f"The tunnel ID {vni} is in use." in str(refused.value)
    assert refused.value.response.json()["NeutronError"]["type"] == "TunnelIdInUse"
    assert [n.id for n in segment(exchange, "sp3", vni)] == [squatter.id]

    sp3.delete_network(squatter)   # once the VNI is free there, the next port makes the twin
    port = in_sp3.create_port(network_id=network["id"])
    assert port.network_id == network["id"]
    assert [n.name for n in segment(exchange, "sp3", vni)] == ["span-clash"]
