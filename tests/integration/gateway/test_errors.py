"""Errors through OCX are the service's own: when no cloud has a resource, the caller gets the
answer a cloud gave to that very call (its wording, headers and format), not one of OCX's."""
from __future__ import annotations

import uuid

import requests


def call(ocx_env, method: str, path: str, token: str, **kwargs) -> requests.Response:
    headers = {"X-Auth-Token": token, **kwargs.pop("headers", {})}
    return requests.request(method, ocx_env.url + path, headers=headers, timeout=30, **kwargs)


def test_a_missing_resource_is_the_first_clouds_own_404(ocx_env):
    conn = ocx_env.connect("ocx")
    token, project = conn.session.get_token(), conn.current_project_id
    missing = str(uuid.uuid4())
    volume = call(ocx_env, "GET", f"/volume/v3/{project}/volumes/{missing}", token,
                  headers={"OpenStack-API-Version": "volume 3.50"})
    assert volume.status_code == 404
    assert volume.json() == {"itemNotFound": {
        "code": 404, "message": f"Volume {missing} could not be found."}}
    assert volume.headers["OpenStack-API-Version"] == "volume 3.50"
    network = call(ocx_env, "DELETE", f"/network/v2.0/networks/{missing}", token)
    assert network.json()["NeutronError"]["type"] == "NetworkNotFound"
    image = call(ocx_env, "GET", f"/image/v2/images/{missing}", token)  # WebOb's HTML page
    assert image.headers["Content-Type"] == "text/html; charset=UTF-8"
    assert f"No image found with ID {missing}" in image.text


def test_a_call_that_is_not_a_get_gets_the_404_worded_for_it(ocx_env):
    """The search for the resource is a GET; the 404 the caller gets is the cloud's answer to
    the call it made (Nova words os-stop's miss differently from a GET's)."""
    token = ocx_env.connect("ocx").session.get_token()
    missing = str(uuid.uuid4())
    stop = call(ocx_env, "POST", f"/compute/v2.1/servers/{missing}/action", token,
                json={"os-stop": None})
    assert stop.status_code == 404
    assert stop.json()["itemNotFound"]["message"] == f"Instance {missing} has no mapping to a " \
                                                     "cell."
    assert stop.headers["Content-Type"] == "application/json; charset=UTF-8"


def test_a_listing_every_cloud_refuses_keeps_the_services_error_body(ocx_env):
    token = ocx_env.connect("ocx").session.get_token()
    refused = call(ocx_env, "GET", "/image/v2/images?sort_key=colour", token)
    assert refused.status_code == 400
    assert refused.headers["Content-Type"] == "text/html; charset=UTF-8"
    assert "<h1>400 Bad Request</h1>" in refused.text


def test_ocx_refuses_a_missing_token_as_each_service_does(ocx_env):
    for path in ("/volume/v3/volumes", "/compute/v2.1/servers", "/network/v2.0/networks"):
        resp = requests.get(ocx_env.url + path, timeout=10)
        assert resp.status_code == 401 and resp.headers["Content-Type"] == "application/json"
        assert resp.headers["WWW-Authenticate"] == f'Keystone uri="{ocx_env.conf.keystone.auth_url}"'
    for accept, start in ((None, "401 Unauthorized\n\nThis server could not verify"),
                          ("*/*", "<html>"), ("application/json", '{"message":"This server')):
        resp = requests.get(ocx_env.url + "/image/v2/images", headers={"Accept": accept},
                            timeout=10)
        assert resp.status_code == 401 and resp.text.startswith(start), resp.text
