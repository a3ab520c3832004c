"""VXLAN VNIs for spanning networks: from the configured ranges, never one handed out twice."""
from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ocx.routing.vni import MAX_VNI, first_free, parse_ranges


def test_ranges_are_read_as_ml2_writes_them():
    assert parse_ranges(["20000:20999", " 4096:8191 "]) == ((4096, 8191), (20000, 20999))


@pytest.mark.parametrize("value", ["4096", "a:b", "0:10", f"1:{MAX_VNI + 1}", "10:5"])
def test_a_bad_range_stops_ocx_at_start_up(value):
    with pytest.raises(ValueError):
        parse_ranges([value])


def test_overlapping_ranges_are_refused():
    with pytest.raises(ValueError, match="overlap"):
        parse_ranges(["100:200", "150:300"])


def test_the_lowest_vni_never_handed_out_is_next():
    ranges = ((10, 12), (20, 21))
    assert first_free(ranges, []) == 10
    assert first_free(ranges, [10, 11]) == 12
    assert first_free(ranges, [10, 12]) == 11
    assert first_free(ranges, [10, 11, 12]) == 20
    assert first_free(ranges, [10, 11, 12, 20, 21, 99]) is None


@given(st.lists(st.integers(min_value=1, max_value=60), max_size=80),
       st.sets(st.integers(min_value=1, max_value=60)))
def test_handing_out_one_after_another_never_repeats(draws, taken):
    ranges = parse_ranges(["5:20", "30:40"])
    handed = set(taken)
    for _ in draws:
        vni = first_free(ranges, handed)
        if vni is None:
            assert all(v in handed for lo, hi in ranges for v in range(lo, hi + 1))
            break
        assert vni not in handed and any(lo <= vni <= hi for lo, hi in ranges)
        handed.add(vni)
