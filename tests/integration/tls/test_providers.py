"""OCX calling its providers over HTTPS with the deployment's own CA and client certificates.

The home Keystone is behind a TLS proxy with a certificate of the test's CA; sp1's Keystone
(where the K2K exchange logs in, lists the federated user's projects and rescopes: its
``auth_url`` at home is the proxy's) and sp1's Cinder (in sp1's catalog) are behind proxies
that also require a client certificate the CA signed. OCX has ``[keystone] cafile`` (the
token validation, its service user, the K2K exchange's home part) and ``[provider:sp1]``
``cafile``, ``certfile``, ``keyfile`` (the exchange's sp1 part through keystoneauth1, and the
calls to sp1's Cinder through aiohttp). Without them, sp1 (or everything) is refused in the
handshake, and OCX says so in the service's own terms.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import pytest
import requests

from tests.conftest import Sim, start_sim

from .conftest import serving, write_config
from .proxy import TlsProxy, server_context


@dataclass
class Landlords:
    sim: Sim
    home_keystone: TlsProxy
    sp1_keystone: TlsProxy
    sp1_cinder: TlsProxy
    home_auth_url: str          # the home Keystone's v3 URL, through its proxy
    sp1_volume: str             # a volume of the demo project in sp1


@pytest.fixture(scope="module")
def landlords(pki):
    for sim in start_sim("home,sp1,sp2"):
        home, sp1 = sim.cloud("home"), sim.cloud("sp1")
        serving_ctx = server_context(pki.server.cert, pki.server.key)
        mutual_ctx = server_context(pki.server.cert, pki.server.key, client_ca=pki.ca.cert)
        proxies = (TlsProxy(home.keystone.endpoint, serving_ctx),
                   TlsProxy(sp1.keystone.endpoint, mutual_ctx),
                   TlsProxy(sp1.services["cinder"].endpoint, mutual_ctx))
        home_ks, sp1_ks, sp1_cinder = proxies

        async def setup() -> None:
            for proxy in proxies:
                await proxy.start()
            # K2K reaches sp1's Keystone at the auth_url home has for it (its ECP endpoint
            # stays where sp1 expects its assertions); sp1's catalog names the Cinder proxy.
            entry = home.keystone.federation.service_providers["sp1"]
            entry["auth_url"] = sp1_ks.public(entry["auth_url"])
            for endpoint in sp1.keystone.catalog_endpoints.values():
                endpoint["url"] = sp1_cinder.public(endpoint["url"])

        sim.call(setup())
        # The volume OCX must find there (made through sp1's own Cinder, not its proxy).
        conn = sim.connect("sp1")
        cinder = sp1.services["cinder"].endpoint % {"project_id": conn.current_project_id}
        volume = requests.post(
            f"{cinder}/volumes",
            json={"volume": {"size": 1, "name": "behind-tls"}}, timeout=10,
            headers={"X-Auth-Token": conn.session.get_token()}).json()["volume"]["id"]
        try:
            yield Landlords(sim, home_ks, sp1_ks, sp1_cinder,
                            home_ks.public(home.keystone.endpoint), volume)
        finally:
            async def stop() -> None:
                for proxy in proxies:
                    await proxy.stop()
            sim.call(stop())


def _token(landlords: Landlords) -> str:
    return landlords.sim.connect("home").session.get_token()


def _config(landlords, pki, tmp_path, *, keystone=None, sp1=None):
    keystone = {"cafile": pki.ca.cert} if keystone is None else keystone
    sections = {"keystone": {"auth_url": landlords.home_auth_url, **keystone}}
    if sp1:
        sections["provider:sp1"] = sp1
    return write_config(landlords.sim, tmp_path, sections=sections)


def _listing(url: str, token: str) -> requests.Response:
    return requests.get(f"{url}/volume/v3/volumes", headers={"X-Auth-Token": token},
                        timeout=60)


@pytest.mark.parametrize("cafile", ["its own", "[keystone]'s"])
def test_with_the_ca_and_the_client_certificate_every_call_goes_through(landlords, pki,
                                                                        tmp_path, cafile):
    sp1 = {"certfile": pki.client.cert, "keyfile": pki.client.key}
    if cafile == "its own":
        sp1["cafile"] = pki.ca.cert
    conf = _config(landlords, pki, tmp_path, sp1=sp1)
    before = {p: p.served for p in (landlords.home_keystone, landlords.sp1_keystone,
                                    landlords.sp1_cinder)}
    with serving(landlords.sim, conf) as url:
        token = _token(landlords)
        # Found by a search: validated at home, K2K to sp1, sp1's Cinder, all over TLS.
        shown = requests.get(f"{url}/volume/v3/volumes/{landlords.sp1_volume}",
                             headers={"X-Auth-Token": token}, timeout=60)
        assert shown.status_code == 200, shown.text
        assert shown.json()["volume"]["name"] == "behind-tls"
        listing = _listing(url, token)
        assert listing.status_code == 200
        assert "X-OCX-Missing-Providers" not in listing.headers
        assert landlords.sp1_volume in {v["id"] for v in listing.json()["volumes"]}
    assert [proxy.url for proxy, count in before.items() if proxy.served == count] == []


@pytest.mark.parametrize("sp1", [
    pytest.param({"cafile": "ROGUE_CA", "certfile": "CLIENT", "keyfile": "CLIENT_KEY"},
                 id="another CA"),
    pytest.param({"cafile": "CA"}, id="no client certificate"),
    pytest.param({"cafile": "CA", "certfile": "ROGUE_CLIENT", "keyfile": "ROGUE_CLIENT_KEY"},
                 id="a client certificate of another CA"),
])
def test_a_provider_that_fails_the_handshake_is_left_out_and_named(landlords, pki, tmp_path,
                                                                    sp1):
    files = {"CA": pki.ca.cert, "ROGUE_CA": pki.rogue.cert, "CLIENT": pki.client.cert,
             "CLIENT_KEY": pki.client.key, "ROGUE_CLIENT": pki.rogue_client.cert,
             "ROGUE_CLIENT_KEY": pki.rogue_client.key}
    conf = _config(landlords, pki, tmp_path, sp1={k: files[v] for k, v in sp1.items()})
    with serving(landlords.sim, conf) as url:
        token = _token(landlords)
        listing = _listing(url, token)
        assert listing.status_code == 200, listing.text
        assert listing.headers["X-OCX-Missing-Providers"] == "sp1"
        assert landlords.sp1_volume not in {v["id"] for v in listing.json()["volumes"]}
        shown = requests.get(f"{url}/volume/v3/volumes/{landlords.sp1_volume}",
                             headers={"X-Auth-Token": token}, timeout=60)
        assert shown.status_code == 502, shown.text
        # (A server refusing the client's certificate closes the connection after TLS 1.3's
        # handshake: to the client, it hung up.)
        assert re.search(r"sp1: K2K login failed: its Keystone (failed the TLS handshake|is "
                         r"unreachable)", shown.json()["computeFault"]["message"])


def test_insecure_skips_the_check_of_the_providers_certificate(landlords, pki, tmp_path):
    conf = _config(landlords, pki, tmp_path, sp1={
        "insecure": "true", "certfile": pki.client.cert, "keyfile": pki.client.key})
    with serving(landlords.sim, conf) as url:
        listing = _listing(url, _token(landlords))
        assert "X-OCX-Missing-Providers" not in listing.headers
        assert landlords.sp1_volume in {v["id"] for v in listing.json()["volumes"]}


def test_without_the_home_keystones_ca_no_token_can_be_validated(landlords, pki, tmp_path):
    conf = _config(landlords, pki, tmp_path, keystone={})
    with serving(landlords.sim, conf) as url:
        answer = _listing(url, _token(landlords))
        assert answer.status_code == 503
        assert "The token cannot be validated now: the home Keystone" in answer.text


@pytest.mark.parametrize("section, option", [("keystone", "cafile"),
                                             ("provider:sp1", "certfile")])
def test_a_client_tls_file_that_cannot_be_used_stops_ocx_at_once(landlords, pki, tmp_path,
                                                                  section, option):
    sections = {"keystone": {"auth_url": landlords.home_auth_url},
                section: {option: "/nonexistent/file.pem"}}
    conf = write_config(landlords.sim, tmp_path, sections=sections)
    with pytest.raises(ValueError) as failed:
        with serving(landlords.sim, conf):
            pass
    assert str(failed.value).startswith(f"[{section}] {option}")

