"""Seed 000, "Volume create on boot": ``POST /servers`` through the user's OCX with a new-volume
block device mapping and ``ocx:volume_provider`` naming the cloud where the volume is made.

The parameter is a top-level member of the create (openstacksdk's raw POST, the way a client
that knows it sends it) or a scheduler hint (what the unmodified ``openstack`` command and
openstacksdk's ``create_server`` can send).
"""
from __future__ import annotations

import json
import logging
import time

import pytest

from tests.integration.mixmatch.test_attach import openstack
from tests.integration.mixmatch.test_boot import through_ocx_to

COMPUTE = ("home", "sp1", "sp3")        # sp2 has Cinder and Glance only
EVERY = ("home", "sp1", "sp2", "sp3")


def inventory(exchange) -> dict[str, set[str]]:
    """Every volume, server and image of the user's projects, asked of each cloud directly."""
    seen: dict[str, set[str]] = {}
    for cloud in EVERY:
        conn = exchange.connect(cloud)
        seen[f"{cloud} volumes"] = {v.id for v in conn.block_storage.volumes()}
        seen[f"{cloud} images"] = {i.id for i in conn.image.images()}
        if cloud in COMPUTE:
            seen[f"{cloud} servers"] = {s.id for s in conn.compute.servers()}
    return seen


def boot(exchange, body: dict, *, into: str = "sp1"):
    """The raw create through the user's OCX, sent to ``into``; the requests answer."""
    conn = through_ocx_to(exchange, into)
    return conn.compute.post("/servers", json=body, microversion="2.67",
                             raise_exc=False)


def server_body(name: str, mappings: list[dict], flavor: str = "42") -> dict:
    return {"server": {"name": name, "flavorRef": flavor, "networks": "none",
                       "block_device_mapping_v2": mappings}}


def root_from_image(image_id: str, **extra) -> dict:
    return {"boot_index": 0, "source_type": "image", "uuid": image_id,
            "destination_type": "volume", "volume_size": 1, **extra}


@pytest.fixture
def sp3_image(exchange):
    sp3 = exchange.connect("sp3")
    image = sp3.image.create_image(name="sp3-image", disk_format="raw",
                                   container_format="bare", data=b"\1" * 8192,
                                   hw_disk_bus="virtio")
    yield image
    sp3.image.delete_image(image.id, ignore_missing=True)


def wait_gone(conn, volume_id: str) -> None:
    deadline = time.monotonic() + 30
    while conn.block_storage.find_volume(volume_id) is not None:
        assert time.monotonic() < deadline, f"volume {volume_id} is still there"
        time.sleep(0.2)


def delete_server(exchange, server_id: str, volume_cloud: str, volume_id: str | None) -> None:
    """Through the user's OCX (sp1's Nova detaches, and deletes the volume it was told to)."""
    exchange.connect("ocx").compute.delete_server(server_id, ignore_missing=True)
    sp1 = exchange.connect("sp1").compute
    deadline = time.monotonic() + 30
    while sp1.find_server(server_id) is not None:
        assert time.monotonic() < deadline
        time.sleep(0.2)
    if volume_id is not None:
        wait_gone(exchange.connect(volume_cloud), volume_id)


def made(caplog, what: str) -> list[str]:
    """OCX's log lines of the boot-volume extension that start with ``what``."""
    return [r.getMessage() for r in caplog.records
            if r.name == "ocx.extensions.bootvolume" and r.getMessage().startswith(what)]


