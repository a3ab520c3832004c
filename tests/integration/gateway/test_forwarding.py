"""An unmodified client pointed at the home cloud reaches resources in every cloud (seed 000)."""
from __future__ import annotations

import requests


def test_the_home_catalog_points_at_ocx(ocx_env):
    conn = ocx_env.connect("ocx")
    assert conn.block_storage.get_endpoint().startswith(ocx_env.url + "/volume/v3/")
    assert conn.compute.get_endpoint().startswith(ocx_env.url + "/compute")


def test_a_volume_created_through_ocx_lands_at_home(ocx_env):
    conn = ocx_env.connect("ocx")
    volume = conn.block_storage.create_volume(size=1, name="through-ocx")
    volume = conn.block_storage.wait_for_status(volume, "available", wait=30)
    direct = ocx_env.connect("home")
    assert direct.block_storage.get_volume(volume.id).name == "through-ocx"


def test_a_volume_in_a_service_provider_is_found_then_reached_directly(ocx_env):
    conn = ocx_env.connect("ocx")
    list(conn.block_storage.volumes(limit=1))  # log in and discover versions before counting
    # Made behind OCX's back, after the listing: OCX has not seen it.
    sp1 = ocx_env.connect("sp1")
    made = sp1.block_storage.create_volume(size=1, name="in-sp1")
    sp1.block_storage.wait_for_status(made, "available", wait=30)
    ocx_env.reset_calls()
    assert conn.block_storage.get_volume(made.id).name == "in-sp1"
    first = {c: ocx_env.calls(c).get("cinder", {}).get("GET", 0) for c in ("home", "sp1", "sp2")}
    assert first == {"home": 1, "sp1": 1, "sp2": 1}  # searched everywhere
    ocx_env.reset_calls()
    conn.block_storage.update_volume(made.id, name="renamed")
    assert conn.block_storage.get_volume(made.id).name == "renamed"
    second = {c: ocx_env.calls(c).get("cinder", {}) for c in ("home", "sp1", "sp2")}
    assert second["home"] == {} and second["sp2"] == {}  # straight to its provider
    assert sp1.block_storage.get_volume(made.id).name == "renamed"
    conn.block_storage.delete_volume(made.id)


def test_a_missing_token_gets_401_before_any_provider_is_called(ocx_env):
    ocx_env.reset_calls()
    resp = requests.get(ocx_env.url + "/volume/v3/volumes", timeout=10)
    assert resp.status_code == 401
    assert resp.json()["error"]["code"] == 401
    assert all("cinder" not in ocx_env.calls(c) for c in ("home", "sp1", "sp2"))


def test_a_resource_nowhere_is_404_in_the_services_format(ocx_env):
    conn = ocx_env.connect("ocx")
    token = conn.session.get_token()
    resp = requests.get(ocx_env.url + "/compute/v2.1/servers/no-such-server",
                        headers={"X-Auth-Token": token}, timeout=10)
    assert resp.status_code == 404
    assert resp.json()["itemNotFound"]["code"] == 404


def test_a_stale_mapping_is_dropped_and_the_resource_searched_again(ocx_env):
    """A mapping that points at the wrong provider (404 there) gives way to a search."""
    from ocx.store.location import store_keys, store_url
    from ocx.store import MappingStore, ResourceMapping

    sp1 = ocx_env.connect("sp1")
    volume = sp1.block_storage.create_volume(size=1, name="moved")

    async def mislead():
        store = await MappingStore.open(store_url(ocx_env.conf), store_keys(ocx_env.conf))
        try:
            await store.put_resource_mappings([ResourceMapping.learned(
                "volumes", volume.id, "sp2", None, None, "peer")])
        finally:
            await store.close()

    ocx_env.sim.call(mislead())
    conn = ocx_env.connect("ocx")
    assert conn.block_storage.get_volume(volume.id).name == "moved"

    async def where():
        store = await MappingStore.open(store_url(ocx_env.conf), store_keys(ocx_env.conf))
        try:
            return (await store.get_resource_mapping("volumes", volume.id)).provider
        finally:
            await store.close()

    assert ocx_env.sim.call(where()) == "sp1"
