"""The harness brings up two real clouds federated with real K2K (SAML through mellon)."""
from __future__ import annotations

import time

import openstack
import pytest
import requests
from keystoneauth1 import exceptions as ks_exceptions
from keystoneauth1 import session as ks_session
from keystoneauth1.identity import v3

from .layout import REGION

# A fresh set-up (empty cache) installs the services first: longer than the default limit.
pytestmark = pytest.mark.timeout(1200)


def connect(session: ks_session.Session) -> openstack.connection.Connection:
    return openstack.connection.Connection(session=session, region_name=REGION)


def k2k_session(real_clouds) -> tuple[v3.Keystone2Keystone, ks_session.Session]:
    """A's demo user, scoped to B's project through keystoneauth1's own K2K plugin."""
    home = v3.Password(**real_clouds.auth(real_clouds.a, "demo"))
    k2k = v3.Keystone2Keystone(home, real_clouds.sp_id, project_id=real_clouds.b_project_id)
    return k2k, ks_session.Session(auth=k2k)


def wait_for_volume(conn, volume, status: str = "available", timeout: float = 60):
    deadline = time.monotonic() + timeout
    while (volume := conn.block_storage.get_volume(volume)).status != status:
        assert volume.status not in ("error", "error_deleting"), volume.status
        assert time.monotonic() < deadline, f"volume still {volume.status}"
        time.sleep(0.5)
    return volume


def test_demo_user_of_a_gets_a_project_token_in_b_through_k2k(real_clouds):
    k2k, session = k2k_session(real_clouds)
    token = k2k.get_auth_ref(session)
    assert token.project_id == real_clouds.b_project_id
    assert "member" in token.role_names and "admin" not in token.role_names
    # B's Keystone says how the token was made: a SAML assertion of A's, then rescoped.
    b_admin = ks_session.Session(auth=v3.Password(**real_clouds.auth(real_clouds.b)))
    seen = b_admin.get(real_clouds.b.keystone_url + "/auth/tokens",
                       headers={"X-Subject-Token": token.auth_token}).json()["token"]
    assert set(seen["methods"]) == {"token", "saml2"}
    # A federated (shadow) user of B, named after A's user, not one of B's own users.
    assert seen["user"]["name"] == "demo"
    assert seen["user"]["OS-FEDERATION"]["identity_provider"]["id"] == real_clouds.a.id
    assert seen["user"]["domain"]["id"] != "default"
    catalog = {entry["type"] for entry in token.service_catalog.catalog}
    assert {"identity", "image", "volumev3", "network"} <= catalog
    assert token.service_catalog.url_for(service_type="image") == \
        real_clouds.b.endpoints()["image"]


def test_k2k_user_uses_b_images_and_volumes(real_clouds):
    _, session = k2k_session(real_clouds)
    conn = connect(session)
    image = conn.image.create_image(name="k2k-image", disk_format="raw",
                                    container_format="bare", data=b"made through K2K")
    volume = conn.block_storage.create_volume(name="k2k-volume", size=1)
    try:
        wait_for_volume(conn, volume)
        assert image.id in {i.id for i in conn.image.images()}
        volumes = {v.id: v for v in conn.block_storage.volumes()}
        assert volumes[volume.id].name == "k2k-volume"
        assert conn.image.download_image(image).content == b"made through K2K"
        # Made in B's project, seen there by B's admin; A knows nothing of them.
        b_admin = openstack.connection.Connection(region_name=REGION,
                                                  **real_clouds.auth(real_clouds.b))
        owned = b_admin.block_storage.get_volume(volume.id)
        assert owned.project_id == real_clouds.b_project_id
        a_admin = openstack.connection.Connection(region_name=REGION,
                                                  **real_clouds.auth(real_clouds.a))
        assert volume.id not in {v.id for v in a_admin.block_storage.volumes(all_projects=True)}
        assert image.id not in {i.id for i in a_admin.image.images()}
    finally:
        conn.image.delete_image(image, ignore_missing=True)
        conn.block_storage.delete_volume(volume, ignore_missing=True)


def test_a_services_answer_with_a_token(real_clouds):
    conn = openstack.connection.Connection(region_name=REGION,
                                           **real_clouds.auth(real_clouds.a, "demo"))
    network = conn.network.create_network(name="a-net")
    volume = conn.block_storage.create_volume(name="a-volume", size=1)
    try:
        assert network.id in {n.id for n in conn.network.networks()}
        assert wait_for_volume(conn, volume).name == "a-volume"
        assert isinstance(list(conn.image.images()), list)
    finally:
        conn.network.delete_network(network, ignore_missing=True)
        conn.block_storage.delete_volume(volume, ignore_missing=True)


def test_a_token_is_refused_by_b_services(real_clouds):
    session = ks_session.Session(auth=v3.Password(**real_clouds.auth(real_clouds.a, "demo")))
    with pytest.raises(ks_exceptions.Unauthorized):
        session.get(real_clouds.b.endpoints()["image"] + "/v2/images",
                    headers={"X-Auth-Token": session.get_token()}, authenticated=False)


def test_mellon_alone_says_who_the_federated_user_is(real_clouds):
    """Headers a client sends itself do not log it in at B; only a SAML assertion does."""
    a, b = real_clouds.a, real_clouds.b
    auth_url = b.base("apache") + (f"/v3/OS-FEDERATION/identity_providers/{a.id}"
                                   "/protocols/saml2/auth")
    forged = requests.get(auth_url, allow_redirects=False, timeout=30,
                          headers={"X-Mellon-User": "demo", "X-Mellon-Idp": a.id})
    # mellon sends the client off to log in at an IdP instead of passing it to Keystone.
    assert forged.status_code in (302, 303)
    assert "X-Subject-Token" not in forged.headers


def ecp_assertion(real_clouds) -> tuple[str, str]:
    """A's Keystone's signed SAML assertion for B (ECP envelope), and where B takes it."""
    a = real_clouds.a
    home = v3.Password(**real_clouds.auth(a, "demo"))
    session = ks_session.Session(auth=home)
    body = {"auth": {"identity": {"methods": ["token"],
                                  "token": {"id": session.get_token()}},
                     "scope": {"service_provider": {"id": real_clouds.sp_id}}}}
    envelope = session.post(a.keystone_url + "/auth/OS-FEDERATION/saml2/ecp", json=body,
                            authenticated=False).text
    return envelope, home.get_sp_url(session, real_clouds.sp_id)  # from A's token


def present(envelope: str, sp_url: str) -> requests.Response:
    return requests.post(sp_url, data=envelope, allow_redirects=False, timeout=30,
                         headers={"Content-Type": "application/vnd.paos+xml"})


def test_mellon_takes_a_signed_assertion_once(real_clouds):
    envelope, sp_url = ecp_assertion(real_clouds)
    assert present(envelope, sp_url).status_code in (302, 303)  # logged in, sent on
    assert present(envelope, sp_url).status_code >= 400  # replayed: refused


def test_mellon_refuses_a_tampered_assertion(real_clouds):
    envelope, sp_url = ecp_assertion(real_clouds)
    assert ">demo<" in envelope
    assert present(envelope.replace(">demo<", ">admin<"), sp_url).status_code >= 400
