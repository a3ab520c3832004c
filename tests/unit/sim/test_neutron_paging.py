"""Neutron's native pagination and the links it builds (neutron.api.api_common)."""
from __future__ import annotations

import urllib.parse

from ocx.sim.neutron import matches, paginate, pagination_links, sort_records

ITEMS = [{"id": f"id-{n}", "name": name, "tags": tags}
         for n, (name, tags) in enumerate([("b", ["x"]), ("a", ["x", "y"]), ("c", []),
                                           ("a", ["y"]), ("d", ["z"])])]
SORTS = [("name", "asc"), ("id", "asc")]
URL = "http://neutron.example:9696/v2.0/networks"


def ids(items):
    return [i["id"] for i in items]


def test_sorting_is_by_every_key_in_turn():
    assert ids(sort_records(ITEMS, SORTS)) == ["id-1", "id-3", "id-0", "id-2", "id-4"]
    assert ids(sort_records(ITEMS, [("name", "desc"), ("id", "desc")])) == [
        "id-4", "id-2", "id-0", "id-3", "id-1"]


def test_pages_follow_the_marker_forwards_and_backwards():
    ordered = sort_records(ITEMS, SORTS)
    assert ids(paginate(ordered, SORTS, 2, None, False)) == ["id-1", "id-3"]
    assert ids(paginate(ordered, SORTS, 2, ordered[1], False)) == ["id-0", "id-2"]
    assert ids(paginate(ordered, SORTS, 2, ordered[3], True)) == ["id-3", "id-0"]
    assert ids(paginate(ordered, SORTS, 2, None, True)) == ["id-2", "id-4"]


def test_a_marker_filtered_out_of_the_listing_still_places_the_page():
    visible = [i for i in sort_records(ITEMS, SORTS) if i["name"] != "b"]
    marker = ITEMS[0]  # name "b": between the a's and "c"
    assert ids(paginate(visible, SORTS, 5, marker, False)) == ["id-2", "id-4"]


def link(links, rel):
    href = next(x["href"] for x in links if x["rel"] == rel)
    base, _, query = href.partition("?")
    return base, urllib.parse.parse_qsl(query)


def test_a_full_first_page_links_to_next_and_previous_as_neutron_does():
    pairs = [("limit", "2"), ("name", "a"), ("name", "b")]
    links = pagination_links(URL, pairs, ITEMS[:2], 2, False)
    assert [x["rel"] for x in links] == ["next", "previous"]
    assert link(links, "next") == (URL, [("limit", "2"), ("name", "a"), ("name", "b"),
                                         ("marker", "id-1")])
    assert link(links, "previous") == (URL, [("limit", "2"), ("name", "a"), ("name", "b"),
                                             ("marker", "id-0"), ("page_reverse", "True")])


def test_a_short_last_page_has_only_a_previous_link():
    pairs = [("limit", "2"), ("marker", "id-3")]
    links = pagination_links(URL, pairs, ITEMS[4:], 2, False)
    assert [x["rel"] for x in links] == ["previous"]
    assert link(links, "previous")[1] == [("limit", "2"), ("marker", "id-4"),
                                          ("page_reverse", "True")]


def test_a_reversed_page_drops_page_reverse_from_its_next_link():
    pairs = [("limit", "2"), ("marker", "id-3"), ("page_reverse", "True")]
    links = pagination_links(URL, pairs, ITEMS[:1], 2, True)
    assert [x["rel"] for x in links] == ["next"]
    assert link(links, "next")[1] == [("limit", "2"), ("marker", "id-0")]


def test_no_limit_no_links():
    assert pagination_links(URL, [], ITEMS, None, False) == []


def test_filters_are_alternatives_within_and_conjunctions_across_keys():
    assert [i["id"] for i in ITEMS if matches(i, {"name": ["a", "c"]})] == [
        "id-1", "id-2", "id-3"]
    assert [i["id"] for i in ITEMS if matches(i, {"name": ["a"], "tags": ["x,y"]})] == ["id-1"]
    assert [i["id"] for i in ITEMS if matches(i, {"tags-any": ["x", "z"]})] == [
        "id-0", "id-1", "id-4"]
    assert [i["id"] for i in ITEMS if matches(i, {"not-tags-any": ["y"]})] == [
        "id-0", "id-2", "id-4"]


def test_fixed_ip_filters_match_one_allocation_on_both_keys():
    port = {"fixed_ips": [{"subnet_id": "s1", "ip_address": "10.0.0.5"},
                          {"subnet_id": "s2", "ip_address": "10.1.0.9"}]}
    assert matches(port, {"fixed_ips": {"ip_address": ["10.0.0.5"], "subnet_id": ["s1"]}})
    assert not matches(port, {"fixed_ips": {"ip_address": ["10.0.0.5"], "subnet_id": ["s2"]}})
