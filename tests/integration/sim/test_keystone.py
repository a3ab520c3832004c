"""The simulated Keystone as the real clients see it: auth, validation, revocation, catalog."""
from __future__ import annotations

import time

import pytest
import requests
from keystoneauth1 import exceptions as ks_exc
from keystoneauth1 import session as ks_session
from keystoneauth1.identity import v3

pytestmark = pytest.mark.usefixtures("sim")


def password_session(sim, cloud="idp", user="demo") -> ks_session.Session:
    return ks_session.Session(auth=v3.Password(**sim.auth_args(cloud, user)))


def test_a_user_logs_in_and_finds_every_service_in_the_catalog(sim):
    conn = sim.connect("idp")
    access = conn.session.auth.get_access(conn.session)
    assert access.project_name == "demo"
    assert {"compute", "block-storage", "volumev3", "image", "network", "identity"} <= set(
        access.service_catalog.get_endpoints())
    # Cinder's endpoint carries the project id, as Keystone substitutes it per token.
    volume = access.service_catalog.url_for(service_type="block-storage", interface="public")
    assert volume.endswith("/v3/" + access.project_id)
    internal = access.service_catalog.url_for(service_type="compute", interface="internal")
    assert internal == sim.cloud("idp").services["nova"].endpoint


def test_the_openstack_command_issues_a_token(sim):
    token = sim.osc("token", "issue")
    assert token["project_id"] == sim.connect("idp").current_project_id
    assert token["id"]


def test_a_service_user_validates_a_users_token_and_a_revoked_token_is_gone(sim):
    user = password_session(sim)
    service = password_session(sim, user="ocx")
    url = sim.cloud("idp").keystone.endpoint + "/auth/tokens"
    token = user.get_token()
    resp = requests.get(url, headers={"X-Auth-Token": service.get_token(),
                                      "X-Subject-Token": token}, timeout=10)
    assert resp.status_code == 200
    assert resp.headers["X-Subject-Token"] == token
    body = resp.json()["token"]
    assert body["user"]["name"] == "demo" and body["project"]["name"] == "demo"
    assert {r["name"] for r in body["roles"]} >= {"member"}
    assert body["expires_at"].endswith("Z")
    # HEAD answers without a body; DELETE revokes; the revoked token no longer validates.
    assert requests.head(url, headers={"X-Auth-Token": service.get_token(),
                                       "X-Subject-Token": token}, timeout=10).status_code == 200
    assert requests.delete(url, headers={"X-Auth-Token": token, "X-Subject-Token": token},
                           timeout=10).status_code == 204
    resp = requests.get(url, headers={"X-Auth-Token": service.get_token(),
                                      "X-Subject-Token": token}, timeout=10)
    assert resp.status_code == 404
    assert resp.json()["error"]["code"] == 404


def test_an_ordinary_user_cannot_validate_someone_elses_token(sim):
    url = sim.cloud("idp").keystone.endpoint + "/auth/tokens"
    demo, admin = password_session(sim), password_session(sim, user="admin")
    resp = requests.get(url, headers={"X-Auth-Token": demo.get_token(),
                                      "X-Subject-Token": admin.get_token()}, timeout=10)
    assert resp.status_code == 403
    assert resp.json()["error"]["title"] == "Forbidden"


def test_a_wrong_password_gets_401_in_keystones_format(sim):
    args = sim.auth_args("idp") | {"password": "not-the-password"}
    with pytest.raises(ks_exc.Unauthorized):
        ks_session.Session(auth=v3.Password(**args)).get_token()
    resp = requests.post(sim.cloud("idp").keystone.endpoint + "/auth/tokens", json={
        "auth": {"identity": {"methods": ["password"], "password": {"user": {
            "name": "demo", "domain": {"id": "default"}, "password": "wrong"}}}}}, timeout=10)
    assert resp.status_code == 401
    assert resp.json() == {"error": {"code": 401, "title": "Unauthorized", "message":
                                     "The request you have made requires authentication."}}


@pytest.mark.parametrize("body", [b"{not json", b"[]", b'{"auth": 3}',
                                  b'{"auth": {"identity": {"methods": []}}}'])
def test_malformed_auth_requests_get_400_and_no_token(sim, body):
    resp = requests.post(sim.cloud("idp").keystone.endpoint + "/auth/tokens", data=body,
                         headers={"Content-Type": "application/json"}, timeout=10)
    assert resp.status_code == 400
    assert resp.json()["error"]["code"] == 400
    assert "X-Subject-Token" not in resp.headers


