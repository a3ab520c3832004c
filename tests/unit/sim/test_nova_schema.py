"""Request bodies checked against Nova's schemas, with the messages Nova gives."""
from __future__ import annotations

import pytest

from ocx.sim.errors import SimError
from ocx.sim.nova import (
    keypair_create_schema,
    server_create_schema,
    server_update_schema,
    v,
    validate_body,
    volume_attach_schema,
)

IMAGE = "70a599e0-31e7-49b7-b260-868f441e862b"


def refusal(schema: dict, body) -> str:
    with pytest.raises(SimError) as err:
        validate_body(schema, body)
    assert err.value.status == 400
    return err.value.message


def test_a_minimal_server_passes_before_2_37_and_needs_networks_after():
    body = {"server": {"name": "web", "flavorRef": "1", "imageRef": IMAGE}}
    validate_body(server_create_schema(v("2.1")), body)
    assert refusal(server_create_schema(v("2.37")), body) == (
        f"Invalid input for field/attribute server. Value: {body['server']}. 'networks' is a "
        "required property")
    validate_body(server_create_schema(v("2.37")),
                  {"server": {**body["server"], "networks": "auto"}})


def test_missing_and_unexpected_properties():
    schema = server_create_schema(v("2.1"))
    assert refusal(schema, {}) == "'server' is a required property"
    assert refusal(schema, []) == "[] is not of type 'object'"
    assert refusal(schema, {"server": {"name": "x"}}) == (
        "Invalid input for field/attribute server. Value: {'name': 'x'}. 'flavorRef' is a "
        "required property")
    assert refusal(schema, {"server": {"name": "x", "flavorRef": 1, "colour": "red"}}) == (
        "Invalid input for field/attribute server. Value: {'name': 'x', 'flavorRef': 1, "
        "'colour': 'red'}. Additional properties are not allowed ('colour' was unexpected)")
    assert refusal(schema, {"server": {"name": "x", "flavorRef": 1}, "a": 1, "b": 2}) == (
        "Additional properties are not allowed ('a', 'b' were unexpected)")


def test_field_values():
    schema = server_create_schema(v("2.1"))

    def server(**fields):
        return {"server": {"name": "x", "flavorRef": "1", **fields}}

    assert refusal(schema, server(imageRef="cirros")) == (
        "Invalid input for field/attribute imageRef. Value: cirros. 'cirros' is not valid "
        "under any of the given schemas")
    validate_body(schema, server(imageRef=""))  # booting from a volume
    assert refusal(schema, server(flavorRef=1.5)) == (
        "Invalid input for field/attribute flavorRef. Value: 1.5. 1.5 is not of type "
        "'string', 'integer'")
    assert refusal(schema, server(name="")) == (
        "Invalid input for field/attribute name. Value: . '' should be non-empty")
    assert refusal(schema, server(name="x" * 256)).endswith("is too long")
    assert refusal(schema, server(name="web ")) == (
        "An invalid 'name' value was provided. The name must be: printable characters. Can "
        "not start or end with whitespace.")
    assert refusal(schema, server(metadata={"k": 1})) == (
        "Invalid input for field/attribute k. Value: 1. 1 is not of type 'string'")
    assert refusal(schema, server(min_count="0x")) == (
        "Invalid input for field/attribute min_count. Value: 0x. '0x' does not match "
        "'^[0-9]*$'")
    assert refusal(schema, server(user_data="not base64!")) == (
        "Invalid input for field/attribute user_data. Value: not base64!. 'not base64!' is "
        "not a 'base64'")
    assert refusal(schema, server(config_drive="maybe")).startswith(
        "Invalid input for field/attribute config_drive. Value: maybe. 'maybe' is not one of "
        "[True, 'True'")


def test_block_device_mappings():
    schema = server_create_schema(v("2.1"))

    def bdm(**fields):
        return {"server": {"name": "x", "flavorRef": "1",
                           "block_device_mapping_v2": [fields]}}

    validate_body(schema, bdm(source_type="image", destination_type="volume", uuid=IMAGE,
                              volume_size=1, boot_index=0))
    assert refusal(schema, bdm(source_type="tape")) == (
        "Invalid input for field/attribute source_type. Value: tape. 'tape' is not one of "
        "['volume', 'image', 'snapshot', 'blank']")
    assert refusal(schema, bdm(boot_index="first")) == (
        "Invalid input for field/attribute boot_index. Value: first. 'first' does not match "
        "'^-?[0-9]+$'")
    assert refusal(schema, bdm(volume_size=0)) == (
        "Invalid input for field/attribute volume_size. Value: 0. 0 is less than the minimum "
        "of 1")
    assert "'volume_type' was unexpected" in refusal(schema, bdm(volume_type="fast"))
    with_type = bdm(volume_type="fast")
    with_type["server"]["networks"] = "none"
    validate_body(server_create_schema(v("2.67")), with_type)


def test_networks_by_microversion():
    def nets(networks):
        return {"server": {"name": "x", "flavorRef": "1", "networks": networks}}

    validate_body(server_create_schema(v("2.1")), nets([{"uuid": "not-a-uuid"}]))
    assert refusal(server_create_schema(v("2.37")), nets("some")) == (
        "Invalid input for field/attribute networks. Value: some. 'some' is not valid under "
        "any of the given schemas")
    assert refusal(server_create_schema(v("2.37")), nets([{"uuid": IMAGE, "tag": "a"}])
                   ).endswith("is not valid under any of the given schemas")
    validate_body(server_create_schema(v("2.42")), nets([{"uuid": IMAGE, "tag": "a"}]))


def test_update_keypair_and_attach_schemas():
    assert "'description' was unexpected" in refusal(server_update_schema(v("2.1")),
                                                     {"server": {"description": "d"}})
    validate_body(server_update_schema(v("2.19")), {"server": {"description": None}})
    validate_body(keypair_create_schema(v("2.10")), {"keypair": {"name": "k"}})
    assert refusal(keypair_create_schema(v("2.92")), {"keypair": {"name": "k"}}).endswith(
        "'public_key' is a required property")
    assert "does not match" in refusal(keypair_create_schema(v("2.1")),
                                       {"keypair": {"name": "me@home"}})
    validate_body(keypair_create_schema(v("2.92")),
                  {"keypair": {"name": "me@home", "public_key": "ssh-rsa AAAA"}})
    assert refusal(volume_attach_schema(v("2.1")), {"volumeAttachment": {}}) == (
        "Invalid input for field/attribute volumeAttachment. Value: {}. 'volumeId' is a "
        "required property")
    assert "'delete_on_termination' was unexpected" in refusal(
        volume_attach_schema(v("2.78")),
        {"volumeAttachment": {"volumeId": IMAGE, "delete_on_termination": True}})