def test_a_server_boots_in_sp1_from_a_new_volume_made_in_sp2_from_an_image_of_sp3(
        exchange, sp3_image, caplog):
    caplog.set_level(logging.INFO, logger="ocx.extensions.bootvolume")
    before = inventory(exchange)
    answer = boot(exchange, {**server_body("bfv", [root_from_image(
        sp3_image.id, delete_on_termination=True)]), "ocx:volume_provider": "sp2"})
    assert answer.status_code == 202, answer.text
    server_id = answer.json()["server"]["id"]
    volume_id = None
    try:
        sp1 = exchange.connect("sp1").compute
        server = sp1.wait_for_server(sp1.get_server(server_id), interval=0.2, wait=60)
        assert server.status == "ACTIVE"
        [attached] = sp1.volume_attachments(server_id)
        volume_id = attached.volume_id
        # The volume is sp2's, in use by the server of sp1; nowhere else is there one.
        sp2 = exchange.connect("sp2").block_storage
        volume = sp2.wait_for_status(sp2.get_volume(volume_id), "in-use", interval=0.2,
                                     wait=30)
        assert [a["server_id"] for a in volume.attachments] == [server_id]
        assert volume.size == 1 and volume.is_bootable
        assert volume.volume_image_metadata["hw_disk_bus"] == "virtio"
        for cloud in ("home", "sp1", "sp3"):
            assert exchange.connect(cloud).block_storage.find_volume(volume_id) is None
        # The image stayed in sp3 alone: the copy sp2's Cinder read is gone again.
        assert len(made(caplog, f"copying image {sp3_image.id} of sp3 to sp2")) == 1
        after = inventory(exchange)
        assert exchange.connect("sp3").image.get_image(sp3_image.id).status == "active"
        for cloud in ("home", "sp1", "sp2"):
            assert after[f"{cloud} images"] == before[f"{cloud} images"]
        assert after["sp2 volumes"] == before["sp2 volumes"] | {volume_id}
    finally:
        delete_server(exchange, server_id, "sp2", volume_id)
    assert inventory(exchange) == before


def test_openstacksdk_names_the_volumes_provider_with_a_scheduler_hint(exchange, sp3_image):
    """openstacksdk's own ``create_server``, unchanged: the provider is a scheduler hint."""
    before = inventory(exchange)
    conn = through_ocx_to(exchange, "sp1")
    server = conn.compute.create_server(
        name="bfv-hint", flavor_id="42", networks="none",
        block_device_mapping=[root_from_image(sp3_image.id, delete_on_termination=True)],
        scheduler_hints={"ocx:volume_provider": "sp2"})
    volume_id = None
    try:
        server = conn.compute.wait_for_server(server, interval=0.2, wait=60)
        assert server.status == "ACTIVE"
        [attached] = exchange.connect("sp1").compute.volume_attachments(server.id)
        volume_id = attached.volume_id
        sp2 = exchange.connect("sp2").block_storage
        assert sp2.get_volume(volume_id).status == "in-use"
    finally:
        delete_server(exchange, server.id, "sp2", volume_id)
    assert inventory(exchange) == before


def test_the_openstack_command_boots_in_sp1_from_a_new_volume_of_sp2(exchange, sp3_image):
    """``openstack server create --boot-from-volume`` with the provider as a hint and the
    server's cloud as its name's suffix: nothing but the unmodified client."""
    before = inventory(exchange)
    server = json.loads(openstack(
        exchange, "server", "create", "--flavor", "42", "--image", sp3_image.id,
        "--boot-from-volume", "1", "--hint", "ocx:volume_provider=sp2", "--nic", "none",
        "-f", "json", "bfv-cli@sp1"))
    volume_id = None
    try:
        assert server["name"] == "bfv-cli"
        sp1 = exchange.connect("sp1").compute
        assert sp1.wait_for_server(sp1.get_server(server["id"]), interval=0.2,
                                   wait=60).status == "ACTIVE"
        [attached] = sp1.volume_attachments(server["id"])
        volume_id = attached.volume_id
        sp2 = exchange.connect("sp2").block_storage
        assert sp2.get_volume(volume_id).status == "in-use"
    finally:
        # The client asks Nova to keep the volume (delete_on_termination false): it is
        # available again once the server is gone, and deleted through OCX.
        delete_server(exchange, server["id"], "sp2", None)
        if volume_id is not None:
            sp2 = exchange.connect("sp2").block_storage
            sp2.wait_for_status(sp2.get_volume(volume_id), "available", interval=0.2, wait=30)
            openstack(exchange, "volume", "delete", volume_id)
            wait_gone(exchange.connect("sp2"), volume_id)
    assert inventory(exchange) == before


