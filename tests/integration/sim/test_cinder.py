"""The simulated Cinder as real clients see it: openstacksdk, the ``openstack`` command, raw HTTP.

Most tests share one cloud that offers only Cinder; tests that count volumes start their own.
"""
from __future__ import annotations

import uuid

import pytest
import requests
from aiohttp import web
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openstack import exceptions as sdk_exc

from tests.conftest import start_sim

pytestmark = pytest.mark.timeout(120)

DEAD = "00000000-0000-0000-0000-00000000dead"


@pytest.fixture(scope="module")
def sim():
    """One cloud with Keystone and Cinder only."""
    yield from start_sim("home=cinder")


@pytest.fixture()
def events(sim):
    """The notifications the cloud emits during a test, as (event_type, payload)."""
    notifier = sim.cloud("home").notifier
    seen: list[tuple[str, dict]] = []

    def record(exchange, event_type, payload, *, service, context=None, priority="INFO"):
        assert (exchange, service) == ("openstack", "volume")  # Cinder keeps oslo's default
        seen.append((event_type, payload))

    notifier.emit = record
    yield seen
    del notifier.emit


class Raw:
    """Plain HTTP to the cloud's Cinder with a user's token."""

    def __init__(self, sim, user: str = "demo", cloud: str = "home") -> None:
        conn = sim.connect(cloud, user)
        self.token = conn.session.get_token()
        self.project = conn.current_project_id
        self.base = sim.cloud(cloud).services["cinder"].base_url
        self.root = f"{self.base}/v3/{self.project}"

    def __call__(self, method: str, url: str, *, version: str | None = None,
                 headers: dict | None = None, **kwargs) -> requests.Response:
        headers = {"X-Auth-Token": self.token, **(headers or {})}
        if version:
            headers["OpenStack-API-Version"] = f"volume {version}"
        if not url.startswith("http"):
            url = self.root + url
        return requests.request(method, url, headers=headers, timeout=10, **kwargs)


@pytest.fixture()
def raw(sim) -> Raw:
    return Raw(sim)


def fault(resp: requests.Response, status: int) -> str:
    """The message of a Cinder fault body, after checking its status and name."""
    names = {400: "badRequest", 404: "itemNotFound", 406: "computeFault", 409:
             "conflictingRequest", 415: "badMediaType"}
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert list(body) == [names[status]]
    assert body[names[status]]["code"] == status
    return body[names[status]]["message"]


def available(conn, volume):
    """The volume once it is available (fetched anew: a stale copy may say so already)."""
    fresh = conn.block_storage.get_volume(volume.id)
    return conn.block_storage.wait_for_status(fresh, "available", wait=10, interval=0.05)


# -- version documents and microversions -----------------------------------------------------

def test_only_the_root_answers_without_a_token(sim):
    base = sim.cloud("home").services["cinder"].base_url
    root = requests.get(base + "/", timeout=10)
    assert root.status_code == 300
    (v3,) = root.json()["versions"]
    assert v3["id"] == "v3.0" and v3["status"] == "CURRENT"
    assert v3["min_version"] == "3.0" and v3["version"] == "3.71"
    assert {"rel": "self", "href": base + "/v3/"} in v3["links"]
    assert v3["media-types"][0]["type"] == "application/vnd.openstack.volume+json;version=3"
    # /v3/ is behind keystonemiddleware: keystoneauth's first, tokenless call there gets 401
    # (and Keystone's URL), and it asks again with the token.
    keystone = sim.cloud("home").keystone.endpoint
    for path in ("/v3/", "/v3", "/v3/volumes"):
        resp = requests.get(base + path, timeout=10)
        assert resp.status_code == 401, path
        assert resp.headers["WWW-Authenticate"] == f'Keystone uri="{keystone}"'


def test_the_v3_document_needs_a_token_and_the_bare_v3_redirects(sim, raw):
    base = sim.cloud("home").services["cinder"].base_url
    doc = raw("GET", base + "/v3/")
    assert doc.status_code == 200 and doc.json()["versions"][0]["id"] == "v3.0"
    assert doc.headers["OpenStack-API-Version"] == "volume 3.0"
    bare = raw("GET", base + "/v3", allow_redirects=False)
    assert bare.status_code == 302 and bare.headers["Location"] == base + "/v3/"
    assert "OpenStack-API-Version" not in bare.headers


