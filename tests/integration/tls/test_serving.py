"""OCX serving HTTPS (``[ssl] cert_file``, ``key_file``), and requiring client certificates
(``[ssl] ca_file``), with a CA of the test's own: openstacksdk, given the CA, verifies OCX and
works through it; a client that does not trust the CA, one that speaks plain HTTP, and (with
``ca_file``) one without a certificate the CA signed are refused in the handshake.
"""
from __future__ import annotations

import openstack
import pytest
import requests

from tests.conftest import start_sim

from .conftest import serving, write_config


@pytest.fixture(scope="module")
def sim():
    yield from start_sim("home,sp1")


def _sdk(sim, **tls) -> openstack.connection.Connection:
    """openstacksdk as a user configures it (``cacert``, ``cert``, ``key`` of clouds.yaml)."""
    return openstack.connection.Connection(region_name="RegionOne", identity_api_version="3",
                                           interface="public", **sim.auth_args("home"), **tls)


def test_openstacksdk_verifies_ocx_with_the_ca_and_works_through_it(sim, pki, tmp_path):
    conf = write_config(sim, tmp_path, sections={
        "ssl": {"cert_file": pki.server.cert, "key_file": pki.server.key}})
    with serving(sim, conf, catalog=True) as url:
        assert url.startswith("https://127.0.0.1:")
        conn = _sdk(sim, cacert=pki.ca.cert)
        volume = conn.block_storage.create_volume(size=1, name="secure@sp1")
        assert volume.id in {v.id for v in conn.block_storage.volumes()}
        # The links OCX gives are its own https URLs.
        shown = conn.session.get(f"{url}/volume/v3/volumes/{volume.id}").json()["volume"]
        assert {link["href"].split("/volume/")[0] for link in shown["links"]} == {url}

        token = conn.session.get_token()
        for verify in (True, pki.rogue.cert):  # the system's CAs, another CA
            with pytest.raises(requests.exceptions.SSLError):
                requests.get(f"{url}/volume/v3/volumes", verify=verify, timeout=10,
                             headers={"X-Auth-Token": token})
        with pytest.raises(requests.exceptions.ConnectionError):
            requests.get(url.replace("https:", "http:") + "/healthz", timeout=10)


def test_with_ca_file_only_clients_with_a_certificate_of_the_ca_get_in(sim, pki, tmp_path):
    conf = write_config(sim, tmp_path, sections={
        "ssl": {"cert_file": pki.server.cert, "key_file": pki.server.key,
                "ca_file": pki.ca.cert}})
    with serving(sim, conf, catalog=True) as url:
        conn = _sdk(sim, cacert=pki.ca.cert, cert=pki.client.cert, key=pki.client.key)
        assert isinstance(list(conn.block_storage.volumes()), list)
        token = conn.session.get_token()
        for cert in (None, (pki.rogue_client.cert, pki.rogue_client.key)):
            with pytest.raises((requests.exceptions.SSLError,
                                requests.exceptions.ConnectionError)):
                requests.get(f"{url}/volume/v3/volumes", verify=pki.ca.cert, cert=cert,
                             headers={"X-Auth-Token": token}, timeout=10).raise_for_status()
        answer = requests.get(f"{url}/healthz", verify=pki.ca.cert, timeout=10,
                              cert=(pki.client.cert, pki.client.key))
        assert answer.status_code == 200


@pytest.mark.parametrize("ssl, problem", [
    ({"cert_file": "/nonexistent/ocx.pem"}, "[ssl] cert_file, key_file or ca_file"),
    ({"key_file": "/nonexistent/ocx.key"}, "[ssl]: key_file and ca_file need cert_file"),
    ({"cert_file": "SERVER", "key_file": "ROGUE_KEY"}, "[ssl] cert_file, key_file or ca_file"),
])
def test_a_listening_certificate_that_cannot_be_used_stops_ocx_at_once(sim, pki, tmp_path,
                                                                       ssl, problem):
    files = {"SERVER": pki.server.cert, "ROGUE_KEY": pki.rogue_server.key}
    conf = write_config(sim, tmp_path, sections={
        "ssl": {k: files.get(v, v) for k, v in ssl.items()}})
    with pytest.raises(ValueError) as failed:
        with serving(sim, conf):
            pass
    assert str(failed.value).startswith(problem)
