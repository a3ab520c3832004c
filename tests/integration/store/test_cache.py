"""The hot path is served from memory: repeated look-ups cost no database query."""
from __future__ import annotations

from ocx.store import ResourceMapping, token_hash

from .helpers import counting_queries, token_mapping


def volume(rid: str, provider: str = "sp-nu") -> ResourceMapping:
    return ResourceMapping.learned("volumes", rid, provider, "demo", "http://nu:8776/v3/demo",
                                   "listing")


async def test_repeated_look_ups_are_answered_from_memory(open_store):
    writer = await open_store()
    await writer.put_token_mapping(token_mapping())
    await writer.put_resource_mappings([volume("bs1")])
    reader = await open_store()

    with counting_queries(reader) as first:
        await reader.get_token_mapping(token_hash("local-token"), "demo", "sp-bu")
        await reader.get_resource_mapping("volumes", "bs1")
    with counting_queries(reader) as repeated:
        for _ in range(100):
            assert await reader.get_token_mapping(token_hash("local-token"), "demo", "sp-bu")
            assert await reader.get_resource_mapping("volumes", "bs1")

    assert len(first) == 2
    assert repeated == []


async def test_what_a_worker_writes_it_reads_back_without_a_query(store):
    with counting_queries(store) as queries:
        await store.put_token_mapping(token_mapping())
        await store.put_resource_mappings([volume("bs1")])
        writes = len(queries)
        assert await store.get_token_mapping(token_hash("local-token"), "demo", "sp-bu")
        assert (await store.get_resource_mapping("volumes", "bs1")).provider == "sp-nu"

    assert len(queries) == writes == 2


async def test_an_unknown_resource_is_asked_for_every_time(store):
    # Not caching misses: another worker may learn the resource at any moment.
    with counting_queries(store) as queries:
        for _ in range(3):
            assert await store.get_resource_mapping("volumes", "unknown") is None

    assert len(queries) == 3


async def test_a_deleted_mapping_is_not_served_from_memory(store):
    await store.put_resource_mappings([volume("bs1")])
    await store.put_token_mapping(token_mapping())
    await store.delete_resource_mapping("volumes", "bs1")
    await store.delete_token_mappings(provider="sp-bu")

    assert await store.get_resource_mapping("volumes", "bs1") is None
    assert await store.get_token_mapping(token_hash("local-token"), "demo", "sp-bu") is None


async def test_listing_the_same_resources_again_writes_nothing(store):
    listing = [volume(f"bs{i}") for i in range(50)]
    await store.put_resource_mappings(listing)

    with counting_queries(store) as queries:
        await store.put_resource_mappings([volume(f"bs{i}") for i in range(50)])
    with counting_queries(store) as moved:
        await store.put_resource_mappings([volume("bs7", provider="sp-bu")])

    assert queries == []
    assert len(moved) == 1
    assert (await store.get_resource_mapping("volumes", "bs7")).provider == "sp-bu"


async def test_the_cache_is_bounded_and_keeps_the_recently_used(open_store):
    writer = await open_store()
    await writer.put_resource_mappings([volume(f"bs{i}") for i in range(5)])
    reader = await open_store(cache_size=3)
    for i in range(5):
        await reader.get_resource_mapping("volumes", f"bs{i}")
    await reader.get_resource_mapping("volumes", "bs2")   # used again: kept
    await reader.get_resource_mapping("volumes", "bs0")   # evicts bs3

    with counting_queries(reader) as queries:
        for i in (0, 2, 4):
            await reader.get_resource_mapping("volumes", f"bs{i}")
    with counting_queries(reader) as evicted:
        await reader.get_resource_mapping("volumes", "bs3")

    assert queries == [] and len(evicted) == 1


async def test_a_worker_may_serve_a_mapping_another_deleted_until_it_goes_stale(open_store):
    """The documented trade-off of per-worker caches: worker A keeps its cached mapping after
    worker B deletes it; the gateway's 404 → delete → search repairs it on A's next call."""
    worker_a, worker_b = await open_store(), await open_store()
    await worker_a.put_resource_mappings([volume("bs1")])
    await worker_b.delete_resource_mapping("volumes", "bs1")

    assert (await worker_a.get_resource_mapping("volumes", "bs1")).provider == "sp-nu"
    await worker_a.delete_resource_mapping("volumes", "bs1")   # what A does on the 404
    assert await worker_a.get_resource_mapping("volumes", "bs1") is None


async def test_no_cache_at_all(open_store):
    store = await open_store(cache_size=0)
    await store.put_resource_mappings([volume("bs1")])

    with counting_queries(store) as queries:
        for _ in range(2):
            assert await store.get_resource_mapping("volumes", "bs1")

    assert len(queries) == 2
