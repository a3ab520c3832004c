"""Creating and patching images, checked as Glance checks them; formats and ranges of data."""
from __future__ import annotations

import datetime as dt
import struct

import pytest

from ocx.sim.glance import (
    Caller,
    Image,
    WebobError,
    apply_changes,
    check_format,
    image_schema,
    image_view,
    new_image,
    parse_patch,
    parse_range,
    schema_error,
)

NOW = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
DEMO = Caller("demo", "u-demo", frozenset({"member", "reader"}))
ADMIN = Caller("admin", "u-admin", frozenset({"admin", "member", "reader"}))
V21 = "application/openstack-images-v2.1-json-patch"
V20 = "application/openstack-images-v2.0-json-patch"


def refused(call, *args) -> WebobError:
    with pytest.raises(WebobError) as err:
        call(*args)
    return err.value


def test_a_new_image_is_queued_shared_and_owned_by_the_callers_project():
    img = new_image({"name": "cirros", "disk_format": "qcow2", "container_format": "bare",
                     "tags": ["a", "a", "b"], "os_distro": "cirros", "min_ram": 64}, DEMO, NOW)
    assert (img.status, img.visibility, img.owner) == ("queued", "shared", "demo")
    assert img.tags == ["a", "b"] and img.properties == {"os_distro": "cirros"}
    view = image_view(img)
    assert list(view)[0] == "os_distro"  # Glance writes custom properties first
    assert view["self"] == f"/v2/images/{img.id}" and view["file"].endswith("/file")
    assert view["schema"] == "/v2/schemas/image" and view["created_at"] == "2026-01-01T00:00:00Z"


@pytest.mark.parametrize("body, status, message", [
    ({"self": "x"}, 403, "Attribute 'self' is read-only."),
    ({"status": "active"}, 403, "Attribute 'status' is read-only."),
    ({"size": 10}, 403, "Attribute 'size' is read-only."),
    ({"deleted": "x"}, 403, "Attribute 'deleted' is reserved."),
    ({"os_glance_foo": "x"}, 403, "Attribute 'os_glance_foo' is reserved."),
    ({"visibility": "public"}, 403, "You are not authorized to complete publicize_image "
                                    "action."),
    ({"owner": "someone"}, 403, "You are not permitted to create images owned by 'someone'"),
    ({"min_disk": -1}, 400, "Invalid value '-1' for parameter 'min_disk': Cannot be a "
                            "negative value"),
    ({"min_ram": 2 ** 31}, 400, "'min_ram' value out of range, must not exceed 2147483647."),
    ({"x" * 256: "v"}, 400, "Custom property should not be greater than 255 characters."),
])
def test_create_refuses_what_glance_refuses(body, status, message):
    err = refused(new_image, body, DEMO, NOW)
    assert err.status == status and err.message == message


def test_schema_errors_read_like_jsonschemas():
    message = schema_error({"disk_format": "floppy"})
    assert message.startswith("Provided object does not match schema 'image': 'floppy' is not "
                              "one of [None, 'ami', 'ari', 'aki',")
    assert "Failed validating 'enum' in schema['properties']['disk_format']:" in message
    assert message.endswith("On instance['disk_format']:\n    'floppy'")
    assert "12 is not of type 'string'" in schema_error({"os_distro": 12})
    assert "is not of type 'boolean'" in schema_error({"protected": "yes"})
    assert "'" + "t" * 256 + "' is too long" in schema_error({"tags": ["t" * 256]})
    assert schema_error({"name": None, "min_ram": 1, "kernel_id": None}) is None


def test_only_admins_publish_images_and_community_needs_the_owner():
    assert new_image({"visibility": "public"}, ADMIN, NOW).visibility == "public"
    assert new_image({"visibility": "community"}, DEMO, NOW).visibility == "community"


# -- JSON patch ----------------------------------------------------------------------------

def patch(img: Image, ops: list, caller: Caller = DEMO, media: str = V21) -> Image:
    return apply_changes(img, parse_patch(media, ops), caller, NOW)


def queued() -> Image:
    return new_image({"name": "a", "os_distro": "x"}, DEMO, NOW)


def test_patch_replaces_adds_and_removes_without_touching_the_original():
    img = queued()
    new = patch(img, [{"op": "replace", "path": "/name", "value": "b"},
                      {"op": "add", "path": "/os_version", "value": "22.04"},
                      {"op": "remove", "path": "/os_distro"},
                      {"op": "add", "path": "/tags", "value": ["t"]}])
    assert (new.name, new.properties, new.tags) == ("b", {"os_version": "22.04"}, ["t"])
    assert (img.name, img.properties) == ("a", {"os_distro": "x"})


def test_draft_4_patches_use_the_operation_as_the_key_and_refuse_existing_properties():
    new = patch(queued(), [{"replace": "/name", "value": "c"}], media=V20)
    assert new.name == "c"
    err = refused(patch, queued(), [{"add": "/os_distro", "value": "y"}], DEMO, V20)
    assert err.status == 409 and err.detail == "Property os_distro already present."


