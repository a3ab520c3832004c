"""Listing and deleting many mappings page by page, over the store's interface."""
from __future__ import annotations

import datetime as dt

import pytest

from ocx.admin import store as admin
from ocx.store import ResourceMapping

WHEN = dt.datetime(2025, 1, 2, 3, 4, 5, 678, tzinfo=dt.UTC)


def mapping(rtype: str, rid: str, provider: str) -> ResourceMapping:
    return ResourceMapping(rtype, rid, provider, "p", None, "listing", WHEN)


class PagedStore:
    """The part of MappingStore these commands use, over a sorted list; counts its queries."""

    def __init__(self, mappings: list[ResourceMapping]) -> None:
        self.mappings = sorted(mappings, key=lambda m: m.key)
        self.queries = 0
        self.deleted_tokens_of: list[str] = []

    async def list_resource_mappings(self, *, resource_type=None, provider=None, limit=1000,
                                     marker=None):
        self.queries += 1
        found = [m for m in self.mappings
                 if resource_type in (None, m.resource_type) and provider in (None, m.provider)
                 and (marker is None or m.key > tuple(marker))]
        return found[:limit]

    async def delete_resource_mapping(self, resource_type, resource_id):
        before = len(self.mappings)
        self.mappings = [m for m in self.mappings if m.key != (resource_type, resource_id)]
        return len(self.mappings) < before

    async def delete_token_mappings(self, *, provider=None, local_token_hash=None):
        self.deleted_tokens_of.append(provider)
        return 3


@pytest.fixture
def store(monkeypatch) -> PagedStore:
    monkeypatch.setattr(admin, "PAGE", 2)
    return PagedStore([mapping("servers", f"s{i}", "sp1" if i % 2 else "home")
                       for i in range(7)] + [mapping("volumes", "v0", "sp1")])


async def test_a_listing_reads_every_page(store):
    listed = await admin.list_resources(store)
    assert [m["id"] for m in listed] == [f"s{i}" for i in range(7)] + ["v0"]
    assert store.queries == 5  # four full pages of two, and the empty one that ends it


async def test_a_listing_stops_at_its_limit_and_filters(store):
    assert [m["id"] for m in await admin.list_resources(store, limit=3)] == ["s0", "s1", "s2"]
    sp1 = await admin.list_resources(store, provider="sp1", resource_type="servers")
    assert [m["id"] for m in sp1] == ["s1", "s3", "s5"]


async def test_a_record_has_every_field_and_the_time_in_utc_to_the_second(store):
    assert (await admin.list_resources(store, limit=1))[0] == {
        "type": "servers", "id": "s0", "provider": "home", "remote_project": "p",
        "endpoint": None, "source": "listing", "updated_at": "2025-01-02T03:04:05+00:00"}


async def test_deleting_a_provider_deletes_all_its_mappings_and_nothing_else(store):
    assert await admin.delete_provider(store, "sp1") == (4, 3)
    assert {m.provider for m in store.mappings} == {"home"} and len(store.mappings) == 4
    assert store.deleted_tokens_of == ["sp1"]


async def test_deleting_one_type_of_a_provider_leaves_its_tokens(store):
    assert await admin.delete_provider(store, "sp1", resource_type="volumes",
                                       tokens=False) == (1, 0)
    assert store.deleted_tokens_of == [] and len(store.mappings) == 7


async def test_a_missing_mapping_is_told_in_words(store):
    with pytest.raises(admin.NoSuchMapping, match="^no mapping for servers nope$"):
        await admin.delete_resource(store, "servers", "nope")