def test_a_volume_made_in_a_cloud_with_a_peer_reads_the_image_through_it(exchange, sp3_image):
    """sp1's Cinder reads Glance through sp1's OCX: the peer is given the image's mapping, and
    the volume is made from sp3's image itself, not from a copy."""
    before = inventory(exchange)
    answer = boot(exchange, {**server_body("bfv-peer", [root_from_image(
        sp3_image.id, delete_on_termination=True)]), "ocx:volume_provider": "sp1"})
    assert answer.status_code == 202, answer.text
    server_id = answer.json()["server"]["id"]
    volume_id = None
    try:
        sp1 = exchange.connect("sp1")
        sp1.compute.wait_for_server(sp1.compute.get_server(server_id), interval=0.2, wait=60)
        [attached] = sp1.compute.volume_attachments(server_id)
        volume_id = attached.volume_id
        volume = sp1.block_storage.get_volume(volume_id)
        assert volume.volume_image_metadata["image_id"] == sp3_image.id
        assert inventory(exchange)["sp1 images"] == before["sp1 images"]
    finally:
        delete_server(exchange, server_id, "sp1", volume_id)
    assert inventory(exchange) == before


def test_sp2_refusing_the_second_volume_leaves_nothing_behind_in_any_cloud(
        exchange, sp3_image, caplog):
    """sp2's admin allows the project one more gigabyte; the boot asks two 1 GB volumes."""
    caplog.set_level(logging.INFO, logger="ocx.extensions.bootvolume")
    project = exchange.connect("sp2").current_project_id
    admin = exchange.connect("sp2", user="admin").block_storage
    used = sum(v.size for v in exchange.connect("sp2").block_storage.volumes())
    admin.update_quota_set(project, gigabytes=used + 1)
    try:
        before = inventory(exchange)
        answer = boot(exchange, {**server_body("two-volumes", [
            root_from_image(sp3_image.id),
            {"boot_index": 1, "source_type": "blank", "destination_type": "volume",
             "volume_size": 1}]), "ocx:volume_provider": "sp2"})
        assert answer.status_code == 413, answer.text
        message = answer.json()["overLimit"]["message"]
        assert "sp2" in message and "gigabytes quota" in message
        # Half way: the first volume (and the image copy it was made from) had been made.
        assert len(made(caplog, "made volume")) == 1
        assert len(made(caplog, "copying image")) == 1
        assert inventory(exchange) == before
    finally:
        admin.update_quota_set(project, gigabytes=1000)


def test_nova_refusing_the_boot_after_the_volume_was_made_leaves_nothing_behind(
        exchange, sp3_image, caplog):
    caplog.set_level(logging.INFO, logger="ocx.extensions.bootvolume")
    before = inventory(exchange)
    answer = boot(exchange, {**server_body("bad-flavor", [root_from_image(sp3_image.id)],
                                           flavor="no-such-flavor"),
                             "ocx:volume_provider": "sp2"})
    assert answer.status_code == 400, answer.text
    assert answer.json()["badRequest"]["message"] == "Invalid flavorRef provided."
    assert len(made(caplog, "made volume")) == 1
    assert inventory(exchange) == before


def test_an_unknown_provider_is_refused_and_nothing_is_made(exchange, sp3_image):
    before = inventory(exchange)
    answer = boot(exchange, {**server_body("nowhere", [root_from_image(sp3_image.id)]),
                             "ocx:volume_provider": "sp9"})
    assert answer.status_code == 400, answer.text
    assert "'sp9'" in answer.json()["badRequest"]["message"]
    assert inventory(exchange) == before


def test_a_snapshot_of_another_cloud_is_refused_before_anything_is_made(exchange):
    sp2 = exchange.connect("sp2").block_storage
    volume = sp2.wait_for_status(sp2.create_volume(size=1, name="origin"), "available",
                                 interval=0.2, wait=30)
    snapshot = sp2.wait_for_status(sp2.create_snapshot(volume_id=volume.id, name="snap"),
                                   "available", interval=0.2, wait=30)
    try:
        before = inventory(exchange)
        answer = boot(exchange, {**server_body("from-snap", [
            {"boot_index": 0, "source_type": "snapshot", "uuid": snapshot.id,
             "destination_type": "volume"}]), "ocx:volume_provider": "sp1"})
        assert answer.status_code == 400, answer.text
        assert "provider sp2" in answer.json()["badRequest"]["message"]
        assert inventory(exchange) == before
    finally:
        sp2.delete_snapshot(snapshot.id, ignore_missing=True)
        deadline = time.monotonic() + 30
        while sp2.find_snapshot(snapshot.id) is not None and time.monotonic() < deadline:
            time.sleep(0.2)
        sp2.delete_volume(volume.id, ignore_missing=True)
