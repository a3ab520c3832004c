"""The simulated Glance, driven by openstacksdk, the ``openstack`` CLI and raw HTTP.

One cloud offering only Glance is shared by the tests of this module; its Keystone has, besides
the bootstrap users, a second member project (``other``) to see images from outside.
"""
from __future__ import annotations

import asyncio
import hashlib
import json
import os
import secrets
import socket
import subprocess
import sys
import time
import uuid

import aio_pika
import openstack
import orjson
import pytest
import requests

from tests.conftest import start_sim

PATCH = "application/openstack-images-v2.1-json-patch"
RABBIT = os.environ.get("OCX_TEST_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/")


class Glance:
    """The running cloud, its Glance URL and connections as its users."""

    def __init__(self, sim) -> None:
        self.sim = sim
        self.cloud = sim.cloud("img")
        self.url = self.cloud.services["glance"].base_url
        self.other_password = secrets.token_urlsafe(12)
        sim.call(self._add_other_project())
        self.demo = sim.connect("img")
        self.admin = sim.connect("img", user="admin")
        self.other = openstack.connection.Connection(
            region_name=self.cloud.spec.region, identity_api_version="3",
            auth_url=self.cloud.keystone.endpoint, username="other",
            password=self.other_password, project_name="other",
            user_domain_name="Default", project_domain_name="Default")

    async def _add_other_project(self) -> None:
        keystone = self.cloud.keystone
        project = keystone.create_project("other")
        user = keystone.create_user("other", self.other_password, default_project=project)
        for role in ("member", "reader"):
            keystone.assign_role("user", user, project, keystone.role_id(role))

    def call(self, conn, method: str, path: str, accept: str = "application/json",
             **kwargs) -> requests.Response:
        """A raw request as ``conn``'s user; ``accept`` as a JSON-accepting client sends it."""
        headers = {"X-Auth-Token": conn.session.get_token(), "Accept": accept,
                   **kwargs.pop("headers", {})}
        return requests.request(method, self.url + path, headers=headers, timeout=30, **kwargs)


@pytest.fixture(scope="module")
def glance():
    gen = start_sim("img=glance")
    yield Glance(next(gen))
    gen.close()


def _error(resp: requests.Response) -> str:
    body = resp.json()
    assert set(body) == {"message", "code", "title"}
    assert body["code"] == f"{resp.status_code} {body['title']}"
    return body["message"]


def _image(glance, conn=None, **attrs) -> dict:
    body = {"disk_format": "raw", "container_format": "bare", **attrs}
    resp = glance.call(conn or glance.demo, "POST", "/v2/images", json=body)
    assert resp.status_code == 201, resp.text
    return resp.json()


def _upload(glance, image_id: str, data: bytes, conn=None) -> requests.Response:
    return glance.call(conn or glance.demo, "PUT", f"/v2/images/{image_id}/file", data=data,
                       headers={"Content-Type": "application/octet-stream"})


# -- versions ------------------------------------------------------------------------------

def test_the_root_lists_the_versions_with_300_and_needs_no_token(glance):
    resp = requests.get(glance.url + "/", timeout=10)
    assert resp.status_code == 300
    versions = resp.json()["versions"]
    # Glance 2026.1's list without image cache and stores, in its order: 2.17 after 2.9.
    assert [v["id"] for v in versions] == ["v2.15", "v2.9", "v2.17", "v2.7", "v2.6", "v2.5",
                                           "v2.4", "v2.3", "v2.2", "v2.1", "v2.0"]
    assert {v["id"] for v in versions if v["status"] == "CURRENT"} == {"v2.17"}
    assert versions[0]["links"] == [{"rel": "self", "href": glance.url + "/v2/"}]
    assert requests.get(glance.url + "/versions", timeout=10).status_code == 200
    assert requests.get(glance.url + "/v1/images", timeout=10).status_code == 300


