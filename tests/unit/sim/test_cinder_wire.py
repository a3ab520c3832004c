"""The pure parts of the simulated Cinder: microversions, validation messages, views, links."""
from __future__ import annotations

import datetime as dt

import pytest

from ocx.sim.auth import Token
from ocx.sim.cinder import (
    MAX_VERSION,
    Call,
    attachment_view,
    check_image,
    full_sort,
    image_volume_metadata,
    is_uuid_like,
    page_after,
    pagination_params,
    peek_action,
    requested_version,
    snapshot_usage,
    sort_params,
    time_filter,
    validate,
    volume_create_schema,
    volume_detail_view,
    volume_update_schema,
    volume_usage,
)
from ocx.sim.errors import SimError

UTC = dt.timezone.utc
VOLUME_ID = "0f5b4d4c-6b2a-4a53-9a4b-2c7c3f3f8e11"


def token(admin: bool = False) -> Token:
    now = dt.datetime(2026, 1, 1, tzinfo=UTC)
    roles = (("r1", "member"),) + ((("r2", "admin"),) if admin else ())
    return Token(id="t", user_id="u1", user_name="demo", user_domain_id="default",
                 methods=("password",), issued_at=now, expires_at=now + dt.timedelta(hours=1),
                 audit_id="a", project_id="p1", project_name="demo", roles=roles)


def call(version=(3, 0), admin=False, url_project="p1", query=()) -> Call:
    return Call(token=token(admin), version=version, prefix="http://cinder.example:8776/v3",
                url_project=url_project, request_id="req-1", query=tuple(query))


def volume(**changes) -> dict:
    vol = {"id": VOLUME_ID, "display_name": "data", "display_description": None, "size": 1,
           "status": "available", "attach_status": "detached", "availability_zone": "nova",
           "bootable": False, "created_at": dt.datetime(2026, 1, 1, 12, tzinfo=UTC),
           "updated_at": None, "launched_at": None, "terminated_at": None,
           "project_id": "p1", "user_id": "u1", "volume_type_id": "t1", "snapshot_id": None,
           "source_volid": None, "multiattach": False, "host": "c@lvm#lvm",
           "migration_status": None, "replication_status": "disabled",
           "consistencygroup_id": None, "group_id": None, "provider_id": None,
           "encryption_key_id": None, "service_uuid": "s1", "shared_targets": True,
           "cluster_name": None, "use_quota": True, "previous_status": None, "deleted": False,
           "metadata": {}, "admin_metadata": {}, "image_metadata": {}, "attachment_ids": []}
    vol.update(changes)
    return vol


def error_of(fn, *args) -> SimError:
    with pytest.raises(SimError) as info:
        fn(*args)
    return info.value


# -- microversions ------------------------------------------------------------------------------

@pytest.mark.parametrize("header, version", [
    (None, (3, 0)), ("volume 3.44", (3, 44)), ("volume latest", MAX_VERSION),
    ("compute 2.1, volume 3.71", (3, 71)), ("volume 3.99", (3, 99)), ("volume 2.0", (2, 0)),
])
def test_the_version_a_client_asks_for_is_read_like_cinder_reads_it(header, version):
    assert requested_version(header) == version


def test_a_malformed_version_is_a_bad_request_with_cinders_message():
    err = error_of(requested_version, "volume 3.x")
    assert err.status == 400
    assert err.message == ("API Version String 3.x is of invalid format. Must be of format "
                           "MajorNum.MinorNum.")
    assert error_of(requested_version, "compute 2.1").status == 400


# -- request validation ----------------------------------------------------------------------

@pytest.mark.parametrize("body, message", [
    ({}, "'volume' is a required property"),
    ([], "[] is not of type 'object'"),
    ({"volume": {"size": "abc"}},
     "Invalid input for field/attribute size. Value: abc. 'abc' does not match '^[0-9]+$'"),
    ({"volume": {"size": 0}},
     "Invalid input for field/attribute size. Value: 0. 0 is less than the minimum of 1"),
    ({"volume": {"size": "0"}},
     "Invalid input for field/attribute size. Value: 0. 0 is less than the minimum of 1"),
    ({"volume": {"size": 1.5}}, "Invalid input for field/attribute size. Value: 1.5. 1.5 is "
                                "not of type 'integer', 'string', 'null'"),
    ({"volume": {"size": 1, "snapshot_id": "nope"}},
     "Invalid input for field/attribute snapshot_id. Value: nope. 'nope' is not valid under "
     "any of the given schemas"),
    ({"volume": {"size": 1, "name": "x" * 256}},
     "Invalid input received: name has 256 characters, more than 255."),
    ({"volume": {"size": 1, "metadata": {"k": 1}}},
     "Invalid input for field/attribute k. Value: 1. 1 is not of type 'string'"),
    ({"volume": {"size": 1}, "extra": True},
     "Additional properties are not allowed ('extra' was unexpected)"),
])
def test_volume_create_bodies_get_cinders_validation_messages(body, message):
    err = error_of(validate, volume_create_schema((3, 0)), body)
    assert (err.status, err.message) == (400, message)


