"""The net-l3vpn driver's REST calls, checked against a fake Proton server that records them."""
from __future__ import annotations

import asyncio
import json
import socket

import aiohttp
import pytest
from aiohttp import web

from ocx.backends.proton import (L3VpnDriver, ProtonDrivers, ProtonError, ProtonNotFound,
                                 ProtonUnavailable, bind_body, unbind_body)

PORT_ID = "fe338d4c-2aef-4487-aa25-cb753bf02518"
ROOT = "/proton/net-l3vpn/v1.0"


class FakeProton:
    """Answers like Proton from canned objects and keeps every request it got."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str, object]] = []
        self.port = {"id": PORT_ID, "tenant_id": "t1", "name": "p", "host_id": None,
                     "vif_type": None, "vif_details": None, "status": "ACTIVE"}
        self.binding = {"interface_id": PORT_ID, "service_id": "s", "ipaddress": "10.1.0.5",
                        "subnet_prefix": 24, "gateway": "10.1.0.1"}
        self.delay = 0.0

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self.handle)
        return app

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.json() if request.can_read_body else None
        self.requests.append((request.method, request.path, body))
        await asyncio.sleep(self.delay)
        path = request.path
        if path == f"{ROOT}/ports":
            return web.json_response({"ports": [self.port, {**self.port, "id": "other",
                                                            "tenant_id": "t2"}]})
        if path == f"{ROOT}/ports/{PORT_ID}":
            if request.method == "PUT":
                self.port.update(body)
            return web.json_response(self.port)
        if path == f"{ROOT}/vpnbindings":
            return web.json_response({"vpnbindings": [self.binding]})
        if path == f"{ROOT}/vpnbindings/{PORT_ID}":
            return web.json_response(self.binding)
        if path == f"{ROOT}/ports/bad":
            return web.json_response({"faultcode": "Client", "faultstring": "Unknown attribute "
                                      "for argument body: colour", "debuginfo": None}, status=400)
        return web.json_response({"faultcode": "Client", "faultstring": "Object of Port with "
                                  f"Primay Key {path.rsplit('/', 1)[-1]} not found.",
                                  "debuginfo": None}, status=404)


@pytest.fixture
async def fake():
    proton = FakeProton()
    runner = web.AppRunner(proton.app())
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    proton.url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"
    yield proton
    await runner.cleanup()


@pytest.fixture
async def driver():
    async with aiohttp.ClientSession() as session:
        yield L3VpnDriver(session, timeout=aiohttp.ClientTimeout(total=2, connect=1))


def test_bind_and_unbind_bodies_are_gluons():
    assert bind_body("compute:nova", "d1", "host1", {"a": 1}) == {
        "device_owner": "compute:nova", "device_id": "d1", "host_id": "host1",
        "profile": json.dumps({"a": 1})}
    assert "profile" not in bind_body("compute:nova", "d1", "host1", None)
    assert unbind_body() == {"device_owner": "", "device_id": "", "host_id": "", "profile": ""}


async def test_bind_is_a_put_on_the_port_then_a_read_of_its_binding(fake, driver):
    port = await driver.bind_port(fake.url, PORT_ID, "compute:nova", "d1", "host1", {"x": "y"})
    assert fake.requests == [
        ("PUT", f"{ROOT}/ports/{PORT_ID}", {"device_owner": "compute:nova", "device_id": "d1",
                                            "host_id": "host1", "profile": '{"x": "y"}'}),
        ("GET", f"{ROOT}/vpnbindings/{PORT_ID}", None)]
    assert (port.id, port.port["host_id"], port.ip_address, port.url) == (
        PORT_ID, "host1", "10.1.0.5", fake.url)


async def test_unbind_sends_the_four_emptied(fake, driver):
    await driver.unbind_port(fake.url, PORT_ID)
    assert fake.requests[0] == ("PUT", f"{ROOT}/ports/{PORT_ID}", unbind_body())


async def test_a_rename_is_sent_as_an_update_not_an_unbind(fake, driver):
    await driver.update_port(fake.url, PORT_ID, {"name": "renamed"})
    assert fake.requests[0] == ("PUT", f"{ROOT}/ports/{PORT_ID}", {"name": "renamed"})


async def test_get_port_has_the_ip_of_its_service_binding(fake, driver):
    port = await driver.get_port(fake.url, PORT_ID)
    assert (port.ip_address, port.subnet_prefix, port.gateway) == ("10.1.0.5", 24, "10.1.0.1")


async def test_a_port_without_binding_has_no_ip(fake, driver):
    fake.binding = {**fake.binding, "interface_id": "elsewhere"}
    ports = await driver.list_ports(fake.url)
    assert [p.ip_address for p in ports] == [None, None]


async def test_list_reads_ports_and_bindings_once_and_filters_by_tenant(fake, driver):
    ports = await driver.list_ports(fake.url, tenant_id="t1")
    assert [p.id for p in ports] == [PORT_ID] and ports[0].ip_address == "10.1.0.5"
    assert [r[:2] for r in fake.requests] == [("GET", f"{ROOT}/ports"),
                                               ("GET", f"{ROOT}/vpnbindings")]


async def test_a_proton_404_is_not_found_and_a_400_keeps_protons_message(fake, driver):
    with pytest.raises(ProtonNotFound) as err:
        await driver.get_port(fake.url, "missing")
    assert err.value.status == 404 and "missing not found" in err.value.message
    with pytest.raises(ProtonError) as err:
        await driver.update_port(fake.url, "bad", {"colour": "blue"})
    assert (err.value.status, err.value.message) == (
        400, "Unknown attribute for argument body: colour")


async def test_a_server_that_does_not_answer_in_time_is_unavailable(fake):
    fake.delay = 1
    async with aiohttp.ClientSession() as session:
        slow = L3VpnDriver(session, timeout=aiohttp.ClientTimeout(total=0.2))
        with pytest.raises(ProtonUnavailable) as err:
            await slow.get_port(fake.url, PORT_ID)
    assert err.value.url == fake.url and err.value.status == 503
    assert fake.url in str(err.value)


async def test_a_refused_connection_is_unavailable_naming_the_url(driver):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{s.getsockname()[1]}"  # bound, not listening: refused
        with pytest.raises(ProtonUnavailable) as err:
            await driver.get_port(url, PORT_ID)
    assert err.value.url == url and url in str(err.value)


async def test_drivers_are_found_by_service_id_through_entry_points():
    async with aiohttp.ClientSession() as session:
        drivers = ProtonDrivers(session)
        assert "net-l3vpn" in drivers.services
        assert isinstance(drivers.for_service("net-l3vpn"), L3VpnDriver)
        assert drivers.for_service("net-l3vpn") is drivers.for_service("net-l3vpn")
        assert drivers.for_service("net-l2vpn") is None