def test_a_path_without_a_route_is_webobs_404_without_a_microversion(raw):
    for path in ("", "/", "/volumes/", "/no-such-thing"):
        resp = raw("GET", path, version="3.50")
        assert resp.status_code == 404, path
        assert resp.headers["Content-Type"] == "text/html; charset=UTF-8"
        assert "<h1>404 Not Found</h1>" in resp.text
        assert "OpenStack-API-Version" not in resp.headers
    as_json = raw("GET", "/volumes/", headers={"Accept": "application/json"})
    assert as_json.json()["code"] == "404 Not Found"


def test_a_legacy_looking_version_is_refused_without_being_named(raw):
    # Cinder's _is_legacy_endpoint looks for "1.0" or "2.0" in the version's text.
    resp = raw("GET", "/types", version="2.0")
    assert resp.status_code == 406 and "OpenStack-API-Version" not in resp.headers
    resp = raw("GET", "/types", version="3.9999")
    assert resp.status_code == 406 and resp.headers["OpenStack-API-Version"] == "volume 3.9999"


def test_the_gigabytes_quota_is_cinders_413(sim, raw):
    resp = raw("POST", "/volumes", json={"volume": {"size": 1_000_000}})
    assert resp.status_code == 413 and resp.headers["Retry-After"] == "0"
    fault = resp.json()["overLimit"]
    assert fault["retryAfter"] == "0"
    assert fault["message"].startswith(
        "VolumeSizeExceedsAvailableQuota: Requested volume or snapshot exceeds allowed "
        "gigabytes quota. Requested 1000000G, quota is 1000G and ")


def test_volume_types_show_their_qos_specs_to_admins_only(raw):
    (vtype,) = raw("GET", "/types").json()["volume_types"]
    assert "qos_specs_id" not in vtype and vtype["os-volume-type-access:is_public"] is True


def test_microversions_are_echoed_and_out_of_range_ones_refused(sim):
    raw = Raw(sim)
    resp = raw("GET", "/volumes", version="3.44")
    assert resp.status_code == 200
    assert resp.headers["OpenStack-API-Version"] == "volume 3.44"
    assert resp.headers["Vary"] == "OpenStack-API-Version"
    assert resp.headers["x-openstack-request-id"].startswith("req-")
    assert raw("GET", "/volumes").headers["OpenStack-API-Version"] == "volume 3.0"
    assert raw("GET", "/volumes", version="latest").headers[
        "OpenStack-API-Version"] == "volume 3.71"
    too_new = raw("GET", "/volumes", version="3.99")
    assert fault(too_new, 406) == ("Version 3.99 is not supported by the API. Minimum is 3.0 "
                                   "and maximum is 3.71.")
    assert too_new.headers["OpenStack-API-Version"] == "volume 3.99"
    assert fault(raw("GET", "/volumes", version="3.x"), 400) == (
        "API Version String 3.x is of invalid format. Must be of format MajorNum.MinorNum.")


def test_the_project_in_the_url_is_optional_but_must_be_the_tokens(sim):
    raw = Raw(sim)
    created = raw("POST", "/volumes", json={"volume": {"size": 1, "name": "no-project"}})
    assert created.status_code == 202
    volume_id = created.json()["volume"]["id"]
    bare = raw("GET", f"{raw.base}/v3/volumes/{volume_id}", version="3.67")
    assert bare.status_code == 200
    # Links follow the URL the client used.
    assert bare.json()["volume"]["links"][0]["href"] == f"{raw.base}/v3/volumes/{volume_id}"
    with_project = raw("GET", f"/volumes/{volume_id}").json()["volume"]["links"][0]["href"]
    assert with_project == f"{raw.root}/volumes/{volume_id}"
    other = Raw(sim, user="admin").project
    assert fault(raw("GET", f"{raw.base}/v3/{other}/volumes"), 400) == "Malformed request url"


# -- volumes with openstacksdk ----------------------------------------------------------------

