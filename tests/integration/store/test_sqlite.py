"""The embedded default: a SQLite file set up for several workers on one host."""
from __future__ import annotations

import os
import stat

from ocx.store import MappingStore, ResourceMapping, generate_key

from .helpers import raw_column


async def test_the_database_file_is_private_and_in_wal_mode(tmp_path):
    path = tmp_path / "state" / "ocx.sqlite"   # the folder is made too
    async with await MappingStore.open(f"sqlite:///{path}", [generate_key()],
                                       migrate=True) as store:
        assert await raw_column(store, "PRAGMA journal_mode") == [("wal",)]
        assert (await raw_column(store, "PRAGMA busy_timeout"))[0][0] >= 1000

    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


async def test_an_in_memory_store_for_a_quick_demo():
    # No cache: every read goes through the single connection the memory database lives in.
    async with await MappingStore.open("sqlite://", [generate_key()], cache_size=0,
                                       migrate=True) as store:
        await store.put_resource_mappings([ResourceMapping.learned(
            "images", "img1", "home", "demo", "http://glance:9292", "listing")])

        assert (await store.get_resource_mapping("images", "img1")).provider == "home"
