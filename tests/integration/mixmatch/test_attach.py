"""Seed 000, "Token Injection", end to end: ``openstack server add volume VM1 BS1`` through
the user's OCX, VM1 in sp1 and BS1 in sp2. sp1's Nova calls Cinder through sp1's OCX, which
reaches sp2's Cinder with the mappings the user's OCX injected."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

OPENSTACK = Path(sys.executable).with_name("openstack")


def openstack(exchange, *args: str) -> str:
    """The real ``openstack`` command as home's demo user, through the user's OCX."""
    auth = exchange.sim.auth_args("home")
    env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
    env.update(OS_AUTH_URL=auth["auth_url"], OS_USERNAME=auth["username"],
               OS_PASSWORD=auth["password"], OS_PROJECT_NAME=auth["project_name"],
               OS_USER_DOMAIN_NAME="Default", OS_PROJECT_DOMAIN_NAME="Default",
               OS_IDENTITY_API_VERSION="3", OS_INTERFACE="public", OS_REGION_NAME="RegionOne")
    proc = subprocess.run([str(OPENSTACK), *args], env=env, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


@pytest.fixture
def vm1(exchange):
    """A server of the user's project in sp1, made there directly."""
    conn = exchange.connect("sp1")
    image = conn.image.create_image(name="vm1-image", disk_format="raw",
                                    container_format="bare", data=b"\0" * 1024)
    server = conn.compute.create_server(name="vm1", flavor_id="42", image_id=image.id,
                                        networks="none")
    server = conn.compute.wait_for_server(server, interval=0.2, wait=60)
    yield server
    conn.compute.delete_server(server.id, ignore_missing=True)
    conn.image.delete_image(image.id, ignore_missing=True)


@pytest.fixture
def bs1(exchange, vm1):
    """A volume of the user's project in sp2. Once the test is done, VM1 is deleted first,
    through the user's OCX: sp1's Nova then detaches BS1 through sp1's OCX with the token the
    mappings were injected for, and BS1 is available again to delete."""
    conn = exchange.connect("sp2").block_storage
    volume = conn.create_volume(size=1, name="bs1")
    yield conn.wait_for_status(volume, "available", interval=0.2, wait=30)
    exchange.connect("ocx").compute.delete_server(vm1.id, ignore_missing=True)
    conn.wait_for_status(conn.get_volume(volume.id), "available", interval=0.2, wait=30)
    conn.delete_volume(volume.id, ignore_missing=True)


def test_a_volume_of_sp2_is_attached_to_a_server_of_sp1_with_the_openstack_client(
        exchange, vm1, bs1):
    openstack(exchange, "server", "add", "volume", vm1.id, bs1.id)
    sp2 = exchange.connect("sp2").block_storage
    volume = sp2.wait_for_status(sp2.get_volume(bs1.id), "in-use", interval=0.2, wait=30)
    assert [a["server_id"] for a in volume.attachments] == [vm1.id]
    # Nova in sp1 knows it attached, and sp1's own Cinder never had the volume.
    attached = exchange.connect("sp1").compute.volume_attachments(vm1.id)
    assert [a.volume_id for a in attached] == [bs1.id]
    assert exchange.connect("sp1").block_storage.find_volume(bs1.id) is None


def test_the_volume_is_detached_again_through_the_same_path(exchange, vm1, bs1):
    openstack(exchange, "server", "add", "volume", vm1.id, bs1.id)
    sp2 = exchange.connect("sp2").block_storage
    sp2.wait_for_status(sp2.get_volume(bs1.id), "in-use", interval=0.2, wait=30)
    openstack(exchange, "server", "remove", "volume", vm1.id, bs1.id)
    volume = sp2.wait_for_status(sp2.get_volume(bs1.id), "available", interval=0.2, wait=30)
    assert volume.attachments == []
