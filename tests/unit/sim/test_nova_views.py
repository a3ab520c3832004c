"""What the simulated Nova shows of a server, a flavor and the limits, by microversion."""
from __future__ import annotations

import datetime as dt

from ocx.sim.auth import Token
from ocx.sim.nova import (
    FLAVORS,
    Bdm,
    Call,
    Instance,
    Vif,
    flavor_brief,
    flavor_detail,
    host_id,
    limits_view,
    server_detail,
    url_join,
    v,
    volume_attachment_view,
)

T0 = dt.datetime(2026, 1, 1, 12, 0, 0, 123456, tzinfo=dt.timezone.utc)
HOST = "http://nova.example:8774"


def call(version: str = "2.1", admin: bool = False, project_in_url: bool = False) -> Call:
    token = Token(id="t", user_id="u1", user_name="demo", user_domain_id="default",
                  methods=("password",), issued_at=T0, expires_at=T0, audit_id="a",
                  project_id="p1", roles=(("r", "admin" if admin else "member"),))
    return Call(token=token, version=v(version), host_url=HOST,
                url_project="p1" if project_in_url else "", request_id="req-1")


def server(**attrs) -> Instance:
    defaults = dict(uuid="s1", seq=26, name="web", project_id="p1", user_id="u1",
                    flavor=FLAVORS["1"], image_ref="img", host="compute-1", created_at=T0,
                    updated_at=T0, vm_state="active", task_state=None, power_state=1,
                    launched_at=T0, image_properties={"min_ram": "0"})
    return Instance(**{**defaults, **attrs})


def test_the_oldest_microversion_shows_flavor_and_image_links():
    shown = server_detail(server(), call())
    assert shown["flavor"] == {"id": "1", "links": [{"rel": "bookmark",
                                                     "href": f"{HOST}/flavors/1"}]}
    assert shown["image"] == {"id": "img", "links": [{"rel": "bookmark",
                                                      "href": f"{HOST}/images/img"}]}
    assert shown["links"] == [{"rel": "self", "href": f"{HOST}/v2.1/servers/s1"},
                              {"rel": "bookmark", "href": f"{HOST}/servers/s1"}]
    assert (shown["status"], shown["progress"], shown["OS-EXT-STS:power_state"]) == (
        "ACTIVE", 0, 1)
    assert shown["created"] == "2026-01-01T12:00:00Z"
    assert shown["OS-SRV-USG:launched_at"] == "2026-01-01T12:00:00.123456"
    assert shown["hostId"] == host_id("p1", "compute-1") != ""
    for later in ("locked", "description", "tags", "server_groups", "scheduler_hints"):
        assert later not in shown
    assert "OS-EXT-SRV-ATTR:host" not in shown


def test_the_newest_microversion_embeds_the_flavor_and_more():
    shown = server_detail(server(pinned_availability_zone="nova",
                                 scheduler_hints={"group": "g"}), call("2.100"))
    assert shown["flavor"] == {"vcpus": 1, "ram": 512, "disk": 1, "ephemeral": 0, "swap": 0,
                               "original_name": "m1.tiny", "extra_specs": {}}
    assert shown["image"]["properties"] == {"min_ram": "0"}
    assert (shown["locked"], shown["locked_reason"], shown["description"], shown["tags"]) == (
        False, None, None, [])
    assert shown["server_groups"] == [] and shown["trusted_image_certificates"] is None
    assert shown["pinned_availability_zone"] == "nova"
    assert shown["scheduler_hints"] == {"group": "g"}
    assert shown["OS-EXT-SRV-ATTR:hostname"] == ""  # a user's since 2.90
    assert "server_groups" not in server_detail(server(), call("2.100"), mode="list")


def test_admins_see_the_host_attributes():
    shown = server_detail(server(), call("2.3", admin=True))
    assert shown["OS-EXT-SRV-ATTR:host"] == "compute-1"
    assert shown["OS-EXT-SRV-ATTR:instance_name"] == "instance-0000001a"
    assert shown["OS-EXT-SRV-ATTR:root_device_name"] == "/dev/vda"
    assert "host_status" not in shown
    assert server_detail(server(), call("2.16", admin=True))["host_status"] == "UP"


def test_an_update_answer_leaves_out_the_extended_attributes_before_2_75():
    old = server_detail(server(), call("2.74"), mode="update")
    assert "OS-EXT-STS:vm_state" not in old and "key_name" not in old
    new = server_detail(server(), call("2.75"), mode="update")
    assert new["OS-EXT-STS:vm_state"] == "active" and "key_name" in new


