"""What a client of the exchange is told it may ask: versions, Neutron's extensions and the
limits of every cloud, combined, through OCX, compared with asking each cloud directly."""
from __future__ import annotations

import pytest
import requests

CLOUDS = ("home", "sp1", "sp2")


@pytest.fixture
def token(ocx_env) -> str:
    return ocx_env.connect("ocx").session.get_token()


def direct(ocx_env, cloud: str, service: str, path: str) -> dict:
    """Asked of the cloud itself (for home: its internal endpoint, the public one is OCX)."""
    proxy = getattr(ocx_env.connect(cloud), service)
    return proxy.get(path).json()


def test_the_compute_version_document_names_ocx_and_is_served_to_anonymous_clients(
        ocx_env, token):
    with_token = requests.get(f"{ocx_env.url}/compute/", headers={"X-Auth-Token": token},
                              timeout=10)
    assert with_token.status_code == 200
    current = [v for v in with_token.json()["versions"] if v["status"] == "CURRENT"]
    assert [v["id"] for v in current] == ["v2.1"]
    assert current[0]["links"][0]["href"].startswith(ocx_env.url + "/compute/")
    # A client discovering versions without a token gets the combined document too.
    anonymous = requests.get(f"{ocx_env.url}/compute/", timeout=10)
    assert anonymous.json() == with_token.json()


def test_network_extensions_are_those_every_cloud_has(ocx_env, token):
    through = requests.get(f"{ocx_env.url}/network/v2.0/extensions",
                           headers={"X-Auth-Token": token}, timeout=10).json()
    each = [{e["alias"] for e in direct(ocx_env, c, "network", "/extensions")["extensions"]}
            for c in CLOUDS]
    assert {e["alias"] for e in through["extensions"]} == set.intersection(*each)


def test_compute_limits_are_the_sum_over_the_clouds(ocx_env, token):
    ocx_env.sim.cloud("sp1").settings["nova.quota_cores"] = "7"  # one landlord gives less
    try:
        through = requests.get(f"{ocx_env.url}/compute/v2.1/limits",
                               headers={"X-Auth-Token": token}, timeout=10)
        assert "X-OCX-Missing-Providers" not in through.headers
        each = [direct(ocx_env, c, "compute", "/limits")["limits"]["absolute"] for c in CLOUDS]
        assert through.json()["limits"]["absolute"]["maxTotalCores"] == \
            sum(e["maxTotalCores"] for e in each)
        # The caller can still ask one landlord for its own figure.
        one = requests.get(f"{ocx_env.url}/compute/v2.1/limits",
                           headers={"X-Auth-Token": token, "X-OCX-Provider": "sp1"}, timeout=10)
        assert one.json()["limits"]["absolute"]["maxTotalCores"] == 7
    finally:
        del ocx_env.sim.cloud("sp1").settings["nova.quota_cores"]


def test_limits_of_a_cloud_that_is_down_are_left_out_and_it_is_named(ocx_env, token):
    ocx_env.sim.call(ocx_env.sim.cloud("sp2").set_down("nova", True))
    try:
        through = requests.get(f"{ocx_env.url}/compute/v2.1/limits",
                               headers={"X-Auth-Token": token}, timeout=30)
        assert through.status_code == 200
        assert through.headers["X-OCX-Missing-Providers"] == "sp2"
        each = [direct(ocx_env, c, "compute", "/limits")["limits"]["absolute"]
                for c in ("home", "sp1")]
        assert through.json()["limits"]["absolute"]["maxTotalCores"] == \
            sum(e["maxTotalCores"] for e in each)
    finally:
        ocx_env.sim.call(ocx_env.sim.cloud("sp2").set_down("nova", False))


