"""The simulated Nova, driven by openstacksdk, the ``openstack`` command and raw HTTP.

Servers build on a real simulated cloud: Nova checks images in Glance, makes ports in Neutron and
volumes and attachments in Cinder over HTTP, with the caller's token, as the real Nova does.
"""
from __future__ import annotations

import asyncio
import contextlib
import os
import uuid

import aio_pika
import openstack
import orjson
import pytest
import requests
from aiohttp import ClientSession, web

FAST = {"wait": 30, "interval": 0.05}   # status changes take a fraction of a second here


class NovaUser:
    """One cloud of the exchange seen by its demo user (and its admin), with raw HTTP too."""

    def __init__(self, sim, cloud: str = "idp") -> None:
        self.sim = sim
        self.cloud = sim.cloud(cloud)
        self.demo = sim.connect(cloud)
        self.admin = sim.connect(cloud, user="admin")
        self.url = self.cloud.services["nova"].base_url
        self.project_id = self.demo.current_project_id
        self._created: list[str] = []

    def call(self, method: str, path: str, *, conn=None, version: str | None = None,
             headers: dict | None = None, **kwargs) -> requests.Response:
        sent = {"X-Auth-Token": (conn or self.demo).session.get_token(), **(headers or {})}
        if version:
            sent["OpenStack-API-Version"] = f"compute {version}"
        return requests.request(method, self.url + path, headers=sent, timeout=30, **kwargs)

    def boot(self, name: str, *, wait: bool = True, **attrs):
        attrs.setdefault("flavor_id", "42")
        attrs.setdefault("networks", "none")
        server = self.demo.compute.create_server(name=name, **attrs)
        self._created.append(server.id)
        return self.demo.compute.wait_for_server(server, **FAST) if wait else server

    def delete_all(self) -> None:
        """Delete the servers this user booted, and wait until they are gone."""
        deleting = []
        for server_id in self._created:
            with contextlib.suppress(openstack.exceptions.NotFoundException):
                server = self.demo.compute.get_server(server_id)
                self.demo.compute.delete_server(server)
                deleting.append(server)
        for server in deleting:
            self.demo.compute.wait_for_delete(server, **FAST)
        self._created.clear()

    @contextlib.contextmanager
    def slow_tasks(self, seconds: float = 1.0):
        """Builds and power actions that last long enough to be seen halfway."""
        self.cloud.settings["nova.task_seconds"] = str(seconds)
        try:
            yield
        finally:
            self.cloud.settings.pop("nova.task_seconds", None)

    def wait_volume(self, volume_id: str, status: str):
        return self.demo.block_storage.wait_for_status(
            self.demo.block_storage.get_volume(volume_id), status, **FAST)


@pytest.fixture(scope="module")
def cloud(sim, tmp_path_factory):
    """The home cloud with an image and a network for the demo project."""
    user = NovaUser(sim)
    disk = tmp_path_factory.mktemp("nova") / "disk.raw"
    disk.write_bytes(b"\0" * 4096)
    user.image = user.demo.create_image("cirros-sim", filename=str(disk), disk_format="raw",
                                        container_format="bare", wait=True)
    user.network = user.demo.network.create_network(name="private")
    user.demo.network.create_subnet(network_id=user.network.id, ip_version=4,
                                    cidr="10.20.0.0/24", name="private-v4")
    return user


@pytest.fixture
def nova(cloud):
    yield cloud
    cloud.delete_all()


# -- version documents and microversions -----------------------------------------------------

def test_the_root_and_the_version_documents_need_no_token(nova):
    root = requests.get(nova.url + "/", timeout=10)
    assert root.status_code == 200
    assert "OpenStack-API-Version" not in root.headers  # outside the microversioned API
    versions = {v["id"]: v for v in root.json()["versions"]}
    assert versions["v2.0"] == {"id": "v2.0", "status": "DEPRECATED", "version": "",
                                "min_version": "", "updated": "2025-07-04T12:00:00Z",
                                "links": [{"rel": "self", "href": nova.url + "/v2/"}]}
    assert versions["v2.1"] == {"id": "v2.1", "status": "CURRENT", "version": "2.103",
                                "min_version": "2.1", "updated": "2013-07-23T11:33:21Z",
                                "links": [{"rel": "self", "href": nova.url + "/v2.1/"}]}
    for path in ("/v2.1", "/v2.1/"):
        resp = requests.get(nova.url + path, timeout=10)
        doc = resp.json()["version"]
        assert (doc["id"], doc["min_version"], doc["version"]) == ("v2.1", "2.1", "2.103")
        assert doc["links"][0] == {"rel": "self", "href": nova.url + "/v2.1/"}
        assert resp.headers["OpenStack-API-Version"] == "compute 2.1"
    for path in ("/v2", "/v2/"):
        resp = requests.get(nova.url + path, timeout=10)
        assert resp.json()["version"]["id"] == "v2.0" and resp.json()["version"][
            "links"][0] == {"rel": "self", "href": nova.url + "/v2/"}
        assert "OpenStack-API-Version" not in resp.headers


def test_the_version_document_under_the_project_needs_a_token(nova):
    path = f"/v2.1/{nova.project_id}/"
    assert requests.get(nova.url + path, timeout=10).status_code == 401
    assert nova.call("GET", path).json()["version"]["id"] == "v2.1"
    missing = nova.call("GET", path.rstrip("/"))  # no route: the router's WebOb 404
    assert missing.status_code == 404 and missing.headers["Content-Type"] == \
        "text/html; charset=UTF-8"
    assert "OpenStack-API-Version" not in missing.headers
    assert nova.call("GET", "/v2.1/servers/").status_code == 404


