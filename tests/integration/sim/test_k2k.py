"""K2K between simulated Keystones, driven by keystoneauth1's unmodified Keystone2Keystone plugin.

``idp`` is the home cloud; ``bu`` and ``nu`` are its service providers. A demo user of ``idp``
gets a project-scoped token of ``bu`` through the ECP exchange and uses it on ``bu``'s services;
forged, tampered and replayed assertions get nowhere.
"""
from __future__ import annotations

import openstack
import pytest
import requests
from keystoneauth1 import exceptions as ks_exc
from keystoneauth1 import session as ks_session
from keystoneauth1.identity import v3
from lxml import etree

from ocx.sim import saml
from ocx.sim.saml import NSMAP

PAOS = {"Content-Type": "application/vnd.paos+xml"}


def home_auth(sim, user: str = "demo") -> v3.Password:
    """The user's credentials on the home cloud (the K2K identity provider)."""
    creds = sim.credentials("idp", user)
    return v3.Password(auth_url=sim.cloud("idp").keystone.endpoint, username=user,
                       password=creds["password"], user_domain_id="default",
                       project_name=creds["project"], project_domain_id="default")


def k2k_session(sim, sp: str = "bu") -> ks_session.Session:
    plugin = v3.Keystone2Keystone(home_auth(sim), sp, project_name="demo",
                                  project_domain_id="default")
    return ks_session.Session(auth=plugin)


def home_token(sim, user: str = "demo") -> str:
    """A project-scoped token of the home cloud."""
    return ks_session.Session(auth=home_auth(sim, user)).get_token()



def request_assertion(sim, token: str, sp: str = "bu", path: str = "saml2/ecp"):
    """What keystoneauth sends the IdP to get an ECP-wrapped assertion for ``sp``."""
    body = {"auth": {"identity": {"methods": ["token"], "token": {"id": token}},
                     "scope": {"service_provider": {"id": sp}}}}
    return requests.post(f"{sim.cloud('idp').keystone.endpoint}/auth/OS-FEDERATION/{path}",
                         json=body, timeout=30)


def envelope(sim, sp: str = "bu") -> bytes:
    response = request_assertion(sim, home_token(sim), sp)
    assert response.status_code == 200, response.text
    return response.content


def present(document: bytes, sp_cloud, client=requests) -> requests.Response:
    """Hand an assertion to the SP's ECP endpoint, as keystoneauth does."""
    return client.post(sp_cloud.keystone.federation.ecp_url, data=document, headers=PAOS,
                       allow_redirects=False, timeout=30)


def rewrite(document: bytes, change) -> bytes:
    root = etree.fromstring(document)
    change(root)
    return etree.tostring(root)


def set_attribute(root, name: str, value: str) -> None:
    root.find(f".//saml:Attribute[@Name='{name}']/saml:AttributeValue", NSMAP).text = value


# -- the exchange, end to end ---------------------------------------------------------------------


@pytest.mark.parametrize("sp", ["bu", "nu"])
def test_k2k_gives_a_project_scoped_token_of_the_service_provider(sim, sp):
    session = k2k_session(sim, sp)
    access = session.auth.get_access(session)
    cloud = sim.cloud(sp)

    assert access.project_name == "demo"
    assert access.project_id == cloud.keystone.project_id("demo")
    assert access.role_names == ["member"]
    assert access.username == "demo"
    assert access.user_domain_name == "idp"  # the shadow user lives in the IdP's domain
    token = access._data["token"]
    assert token["methods"] == ["token", "saml2"]
    federation = token["user"]["OS-FEDERATION"]
    assert federation["identity_provider"] == {"id": "idp"}
    assert federation["protocol"] == {"id": "saml2"}
    group = cloud.keystone.find_group("federated_users")
    assert federation["groups"] == [{"id": group}]
    assert session.auth.auth_url == cloud.keystone.endpoint  # rescoped at the SP's Keystone