def test_a_version_document_asked_with_a_bad_token_answers_as_without_one(ocx_env):
    # The services serve their version documents outside authentication: a stale token in a
    # client's discovery call does not turn it into a 401.
    stale = requests.get(f"{ocx_env.url}/volume/", headers={"X-Auth-Token": "not-a-token"},
                         timeout=10)
    anonymous = requests.get(f"{ocx_env.url}/volume/", timeout=10)
    assert stale.status_code == anonymous.status_code == 300
    assert stale.json() == anonymous.json()
    listing = requests.get(f"{ocx_env.url}/volume/v3/volumes",
                           headers={"X-Auth-Token": "not-a-token"}, timeout=10)
    assert listing.status_code == 401


# -- version documents as the services give them ------------------------------------------------

def test_cinders_v3_document_wants_a_token_through_ocx_as_at_cinder(ocx_env, token):
    """keystoneauth's first, tokenless call: Cinder answers 401 at /v3/ and the client asks
    again with its token. Through OCX the same, even once a combined document is kept."""
    with_token = requests.get(f"{ocx_env.url}/volume/v3/", headers={"X-Auth-Token": token},
                              timeout=10)
    assert with_token.status_code == 200
    assert with_token.json()["versions"][0]["links"][-1]["href"] == f"{ocx_env.url}/volume/v3/"
    for sent in ({}, {"X-Auth-Token": "not-a-token"}):
        anonymous = requests.get(f"{ocx_env.url}/volume/v3/", headers=sent, timeout=10)
        assert anonymous.status_code == 401
        assert anonymous.headers["WWW-Authenticate"].startswith('Keystone uri="http')


def test_a_trailing_slash_is_passed_on_so_v3_redirects_once(ocx_env, token):
    bare = requests.get(f"{ocx_env.url}/volume/v3", headers={"X-Auth-Token": token},
                        timeout=10, allow_redirects=False)
    assert bare.status_code == 302 and bare.headers["Location"] == f"{ocx_env.url}/volume/v3/"
    assert requests.get(f"{ocx_env.url}/volume/v3", headers={"X-Auth-Token": token},
                        timeout=10).status_code == 200


def test_neutrons_resource_list_is_not_taken_for_a_version_list(ocx_env, token):
    resources = requests.get(f"{ocx_env.url}/network/v2.0/", headers={"X-Auth-Token": token},
                             timeout=10).json()
    assert set(resources) == {"resources"}
    assert requests.get(f"{ocx_env.url}/network/v2.0", headers={"X-Auth-Token": token},
                        timeout=10).status_code == 404


def test_statuses_are_kept_and_every_vary_value_too(ocx_env, token):
    v2 = requests.get(f"{ocx_env.url}/compute/v2/", headers={"X-Auth-Token": token},
                      timeout=10).json()["version"]
    assert v2["id"] == "v2.0" and v2["status"] == "DEPRECATED"
    for path in ("/v2.1/", "/v2.1/servers"):
        resp = requests.get(f"{ocx_env.url}/compute{path}", headers={"X-Auth-Token": token},
                            timeout=10)
        # Nova sends a Vary header for each: a combined or merged answer keeps both.
        assert resp.raw.headers.getlist("Vary") == ["OpenStack-API-Version",
                                                    "X-OpenStack-Nova-API-Version"], path


def test_discovery_with_a_token_is_served_from_home_once_combined(ocx_env, token):
    """Every client discovers the services as it starts: once combined, the document is given
    with home's answer alone, without a K2K exchange with every provider."""
    url = f"{ocx_env.url}/volume/v3/"
    combined = requests.get(url, headers={"X-Auth-Token": token}, timeout=10)
    ocx_env.reset_calls()
    again = requests.get(url, headers={"X-Auth-Token": token,
                                       "OpenStack-API-Version": "volume 3.50"}, timeout=10)
    assert again.json() == combined.json()
    assert again.headers["OpenStack-API-Version"] == "volume 3.50"  # home's, for this call
    assert "cinder" in ocx_env.calls("home")
    assert not {"cinder", "keystone"} & set(ocx_env.calls("sp1")) | set(ocx_env.calls("sp2"))
