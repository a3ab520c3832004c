"""``ocx demo`` with the real ``openstack`` command: one endpoint for the resources of every cloud.

Resources are made directly in each of the three clouds (``--os-cloud home|sp1|sp2``), then
shown, renamed and deleted through OCX (``--os-cloud ocx``), and the effect is checked directly
in the cloud they live in. Creates through OCX land in the home cloud, or, with the provider
header, in the named cloud. Resources are named by id here; listings over every cloud are
shown in ``test_demo_listings.py``.
"""
from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pytest
import requests
from openstack import exceptions as os_exc

from tests.integration.observability.test_status_page import (browser, log_in, states,
                                                               states_once)

from .demo_fixture import Demo, run_demo, wait_until_gone

__all__ = ["browser"]   # the fixture, shared with the status page's own test

CLOUDS = ("home", "sp1", "sp2")
KINDS = ("server", "volume", "image", "network", "port")
SERVICES = ("nova", "cinder", "glance", "neutron")
TINY = "42"  # m1.nano


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Iterator[Demo]:
    with run_demo(tmp_path_factory.mktemp("demo")) as running:
        yield running


@dataclass
class Made:
    """One resource of each kind in one cloud (kind → id, kind → name) and the image's data."""

    cloud: str
    ids: dict[str, str]
    names: dict[str, str]
    image_data: bytes


def make_resources(conn, cloud: str, tag: str) -> Made:
    names = {kind: f"{tag}-{kind}-{cloud}" for kind in KINDS}
    data = os.urandom(4096)
    image = conn.image.create_image(name=names["image"], disk_format="raw",
                                    container_format="bare", data=data)
    network = conn.network.create_network(name=names["network"])
    port = conn.network.create_port(name=names["port"], network_id=network.id)
    volume = conn.block_storage.create_volume(size=1, name=names["volume"])
    server = conn.compute.create_server(name=names["server"], flavor_id=TINY,
                                        image_id=image.id, networks="none")
    conn.block_storage.wait_for_status(volume, "available", interval=0.05, wait=30)
    conn.compute.wait_for_server(server, interval=0.05, wait=30)
    ids = {"server": server.id, "volume": volume.id, "image": image.id,
           "network": network.id, "port": port.id}
    return Made(cloud, ids, names, data)


def make_everywhere(demo: Demo, tag: str) -> dict[str, Made]:
    """Resources of every kind made directly in each cloud, the clouds side by side."""
    with ThreadPoolExecutor(len(CLOUDS)) as pool:
        made = pool.map(lambda cloud: make_resources(demo.connect(cloud), cloud, tag), CLOUDS)
        return dict(zip(CLOUDS, made, strict=True))


def fetchers(conn) -> dict:
    return {"server": conn.compute.get_server, "volume": conn.block_storage.get_volume,
            "image": conn.image.get_image, "network": conn.network.get_network,
            "port": conn.network.get_port}


def test_resources_of_every_cloud_are_shown_and_renamed_through_ocx(demo, tmp_path):
    made = make_everywhere(demo, "rename")
    shows = [f"{kind} show {m.ids[kind]} -f json" for m in made.values() for kind in KINDS]
    renames = [f"{kind} set --name {m.names[kind]}-renamed {m.ids[kind]}"
               for m in made.values() for kind in KINDS]
    saves = [f"image save --file {tmp_path / m.cloud} {m.ids['image']}" for m in made.values()]
    printed = demo.openstack("ocx", *shows, *renames, *shows, *saves)

    before, after = printed[:len(shows)], printed[len(shows):]
    expected = [(m.ids[kind], m.names[kind]) for m in made.values() for kind in KINDS]
    assert [(doc["id"], doc["name"]) for doc in before] == expected
    assert [(doc["id"], doc["name"]) for doc in after] == \
        [(rid, f"{name}-renamed") for rid, name in expected]
    for cloud, m in made.items():
        direct = fetchers(demo.connect(cloud))
        assert {kind: direct[kind](m.ids[kind]).name for kind in KINDS} == \
            {kind: f"{m.names[kind]}-renamed" for kind in KINDS}
        assert (tmp_path / cloud).read_bytes() == m.image_data