def test_faults_name_their_charset_and_a_refused_version(nova):
    too_new = nova.call("GET", "/v2.1/flavors", version="2.200")
    assert too_new.headers["Content-Type"] == "application/json; charset=UTF-8"
    assert too_new.headers["OpenStack-API-Version"] == "compute 2.200"
    assert too_new.headers["X-OpenStack-Nova-API-Version"] == "2.200"
    garbled = nova.call("GET", "/v2.1/flavors", version="2.x")
    assert "OpenStack-API-Version" not in garbled.headers
    assert nova.call("GET", "/v2.1/flavors").headers["Content-Type"] == "application/json"


def test_start_and_stop_miss_a_server_by_its_cell_mapping(nova):
    missing = str(uuid.uuid4())
    for action, message in (("os-stop", "has no mapping to a cell."),
                            ("os-start", "has no mapping to a cell."),
                            ("lock", "could not be found.")):
        resp = nova.call("POST", f"/v2.1/servers/{missing}/action", json={action: None})
        assert resp.json() == {"itemNotFound": {
            "code": 404, "message": f"Instance {missing} {message}"}}


def test_microversions_are_echoed_and_out_of_range_ones_refused(nova):
    plain = nova.call("GET", "/v2.1/flavors")
    assert plain.headers["OpenStack-API-Version"] == "compute 2.1"
    assert plain.headers["X-OpenStack-Nova-API-Version"] == "2.1"
    assert "OpenStack-API-Version" in plain.headers["Vary"]
    assert plain.headers["x-openstack-request-id"].startswith("req-")
    assert plain.headers["X-Compute-Request-Id"] == plain.headers["x-openstack-request-id"]
    missing = nova.call("GET", "/v2.1/flavors/nope", version="2.60")
    assert missing.status_code == 404
    assert missing.headers["OpenStack-API-Version"] == "compute 2.60"  # errors carry it too
    assert nova.call("GET", "/v2.1/flavors", version="2.60").headers[
        "OpenStack-API-Version"] == "compute 2.60"
    assert nova.call("GET", "/v2.1/flavors", version="latest").headers[
        "OpenStack-API-Version"] == "compute 2.103"
    legacy = nova.call("GET", "/v2.1/flavors", headers={"X-OpenStack-Nova-API-Version": "2.5"})
    assert legacy.headers["X-OpenStack-Nova-API-Version"] == "2.5"
    too_new = nova.call("GET", "/v2.1/flavors", version="2.200")
    assert too_new.status_code == 406
    assert too_new.json() == {"computeFault": {
        "code": 406, "message": "Version 2.200 is not supported by the API. Minimum is 2.1 and "
                                "maximum is 2.103."}}
    garbled = nova.call("GET", "/v2.1/flavors", version="2.x")
    assert garbled.status_code == 400
    assert garbled.json()["badRequest"]["message"] == (
        "API Version String 2.x is of invalid format. Must be of format MajorNum.MinorNum.")


def test_paths_work_with_and_without_the_project_id(nova):
    with_project = nova.call("GET", f"/v2.1/{nova.project_id}/flavors")
    assert with_project.status_code == 200
    link = with_project.json()["flavors"][0]["links"][0]["href"]
    assert link == f"{nova.url}/v2.1/{nova.project_id}/flavors/1"
    assert nova.call("GET", "/v2.1/flavors").json()["flavors"][0]["links"][1]["href"] == (
        f"{nova.url}/flavors/1")
    other = uuid.uuid4().hex
    wrong = nova.call("GET", f"/v2.1/{other}/servers")
    assert wrong.status_code == 400
    assert wrong.json()["badRequest"]["message"] == (
        f"Malformed request URL: URL's project_id '{other}' doesn't match Context's "
        f"project_id '{nova.project_id}'")
    assert nova.call("GET", "/v2.1/servers", headers={"X-Auth-Token": "bad"}).status_code == 401


# -- flavors, key pairs, zones, limits --------------------------------------------------------

def test_flavors_as_the_sdk_and_the_microversions_see_them(nova):
    flavors = {f.name: f for f in nova.demo.compute.flavors()}
    assert {"m1.tiny", "m1.small", "m1.medium", "m1.large"} <= set(flavors)
    tiny = nova.demo.compute.get_flavor("1")
    assert (tiny.name, tiny.ram, tiny.disk, tiny.vcpus, tiny.is_public) == (
        "m1.tiny", 512, 1, 1, True)
    old = nova.call("GET", "/v2.1/flavors/1").json()["flavor"]
    assert old["swap"] == "" and "description" not in old and "extra_specs" not in old
    new = nova.call("GET", "/v2.1/flavors/1", version="2.75").json()["flavor"]
    assert new["swap"] == 0 and new["description"] is None and new["extra_specs"] == {}
    first = nova.call("GET", "/v2.1/flavors/detail?limit=2").json()
    assert [f["id"] for f in first["flavors"]] == ["1", "2"]
    assert first["flavors_links"][0]["href"].endswith("/flavors/detail?limit=2&marker=2")
    big = nova.call("GET", "/v2.1/flavors?minRam=4096").json()["flavors"]
    assert {f["name"] for f in big} == {"m1.medium", "m1.large", "m1.xlarge"}
    missing = nova.call("GET", "/v2.1/flavors/nope")
    assert missing.status_code == 404
    assert missing.json() == {"itemNotFound": {"code": 404,
                                               "message": "Flavor nope could not be found."}}
    assert nova.call("GET", "/v2.1/flavors?marker=nope").json()["badRequest"]["message"] == (
        "marker [nope] not found")


