"""A caller's listing query read as each service reads it, and the call each cloud gets."""
from __future__ import annotations

import pytest
from multidict import CIMultiDict, MultiDict

from ocx.api.request import parse
from ocx.routing.listing import ListingError, find, parse_query, provider_request

KEY = b"k" * 32


def read(path: str, pairs=(), headers=None):
    request = parse("GET", path, MultiDict(pairs), CIMultiDict(headers or {}))
    listing = find(request.service, request.collection)
    return listing, request, parse_query(listing, request, KEY)


@pytest.mark.parametrize("path, message", [
    ("/compute/v2.1/servers", "Invalid input for query parameters limit. Value: -1."),
    ("/volume/v3/volumes", "limit param must be positive"),
    ("/image/v2/images", "limit param must be positive"),
    ("/network/v2.0/ports", "Bad limit request: Limit must be an integer 0 or greater"),
])
def test_a_negative_limit_gets_the_services_own_400(path, message):
    with pytest.raises(ListingError) as refused:
        read(path, [("limit", "-1")])
    assert refused.value.status == 400 and refused.value.message.startswith(message)


def test_each_service_pages_by_its_own_default_and_caps_at_its_own_maximum():
    assert read("/image/v2/images")[2].limit == 25            # Glance's page
    assert read("/network/v2.0/networks")[2].limit is None    # Neutron: everything
    assert read("/volume/v3/volumes", [("limit", "5000")])[2].limit == 1000


def test_a_summary_listing_sorted_by_a_detail_field_asks_the_clouds_for_the_detail_form():
    listing, request, query = read("/compute/v2.1/servers", [("sort_key", "display_name"),
                                                             ("sort_dir", "asc")])
    assert query.detail  # the tie-breaker, created_at, is not in the summary
    sent = provider_request(listing, request, query, None, 10)
    assert sent.detail and sent.path_for(None) == "/v2.1/servers/detail"


def test_neutron_field_selection_still_brings_what_the_merge_needs():
    listing, request, query = read("/network/v2.0/ports", [
        ("fields", "name"), ("sort_key", "status"), ("sort_dir", "asc"), ("limit", "2")])
    sent = provider_request(listing, request, query, "p1", 2)
    assert sent.query.getall("fields") == ["name", "status", "id"]
    assert sent.query["marker"] == "p1" and sent.query["limit"] == "2"


def test_neutron_backwards_paging_over_several_clouds_is_refused_clearly():
    with pytest.raises(ListingError) as refused:
        read("/network/v2.0/networks", [("limit", "2"), ("page_reverse", "True")])
    assert refused.value.status == 400 and "page_reverse" in refused.value.message


def test_key_pairs_page_only_from_microversion_2_35():
    old = read("/compute/v2.1/os-keypairs", [("limit", "1")],
               {"OpenStack-API-Version": "compute 2.10"})[2]
    new = read("/compute/v2.1/os-keypairs", [("limit", "1")],
               {"OpenStack-API-Version": "compute 2.35"})[2]
    assert (old.limit, new.limit) == (None, 1)