def test_versioned_paths_need_a_token_and_the_bare_v2_redirects(glance):
    assert requests.get(glance.url + "/v2/images", timeout=10).status_code == 401
    resp = glance.call(glance.demo, "GET", "/v2", allow_redirects=False)
    assert resp.status_code == 302 and resp.headers["Location"] == glance.url + "/v2/"
    assert glance.call(glance.demo, "GET", "/v2/").status_code == 404
    assert glance.call(glance.demo, "GET", "/v2.9/schemas/image").status_code == 200


@pytest.mark.parametrize("accept,form", [(None, "401 Unauthorized\n\nThis server could not "),
                                         ("*/*", "<html>\n <head>\n  <title>401 Unauthorized"),
                                         ("application/json", '{"message": "This server ')])
def test_glance_refuses_a_missing_token_in_its_own_webob_form(glance, accept, form):
    """Glance lets keystonemiddleware delay its decision and answers the 401 itself."""
    for token in (None, "not-a-token"):
        resp = requests.get(glance.url + "/v2/images", timeout=10,
                            headers={"Accept": accept, "X-Auth-Token": token})
        assert resp.status_code == 401 and resp.text.startswith(form), resp.text
        assert resp.headers["WWW-Authenticate"].startswith('Keystone uri="http')


def test_openstacksdk_discovers_the_image_api_from_the_unversioned_catalog_url(glance):
    assert glance.demo.image.get_endpoint() == glance.url + "/v2/"


# -- images with openstacksdk ----------------------------------------------------------------

def test_create_show_update_and_delete_with_openstacksdk(glance):
    conn = glance.demo
    image = conn.image.create_image(name="sdk-made", disk_format="qcow2",
                                    container_format="bare", tags=["web"], min_disk=2,
                                    os_distro="cirros", properties={"team": "blue"})
    assert image.status == "queued" and image.visibility == "shared"
    assert image.owner_id == conn.current_project_id
    shown = conn.image.get_image(image.id)
    assert (shown.name, shown.min_disk, shown.tags, shown.os_distro) == (
        "sdk-made", 2, ["web"], "cirros")
    assert shown.properties["team"] == "blue"
    updated = conn.image.update_image(image, name="sdk-renamed", os_version="1.0")
    assert updated.name == "sdk-renamed" and updated.os_version == "1.0"
    conn.image.add_tag(image, "db")
    assert sorted(conn.image.get_image(image).tags) == ["db", "web"]
    conn.image.remove_tag(image, "web")
    assert conn.image.get_image(image).tags == ["db"]
    conn.image.delete_image(image)
    with pytest.raises(openstack.exceptions.NotFoundException, match="No image found with ID"):
        conn.image.get_image(image.id)


def test_an_image_is_written_as_glance_writes_it(glance):
    resp = glance.call(glance.demo, "POST", "/v2/images",
                       json={"name": "shape", "disk_format": "raw", "container_format": "bare",
                             "architecture": "x86_64"})
    body = resp.json()
    assert resp.status_code == 201
    assert resp.headers["Location"] == f"{glance.url}/v2/images/{body['id']}"
    assert resp.headers["x-openstack-request-id"].startswith("req-")
    assert set(body) == {
        "architecture", "name", "disk_format", "container_format", "visibility", "size",
        "virtual_size", "status", "checksum", "protected", "min_ram", "min_disk", "owner",
        "os_hidden", "os_hash_algo", "os_hash_value", "id", "created_at", "updated_at", "tags",
        "self", "file", "schema"}
    assert body["self"] == f"/v2/images/{body['id']}"
    assert body["created_at"].endswith("Z") and body["size"] is None


def test_upload_and_download_with_openstacksdk(glance, tmp_path):
    data = os.urandom(3 * 1024 * 1024 + 17)
    source = tmp_path / "disk.raw"
    source.write_bytes(data)
    conn = glance.demo
    image = conn.create_image("uploaded", filename=str(source), disk_format="raw",
                              container_format="bare", wait=True)
    assert image.status == "active" and image.size == len(data)
    assert image.checksum == hashlib.md5(data).hexdigest()
    assert image.hash_algo == "sha512" and image.hash_value == hashlib.sha512(data).hexdigest()
    assert image.virtual_size == len(data)
    response = conn.image.download_image(image, stream=True)
    assert response.headers["Content-MD5"] == image.checksum
    assert int(response.headers["Content-Length"]) == len(data)
    assert b"".join(response.iter_content(65536)) == data
    target = tmp_path / "back.raw"
    conn.image.download_image(image, output=str(target))
    assert target.read_bytes() == data


