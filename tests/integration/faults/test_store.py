"""The mapping store (PostgreSQL, shared by OCX's two workers) restarted, crashed and frozen
while users call OCX.

While it is away, a call that needs the database (a mapping neither worker holds in memory)
is answered 503 naming the store; a call whose mappings are in memory is answered as usual;
what OCX learns meanwhile (a create's mapping) is kept in memory, answered 2xx, and written
once the database answers again. Afterwards every call succeeds without OCX being touched,
and every mapping OCX acknowledged is in the store.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import time

import pytest

from ocx.store import MappingStore, ResourceMapping, TokenMapping, token_hash, utcnow
from ocx.store.location import store_keys
from ocx.store.outage import unreachable
from tests.postgres import blocking

from . import checks
from .conftest import STORE_TIMEOUT, OCX_LIMITS
from .traffic import Outcome, Traffic

STORE_503 = "The mapping store cannot be reached now; try again shortly."
# A call waits at most for a pooled connection, a pre-ping and its statement.
BOUND = OCX_LIMITS["call_timeout"] + 3 * STORE_TIMEOUT


def store_outage(outcome: Outcome) -> bool:
    return outcome.status == 503 and outcome.message == STORE_503


@pytest.mark.parametrize("mode", ["fast", "immediate"])
def test_a_restarted_or_crashed_postgresql_costs_503s_while_it_is_away_and_no_mapping(
        world, mode):
    """``fast``: an operator's restart (every session ended); ``immediate``: a crash (the
    server quits at once and recovers from its write-ahead log on start)."""
    with Traffic(world.users) as traffic:
        time.sleep(1.5)
        away = time.monotonic()
        world.pg.stop(mode)
        time.sleep(2)
        world.pg.start()
        back = time.monotonic()
        time.sleep(4)
    checks.answered_in_time(traffic, BOUND)
    checks.only_explained(traffic, store_outage)
    checks.recovered(traffic, back + 1)
    assert [o for o in traffic.between(away, back) if o.op.startswith("create") and o.ok], \
        "creates must go on while the store is away"
    checks.nothing_lost(world, traffic)
    # Learned while it was away, written when it came back.
    assert "mappings learned meanwhile are kept in memory" in world.ocx.output()


def test_a_frozen_postgresql_makes_calls_fail_or_wait_within_the_store_timeout(world):
    """A server that stops answering (all its processes stopped: connections stay open,
    nothing comes back), as behind a dead network: no call waits on it for ever."""
    with Traffic(world.users) as traffic:
        time.sleep(1.5)
        frozen = world.pg.freeze()
        try:
            time.sleep(3 * STORE_TIMEOUT)
        finally:
            world.pg.thaw(frozen)
        back = time.monotonic()
        time.sleep(STORE_TIMEOUT + 3)
    checks.answered_in_time(traffic, BOUND)
    checks.only_explained(traffic, store_outage)
    checks.recovered(traffic, back + STORE_TIMEOUT)
    checks.nothing_lost(world, traffic)


def test_what_the_store_learns_while_the_database_is_away_is_written_when_it_is_back(world):
    """The store itself (no cache, so that only what waits is there to answer): a learned
    resource and token mapping are taken while PostgreSQL is stopped, served meanwhile and
    written once it is back, by the store's own retries or, at the latest, when it closes;
    an injection (all or none) is refused instead."""
    keys = store_keys(world.conf)
    volume = ResourceMapping.learned("volumes", "v-away", "sp1", "p1", None, "create")
    token = TokenMapping(local_token_hash=token_hash("local-token-away"), local_project="p0",
                         provider="sp2", remote_token="remote-token-away", remote_project="p2",
                         expires_at=utcnow() + dt.timedelta(hours=1), catalog=[])
    late = ResourceMapping.learned("volumes", "v-late", "sp2", "p2", None, "create")

    async def scenario() -> None:
        store = await MappingStore.open(world.pg.url, keys, cache_size=0,
                                        timeout=STORE_TIMEOUT)
        store.retry = 0.2
        try:
            await asyncio.to_thread(world.pg.stop, "fast")
            try:
                await store.put_resource_mappings([volume])
                await store.put_token_mapping(token)
                assert await store.get_resource_mapping("volumes", "v-away") == volume
                assert (await store.get_token_mapping(token.local_token_hash, "p0", "sp2")
                        ).remote_token == "remote-token-away"
                with pytest.raises(Exception) as refused:
                    await store.put_mappings([], [late])
                assert unreachable(refused.value)
            finally:
                await asyncio.to_thread(world.pg.start)
            async with asyncio.timeout(20):
                while len(store.pending):
                    await asyncio.sleep(0.1)
            # Away again: this one waits, and the store closes once the database is back.
            store.retry = 3600
            await asyncio.to_thread(world.pg.stop, "fast")
            try:
                await store.put_resource_mappings([late])
            finally:
                await asyncio.to_thread(world.pg.start)
        finally:
            await store.close()
        fresh = await MappingStore.open(world.pg.url, keys, cache_size=0)
        try:
            for kept in (volume, late):
                assert (await fresh.get_resource_mapping(*kept.key)).provider == kept.provider
            assert (await fresh.get_token_mapping(token.local_token_hash, "p0", "sp2")
                    ).remote_token == "remote-token-away"
        finally:
            await fresh.close()

    blocking(scenario())


def test_waiting_for_an_advisory_lock_longer_than_the_store_timeout_is_no_failure(world):
    """Two workers' controller syncs take turns on PostgreSQL's advisory lock: the second
    waits as long as the first holds it, past ``[store] timeout``, which bounds statements."""
    keys = store_keys(world.conf)
    held = 3 * STORE_TIMEOUT / 2

    async def scenario() -> list[str]:
        first = await MappingStore.open(world.pg.url, keys, timeout=STORE_TIMEOUT / 2)
        second = await MappingStore.open(world.pg.url, keys, timeout=STORE_TIMEOUT / 2)
        order = []

        async def sync(store, name: str, hold: float) -> None:
            async with store.controller.sync_lock("ctl-faults"):
                order.append(f"{name} in")
                await asyncio.sleep(hold)
                order.append(f"{name} out")
        try:
            holding = asyncio.create_task(sync(first, "first", held))
            while not order:
                await asyncio.sleep(0.01)
            await sync(second, "second", 0)
            await holding
        finally:
            await first.close()
            await second.close()
        return order

    outcome = []
    blocking(_into(outcome, scenario()))
    assert outcome == [["first in", "first out", "second in", "second out"]]


async def _into(box: list, coro) -> None:
    box.append(await coro)