def test_key_pairs_imported_and_generated(nova):
    generated = nova.demo.compute.create_keypair(name="made-by-nova")
    assert generated.private_key.startswith("-----BEGIN RSA PRIVATE KEY-----")
    assert generated.public_key.startswith("ssh-rsa ")
    assert generated.type == "ssh"
    imported = nova.demo.compute.create_keypair(name="mine",
                                                public_key=generated.public_key)
    assert imported.fingerprint == generated.fingerprint and imported.private_key is None
    assert {k.name for k in nova.demo.compute.keypairs()} >= {"made-by-nova", "mine"}
    shown = nova.demo.compute.get_keypair("mine")
    assert shown.user_id == nova.demo.current_user_id
    again = nova.call("POST", "/v2.1/os-keypairs",
                      json={"keypair": {"name": "mine", "public_key": generated.public_key}})
    assert again.status_code == 409
    assert again.json()["conflictingRequest"]["message"] == "Key pair 'mine' already exists."
    no_key = nova.call("POST", "/v2.1/os-keypairs", version="2.92",
                       json={"keypair": {"name": "keyless"}})
    assert no_key.status_code == 400
    assert "'public_key' is a required property" in no_key.json()["badRequest"]["message"]
    bad_key = nova.call("POST", "/v2.1/os-keypairs",
                        json={"keypair": {"name": "junk", "public_key": "ssh-rsa junk"}})
    assert bad_key.json()["badRequest"]["message"] == (
        "Keypair data is invalid: failed to generate fingerprint")
    for name in ("made-by-nova", "mine"):
        nova.demo.compute.delete_keypair(name)
    gone = nova.call("GET", "/v2.1/os-keypairs/mine")
    assert gone.json()["itemNotFound"]["message"] == (
        f"Keypair mine not found for user {nova.demo.current_user_id}")


def test_zones_and_limits(nova):
    zones = list(nova.demo.compute.availability_zones())
    assert [(z.name, z.state) for z in zones] == [("nova", {"available": True})]
    detail = list(nova.admin.compute.availability_zones(details=True))
    assert {z.name for z in detail} == {"nova", "internal"}
    assert nova.call("GET", "/v2.1/os-availability-zone/detail").status_code == 403
    limits = nova.demo.compute.get_limits()
    assert limits.absolute.instances == 10 and limits.absolute.total_cores == 20
    old = nova.call("GET", "/v2.1/limits").json()["limits"]["absolute"]
    assert "maxPersonality" in old and "maxSecurityGroups" in old
    new = nova.call("GET", "/v2.1/limits", version="2.57").json()["limits"]["absolute"]
    assert "maxPersonality" not in new and "maxSecurityGroups" not in new


# -- servers ----------------------------------------------------------------------------------

def test_a_server_builds_gets_a_port_and_is_deleted_with_it(nova):
    nova.demo.compute.create_keypair(name="boot-key")
    try:
        with nova.slow_tasks():
            server = nova.boot("web-1", wait=False, image_id=nova.image.id, flavor_id="1",
                               networks=[{"uuid": nova.network.id}], key_name="boot-key",
                               metadata={"role": "web"})
        assert server.admin_password
        assert nova.demo.compute.get_server(server).status == "BUILD"
        server = nova.demo.compute.wait_for_server(server, **FAST)
    finally:
        nova.demo.compute.delete_keypair("boot-key")
    assert (server.status, server.vm_state, server.task_state, server.power_state) == (
        "ACTIVE", "active", None, 1)
    assert server.key_name == "boot-key" and server.metadata == {"role": "web"}
    assert server.flavor.original_name == "m1.tiny" and server.image.id == nova.image.id
    assert server.security_groups == [{"name": "default"}]
    [address] = server.addresses["private"]
    port = next(nova.demo.network.ports(device_id=server.id))
    assert address["addr"] == port.fixed_ips[0]["ip_address"]
    assert address["OS-EXT-IPS-MAC:mac_addr"] == port.mac_address
    assert port.device_owner == "compute:nova"
    renamed = nova.demo.compute.update_server(server, name="web-one")
    assert renamed.name == "web-one"
    assert nova.demo.compute.get_server(server.id).name == "web-one"
    nova.demo.compute.delete_server(server)
    nova.demo.compute.wait_for_delete(server, **FAST)
    assert list(nova.demo.network.ports(device_id=server.id)) == []
    missing = nova.call("GET", f"/v2.1/servers/{server.id}")
    assert missing.json() == {"itemNotFound": {
        "code": 404, "message": f"Instance {server.id} could not be found."}}


def test_power_actions_move_through_task_states(nova):
    server = nova.boot("switch", image_id=nova.image.id)
    compute = nova.demo.compute
    with nova.slow_tasks():
        compute.stop_server(server)
    assert compute.get_server(server).task_state == "powering-off"
    server = compute.wait_for_server(server, status="SHUTOFF", **FAST)
    assert server.power_state == 4
    again = nova.call("POST", f"/v2.1/servers/{server.id}/action", json={"os-stop": None})
    assert again.status_code == 409
    assert again.json()["conflictingRequest"]["message"] == (
        f"Cannot 'stop' instance {server.id} while it is in vm_state stopped")
    compute.start_server(server)
    server = compute.wait_for_server(server, status="ACTIVE", **FAST)
    with nova.slow_tasks():
        compute.reboot_server(server, "HARD")
    assert compute.get_server(server).status == "HARD_REBOOT"
    assert compute.wait_for_server(server, **FAST).power_state == 1
    unknown = nova.call("POST", f"/v2.1/servers/{server.id}/action", json={"fly": None})
    assert unknown.json()["badRequest"]["message"] == "There is no such action: fly"