def test_download_of_a_range_and_of_an_image_without_data(glance):
    image = _image(glance, name="ranged")
    assert glance.call(glance.demo, "GET", f"/v2/images/{image['id']}/file").status_code == 204
    _upload(glance, image["id"], bytes(range(100)))
    resp = glance.call(glance.demo, "GET", f"/v2/images/{image['id']}/file",
                       headers={"Range": "bytes=10-19"})
    assert resp.status_code == 206 and resp.content == bytes(range(10, 20))
    assert resp.headers["Content-Range"] == "bytes 10-19/100"


def test_upload_mistakes_get_glances_answers_and_leave_the_image_ready(glance):
    image = _image(glance, name="careful")
    path = f"/v2/images/{image['id']}/file"
    resp = glance.call(glance.demo, "PUT", path, data=b"x",
                       headers={"Content-Type": "application/json"})
    assert resp.status_code == 415
    assert _error(resp) == ("The request media type application/json is not supported by "
                            "this server.\n<br /><br />\nInvalid content type application/json")
    assert _upload(glance, image["id"], b"first").status_code == 204
    resp = _upload(glance, image["id"], b"second")
    assert resp.status_code == 409
    assert _error(resp).startswith("Image status transition from active to saving is not "
                                   "allowed")
    bare = _image(glance, name="formatless", disk_format=None, container_format=None)
    resp = _upload(glance, bare["id"], b"data")
    assert resp.status_code == 400
    assert _error(resp).startswith("Properties disk_format, container_format must be set prior "
                                   "to saving data.")


def test_an_image_deleted_during_its_upload_is_gone_when_the_upload_ends(glance):
    image = _image(glance, name="short-lived")

    def body():
        yield b"first part"
        assert glance.call(glance.demo, "DELETE", f"/v2/images/{image['id']}").status_code == 204
        yield b"second part"

    resp = _upload(glance, image["id"], body())
    assert resp.status_code == 410
    assert _error(resp).startswith(f"Image {image['id']} could not be found after upload.")
    data_dir = glance.cloud.services["glance"].data_dir
    assert not [name for name in os.listdir(data_dir) if name.startswith(image["id"])]


def test_an_upload_cut_short_leaves_the_image_queued_and_no_data_behind(glance):
    image = _image(glance, name="interrupted")
    host, port = glance.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port))) as sock:
        sock.sendall((f"PUT /v2/images/{image['id']}/file HTTP/1.1\r\nHost: {host}\r\n"
                      f"X-Auth-Token: {glance.demo.session.get_token()}\r\n"
                      "Content-Type: application/octet-stream\r\n"
                      "Content-Length: 1000000\r\n\r\n").encode() + b"x" * 1000)
        deadline = time.monotonic() + 10
        while glance.demo.image.get_image(image["id"]).status != "saving":
            assert time.monotonic() < deadline
            time.sleep(0.05)
    deadline = time.monotonic() + 10
    while glance.demo.image.get_image(image["id"]).status != "queued":
        assert time.monotonic() < deadline, "the image stayed in saving"
        time.sleep(0.05)
    data_dir = glance.cloud.services["glance"].data_dir
    assert not [name for name in os.listdir(data_dir) if name.startswith(image["id"])]
    assert _upload(glance, image["id"], b"second try").status_code == 204


