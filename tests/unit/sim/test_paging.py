"""Sorting and paging as a database would do them: every item once, in order, page by page."""
from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ocx.sim.paging import MarkerNotFound, matches, page, parse_sort_param, sort_items

items_st = st.lists(
    st.fixed_dictionaries({"name": st.one_of(st.none(), st.sampled_from("abc")),
                           "size": st.integers(0, 3)}),
    max_size=30).map(lambda xs: [dict(x, id=f"{i:04d}") for i, x in enumerate(xs)])
keys_st = st.lists(st.tuples(st.sampled_from(["name", "size"]),
                             st.sampled_from(["asc", "desc"])), max_size=2, unique_by=lambda k: k[0])


@given(items_st, keys_st, st.integers(1, 7))
def test_paging_through_a_sorted_list_yields_every_item_once_in_order(items, keys, limit):
    ordered = sort_items(items, keys)
    seen, marker = [], None
    while True:
        chunk, more = page(ordered, limit, marker)
        seen.extend(chunk)
        if not more:
            break
        marker = chunk[-1]["id"]
    assert seen == ordered
    assert sorted(i["id"] for i in seen) == sorted(i["id"] for i in items)


@given(items_st, keys_st)
def test_the_sort_is_total_and_honours_each_key_and_direction(items, keys):
    ordered = sort_items(items, keys)
    full = list(keys) + ([("id", keys[-1][1] if keys else "asc")] if keys else [("id", "asc")])

    def rank(value):
        return (0, "") if value is None else (1, value) if isinstance(value, int) else (2, value)

    for a, b in zip(ordered, ordered[1:]):
        for key, direction in full:
            ra, rb = rank(a.get(key)), rank(b.get(key))
            if ra != rb:
                assert (ra < rb) if direction == "asc" else (ra > rb)
                break


def test_an_unknown_marker_is_an_error():
    with pytest.raises(MarkerNotFound):
        page([{"id": "a"}], 1, "zzz")


def test_filters_match_exactly_or_any_of_a_list():
    item = {"status": "available", "size": 1}
    assert matches(item, {"status": "available"})
    assert matches(item, {"status": ["error", "available"]})
    assert matches(item, {"size": "1"})
    assert not matches(item, {"status": "in-use"})


def test_cinder_and_glance_sort_parameters():
    assert parse_sort_param("name:desc,size") == [("name", "desc"), ("size", "asc")]
    assert parse_sort_param(" created_at : ASC ,") == [("created_at", "asc")]