def test_listing_pages_sorts_and_filters_like_nova(nova):
    made = [nova.boot(f"pager-{i}", image_id=nova.image.id) for i in range(3)]
    compute = nova.demo.compute
    paged = list(compute.servers(details=True, limit=1, name="^pager-"))
    assert [s.name for s in paged] == ["pager-2", "pager-1", "pager-0"]  # newest first
    first = nova.call("GET", "/v2.1/servers?name=pager-&limit=2&sort_key=display_name"
                             "&sort_dir=asc").json()
    assert [s["name"] for s in first["servers"]] == ["pager-0", "pager-1"]
    next_href = first["servers_links"][0]["href"]
    assert next_href.startswith(f"{nova.url}/v2.1/servers?")
    rest = nova.call("GET", next_href[len(nova.url):]).json()
    assert [s["name"] for s in rest["servers"]] == ["pager-2"] and "servers_links" not in rest
    assert {s.name for s in compute.servers(status="ACTIVE", name="pager-1")} == {"pager-1"}
    assert list(compute.servers(name="pager-", flavor="1")) == []
    since = made[1].updated_at
    recent = {s.name for s in compute.servers(changes_since=since, name="pager-")}
    assert recent >= {"pager-1", "pager-2"}
    bad_sort = nova.call("GET", "/v2.1/servers?sort_key=colour")
    assert bad_sort.status_code == 400
    assert bad_sort.json()["badRequest"]["message"].startswith(
        "Invalid input for query parameters sort_key. Value: colour. 'colour' is not one of")
    bad_marker = nova.call("GET", "/v2.1/servers?marker=nope")
    assert bad_marker.json()["badRequest"]["message"] == "marker [nope] not found"
    bad_status = nova.call("GET", "/v2.1/servers?status=SLEEPY", version="2.38")
    assert bad_status.json()["badRequest"]["message"] == "Invalid status value"
    assert nova.call("GET", "/v2.1/servers?status=SLEEPY").json() == {"servers": []}
    others = nova.call("GET", "/v2.1/servers?all_tenants=1")
    assert others.status_code == 403


def test_each_project_sees_its_own_servers_and_an_admin_all(nova):
    server = nova.boot("private-box", image_id=nova.image.id)
    assert nova.call("GET", f"/v2.1/servers/{server.id}", conn=nova.admin).status_code == 200
    mine = nova.call("GET", "/v2.1/servers", conn=nova.admin).json()["servers"]
    assert server.id not in [s["id"] for s in mine]
    everyone = nova.call("GET", "/v2.1/servers/detail?all_tenants=1",
                         conn=nova.admin).json()["servers"]
    shown = next(s for s in everyone if s["id"] == server.id)
    assert shown["OS-EXT-SRV-ATTR:host"] == f"compute-{nova.cloud.name}"
    assert "OS-EXT-SRV-ATTR:host" not in nova.call(
        "GET", f"/v2.1/servers/{server.id}").json()["server"]


def test_booting_from_a_new_volume_makes_it_in_cinder(nova):
    server = nova.boot("from-volume", block_device_mapping=[{
        "uuid": nova.image.id, "source_type": "image", "destination_type": "volume",
        "volume_size": 1, "boot_index": 0, "delete_on_termination": True}])
    assert server.status == "ACTIVE" and not server.image
    [attached] = server.attached_volumes
    volume = nova.demo.block_storage.get_volume(attached.id)
    assert volume.status == "in-use" and volume.is_bootable
    assert volume.attachments[0]["server_id"] == server.id
    assert volume.attachments[0]["device"] == "/dev/vda"
    detach_root = nova.call("DELETE", f"/v2.1/servers/{server.id}/os-volume_attachments/"
                                      f"{volume.id}")
    assert detach_root.json()["badRequest"]["message"] == "Cannot detach a root device volume"
    nova.demo.compute.delete_server(server)
    nova.demo.compute.wait_for_delete(server, **FAST)
    nova.demo.block_storage.wait_for_delete(volume, **FAST)


def test_booting_from_an_existing_volume_leaves_it_available_after(nova):
    volume = nova.demo.block_storage.create_volume(size=1, image_id=nova.image.id,
                                                   name="root-disk")
    nova.wait_volume(volume.id, "available")
    server = nova.boot("on-volume", block_device_mapping=[{
        "uuid": volume.id, "source_type": "volume", "destination_type": "volume",
        "boot_index": 0}])
    assert nova.wait_volume(volume.id, "in-use").attachments[0]["server_id"] == server.id
    busy = nova.call("POST", "/v2.1/servers", json={"server": {
        "name": "second", "flavorRef": "42", "block_device_mapping_v2": [{
            "uuid": volume.id, "source_type": "volume", "destination_type": "volume",
            "boot_index": 0}]}})
    assert busy.status_code == 400
    assert busy.json()["badRequest"]["message"].startswith(
        "Invalid volume: Invalid input received: Invalid volume: Volume "
        f"{volume.id} status must be available or downloading to reserve, but the current "
        "status is in-use. (HTTP 400)")
    nova.demo.compute.delete_server(server)
    nova.demo.compute.wait_for_delete(server, **FAST)
    assert nova.wait_volume(volume.id, "available").attachments == []
    nova.demo.block_storage.delete_volume(volume)