def test_data_must_match_the_disk_format_and_a_refused_upload_can_be_retried(glance):
    image = _image(glance, name="claims-qcow2", disk_format="qcow2")
    resp = _upload(glance, image["id"], os.urandom(4096))
    assert resp.status_code == 415
    assert _error(resp).endswith("Image disk_format qcow2 does not match stream data raw")
    assert glance.demo.image.get_image(image["id"]).status == "queued"
    header = b"QFI\xfb" + (3).to_bytes(4, "big") + bytes(12) + (16).to_bytes(4, "big")
    qcow2 = header + (5 << 30).to_bytes(8, "big") + bytes(4096)
    assert _upload(glance, image["id"], qcow2).status_code == 204
    shown = glance.demo.image.get_image(image["id"])
    assert shown.status == "active" and shown.virtual_size == 5 << 30


def test_a_protected_image_cannot_be_deleted(glance):
    image = glance.demo.image.create_image(name="keep", disk_format="raw",
                                           container_format="bare", is_protected=True)
    resp = glance.call(glance.demo, "DELETE", f"/v2/images/{image.id}")
    assert resp.status_code == 403
    assert _error(resp).startswith(f"Image {image.id} is protected and cannot be deleted.")
    glance.demo.image.update_image(image, is_protected=False)
    glance.demo.image.delete_image(image)
    resp = glance.call(glance.demo, "DELETE", f"/v2/images/{image.id}")
    assert resp.status_code == 404
    assert _error(resp).startswith(f"Failed to find image {image.id} to delete")


def test_a_deactivated_image_keeps_its_data_from_all_but_admins(glance):
    image = _image(glance, name="paused")
    _upload(glance, image["id"], b"payload")
    glance.demo.image.deactivate_image(image["id"])
    assert glance.demo.image.get_image(image["id"]).status == "deactivated"
    resp = glance.call(glance.demo, "GET", f"/v2/images/{image['id']}/file")
    assert resp.status_code == 403
    assert _error(resp).startswith("The requested image has been deactivated.")
    assert glance.call(glance.admin, "GET", f"/v2/images/{image['id']}/file").content == b"payload"
    glance.demo.image.reactivate_image(image["id"])
    assert glance.call(glance.demo, "GET", f"/v2/images/{image['id']}/file").content == b"payload"
    queued = _image(glance, name="never-active")
    resp = glance.call(glance.demo, "POST", f"/v2/images/{queued['id']}/actions/deactivate")
    assert resp.status_code == 403
    assert _error(resp).startswith("Not allowed to deactivate image in status 'queued'")


# -- listing ---------------------------------------------------------------------------------

def test_paging_follows_glances_next_links(glance):
    tag = uuid.uuid4().hex
    made = [_image(glance, name=f"page-{i}", tags=[tag])["id"] for i in range(5)]
    resp = glance.call(glance.demo, "GET", f"/v2/images?tag={tag}&limit=2")
    body = resp.json()
    assert [i["id"] for i in body["images"]] == made[::-1][:2]  # newest first
    assert body["first"] == f"/v2/images?tag={tag}&limit=2"
    assert body["next"] == f"/v2/images?tag={tag}&limit=2&marker={made[3]}"
    assert body["schema"] == "/v2/schemas/images"
    last = glance.call(glance.demo, "GET", f"/v2/images?tag={tag}&limit=2&marker={made[1]}")
    assert [i["id"] for i in last.json()["images"]] == [made[0]]
    assert "next" not in last.json()
    paged = [i.id for i in glance.demo.image.images(tag=tag, limit=2)]
    assert paged == made[::-1]


def test_sorting_both_ways(glance):
    tag = uuid.uuid4().hex
    for name in ("b", "c", "a"):
        _image(glance, name=name, tags=[tag])
    names = lambda q: [i["name"] for i in glance.call(  # noqa: E731
        glance.demo, "GET", f"/v2/images?tag={tag}&{q}").json()["images"]]
    assert names("sort_key=name&sort_dir=asc") == ["a", "b", "c"]
    assert names("sort=name:desc") == ["c", "b", "a"]
    assert [i.name for i in glance.demo.image.images(tag=tag, sort="name:asc")] == ["a", "b", "c"]


