"""Mix and match with the real clouds (issue 7, seed 004): A's demo user, through A's OCX, boots
a server in A from an image that lives only in B, and has A's real Nova attach a volume of B
to it and detach it again.

A's Nova reaches Glance and Cinder only through A's OCX, with the user's token of A: OCX finds
the image and the volume in B (a K2K exchange through mellon) and sends Nova's calls there; the
attachment Nova makes goes to the cloud where its volume lives.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import openstack
import pytest

from .gateway import OCX_REGION
from .layout import REGION
from .test_clouds import wait_for_volume
from .test_nova_via_ocx import logged

pytestmark = pytest.mark.timeout(1200)

OPENSTACK = Path(sys.executable).with_name("openstack")


def openstack_cli(real_clouds, *args: str) -> str:
    """The real ``openstack`` command as A's demo user, through A's OCX (region OCX)."""
    auth = real_clouds.auth(real_clouds.a, "demo")
    env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
    env.update(OS_AUTH_URL=auth["auth_url"], OS_USERNAME=auth["username"],
               OS_PASSWORD=auth["password"], OS_PROJECT_NAME=auth["project_name"],
               OS_USER_DOMAIN_NAME="Default", OS_PROJECT_DOMAIN_NAME="Default",
               OS_IDENTITY_API_VERSION="3", OS_INTERFACE="public",
               OS_REGION_NAME=OCX_REGION)
    proc = subprocess.run([str(OPENSTACK), *args], env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


@pytest.fixture(scope="module")
def image_of_b(in_b) -> Iterator[openstack.image.v2.image.Image]:
    """An image made in B's project, in B only."""
    made = in_b.image.create_image(name="b-boot-image", disk_format="raw",
                                   container_format="bare", data=b"\0" * 4096)
    try:
        yield made
    finally:
        in_b.image.delete_image(made, ignore_missing=True)


@dataclass
class Booted:
    server: openstack.compute.v2.server.Server
    since: int        # where OCX's log stood before the create


@pytest.fixture(scope="module")
def booted_from_b(real_clouds, ocx, in_a, image_of_b, network_of_a) -> Iterator[Booted]:
    """A server created through A's OCX, in A (OCX's home), from B's image; ACTIVE. Deleted
    through OCX at the end."""
    conn = ocx.connect("demo")
    flavor = conn.compute.find_flavor(real_clouds.flavor, ignore_missing=False)
    since = ocx.log_size()
    server = conn.compute.create_server(name="a-server-of-b-image", image_id=image_of_b.id,
                                        flavor_id=flavor.id,
                                        networks=[{"uuid": network_of_a.id}])
    try:
        server = conn.compute.wait_for_server(server, wait=180)
        yield Booted(server, since)
    finally:
        conn.compute.delete_server(server, ignore_missing=True)
        in_a.compute.wait_for_delete(server, wait=120)


def glance_lines(cloud, image_id: str, status: int) -> list[str]:
    """The lines of ``cloud``'s Glance log for a GET of the image answered ``status``."""
    return [line for line in cloud.log("glance").read_text(errors="replace").splitlines()
            if f'"GET /v2/images/{image_id} ' in line and f'" {status} ' in line]


def test_a_server_of_a_boots_from_an_image_that_lives_in_b(real_clouds, ocx, in_a,
                                                           booted_from_b, image_of_b):
    server = booted_from_b.server
    assert server.status == "ACTIVE"
    assert server.image.id == image_of_b.id
    assert in_a.compute.get_server(server.id).status == "ACTIVE"  # A's own Nova has it
    # A's Nova read the image through OCX, and B's Glance served it for the create request:
    # one request id follows the call, the one OCX gave Nova with the create (oslo.context's
    # global_request_id), which Nova sent on with its read and OCX passed on to B's Glance.
    assert logged(ocx, booted_from_b.since, f"GET /image/v2/images/{image_of_b.id} 200")
    [create_id] = ocx.passed_on(booted_from_b.since, "POST /compute/v2.1/servers 202")
    assert [line for line in glance_lines(real_clouds.b, image_of_b.id, 200)
            if create_id in line]
    # The image never existed in A: A's Glance never served it, A's admin does not see it.
    assert glance_lines(real_clouds.a, image_of_b.id, 200) == []
    a_admin = openstack.connection.Connection(region_name=REGION,
                                              **real_clouds.auth(real_clouds.a))
    assert a_admin.image.find_image(image_of_b.id) is None
    [port] = in_a.network.ports(device_id=server.id)  # A's network, Neutron directly
    assert port.binding_vif_type != "binding_failed"


@pytest.fixture
def volume_of_b(in_b) -> Iterator[openstack.block_storage.v3.volume.Volume]:
    """A volume made in B's project; deleted in B at the end (detached first if need be)."""
    volume = wait_for_volume(in_b, in_b.block_storage.create_volume(name="b-mix-volume",
                                                                    size=1))
    try:
        yield volume
    finally:
        in_b.block_storage.delete_volume(volume, ignore_missing=True)


def test_a_volume_of_b_is_attached_to_a_server_of_a_by_the_real_nova_and_detached(
        real_clouds, ocx, in_a, in_b, booted_from_b, volume_of_b):
    server = booted_from_b.server
    project_of_a = in_a.current_project_id
    since = ocx.log_size()
    openstack_cli(real_clouds, "server", "add", "volume", server.id, volume_of_b.id)
    # B's Cinder says so, asked directly: in use, attached to A's server.
    volume = wait_for_volume(in_b, volume_of_b, "in-use", timeout=120)
    [attachment] = volume.attachments
    assert attachment["server_id"] == server.id
    # A's Nova made the attachment and gave it its connector through OCX (with A's
    # project in the path, as A's Nova knows it); the attachment exists in B only.
    path = f"/volume/v3/{project_of_a}/attachments"
    assert logged(ocx, since, f"POST {path} 200")
    assert logged(ocx, since, f"PUT {path}/{attachment['attachment_id']} 200")
    assert in_b.block_storage.get_attachment(attachment["attachment_id"]).instance == server.id
    assert [a.volume_id for a in in_a.compute.volume_attachments(server)] == [volume_of_b.id]
    assert in_a.block_storage.find_volume(volume_of_b.id) is None  # A never had it

    since = ocx.log_size()
    openstack_cli(real_clouds, "server", "remove", "volume", server.id, volume_of_b.id)
    assert wait_for_volume(in_b, volume_of_b, timeout=120).attachments == []
    # Nova's detach: B's Cinder deletes an attachment in use only for a service (bug
    # 2004555); OCX vouched for A's Nova with a service token of its own at B.
    assert logged(ocx, since, f"DELETE {path}/{attachment['attachment_id']} 200")
    # Nova forgets its side of the attachment once B's Cinder has deleted its own.
    deadline = time.monotonic() + 60
    while list(in_a.compute.volume_attachments(server)):
        assert time.monotonic() < deadline, "A's Nova still lists the volume as attached"
        time.sleep(0.5)