def test_unknown_volume_fields_are_refused_from_353_on_and_ignored_before():
    body = {"volume": {"size": 1, "colour": "blue"}}
    validate(volume_create_schema((3, 52)), body)
    err = error_of(validate, volume_create_schema((3, 53)), body)
    assert err.message == ("Invalid input for field/attribute volume. Value: {'size': 1, "
                           "'colour': 'blue'}. Additional properties are not allowed ('colour' "
                           "was unexpected)")


def test_an_empty_volume_update_is_refused_from_353_on():
    validate(volume_update_schema((3, 0)), {"volume": {}})
    err = error_of(validate, volume_update_schema((3, 53)), {"volume": {}})
    assert err.message == ("Invalid input for field/attribute volume. Value: {}. {} is not "
                           "valid under any of the given schemas")


@pytest.mark.parametrize("value, ok", [
    (VOLUME_ID, True), (VOLUME_ID.replace("-", ""), True), (VOLUME_ID.upper(), True),
    ("not-a-uuid", False), (42, False)])
def test_uuid_like_is_olsos_rule(value, ok):
    assert is_uuid_like(value) is ok


@pytest.mark.parametrize("content_type, raw, status, message", [
    (None, b"", 400, "There is no such action: None. Verify the request body and "
                     "Content-Type header and try again."),
    ("application/json", b"{", 400, "Malformed request body"),
    ("application/json", b'{"a": 1, "b": 2}', 400, "Malformed request body"),
    ("application/json", b"[1]", 404, "The resource could not be found."),
    ("application/json", b"null", 404, "The resource could not be found."),
])
def test_action_bodies_are_peeked_like_cinder_does(content_type, raw, status, message):
    err = error_of(peek_action, content_type, raw)
    assert (err.status, err.message) == (status, message)


def test_an_action_body_names_its_action():
    assert peek_action("application/json", b'{"os-extend": {"new_size": 2}}') == (
        "os-extend", {"os-extend": {"new_size": 2}})


# -- listings ----------------------------------------------------------------------------------

def test_pagination_parameters_are_popped_and_checked():
    params = {"limit": "5000", "marker": "m", "offset": "2", "status": "available"}
    assert pagination_params(params) == ("m", 1000, 2)
    assert params == {"status": "available"}
    assert error_of(pagination_params, {"limit": "x"}).message == "limit param must be an integer"
    assert error_of(pagination_params, {"limit": "-1"}).message == "limit param must be positive"
    assert error_of(pagination_params, {"offset": "-1"}).message == "offset must be >= 0"


def test_sort_parameters_default_to_newest_first_and_refuse_mixing_styles():
    assert sort_params({}) == (["created_at"], ["desc"])
    assert sort_params({"sort": "name:asc,size"}) == (["name", "size"], ["asc", "desc"])
    assert sort_params({"sort_key": "size", "sort_dir": "asc"}) == (["size"], ["asc"])
    err = error_of(sort_params, {"sort": "name", "sort_key": "size"})
    assert "cannot be used with the 'sort' parameter" in err.message


def test_sorting_adds_created_at_and_id_in_the_first_direction():
    assert full_sort(["size"], ["asc"]) == [("size", "asc"), ("created_at", "asc"),
                                            ("id", "asc")]
    err = error_of(full_sort, ["size"], ["up"])
    assert err.message == "Invalid input received: Unknown sort direction, must be 'desc' or 'asc'."


def test_paging_is_by_keyset_after_the_marker_even_when_it_is_filtered_out():
    rows = [{"id": f"v{i}", "size": i, "created_at": None} for i in range(6)]
    sort = full_sort(["size"], ["asc"])
    assert [r["id"] for r in page_after(rows, sort, None, 0, 2)] == ["v0", "v1"]
    assert [r["id"] for r in page_after(rows, sort, rows[1], 0, 2)] == ["v2", "v3"]
    assert [r["id"] for r in page_after(rows, sort, rows[1], 1, 10)] == ["v3", "v4", "v5"]
    odd = [r for r in rows if r["size"] % 2]
    assert [r["id"] for r in page_after(odd, sort, rows[2], 0, 10)] == ["v3", "v5"]


def test_time_comparison_filters_parse_operators_and_times():
    january = time_filter("gt:2026-01-01T00:00:00,lte:2026-02-01T00:00:00Z")
    assert [op for op, _ in january.conditions] == ["gt", "lte"]
    assert january.holds(dt.datetime(2026, 1, 15, tzinfo=UTC))
    assert not january.holds(dt.datetime(2026, 2, 15, tzinfo=UTC)) and not january.holds(None)
    assert error_of(time_filter, "after:2026-01-01").message == "Invalid after operator"
    assert error_of(time_filter, "gt:yesterday").message == "Invalid yesterday value"


def test_next_links_keep_the_query_and_put_the_marker_last():
    c = call(query=[("limit", "2"), ("marker", "old"), ("sort", "name:asc")])
    links = c.collection_links([{"id": "a"}, {"id": "b"}], "volumes/detail")
    assert links == [{"rel": "next", "href": "http://cinder.example:8776/v3/p1/volumes/detail"
                                             "?limit=2&sort=name%3Aasc&marker=b"}]
    assert c.collection_links([{"id": "a"}], "volumes") == []
    # With a count, Cinder keeps offering a next link while the limit is below the total.
    assert c.collection_links([{"id": "a"}], "volumes", count=5)[0]["href"].endswith("marker=a")