def test_a_user_creates_updates_extends_and_deletes_a_volume(sim, events):
    conn = sim.connect("home")
    volume = conn.block_storage.create_volume(size=1, name="data", description="mine",
                                              metadata={"tier": "gold"})
    assert volume.status == "creating"
    volume = available(conn, volume)
    assert volume.size == 1 and volume.volume_type == "__DEFAULT__"
    assert volume.availability_zone == "nova" and volume.is_bootable is False
    assert volume.project_id == conn.current_project_id
    assert volume.metadata == {"tier": "gold"}

    conn.block_storage.update_volume(volume, name="data2", description="renamed")
    fetched = conn.block_storage.get_volume(volume.id)
    assert (fetched.name, fetched.description) == ("data2", "renamed")

    conn.block_storage.extend_volume(volume, 3)
    assert conn.block_storage.get_volume(volume.id).status == "extending"
    assert available(conn, volume).size == 3

    conn.block_storage.delete_volume(volume)
    conn.block_storage.wait_for_delete(volume, interval=0.05, wait=10)
    with pytest.raises(sdk_exc.NotFoundException):
        conn.block_storage.get_volume(volume.id)
    kinds = [e for e, p in events if p.get("volume_id") == volume.id]
    assert kinds == ["volume.create.start", "volume.create.end", "volume.update.start",
                     "volume.update.end", "volume.resize.start", "volume.resize.end",
                     "volume.delete.start", "volume.delete.end"]
    payload = dict(events)["volume.create.end"]
    assert payload["volume_id"] == volume.id and payload["status"] == "available"
    assert payload["tenant_id"] == conn.current_project_id and payload["display_name"] == "data"


def test_volumes_come_from_snapshots_and_from_other_volumes(sim, events):
    conn = sim.connect("home")
    origin = available(conn, conn.block_storage.create_volume(size=2, name="origin"))
    snap = conn.block_storage.create_snapshot(volume_id=origin.id, name="snap")
    snap = conn.block_storage.wait_for_status(snap, "available", wait=10, interval=0.05)
    assert (snap.size, snap.volume_id, snap.progress) == (2, origin.id, "100%")
    assert snap.id in {s.id for s in conn.block_storage.snapshots(details=True)}

    from_snap = available(conn, conn.block_storage.create_volume(snapshot_id=snap.id))
    assert (from_snap.size, from_snap.snapshot_id) == (2, snap.id)
    clone = available(conn, conn.block_storage.create_volume(source_volume_id=origin.id,
                                                             size=4))
    assert (clone.size, clone.source_volume_id) == (4, origin.id)

    # A volume with snapshots cannot go; its snapshot can, then so can the volume.
    with pytest.raises(sdk_exc.BadRequestException, match="have snapshots"):
        conn.block_storage.delete_volume(origin)
    conn.block_storage.delete_snapshot(snap)
    conn.block_storage.wait_for_delete(snap, interval=0.05, wait=10)
    conn.block_storage.delete_volume(origin)
    conn.block_storage.wait_for_delete(origin, interval=0.05, wait=10)
    assert ("snapshot.create.end" in [e for e, _ in events]
            and "snapshot.delete.end" in [e for e, _ in events])