def test_resources_of_every_cloud_are_deleted_through_ocx(demo):
    made = make_everywhere(demo, "delete")
    order = ("server", "volume", "image", "port", "network")  # a port before its network
    assert demo.openstack("ocx", *(f"{kind} delete {m.ids[kind]}"
                                   for m in made.values() for kind in order)) == []
    for cloud, m in made.items():
        direct = fetchers(demo.connect(cloud))
        for kind in KINDS:
            wait_until_gone(direct[kind], m.ids[kind])
    # OCX, which had learned where they lived, finds them nowhere now.
    through = fetchers(demo.connect("ocx"))
    for m in made.values():
        for kind in KINDS:
            with pytest.raises(os_exc.NotFoundException):
                through[kind](m.ids[kind])


def test_resources_created_through_ocx_land_in_the_home_cloud(demo, tmp_path):
    disk = tmp_path / "disk.raw"
    disk.write_bytes(os.urandom(70_000))
    printed = demo.openstack(
        "ocx",
        f"image create --disk-format raw --container-format bare --file {disk} cli-image "
        "-f json",
        "network create cli-network -f json",
        "port create --network cli-network cli-port -f json",
        "volume create --size 1 cli-volume -f json",
        "server create --flavor m1.nano --image cli-image --nic none cli-server -f json")
    made = dict(zip(("image", "network", "port", "volume", "server"), printed, strict=True))
    assert made["image"]["checksum"] == hashlib.md5(disk.read_bytes()).hexdigest()
    assert made["port"]["network_id"] == made["network"]["id"]

    home = demo.connect("home")
    direct = fetchers(home)
    assert {kind: direct[kind](made[kind]["id"]).name for kind in KINDS} == \
        {kind: f"cli-{kind}" for kind in KINDS}
    assert home.image.download_image(made["image"]["id"]).content == disk.read_bytes()
    for cloud in ("sp1", "sp2"):
        elsewhere = fetchers(demo.connect(cloud))
        for kind in KINDS:
            with pytest.raises(os_exc.NotFoundException):
                elsewhere[kind](made[kind]["id"])


@pytest.mark.parametrize("header, cloud", [("X-OCX-Provider", "sp1"),
                                           ("MM-SERVICE-PROVIDER", "sp2")])
def test_creates_that_name_a_provider_land_there_and_are_then_reached_directly(
        demo, header, cloud):
    made = make_resources(demo.connect("ocx", headers={header: cloud}), cloud, "named")

    there = demo.connect(cloud)
    direct = fetchers(there)
    assert {kind: direct[kind](made.ids[kind]).name for kind in KINDS} == made.names
    assert there.image.download_image(made.ids["image"]).content == made.image_data
    assert there.compute.get_server(made.ids["server"]).image["id"] == made.ids["image"]

    # OCX learned where they were created: a client that names no provider reaches them
    # without asking the other service provider.
    other = "sp2" if cloud == "sp1" else "sp1"
    through = fetchers(demo.connect("ocx"))
    demo.reset_calls(other)
    assert {kind: through[kind](made.ids[kind]).name for kind in KINDS} == made.names
    assert not set(demo.calls(other)) & set(SERVICES)


def test_the_demo_joins_clouds_through_their_own_ocxs(demo):
    """Seed 000's topology as the demo runs it: a server made in sp1 (``NAME@sp1``) from an
    image of sp2, and a volume of sp2 attached to it, with the unmodified client through OCX.
    sp1's Nova reads the image and attaches the volume through sp1's own OCX."""
    sp2 = demo.connect("sp2")
    image = sp2.image.create_image(name="peered-image", disk_format="raw",
                                   container_format="bare", data=os.urandom(4096))
    server, volume = demo.openstack(
        "ocx",
        f"server create --flavor m1.nano --image {image.id} --nic none peered-vm@sp1 -f json",
        "volume create --size 1 peered-data@sp2 -f json")
    try:
        assert (server["name"], volume["name"]) == ("peered-vm", "peered-data")
        sp1 = demo.connect("sp1").compute
        booted = sp1.wait_for_server(sp1.get_server(server["id"]), interval=0.1, wait=30)
        assert booted.image["id"] == image.id
        sp2.block_storage.wait_for_status(sp2.block_storage.get_volume(volume["id"]),
                                          "available", interval=0.1, wait=30)
        demo.openstack("ocx", f"server add volume {server['id']} {volume['id']} -f json")
        attached = sp2.block_storage.wait_for_status(
            sp2.block_storage.get_volume(volume["id"]), "in-use", interval=0.1, wait=30)
        assert [a["server_id"] for a in attached.attachments] == [server["id"]]
    finally:
        # Deleted through OCX: sp1's Nova detaches the volume through sp1's OCX first.
        demo.openstack("ocx", f"server delete {server['id']}")
        sp2.block_storage.wait_for_status(sp2.block_storage.get_volume(volume["id"]),
                                          "available", interval=0.1, wait=30)
        demo.openstack("ocx", f"volume delete {volume['id']}")
        sp2.image.delete_image(image.id)


