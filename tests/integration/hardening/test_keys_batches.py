"""``ocx keys rotate``'s work on each store (``admin.keys.rotate``), batch by batch, on SQLite
and on PostgreSQL: every value the newest key does not seal is re-encrypted with it, a value
a gateway rewrote between the read and the write is left as the gateway wrote it, a value no
key opens is left (or deleted when told), and every mapping reads the same after."""
from __future__ import annotations

import secrets

import pytest
from sqlalchemy.engine import make_url

from ocx.admin import keys
from ocx.store import MappingStore, generate_key, token_hash
from tests.integration.store.helpers import token_mapping
from tests.postgres import asyncpg_dsn, blocking, execute, postgres_url  # noqa: F401 - fixture


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request, tmp_path):
    """An empty store of its own (PostgreSQL: a database made for the test, dropped after)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/ocx.sqlite"
        return
    server = request.getfixturevalue("postgres_url")
    name = f"ocx_keys_{secrets.token_hex(4)}"
    blocking(execute(asyncpg_dsn(server, "postgres"), f"CREATE DATABASE {name}"))
    try:
        yield make_url(server).set(database=name).render_as_string(hide_password=False)
    finally:
        blocking(execute(asyncpg_dsn(server, "postgres"), f"DROP DATABASE {name}"))


PROVIDERS = [f"sp{i}" for i in range(7)]


async def test_rotation_in_batches_keeps_what_a_gateway_writes_meanwhile(url, monkeypatch):
    old, new, foreign = generate_key(), generate_key(), generate_key()
    before = await MappingStore.open(url, [old], migrate=True, cache_size=0)
    for p in PROVIDERS[:5]:
        await before.put_token_mapping(token_mapping(provider=p, remote_token=f"old@{p}"))
    gateway = await MappingStore.open(url, [new, old], cache_size=0)
    await gateway.put_token_mapping(token_mapping(provider=PROVIDERS[5], remote_token="new@5"))
    stranger = await MappingStore.open(url, [foreign], cache_size=0)
    await stranger.put_token_mapping(token_mapping(provider=PROVIDERS[6], remote_token="x"))

    # A gateway renews sp0's mapping after the first batch was read, before it is written.
    batches = keys._batches
    raced = []

    async def racing(store, table, column, size):
        async for rows in batches(store, table, column, size):
            if not raced:
                raced.append(rows)
                await gateway.put_token_mapping(token_mapping(provider="sp0",
                                                              remote_token="renewed"))
            yield rows

    monkeypatch.setattr(keys, "_batches", racing)
    done = await keys.rotate(gateway, [new, old], batch=2)
    assert (done.rotated, done.current, done.changed, done.unreadable, done.deleted) == \
        (4, 1, 1, 1, 0)
    assert len(raced[0]) == 2

    use = await keys.key_use(gateway, [new, old], batch=2)
    assert (use.by_key, use.unreadable) == ([6, 0], 1)
    after = await MappingStore.open(url, [new], cache_size=0)    # the old key dropped
    found = {p: await after.get_token_mapping(token_hash("local-token"), "demo", p)
             for p in PROVIDERS}
    assert {p: m.remote_token for p, m in found.items() if m is not None} == {
        "sp0": "renewed", "sp1": "old@sp1", "sp2": "old@sp2", "sp3": "old@sp3",
        "sp4": "old@sp4", "sp5": "new@5"}

    monkeypatch.setattr(keys, "_batches", batches)
    cleared = await keys.rotate(after, [new], delete_unreadable=True)
    assert (cleared.rotated, cleared.current, cleared.unreadable, cleared.deleted) == \
        (0, 6, 1, 1)
    assert (await keys.key_use(after, [new])).unreadable == 0
    for store in (before, gateway, stranger, after):
        await store.close()