def test_paging_through_every_volume_with_openstacksdk_and_by_hand(make_sim):
    sim = make_sim("paging=cinder")
    conn = sim.connect("paging")
    made = [conn.block_storage.create_volume(size=s, name=f"v{i}")
            for i, s in enumerate([3, 1, 2, 1, 3, 2, 1])]
    paged = list(conn.block_storage.volumes(details=True, limit=3))
    assert sorted(v.id for v in paged) == sorted(v.id for v in made)
    # Cinder's default order is newest first.
    assert [v.name for v in paged] == [f"v{i}" for i in reversed(range(7))]

    raw = Raw(sim, cloud="paging")
    first = raw("GET", "/volumes", params={"limit": 3, "sort": "name:asc"}).json()
    assert [v["name"] for v in first["volumes"]] == ["v0", "v1", "v2"]
    assert set(first["volumes"][0]) == {"id", "name", "links"}
    (link,) = first["volumes_links"]
    assert link == {"rel": "next", "href": f"{raw.root}/volumes?limit=3&sort=name%3Aasc"
                                           f"&marker={first['volumes'][-1]['id']}"}
    second = raw("GET", link["href"]).json()
    assert [v["name"] for v in second["volumes"]] == ["v3", "v4", "v5"]
    last = raw("GET", second["volumes_links"][0]["href"]).json()
    assert [v["name"] for v in last["volumes"]] == ["v6"] and "volumes_links" not in last

    by_size = raw("GET", "/volumes/detail", params={"sort_key": "size", "sort_dir": "asc"})
    sizes = [v["size"] for v in by_size.json()["volumes"]]
    assert sizes == sorted(sizes) and "volumes_links" not in by_size.json()
    two_keys = raw("GET", "/volumes/detail", params={"sort": "size:desc,name:asc"}).json()
    assert [v["name"] for v in two_keys["volumes"]] == ["v0", "v4", "v2", "v5", "v1", "v3",
                                                        "v6"]
    counted = raw("GET", "/volumes", version="3.45",
                  params={"with_count": "true", "limit": 5}).json()
    assert counted["count"] == 7 and len(counted["volumes"]) == 5
    offset = raw("GET", "/volumes", params={"sort": "name:asc", "offset": 5}).json()
    assert [v["name"] for v in offset["volumes"]] == ["v5", "v6"]


def test_listings_filter_like_cinder_and_only_show_the_callers_project(sim):
    conn = sim.connect("home")
    tag = uuid.uuid4().hex[:8]
    gold = conn.block_storage.create_volume(size=1, name=f"gold-{tag}", metadata={"t": tag})
    available(conn, gold)
    raw = Raw(sim)
    by_name = raw("GET", "/volumes/detail", params={"name": f"gold-{tag}"}).json()["volumes"]
    assert [v["id"] for v in by_name] == [gold.id]
    by_meta = raw("GET", "/volumes", params={"metadata": repr({"t": tag})}).json()["volumes"]
    assert [v["id"] for v in by_meta] == [gold.id]
    assert raw("GET", "/volumes", params={"name": f"gold-{tag}", "status": "error"}).json()[
        "volumes"] == []
    assert fault(raw("GET", "/volumes", version="3.71", params={"colour": "blue"}), 400) == (
        "Invalid filters colour are found in query options.")
    assert fault(raw("GET", "/volumes", version="3.71", params={"bootable": "maybe"}),
                 400) == "Invalid input received: 'bootable = maybe'"

    # The admin sees other projects' volumes only when asking for all of them.
    admin = Raw(sim, user="admin")
    assert gold.id not in {v["id"] for v in admin("GET", "/volumes").json()["volumes"]}
    everyone = admin("GET", "/volumes/detail", params={"all_tenants": "1"}).json()["volumes"]
    mine = next(v for v in everyone if v["id"] == gold.id)
    assert mine["os-vol-tenant-attr:tenant_id"] == conn.current_project_id
    assert "os-vol-host-attr:host" in mine
    assert gold.id not in {v["id"] for v in raw("GET", "/volumes", params={
        "all_tenants": "1", "name": "nothing"}).json()["volumes"]}
    assert fault(raw("GET", f"/volumes/{DEAD}", headers={}), 404) == (
        f"Volume {DEAD} could not be found.")
    assert fault(admin("GET", f"/volumes/{DEAD}"), 404)


def test_bad_paging_and_sorting_get_cinders_errors(sim):
    raw = Raw(sim)
    assert fault(raw("GET", "/volumes", params={"marker": DEAD}), 404) == (
        f"Volume {DEAD} could not be found.")
    assert fault(raw("GET", "/volumes", params={"sort": "colour:asc"}), 400) == (
        "Invalid input received: Invalid sort key")
    assert fault(raw("GET", "/volumes", params={"sort": "name:up"}), 400) == (
        "Invalid input received: Unknown sort direction, must be 'desc' or 'asc'.")
    assert "cannot be used with the 'sort' parameter" in fault(
        raw("GET", "/volumes", params={"sort": "name", "sort_key": "size"}), 400)
    assert fault(raw("GET", "/volumes", params={"limit": "many"}), 400) == (
        "limit param must be an integer")
    assert fault(raw("GET", "/snapshots", params={"marker": DEAD}), 404) == (
        f"Snapshot {DEAD} could not be found.")


