"""The simulated Proton server: Gluon's net-l3vpn API, its ports registered in a real etcd, and
the net-l3vpn driver calling two such servers at once."""
from __future__ import annotations

import dataclasses
import uuid

import aetcd
import aiohttp
import orjson
import pytest

from ocx.backends.proton import L3VpnDriver, ProtonNotFound, ProtonUnavailable
from ocx.sim.exchange import SimExchange, parse_clouds

ETCD = "http://127.0.0.1:2379"
TENANT = "5205b400-fa6c-4a88-8a0b-229200562229"
API = "/proton/net-l3vpn/v1.0"


def new_port(**extra) -> dict:
    return {"tenant_id": TENANT, "mac_address": "c8:2a:14:04:43:80", "admin_state_up": True,
            "status": "ACTIVE", "vnic_type": "normal", "mtu": 1500, "vlan_transparency": False,
            "name": "TestVPNPort", **extra}


@pytest.fixture
async def protons(prefix):
    """Two landlords, each with a Proton server registering in ``prefix``."""
    specs = [dataclasses.replace(s, settings={"proton.etcd": ETCD, "proton.etcd_prefix": prefix})
             for s in parse_clouds("sp1=proton,sp2=proton", seed=3)]
    exchange = SimExchange(specs)
    await exchange.start()
    yield exchange
    await exchange.stop()


@pytest.fixture
async def http():
    async with aiohttp.ClientSession() as session:
        yield session


def url_of(exchange, cloud: str) -> str:
    return exchange[cloud].services["proton"].base_url


async def registered(prefix: str) -> dict[str, dict]:
    async with aetcd.Client(host="127.0.0.1", port=2379) as etcd:
        found = await etcd.get_prefix(prefix.encode())
    return {kv.key.decode()[len(prefix):]: orjson.loads(kv.value) for kv in found}


async def create(http, url: str, collection: str, body: dict) -> dict:
    async with http.post(f"{url}{API}/{collection}", json=body) as resp:
        assert resp.status == 201, await resp.text()
        return await resp.json()


async def test_a_created_port_is_registered_in_etcd_and_deregistered_when_deleted(
        protons, prefix, http):
    url = url_of(protons, "sp1")
    port = await create(http, url, "ports", new_port())
    assert (await registered(prefix))[port["id"]] == {
        "tenant_id": TENANT, "service": "net-l3vpn", "url": url}
    async with http.delete(f"{url}{API}/ports/{port['id']}") as resp:
        assert resp.status == 200 and await resp.read() == b""
    assert port["id"] not in await registered(prefix)


async def test_the_api_answers_as_gluons_generated_api(protons, http):
    url = url_of(protons, "sp1")
    port = await create(http, url, "ports", new_port())
    assert port["vif_type"] is None and port["created_at"]
    async with http.get(f"{url}{API}/ports") as resp:
        assert [p["id"] for p in (await resp.json())["ports"]] == [port["id"]]
    async with http.get(f"{url}{API}/interfaces/{port['id']}") as resp:
        default = await resp.json()
    assert (default["port_id"], default["segmentation_type"]) == (port["id"], "none")
    async with http.get(f"{url}{API}/ports/{uuid.uuid4()}") as resp:
        fault = await resp.json()
        assert resp.status == 404 and fault["faultcode"] == "Client"
        assert fault["faultstring"].startswith("Object of Port with Primay Key")
    async with http.post(f"{url}{API}/ports", json=new_port(colour="blue")) as resp:
        assert resp.status == 400
        assert (await resp.json())["faultstring"] == "Unknown attribute for argument body: colour"
    async with http.put(f"{url}{API}/ports/{port['id']}", json={"mtu": "big"}) as resp:
        assert resp.status == 400
    async with http.get(f"{url}{API}/ports/{port['id']}") as resp:
        assert (await resp.json())["mtu"] == 1500  # the refused update changed nothing
    async with http.post(f"{url}{API}/vpnbindings", json={
            "interface_id": port["id"], "service_id": str(uuid.uuid4())}) as resp:
        assert resp.status == 404  # no such VPN service


async def test_the_driver_binds_and_unbinds_on_two_proton_servers_at_once(protons, http):
    driver = L3VpnDriver(http)
    ports = {}
    for cloud, ip in (("sp1", "10.1.0.5"), ("sp2", "10.2.0.7")):
        url = url_of(protons, cloud)
        port = await create(http, url, "ports", new_port(name=f"on-{cloud}"))
        vpn = await create(http, url, "vpns", {"name": "TestVPN", "ipv4_family": "1000:1000"})
        await create(http, url, "vpnbindings", {"interface_id": port["id"], "service_id": vpn["id"],
                                               "ipaddress": ip, "subnet_prefix": 24})
        ports[cloud] = (url, port["id"], ip)

    for cloud, (url, port_id, ip) in ports.items():
        bound = await driver.bind_port(url, port_id, "compute:nova", str(uuid.uuid4()),
                                       f"compute-{cloud}", {"pci_slot": None})
        assert (bound.port["host_id"], bound.port["vif_type"], bound.ip_address) == (
            f"compute-{cloud}", "ovs", ip)
        assert bound.port["status"] == "ACTIVE"

    url1, port1, _ = ports["sp1"]
    url2, port2, _ = ports["sp2"]
    assert (await driver.get_port(url2, port2)).port["host_id"] == "compute-sp2"
    unbound = await driver.unbind_port(url1, port1)
    assert (unbound.port["host_id"], unbound.port["vif_type"], unbound.port["vif_details"]) == (
        "", None, "{}")
    assert (await driver.get_port(url2, port2)).port["host_id"] == "compute-sp2"
    assert [p.id for p in await driver.list_ports(url1, tenant_id=TENANT)] == [port1]
    assert await driver.list_ports(url1, tenant_id=str(uuid.uuid4())) == []
    with pytest.raises(ProtonNotFound):
        await driver.get_port(url1, port2)  # sp2's port is not on sp1


async def test_a_proton_server_that_is_down_is_unavailable_then_back(protons, http):
    driver = L3VpnDriver(http, timeout=aiohttp.ClientTimeout(total=5, connect=2))
    url = url_of(protons, "sp2")
    port = await create(http, url, "ports", new_port())
    await protons["sp2"].set_down("proton", True)
    with pytest.raises(ProtonUnavailable) as err:
        await driver.get_port(url, port["id"])
    assert err.value.url == url and err.value.status == 503
    assert await driver.list_ports(url_of(protons, "sp1")) == []  # the other server answers
    await protons["sp2"].set_down("proton", False)
    assert (await driver.get_port(url, port["id"])).id == port["id"]
