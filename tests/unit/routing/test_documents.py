"""What the exchange tells a client it may ask: versions, extensions, limits and quotas of
every cloud, combined."""
from __future__ import annotations

from multidict import CIMultiDict, MultiDict

from ocx.api.request import parse
from ocx.routing.documents import Limits, NetworkExtensions, QuotaSets, Versions

LOCAL, REMOTE = "a" * 32, "b" * 32


def get(path: str):
    return parse("GET", path, MultiDict(), CIMultiDict())


def nova_version(low: str, high: str) -> dict:
    return {"id": "v2.1", "status": "CURRENT", "version": high, "min_version": low,
            "links": [{"rel": "self", "href": "http://ocx/compute/v2.1/"}]}


def test_a_client_sees_the_microversions_every_cloud_serves():
    root = get("/compute/")
    answers = [("home", {"versions": [{"id": "v2.0", "status": "SUPPORTED", "version": "",
                                       "min_version": ""}, nova_version("2.1", "2.100")]}),
               ("sp1", {"versions": [nova_version("2.1", "2.95")]}),
               ("sp2", {"versions": [nova_version("2.3", "2.100")]})]
    combined = Versions().combine(root, answers, LOCAL)
    # v2.0 is not served by every cloud; v2.1 is, from 2.3 up to 2.95.
    assert [v["id"] for v in combined["versions"]] == ["v2.1"]
    assert combined["versions"][0]["min_version"] == "2.3"
    assert combined["versions"][0]["version"] == "2.95"
    single = Versions().combine(get("/compute/v2.1/"), [
        ("home", {"version": nova_version("2.1", "2.100")}),
        ("sp1", {"version": nova_version("2.1", "2.90")})], LOCAL)
    assert single["version"]["version"] == "2.90"


def test_glance_versions_every_cloud_lists_and_the_newest_of_them_is_current():
    def glance(*ids):
        return {"versions": [{"id": v, "status": "CURRENT" if i == 0 else "SUPPORTED"}
                             for i, v in enumerate(ids)]}
    combined = Versions().combine(get("/image/versions"), [
        ("home", glance("v2.16", "v2.15", "v2.9")), ("sp1", glance("v2.15", "v2.9"))], LOCAL)
    assert combined["versions"] == [{"id": "v2.15", "status": "CURRENT"},
                                    {"id": "v2.9", "status": "SUPPORTED"}]


def test_statuses_stay_the_home_clouds_when_its_current_version_is_kept():
    # Nova's v2.0 document: DEPRECATED, with no microversions, and no CURRENT to replace.
    v2 = {"id": "v2.0", "status": "DEPRECATED", "version": "", "min_version": ""}
    combined = Versions().combine(get("/compute/v2/"), [("home", {"version": v2}),
                                                        ("sp1", {"version": v2})], LOCAL)
    assert combined == {"version": v2}


def test_a_document_that_lists_no_versions_is_home_s_as_it_is():
    # Neutron's /v2.0/ lists its resources: not a version list, nothing to combine.
    resources = {"resources": [{"name": "network", "collection": "networks"}]}
    assert Versions().combine(get("/network/v2.0/"), [("home", resources),
                                                      ("sp1", resources)], LOCAL) == resources


def test_network_extensions_every_cloud_has_or_with_the_switch_any_cloud_has():
    def neutron(*aliases):
        return {"extensions": [{"alias": a, "name": a} for a in aliases]}
    answers = [("home", neutron("router", "qos", "trunk")), ("sp1", neutron("trunk", "router"))]
    request = get("/network/v2.0/extensions")
    assert [e["alias"] for e in NetworkExtensions().combine(request, answers, LOCAL)
            ["extensions"]] == ["router", "trunk"]
    assert [e["alias"] for e in NetworkExtensions(union=True).combine(request, answers, LOCAL)
            ["extensions"]] == ["router", "qos", "trunk"]


def test_limits_add_up_and_one_unlimited_cloud_makes_the_total_unlimited():
    def limits(cores, used, instances):
        return {"limits": {"rate": [], "absolute": {"maxTotalCores": cores,
                                                    "totalCoresUsed": used,
                                                    "maxTotalInstances": instances}}}
    combined = Limits().combine(get("/compute/v2.1/limits"),
                                [("home", limits(20, 3, 10)), ("sp1", limits(8, 1, -1))], LOCAL)
    assert combined["limits"]["absolute"] == {"maxTotalCores": 28, "totalCoresUsed": 4,
                                              "maxTotalInstances": -1}


def test_quota_sets_are_asked_for_the_remote_project_and_summed_under_the_local_id():
    request = get(f"/compute/v2.1/os-quota-sets/{LOCAL}/detail")
    quota = QuotaSets()
    assert quota.request_for(request, REMOTE, LOCAL).resource_id == REMOTE
    assert quota.request_for(get("/compute/v2.1/os-quota-sets/other/detail"), REMOTE,
                             LOCAL).resource_id == "other"  # an admin asking for another one
    answers = [("home", {"quota_set": {"id": LOCAL, "cores": {"in_use": 2, "limit": 20,
                                                              "reserved": 0}}}),
               ("sp1", {"quota_set": {"id": REMOTE, "cores": {"in_use": 1, "limit": 10,
                                                              "reserved": 0}}})]
    assert quota.combine(request, answers, LOCAL) == {
        "quota_set": {"id": LOCAL, "cores": {"in_use": 3, "limit": 30, "reserved": 0}}}
