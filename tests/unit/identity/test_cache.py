"""The validator's caches: bounded, each entry kept until its own deadline."""
from __future__ import annotations

import datetime as dt

import pytest

from ocx.identity.cache import TTLCache
from ocx.identity.validate import cache_seconds


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_an_entry_is_kept_until_its_deadline_and_no_longer():
    clock = Clock()
    cache = TTLCache(10, clock)
    cache.put("a", "caller", ttl=5)
    clock.now += 4.9
    assert cache.get("a") == "caller"
    clock.now += 0.1
    assert cache.get("a") is None
    assert len(cache) == 0


def test_each_entry_has_its_own_deadline():
    clock = Clock()
    cache = TTLCache(10, clock)
    cache.put("short", 1, ttl=1)
    cache.put("long", 2, ttl=100)
    clock.now += 2
    assert (cache.get("short"), cache.get("long")) == (None, 2)


def test_beyond_its_bound_the_least_recently_used_entry_goes():
    cache = TTLCache(2, Clock())
    cache.put("a", 1, ttl=60)
    cache.put("b", 2, ttl=60)
    cache.get("a")                      # a is now the most recently used
    cache.put("c", 3, ttl=60)
    assert (cache.get("a"), cache.get("b"), cache.get("c")) == (1, None, 3)
    assert len(cache) == 2


def test_a_ttl_of_zero_keeps_nothing_and_forgets_what_was_there():
    cache = TTLCache(2, Clock())
    cache.put("a", 1, ttl=60)
    cache.put("a", 1, ttl=0)
    assert cache.get("a") is None


def test_pop_forgets_an_entry():
    cache = TTLCache(2, Clock())
    cache.put("a", 1, ttl=60)
    cache.pop("a")
    cache.pop("never-there")
    assert cache.get("a") is None


def test_a_cache_holds_at_least_one_entry():
    with pytest.raises(ValueError):
        TTLCache(0)


NOW = dt.datetime(2030, 1, 1, tzinfo=dt.timezone.utc)


def test_a_valid_token_is_trusted_for_the_configured_time():
    assert cache_seconds(NOW + dt.timedelta(hours=1), NOW, 300) == 300


def test_a_valid_token_is_never_trusted_beyond_its_expiry():
    assert cache_seconds(NOW + dt.timedelta(seconds=42), NOW, 300) == 42


def test_an_already_expired_token_is_not_cached():
    assert cache_seconds(NOW - dt.timedelta(seconds=1), NOW, 300) <= 0
