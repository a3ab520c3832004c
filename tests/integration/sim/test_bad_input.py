"""Bad input to any simulated service gets an error in that service's format, never a 5xx.

Every route that takes a body is sent malformed JSON, JSON of the wrong shape and random JSON;
every route is called with ids that do not exist. The answer must be a 4xx with a JSON body
(or the empty answer a service gives), never a 500 or a traceback.
"""
from __future__ import annotations

import re

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

SERVICES = ("keystone", "nova", "cinder", "glance", "neutron")

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=12)


def _routes(sim, service_name, project_id):
    service = sim.cloud("idp").services[service_name]
    for route in service.routes():
        method, path = route.method, route.path
        if method in ("HEAD", "OPTIONS", "*"):
            continue
        concrete = re.sub(r"\{project_id[^}]*\}", project_id, path)
        concrete = re.sub(r"\{[^}]+\}", "00000000-0000-0000-0000-00000000dead", concrete)
        yield method, service.base_url + concrete


def _check(resp):
    assert resp.status_code < 500, (resp.request.method, resp.request.url, resp.status_code,
                                    resp.text[:300])
    assert "Traceback" not in resp.text
    if resp.status_code >= 400 and resp.content:
        resp.json()  # an error body is JSON in every service's format


@pytest.mark.parametrize("service_name", SERVICES)
def test_malformed_and_misshapen_bodies_are_client_errors(sim, service_name):
    conn = sim.connect("idp", user="admin")
    headers = {"X-Auth-Token": conn.session.get_token(), "Content-Type": "application/json",
               "Accept": "application/json"}
    project_id = conn.current_project_id
    for method, url in _routes(sim, service_name, project_id):
        if method not in ("POST", "PUT", "PATCH"):
            continue
        for body in (b"{", b"[]", b"null", b'"text"', b'{"a": {"b": [1, {"c": null}]}}',
                     b"\xff\xfe", b"{}" * 3):
            _check(requests.request(method, url, data=body, headers=headers, timeout=10))


@pytest.mark.parametrize("service_name", SERVICES)
def test_ids_that_do_not_exist_are_client_errors(sim, service_name):
    conn = sim.connect("idp", user="admin")
    headers = {"X-Auth-Token": conn.session.get_token(), "Accept": "application/json"}
    for method, url in _routes(sim, service_name, conn.current_project_id):
        if method in ("GET", "DELETE"):
            _check(requests.request(method, url, headers=headers, timeout=10))


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(body=json_values, pick=st.integers(0, 10_000))
def test_random_json_to_any_route_never_breaks_a_service(sim, body, pick):
    conn = sim.connect("idp", user="admin")
    headers = {"X-Auth-Token": conn.session.get_token(), "Accept": "application/json"}
    routes = [r for name in SERVICES
              for r in _routes(sim, name, conn.current_project_id)
              if r[0] in ("POST", "PUT", "PATCH")]
    method, url = routes[pick % len(routes)]
    _check(requests.request(method, url, json=body, headers=headers, timeout=10))
