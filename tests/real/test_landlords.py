"""Many landlords with the real clouds (issue 8, seed 004), A's demo user through A's OCX:

- a K2K token OCX holds at B, revoked by B's admin at B's Keystone, is made anew with one
  fresh exchange and the user sees no error (the session heals);
- ``GET /ocx/v1/quotas`` shows the caller's project at A and at B with the quotas and usage
  the real Nova, Cinder and Neutron give;
- ``GET /ocx/v1/projects`` (A's admin) shows the demo project's home and its project at B;
- an OCX told of no provider finds B registered at A's Keystone and uses it;
- B's real Cinder and Glance notify over RabbitMQ: what is made directly in B becomes a
  mapping in OCX's store, a show through OCX then goes straight to B, a deletion forgets it.
"""
from __future__ import annotations

import asyncio
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path

import aio_pika
import openstack
import pytest
from keystoneauth1 import session as ks_session
from keystoneauth1.identity import v3

from ocx import config
from ocx.store import MappingStore
from ocx.store.location import store_keys, store_url
from ocx.store.models import token_hash

from . import configs
from .gateway import RealOcx
from .test_clouds import wait_for_volume

pytestmark = pytest.mark.timeout(1200)

HOME = "home"   # the name OCX gives its home cloud
# One K2K exchange as B's Apache logs it: mellon hands the assertion's user to Keystone.
K2K_AT_B = re.compile(r'"GET /v3/OS-FEDERATION/identity_providers/[^/]+/protocols/saml2/auth '
                      r'HTTP/1\.1" 201 .* user=demo$')
HEALED = "refused there: made anew"   # identity.heal's line when it renews a mapping


# -- helpers -------------------------------------------------------------------------------------

def in_store(ocx: RealOcx, work):
    """``work(store)`` on OCX's own store (a second, uncached view of it)."""
    conf = config.load(str(ocx.config_path))

    async def run():
        store = await MappingStore.open(store_url(conf), store_keys(conf), cache_size=0)
        try:
            return await work(store)
        finally:
            await store.close()
    return asyncio.run(run())


def mapping(ocx: RealOcx, resource_type: str, resource_id: str):
    return in_store(ocx, lambda store: store.get_resource_mapping(resource_type, resource_id))


def wait_for(check, what: str, timeout: float = 60):
    deadline = time.monotonic() + timeout
    while not (found := check()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.25)
    return found


def lines_after(path: Path, since: int) -> list[str]:
    with open(path, "rb") as log:
        log.seek(since)
        return log.read().decode(errors="replace").splitlines()


def k2k_exchanges_at_b(real_clouds) -> int:
    return sum(1 for line in real_clouds.b.log("apache-access").read_text(
        errors="replace").splitlines() if K2K_AT_B.search(line))


def admin_of(real_clouds, cloud) -> ks_session.Session:
    return ks_session.Session(auth=v3.Password(**real_clouds.auth(cloud)))


@pytest.fixture(scope="module")
def volume_of_b(in_b) -> Iterator[openstack.block_storage.v3.volume.Volume]:
    volume = wait_for_volume(in_b, in_b.block_storage.create_volume(name="b-landlord", size=1))
    try:
        yield volume
    finally:
        in_b.block_storage.delete_volume(volume, ignore_missing=True)


@pytest.fixture(scope="module")
def volume_of_a(in_a) -> Iterator[openstack.block_storage.v3.volume.Volume]:
    volume = wait_for_volume(in_a, in_a.block_storage.create_volume(name="a-landlord", size=1))
    try:
        yield volume
    finally:
        in_a.block_storage.delete_volume(volume, ignore_missing=True)


# -- 1. a session that heals ---------------------------------------------------------------------

def test_a_token_ocx_holds_at_b_revoked_there_is_made_anew_unseen(real_clouds, ocx,
                                                                   volume_of_b):
    conn = ocx.connect("demo")
    assert conn.block_storage.get_volume(volume_of_b.id).name == "b-landlord"  # via K2K
    held = in_store(ocx, lambda store: store.get_token_mapping(
        token_hash(conn.session.get_token()), conn.current_project_id, real_clouds.sp_id))
    assert held is not None and held.remote_project == real_clouds.b_project_id

    # B's admin revokes that token at B's Keystone; B's Cinder refuses it from now on.
    b_admin = admin_of(real_clouds, real_clouds.b)
    keystone_b = real_clouds.b.keystone_url
    revoked = b_admin.delete(f"{keystone_b}/auth/tokens",
                             headers={"X-Subject-Token": held.remote_token})
    assert revoked.status_code == 204
    assert b_admin.get(f"{keystone_b}/auth/tokens", headers={"X-Subject-Token":
                       held.remote_token}, raise_exc=False).status_code == 404
    cinder_b = real_clouds.b.endpoints()["volumev3"]
    refused = b_admin.get(f"{cinder_b}/{held.remote_project}/volumes/{volume_of_b.id}",
                          headers={"X-Auth-Token": held.remote_token}, authenticated=False,
                          raise_exc=False)
    assert refused.status_code == 401

    exchanges, since = k2k_exchanges_at_b(real_clouds), ocx.log_size()
    # The user's next call succeeds: OCX met B's 401, made one fresh exchange, sent it again.
    assert conn.block_storage.get_volume(volume_of_b.id).name == "b-landlord"
    assert k2k_exchanges_at_b(real_clouds) - exchanges == 1
    assert sum(HEALED in line for line in lines_after(ocx.log, since)) == 1
    assert [c for c in ocx.calls(since) if volume_of_b.id in c] == \
        [f"GET /volume/v3/{conn.current_project_id}/volumes/{volume_of_b.id} 200"]
    renewed = in_store(ocx, lambda store: store.get_token_mapping(
        token_hash(conn.session.get_token()), conn.current_project_id, real_clouds.sp_id))
    assert renewed.remote_token != held.remote_token


