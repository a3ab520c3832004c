"""Shape: provider URLs become OCX URLs; the ids an answer shows are collected."""
from __future__ import annotations

import orjson
from multidict import CIMultiDict, MultiDict

from ocx.api.request import parse
from ocx.api.response import Found, Rewriter, resource_ids, shape
from ocx.backends.base import ProviderResponse
from ocx.backends.catalog import find_endpoint, service_root

LOCAL, REMOTE = "a" * 32, "b" * 32


def test_provider_urls_become_ocx_urls_with_the_local_project():
    rw = Rewriter("http://10.0.0.5:8776", "http://ocx/volume", REMOTE, LOCAL)
    assert rw.url(f"http://10.0.0.5:8776/v3/{REMOTE}/volumes/x") == \
        f"http://ocx/volume/v3/{LOCAL}/volumes/x"
    assert rw.url(f"http://10.0.0.5:8776/v3/{REMOTE}") == f"http://ocx/volume/v3/{LOCAL}"
    assert rw.url("http://10.0.0.5:87761/v3") == "http://10.0.0.5:87761/v3"
    assert rw.url("unrelated text") == "unrelated text"


def test_shape_rewrites_links_and_location_and_learns_the_created_id():
    request = parse("POST", f"/volume/v3/{LOCAL}/volumes", MultiDict(), CIMultiDict())
    body = {"volume": {"id": "v1", "links": [
        {"rel": "self", "href": f"http://10.0.0.5:8776/v3/{REMOTE}/volumes/v1"}]}}
    answer = ProviderResponse("sp1", 202, CIMultiDict(
        {"Location": f"http://10.0.0.5:8776/v3/{REMOTE}/volumes/v1"}),
        "http://10.0.0.5:8776", REMOTE, body=orjson.dumps(body))
    shaped = shape(request, answer, "http://ocx/volume", LOCAL, learn=True)
    assert shaped.learned == [Found("v1", "sp1", REMOTE, "http://10.0.0.5:8776")]
    assert shaped.headers["Location"] == f"http://ocx/volume/v3/{LOCAL}/volumes/v1"
    assert orjson.loads(shaped.body)["volume"]["links"][0]["href"] == \
        f"http://ocx/volume/v3/{LOCAL}/volumes/v1"


def test_ids_from_listings_shows_bulk_creates_and_glance():
    def r(method, path):
        return parse(method, path, MultiDict(), CIMultiDict())
    assert resource_ids(r("GET", "/network/v2.0/security-groups"), 200,
                        {"security_groups": [{"id": "s1"}, {"id": "s2"}]}) == ["s1", "s2"]
    assert resource_ids(r("POST", "/network/v2.0/ports"), 201,
                        {"ports": [{"id": "p1"}]}) == ["p1"]
    assert resource_ids(r("GET", "/compute/v2.1/servers/x"), 200, {"server": {"id": "x"}}) == ["x"]
    assert resource_ids(r("POST", "/image/v2/images"), 201, {"id": "i1", "name": "n"}) == ["i1"]
    assert resource_ids(r("GET", "/compute/v2.1/servers/x"), 404, {"itemNotFound": {}}) == []


def test_catalog_urls_to_service_roots():
    assert service_root("http://h:8776/v3/" + "c" * 32) == "http://h:8776"
    assert service_root("http://h:8776/v3/%(project_id)s") == "http://h:8776"
    assert service_root("http://h:8774/v2.1/") == "http://h:8774"
    assert service_root("http://h:9292") == "http://h:9292"
    assert service_root("http://h/compute/v2.1") == "http://h/compute"
    catalog = [{"type": "volumev3", "endpoints": [
        {"interface": "public", "region_id": "R", "url": "http://pub"},
        {"interface": "internal", "region_id": "R", "url": "http://int"}]}]
    assert find_endpoint(catalog, ("block-storage", "volumev3"), "internal") == "http://int"
    assert find_endpoint(catalog, ("block-storage", "volumev3"), "public", "other") is None
