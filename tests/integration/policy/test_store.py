"""The GBP tables on SQLite and on PostgreSQL: the chain stays a list at the database level,
and an L3 policy's topology changes one at a time, across workers."""
from __future__ import annotations

import asyncio

import pytest

from ocx.store import MappingStore, generate_key
from ocx.store.policy import KINDS, Conflict, PolicyStore
from tests.postgres import postgres_url  # noqa: F401 - fixture


@pytest.fixture(params=["sqlite", "postgresql"])
async def stores(request, tmp_path):
    """``await stores()``: a PolicyStore on a migrated, empty database (one per "worker")."""
    url = f"sqlite:///{tmp_path}/ocx.sqlite" if request.param == "sqlite" \
        else request.getfixturevalue("postgres_url")
    key, opened = generate_key(), []

    async def open_() -> PolicyStore:
        store = await MappingStore.open(url, [key], migrate=True)
        opened.append(store)
        return PolicyStore(store.engine)

    first = await open_()
    async with first.transaction() as tx:
        for kind in KINDS:
            await tx.delete_where(kind)
    yield open_, first
    for store in opened:
        await store.close()


async def groups(store: PolicyStore, *ids: str) -> None:
    async with store.transaction() as tx:
        for group_id in ids:
            await tx.insert("group_proxies", {"policy_target_group_id": group_id,
                                              "proxied_group_id": None, "proxy_group_id": None,
                                              "proxy_type": None})


async def test_a_group_gets_one_proxy_only(stores):
    _, store = stores
    await groups(store, "g", "p1", "p2")
    async with store.transaction() as tx:
        assert await tx.claim_proxy("g", "p1")
    async with store.transaction() as tx:
        assert not await tx.claim_proxy("g", "p2")
    assert (await store.get("group_proxies", "g"))["proxy_group_id"] == "p1"
    # one proxy for two groups: the unique link refuses it, and the transaction is undone
    await groups(store, "h")
    with pytest.raises(Conflict):
        async with store.transaction() as tx:
            await tx.update("group_proxies", "h", {"proxy_group_id": "p1"})
    assert (await store.get("group_proxies", "h"))["proxy_group_id"] is None


async def test_workers_claiming_the_same_group_at_once(stores):
    open_, first = stores
    await groups(first, "g")
    workers = [await open_() for _ in range(4)]

    async def claim(worker: PolicyStore, proxy: str) -> bool:
        async with worker.transaction() as tx:
            return await tx.claim_proxy("g", proxy)

    results = await asyncio.gather(*(claim(w, f"p{i}") for i, w in enumerate(workers)),
                                   return_exceptions=True)
    won = [r for r in results if r is True]
    assert len(won) == 1, results
    winner = (await first.get("group_proxies", "g"))["proxy_group_id"]
    assert winner == f"p{results.index(True)}"


async def test_topology_changes_of_one_l3_policy_take_turns(stores, request):
    open_, first = stores
    # Workers are processes: on PostgreSQL each has its own store; SQLite is one process.
    second = await open_() if "postgresql" in request.node.name else first
    events: list[str] = []

    async def change(store: PolicyStore, name: str) -> None:
        async with store.topology_lock("l3p-1"):
            events.append(f"{name} in")
            await asyncio.sleep(0.1)
            events.append(f"{name} out")

    async def other() -> None:
        async with second.topology_lock("l3p-2"):
            events.append("other")

    async with asyncio.timeout(30):
        await asyncio.gather(change(first, "a"), change(second, "b"), other())
    paired = [e for e in events if e != "other"]
    assert paired in (["a in", "a out", "b in", "b out"], ["b in", "b out", "a in", "a out"])
    assert events.index("other") < 3   # another L3 policy does not wait


async def test_rows_keep_their_order(stores):
    _, store = stores
    async with store.transaction() as tx:
        for position, subnet in enumerate(["s3", "s1", "s2"]):
            await tx.insert("group_subnets", {"subnet_id": subnet,
                                              "policy_target_group_id": "g",
                                              "l3_policy_id": "l", "cidr": f"10.0.{position}.0/24",
                                              "allocated": True, "position": position})
    assert [r["subnet_id"] for r in await store.rows("group_subnets",
                                                     policy_target_group_id="g")] == [
        "s3", "s1", "s2"]
    related = await store.related("group_subnets", "policy_target_group_id", ["g", "none"])
    assert [r["subnet_id"] for r in related["g"]] == ["s3", "s1", "s2"] and related["none"] == []
    async with store.transaction() as tx:
        await tx.own("subnet", "s1")
    assert await store.owns("subnet", "s1") and not await store.owns("subnet", "s2")
