"""Tokens at rest: local tokens only as a hash, remote tokens only encrypted."""
from __future__ import annotations

import glob
import pathlib

from ocx.store import generate_key, sql, token_hash

from .helpers import raw_column, token_mapping

LOCAL = "gAAAAA-the-local-token-itself"
REMOTE = "the-remote-token-in-clear"


async def test_no_token_is_readable_in_the_database(store):
    await store.put_token_mapping(token_mapping(LOCAL, remote_token=REMOTE))

    sealed = await raw_column(store, "SELECT remote_token_enc FROM token_mappings")
    hashes = await raw_column(store, "SELECT local_token_hash FROM token_mappings")

    assert len(sealed) == 1 and REMOTE not in sealed[0][0]
    assert hashes == [(token_hash(LOCAL),)]
    if store.engine.dialect.name == "sqlite":
        # Everything SQLite wrote: the database file and its write-ahead log.
        written = b"".join(pathlib.Path(path).read_bytes()
                           for path in glob.glob(store.engine.url.database + "*"))
    else:
        written = "".join(row[0] for row in await raw_column(
            store, "SELECT t::text FROM token_mappings t")).encode()
    assert REMOTE.encode() not in written and LOCAL.encode() not in written
    assert token_hash(LOCAL).encode() in written


async def test_after_key_rotation_live_mappings_read_with_the_new_key_alone(open_store,
                                                                           monkeypatch):
    monkeypatch.setattr(sql, "ROTATE_BATCH", 2)   # several batches with a few mappings
    old, new = generate_key(), generate_key()
    store = await open_store([old])
    for provider in ("sp-bu", "sp-nu", "sp-xx"):
        await store.put_token_mapping(token_mapping(provider=provider,
                                                    remote_token=f"{REMOTE}@{provider}"))
    before = await raw_column(store, "SELECT remote_token_enc FROM token_mappings")

    assert await store.rotate_keys([new]) == 3

    after = await raw_column(store, "SELECT remote_token_enc FROM token_mappings")
    assert not set(before) & set(after)
    await store.put_token_mapping(token_mapping("written after", remote_token="later"))
    new_only, old_only = await open_store([new]), await open_store([old])
    for provider in ("sp-bu", "sp-nu", "sp-xx"):
        for worker in (store, new_only):
            found = await worker.get_token_mapping(token_hash("local-token"), "demo", provider)
            assert found.remote_token == f"{REMOTE}@{provider}"
        assert await old_only.get_token_mapping(token_hash("local-token"), "demo",
                                                provider) is None
    assert (await new_only.get_token_mapping(token_hash("written after"), "demo",
                                             "sp-bu")).remote_token == "later"


async def test_rotation_drops_tokens_no_key_opens(open_store):
    mine, foreign = generate_key(), generate_key()
    store, stranger = await open_store([mine]), await open_store([foreign])
    await store.put_token_mapping(token_mapping("alice"))
    await stranger.put_token_mapping(token_mapping("bob"))
    # A token sealed with a key this worker does not hold is ignored, not an error.
    assert await store.get_token_mapping(token_hash("bob"), "demo", "sp-bu") is None

    assert await store.rotate_keys([generate_key(), mine]) == 1

    assert [i.hash_prefix for i in await store.list_token_mappings()] == [
        token_hash("alice")[:12]]


async def test_a_mapping_sealed_with_a_lost_key_is_replaced_by_a_new_exchange(open_store):
    before, after = await open_store([generate_key()]), await open_store([generate_key()])
    await before.put_token_mapping(token_mapping(remote_token="sealed with the lost key"))

    assert await after.get_token_mapping(token_hash("local-token"), "demo", "sp-bu") is None
    await after.put_token_mapping(token_mapping(remote_token="exchanged again"))
    assert (await after.get_token_mapping(token_hash("local-token"), "demo",
                                          "sp-bu")).remote_token == "exchanged again"
