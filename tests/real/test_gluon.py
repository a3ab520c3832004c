"""Gluon ports with the real cloud A (issue 9, seed 002): A's OCX plays the Gluon wrapper in
front of A's real Neutron, two simulated Proton servers (``net-l3vpn``) register their ports
in the machine's etcd under the key prefix of A's OCX (``[gluon]``, one of the run's own):

- ``ocx gluon setup`` run twice makes the dummy network and subnet once in A's real Neutron;
- through OCX, ``openstack port show`` of a Gluon port gives it Neutron-shaped (the dummy
  network and subnet of the real Neutron, the port's IP); ``port list`` merges A's real
  Neutron ports with the Gluon ports; ``port set --host`` binds it on its own Proton server;
  A's Neutron ports are left as they were;
- A's real Nova, which calls Neutron through A's OCX, boots a server on a Gluon port (binds
  it on its Proton server) and unbinds it when the server is deleted.
"""
from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import aetcd
import openstack
import pytest
import requests

from ocx.sim.exchange import ExchangeThread, SimExchange, parse_clouds

from .gateway import ETCD_URL, OCX_REGION
from .layout import COMPUTE_HOST, REGION

pytestmark = pytest.mark.timeout(900)

OPENSTACK = Path(sys.executable).with_name("openstack")
API = "/proton/net-l3vpn/v1.0"
PROTONS = "sp1=proton,sp2=proton"   # two landlords, each with a Proton server


# -- the Proton servers --------------------------------------------------------------------------

@dataclass
class Protons:
    runner: ExchangeThread
    prefix: str
    tenant_id: str   # A's demo project: the Gluon ports are its

    def url(self, cloud: str) -> str:
        return self.runner.exchange[cloud].services["proton"].base_url

    def call(self, method: str, cloud: str, path: str, body: dict | None = None):
        """A call to a landlord's Proton server, as its own users make them."""
        answer = requests.request(method, f"{self.url(cloud)}{API}/{path}", json=body,
                                  timeout=30)
        assert answer.status_code < 300, (answer.status_code, answer.text)
        return answer.json() if answer.content else None

    def make_port(self, cloud: str, name: str, ip: str | None = None) -> dict:
        """A Gluon port of A's demo project (its IP from an L3VPN binding, when given)."""
        port = self.call("POST", cloud, "ports", {
            "tenant_id": self.tenant_id, "name": name,
            "mac_address": "fa:16:3e:%02x:%02x:%02x" % tuple(uuid.uuid4().bytes[:3]),
            "admin_state_up": True, "status": "ACTIVE", "vnic_type": "normal", "mtu": 1450,
            "vlan_transparency": False})
        if ip is not None:
            vpn = self.call("POST", cloud, "vpns", {"name": f"vpn-{name}",
                                                    "ipv4_family": "1000:1000"})
            self.call("POST", cloud, "vpnbindings", {
                "interface_id": port["id"], "service_id": vpn["id"], "ipaddress": ip,
                "subnet_prefix": 24})
        return port

    def port(self, cloud: str, port_id: str) -> dict:
        return self.call("GET", cloud, f"ports/{port_id}")


async def forget(prefix: str) -> None:
    """The run's registry keys (whatever a test left behind)."""
    host, port = ETCD_URL.removeprefix("http://").rsplit(":", 1)
    async with aetcd.Client(host=host, port=int(port)) as etcd:
        await etcd.delete_prefix(prefix.encode())


@pytest.fixture(scope="module")
def protons(ocx, in_a) -> Iterator[Protons]:
    """Two Proton servers registering their ports where A's OCX reads the registry."""
    prefix = ocx.sections["gluon"]["key_prefix"]
    specs = [dataclasses.replace(s, settings={**s.settings, "proton.etcd": ETCD_URL,
                                              "proton.etcd_prefix": prefix})
             for s in parse_clouds(PROTONS, seed=21)]
    runner = ExchangeThread(SimExchange(specs))
    try:
        with runner:
            yield Protons(runner, prefix, in_a.current_project_id)
    finally:
        asyncio.run(forget(prefix))


