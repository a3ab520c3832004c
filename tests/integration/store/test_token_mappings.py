"""Token mappings: (local token, local project) → provider → (remote token, remote project)."""
from __future__ import annotations

import datetime as dt

from ocx.store import token_hash

from .helpers import Clock, token_mapping


async def test_a_mapping_made_by_one_worker_is_found_by_another(open_store):
    worker_a, worker_b = await open_store(), await open_store()
    mapping = token_mapping()
    await worker_a.put_token_mapping(mapping)

    found = await worker_b.get_token_mapping(token_hash("local-token"), "demo", "sp-bu")

    assert found == mapping
    assert found.remote_token == "remote-token-of-bu"
    assert found.catalog[0]["endpoints"][0]["url"] == "http://sp-bu.example:8774/v2.1"
    assert found.expires_at.tzinfo is dt.UTC


async def test_each_project_and_provider_has_its_own_mapping(store):
    for project in ("demo", "other"):
        for provider in ("sp-bu", "sp-nu"):
            await store.put_token_mapping(token_mapping(
                project=project, provider=provider, remote_token=f"{project}@{provider}"))

    found = await store.get_token_mapping(token_hash("local-token"), "other", "sp-nu")

    assert found.remote_token == "other@sp-nu"
    assert await store.get_token_mapping(token_hash("another-token"), "demo", "sp-bu") is None


async def test_a_renewed_mapping_replaces_the_old_one(open_store):
    store, other_worker = await open_store(), await open_store()
    await store.put_token_mapping(token_mapping(remote_token="first", lifetime=60))
    await store.put_token_mapping(token_mapping(remote_token="renewed", lifetime=3600))

    for worker in (store, other_worker):
        found = await worker.get_token_mapping(token_hash("local-token"), "demo", "sp-bu")
        assert found.remote_token == "renewed"


async def test_an_expired_mapping_is_never_returned(open_store):
    clock = Clock()
    store = await open_store(clock=clock)
    await store.put_token_mapping(token_mapping(lifetime=-1, now=clock.now))
    assert await store.get_token_mapping(token_hash("local-token"), "demo", "sp-bu") is None

    # Expiring while in the cache: not served from it, nor from the database.
    await store.put_token_mapping(token_mapping(lifetime=60, now=clock.now))
    assert await store.get_token_mapping(token_hash("local-token"), "demo", "sp-bu")
    clock.advance(61)
    assert await store.get_token_mapping(token_hash("local-token"), "demo", "sp-bu") is None
    fresh_worker = await open_store(clock=clock)
    assert await fresh_worker.get_token_mapping(token_hash("local-token"), "demo", "sp-bu") \
        is None


async def test_a_mapping_renewed_by_another_worker_replaces_an_expired_cached_one(open_store):
    clock = Clock()
    worker_a, worker_b = await open_store(clock=clock), await open_store(clock=clock)
    await worker_a.put_token_mapping(token_mapping(remote_token="old", lifetime=60,
                                                   now=clock.now))
    assert await worker_a.get_token_mapping(token_hash("local-token"), "demo", "sp-bu")
    clock.advance(61)
    await worker_b.put_token_mapping(token_mapping(remote_token="new", now=clock.now))

    found = await worker_a.get_token_mapping(token_hash("local-token"), "demo", "sp-bu")

    assert found.remote_token == "new"


async def test_revoking_a_local_token_deletes_its_mappings_everywhere(store):
    for provider in ("sp-bu", "sp-nu"):
        await store.put_token_mapping(token_mapping("revoked", provider=provider))
        await store.put_token_mapping(token_mapping("kept", provider=provider))

    assert await store.delete_token_mappings(local_token_hash=token_hash("revoked")) == 2

    assert await store.get_token_mapping(token_hash("revoked"), "demo", "sp-bu") is None
    assert await store.get_token_mapping(token_hash("kept"), "demo", "sp-bu")


async def test_removing_a_provider_deletes_its_mappings(store):
    for token in ("alice", "bob"):
        for provider in ("sp-bu", "sp-nu"):
            await store.put_token_mapping(token_mapping(token, provider=provider))

    assert await store.delete_token_mappings(provider="sp-nu") == 2
    assert await store.delete_token_mappings(local_token_hash=token_hash("alice"),
                                             provider="sp-bu") == 1

    assert await store.get_token_mapping(token_hash("alice"), "demo", "sp-nu") is None
    assert await store.get_token_mapping(token_hash("alice"), "demo", "sp-bu") is None
    assert await store.get_token_mapping(token_hash("bob"), "demo", "sp-bu")


async def test_an_operator_lists_mappings_without_seeing_a_token(store):
    clock_now = dt.datetime.now(dt.UTC)
    await store.put_token_mapping(token_mapping("alice", provider="sp-bu"))
    await store.put_token_mapping(token_mapping("bob", provider="sp-nu"))
    await store.put_token_mapping(token_mapping("carol", provider="sp-nu", lifetime=-5))

    listed = await store.list_token_mappings()
    on_nu = await store.list_token_mappings(provider="sp-nu", include_expired=True)

    assert [(i.provider, i.hash_prefix) for i in listed] == [
        ("sp-bu", token_hash("alice")[:12]), ("sp-nu", token_hash("bob")[:12])]
    assert {i.hash_prefix for i in on_nu} == {token_hash("bob")[:12], token_hash("carol")[:12]}
    assert all(i.expires_at > clock_now for i in listed)
    shown = repr(listed + on_nu)
    assert "remote-token" not in shown and token_hash("alice") not in shown


async def test_purging_deletes_only_expired_mappings(store):
    await store.put_token_mapping(token_mapping("live"))
    await store.put_token_mapping(token_mapping("dead", lifetime=-1))
    await store.put_token_mapping(token_mapping("dead too", lifetime=-3600))

    assert await store.purge_expired() == 2

    assert await store.purge_expired() == 0
    assert [i.hash_prefix for i in await store.list_token_mappings(include_expired=True)] == [
        token_hash("live")[:12]]