# -- bad input ----------------------------------------------------------------------------------

def test_bad_requests_get_cinders_fault_bodies_and_change_nothing(sim):
    raw = Raw(sim)
    before = raw("GET", "/volumes").json()["volumes"]
    json_type = {"Content-Type": "application/json"}
    assert fault(raw("POST", "/volumes", data=b"{", headers=json_type), 400) == (
        "Malformed request body")
    assert fault(raw("POST", "/volumes"), 400) == (
        "The server could not comply with the request since it is either malformed or "
        "otherwise incorrect.")
    assert fault(raw("POST", "/volumes", json={}), 400) == "'volume' is a required property"
    assert fault(raw("POST", "/volumes", json={"volume": {"size": "big"}}), 400) == (
        "Invalid input for field/attribute size. Value: big. 'big' does not match '^[0-9]+$'")
    assert fault(raw("POST", "/volumes", json={"volume": {"name": "no size"}}), 400) == (
        "Invalid input received: Volume size 'None' must be an integer and greater than 0")
    assert fault(raw("POST", "/volumes", json={"volume": {"size": 1, "volume_type": "gold"}}),
                 404) == "Volume type with name gold could not be found."
    assert fault(raw("POST", "/volumes", json={"volume": {"size": 1, "snapshot_id": DEAD}}),
                 404) == f"Snapshot {DEAD} could not be found."
    assert fault(raw("POST", "/volumes", json={"volume": {
        "size": 1, "availability_zone": "mars"}}), 400) == (
        "Invalid input received: Availability zone 'mars' is invalid.")
    assert fault(raw("POST", "/volumes", data=b"<volume/>",
                     headers={"Content-Type": "application/xml"}), 415) == (
        "Unsupported Content-Type")
    assert fault(raw("POST", f"/volumes/{DEAD}/action", json={"os-extend": {"new_size": 2}}),
                 404) == f"Volume {DEAD} could not be found."
    assert fault(raw("POST", f"/volumes/{DEAD}/action", json={"os-fly": {}}), 400) == (
        "There is no such action: os-fly. Verify the request body and Content-Type header "
        "and try again.")
    assert fault(raw("PUT", f"/volumes/{DEAD}", json={"volume": {"name": "x"}}), 404)
    assert fault(raw("DELETE", f"/snapshots/{DEAD}"), 404) == (
        f"Snapshot {DEAD} could not be found.")
    assert raw("GET", "/volumes").json()["volumes"] == before


def test_a_volume_cannot_shrink_or_be_deleted_while_busy(sim):
    conn = sim.connect("home")
    volume = available(conn, conn.block_storage.create_volume(size=2, name="busy"))
    raw = Raw(sim)
    assert fault(raw("POST", f"/volumes/{volume.id}/action",
                     json={"os-extend": {"new_size": 1}}), 400) == (
        "Invalid input received: New size for extend must be greater than current size. "
        "(current: 2, extended: 1).")
    assert raw("POST", f"/volumes/{volume.id}/action", json={"os-reserve": None}).status_code \
        == 202
    message = fault(raw("DELETE", f"/volumes/{volume.id}"), 400)
    assert message.startswith("Invalid volume: Volume status must be available or error or ")
    assert raw("POST", f"/volumes/{volume.id}/action",
               json={"os-unreserve": None}).status_code == 202
    assert conn.block_storage.get_volume(volume.id).status == "available"


# -- attaching -------------------------------------------------------------------------------