def test_booting_from_a_snapshot_on_a_port_of_ones_own(nova):
    source = nova.demo.block_storage.create_volume(size=1, image_id=nova.image.id)
    nova.wait_volume(source.id, "available")
    snapshot = nova.demo.block_storage.create_snapshot(volume_id=source.id)
    nova.demo.block_storage.wait_for_status(snapshot, "available", **FAST)
    port = nova.demo.network.create_port(network_id=nova.network.id, name="mine")
    server = nova.boot("from-snapshot", networks=[{"port": port.id}], block_device_mapping=[{
        "uuid": snapshot.id, "source_type": "snapshot", "destination_type": "volume",
        "volume_size": 1, "boot_index": 0, "delete_on_termination": True}])
    root = nova.demo.block_storage.get_volume(server.attached_volumes[0]["id"])
    assert root.snapshot_id == snapshot.id and root.status == "in-use"
    assert nova.demo.network.get_port(port.id).device_id == server.id
    taken = nova.call("POST", "/v2.1/servers", json={"server": {
        "name": "x", "flavorRef": "42", "imageRef": nova.image.id,
        "networks": [{"port": port.id}]}})
    assert taken.status_code == 409
    assert taken.json()["conflictingRequest"]["message"] == f"Port {port.id} is still in use."
    nova.delete_all()
    assert nova.demo.network.get_port(port.id).device_id == ""  # the user's port stays
    nova.demo.network.delete_port(port)
    nova.demo.block_storage.wait_for_delete(root, **FAST)
    nova.demo.block_storage.delete_snapshot(snapshot)
    nova.demo.block_storage.wait_for_delete(snapshot, **FAST)
    nova.demo.block_storage.delete_volume(source)


def test_attaching_and_detaching_a_volume_goes_through_cinders_attachments(nova):
    server = nova.boot("with-data", image_id=nova.image.id)
    volume = nova.demo.block_storage.create_volume(size=1, name="data")
    nova.wait_volume(volume.id, "available")
    attachment = nova.demo.compute.create_volume_attachment(server, volume_id=volume.id)
    assert (attachment.volume_id, attachment.server_id, attachment.device) == (
        volume.id, server.id, "/dev/vdb")
    in_use = nova.wait_volume(volume.id, "in-use")
    assert in_use.attachments[0]["server_id"] == server.id
    [listed] = nova.demo.compute.volume_attachments(server)
    assert listed.volume_id == volume.id and listed.attachment_id
    assert nova.demo.compute.get_server(server).attached_volumes[0]["id"] == volume.id
    other = nova.boot("greedy", image_id=nova.image.id)
    taken = nova.call("POST", f"/v2.1/servers/{other.id}/os-volume_attachments",
                      json={"volumeAttachment": {"volumeId": volume.id}})
    assert taken.status_code == 400
    assert "status must be available or downloading to reserve" in taken.json()[
        "badRequest"]["message"]
    nova.demo.compute.delete_volume_attachment(server, volume.id)
    assert nova.wait_volume(volume.id, "available").attachments == []
    assert list(nova.demo.compute.volume_attachments(server)) == []
    nowhere = str(uuid.uuid4())
    missing = nova.call("POST", f"/v2.1/servers/{server.id}/os-volume_attachments",
                        json={"volumeAttachment": {"volumeId": nowhere}})
    assert missing.status_code == 404
    assert missing.json()["itemNotFound"]["message"] == f"Volume {nowhere} could not be found."
    not_attached = nova.call("GET", f"/v2.1/servers/{server.id}/os-volume_attachments/"
                                    f"{volume.id}")
    assert not_attached.json()["itemNotFound"]["message"] == (
        f"Instance {server.id} is not attached to volume {volume.id}")
    # Since 2.101 the attachment is answered 202, with no body.
    accepted = nova.call("POST", f"/v2.1/servers/{server.id}/os-volume_attachments",
                         json={"volumeAttachment": {"volumeId": volume.id}}, version="2.101")
    assert (accepted.status_code, accepted.content) == (202, b"")
    nova.wait_volume(volume.id, "in-use")
    nova.demo.compute.delete_volume_attachment(server, volume.id)
    nova.wait_volume(volume.id, "available")
    nova.demo.block_storage.delete_volume(volume)


def test_since_2_102_flavors_lose_two_fields_and_gain_a_name_filter(nova):
    def detail(version: str, query: str = "") -> requests.Response:
        return nova.call("GET", f"/v2.1/flavors/detail{query}", version=version)

    assert {"rxtx_factor", "OS-FLV-DISABLED:disabled"} <= set(detail("2.101").json()[
        "flavors"][0])
    flavors = detail("2.102", "?name=m1.nano").json()["flavors"]
    assert [f["name"] for f in flavors] == ["m1.nano"]
    assert not {"rxtx_factor", "OS-FLV-DISABLED:disabled"} & set(flavors[0])
    assert detail("2.101", "?name=m1.nano").status_code == 400  # not in 2.75's query schema
    assert "rxtx_factor" in detail("2.102", "?sort_key=rxtx_factor").json()["badRequest"][
        "message"]


def test_since_2_102_calls_whose_schema_names_no_parameter_take_none(nova):
    missing = str(uuid.uuid4())
    refused = nova.call("GET", f"/v2.1/servers/{missing}?foo=1&bar=2", version="2.102")
    assert refused.json() == {"badRequest": {"code": 400, "message": (
        "Additional properties are not allowed ('bar', 'foo' were unexpected)")}}
    assert nova.call("GET", f"/v2.1/servers/{missing}?foo=1", version="2.101").status_code == 404
    zones = nova.call("GET", "/v2.1/os-availability-zone?foo=1", version="2.102")
    assert zones.status_code == 400


