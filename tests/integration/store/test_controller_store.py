"""A controller landlord's state in the store (store.controller), on SQLite and PostgreSQL:
what OCX answers reads from, refuses clashes with, and gives a controller back in full."""
from __future__ import annotations

import asyncio

import pytest

from ocx.store.controller import Conflict, ControllerStoreError, NotFound, RouterInterface

CTL = "ctl"
NET = {"id": "n1", "tenant_id": "t1", "name": "blue", "admin_state_up": True}
SUB = {"id": "s1", "tenant_id": "t1", "network_id": "n1", "cidr": "10.0.0.0/24",
       "gateway_ip": "10.0.0.1"}
PORT = {"id": "p1", "tenant_id": "t1", "network_id": "n1", "mac_address": "fa:16:3e:00:00:01",
        "device_id": "", "fixed_ips": [{"subnet_id": "s1", "ip_address": "10.0.0.5"}]}
ROUTER = {"id": "r1", "tenant_id": "t1", "name": "edge"}


async def make_all(store):
    c = store.controller
    await c.create(CTL, "networks", NET)
    await c.create(CTL, "subnets", SUB)
    await c.create(CTL, "ports", PORT)
    await c.create(CTL, "routers", ROUTER)


async def test_what_is_made_is_read_back_per_provider(store):
    await make_all(store)
    c = store.controller
    assert await c.get(CTL, "networks", "n1") == NET | {"subnets": ["s1"]}
    assert [n["id"] for n in await c.list(CTL, "networks", tenant_id="t1")] == ["n1"]
    assert await c.list(CTL, "ports", network_id="n1") == [PORT]
    assert await c.get("other", "networks", "n1") is None      # per provider
    assert await c.list(CTL, "routers", tenant_id="t2") == []


async def test_a_duplicate_id_or_mac_is_refused_and_nothing_changes(store):
    await make_all(store)
    c = store.controller
    with pytest.raises(Conflict, match="Network n1 already exists"):
        await c.create(CTL, "networks", NET | {"name": "other"})
    with pytest.raises(Conflict) as caught:
        await c.create(CTL, "ports", PORT | {"id": "p2", "mac_address": "FA:16:3E:00:00:01"})
    assert caught.value.type == "MacAddressInUse" and caught.value.status == 409
    assert [p["id"] for p in await c.list(CTL, "ports")] == ["p1"]
    assert (await c.get(CTL, "networks", "n1"))["name"] == "blue"
    # the same MAC on another network is fine
    await c.create(CTL, "networks", NET | {"id": "n2"})
    await c.create(CTL, "ports", PORT | {"id": "p2", "network_id": "n2", "fixed_ips": []})


async def test_a_port_or_subnet_on_an_unknown_network_is_404(store):
    c = store.controller
    with pytest.raises(NotFound) as caught:
        await c.create(CTL, "ports", PORT)
    assert (caught.value.type, caught.value.status) == ("NetworkNotFound", 404)
    with pytest.raises(NotFound):
        await c.create(CTL, "subnets", SUB)


async def test_concurrent_creates_of_one_id_make_one(store):
    c = store.controller
    results = await asyncio.gather(*(c.create(CTL, "routers", ROUTER | {"name": str(i)})
                                     for i in range(5)), return_exceptions=True)
    assert sum(not isinstance(r, Exception) for r in results) == 1
    assert all(isinstance(r, Conflict) for r in results if isinstance(r, Exception))


async def test_update_returns_before_and_after_and_replace_rolls_back(store):
    await make_all(store)
    c = store.controller
    before, after = await c.update(CTL, "networks", "n1", {"name": "red"})
    assert (before["name"], after["name"]) == ("blue", "red")
    await c.replace(CTL, "networks", before)
    assert (await c.get(CTL, "networks", "n1"))["name"] == "blue"
    with pytest.raises(ControllerStoreError, match="read-only attribute network_id"):
        await c.update(CTL, "ports", "p1", {"network_id": "n9"})
    with pytest.raises(NotFound, match="Router r9 could not be found"):
        await c.update(CTL, "routers", "r9", {"name": "x"})


async def test_attach_and_detach_a_device(store):
    await make_all(store)
    c = store.controller
    _, after = await c.attach(CTL, "p1", "vm1")
    assert after["device_id"] == "vm1"
    _, after = await c.detach(CTL, "p1")
    assert after["device_id"] == ""
    with pytest.raises(ControllerStoreError, match="needs a device id"):
        await c.attach(CTL, "p1", "")