def test_the_federated_user_is_shadowed_once_in_the_idp_domain(sim):
    first = k2k_session(sim).auth
    second = k2k_session(sim).auth
    ids = {plugin.get_access(ks_session.Session(auth=plugin)).user_id
           for plugin in (first, second)}
    assert len(ids) == 1

    admin = sim.connect("bu", user="admin")
    domain = admin.identity.find_domain("idp")
    assert "Identity Provider: idp" in domain.description
    shadows = list(admin.identity.users(domain_id=domain.id))
    assert [(u.id, u.name) for u in shadows] == [(ids.pop(), "demo")]


def test_the_sp_token_works_on_the_sp_keystone(sim):
    session = k2k_session(sim)
    endpoint = sim.cloud("bu").keystone.endpoint
    projects = session.get(endpoint + "/auth/projects").json()["projects"]
    assert [p["name"] for p in projects] == ["demo"]
    # ... and not on the home cloud, where it means nothing.
    response = session.get(sim.cloud("idp").keystone.endpoint + "/auth/projects",
                           authenticated=False, raise_exc=False,
                           headers={"X-Auth-Token": session.get_token()})
    assert response.status_code == 401


def test_the_sp_token_works_on_the_sp_cinder_with_openstacksdk(sim):
    session = k2k_session(sim)
    conn = openstack.connection.Connection(session=session, region_name="RegionOne")
    assert list(conn.block_storage.volumes()) == []
    project = sim.cloud("bu").keystone.project_id("demo")
    response = session.get("/volumes", endpoint_filter={
        "service_type": "block-storage", "interface": "public"})
    assert response.status_code == 200
    assert project in response.url


def test_the_home_token_lists_the_service_providers(sim):
    session = ks_session.Session(auth=home_auth(sim))
    providers = session.auth.get_access(session).service_providers
    for sp in ("bu", "nu"):
        fed = sim.cloud(sp).keystone.federation
        assert providers.get_sp_url(sp) == fed.ecp_url
        assert providers.get_auth_url(sp) == fed.federation_auth_url("idp")


def test_a_successful_ecp_post_opens_a_session_that_keystone_maps(sim):
    bu = sim.cloud("bu")
    client = requests.Session()
    answer = present(envelope(sim), bu, client)
    assert answer.status_code == 302
    assert answer.headers["Location"] == bu.keystone.federation.federation_auth_url("idp")

    login = client.get(answer.headers["Location"], timeout=30)
    assert login.status_code == 201
    token = login.json()["token"]
    assert login.headers["X-Subject-Token"]
    assert token["methods"] == ["saml2"]
    assert token["user"]["name"] == "demo"
    assert "project" not in token and "catalog" not in token  # unscoped until rescoped


# -- what the IdP refuses --------------------------------------------------------------------------


def test_the_idp_answers_with_the_ecp_envelope_and_the_sp_urls(sim):
    response = request_assertion(sim, home_token(sim))
    fed = sim.cloud("bu").keystone.federation
    assert response.headers["Content-Type"].startswith("text/xml")
    assert response.headers["X-sp-url"] == fed.ecp_url
    assert response.headers["X-auth-url"] == fed.federation_auth_url("idp")
    root = etree.fromstring(response.content)
    assert root.find("soap11:Header/ecp:RelayState", NSMAP).text.startswith("ss:mem:")
    assertion = root.find("soap11:Body/samlp:Response/saml:Assertion", NSMAP)
    issuer = assertion.findtext("saml:Issuer", namespaces=NSMAP)
    assert issuer == sim.cloud("idp").keystone.federation.entity_id

    bare = request_assertion(sim, home_token(sim), path="saml2")
    assert bare.status_code == 200
    assert etree.fromstring(bare.content).tag == f"{{{saml.NS_SAMLP}}}Response"