def test_nova_attaches_and_detaches_a_volume_with_the_attachments_api(sim, events):
    conn = sim.connect("home")
    volume = available(conn, conn.block_storage.create_volume(size=1, name="attach-me"))
    server = str(uuid.uuid4())
    raw = Raw(sim)
    created = raw("POST", "/attachments", version="3.44",
                  json={"attachment": {"volume_uuid": volume.id, "instance_uuid": server}})
    assert created.status_code == 200, created.text
    attachment = created.json()["attachment"]
    assert attachment["status"] == "reserved" and attachment["instance"] == server
    assert conn.block_storage.get_volume(volume.id).status == "reserved"

    connector = {"host": "compute-1", "initiator": "iqn.1993-08.org.debian:01:abc",
                 "mountpoint": "/dev/vdb", "ip": "192.0.2.10", "platform": "x86_64"}
    updated = raw("PUT", f"/attachments/{attachment['id']}", version="3.44",
                  json={"attachment": {"connector": connector}}).json()["attachment"]
    assert updated["status"] == "attaching"
    assert updated["connection_info"]["driver_volume_type"] == "iscsi"
    assert updated["connection_info"]["attachment_id"] == attachment["id"]
    assert conn.block_storage.get_volume(volume.id).status == "attaching"

    assert raw("POST", f"/attachments/{attachment['id']}/action", version="3.44",
               json={"os-complete": attachment["id"]}).status_code == 204
    in_use = conn.block_storage.get_volume(volume.id)
    assert in_use.status == "in-use"
    (shown,) = in_use.attachments
    assert (shown["server_id"], shown["attachment_id"], shown["device"]) == (
        server, attachment["id"], "/dev/vdb")
    assert fault(raw("DELETE", f"/volumes/{volume.id}"), 400).startswith("Invalid volume:")
    # The attachments API is there from 3.27 on; before, it does not exist.
    assert fault(raw("GET", f"/attachments/{attachment['id']}"), 404)

    deleted = raw("DELETE", f"/attachments/{attachment['id']}", version="3.44")
    assert deleted.status_code == 200 and deleted.json() == {"attachments": []}
    assert conn.block_storage.get_volume(volume.id).status == "available"
    assert conn.block_storage.get_volume(volume.id).attachments == []
    attach_events = [e for e, p in events if p["volume_id"] == volume.id
                     and e.split(".")[1] in ("attach", "detach")]
    assert attach_events == ["volume.attach.start", "volume.attach.end",
                             "volume.detach.start", "volume.detach.end"]


def test_the_sdk_attachment_calls_and_a_second_attachment_to_another_server(sim):
    conn = sim.connect("home")
    volume = available(conn, conn.block_storage.create_volume(size=1, name="sdk-attach"))
    server = str(uuid.uuid4())
    attachment = conn.block_storage.create_attachment(
        volume, instance=server, connector={"host": "compute-2", "mountpoint": "/dev/vdc"})
    assert attachment.status == "attaching"
    conn.block_storage.complete_attachment(attachment)
    assert conn.block_storage.get_attachment(attachment.id).status == "attached"
    assert attachment.id in {a.id for a in conn.block_storage.attachments()}
    with pytest.raises(sdk_exc.BadRequestException, match="status must be available or "
                                                          "downloading to reserve"):
        conn.block_storage.create_attachment(volume, instance=str(uuid.uuid4()))
    conn.block_storage.delete_attachment(attachment)
    assert conn.block_storage.get_volume(volume.id).status == "available"


def test_the_legacy_attach_actions_move_a_volume_through_its_states(sim, events):
    conn = sim.connect("home")
    volume = available(conn, conn.block_storage.create_volume(size=1, name="legacy"))
    server = str(uuid.uuid4())
    conn.block_storage.reserve_volume(volume)
    assert conn.block_storage.get_volume(volume.id).status == "attaching"
    raw = Raw(sim)
    info = raw("POST", f"/volumes/{volume.id}/action", json={
        "os-initialize_connection": {"connector": {"host": "compute-1"}}})
    assert info.json()["connection_info"]["data"]["volume_id"] == volume.id
    conn.block_storage.attach_volume(volume, "/dev/vdb", instance=server)
    attached = conn.block_storage.get_volume(volume.id)
    assert attached.status == "in-use" and attached.attachments[0]["server_id"] == server
    with pytest.raises(sdk_exc.BadRequestException, match="must be available to reserve"):
        conn.block_storage.reserve_volume(volume)
    conn.block_storage.begin_volume_detaching(volume)
    assert conn.block_storage.get_volume(volume.id).status == "detaching"
    conn.block_storage.detach_volume(volume, attached.attachments[0]["attachment_id"])
    assert conn.block_storage.get_volume(volume.id).status == "available"
    assert [e for e, p in events if p["volume_id"] == volume.id and "tach" in e] == [
        "volume.attach.start", "volume.attach.end", "volume.detach.start", "volume.detach.end"]


