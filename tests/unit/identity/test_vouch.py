"""OCX vouches for a home service's call at a K2K provider with a service token of its own.

A's Nova detaches a volume of B: it sends Cinder the user's token and its own service token.
B's Keystone never made Nova's token, so OCX sends B its own token there instead, and only
when the home Keystone says Nova's token is a service's.
"""
from __future__ import annotations

import datetime as dt

import aiohttp
import pytest
from multidict import CIMultiDict, MultiDict

from ocx.api.request import parse
from ocx.backends.base import Credentials, ProviderUnreachable
from ocx.backends.openstack import OpenStackProvider
from ocx.identity.caller import Caller
from ocx.identity.errors import K2KFailed, NotInjected, Unauthenticated
from ocx.identity.vouch import ServiceVoucher, vouches_for
from ocx.store.models import token_hash

EXPIRES = dt.datetime(2030, 1, 1, tzinfo=dt.timezone.utc)


def caller(token: str, user: str, *roles: str) -> Caller:
    return Caller(token=token, token_hash=token_hash(token), user_id=user, user_name=user,
                  user_domain_id="default", project_id="service", project_name="service",
                  project_domain_id="default", roles=frozenset(roles), expires_at=EXPIRES)


class HomeKeystone:
    """The validator's part the voucher uses: which tokens are valid, and OCX's own."""

    def __init__(self) -> None:
        self.tokens = {"nova-token": caller("nova-token", "nova", "admin", "service"),
                       "user-token": caller("user-token", "demo", "member"),
                       "ocx-token": caller("ocx-token", "ocx", "admin")}

    async def identify(self, token: str | None) -> Caller:
        if token not in self.tokens:
            raise Unauthenticated()
        return self.tokens[token]

    async def service_token(self) -> str:
        return "ocx-token"


class Mapper:
    """OCX's own credentials at each provider: K2K to cloud-b, nothing at the others."""

    def __init__(self) -> None:
        self.asked: list[tuple[str, str]] = []

    async def credentials(self, who: Caller, provider: str) -> Credentials:
        self.asked.append((who.user_name, provider))
        if provider == "peer-only":
            raise NotInjected(provider)
        if provider == "cloud-c":
            raise K2KFailed(provider, "K2K login failed: its Keystone answered HTTP 401")
        return Credentials(f"{who.user_name}-at-{provider}", "federated")


@pytest.fixture
def mapper() -> Mapper:
    return Mapper()


@pytest.fixture
def voucher(mapper) -> ServiceVoucher:
    return ServiceVoucher(HomeKeystone(), mapper, home="home")


async def test_novas_service_token_becomes_ocxs_own_token_at_the_provider(voucher, mapper):
    assert await voucher.token_at("nova-token", "cloud-b") == "ocx-at-cloud-b"
    assert mapper.asked == [("ocx", "cloud-b")]  # OCX's own user, never Nova's or the user's


async def test_the_home_cloud_keeps_the_services_own_token(voucher, mapper):
    assert await voucher.token_at("nova-token", "home") is None
    assert mapper.asked == []


async def test_a_token_without_a_service_role_is_not_vouched_for(voucher, mapper):
    assert await voucher.token_at("user-token", "cloud-b") is None
    assert await voucher.token_at("forged-token", "cloud-b") is None
    assert await voucher.token_at(None, "cloud-b") is None
    assert mapper.asked == []


async def test_no_service_token_where_ocx_has_none_of_its_own(voucher):
    assert await voucher.token_at("nova-token", "peer-only") is None  # injected mappings only
    assert await voucher.token_at("nova-token", "cloud-c") is None    # K2K refused OCX


def test_the_service_role_is_what_makes_a_service_token():
    assert vouches_for(frozenset({"member", "service"}))
    assert not vouches_for(frozenset({"admin", "member"}))


class RecordingSession:
    def __init__(self) -> None:
        self.headers: CIMultiDict | None = None

    async def request(self, method, url, *, headers, **_):
        self.headers = headers
        raise aiohttp.ClientConnectionError()


async def test_a_k2k_provider_gets_the_vouched_token_never_novas():
    request = parse("DELETE", f"/volume/v3/{'a' * 32}/attachments/att1", MultiDict(),
                    CIMultiDict({"X-Auth-Token": "user-token",
                                 "X-Service-Token": "nova-token"}))
    catalog = ({"type": "volumev3", "endpoints": [
        {"interface": "public", "region_id": "RegionOne",
         "url": "http://cinder.test:8776/v3/$(project_id)s"}]},)
    remote = OpenStackProvider("cloud-b", region="RegionOne", sp_id="cloud-b")
    session = RecordingSession()
    with pytest.raises(ProviderUnreachable):
        await remote.send(session, request, Credentials("k2k-token", "b" * 32, catalog,
                                                        service_token="ocx-at-cloud-b"),
                          body=None, timeout=aiohttp.ClientTimeout(total=1))
    assert session.headers.getall("X-Service-Token") == ["ocx-at-cloud-b"]
    assert session.headers.getall("X-Auth-Token") == ["k2k-token"]
