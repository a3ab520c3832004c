"""OCX in front of the real clouds: a user of A works with the resources of A and B through one
endpoint, OCX doing a real K2K exchange (real SAML through mellon) to reach B."""
from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Iterator

import pytest
import requests

from .test_clouds import wait_for_volume

pytestmark = pytest.mark.timeout(1200)


@pytest.fixture(scope="module")
def spread(in_a, in_b) -> Iterator[dict[str, dict[str, list[str]]]]:
    """Two images and a volume in each cloud, made directly there."""
    made: dict[str, dict[str, list[str]]] = {}
    for name, conn in (("a", in_a), ("b", in_b)):
        images = [conn.image.create_image(name=f"real-{name}-{i}", disk_format="raw",
                                          container_format="bare", data=os.urandom(1024)).id
                  for i in range(2)]
        volume = conn.block_storage.create_volume(name=f"real-{name}-volume", size=1)
        made[name] = {"images": images, "volumes": [volume.id]}
    for name, conn in (("a", in_a), ("b", in_b)):
        for volume_id in made[name]["volumes"]:
            wait_for_volume(conn, volume_id)
    try:
        yield made
    finally:
        for name, conn in (("a", in_a), ("b", in_b)):
            for image_id in made[name]["images"]:
                conn.image.delete_image(image_id, ignore_missing=True)
            for volume_id in made[name]["volumes"]:
                conn.block_storage.delete_volume(volume_id, ignore_missing=True)


def test_one_listing_shows_the_images_and_volumes_of_both_clouds_page_by_page(ocx, spread):
    conn = ocx.connect()
    images = [i.id for i in conn.image.images(limit=1)]
    volumes = [v.id for v in conn.block_storage.volumes(limit=1)]
    for name in ("a", "b"):
        assert set(spread[name]["images"]) <= set(images)
        assert set(spread[name]["volumes"]) <= set(volumes)
    assert len(images) == len(set(images)) and len(volumes) == len(set(volumes))


def test_a_volume_of_b_is_shown_renamed_and_deleted_through_ocx(ocx, in_b):
    volume = wait_for_volume(in_b, in_b.block_storage.create_volume(name="b-own", size=1))
    conn = ocx.connect()
    assert conn.block_storage.get_volume(volume.id).name == "b-own"
    conn.block_storage.update_volume(volume.id, name="b-renamed")
    assert in_b.block_storage.get_volume(volume.id).name == "b-renamed"
    conn.block_storage.delete_volume(volume.id)
    deadline = time.monotonic() + 60
    while in_b.block_storage.find_volume(volume.id) is not None:
        assert time.monotonic() < deadline, "the volume was not deleted in B"
        time.sleep(0.5)


def test_an_image_uploaded_to_b_comes_down_through_ocx_intact(ocx, in_b):
    data = os.urandom(8 << 20)
    image = in_b.image.create_image(name="b-data", disk_format="raw", container_format="bare",
                                    data=data)
    try:
        got = ocx.connect().image.download_image(image.id)
        assert hashlib.sha256(got.content).hexdigest() == hashlib.sha256(data).hexdigest()
    finally:
        in_b.image.delete_image(image.id, ignore_missing=True)


# -- what a client sees is what the service itself says -----------------------------------------

OCX_PREFIX = {"image": "image", "volumev3": "volume", "network": "network"}


def direct_and_through(real_clouds, ocx, service: str, path: str, token: str | None):
    """The same call to A's service (catalog type ``service``) and to OCX."""
    direct_root = real_clouds.a.endpoints()[service]
    through_root = f"{ocx.url}/{OCX_PREFIX[service]}"
    headers = {"X-Auth-Token": token} if token else {}
    return (requests.get(direct_root.rstrip("/") + path, headers=headers, timeout=30),
            requests.get(through_root + path, headers=headers, timeout=30))


def test_glance_answers_its_version_list_with_300_through_ocx_as_directly(real_clouds, ocx):
    direct, through = direct_and_through(real_clouds, ocx, "image", "/", None)
    assert through.status_code == direct.status_code == 300
    assert [v["id"] for v in through.json()["versions"]] == \
        [v["id"] for v in direct.json()["versions"]]
    assert all(link["href"].startswith(ocx.url) for v in through.json()["versions"]
               for link in v["links"])


def test_a_missing_resource_is_the_services_own_404(real_clouds, ocx, in_a):
    token = in_a.session.get_token()
    missing = "00000000-0000-4000-8000-000000000000"
    for service, path in (("image", f"/v2/images/{missing}"),
                          ("network", f"/v2.0/networks/{missing}")):
        direct, through = direct_and_through(real_clouds, ocx, service, path, token)
        assert through.status_code == direct.status_code == 404, path
        if "json" in direct.headers.get("Content-Type", ""):
            assert set(through.json()) == set(direct.json()), path
