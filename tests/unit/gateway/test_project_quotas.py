"""Quota polling's pure parts (ocx.api.admin_api) and ``ocx projects``' table rows."""
from __future__ import annotations

from ocx.admin.projects import project_rows
from ocx.api.admin_api import quota_calls, quota_usage


def test_each_service_is_asked_with_its_own_quota_api():
    calls = quota_calls("remote", "local")
    assert calls["compute"].path_for("remote") == "/v2.1/remote/os-quota-sets/remote/detail"
    assert calls["volume"].path_for("remote") == "/v3/remote/os-quota-sets/remote"
    assert dict(calls["volume"].query) == {"usage": "true"}
    assert calls["network"].path_for("remote") == "/v2.0/quotas/remote/details"


def test_quota_documents_read_as_limit_in_use_and_reserved():
    nova = {"quota_set": {"id": "p", "cores": {"limit": 20, "in_use": 2, "reserved": 0}}}
    cinder = {"quota_set": {"id": "p", "volumes": {"limit": 10, "in_use": 1, "reserved": 0,
                                                   "allocated": 0}}}
    neutron = {"quota": {"network": {"limit": 100, "used": 3, "reserved": 0}}}
    assert quota_usage("compute", nova) == {"cores": {"limit": 20, "in_use": 2, "reserved": 0}}
    assert quota_usage("volume", cinder) == {"volumes": {"limit": 10, "in_use": 1,
                                                         "reserved": 0}}
    assert quota_usage("network", neutron) == {"network": {"limit": 100, "in_use": 3,
                                                           "reserved": 0}}
    assert quota_usage("network", {"error": "x"}) is None
    assert quota_usage("compute", ["not", "a", "document"]) is None


def test_the_table_has_a_row_per_project_and_provider():
    record = {"project_id": "p1", "project_name": "demo", "home": "home",
              "home_last_seen": "t0", "configured": ["sp2", "sp3"],
              "foreign": [{"provider": "sp1", "remote_project": "r1", "last_seen": "t1"}],
              "holds_nothing": [{"provider": "sp2", "last_checked": "t2"}]}
    assert [(r["provider"], r["role"], r["remote_project"], r["last_seen"])
            for r in project_rows([record])] == [
        ("home", "home", "p1", "t0"), ("sp1", "foreign", "r1", "t1"),
        ("sp2", "holds nothing", None, "t2"), ("sp3", "configured", None, None)]
