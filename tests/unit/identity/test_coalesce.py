"""Coalescing: concurrent callers with the same key share one piece of work."""
from __future__ import annotations

import asyncio

import pytest

from ocx.identity.coalesce import Coalescer


class Work:
    """Counts its runs; each run waits until released."""

    def __init__(self, result="done", error: Exception | None = None) -> None:
        self.runs = 0
        self.release = asyncio.Event()
        self.result, self.error = result, error

    async def __call__(self):
        self.runs += 1
        await self.release.wait()
        if self.error:
            raise self.error
        return self.result


async def test_concurrent_callers_with_one_key_share_one_run():
    coalescer, work = Coalescer(), Work()
    waiters = [asyncio.create_task(coalescer.run("k", work)) for _ in range(10)]
    await asyncio.sleep(0)
    work.release.set()
    assert await asyncio.gather(*waiters) == ["done"] * 10
    assert work.runs == 1


async def test_different_keys_run_separately():
    coalescer, work = Coalescer(), Work()
    work.release.set()
    await asyncio.gather(coalescer.run("a", work), coalescer.run("b", work))
    assert work.runs == 2


async def test_every_waiter_gets_the_same_failure():
    coalescer, work = Coalescer(), Work(error=LookupError("no"))
    waiters = [asyncio.create_task(coalescer.run("k", work)) for _ in range(3)]
    await asyncio.sleep(0)
    work.release.set()
    results = await asyncio.gather(*waiters, return_exceptions=True)
    assert all(isinstance(r, LookupError) for r in results) and work.runs == 1


async def test_once_done_the_key_is_free_and_nothing_is_kept():
    coalescer, work = Coalescer(), Work()
    work.release.set()
    await coalescer.run("k", work)
    assert not coalescer.running("k")
    await coalescer.run("k", work)
    assert work.runs == 2


async def test_a_cancelled_waiter_does_not_cancel_the_work_of_the_others():
    coalescer, work = Coalescer(), Work()
    impatient = asyncio.create_task(coalescer.run("k", work))
    patient = asyncio.create_task(coalescer.run("k", work))
    await asyncio.sleep(0)
    impatient.cancel()
    with pytest.raises(asyncio.CancelledError):
        await impatient
    work.release.set()
    assert await patient == "done"