def test_addresses_hide_while_building_and_faults_show_in_error():
    vif = Vif("port", "net", "private", "fa:16:3e:00:00:01", ["10.0.0.5"], False)
    building = server(vm_state="building", task_state="spawning", vifs=[vif])
    assert server_detail(building, call())["addresses"] == {}
    assert server_detail(server(vifs=[vif]), call())["addresses"] == {"private": [
        {"version": 4, "addr": "10.0.0.5", "OS-EXT-IPS:type": "fixed",
         "OS-EXT-IPS-MAC:mac_addr": "fa:16:3e:00:00:01"}]}
    fault = {"code": 500, "created": "2026-01-01T12:00:00Z", "message": "boom"}
    broken = server_detail(server(vm_state="error", fault=fault), call())
    assert broken["status"] == "ERROR" and broken["fault"] == fault
    assert "progress" not in broken


def test_booted_from_volume_shows_no_image_and_the_volumes_attached():
    root = Bdm("image", "volume", 0, "/dev/vda", volume_id="vol", delete_on_termination=True)
    shown = server_detail(server(image_ref="", bdms=[root]), call("2.3"))
    assert shown["image"] == ""
    assert shown["os-extended-volumes:volumes_attached"] == [
        {"id": "vol", "delete_on_termination": True}]
    assert server_detail(server(bdms=[root]), call())[
        "os-extended-volumes:volumes_attached"] == [{"id": "vol"}]


def test_volume_attachments_by_microversion():
    bdm = Bdm("volume", "volume", None, "/dev/vdb", volume_id="vol", attachment_id="att",
              tag="data")
    assert volume_attachment_view(server(), bdm, call()) == {
        "id": "vol", "volumeId": "vol", "serverId": "s1", "device": "/dev/vdb"}
    newest = volume_attachment_view(server(), bdm, call("2.89"))
    assert "id" not in newest
    assert (newest["attachment_id"], newest["bdm_uuid"], newest["tag"],
            newest["delete_on_termination"]) == ("att", bdm.uuid, "data", False)


def test_links_carry_the_project_only_when_the_url_did():
    assert server_detail(server(), call(project_in_url=True))["links"][0]["href"] == (
        f"{HOST}/v2.1/p1/servers/s1")
    link = call(project_in_url=True).next_link("servers/detail",
                                               [("name", "web"), ("limit", "2"),
                                                ("marker", "old")], "s9")
    assert link == {"rel": "next",
                    "href": f"{HOST}/v2.1/p1/servers/detail?limit=2&name=web&marker=s9"}
    assert url_join("http://h", "", "v2.1", "") == "http://h/v2.1/"


def test_flavors_by_microversion():
    assert flavor_brief(FLAVORS["2"], call()) == {
        "id": "2", "name": "m1.small",
        "links": [{"rel": "self", "href": f"{HOST}/v2.1/flavors/2"},
                  {"rel": "bookmark", "href": f"{HOST}/flavors/2"}]}
    old = flavor_detail(FLAVORS["2"], call())
    assert (old["ram"], old["disk"], old["vcpus"], old["swap"]) == (2048, 20, 1, "")
    assert old["OS-FLV-EXT-DATA:ephemeral"] == 0 and old["os-flavor-access:is_public"]
    new = flavor_detail(FLAVORS["2"], call("2.75"))
    assert new["swap"] == 0 and new["description"] is None and new["extra_specs"] == {}


def test_limits_drop_what_later_microversions_removed():
    quota = {"instances": 10, "cores": 20, "ram": 51200, "key_pairs": 100,
             "metadata_items": 128, "server_groups": 10, "server_group_members": 10}
    used = {"instances": 2, "cores": 3, "ram": 1024}
    old = limits_view(used, quota, v("2.1"))["limits"]["absolute"]
    assert (old["totalInstancesUsed"], old["totalCoresUsed"], old["maxTotalRAMSize"]) == (
        2, 3, 51200)
    assert "maxSecurityGroups" in old and "maxPersonality" in old
    mid = limits_view(used, quota, v("2.36"))["limits"]["absolute"]
    assert "maxSecurityGroups" not in mid and "maxPersonality" in mid
    assert "maxPersonality" not in limits_view(used, quota, v("2.57"))["limits"]["absolute"]