# -- images --------------------------------------------------------------------------------

async def _start_glance(images: dict[str, dict], tokens: list[str]):
    """A Glance that knows a few images and remembers the tokens it was called with."""
    async def show(request):
        tokens.append(request.headers.get("X-Auth-Token", ""))
        image = images.get(request.match_info["image_id"])
        if image is None:
            return web.json_response({"code": "404 Not Found"}, status=404)
        return web.json_response(image)

    async def listing(request):
        tokens.append(request.headers.get("X-Auth-Token", ""))
        name = request.query.get("name")
        return web.json_response({"images": [i for i in images.values() if i["name"] == name]})

    app = web.Application()
    app.add_routes([web.get("/v2/images/{image_id}", show), web.get("/v2/images", listing)])
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    return runner, f"http://127.0.0.1:{port}"


def test_a_bootable_volume_is_made_from_a_glance_image_seen_with_the_users_token(sim):
    image_id = str(uuid.uuid4())
    images = {image_id: {"id": image_id, "name": "cirros", "status": "active",
                         "size": 21 * 1024 * 1024, "min_disk": 1, "min_ram": 0,
                         "disk_format": "qcow2", "container_format": "bare",
                         "checksum": "ee1eca47dc88f4879d8a229cc70a07c6",
                         "visibility": "public", "hw_disk_bus": "scsi"}}
    tokens: list[str] = []
    runner, url = sim.call(_start_glance(images, tokens))
    cloud = sim.cloud("home")
    cloud.settings["cinder.glance_url"] = url
    try:
        conn = sim.connect("home")
        volume = available(conn, conn.block_storage.create_volume(size=1, image_id=image_id))
        assert volume.is_bootable is True
        assert volume.volume_image_metadata["image_id"] == image_id
        assert volume.volume_image_metadata["image_name"] == "cirros"
        assert volume.volume_image_metadata["hw_disk_bus"] == "scsi"
        assert volume.volume_image_metadata["size"] == str(21 * 1024 * 1024)
        assert tokens and set(tokens) == {conn.session.get_token()}
        by_name = available(conn, conn.block_storage.create_volume(size=2, image_id="cirros"))
        assert by_name.volume_image_metadata["image_id"] == image_id

        raw = Raw(sim)
        missing = raw("POST", "/volumes", json={"volume": {"size": 1, "imageRef": DEAD}})
        assert fault(missing, 400) == (
            "Invalid image identifier or unable to access requested image.")
        images[image_id]["min_disk"] = 5
        assert fault(raw("POST", "/volumes", json={"volume": {"size": 1, "imageRef": image_id}}),
                     400) == ("Invalid input received: Volume size 1GB cannot be smaller than "
                              "the image minDisk size 5GB.")
    finally:
        del cloud.settings["cinder.glance_url"]
        sim.call(runner.cleanup())


def test_a_volume_is_made_from_an_image_uploaded_to_the_clouds_own_glance(make_sim):
    sim = make_sim("img=cinder+glance")
    conn = sim.connect("img")
    image = conn.image.create_image(name="tiny", data=b"\0" * 4096, disk_format="raw",
                                    container_format="bare", allow_duplicates=True)
    image = conn.image.wait_for_status(image, "active", wait=10, interval=0.05)
    volume = available(conn, conn.block_storage.create_volume(size=1, image_id=image.id))
    assert volume.is_bootable is True
    assert volume.volume_image_metadata["image_id"] == image.id
    assert volume.volume_image_metadata["image_name"] == "tiny"
    assert volume.volume_image_metadata["size"] == "4096"
    assert volume.volume_image_metadata["checksum"] == image.checksum


