"""Keystone of each cloud: keys, bootstrap, and what is registered in it over its REST API."""
from __future__ import annotations

import base64
import os
from pathlib import Path

from keystoneauth1 import session as ks_session
from keystoneauth1.identity import v3

from .layout import REGION, Cloud, service_users
from .procs import run
from .services import service_env

# Catalog entries: service type -> service name (as devstack names them).
CATALOG_NAMES = {"image": "glance", "volumev3": "cinderv3", "network": "neutron",
                 "compute": "nova", "placement": "placement"}
DEMO_PROJECT = "demo"
DEMO_USER = "demo"


def write_fernet_repository(folder: Path) -> None:
    """What `keystone-manage fernet_setup` makes: a staged key (0) and a primary one (1)."""
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    for index in ("0", "1"):
        path = folder / index
        path.write_bytes(base64.urlsafe_b64encode(os.urandom(32)))
        path.chmod(0o600)


def make_keys(cloud: Cloud) -> None:
    write_fernet_repository(cloud.dir / "keys" / "fernet")
    write_fernet_repository(cloud.dir / "keys" / "credential")


def bootstrap(cloud: Cloud) -> None:
    """The admin user, project and role, the identity service and its endpoints."""
    argv = [cloud.bin("keystone-manage"), "--config-file", str(cloud.dir / "keystone.conf"),
            "bootstrap", "--bootstrap-username", "admin", "--bootstrap-project-name", "admin",
            "--bootstrap-role-name", "admin", "--bootstrap-service-name", "keystone",
            "--bootstrap-region-id", REGION,
            "--bootstrap-admin-url", cloud.keystone_url,
            "--bootstrap-internal-url", cloud.keystone_url,
            "--bootstrap-public-url", cloud.auth_url]
    # The password goes by environment, never on a command line that ps shows.
    env = service_env(cloud, OS_BOOTSTRAP_PASSWORD=cloud.passwords["admin"])
    run(argv, cloud.log("keystone-bootstrap"), cwd=cloud.dir, env=env)


def admin_session(cloud: Cloud) -> ks_session.Session:
    auth = v3.Password(auth_url=cloud.keystone_url, username="admin",
                       password=cloud.passwords["admin"], project_name="admin",
                       user_domain_id="default", project_domain_id="default")
    return ks_session.Session(auth=auth)


class Admin:
    """Keystone's v3 API as the cloud's admin, talking to Keystone itself."""

    def __init__(self, cloud: Cloud) -> None:
        self.cloud = cloud
        self.session = admin_session(cloud)

    def url(self, path: str) -> str:
        return self.cloud.keystone_url + path

    def get(self, path: str) -> dict:
        return self.session.get(self.url(path)).json()

    def post(self, path: str, body: dict) -> dict:
        return self.session.post(self.url(path), json=body).json()

    def put(self, path: str, body: dict | None = None) -> dict:
        resp = self.session.put(self.url(path), json=body)
        return resp.json() if resp.content else {}

    def patch(self, path: str, body: dict) -> dict:
        return self.session.patch(self.url(path), json=body).json()

    def role_id(self, name: str) -> str:
        return self.get(f"/roles?name={name}")["roles"][0]["id"]

    def project(self, name: str, description: str) -> str:
        body = {"project": {"name": name, "domain_id": "default", "description": description}}
        return self.post("/projects", body)["project"]["id"]

    def user(self, name: str, project_id: str, *roles: str) -> str:
        body = {"user": {"name": name, "domain_id": "default", "default_project_id": project_id,
                         "password": self.cloud.passwords[name]}}
        user_id = self.post("/users", body)["user"]["id"]
        for role in roles:
            self.put(f"/projects/{project_id}/users/{user_id}/roles/{self.role_id(role)}")
        return user_id

    def catalog_entry(self, service_type: str, url: str) -> None:
        body = {"service": {"type": service_type, "name": CATALOG_NAMES[service_type]}}
        service_id = self.post("/services", body)["service"]["id"]
        for interface in ("public", "internal"):
            self.post("/endpoints", {"endpoint": {"service_id": service_id, "url": url,
                                                  "interface": interface,
                                                  "region_id": REGION}})


def register_services(cloud: Cloud) -> dict[str, str]:
    """Service users, the catalog, and (in A) the demo user; returns the ids made."""
    admin = Admin(cloud)
    ids = {"service_project_id": admin.project("service", "the services' own users")}
    # "service": what makes a token a service token to keystonemiddleware (Cinder lets only
    # Nova's service token delete an attachment in use).
    for user in service_users(cloud.name):
        admin.user(user, ids["service_project_id"], "admin", "service")
    for service_type, url in cloud.endpoints().items():
        if service_type != "identity":  # keystone-manage bootstrap registered Keystone
            admin.catalog_entry(service_type, url)
    if not cloud.is_sp:
        ids["demo_project_id"] = admin.project(DEMO_PROJECT, "the demo user's project")
        ids["demo_user_id"] = admin.user(DEMO_USER, ids["demo_project_id"], "member")
    return ids
