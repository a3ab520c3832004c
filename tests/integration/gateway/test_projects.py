"""Home and foreign Keystones per project (issue 8), as a user and an operator see them.

The demo user's project lives at home; K2K lands it in sp1's "demo" project. At sp2 the
federated user is given no project, so sp2 holds nothing of it: after OCX has tried sp2 once,
the project's listings and searches reach home and sp1 only (the simulated clouds count every
call they get, Keystone's included). The operator sees this with ``GET /ocx/v1/projects`` and
``ocx projects``; the user polls quotas per provider with ``GET /ocx/v1/quotas``.
"""
from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys

import openstack
import requests

from ocx.sim.k2k import FEDERATED_GROUP

OCX = os.path.join(os.path.dirname(sys.executable), "ocx")
TOKEN_START = "gAAAAA"   # every token the simulated Keystones issue starts so


@contextlib.contextmanager
def no_project_at(env, cloud: str):
    """The federated user has no project at ``cloud`` while this lasts."""
    def membership(allowed: bool):
        async def change():
            ks = env.sim.cloud(cloud).keystone
            entry = ("group", ks.find_group(FEDERATED_GROUP), ks.project_id("demo"),
                     ks.role_id("member"))
            (ks.assignments.add if allowed else ks.assignments.discard)(entry)
        env.sim.call(change())

    membership(False)
    try:
        yield
    finally:
        membership(True)


def token_of(env, user: str) -> str:
    """A home token of ``user`` (demo: a member of demo; admin: an admin of admin)."""
    conn = openstack.connection.Connection(region_name="RegionOne", identity_api_version="3",
                                           **env.sim.auth_args("home", user))
    return conn.session.get_token()


def ocx_admin(env, path: str, user: str = "admin") -> requests.Response:
    return requests.get(f"{env.url}{path}", headers={"X-Auth-Token": token_of(env, user)},
                        timeout=60)


def demo_project(env, cloud: str) -> str:
    return env.sim.cloud(cloud).keystone.project_id("demo")


def test_a_listing_reaches_only_the_providers_the_project_uses(ocx_env):
    with no_project_at(ocx_env, "sp2"):
        ocx = ocx_env.connect("ocx")
        list(ocx.block_storage.volumes())     # sp2 is tried once: it holds nothing
        ocx_env.reset_calls()
        list(ocx.block_storage.volumes())
        list(ocx.network.networks())
        assert ocx_env.calls("sp2") == {}     # not even a K2K exchange
        assert ocx_env.calls("sp1")["cinder"]["GET"] >= 1
        assert ocx_env.calls("sp1")["neutron"]["GET"] >= 1
        assert ocx_env.calls("home")["cinder"]["GET"] >= 1

    # sp2 gives the project a remote project again; OCX believes "holds nothing" for
    # project_recheck_interval (an hour here), so a new token's listing still skips sp2.
    sp2 = ocx_env.connect("sp2")
    made = sp2.block_storage.create_volume(size=1, name="made-in-sp2")
    sp2.block_storage.wait_for_status(made, "available", wait=30)
    try:
        ocx_env.reset_calls()
        ocx = ocx_env.connect("ocx")
        names = {v.name for v in ocx.block_storage.volumes()}
        assert "made-in-sp2" not in names
        assert ocx_env.calls("sp2") == {}
        # A call that names the provider is not narrowed: it reaches sp2 and records it.
        listed = ocx.block_storage.get("/volumes", headers={"X-OCX-Provider": "sp2"})
        assert made.id in {v["id"] for v in listed.json()["volumes"]}
        assert {v.name for v in ocx.block_storage.volumes()} >= {"made-in-sp2"}
    finally:
        sp2.block_storage.delete_volume(made.id)


def test_a_search_reaches_only_the_providers_the_project_uses(ocx_env):
    with no_project_at(ocx_env, "sp2"):
        ocx = ocx_env.connect("ocx")
        sp1 = ocx_env.connect("sp1")
        list(ocx.block_storage.volumes())
        made = sp1.block_storage.create_volume(size=1, name="found-by-search")
        sp1.block_storage.wait_for_status(made, "available", wait=30)
        try:
            ocx_env.reset_calls()
            assert ocx.block_storage.get_volume(made.id).name == "found-by-search"
            assert ocx_env.calls("sp2") == {}
            assert ocx_env.calls("sp1")["cinder"]["GET"] >= 1
        finally:
            sp1.block_storage.delete_volume(made.id)


