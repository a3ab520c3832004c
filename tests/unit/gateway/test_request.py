"""Parse: paths as each service uses them, with and without the project id."""
from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from multidict import CIMultiDict, MultiDict

from ocx.api.request import ParseError, parse

P = "0123456789abcdef0123456789abcdef"


def p(method, path, query=None):
    return parse(method, path, MultiDict(query or {}), CIMultiDict())


def test_a_volume_show_with_the_project_in_the_path():
    r = p("GET", f"/volume/v3/{P}/volumes/abc")
    assert (r.service, r.version, r.project_id, r.collection, r.resource_id) == \
        ("volume", "v3", P, "volumes", "abc")
    assert not r.listing and r.path_for("f" * 32) == f"/v3/{'f' * 32}/volumes/abc"


def test_a_server_action_without_the_project():
    r = p("POST", "/compute/v2.1/servers/vm1/action")
    assert r.project_id is None and r.resource_id == "vm1" and r.subpath == ("action",)
    assert r.path_for("other") == "/v2.1/servers/vm1/action"


def test_listings_and_their_detail_form():
    r = p("GET", f"/compute/v2.1/{P}/servers/detail")
    assert r.listing and r.detail and r.resource_id is None
    assert r.path_for("x" * 32) == f"/v2.1/{'x' * 32}/servers/detail"
    assert p("GET", "/network/v2.0/networks").listing
    assert p("POST", "/image/v2/images").is_create


def test_version_documents():
    for path in ("/compute", "/compute/", "/compute/v2.1", "/image/versions", f"/volume/v3/{P}"):
        assert p("GET", path).is_version_document, path


def test_a_trailing_slash_is_sent_on_as_it_came():
    # The services tell them apart: Cinder's /v3 redirects to /v3/, Neutron's /v2.0 is 404.
    assert p("GET", "/volume/v3/").path_for(None) == "/v3/"
    assert p("GET", "/volume/v3").path_for(None) == "/v3"
    assert p("GET", f"/compute/v2.1/{P}/").path_for("f" * 32) == f"/v2.1/{'f' * 32}/"
    assert p("GET", "/network/v2.0/networks/").path_for(None) == "/v2.0/networks/"
    assert p("GET", "/compute/").path_for(None) == p("GET", "/compute").path_for(None) == "/"
    assert p("GET", "/image/v2/images/").replace(method="HEAD").path_for(None) == \
        "/v2/images/"


def test_names_with_spaces_survive_the_round_trip():
    r = p("GET", "/image/v2/images/my%20image")
    assert r.resource_id == "my image"
    assert r.path_for(None) == "/v2/images/my%20image"


@pytest.mark.parametrize("path", ["/compute/v2.1/servers/..", "/compute/v2.1/%2e%2e/x",
                                  "/volume/v3/a%2Fb", "/image/v2/images/%00"])
def test_dot_segments_and_encoded_slashes_are_refused(path):
    with pytest.raises(ParseError) as err:
        p("GET", path)
    assert err.value.status == 400


@pytest.mark.parametrize("path", ["/", "/identity/v3", "/swift/v1/x"])
def test_unknown_services_are_404(path):
    with pytest.raises(ParseError) as err:
        p("GET", path)
    assert err.value.status == 404


@given(st.lists(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=1,
                        max_size=12), max_size=6))
def test_any_path_parses_or_is_refused_cleanly(segments):
    from urllib.parse import quote
    path = "/compute/" + "/".join(quote(s, safe="") for s in segments)
    try:
        r = p("GET", path)
    except ParseError as err:
        assert err.status in (400, 404)
    else:
        assert r.service == "compute"
