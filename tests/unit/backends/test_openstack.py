"""Forwarding to an OpenStack provider: the headers a call leaves OCX with."""
from __future__ import annotations

import aiohttp
import pytest
from multidict import CIMultiDict, MultiDict

from ocx.api.request import parse
from ocx.backends.base import Credentials, ProviderUnreachable
from ocx.backends.openstack import OpenStackProvider

LOCAL, REMOTE = "a" * 32, "b" * 32
CATALOG = ({"type": "volumev3", "endpoints": [
    {"interface": "public", "region_id": "RegionOne",
     "url": "http://cinder.test:8776/v3/$(project_id)s"}]},)
# What Nova sends Cinder to delete an attachment in use: the user's token and its own.
NOVA_HEADERS = {"X-Auth-Token": "user-token", "X-Service-Token": "nova-service-token",
                "OpenStack-API-Version": "volume 3.44", "Connection": "keep-alive",
                "X-OCX-Provider": "home", "X-OpenStack-Request-ID": "req-1"}


class RecordingSession:
    """Stands in for aiohttp's session: keeps what would be sent, then fails to connect."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str, CIMultiDict]] = []

    async def request(self, method, url, *, headers, **_):
        self.sent.append((method, str(url), headers))
        raise aiohttp.ClientConnectionError()


async def sent_headers(provider: OpenStackProvider, token: str) -> CIMultiDict:
    request = parse("DELETE", f"/volume/v3/{LOCAL}/attachments/att1", MultiDict(),
                    CIMultiDict(NOVA_HEADERS))
    session = RecordingSession()
    with pytest.raises(ProviderUnreachable):
        await provider.send(session, request, Credentials(token, REMOTE, CATALOG), body=None,
                            timeout=aiohttp.ClientTimeout(total=1))
    [(method, url, headers)] = session.sent
    assert (method, url) == ("DELETE", f"http://cinder.test:8776/v3/{REMOTE}/attachments/att1")
    return headers


async def test_the_home_cloud_gets_the_callers_service_token():
    home = OpenStackProvider("home", region="RegionOne", via="ocx1", home=True)
    headers = await sent_headers(home, "user-token")
    assert headers["X-Service-Token"] == "nova-service-token"
    assert headers.getall("X-Auth-Token") == ["user-token"]
    assert headers["OpenStack-API-Version"] == "volume 3.44"
    assert headers["X-OpenStack-Request-ID"] == "req-1"
    assert headers["X-OCX-Via"] == "ocx1"
    assert "Connection" not in headers and "X-OCX-Provider" not in headers


async def test_a_k2k_provider_gets_its_own_token_and_no_service_token():
    remote = OpenStackProvider("sp1", region="RegionOne", sp_id="cloud-b", via="ocx1")
    headers = await sent_headers(remote, "k2k-token")
    assert "X-Service-Token" not in headers
    assert headers.getall("X-Auth-Token") == ["k2k-token"]
    assert headers["OpenStack-API-Version"] == "volume 3.44"


async def test_a_provider_reached_with_injected_mappings_gets_no_service_token():
    reachable = OpenStackProvider("sp2", via="ocx1")  # no K2K relation, not home
    headers = await sent_headers(reachable, "injected-token")
    assert "X-Service-Token" not in headers
    assert headers.getall("X-Auth-Token") == ["injected-token"]


async def test_a_call_without_a_service_token_gets_none_anywhere():
    home = OpenStackProvider("home", region="RegionOne", home=True)
    request = parse("GET", "/image/v2/images", MultiDict(), CIMultiDict({"X-Auth-Token": "t"}))
    session = RecordingSession()
    catalog = ({"type": "image", "endpoints": [
        {"interface": "public", "region_id": "RegionOne", "url": "http://glance.test:9292"}]},)
    with pytest.raises(ProviderUnreachable):
        await home.send(session, request, Credentials("t", LOCAL, catalog), body=None,
                        timeout=aiohttp.ClientTimeout(total=1))
    [(_, url, headers)] = session.sent
    assert url == "http://glance.test:9292/v2/images"
    assert "X-Service-Token" not in headers and "X-OCX-Via" not in headers