# -- 2. quotas ----------------------------------------------------------------------------------

def direct_quotas(real_clouds, in_a, in_b) -> dict[str, dict[str, dict]]:
    """What the services say themselves: A's Nova, Cinder, Neutron; B's Cinder, Neutron."""
    found = {}
    for name, cloud, conn, project in (
            (HOME, real_clouds.a, in_a, in_a.current_project_id),
            (real_clouds.sp_id, real_clouds.b, in_b, real_clouds.b_project_id)):
        endpoints, get = cloud.endpoints(), conn.session.get
        found[name] = {
            "volume": get(f"{endpoints['volumev3']}/{project}/os-quota-sets/{project}",
                          params={"usage": "true"}).json()["quota_set"],
            "network": get(f"{endpoints['network']}/v2.0/quotas/{project}/details")
            .json()["quota"]}
        if "compute" in endpoints:
            found[name]["compute"] = get(f"{endpoints['compute']}/os-quota-sets/{project}"
                                         "/detail").json()["quota_set"]
    return found


def figures(quotas: dict, provider: str) -> dict[tuple[str, str], tuple[int, int]]:
    """(service, resource) → (limit, in use) of a few resources, as OCX or a service says."""
    chosen = {"compute": ("instances", "cores", "ram"), "volume": ("volumes", "gigabytes"),
              "network": ("network", "port", "subnet")}
    return {(service, name): (quotas[service][name]["limit"],
                              quotas[service][name].get("in_use",
                                                        quotas[service][name].get("used")))
            for service, names in chosen.items() if service in quotas for name in names}


def test_quotas_show_the_remote_project_at_each_cloud_with_the_services_figures(
        real_clouds, ocx, in_a, in_b, volume_of_a, volume_of_b, network_of_a):
    conn = ocx.connect("demo")
    for _ in range(5):   # a deletion of an earlier test may still be under way in between
        shown = conn.session.get(f"{ocx.url}/ocx/v1/quotas").json()
        direct = direct_quotas(real_clouds, in_a, in_b)
        by_provider = {q["provider"]: q for q in shown["quotas"]}
        if all(figures(by_provider.get(p, {}), p) == figures(direct[p], p) for p in direct):
            break
        time.sleep(1)
    assert shown["project_id"] == in_a.current_project_id
    assert set(by_provider) == {HOME, real_clouds.sp_id}
    home, b = by_provider[HOME], by_provider[real_clouds.sp_id]
    assert home["remote_project"] == in_a.current_project_id
    assert b["remote_project"] == real_clouds.b_project_id
    assert {"compute", "volume", "network"} <= set(home) and "compute" not in b
    assert "errors" not in home and "errors" not in b
    for provider, quotas in direct.items():
        assert figures(by_provider[provider], provider) == figures(quotas, provider)
    # The volumes and the network made here are counted where they live.
    assert home["volume"]["volumes"]["in_use"] >= 1 and b["volume"]["volumes"]["in_use"] >= 1
    assert home["network"]["network"]["in_use"] >= 1
    assert home["compute"]["instances"]["limit"] == direct[HOME]["compute"]["instances"]["limit"]


# -- 3. projects --------------------------------------------------------------------------------

def test_projects_show_the_demo_projects_home_and_its_project_at_b(real_clouds, ocx, in_a,
                                                                    volume_of_b):
    conn = ocx.connect("demo")
    conn.block_storage.get_volume(volume_of_b.id)   # a call that reaches B
    admin = admin_of(real_clouds, real_clouds.a)
    shown = admin.get(f"{ocx.url}/ocx/v1/projects").json()["projects"]
    [demo] = [p for p in shown if p["project_id"] == in_a.current_project_id]
    assert demo["home"] == HOME and demo["home_last_seen"]
    assert [(f["provider"], f["remote_project"]) for f in demo["foreign"]] == \
        [(real_clouds.sp_id, real_clouds.b_project_id)]
    assert conn.session.get_token() not in str(shown)
    refused = conn.session.get(f"{ocx.url}/ocx/v1/projects", raise_exc=False)
    assert refused.status_code == 403