def test_a_cloud_without_glance_refuses_images(sim):
    raw = Raw(sim)
    resp = raw("POST", "/volumes", json={"volume": {"size": 1, "imageRef": DEAD}})
    assert fault(resp, 400) == "Invalid image identifier or unable to access requested image."


# -- the openstack command -----------------------------------------------------------------

def test_the_openstack_command_creates_lists_and_deletes_a_volume(sim):
    created = sim.osc("volume", "create", "--size", "1", "--property", "from=cli", "cli-vol",
                      cloud="home")
    assert created["name"] == "cli-vol" and created["size"] == 1
    assert created["properties"] == {"from": "cli"}
    conn = sim.connect("home")
    volume = available(conn, conn.block_storage.get_volume(created["id"]))
    listed = sim.osc("volume", "list", "--long", cloud="home")
    row = next(r for r in listed if r["ID"] == created["id"])
    assert (row["Name"], row["Status"], row["Size"], row["Type"], row["Properties"]) == (
        "cli-vol", "available", 1, "__DEFAULT__", {"from": "cli"})
    sim.osc("volume", "delete", "cli-vol", cloud="home")   # found by name
    conn.block_storage.wait_for_delete(volume, interval=0.05, wait=10)


# -- the rest of the API clients lean on ---------------------------------------------------

def test_metadata_types_zones_and_summary(sim):
    conn = sim.connect("home")
    volume = available(conn, conn.block_storage.create_volume(size=1, name="meta"))
    conn.block_storage.set_volume_metadata(volume, colour="blue", size="s")
    conn.block_storage.delete_volume_metadata(volume, keys=["size"])
    assert conn.block_storage.get_volume(volume.id).metadata == {"colour": "blue"}
    raw = Raw(sim)
    assert raw("GET", f"/volumes/{volume.id}/metadata/colour").json() == {
        "meta": {"colour": "blue"}}
    assert fault(raw("GET", f"/volumes/{volume.id}/metadata/size"), 404) == (
        f"Volume {volume.id} has no metadata with key size.")
    assert [t.name for t in conn.block_storage.types()] == ["__DEFAULT__"]
    zones = raw("GET", "/os-availability-zone").json()["availabilityZoneInfo"]
    assert zones == [{"zoneName": "nova", "zoneState": {"available": True}}]
    summary = raw("GET", "/volumes/summary", version="3.36").json()["volume-summary"]
    assert summary["total_count"] >= 1 and summary["metadata"]["colour"] == ["blue"]


def test_stopping_a_cloud_cancels_the_volume_services_pending_work(make_sim):
    sim = make_sim("brief=cinder")
    sim.cloud("brief").settings["cinder.delay"] = "30"
    conn = sim.connect("brief")
    volume = conn.block_storage.create_volume(size=1, name="slow")
    assert conn.block_storage.get_volume(volume.id).status == "creating"
    cinder = sim.cloud("brief").services["cinder"]
    assert cinder.pending_work == 1
    sim.call(cinder.on_stop(), timeout=5)   # does not wait the 30 s out
    assert cinder.pending_work == 0


QUERY_KEYS = ["limit", "marker", "offset", "sort", "sort_key", "sort_dir", "with_count",
              "all_tenants", "name", "status", "metadata", "bootable", "size", "created_at",
              "updated_at", "volume_id", "instance_id", "name~", "colour"]


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(query=st.lists(st.tuples(st.sampled_from(QUERY_KEYS) | st.text(max_size=8),
                                st.text(max_size=12) | st.sampled_from(
                                    ["1", "0", "true", "name:asc", "gt:2026-01-01", DEAD,
                                     "{'a': 'b'}", "[1, 2]", "{1: 2}", "-1"])), max_size=4),
       path=st.sampled_from(["/volumes", "/volumes/detail", "/snapshots/detail",
                             "/attachments/detail", "/volumes/summary"]),
       admin=st.booleans())
def test_any_query_string_gets_an_answer_or_a_client_error(sim, query, path, admin):
    raw = Raw(sim, user="admin" if admin else "demo")
    resp = raw("GET", path, params=query, version="3.71")
    assert resp.status_code < 500, (path, query, resp.text)
    assert resp.status_code in (200, 400, 404), (path, query, resp.text)