# -- clients -------------------------------------------------------------------------------------

def openstack_cli(real_clouds, *args: str, user: str = "demo", check: bool = True):
    """The real ``openstack`` command as a user of A, through A's OCX (region OCX); JSON
    output parsed."""
    auth = real_clouds.auth(real_clouds.a, user)
    env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
    env.update(OS_AUTH_URL=auth["auth_url"], OS_USERNAME=auth["username"],
               OS_PASSWORD=auth["password"], OS_PROJECT_NAME=auth["project_name"],
               OS_USER_DOMAIN_NAME="Default", OS_PROJECT_DOMAIN_NAME="Default",
               OS_IDENTITY_API_VERSION="3", OS_INTERFACE="public",
               OS_REGION_NAME=OCX_REGION)
    if args[-1:] != ("--help",) and args[:2] in (("port", "show"), ("port", "list")):
        args = (*args, "-f", "json")
    proc = subprocess.run([str(OPENSTACK), *args], env=env, capture_output=True, text=True,
                          timeout=300)
    if check:
        assert proc.returncode == 0, proc.stderr
    if proc.returncode == 0 and "-f" in args:
        return json.loads(proc.stdout)
    return proc


def ocx_cli(ocx, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
    return subprocess.run([sys.executable, "-m", "ocx.cli", *args, "--config",
                           str(ocx.config_path)], capture_output=True, text=True, timeout=120,
                          env=env)


def eventually(check, what: str, timeout: float = 20):
    """``check()`` until it gives something true (OCX follows the registry by a watch)."""
    deadline = time.monotonic() + timeout
    while not (found := check()):
        assert time.monotonic() < deadline, f"never: {what}"
        time.sleep(0.2)
    return found


def shown(real_clouds, port_id: str, user: str = "demo") -> dict:
    """``openstack port show`` through OCX, once OCX has seen the port in the registry."""
    def show():
        found = openstack_cli(real_clouds, "port", "show", port_id, user=user, check=False)
        return found if isinstance(found, dict) else None
    return eventually(show, f"port {port_id} shown through OCX")


@pytest.fixture(scope="module")
def a_admin(real_clouds) -> openstack.connection.Connection:
    """A's admin, straight to A's services."""
    return openstack.connection.Connection(region_name=REGION,
                                           **real_clouds.auth(real_clouds.a, "admin"))


# -- 1. the dummy network and subnet -------------------------------------------------------------

@dataclass
class Setup:
    runs: list[subprocess.CompletedProcess]
    network_id: str
    subnet_id: str


@pytest.fixture(scope="module")
def gluon_setup(ocx, a_admin) -> Setup:
    """``ocx gluon setup`` with A's OCX's configuration (its service user, an admin of A's
    service project: a shared provider network is an admin's to make), twice."""
    before = list(a_admin.network.networks(name="GluonNetwork"))
    assert before == []   # a run starts from the saved state, which has none
    runs = [ocx_cli(ocx, "gluon", "setup") for _ in range(2)]
    for run in runs:
        assert run.returncode == 0, run.stderr
    [network] = a_admin.network.networks(name="GluonNetwork")
    [subnet] = a_admin.network.subnets(name="GluonSubnet")
    return Setup(runs, network.id, subnet.id)


def test_ocx_gluon_setup_twice_makes_the_dummy_network_and_subnet_once(a_admin, gluon_setup):
    first, second = (run.stdout.splitlines() for run in gluon_setup.runs)
    network, subnet = gluon_setup.network_id, gluon_setup.subnet_id
    assert first == [f"network GluonNetwork {network}: created",
                     f"subnet GluonSubnet {subnet}: created"]
    assert second == [f"network GluonNetwork {network}: found",
                      f"subnet GluonSubnet {subnet}: found"]
    # As A's real Neutron has them: one of each, a local shared network, a subnet on it
    # without gateway or DHCP.
    [made] = a_admin.network.networks(name="GluonNetwork")
    assert made.is_shared and made.provider_network_type == "local"
    [on_it] = a_admin.network.subnets(name="GluonSubnet")
    assert on_it.network_id == network
    assert on_it.gateway_ip is None and on_it.is_dhcp_enabled is False


# -- 2. ports through OCX ------------------------------------------------------------------------

def test_port_show_gives_the_gluon_port_with_the_real_dummy_network_and_subnet(
        real_clouds, protons, gluon_setup, in_a):
    port = protons.make_port("sp1", "vpn-a", ip="10.1.0.5")
    seen = shown(real_clouds, port["id"])
    assert seen["id"] == port["id"] and seen["name"] == "vpn-a"
    assert seen["network_id"] == gluon_setup.network_id
    assert seen["fixed_ips"] == [{"subnet_id": gluon_setup.subnet_id,
                                  "ip_address": "10.1.0.5"}]
    assert seen["project_id"] == in_a.current_project_id
    assert seen["mac_address"] == port["mac_address"]
    assert seen["status"] == "ACTIVE"
    # The real Neutron has no such port: OCX served it from the Proton server.
    assert in_a.network.find_port(port["id"]) is None


def test_port_list_merges_the_real_neutron_ports_with_the_gluon_ports(
        real_clouds, protons, gluon_setup, in_a, network_of_a):
    mine = in_a.network.create_port(network_id=network_of_a.id, name="zz-neutron")
    gluon = [protons.make_port(cloud, f"zz-gluon-{cloud}", ip=ip)
             for cloud, ip in (("sp1", "10.1.0.9"), ("sp2", "10.2.0.9"))]
    try:
        for port in gluon:
            shown(real_clouds, port["id"])
        listed = {p["ID"] for p in openstack_cli(real_clouds, "port", "list")}
        real = {p.id for p in in_a.network.ports()}
        assert real <= listed and mine.id in listed
        assert {p["id"] for p in gluon} <= listed

        on_dummy = {p["ID"] for p in openstack_cli(real_clouds, "port", "list", "--network",
                                                   gluon_setup.network_id)}
        assert {p["id"] for p in gluon} <= on_dummy and mine.id not in on_dummy
        by_ip = openstack_cli(real_clouds, "port", "list", "--fixed-ip",
                              "ip-address=10.2.0.9")
        assert [p["ID"] for p in by_ip] == [gluon[1]["id"]]

        # Sorted and paged over the real Neutron's port and both Proton servers' (sdk).
        conn = openstack.connection.Connection(region_name=OCX_REGION,
                                               **real_clouds.auth(real_clouds.a, "demo"))
        paged = [p.name for p in conn.network.ports(
            sort_key="name", sort_dir="desc", limit=2,
            name=["zz-neutron", "zz-gluon-sp1", "zz-gluon-sp2"])]
        assert paged == ["zz-neutron", "zz-gluon-sp2", "zz-gluon-sp1"]
    finally:
        in_a.network.delete_port(mine.id, ignore_missing=True)


def test_port_set_host_binds_on_the_right_proton_server_and_unset_unbinds(
        real_clouds, protons, gluon_setup):
    one = protons.make_port("sp1", "bind-one", ip="10.1.0.6")
    two = protons.make_port("sp2", "bind-two", ip="10.2.0.6")
    for port in (one, two):
        shown(real_clouds, port["id"], user="admin")
    device = str(uuid.uuid4())
    openstack_cli(real_clouds, "port", "set", "--host", "compute-7", "--device", device,
                  "--device-owner", "compute:nova", two["id"], user="admin")
    bound = protons.port("sp2", two["id"])
    assert (bound["host_id"], bound["device_id"], bound["vif_type"]) == \
        ("compute-7", device, "ovs")
    assert protons.port("sp1", one["id"])["host_id"] in (None, "")   # the other untouched
    seen = shown(real_clouds, two["id"], user="admin")
    assert seen["binding_host_id"] == "compute-7" and seen["binding_vif_type"] == "ovs"
    assert seen["device_id"] == device

    # The demo user may not bind, as Neutron's policy says (nothing sent to Proton).
    refused = openstack_cli(real_clouds, "port", "set", "--host", "compute-1", one["id"],
                            check=False)
    assert refused.returncode != 0 and "disallowed by policy" in refused.stderr
    assert protons.port("sp1", one["id"])["host_id"] in (None, "")

    openstack_cli(real_clouds, "port", "unset", "--host", two["id"], user="admin")
    unbound = protons.port("sp2", two["id"])
    assert unbound["host_id"] in (None, "") and unbound["vif_type"] is None


def test_the_real_neutrons_ports_are_untouched(real_clouds, protons, gluon_setup, in_a,
                                               network_of_a):
    port = in_a.network.create_port(network_id=network_of_a.id, name="plain")
    try:
        seen = openstack_cli(real_clouds, "port", "show", port.id)
        direct = in_a.network.get_port(port.id)
        assert seen["network_id"] == network_of_a.id
        assert seen["fixed_ips"] == [{"subnet_id": f["subnet_id"], "ip_address":
                                      f["ip_address"]} for f in direct.fixed_ips]
        assert seen["mac_address"] == direct.mac_address
        openstack_cli(real_clouds, "port", "set", "--name", "plain-renamed", port.id)
        assert in_a.network.get_port(port.id).name == "plain-renamed"
    finally:
        in_a.network.delete_port(port.id, ignore_missing=True)


def test_a_port_made_on_a_proton_server_appears_and_deleted_disappears(real_clouds, protons,
                                                                      gluon_setup):
    port = protons.make_port("sp2", "comes-and-goes")
    eventually(lambda: port["id"] in {p["ID"] for p in openstack_cli(real_clouds, "port",
                                                                     "list")},
               "the new port listed")
    protons.call("DELETE", "sp2", f"ports/{port['id']}")
    eventually(lambda: port["id"] not in {p["ID"] for p in openstack_cli(real_clouds, "port",
                                                                         "list")},
               "the deleted port gone")
    gone = openstack_cli(real_clouds, "port", "show", port["id"], check=False)
    assert gone.returncode != 0


# -- 3. the real Nova ----------------------------------------------------------------------------

def test_the_real_nova_boots_a_server_on_a_gluon_port_binding_it_through_ocx(
        real_clouds, ocx, protons, gluon_setup, in_a):
    port = protons.make_port("sp2", "for-nova", ip="10.2.0.40")
    shown(real_clouds, port["id"])
    image = in_a.image.create_image(name="gluon-boot-image", disk_format="raw",
                                    container_format="bare", data=b"\0" * 4096)
    conn = ocx.connect("demo")
    flavor = conn.compute.find_flavor(real_clouds.flavor, ignore_missing=False)
    since = ocx.log_size()
    server = conn.compute.create_server(name="on-gluon", flavor_id=flavor.id,
                                        image_id=image.id, networks=[{"port": port["id"]}])
    try:
        server = conn.compute.wait_for_server(server, wait=180)
        assert server.status == "ACTIVE"
        # Nova bound it through OCX (with its service user), on its Proton server.
        bound = protons.port("sp2", port["id"])
        assert bound["device_id"] == server.id
        assert bound["host_id"] == COMPUTE_HOST
        assert bound["vif_type"] == "ovs"
        assert f"PUT /network/v2.0/ports/{port['id']} 200" in ocx.calls(since)
        assert "10.2.0.40" in str(in_a.compute.get_server(server.id).addresses)
    finally:
        conn.compute.delete_server(server, ignore_missing=True)
        in_a.compute.wait_for_delete(server, wait=120)
        in_a.image.delete_image(image, ignore_missing=True)
    released = protons.port("sp2", port["id"])
    assert released["host_id"] in (None, "") and released["device_id"] in (None, "")