def test_filters_by_name_status_size_time_tag_and_property(glance):
    tag = uuid.uuid4().hex
    small = _image(glance, name="small", tags=[tag], os_distro="cirros")
    _upload(glance, small["id"], b"x" * 10)
    _image(glance, name="empty", tags=[tag])
    query = lambda q: sorted(i["name"] for i in glance.call(  # noqa: E731
        glance.demo, "GET", f"/v2/images?tag={tag}&{q}").json()["images"])
    assert query("status=active") == ["small"]
    assert query("name=in:small,empty") == ["empty", "small"]
    assert query("size_min=5&size_max=10") == ["small"]
    assert query("os_distro=cirros") == ["small"]
    assert query("created_at=gte:2000-01-01T00:00:00Z") == ["empty", "small"]
    assert query("created_at=lt:2000-01-01T00:00:00Z") == []
    assert [i.name for i in glance.demo.image.images(tag=tag, status="queued")] == ["empty"]


def test_listing_mistakes_get_glances_400(glance):
    for query, message in (
            ("sort_key=owner", "Invalid sort key: owner."),
            ("sort_dir=sideways", "Invalid sort direction: sideways"),
            ("limit=x", "limit param must be an integer"),
            ("marker=" + "0" * 8 + "-0000-0000-0000-" + "0" * 12, "No image found with ID"),
            ("size_min=tiny", "Unable to filter on a range with a non-numeric value.")):
        resp = glance.call(glance.demo, "GET", f"/v2/images?{query}")
        assert resp.status_code == 400, query
        assert _error(resp).startswith(message)


# -- visibility ------------------------------------------------------------------------------

def _listed(glance, conn, image_id: str, query: str = "") -> bool:
    url = "/v2/images?limit=1000" + (f"&{query}" if query else "")
    return image_id in [i["id"] for i in glance.call(conn, "GET", url).json()["images"]]


def test_private_images_stay_in_their_project(glance):
    image = _image(glance, name="mine", visibility="private")
    assert _listed(glance, glance.demo, image["id"])
    assert not _listed(glance, glance.other, image["id"])
    resp = glance.call(glance.other, "GET", f"/v2/images/{image['id']}")
    assert resp.status_code == 404 and _error(resp).startswith("No image found with ID")
    assert _listed(glance, glance.admin, image["id"])


def test_only_an_admin_publishes_and_public_images_reach_everyone(glance):
    resp = glance.call(glance.demo, "POST", "/v2/images", json={"visibility": "public"})
    assert resp.status_code == 403
    assert _error(resp).startswith("You are not authorized to complete publicize_image action.")
    image = _image(glance, glance.admin, name="golden", visibility="public")
    assert _listed(glance, glance.other, image["id"])
    assert glance.other.image.get_image(image["id"]).name == "golden"
    resp = glance.call(glance.other, "PATCH", f"/v2/images/{image['id']}",
                       data=json.dumps([{"op": "replace", "path": "/name", "value": "mine"}]),
                       headers={"Content-Type": PATCH})
    assert resp.status_code == 403
    assert _error(resp).startswith("You are not authorized to complete modify_image action.")


def test_community_images_are_listed_only_when_asked_for(glance):
    image = _image(glance, name="shared-with-the-world", visibility="community")
    assert not _listed(glance, glance.other, image["id"])
    assert _listed(glance, glance.other, image["id"], "visibility=community")
    assert _listed(glance, glance.other, image["id"], "visibility=all")
    assert glance.call(glance.other, "GET", f"/v2/images/{image['id']}").status_code == 200