def test_an_unscoped_token_lists_the_projects_it_may_scope_to(sim):
    args = sim.auth_args("idp")
    args.pop("project_name"), args.pop("project_domain_name")
    unscoped = ks_session.Session(auth=v3.Password(**args, unscoped=True))
    access = unscoped.auth.get_access(unscoped)
    assert access.project_id is None and not access.has_service_catalog()
    url = sim.cloud("idp").keystone.endpoint + "/auth/projects"
    projects = requests.get(url, headers={"X-Auth-Token": unscoped.get_token()},
                            timeout=10).json()["projects"]
    assert [p["name"] for p in projects] == ["demo"]
    # Rescoping the unscoped token to that project gives a scoped token with a catalog.
    scoped = ks_session.Session(auth=v3.Token(auth_url=args["auth_url"],
                                              token=unscoped.get_token(),
                                              project_id=projects[0]["id"]))
    assert scoped.auth.get_access(scoped).has_service_catalog()


def test_a_project_without_a_role_cannot_be_scoped_to(sim):
    args = sim.auth_args("idp") | {"project_name": "admin"}
    with pytest.raises(ks_exc.Unauthorized):
        ks_session.Session(auth=v3.Password(**args)).get_token()


def test_an_admin_manages_projects_users_and_roles(sim):
    admin = sim.connect("idp", user="admin")
    project = admin.identity.create_project(name="research", domain_id="default")
    user = admin.identity.create_user(name="carol", password="carols-secret",
                                      domain_id="default", default_project_id=project.id)
    member = admin.identity.find_role("member")
    admin.identity.assign_project_role_to_user(project, user, member)
    assert admin.identity.validate_user_has_project_role(project, user, member)
    carol = ks_session.Session(auth=v3.Password(
        auth_url=sim.cloud("idp").keystone.endpoint, username="carol",
        password="carols-secret", user_domain_id="default", project_id=project.id))
    assert carol.auth.get_access(carol).project_name == "research"
    assert "research" in {p.name for p in admin.identity.projects()}
    # An ordinary user may not do the same.
    demo = sim.connect("idp")
    with pytest.raises(Exception) as err:
        demo.identity.create_project(name="mine", domain_id="default")
    assert getattr(err.value, "status_code", None) == 403


def test_tokens_expire(make_sim):
    from ocx.sim.cloud import CloudSpec
    from ocx.sim.exchange import SimExchange  # noqa: F401 - the fixture builds it

    sim = make_sim("short=cinder")
    keystone = sim.cloud("short").keystone
    user_id = keystone.find_user("demo")
    token = sim.call(_issue(keystone, user_id, ttl_s=1))
    assert keystone.tokens.validate(token.id) is not None
    time.sleep(1.1)
    assert keystone.tokens.validate(token.id) is None
    volumes = sim.cloud("short").services["cinder"].project_endpoint(token.project_id)
    resp = requests.get(volumes + "/volumes", headers={"X-Auth-Token": token.id}, timeout=10)
    assert resp.status_code == 401
    assert resp.headers["WWW-Authenticate"].startswith("Keystone uri=")
    del CloudSpec


async def _issue(keystone, user_id, ttl_s):
    import datetime as dt

    from ocx.sim.wire import utcnow
    return keystone.issue_token(user_id, ["password"],
                                project_id=keystone.project_id("demo"),
                                expires_at=utcnow() + dt.timedelta(seconds=ttl_s))


def test_version_documents_answer_without_a_token(sim):
    base = sim.cloud("idp").keystone.base_url
    root = requests.get(base + "/", timeout=10)
    assert root.status_code == 300
    assert root.json()["versions"]["values"][0]["id"].startswith("v3")
    v3doc = requests.get(base + "/v3", timeout=10).json()["version"]
    assert v3doc["status"] == "stable" and v3doc["links"][0]["href"] == base + "/v3/"


def test_an_admin_points_the_public_compute_endpoint_elsewhere(make_sim):
    """What an operator does to put a gateway in front of a service: only new tokens see it."""
    sim = make_sim("cat=cinder")
    endpoints = sim.osc("endpoint", "list", "--service", "block-storage", "--interface",
                        "public", cloud="cat", user="admin")
    assert len(endpoints) == 1
    sim.osc("endpoint", "set", "--url", "http://127.0.0.1:1/volume/v3/$(project_id)s",
            endpoints[0]["ID"], cloud="cat", user="admin")
    access = sim.connect("cat").session.auth.get_access(sim.connect("cat").session)
    catalog = access.service_catalog
    assert catalog.url_for(service_type="block-storage", interface="public") == \
        f"http://127.0.0.1:1/volume/v3/{access.project_id}"
    assert catalog.url_for(service_type="block-storage", interface="internal").startswith(
        sim.cloud("cat").services["cinder"].base_url)
    bad = requests.patch(sim.cloud("cat").keystone.endpoint + "/endpoints/" + endpoints[0]["ID"],
                         json={"endpoint": {"interface": "sideways"}},
                         headers={"X-Auth-Token": sim.connect("cat", "admin").session.get_token()},
                         timeout=10)
    assert bad.status_code == 400
