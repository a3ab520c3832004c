"""Spanning networks' rows (issue 7), on SQLite and PostgreSQL: VNIs, twins, subnets."""
from __future__ import annotations

import asyncio

from ocx.routing.vni import first_free
from ocx.store import SpanningSubnet

RANGES = ((100, 104),)


async def test_a_vni_is_never_handed_out_twice_even_after_its_network_is_gone(store):
    spanning = store.spanning
    first = await spanning.reserve_vni(RANGES, first_free, "p", "sp1")
    await spanning.bind_vni(first, "net-1", {"name": "one"})
    await spanning.deleted("net-1")
    second = await spanning.reserve_vni(RANGES, first_free, "p", "sp1")
    assert (first, second) == (100, 101)
    assert await spanning.network("net-1") is None
    assert await spanning.vnis() == [100, 101]


async def test_a_refused_create_gives_its_vni_back_a_made_one_keeps_it(store):
    spanning = store.spanning
    vni = await spanning.reserve_vni(RANGES, first_free, "p", "home")
    await spanning.release_vni(vni)
    assert await spanning.reserve_vni(RANGES, first_free, "p", "sp1") == vni
    await spanning.bind_vni(vni, "net", {})
    await spanning.release_vni(vni)   # a made network's VNI is never given back
    assert await spanning.vnis() == [vni]


async def test_workers_reserving_at_once_get_different_vnis_until_none_is_left(open_store):
    stores = [await open_store() for _ in range(3)]
    got = await asyncio.gather(*(s.spanning.reserve_vni(RANGES, first_free, "p", "sp1")
                                 for s in stores for _ in range(3)))
    handed = [v for v in got if v is not None]
    assert sorted(handed) == [100, 101, 102, 103, 104]
    assert got.count(None) == 4


async def test_one_claim_wins_the_making_of_a_twin(open_store):
    a, b = (await open_store()).spanning, (await open_store()).spanning
    vni = await a.reserve_vni(RANGES, first_free, "p", "sp1")
    await a.bind_vni(vni, "net", {"name": "n"})
    claims = await asyncio.gather(a.claim_twin("net", "sp3"), b.claim_twin("net", "sp3"))
    assert sorted(claims) == [False, True]
    twin = await b.twin("net", "sp3")
    assert twin.twin_id is None
    # A stale claim is taken over once, by whoever names the claim it saw.
    taken = await asyncio.gather(a.claim_twin("net", "sp3", stale=twin.claimed_at),
                                 b.claim_twin("net", "sp3", stale=twin.claimed_at))
    assert sorted(taken) == [False, True]
    await a.add_subnet(SpanningSubnet("sub", "net", {"cidr": "10.0.0.0/24"},
                                      {"sp1": [], "sp3": []}))
    await a.twin_made("net", "sp3", "twin", {"sub": "twin-sub"})
    assert (await b.twin("net", "sp3")).twin_id == "twin"
    view = await b.view("p")
    assert view.networks == {"net": "net", "twin": "net"}
    assert view.subnets == {"twin-sub": "sub"}
    assert await b.view("another project") == type(view)()
    await a.twins_gone("net", ["sp3"])
    assert [t.provider for t in await b.twins("net")] == ["sp1"]
    assert await b.subnet_twins("net", "sp3") == {}