def test_the_operator_sees_each_projects_home_and_foreign_providers(ocx_env):
    with no_project_at(ocx_env, "sp2"):
        ocx = ocx_env.connect("ocx")
        list(ocx.block_storage.volumes())
        list(ocx.block_storage.volumes())
    home_demo = demo_project(ocx_env, "home")
    answer = ocx_admin(ocx_env, "/ocx/v1/projects")
    assert answer.status_code == 200
    assert TOKEN_START not in answer.text
    demo = next(p for p in answer.json()["projects"] if p["project_id"] == home_demo)
    assert demo["project_name"] == "demo" and demo["home"] == "home"
    assert demo["home_last_seen"]
    assert [(f["provider"], f["remote_project"]) for f in demo["foreign"]] == \
        [("sp1", demo_project(ocx_env, "sp1"))]
    assert demo["foreign"][0]["last_seen"]
    assert [n["provider"] for n in demo["holds_nothing"]] == ["sp2"]

    config = ocx_env.conf.config_file[0]
    listed = subprocess.run([OCX, "projects", "--config", config, "-f", "json"],
                            capture_output=True, text=True, timeout=120, check=True)
    assert TOKEN_START not in listed.stdout + listed.stderr
    assert next(p for p in json.loads(listed.stdout) if p["project_id"] == home_demo) == demo
    table = subprocess.run([OCX, "projects", "--config", config], capture_output=True,
                           text=True, timeout=120, check=True).stdout
    rows = [[c.strip() for c in line.strip("|").split("|")] for line in table.splitlines()
            if line.startswith("|") and home_demo in line]
    assert {(r[2], r[3], r[4]) for r in rows} == {
        ("home", "home", home_demo), ("sp1", "foreign", demo_project(ocx_env, "sp1")),
        ("sp2", "holds nothing", "None")}


def test_listing_projects_needs_the_admin_role(ocx_env):
    answer = ocx_admin(ocx_env, "/ocx/v1/projects", user="demo")
    assert answer.status_code == 403
    assert "admin" in answer.json()["error"]["message"]
    unauthenticated = requests.get(f"{ocx_env.url}/ocx/v1/projects",
                                   headers={"X-Auth-Token": "not-a-token"}, timeout=30)
    assert unauthenticated.status_code == 401


def test_quotas_and_usage_per_provider(ocx_env):
    ocx = ocx_env.connect("ocx")
    made = ocx.block_storage.create_volume(size=2, name="counted@sp1")
    ocx.block_storage.wait_for_status(made, "available", wait=30)
    try:
        answer = ocx_admin(ocx_env, "/ocx/v1/quotas", user="demo")
        assert answer.status_code == 200
        assert TOKEN_START not in answer.text
        by_provider = {q["provider"]: q for q in answer.json()["quotas"]}
        assert {"home", "sp1"} <= set(by_provider)
        sp1 = by_provider["sp1"]
        assert sp1["remote_project"] == demo_project(ocx_env, "sp1")
        assert by_provider["home"]["remote_project"] == demo_project(ocx_env, "home")
        mine = [v for v in ocx_env.connect("sp1").block_storage.volumes()]
        assert sp1["volume"]["volumes"]["in_use"] == len(mine) >= 1
        assert sp1["volume"]["gigabytes"]["in_use"] == sum(v.size for v in mine)
        assert sp1["compute"]["instances"]["limit"] == 10
        assert sp1["network"]["network"]["limit"] == 100
        assert "errors" not in sp1
    finally:
        ocx.block_storage.delete_volume(made.id)


def test_a_provider_that_fails_is_reported_with_its_reason(ocx_env):
    cloud = ocx_env.sim.cloud("sp1")
    ocx_env.sim.call(cloud.set_down("neutron", True))
    try:
        answer = ocx_admin(ocx_env, "/ocx/v1/quotas", user="demo")
    finally:
        ocx_env.sim.call(cloud.set_down("neutron", False))
    assert answer.status_code == 200
    sp1 = next(q for q in answer.json()["quotas"] if q["provider"] == "sp1")
    assert set(sp1["errors"]) == {"network"} and sp1["errors"]["network"]
    assert sp1["compute"]["cores"]["limit"] == 20
    with no_project_at(ocx_env, "sp2"):
        # A provider where the project has nothing is not one it uses.
        ocx_admin(ocx_env, "/ocx/v1/quotas", user="demo")
        answer = ocx_admin(ocx_env, "/ocx/v1/quotas", user="demo")
    assert {q["provider"] for q in answer.json()["quotas"]} == {"home", "sp1"}
