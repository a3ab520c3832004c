"""Expired token mappings are purged in the background; a failed purge is retried."""
from __future__ import annotations

import asyncio

from ocx.api.server import purge_forever


class FlakyStore:
    def __init__(self):
        self.calls = 0

    async def purge_expired(self):
        self.calls += 1
        if self.calls == 1:
            raise OSError("database went away")
        return 3


async def test_purging_goes_on_after_a_failure():
    store = FlakyStore()
    task = asyncio.create_task(purge_forever(store, 0.01))
    await asyncio.sleep(0.1)
    task.cancel()
    assert store.calls >= 2
