"""The LRU in front of the database: bounded, recency-ordered, and never filled with a value a
concurrent write or delete has made stale."""
from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from ocx.store.cache import LRU


def test_the_least_recently_used_goes_first():
    cache = LRU(2)
    cache.put("a", 1)
    cache.put("b", 2)
    cache.get("a")
    cache.put("c", 3)

    assert "b" not in cache and cache.get("a") == 1 and cache.get("c") == 3
    assert len(cache) == 2


def test_size_zero_keeps_nothing():
    cache = LRU(0)
    cache.put("a", 1)
    with cache.filling("b") as fill:
        fill(2)

    assert len(cache) == 0 and cache.get("a") is None


def test_a_read_fills_the_cache():
    cache = LRU(10)
    with cache.filling("a") as fill:
        fill("from the database")

    assert cache.get("a") == "from the database"


def test_a_write_during_a_read_wins_over_what_the_read_brings():
    cache = LRU(10)
    with cache.filling("a") as fill:
        cache.put("a", "written meanwhile")
        fill("read before the write")

    assert cache.get("a") == "written meanwhile"


def test_a_delete_during_a_read_is_not_undone_by_it():
    cache = LRU(10)
    with cache.filling("a") as fill:
        cache.invalidate("a")
        fill("read before the delete")

    assert cache.get("a") is None
    with cache.filling("a") as fill:   # the next read is not spoiled
        fill("read after")
    assert cache.get("a") == "read after"


def test_a_delete_by_condition_spoils_reads_in_flight():
    cache = LRU(10)
    cache.put(("alice", "bu"), 1)
    cache.put(("bob", "bu"), 2)
    with cache.filling(("alice", "nu")) as fill:
        assert cache.invalidate_where(lambda key, _: key[0] == "alice") == 1
        fill(3)

    assert cache.get(("alice", "nu")) is None and cache.get(("bob", "bu")) == 2


def test_overlapping_reads_stay_spoiled_until_the_last_ends():
    cache = LRU(10)
    with cache.filling("a") as first:
        with cache.filling("a") as second:
            cache.invalidate("a")
            second("stale")
        first("stale too")

    assert cache.get("a") is None


@given(st.integers(min_value=1, max_value=5),
       st.lists(st.tuples(st.sampled_from(["get", "put", "invalidate"]),
                          st.integers(min_value=0, max_value=8)), max_size=60))
def test_it_behaves_like_a_reference_lru(size, operations):
    cache, reference = LRU(size), []   # reference: keys, least recent first
    values = {}
    for op, key in operations:
        if op == "get":
            expected = values.get(key) if key in reference else None
            assert cache.get(key) == expected
            if key in reference:
                reference.remove(key)
                reference.append(key)
        elif op == "put":
            cache.put(key, key * 10)
            values[key] = key * 10
            if key in reference:
                reference.remove(key)
            reference.append(key)
            del reference[:-size]
        else:
            cache.invalidate(key)
            if key in reference:
                reference.remove(key)
        assert len(cache) == len(reference) <= size