async def test_router_interfaces_and_what_they_keep_from_deletion(store):
    await make_all(store)
    c = store.controller
    await c.create(CTL, "ports", PORT | {"id": "p9", "mac_address": "fa:16:3e:00:00:09",
                                         "device_owner": "network:router_interface"})
    await c.add_interface(CTL, RouterInterface("r1", "s1", "p9"))
    assert await c.interfaces(CTL, "r1") == [RouterInterface("r1", "s1", "p9")]
    with pytest.raises(ControllerStoreError, match="already has a port on subnet s1"):
        await c.add_interface(CTL, RouterInterface("r1", "s1", "p1"))
    await c.create(CTL, "routers", ROUTER | {"id": "r2"})
    with pytest.raises(Conflict, match="already the interface of router r1"):
        await c.add_interface(CTL, RouterInterface("r2", "s1", "p9"))
    for kind, rid, type_ in [("routers", "r1", "RouterInUse"), ("ports", "p9", "PortInUse"),
                             ("subnets", "s1", "SubnetInUse"),
                             ("networks", "n1", "NetworkInUse")]:
        with pytest.raises(Conflict) as caught:
            await c.delete(CTL, kind, rid)
        assert caught.value.type == type_
    assert await c.remove_interface(CTL, "r1", subnet_id="s1") == RouterInterface(
        "r1", "s1", "p9")
    with pytest.raises(NotFound, match="does not have an interface with port p9"):
        await c.remove_interface(CTL, "r1", port_id="p9")


async def test_deleting_a_network_takes_its_subnets_and_returns_what_it_was(store):
    await make_all(store)
    c = store.controller
    assert (await c.delete(CTL, "ports", "p1"))["mac_address"] == "fa:16:3e:00:00:01"
    deleted = await c.delete(CTL, "networks", "n1")
    assert deleted["name"] == "blue"
    assert await c.list(CTL, "subnets") == []
    with pytest.raises(NotFound):
        await c.delete(CTL, "networks", "n1")
    await c.create(CTL, "networks", deleted)      # the roll-back of a delete
    assert (await c.get(CTL, "networks", "n1"))["subnets"] == []


async def test_a_snapshot_holds_everything_of_one_provider(store):
    await make_all(store)
    c = store.controller
    await c.create("other", "networks", NET | {"id": "n7"})
    await c.create(CTL, "ports", PORT | {"id": "p9", "mac_address": "fa:16:3e:00:00:09"})
    await c.add_interface(CTL, RouterInterface("r1", "s1", "p9"))
    snap = await c.snapshot(CTL)
    assert [n["id"] for n in snap.networks] == ["n1"]
    assert [s["id"] for s in snap.subnets] == ["s1"]
    assert [p["id"] for p in snap.ports] == ["p1", "p9"]
    assert [r["id"] for r in snap.routers] == ["r1"]
    assert snap.interfaces == (RouterInterface("r1", "s1", "p9"),)


async def test_a_consistency_hash_per_controller(store):
    c = store.controller
    assert await c.hash(CTL, "10.0.0.1:80") is None
    await c.set_hash(CTL, "10.0.0.1:80", "abc")
    await c.set_hash(CTL, "10.0.0.1:80", "def")
    await c.set_hash(CTL, "10.0.0.2:80", "xyz")
    assert await c.hash(CTL, "10.0.0.1:80") == "def"
    assert await c.hash(CTL, "10.0.0.2:80") == "xyz"
    await c.forget_hash(CTL, "10.0.0.1:80")
    assert await c.hash(CTL, "10.0.0.1:80") is None


async def test_workers_synchronise_a_provider_one_at_a_time(open_store):
    first, second = await open_store(), await open_store()   # two "workers"
    inside: list[str] = []
    overlapped = []

    async def sync(store, name):
        async with store.controller.sync_lock(CTL):
            inside.append(name)
            overlapped.append(len(inside) > 1)
            await asyncio.sleep(0.05)
            inside.remove(name)

    await asyncio.gather(sync(first, "a"), sync(second, "b"))
    assert overlapped == [False, False]
    async with first.controller.sync_lock("other"):          # another provider: not blocked
        async with asyncio.timeout(5):
            async with second.controller.sync_lock("another"):
                pass