def test_links_follow_the_url_the_client_used():
    c = call(url_project="")
    view = volume_detail_view(c, volume(), [], "__DEFAULT__")
    assert view["links"] == [
        {"rel": "self", "href": f"http://cinder.example:8776/v3/volumes/{VOLUME_ID}"},
        {"rel": "bookmark", "href": f"http://cinder.example:8776/volumes/{VOLUME_ID}"}]


# -- views -------------------------------------------------------------------------------------

def test_a_volume_shows_more_fields_at_higher_microversions_and_to_admins():
    base = volume_detail_view(call((3, 0)), volume(), [], "__DEFAULT__")
    assert base["bootable"] == "false" and base["encrypted"] is False
    assert base["created_at"] == "2026-01-01T12:00:00.000000"
    assert base["os-vol-tenant-attr:tenant_id"] == "p1"
    assert "group_id" not in base and "os-vol-host-attr:host" not in base
    recent = volume_detail_view(call((3, 71)), volume(), [], "__DEFAULT__")
    assert recent["volume_type_id"] == "t1" and recent["consumes_quota"] is True
    assert recent["shared_targets"] is True and "provider_id" not in recent
    admin = volume_detail_view(call((3, 71), admin=True), volume(), [], "__DEFAULT__")
    assert admin["os-vol-host-attr:host"] == "c@lvm#lvm" and "cluster_name" in admin


def test_only_attached_attachments_show_on_a_volume():
    attached = {"id": "a1", "volume_id": VOLUME_ID, "instance_uuid": "s1",
                "attached_host": "compute-1", "mountpoint": "/dev/vdb",
                "attach_time": dt.datetime(2026, 1, 1, tzinfo=UTC), "detach_time": None,
                "attach_mode": "rw", "attach_status": "attached", "connection_info": {}}
    reserved = {**attached, "id": "a2", "attach_status": "reserved"}
    view = volume_detail_view(call(), volume(), [attached, reserved], "__DEFAULT__")
    assert view["attachments"] == [{
        "id": VOLUME_ID, "attachment_id": "a1", "volume_id": VOLUME_ID, "server_id": "s1",
        "host_name": None, "device": "/dev/vdb", "attached_at": "2026-01-01T00:00:00.000000"}]
    assert attachment_view(reserved)["attached_at"] == "2026-01-01T00:00:00.000000"
    assert attachment_view(reserved, detail=False) == {
        "id": "a2", "status": "reserved", "instance": "s1", "volume_id": VOLUME_ID}


def test_notification_payloads_carry_what_cinder_sends():
    payload = volume_usage(volume(metadata={"k": "v"}), [])
    assert payload["volume_id"] == VOLUME_ID and payload["tenant_id"] == "p1"
    assert payload["display_name"] == "data" and payload["size"] == 1
    assert payload["metadata"] == [{"key": "k", "value": "v"}]
    assert payload["created_at"] == "2026-01-01T12:00:00"
    snap = {"id": "s1", "project_id": "p1", "user_id": "u1", "availability_zone": "nova",
            "volume_id": VOLUME_ID, "volume_size": 1, "display_name": "snap",
            "created_at": dt.datetime(2026, 1, 1, tzinfo=UTC), "status": "creating",
            "metadata": {}}
    assert snapshot_usage(snap)["snapshot_id"] == "s1"
    assert snapshot_usage(snap)["metadata"] == ""


# -- images -------------------------------------------------------------------------------------

IMAGE = {"id": "i1", "name": "cirros", "status": "active", "size": 13267968,
         "min_disk": 0, "min_ram": 0, "disk_format": "qcow2", "container_format": "bare",
         "checksum": "abc", "visibility": "public", "tags": [], "hw_disk_bus": "virtio",
         "self": "/v2/images/i1", "file": "/v2/images/i1/file"}


def test_a_volume_made_from_an_image_records_its_metadata_as_strings():
    assert image_volume_metadata(IMAGE) == {
        "image_id": "i1", "image_name": "cirros", "checksum": "abc",
        "container_format": "bare", "disk_format": "qcow2", "min_disk": "0", "min_ram": "0",
        "size": "13267968", "hw_disk_bus": "virtio"}


@pytest.mark.parametrize("image, size, message", [
    ({**IMAGE, "status": "queued"}, 1, "Image i1 is not active."),
    ({**IMAGE, "size": 3 * (1 << 30) + 1}, 2,
     "Size of specified image 4GB is larger than volume size 2GB."),
    ({**IMAGE, "min_disk": 5}, 2, "Volume size 2GB cannot be smaller than the image minDisk "
                                  "size 5GB."),
])
def test_an_image_that_does_not_fit_is_refused(image, size, message):
    err = error_of(check_image, image, size)
    assert err.message == f"Invalid input received: {message}"