@pytest.mark.parametrize("ops, status, message", [
    ({"op": "add"}, 400, "Request body must be a JSON array of operation objects."),
    (["add"], 400, "Operations must be JSON objects."),
    ([{"path": "/name"}], 400, "Unable to find `op` in JSON Schema change. It must be one "
                               "of the following: add, remove, replace."),
    ([{"op": "move", "path": "/a"}], 400, "Invalid operation: `move`. It must be one of the "
                                          "following: add, remove, replace."),
    ([{"op": "add", "value": 1}], 400, "Unable to find 'path' in JSON Schema change"),
    ([{"op": "add", "path": "name", "value": "x"}], 400,
     'Pointer `name` does not start with "/".'),
    ([{"op": "add", "path": "/a//b", "value": "x"}], 400,
     'Pointer `/a//b` contains adjacent "/".'),
    ([{"op": "add", "path": "/a/b", "value": "x"}], 400,
     "Invalid JSON pointer for this resource: '/a/b'"),
    ([{"op": "add", "path": "/a"}], 400, 'Operation "add" requires a member named "value".'),
    ([{"op": "replace", "path": "/status", "value": "active"}], 403,
     "Attribute 'status' is read-only."),
    ([{"op": "replace", "path": "/id", "value": "x"}], 403, "Attribute 'id' is read-only."),
    ([{"op": "add", "path": "/deleted_at", "value": "x"}], 403,
     "Attribute 'deleted_at' is reserved."),
    ([{"op": "add", "path": "/min_ram", "value": "lots"}], 400, None),
])
def test_malformed_patches_are_refused(ops, status, message):
    err = refused(parse_patch, V21, ops)
    assert err.status == status
    if message:
        assert err.message == message


@pytest.mark.parametrize("ops, status, message", [
    ([{"op": "replace", "path": "/nothing", "value": "x"}], 409,
     "Property nothing does not exist."),
    ([{"op": "remove", "path": "/nothing"}], 409, "Property nothing does not exist."),
    ([{"op": "remove", "path": "/name"}], 403, "Property name may not be removed."),
    ([{"op": "replace", "path": "/owner", "value": "x"}], 403,
     "Owner can't be updated by non admin."),
    ([{"op": "replace", "path": "/visibility", "value": "public"}], 403,
     "You are not authorized to complete publicize_image action."),
    ([{"op": "replace", "path": "/min_disk", "value": -5}], 400,
     "Invalid value '-5' for parameter 'min_disk': Cannot be a negative value"),
    ([{"op": "add", "path": "/locations/-", "value": {"url": "x", "metadata": {}}}], 403,
     "It's not allowed to add locations if locations are invisible."),
])
def test_patches_glance_refuses_change_nothing(ops, status, message):
    img = queued()
    err = refused(patch, img, ops)
    assert err.status == status and err.message == message
    assert img.name == "a"


def test_formats_can_change_only_while_queued_and_only_the_owner_changes_an_image():
    img = queued()
    img.status = "active"
    err = refused(patch, img, [{"op": "replace", "path": "/disk_format", "value": "raw"}])
    assert err.message == "Attribute disk_format can be only replaced for a queued image."
    other = Caller("other", "u", frozenset({"member"}))
    err = refused(patch, queued(), [{"op": "replace", "path": "/name", "value": "x"}], other)
    assert err.message == "You are not authorized to complete modify_image action."


# -- data ----------------------------------------------------------------------------------

def qcow2_header(virtual_size: int, backing_offset: int = 0) -> bytes:
    return (b"QFI\xfb" + struct.pack(">IQIIQ", 3, backing_offset, 0, 16, virtual_size)
            + bytes(512))


def test_uploads_must_be_what_their_disk_format_says():
    raw = bytes(4096)
    assert check_format("raw", "bare", raw, 4096) == (4096, None)
    assert check_format("qcow2", "bare", qcow2_header(1 << 30), 600) == (1 << 30, None)
    assert check_format("qcow2", "bare", raw, 4096) == (
        None, "Image disk_format qcow2 does not match stream data raw")
    assert check_format("raw", "bare", qcow2_header(10), 600) == (600, None)
    assert check_format("ami", "bare", raw, 4096) == (None, None)
    assert check_format("qcow2", "ovf", raw, 4096) == (None, None)  # only bare is inspected
    assert check_format("qcow2", "bare", qcow2_header(10, 512), 600) == (
        None, "Image failed safety checks")


@pytest.mark.parametrize("header, expected", [
    ("bytes=0-9", (0, 10)), ("bytes=10-", (10, 90)), ("bytes=-5", (95, 5)),
    ("bytes=90-200", (90, 10)),
])
def test_a_single_range_is_served(header, expected):
    assert parse_range(header, 100) == expected


@pytest.mark.parametrize("header, status", [
    ("bytes=0-1,5-6", 400), ("bytes=5-1", 416), ("bytes=100-", 416), ("pages=1-2", 416)])
def test_bad_ranges_are_refused(header, status):
    assert refused(parse_range, header, 100).status == status


def test_the_image_schema_is_permissive_for_strings_and_lists_custom_properties():
    schema = image_schema()
    assert schema["additionalProperties"] == {"type": "string"}
    assert schema["properties"]["os_distro"]["is_base"] is False
    assert "is_base" not in schema["properties"]["name"]
    assert [link["rel"] for link in schema["links"]] == ["self", "enclosure", "describedby"]