def test_bad_create_requests_get_novas_answers_and_create_nothing(nova):
    def create(server: dict, **kwargs) -> dict:
        resp = nova.call("POST", "/v2.1/servers", json={"server": server}, **kwargs)
        assert resp.status_code == 400, resp.text
        return resp.json()["badRequest"]["message"]

    before = len(list(nova.demo.compute.servers()))
    malformed = nova.call("POST", "/v2.1/servers", data=b"{not json",
                          headers={"Content-Type": "application/json"})
    assert malformed.json() == {"badRequest": {"code": 400,
                                               "message": "Malformed request body"}}
    assert create({"name": "x"}) == (
        "Invalid input for field/attribute server. Value: {'name': 'x'}. 'flavorRef' is a "
        "required property")
    assert create({"name": "x", "flavorRef": "1"}, version="2.37").endswith(
        "'networks' is a required property")
    assert create({"name": "x", "flavorRef": "999", "imageRef": nova.image.id}) == (
        "Invalid flavorRef provided.")
    assert create({"name": "x", "flavorRef": "1"}) == "Missing imageRef attribute"
    unknown = str(uuid.uuid4())
    assert create({"name": "x", "flavorRef": "1", "imageRef": unknown}) == (
        f"Image {unknown} could not be found.")
    assert create({"name": " x", "flavorRef": "1", "imageRef": nova.image.id}) == (
        "An invalid 'name' value was provided. The name must be: printable characters. "
        "Can not start or end with whitespace.")
    assert create({"name": "x", "flavorRef": "1", "block_device_mapping_v2": [
        {"source_type": "tape", "uuid": unknown}]}).startswith(
        "Invalid input for field/attribute source_type. Value: tape. 'tape' is not one of")
    assert create({"name": "x", "flavorRef": "1", "block_device_mapping_v2": [
        {"source_type": "image", "destination_type": "volume", "uuid": nova.image.id,
         "boot_index": 0}]}) == (
        "Images with destination_type 'volume' need to have a non-zero size specified")
    assert create({"name": "x", "flavorRef": "1", "block_device_mapping_v2": [
        {"source_type": "volume", "uuid": unknown, "boot_index": 0}]}) == (
        f"Block Device Mapping is Invalid: failed to get volume {unknown}.")
    assert create({"name": "x", "flavorRef": "1", "block_device_mapping_v2": [
        {"source_type": "blank", "destination_type": "volume", "volume_size": 1}]}) == (
        "Boot sequence for the instance and image/block device mapping combination is not "
        "valid.")
    assert create({"name": "x", "flavorRef": "1", "imageRef": nova.image.id,
                   "networks": [{"uuid": unknown}]}) == f"Network {unknown} could not be found."
    assert create({"name": "x", "flavorRef": "1", "imageRef": nova.image.id,
                   "key_name": "nope"}) == "Invalid key_name provided."
    assert create({"name": "x", "flavorRef": "1", "imageRef": nova.image.id,
                   "availability_zone": "mars"}) == (
        "The requested availability zone is not available")
    assert len(list(nova.demo.compute.servers())) == before


def test_unknown_servers_and_wrong_states_get_novas_answers(nova):
    nowhere = str(uuid.uuid4())
    for method, path in (("GET", f"/v2.1/servers/{nowhere}"),
                         ("DELETE", f"/v2.1/servers/{nowhere}"),
                         ("GET", f"/v2.1/servers/{nowhere}/os-volume_attachments")):
        resp = nova.call(method, path)
        assert resp.status_code == 404
        assert resp.json()["itemNotFound"]["message"] == f"Instance {nowhere} could not be found."
    with nova.slow_tasks():
        building = nova.boot("busy", wait=False, image_id=nova.image.id)
    early = nova.call("POST", f"/v2.1/servers/{building.id}/os-volume_attachments",
                      json={"volumeAttachment": {"volumeId": nowhere}})
    assert early.status_code == 409
    assert early.json()["conflictingRequest"]["message"] == (
        f"Cannot 'attach_volume' instance {building.id} while it is in vm_state building")
    nova.demo.compute.wait_for_server(building, **FAST)


def test_the_openstack_command_creates_lists_shows_and_deletes_servers(nova):
    created = nova.sim.osc("server", "create", "--flavor", "m1.nano", "--image",
                           nova.image.id, "--network", nova.network.id, "cli-box")
    assert created["name"] == "cli-box" and created["flavor"]["name"] == "m1.nano"
    nova._created.append(created["id"])
    box = nova.demo.compute.wait_for_server(nova.demo.compute.get_server(created["id"]), **FAST)
    listed = nova.sim.osc("server", "list", "--name", "^cli-box$")
    assert [(s["Name"], s["Status"]) for s in listed] == [("cli-box", "ACTIVE")]
    assert listed[0]["Networks"]["private"][0].startswith("10.20.0.")
    shown = nova.sim.osc("server", "show", "cli-box")
    assert shown["id"] == created["id"] and shown["flavor"]["name"] == "m1.nano"
    nova.sim.osc("server", "delete", "cli-box")
    nova.demo.compute.wait_for_delete(box, **FAST)