@pytest.mark.parametrize("case, status", [
    ("unknown service provider", 404), ("bad token", 401), ("unscoped token", 403),
    ("malformed body", 400),
])
def test_the_idp_refuses_what_keystone_refuses(sim, case, status):
    if case == "unknown service provider":
        response = request_assertion(sim, home_token(sim), sp="nowhere")
    elif case == "bad token":
        response = request_assertion(sim, "gAAAAAnot-a-token")
    elif case == "unscoped token":
        admin = sim.connect("idp", user="admin")
        user = admin.identity.create_user(name="no-project", password="k2k-test-only",
                                          domain_id="default")
        try:
            plugin = v3.Password(auth_url=sim.cloud("idp").keystone.endpoint,
                                 username="no-project", password="k2k-test-only",
                                 user_domain_id="default")
            token = ks_session.Session(auth=plugin).get_token()
            response = request_assertion(sim, token)
        finally:
            admin.identity.delete_user(user)
    else:
        response = requests.post(
            f"{sim.cloud('idp').keystone.endpoint}/auth/OS-FEDERATION/saml2/ecp",
            json={"auth": {"identity": {"token": {}}}}, timeout=30)
    assert response.status_code == status
    assert response.json()["error"]["code"] == status


def test_a_disabled_service_provider_gets_no_assertion_and_leaves_the_token(sim):
    admin = sim.connect("idp", user="admin")
    admin.identity.update_service_provider("nu", is_enabled=False)
    try:
        response = request_assertion(sim, home_token(sim), sp="nu")
        assert response.status_code == 403
        assert "Service Provider nu is disabled" in response.json()["error"]["message"]
        session = ks_session.Session(auth=home_auth(sim))
        listed = session.auth.get_access(session)._data["token"]["service_providers"]
        assert [sp["id"] for sp in listed] == ["bu"]
    finally:
        admin.identity.update_service_provider("nu", is_enabled=True)


# -- what the SP refuses ---------------------------------------------------------------------------


def test_an_assertion_signed_by_another_key_is_refused(sim):
    bu = sim.cloud("bu")
    forger = saml.make_signing_identity("idp keystone idp")
    claims = saml.Claims(user="admin", user_domain="Default", roles=("admin",),
                         project="admin", project_domain="Default")
    fed = bu.keystone.federation
    forged = saml.ecp_envelope(saml.build_response(
        claims, issuer=sim.cloud("idp").keystone.federation.entity_id, recipient=fed.ecp_url,
        audience=fed.ecp_url, identity=forger), consumer_url=fed.ecp_url)
    client = requests.Session()
    answer = present(forged, bu, client)
    assert answer.status_code == 401
    assert "signature" in answer.json()["error"]["message"]
    assert not client.cookies
    login = client.get(fed.federation_auth_url("idp"), timeout=30)
    assert login.status_code == 401


def test_an_assertion_changed_on_the_way_is_refused(sim):
    tampered = rewrite(envelope(sim), lambda root: set_attribute(root, "openstack_user",
                                                                "admin"))
    answer = present(tampered, sim.cloud("bu"))
    assert answer.status_code == 401
    assert "signature" in answer.json()["error"]["message"]


def test_an_assertion_is_used_once(sim):
    document = envelope(sim)
    assert present(document, sim.cloud("bu")).status_code == 302
    again = present(document, sim.cloud("bu"))
    assert again.status_code == 401
    assert "replayed" in again.json()["error"]["message"]


def test_an_assertion_for_one_sp_is_refused_by_another(sim):
    answer = present(envelope(sim, sp="nu"), sim.cloud("bu"))
    assert answer.status_code == 401
    assert "audience" in answer.json()["error"]["message"]


def test_hostile_xml_is_refused(sim):
    xxe = (b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/hostname">]>'
           b'<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol">&x;'
           b'</samlp:Response>')
    for document in (xxe, b"<not-closed", b"plain text"):
        answer = present(document, sim.cloud("bu"))
        assert answer.status_code == 401
        assert "malformed" in answer.json()["error"]["message"]


def test_without_a_session_the_federated_login_requires_authentication(sim):
    fed = sim.cloud("bu").keystone.federation
    response = requests.get(fed.federation_auth_url("idp"), timeout=30,
                            cookies={fed._session_cookie(): "made-up"})
    assert response.status_code == 401


def test_a_disabled_identity_provider_stops_k2k(sim):
    admin = sim.connect("bu", user="admin")
    admin.identity.update_identity_provider("idp", is_enabled=False)
    try:
        with pytest.raises(ks_exc.Forbidden):
            k2k_session(sim).get_token()
    finally:
        admin.identity.update_identity_provider("idp", is_enabled=True)
    assert k2k_session(sim).get_token()