def test_shared_images_reach_members_once_they_accept(glance):
    image = _image(glance, name="for-other", visibility="shared")
    other_project = glance.other.current_project_id
    member = glance.demo.image.add_member(image["id"], member_id=other_project)
    assert member.status == "pending"
    assert not _listed(glance, glance.other, image["id"])
    assert _listed(glance, glance.other, image["id"], "member_status=pending")
    assert glance.other.image.get_image(image["id"]).name == "for-other"
    resp = glance.call(glance.demo, "PUT", f"/v2/images/{image['id']}/members/{other_project}",
                       json={"status": "accepted"})
    assert resp.status_code == 403
    assert _error(resp).startswith("You are not authorized to complete modify_member action.")
    glance.other.image.update_member(member, image["id"], status="accepted")
    assert _listed(glance, glance.other, image["id"])
    assert _listed(glance, glance.other, image["id"], "visibility=shared")
    members = [m.member_id for m in glance.demo.image.members(image["id"])]
    assert members == [other_project]
    resp = glance.call(glance.demo, "POST", f"/v2/images/{image['id']}/members",
                       json={"member": other_project})
    assert resp.status_code == 409
    glance.demo.image.remove_member(other_project, image["id"])
    assert glance.call(glance.other, "GET", f"/v2/images/{image['id']}").status_code == 404


def test_only_shared_images_have_members(glance):
    image = _image(glance, name="lonely", visibility="private")
    resp = glance.call(glance.demo, "POST", f"/v2/images/{image['id']}/members",
                       json={"member": "someone"})
    assert resp.status_code == 403
    assert _error(resp).startswith(f"Not allowed to create members for image {image['id']}.")


# -- patch and bad input ---------------------------------------------------------------------

def test_json_patch_as_glance_applies_it(glance):
    image = _image(glance, name="patched", os_distro="debian")
    path = f"/v2/images/{image['id']}"

    def patch(ops, content_type=PATCH):
        return glance.call(glance.demo, "PATCH", path, data=json.dumps(ops),
                           headers={"Content-Type": content_type})

    resp = patch([{"op": "replace", "path": "/os_distro", "value": "ubuntu"},
                  {"op": "add", "path": "/os_version", "value": "24.04"},
                  {"op": "replace", "path": "/min_ram", "value": 512}])
    assert resp.status_code == 200
    assert (resp.json()["os_distro"], resp.json()["os_version"], resp.json()["min_ram"]) == (
        "ubuntu", "24.04", 512)
    resp = patch([{"op": "remove", "path": "/nope"}])
    assert resp.status_code == 409
    assert _error(resp) == ("There was a conflict when trying to complete your request."
                            "<br /><br />\nProperty nope does not exist.\n\n")
    resp = patch([{"op": "replace", "path": "/status", "value": "active"}])
    assert resp.status_code == 403 and _error(resp).startswith("Attribute 'status' is read-only.")
    resp = patch([], content_type="application/json")
    assert resp.status_code == 415
    assert resp.headers["Accept-Patch"] == ("application/openstack-images-v2.0-json-patch, "
                                            "application/openstack-images-v2.1-json-patch")


def test_bad_bodies_and_unknown_images(glance):
    resp = glance.call(glance.demo, "POST", "/v2/images", data=b"{not json",
                       headers={"Content-Type": "application/json"})
    assert resp.status_code == 400
    assert _error(resp).startswith("Malformed JSON in request body.")
    resp = glance.call(glance.demo, "POST", "/v2/images", json={"disk_format": "floppy"})
    assert resp.status_code == 400
    assert _error(resp).startswith("Provided object does not match schema 'image': 'floppy' is "
                                   "not one of")
    resp = glance.call(glance.demo, "POST", "/v2/images", json={"id": "not-a-uuid"})
    assert resp.status_code == 400
    dead = "00000000-0000-0000-0000-00000000dead"
    for method, path in (("GET", f"/v2/images/{dead}"), ("GET", f"/v2/images/{dead}/file"),
                         ("DELETE", f"/v2/images/{dead}/tags/x"),
                         ("POST", f"/v2/images/{dead}/actions/reactivate"),
                         ("GET", f"/v2/images/{dead}/members")):
        resp = glance.call(glance.demo, method, path)
        assert resp.status_code == 404, (method, path)
        _error(resp)
    resp = glance.call(glance.demo, "PUT", "/v2/images")
    assert resp.status_code == 405 and resp.headers["Allow"] == "GET, POST"
    image = _image(glance, name="dup")
    resp = glance.call(glance.demo, "POST", "/v2/images", json={"id": image["id"]})
    assert resp.status_code == 409
    assert _error(resp).startswith(f"Image ID {image['id']} already exists!")


