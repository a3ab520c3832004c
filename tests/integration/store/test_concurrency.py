"""Volume and concurrency: big listings, bursts of writers, several workers at once."""
from __future__ import annotations

import asyncio
import random

from ocx.store import ResourceMapping, token_hash

from .helpers import all_pages, counting_queries, token_mapping


async def test_a_listing_of_ten_thousand_resources_is_learned_in_one_batch(open_store):
    store = await open_store()
    learned = [ResourceMapping.learned("servers", f"{i:05}", f"sp-{i % 3}", "demo",
                                       f"http://sp-{i % 3}:8774/v2.1", "listing")
               for i in range(10_000)]

    with counting_queries(store) as queries:
        await store.put_resource_mappings(learned)

    assert len(queries) <= 20   # batched statements, not one per row
    other_worker = await open_store()
    listed = [m async for page in all_pages(other_worker, resource_type="servers", limit=1000)
              for m in page]
    assert listed == learned
    for m in random.Random(3).sample(learned, 20):
        assert await other_worker.get_resource_mapping("servers", m.resource_id) == m


async def test_concurrent_writers_do_not_corrupt_the_store(open_store):
    workers = [await open_store() for _ in range(3)]

    async def learn(n: int) -> None:
        worker = workers[n % len(workers)]
        await worker.put_token_mapping(token_mapping(f"user-{n}", remote_token=f"remote-{n}"))
        await worker.put_resource_mappings(
            ResourceMapping.learned("volumes", f"v{n}-{j}", "sp-nu", "demo", None, "create")
            for j in range(10))
        # Everyone also rewrites one shared key: the last writer wins, whole.
        await worker.put_resource_mappings([ResourceMapping.learned(
            "networks", "shared", f"sp-{n}", "demo", f"http://sp-{n}", "search")])

    await asyncio.gather(*(learn(n) for n in range(60)))

    reader = await open_store()
    for n in range(60):
        found = await reader.get_token_mapping(token_hash(f"user-{n}"), "demo", "sp-bu")
        assert found.remote_token == f"remote-{n}"
    volumes = await reader.list_resource_mappings(resource_type="volumes", limit=10_000)
    assert len(volumes) == 600
    shared = await reader.get_resource_mapping("networks", "shared")
    assert shared.endpoint == f"http://{shared.provider}"


async def test_concurrent_readers_and_writers_of_one_key_end_consistent(open_store):
    store = await open_store()
    key = ("servers", "vm1")

    async def write(n: int) -> None:
        await store.put_resource_mappings([ResourceMapping.learned(*key, f"sp-{n}", "demo",
                                                                   None, "search")])

    async def read_and_forget() -> None:
        await store.get_resource_mapping(*key)
        await store.delete_resource_mapping(*key)

    await asyncio.gather(*(write(n) if n % 3 else read_and_forget() for n in range(30)))

    # Whatever the interleaving, the cache agrees with the database.
    fresh = await open_store()
    assert await store.get_resource_mapping(*key) == await fresh.get_resource_mapping(*key)