def test_the_demo_serves_a_controller_landlords_networking(demo):
    """``ctl``'s networking is two SDN controllers (seed 003): a network, subnet and port
    made there through OCX with the unmodified client, held by the controllers, listed with
    the other clouds' networks; the fault switch stops the primary and the next write still
    lands."""
    urls = demo.described["services"]["ctl"]["controller"]
    assert len(urls) == 2
    network, = demo.openstack("ocx", "network create blue@ctl -f json")
    try:
        subnet, port = demo.openstack(
            "ocx", f"subnet create --network {network['id']} --subnet-range 10.50.0.0/24 "
                   "blue-sub -f json",
            f"port create --network {network['id']} blue-port -f json")
        assert port["fixed_ips"][0]["subnet_id"] == subnet["id"]
        listed, = demo.openstack("ocx", "network list -f json")
        assert network["id"] in {n["ID"] for n in listed}
        control = f"{demo.described['control']}/clouds/ctl/controllers"
        held = requests.get(f"{control}/0", timeout=10).json()
        assert [n["id"] for n in held["networks"]] == [network["id"]]
        requests.post(f"{control}/0/stop", timeout=10).raise_for_status()
        try:
            second, = demo.openstack("ocx", f"port create --network {network['id']} "
                                            "second-port -f json")
            standby = requests.get(f"{control}/1", timeout=10).json()
            assert second["id"] in {p["id"] for n in standby["networks"] for p in n["ports"]}
        finally:
            requests.post(f"{control}/0/start", timeout=10).raise_for_status()
        demo.openstack("ocx", f"port delete {port['id']}", f"port delete {second['id']}",
                       f"subnet delete {subnet['id']}")
    finally:
        demo.openstack("ocx", f"network delete {network['id']}")


def test_the_status_page_of_the_demo_shows_every_landlord_and_a_cloud_going_down(
        demo, browser, tmp_path):
    """Issue 13: the status page in Debian's headless Chromium against ``ocx demo``, as the
    demo's admin (``ocx-admin`` in its clouds.yaml): every provider with its state; sp2's
    Cinder stopped with the fault switch, and its state changes."""
    admin = demo._config.get_one("ocx-admin").auth
    creds = {"username": admin["username"], "password": admin["password"],
             "project_name": admin["project_name"]}
    list(demo.connect("ocx").block_storage.volumes())   # traffic, for the charts
    log_in(browser, demo.url, creds)
    seen = states(browser)
    assert set(seen) >= {"home", "sp1", "sp2", "ctl"}, browser.page_source[:2000]
    # every landlord up: a controller the test before stopped and started again is taken
    # back at the next probe ([DEFAULT] health_probe_interval, 10 s)
    states_once(browser, lambda seen: all(s == "up" for s in seen.values()), timeout=30)
    browser.save_screenshot(str(tmp_path / "demo-status-up.png"))
    control = f"{demo.described['control']}/clouds/sp2/faults"
    requests.patch(control, json={"down": {"cinder": True}}, timeout=10).raise_for_status()
    try:
        seen = states_once(  # each time some traffic: OCX finds sp2's Cinder down
            browser, lambda seen: seen.get("sp2") != "up", timeout=60,
            before=lambda: list(demo.connect("ocx").block_storage.volumes()))
        assert seen["sp2"] in ("degraded", "down") and seen["sp1"] == "up", seen
        browser.save_screenshot(str(tmp_path / "demo-status-sp2-down.png"))
    finally:
        requests.patch(control, json={"down": {"cinder": False}}, timeout=10)
