"""Resource mappings: (resource type, resource id) → (provider, remote project, endpoint)."""
from __future__ import annotations

import datetime as dt

import pytest

from ocx.store import ResourceMapping

from .helpers import all_pages


def server(rid: str, provider: str = "sp-bu", source: str = "create") -> ResourceMapping:
    return ResourceMapping.learned("servers", rid, provider, f"{provider}-demo",
                                   f"http://{provider}.example:8774/v2.1", source)


async def test_a_created_server_is_found_where_it_was_made(open_store):
    worker_a, worker_b = await open_store(), await open_store()
    created = server("vm1")
    await worker_a.put_resource_mappings([created])

    found = await worker_b.get_resource_mapping("servers", "vm1")

    assert found == created
    assert (found.provider, found.remote_project, found.endpoint, found.source) == (
        "sp-bu", "sp-bu-demo", "http://sp-bu.example:8774/v2.1", "create")
    assert found.updated_at.tzinfo is dt.UTC
    assert await worker_b.get_resource_mapping("volumes", "vm1") is None


async def test_a_mapping_without_project_or_endpoint_round_trips(store):
    await store.put_resource_mappings([ResourceMapping.learned(
        "ports", "p1", "proton", None, None, "peer")])

    found = await store.get_resource_mapping("ports", "p1")

    assert (found.provider, found.remote_project, found.endpoint) == ("proton", None, None)


async def test_relearning_a_resource_replaces_its_mapping(open_store):
    store, other_worker = await open_store(), await open_store()
    await store.put_resource_mappings([server("vm1", "sp-bu")])
    await store.put_resource_mappings([server("vm1", "sp-nu", source="search")])

    for worker in (store, other_worker):
        found = await worker.get_resource_mapping("servers", "vm1")
        assert (found.provider, found.source) == ("sp-nu", "search")


async def test_the_last_mapping_of_a_batch_wins(store):
    await store.put_resource_mappings([server("vm1", "sp-bu"), server("vm1", "sp-nu")])

    assert (await store.get_resource_mapping("servers", "vm1")).provider == "sp-nu"


async def test_a_stale_mapping_is_deleted(open_store):
    store, other_worker = await open_store(), await open_store()
    await store.put_resource_mappings([server("vm1")])

    assert await store.delete_resource_mapping("servers", "vm1") is True
    assert await store.delete_resource_mapping("servers", "vm1") is False
    assert await store.get_resource_mapping("servers", "vm1") is None
    assert await other_worker.get_resource_mapping("servers", "vm1") is None


async def test_listing_pages_through_mappings_by_type_and_provider(store):
    await store.put_resource_mappings(
        [server(f"vm{i:02}", "sp-bu" if i % 2 else "sp-nu") for i in range(10)]
        + [ResourceMapping.learned("volumes", f"v{i}", "sp-nu", "p", None, "listing")
           for i in range(3)])

    pages = [page async for page in all_pages(store, resource_type="servers", limit=4)]
    on_nu = [m.key async for page in all_pages(store, provider="sp-nu", limit=3)
             for m in page]

    assert [[m.resource_id for m in page] for page in pages] == [
        ["vm00", "vm01", "vm02", "vm03"], ["vm04", "vm05", "vm06", "vm07"], ["vm08", "vm09"]]
    assert on_nu == [("servers", f"vm{i:02}") for i in range(0, 10, 2)] + [
        ("volumes", "v0"), ("volumes", "v1"), ("volumes", "v2")]
    with pytest.raises(ValueError, match="resource_type"):
        await store.list_resource_mappings(marker="vm03")