# -- the federation objects through the real clients -----------------------------------------------


def test_openstack_service_provider_list_on_the_idp(sim):
    rows = sim.osc("service", "provider", "list", cloud="idp", user="admin")
    by_id = {row["ID"]: row for row in rows}
    assert set(by_id) == {"bu", "nu"}
    bu = sim.cloud("bu").keystone.federation
    assert by_id["bu"]["Service Provider URL"] == bu.ecp_url
    assert by_id["bu"]["Auth URL"] == bu.federation_auth_url("idp")
    assert by_id["bu"]["Enabled"] is True
    assert by_id["bu"]["Relay State Prefix"] == "ss:mem:"

    refused = sim.osc("service", "provider", "list", cloud="idp", check=False)
    assert refused.returncode != 0
    assert "403" in refused.stderr


def test_service_providers_are_managed_with_openstacksdk(sim):
    admin = sim.connect("idp", user="admin")
    created = admin.identity.create_service_provider(
        id="extra", auth_url="http://sp.example/v3/OS-FEDERATION/identity_providers/idp/"
                             "protocols/saml2/auth",
        sp_url="http://sp.example/Shibboleth.sso/SAML2/ECP", is_enabled=True)
    try:
        assert created.relay_state_prefix == "ss:mem:"
        updated = admin.identity.update_service_provider("extra", description="partner")
        assert updated.description == "partner"
        assert admin.identity.get_service_provider("extra").is_enabled is True
        with pytest.raises(openstack.exceptions.ConflictException):
            admin.identity.create_service_provider(
                id="extra", auth_url="http://a.example/v3", sp_url="http://a.example/ecp")
        with pytest.raises(openstack.exceptions.BadRequestException):
            admin.identity.update_service_provider("extra", sp_url="not a url")
    finally:
        admin.identity.delete_service_provider("extra")
    with pytest.raises(openstack.exceptions.NotFoundException):
        admin.identity.get_service_provider("extra")


def test_the_sp_shows_its_identity_provider_protocol_and_mapping(sim):
    rows = sim.osc("identity", "provider", "list", cloud="bu", user="admin")
    assert [(r["ID"], r["Enabled"]) for r in rows] == [("idp", True)]

    admin = sim.connect("bu", user="admin")
    idp = admin.identity.get_identity_provider("idp")
    assert idp.remote_ids == [sim.cloud("idp").keystone.federation.entity_id]
    protocols = list(admin.identity.federation_protocols("idp"))
    assert [(p.name, p.mapping_id) for p in protocols] == [("saml2", "idp_mapping")]
    rules = admin.identity.get_mapping("idp_mapping").rules
    assert rules[0]["remote"][0] == {"type": "openstack_user"}


def test_mappings_are_validated_like_keystones(sim):
    admin = sim.connect("bu", user="admin")
    rules = [{"local": [{"user": {"name": "{0}"}}], "remote": [{"type": "openstack_user"}]}]
    created = admin.identity.create_mapping(id="extra_mapping", rules=rules)
    try:
        assert created.rules == rules
        assert "extra_mapping" in {m.id for m in admin.identity.mappings()}
        with pytest.raises(openstack.exceptions.BadRequestException):
            admin.identity.create_mapping(id="broken", rules=[{"local": []}])
    finally:
        admin.identity.delete_mapping("extra_mapping")


def test_the_idp_publishes_the_metadata_the_sp_trusts(sim):
    fed = sim.cloud("idp").keystone.federation
    response = requests.get(fed.base_url + "/v3/OS-FEDERATION/saml2/metadata", timeout=30)
    assert response.status_code == 200
    root = etree.fromstring(response.content)
    assert root.get("entityID") == fed.entity_id
    cert = root.findtext(".//ds:X509Certificate", namespaces=NSMAP)
    trusted = sim.cloud("bu").keystone.federation.idp_metadata[fed.entity_id]
    assert cert == "".join(trusted.splitlines()[1:-1])
