"""Seed 004, "boot an image of one cloud in another": a server created in sp1 from an image
that lives in sp2 boots; sp1's Nova reads the image through sp1's OCX."""
from __future__ import annotations

import openstack
from keystoneauth1 import session as ks_session
from keystoneauth1.identity import v3


def through_ocx_to(exchange, provider: str) -> openstack.connection.Connection:
    """openstacksdk through the user's OCX, creates sent to ``provider`` (X-OCX-Provider)."""
    session = ks_session.Session(auth=v3.Password(**exchange.sim.auth_args("home")),
                                 additional_headers={"X-OCX-Provider": provider})
    return openstack.connection.Connection(session=session, region_name="RegionOne",
                                           interface="public", identity_api_version="3")


def test_a_server_boots_in_sp1_from_an_image_of_sp2(exchange):
    sp2 = exchange.connect("sp2")
    image = sp2.image.create_image(name="sp2-image", disk_format="raw",
                                   container_format="bare", data=b"\0" * 4096)
    conn = through_ocx_to(exchange, "sp1")
    server = conn.compute.create_server(name="from-sp2", flavor_id="42", image_id=image.id,
                                        networks="none")
    try:
        server = conn.compute.wait_for_server(server, interval=0.2, wait=60)
        assert server.status == "ACTIVE"
        in_sp1 = exchange.connect("sp1").compute.get_server(server.id)
        assert in_sp1.image["id"] == image.id
        # The image stayed where it was: sp1's Glance never had it.
        assert exchange.connect("sp1").image.find_image(image.id) is None
    finally:
        conn.compute.delete_server(server.id, ignore_missing=True)
        sp2.image.delete_image(image.id, ignore_missing=True)


def test_without_the_injection_sp1s_nova_cannot_see_the_image(exchange):
    """The same boot sent straight to sp1 (no user's OCX, so nothing injected) is refused:
    what made the other one work is the injection."""
    sp2 = exchange.connect("sp2")
    image = sp2.image.create_image(name="sp2-only", disk_format="raw",
                                   container_format="bare", data=b"\0" * 4096)
    try:
        sp1 = exchange.connect("sp1")
        try:
            sp1.compute.create_server(name="nope", flavor_id="42", image_id=image.id,
                                      networks="none")
        except openstack.exceptions.HttpException as exc:
            assert exc.status_code in (400, 404)
        else:
            raise AssertionError("sp1's Nova booted an image it cannot reach")
    finally:
        sp2.image.delete_image(image.id, ignore_missing=True)