# -- 4. discovery -------------------------------------------------------------------------------

@pytest.fixture
def discovering_ocx(real_clouds) -> Iterator[RealOcx]:
    """A second OCX of A told of no provider (not in the catalog: reached by its URL)."""
    gateway = RealOcx(real_clouds, real_clouds.a.dir / "ocx-discovery", user="ocx-discovery",
                      pinned=False, register=False)
    try:
        yield gateway
    finally:
        gateway.stop()


def test_an_ocx_told_of_no_provider_finds_b_at_as_keystone_and_uses_it(
        real_clouds, discovering_ocx, in_a, volume_of_b):
    settings = discovering_ocx.config_path.read_text()
    assert "providers" not in settings and real_clouds.sp_id not in settings
    # B is a service provider registered at A's Keystone, enabled.
    admin = admin_of(real_clouds, real_clouds.a)
    listed = admin.get(f"{real_clouds.a.keystone_url}/OS-FEDERATION/service_providers"
                       ).json()["service_providers"]
    assert [sp["id"] for sp in listed if sp["enabled"]] == [real_clouds.sp_id]

    project = in_a.current_project_id
    got = in_a.session.get(f"{discovering_ocx.url}/volume/v3/{project}/volumes/"
                           f"{volume_of_b.id}")
    assert got.json()["volume"]["name"] == "b-landlord"
    providers = admin.get(f"{discovering_ocx.url}/ocx/v1/providers").json()
    by_name = {p["name"]: p for p in providers["providers"]}
    assert by_name[HOME]["source"] == "home"
    b = by_name[real_clouds.sp_id]
    assert (b["source"], b["sp_id"], b["state"]) == ("discovered", real_clouds.sp_id, "up")
    assert b["services"]["volume"]["state"] == "up"
    assert providers["discovery"] == {"enabled": True, "last_failure": None}
    refused = in_a.session.get(f"{discovering_ocx.url}/ocx/v1/providers", raise_exc=False)
    assert refused.status_code == 403


# -- 5. notifications from B's real services ----------------------------------------------------

def ocx_consumes(real_clouds) -> int:
    """Consumers of OCX's queue on the virtual host B's services notify on."""
    url = configs.notifications_url(real_clouds.b).replace("rabbit://", "amqp://", 1)

    async def count() -> int:
        connection = await aio_pika.connect(url, timeout=10)
        try:
            channel = await connection.channel()
            try:
                queue = await channel.declare_queue("ocx-notifications", passive=True)
            except aio_pika.exceptions.ChannelClosed:
                return 0
            return queue.declaration_result.consumer_count
        finally:
            await connection.close()
    return asyncio.run(count())


def test_a_volume_made_directly_in_b_is_mapped_from_its_notification_and_forgotten(
        real_clouds, ocx, in_b):
    wait_for(lambda: ocx_consumes(real_clouds), "OCX to listen to B's notifications")
    volume = in_b.block_storage.create_volume(name="b-notified", size=1)
    try:
        wait_for_volume(in_b, volume)
        learned = wait_for(lambda: mapping(ocx, "volumes", volume.id),
                           "the volume's notification to reach OCX")
        assert (learned.provider, learned.remote_project, learned.source) == \
            (real_clouds.sp_id, real_clouds.b_project_id, "notification")

        cinder_a = real_clouds.a.log("cinder")
        at_a, at_b, since = cinder_a.stat().st_size, \
            real_clouds.b.log("cinder").stat().st_size, ocx.log_size()
        conn = ocx.connect("demo")
        assert conn.block_storage.get_volume(volume.id).name == "b-notified"
        # Straight to B: no search asked A's Cinder (the home, searched first) about it.
        assert not [line for line in lines_after(cinder_a, at_a) if volume.id in line]
        assert [line for line in lines_after(real_clouds.b.log("cinder"), at_b)
                if "GET " in line and f"/volumes/{volume.id}" in line]
        assert f"GET /volume/v3/{conn.current_project_id}/volumes/{volume.id} 200" in \
            ocx.calls(since)
    finally:
        in_b.block_storage.delete_volume(volume, ignore_missing=True)
    wait_for(lambda: mapping(ocx, "volumes", volume.id) is None,
             "the volume's deletion to reach OCX")


def test_an_image_made_directly_in_b_is_mapped_from_glances_notification(real_clouds, ocx,
                                                                        in_b):
    wait_for(lambda: ocx_consumes(real_clouds), "OCX to listen to B's notifications")
    image = in_b.image.create_image(name="b-notified-image", disk_format="raw",
                                    container_format="bare", data=os.urandom(512))
    try:
        learned = wait_for(lambda: mapping(ocx, "images", image.id),
                           "the image's notification to reach OCX")
        assert (learned.provider, learned.remote_project, learned.source) == \
            (real_clouds.sp_id, real_clouds.b_project_id, "notification")
    finally:
        in_b.image.delete_image(image, ignore_missing=True)
    wait_for(lambda: mapping(ocx, "images", image.id) is None,
             "the image's deletion to reach OCX")