def test_errors_follow_the_accept_header_like_webob(glance):
    path = "/v2/images/00000000-0000-0000-0000-00000000dead"
    html = glance.call(glance.demo, "GET", path, accept="*/*")
    assert html.headers["Content-Type"] == "text/html; charset=UTF-8"
    assert "<h1>404 Not Found</h1>" in html.text
    plain = glance.call(glance.demo, "GET", path, accept="")
    assert plain.headers["Content-Type"] == "text/plain; charset=UTF-8"
    assert plain.text.startswith("404 Not Found\n\nNo image found with ID")
    with pytest.raises(openstack.exceptions.NotFoundException,
                       match="404 Not Found: No image found with ID"):
        glance.demo.image.get_image("00000000-0000-0000-0000-00000000dead")


def test_a_failing_glance_answers_503_in_webobs_format(glance):
    faults = glance.cloud.faults
    glance.sim.call(_set(faults.error_rate, "glance", 1.0))
    try:
        resp = glance.call(glance.demo, "GET", "/v2/images")
    finally:
        glance.sim.call(_set(faults.error_rate, "glance", 0.0))
    assert resp.status_code == 503
    assert _error(resp) == ("The server is currently unavailable. Please try again at a later "
                            "time.<br /><br />\n\n\n")


async def _set(table: dict, key: str, value) -> None:
    table[key] = value


def test_schemas_are_glances(glance):
    image = glance.call(glance.demo, "GET", "/v2/schemas/image").json()
    assert image["name"] == "image"
    assert image["additionalProperties"] == {"type": "string"}
    assert {"id", "name", "visibility", "os_hash_value", "os_distro"} <= set(image["properties"])
    images = glance.call(glance.demo, "GET", "/v2/schemas/images").json()
    assert images["properties"]["images"]["items"] == image
    assert [link["rel"] for link in images["links"]] == ["first", "next", "describedby"]
    assert glance.call(glance.demo, "GET", "/v2/schemas/members").json()["name"] == "members"
    assert glance.demo.image.get_images_schema().name == "images"


# -- the openstack CLI -----------------------------------------------------------------------

def test_the_openstack_cli_creates_lists_shows_and_deletes(tmp_path):
    gen = start_sim("cli=glance")
    sim = next(gen)
    try:
        disk = tmp_path / "cli.img"
        disk.write_bytes(os.urandom(70_000))
        made = sim.osc("image", "create", "--file", str(disk), "--disk-format", "raw",
                       "--container-format", "bare", "--property", "os_distro=cirros",
                       "cli-image", cloud="cli")
        assert made["name"] == "cli-image" and made["status"] == "active"
        assert made["checksum"] == hashlib.md5(disk.read_bytes()).hexdigest()
        listed = sim.osc("image", "list", cloud="cli")
        assert [i["Name"] for i in listed] == ["cli-image"]
        shown = sim.osc("image", "show", "cli-image", cloud="cli")
        assert shown["id"] == made["id"] and shown["size"] == 70_000
        sim.osc("image", "delete", "cli-image", cloud="cli")
        assert sim.osc("image", "list", cloud="cli") == []
    finally:
        gen.close()


# -- notifications ---------------------------------------------------------------------------

async def _listen(queue_name: str):
    connection = await aio_pika.connect_robust(RABBIT, timeout=10)
    channel = await connection.channel()
    exchange = await channel.declare_exchange("glance", aio_pika.ExchangeType.TOPIC,
                                              durable=False)
    queue = await channel.declare_queue(queue_name, auto_delete=True)
    await queue.bind(exchange, routing_key="notifications.*")
    return connection, queue