def test_a_server_joins_the_security_groups_asked_for(nova):
    group = nova.demo.network.create_security_group(name=f"web-{uuid.uuid4().hex[:6]}")
    server = nova.boot("guarded", image_id=nova.image.id, networks=[{"uuid": nova.network.id}],
                       security_groups=[{"name": group.name}])
    assert server.security_groups == [{"name": group.name}]
    port = next(nova.demo.network.ports(device_id=server.id))
    assert port.security_group_ids == [group.id]
    unknown = nova.call("POST", "/v2.1/servers", json={"server": {
        "name": "x", "flavorRef": "42", "imageRef": nova.image.id,
        "networks": [{"uuid": nova.network.id}], "security_groups": [{"name": "nope"}]}})
    assert unknown.json()["badRequest"]["message"] == "Security group nope not found."


def test_the_quota_limits_how_many_servers_are_made(nova):
    nova.cloud.settings["nova.quota_instances"] = "2"
    try:
        first = nova.demo.compute.create_server(name="many", image_id=nova.image.id,
                                                flavor_id="42", networks="none",
                                                min_count=1, max_count=3)
        made = list(nova.demo.compute.servers(name="^many-"))
        nova._created += [s.id for s in made]
        assert sorted(s.name for s in made) == ["many-1", "many-2"]
        assert first.id in [s.id for s in made]
        over = nova.call("POST", "/v2.1/servers", json={"server": {
            "name": "one-more", "flavorRef": "42", "imageRef": nova.image.id}})
        assert over.status_code == 403
        assert over.json()["forbidden"]["message"] == (
            "Quota exceeded for instances: Requested 1, but already used 2 of 2 instances")
        assert nova.demo.compute.get_limits().absolute.instances_used == 2
    finally:
        nova.cloud.settings.pop("nova.quota_instances")


def test_a_locked_server_refuses_its_owner_and_shows_its_addresses(nova):
    server = nova.boot("locked", image_id=nova.image.id, networks=[{"uuid": nova.network.id}])
    nova.demo.compute.lock_server(server, locked_reason="maintenance")
    shown = nova.call("GET", f"/v2.1/servers/{server.id}", version="2.73").json()["server"]
    assert (shown["locked"], shown["locked_reason"]) == (True, "maintenance")
    refused = nova.call("DELETE", f"/v2.1/servers/{server.id}")
    assert refused.status_code == 409
    assert refused.json()["conflictingRequest"]["message"] == f"Instance {server.id} is locked"
    nova.demo.compute.unlock_server(server)
    ips = nova.call("GET", f"/v2.1/servers/{server.id}/ips").json()["addresses"]
    [address] = ips["private"]
    assert set(address) == {"version", "addr"} and address["addr"].startswith("10.20.0.")
    assert nova.call("GET", f"/v2.1/servers/{server.id}/ips/public").status_code == 404
    nova.demo.compute.suspend_server(server)
    assert nova.demo.compute.wait_for_server(server, status="SUSPENDED", **FAST).power_state == 7
    nova.demo.compute.resume_server(server)
    nova.demo.compute.wait_for_server(server, **FAST)


# -- networks chosen by Nova, clouds without Neutron -----------------------------------------

def test_auto_networking_and_a_cloud_without_neutron(make_sim):
    sim = make_sim("solo,plain=nova+glance+cinder")
    solo = NovaUser(sim, "solo")
    image = solo.demo.image.create_image(name="img", disk_format="raw",
                                         container_format="bare")  # queued: no data yet
    queued = solo.call("POST", "/v2.1/servers", json={"server": {
        "name": "q", "flavorRef": "1", "imageRef": image.id}})
    assert queued.json()["badRequest"]["message"] == f"Image {image.id} is not active."
    nothing = solo.call("POST", "/v2.1/servers", version="2.37", json={"server": {
        "name": "a", "flavorRef": "1", "block_device_mapping_v2": [{
            "source_type": "blank", "destination_type": "volume", "volume_size": 1,
            "boot_index": 0}], "networks": "auto"}})
    assert nothing.json()["badRequest"]["message"] == (
        f"Unable to automatically allocate a network for project {solo.project_id}")
    net = solo.demo.network.create_network(name="only")
    solo.demo.network.create_subnet(network_id=net.id, ip_version=4, cidr="10.30.0.0/24")
    server = solo.boot("auto-net", networks="auto", block_device_mapping=[{
        "source_type": "blank", "destination_type": "volume", "volume_size": 1,
        "boot_index": 0, "delete_on_termination": True}])
    assert list(server.addresses) == ["only"]
    second = solo.demo.network.create_network(name="another")
    solo.demo.network.create_subnet(network_id=second.id, ip_version=4, cidr="10.31.0.0/24")
    ambiguous = solo.call("POST", "/v2.1/servers", version="2.37", json={"server": {
        "name": "b", "flavorRef": "1", "networks": "auto", "block_device_mapping_v2": [{
            "source_type": "blank", "destination_type": "volume", "volume_size": 1,
            "boot_index": 0}]}})
    assert ambiguous.status_code == 409
    assert ambiguous.json()["conflictingRequest"]["message"] == (
        "Multiple possible networks found, use a Network ID to be more specific.")
    solo.delete_all()

    plain = NovaUser(sim, "plain")
    server = plain.boot("no-neutron", networks=[{"uuid": str(uuid.uuid4())}],
                        block_device_mapping=[{"source_type": "blank",
                                               "destination_type": "volume",
                                               "volume_size": 1, "boot_index": 0}])
    assert server.status == "ACTIVE" and server.addresses == {}
    plain.delete_all()


