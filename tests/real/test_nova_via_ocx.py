"""A's Nova reaches Glance and Cinder only through A's OCX (nova.conf: ``[glance]
endpoint_override``, ``[cinder] endpoint_template``; Neutron and Placement directly): a server
boots from A's own image with Nova reading it through OCX, and Nova attaches and detaches a
volume of A through OCX, which passes Nova's service token on to A's Cinder.

The user works with A directly (region RegionOne): every call OCX logs while Nova works is
Nova's.
"""
from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

import openstack
import pytest
import requests

from .test_clouds import wait_for_volume

pytestmark = pytest.mark.timeout(1200)


@dataclass
class Booted:
    server: openstack.compute.v2.server.Server
    request_id: str   # Nova's, of the create request
    since: int        # where OCX's log stood before the create


def logged(ocx, since: int, call: str, timeout: float = 10) -> bool:
    """OCX logged ``call`` after ``since``. It logs a call once it has answered it, so the
    service may have done the work (and the client seen it) a moment before."""
    deadline = time.monotonic() + timeout
    while call not in ocx.calls(since):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


@pytest.fixture(scope="module")
def image(in_a) -> Iterator[openstack.image.v2.image.Image]:
    made = in_a.image.create_image(name="a-server-image", disk_format="raw",
                                   container_format="bare", data=b"\0" * 4096)
    try:
        yield made
    finally:
        in_a.image.delete_image(made, ignore_missing=True)


@pytest.fixture(scope="module")
def booted(real_clouds, ocx, in_a, image, network_of_a) -> Iterator[Booted]:
    """A server of A booted from ``image`` on ``network_of_a``, ACTIVE; deleted at the end."""
    flavor = in_a.compute.find_flavor(real_clouds.flavor, ignore_missing=False)
    since = ocx.log_size()
    server = in_a.compute.create_server(name="a-server", image_id=image.id,
                                        flavor_id=flavor.id, networks=[{"uuid": network_of_a.id}])
    try:
        server = in_a.compute.wait_for_server(server, wait=120)
        [created] = [action for action in in_a.compute.server_actions(server)
                     if action.action == "create"]
        yield Booted(server, created.request_id, since)
    finally:
        in_a.compute.delete_server(server)
        in_a.compute.wait_for_delete(server, wait=60)


def test_a_server_of_a_boots_from_its_own_image_read_by_nova_through_ocx(real_clouds, ocx,
                                                                          booted, image, in_a):
    assert booted.server.status == "ACTIVE"
    assert booted.server.image.id == image.id
    assert logged(ocx, booted.since, f"GET /image/v2/images/{image.id} 200")
    # Glance served that read for Nova's create request: it takes the request id of the
    # caller, Nova's, which OCX passed on.
    glance = real_clouds.a.log("glance").read_text().splitlines()
    assert [line for line in glance
            if booted.request_id in line and f'"GET /v2/images/{image.id} ' in line]
    [port] = in_a.network.ports(device_id=booted.server.id)  # Neutron: directly
    assert port.binding_vif_type != "binding_failed"


def test_nova_attaches_and_detaches_a_volume_of_a_through_ocx(booted, in_a, ocx):
    project = in_a.current_project_id
    volume = wait_for_volume(in_a, in_a.block_storage.create_volume(name="a-nova-volume",
                                                                    size=1))
    try:
        since = ocx.log_size()
        in_a.compute.create_volume_attachment(booted.server, volume_id=volume.id)
        [attachment] = wait_for_volume(in_a, volume, "in-use").attachments
        assert attachment["server_id"] == booted.server.id
        path = f"/volume/v3/{project}/attachments/{attachment['attachment_id']}"
        assert logged(ocx, since, f"POST /volume/v3/{project}/attachments 200")
        assert logged(ocx, since, f"PUT {path} 200")  # nova-compute: the connector
        # Cinder deletes an attachment in use only when a service asks (bug 2004555): the
        # user alone is refused, through OCX too; Nova's detach then shows OCX passes
        # Nova's service token on.
        alone = requests.delete(ocx.url + path, timeout=30, headers={
            "X-Auth-Token": in_a.session.get_token(), "OpenStack-API-Version": "volume 3.44"})
        assert alone.status_code == 409, alone.text
        assert wait_for_volume(in_a, volume, "in-use").attachments
        since = ocx.log_size()
        in_a.compute.delete_volume_attachment(booted.server, volume)
        assert wait_for_volume(in_a, volume).attachments == []
        assert logged(ocx, since, f"DELETE {path} 200")
    finally:
        in_a.block_storage.delete_volume(volume, ignore_missing=True)