async def _collect(queue, wanted: set[str], image_id: str, timeout: float = 15) -> dict:
    seen: dict[str, dict] = {}

    async def gather():
        async with queue.iterator() as messages:
            async for message in messages:
                async with message.process():
                    inner = orjson.loads(orjson.loads(message.body)["oslo.message"])
                    payload = inner["payload"]
                    if isinstance(payload, dict) and payload.get("id") == image_id:
                        seen.setdefault(inner["event_type"], inner)
                    if wanted <= set(seen):
                        return seen

    return await asyncio.wait_for(gather(), timeout)


def test_image_events_are_published_on_the_glance_exchange(make_sim):
    sim = make_sim("n=glance", notifications_url=RABBIT)
    connection, queue = sim.call(_listen(f"ocx-test-{uuid.uuid4().hex}"))
    try:
        conn = sim.connect("n")
        image = conn.image.create_image(name="noticed", disk_format="raw",
                                        container_format="bare")
        image.upload(conn.image, data=b"some bytes")
        conn.image.delete_image(image)
        wanted = {"image.create", "image.update", "image.prepare", "image.upload",
                  "image.activate", "image.delete"}
        events = sim.call(_collect(queue, wanted, image.id))
        assert events["image.create"]["publisher_id"].startswith("image.")
        assert events["image.create"]["priority"] == "INFO"
        assert events["image.create"]["payload"]["owner"] == conn.current_project_id
        assert events["image.upload"]["payload"]["status"] == "active"
        assert events["image.upload"]["payload"]["checksum"] == hashlib.md5(
            b"some bytes").hexdigest()
        assert events["image.delete"]["payload"]["deleted"] is True
        assert not any(key.startswith("_context_") for key in events["image.create"])
    finally:
        sim.call(connection.close())


# -- a large image never sits in memory ------------------------------------------------------

LAUNCHER = """
import asyncio, json, sys
from ocx.sim.exchange import SimExchange, parse_clouds

async def main():
    exchange = SimExchange(parse_clouds("big=glance"))
    await exchange.start()
    try:
        print(json.dumps(exchange.describe()["big"]), flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    finally:
        await exchange.stop()

asyncio.run(main())
"""


def _peak_rss(pid: int) -> int:
    """The process's peak resident set (VmHWM), in bytes."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM")


def _write_random_file(path, mib: int) -> str:
    digest = hashlib.sha256()
    with open(path, "wb") as out:
        for _ in range(mib):
            block = os.urandom(1 << 20)
            digest.update(block)
            out.write(block)
    return digest.hexdigest()


def _sha256_of(path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as source:
        while block := source.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


@pytest.mark.slow
def test_a_200_mib_image_goes_up_and_down_in_bounded_server_memory(tmp_path):
    server = subprocess.Popen([sys.executable, "-c", LAUNCHER], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True, cwd=os.getcwd())
    try:
        cloud = json.loads(server.stdout.readline())
        creds = cloud["users"]["demo"]
        conn = openstack.connection.Connection(
            auth_url=cloud["auth_url"], username="demo", password=creds["password"],
            project_name=creds["project"], user_domain_name="Default",
            project_domain_name="Default", region_name=cloud["region"],
            identity_api_version="3")
        warm = conn.create_image("warm-up", data=b"w" * 1024, disk_format="raw",
                                 container_format="bare", validate_checksum=False)
        conn.image.download_image(warm)
        baseline = _peak_rss(server.pid)

        source, target = tmp_path / "big.raw", tmp_path / "back.raw"
        expected = _write_random_file(source, 200)
        started = time.monotonic()
        image = conn.create_image("big", filename=str(source), disk_format="raw",
                                  container_format="bare", wait=True)
        assert image.size == 200 << 20
        conn.image.download_image(image, stream=True, output=str(target))
        elapsed = time.monotonic() - started

        assert _sha256_of(target) == expected
        growth = _peak_rss(server.pid) - baseline
        assert growth < 64 << 20, f"server peak memory grew {growth >> 20} MiB"
        print(f"200 MiB up and down in {elapsed:.1f} s; server peak grew {growth >> 20} MiB")
    finally:
        server.stdin.close()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
