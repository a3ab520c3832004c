"""A provider the operator lists for a project (``[project:demo] providers = sp2``) is in
every listing of the project, even where OCX found it holding nothing: a project given a
remote project there is seen at once, without waiting for ``project_recheck_interval``."""
from __future__ import annotations

import json
import subprocess

from tests.integration.gateway.test_projects import (OCX, demo_project, no_project_at,
                                                     ocx_admin)

OCX_SECTIONS = "[project:demo]\nproviders = sp2\n"


def test_the_provider_the_operator_lists_is_always_asked(ocx_env):
    with no_project_at(ocx_env, "sp2"):
        ocx = ocx_env.connect("ocx")
        list(ocx.block_storage.volumes())      # sp2 holds nothing of the project
        ocx_env.reset_calls()
        list(ocx.block_storage.volumes())
        assert ocx_env.calls("sp2")["keystone"]["POST"] >= 1   # tried again: listed

    sp2 = ocx_env.connect("sp2")
    made = sp2.block_storage.create_volume(size=1, name="seen-at-once")
    sp2.block_storage.wait_for_status(made, "available", wait=30)
    try:
        ocx_env.reset_calls()
        names = {v.name for v in ocx_env.connect("ocx").block_storage.volumes()}
        assert "seen-at-once" in names
        assert ocx_env.calls("sp2")["cinder"]["GET"] >= 1
    finally:
        sp2.block_storage.delete_volume(made.id)


def test_the_operator_sees_the_listed_provider(ocx_env):
    list(ocx_env.connect("ocx").block_storage.volumes())
    home_demo = demo_project(ocx_env, "home")
    projects = ocx_admin(ocx_env, "/ocx/v1/projects").json()["projects"]
    demo = next(p for p in projects if p["project_id"] == home_demo)
    assert demo["configured"] == ["sp2"]
    assert {f["provider"]: f["remote_project"] for f in demo["foreign"]} == {
        "sp1": demo_project(ocx_env, "sp1"), "sp2": demo_project(ocx_env, "sp2")}
    listed = subprocess.run([OCX, "projects", "--config", ocx_env.conf.config_file[0],
                             "-f", "json"], capture_output=True, text=True, timeout=120,
                            check=True)
    assert next(p for p in json.loads(listed.stdout)
                if p["project_id"] == home_demo)["configured"] == ["sp2"]