# -- the path to Cinder is configurable: Nova calls it with the caller's token ---------------

class RecordingProxy:
    """A pass-through HTTP proxy that notes what Nova sends to Cinder."""

    def __init__(self, target: str) -> None:
        self.target = target
        self.calls: list[tuple[str, str, str]] = []
        self.runner: web.AppRunner | None = None
        self.url = ""

    async def start(self) -> str:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self.forward)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"
        return self.url

    async def forward(self, request: web.Request) -> web.Response:
        self.calls.append((request.method, request.path, request.headers.get("X-Auth-Token")))
        headers = {k: v for k, v in request.headers.items() if k.lower() != "host"}
        async with ClientSession() as session:
            async with session.request(request.method, self.target + request.path_qs,
                                       data=await request.read(), headers=headers) as resp:
                return web.Response(status=resp.status, body=await resp.read(),
                                    headers={"Content-Type": resp.content_type,
                                             **({"x-openstack-request-id":
                                                 resp.headers["x-openstack-request-id"]}
                                                if "x-openstack-request-id" in resp.headers
                                                else {})})

    async def stop(self) -> None:
        await self.runner.cleanup()


def test_nova_reaches_cinder_where_it_is_told_with_the_callers_token(make_sim):
    sim = make_sim("home")
    user = NovaUser(sim, "home")
    cinder = user.cloud.services["cinder"]
    proxy = RecordingProxy(cinder.base_url)
    url = sim.call(proxy.start())
    user.cloud.settings["nova.cinder_url"] = url + "/v3/%(project_id)s"
    try:
        server = user.boot("proxied", block_device_mapping=[{
            "source_type": "blank", "destination_type": "volume", "volume_size": 1,
            "boot_index": 0, "delete_on_termination": True}])
        token = user.demo.session.get_token()
        paths = [(m, p) for m, p, _ in proxy.calls]
        prefix = f"/v3/{user.project_id}"
        assert ("POST", f"{prefix}/volumes") in paths
        assert ("POST", f"{prefix}/attachments") in paths
        assert any(m == "PUT" and p.startswith(f"{prefix}/attachments/") for m, p in paths)
        assert {t for _, _, t in proxy.calls} == {token}
        user.cloud.settings["nova.cinder_url"] = "http://127.0.0.1:1/v3/%(project_id)s"
        down = user.call("POST", f"/v2.1/servers/{server.id}/os-volume_attachments",
                         json={"volumeAttachment": {"volumeId": str(uuid.uuid4())}})
        assert down.status_code == 500
        assert down.json()["computeFault"]["message"].endswith(
            "<class 'nova.exception.CinderConnectionFailed'>")
    finally:
        user.cloud.settings.pop("nova.cinder_url", None)
        user.delete_all()
        sim.call(proxy.stop())


# -- notifications ----------------------------------------------------------------------------

RABBIT = os.environ.get("OCX_TEST_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/")


async def _listen(exchange_name: str):
    connection = await aio_pika.connect_robust(RABBIT, timeout=10)
    channel = await connection.channel()
    exchange = await channel.declare_exchange(exchange_name, aio_pika.ExchangeType.TOPIC,
                                              durable=False)
    queue = await channel.declare_queue(f"ocx-test-{uuid.uuid4().hex}", auto_delete=True)
    await queue.bind(exchange, routing_key="notifications.*")
    return connection, queue


async def _events(queue, wanted: set[str], timeout: float = 20) -> dict[str, dict]:
    found: dict[str, dict] = {}

    async def collect():
        async with queue.iterator() as messages:
            async for message in messages:
                async with message.process():
                    inner = orjson.loads(orjson.loads(message.body)["oslo.message"])
                    if inner["event_type"] in wanted:
                        found[inner["event_type"]] = inner
                    if wanted <= set(found):
                        return
    await asyncio.wait_for(collect(), timeout)
    return found


def test_servers_and_attachments_are_notified_on_the_nova_exchange(make_sim):
    sim = make_sim("n=nova+glance+cinder", notifications_url=RABBIT)
    connection, queue = sim.call(_listen("nova"))
    user = NovaUser(sim, "n")
    try:
        server = user.boot("noisy", block_device_mapping=[{
            "source_type": "blank", "destination_type": "volume", "volume_size": 1,
            "boot_index": 0, "delete_on_termination": True}])
        volume = user.demo.block_storage.create_volume(size=1)
        user.wait_volume(volume.id, "available")
        user.demo.compute.create_volume_attachment(server, volume_id=volume.id)
        user.wait_volume(volume.id, "in-use")
        user.delete_all()
        events = sim.call(_events(queue, {
            "compute.instance.create.start", "compute.instance.create.end",
            "compute.instance.volume.attach", "compute.instance.delete.start",
            "compute.instance.delete.end"}))
    finally:
        sim.call(connection.close())
    end = events["compute.instance.create.end"]
    assert end["publisher_id"].startswith("compute.") and end["priority"] == "INFO"
    payload = end["payload"]
    assert (payload["instance_id"], payload["tenant_id"], payload["state"]) == (
        server.id, user.project_id, "active")
    assert (payload["display_name"], payload["instance_type"], payload["message"]) == (
        "noisy", "m1.nano", "Success")
    assert end["_context_project_id"] == user.project_id
    assert not any("token" in key for key in end)
    assert events["compute.instance.volume.attach"]["payload"]["volume_id"] == volume.id
    assert events["compute.instance.delete.end"]["payload"]["state"] == "deleted"


pytestmark = pytest.mark.timeout(180)
