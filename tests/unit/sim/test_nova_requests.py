"""What a server create asks for: block devices, networks, counts, images, key pairs."""
from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ocx.sim.errors import SimError
from ocx.sim.nova import (
    FLAVORS,
    GiB,
    check_boot_sequence,
    generate_keypair,
    image_fits,
    image_properties,
    instance_count,
    next_device_name,
    parse_bdms,
    parse_networks,
    sanitize_hostname,
    server_create_schema,
    ssh_fingerprint,
    v,
    validate_body,
    x509_fingerprint,
)

IMAGE = "70a599e0-31e7-49b7-b260-868f441e862b"
VOLUME = "4a3c9e4b-0d5e-4b8e-9a57-1f0f6c8b9a11"


def refused(func, *args) -> str:
    with pytest.raises(SimError) as err:
        func(*args)
    assert err.value.status == 400
    return err.value.message


def bdms(*items, image_given: bool = False):
    return parse_bdms({"block_device_mapping_v2": list(items)}, image_given)


def test_boot_from_a_new_volume_made_from_an_image():
    [root] = bdms({"source_type": "image", "destination_type": "volume", "uuid": IMAGE,
                   "volume_size": "2", "boot_index": "0", "delete_on_termination": "true"})
    assert (root.image_id, root.volume_id, root.volume_size, root.device_name) == (
        IMAGE, None, 2, "/dev/vda")
    assert root.is_root and root.is_volume and root.delete_on_termination
    check_boot_sequence([root], image_given=False)


def test_existing_volumes_and_device_names():
    root, data = bdms({"source_type": "volume", "uuid": VOLUME, "boot_index": 0},
                      {"source_type": "blank", "destination_type": "volume",
                       "volume_size": 1, "device_name": "vdc"})
    assert (root.volume_id, root.destination_type, root.device_name) == (
        VOLUME, "volume", "/dev/vda")
    assert (data.boot_index, data.device_name) == (None, "/dev/vdc")
    [extra] = bdms({"source_type": "blank", "destination_type": "volume", "volume_size": 1},
                   image_given=True)
    assert extra.device_name == "/dev/vdb"  # the image is on /dev/vda
    assert next_device_name(["/dev/vda", "vdb"]) == "/dev/vdc"


def test_the_mistakes_nova_refuses():
    assert refused(bdms, {"source_type": "volume", "boot_index": 0}) == (
        "Block Device Mapping is Invalid: Missing device UUID.")
    assert refused(bdms, {"source_type": "blank", "uuid": VOLUME}) == (
        "Block Device Mapping is Invalid: Invalid device UUID.")
    assert refused(bdms, {"source_type": "image", "destination_type": "local",
                          "uuid": IMAGE, "boot_index": 1}) == (
        "Block Device Mapping is Invalid: Mapping image to local is not supported.")
    assert refused(bdms, {"source_type": "blank", "destination_type": "volume"}) == (
        "Blank volumes (source: 'blank', dest: 'volume') need to have non-zero size")
    assert refused(bdms, {"source_type": "volume", "uuid": VOLUME,
                          "volume_type": "fast"}) == (
        "Block Device Mapping is Invalid: Specifying volume type to existing volume is not "
        "supported.")
    assert refused(parse_bdms, {"block_device_mapping": [{"volume_id": VOLUME}],
                                "block_device_mapping_v2": [{"source_type": "blank"}]},
                   False) == "Using different block_device_mapping syntaxes is not allowed."
    two_roots = bdms({"source_type": "volume", "uuid": VOLUME, "boot_index": 0},
                     {"source_type": "volume", "uuid": IMAGE, "boot_index": 0})
    assert refused(check_boot_sequence, two_roots, False).startswith("Boot sequence")
    assert refused(check_boot_sequence, [], False).startswith("Boot sequence")


def test_the_legacy_mapping_becomes_a_volume_mapping():
    [root] = parse_bdms({"block_device_mapping": [{"volume_id": VOLUME,
                                                    "device_name": "vda"}]}, False)
    assert (root.source_type, root.volume_id, root.boot_index) == ("volume", VOLUME, 0)


def test_networks_as_requested():
    assert parse_networks(None, v("2.1")) is None
    assert parse_networks([], v("2.1")) is None
    assert parse_networks("auto", v("2.37")) == "auto"
    [port, net] = parse_networks([{"port": VOLUME}, {"uuid": IMAGE, "fixed_ip": "10.0.0.9"}],
                                 v("2.42"))
    assert (port.port_id, port.network_id) == (VOLUME, None)
    assert (net.network_id, net.fixed_ip) == (IMAGE, "10.0.0.9")
    assert refused(parse_networks, [{"uuid": "private"}], v("2.1")) == (
        "Bad networks format: network uuid is not in proper format (private)")
    assert refused(parse_networks, [{"fixed_ip": "10.0.0.9"}], v("2.1")) == (
        "Bad network format: missing 'uuid'")


def test_counts():
    assert instance_count({}) == (1, 1)
    assert instance_count({"min_count": "2"}) == (2, 2)
    assert instance_count({"max_count": 3}) == (1, 3)
    assert refused(instance_count, {"min_count": 3, "max_count": 2}) == (
        "min_count must be <= max_count")
    assert refused(instance_count, {"min_count": "0"}) == "min_count must be >= 1"


def test_an_image_must_be_active_and_fit_the_flavor():
    tiny = FLAVORS["1"]
    image_fits({"id": IMAGE, "status": "active", "size": GiB, "min_ram": 0}, tiny)
    assert refused(image_fits, {"id": IMAGE, "status": "queued"}, tiny) == (
        f"Image {IMAGE} is not active.")
    assert refused(image_fits, {"id": IMAGE, "status": "active", "min_ram": 1024}, tiny) == (
        "Flavor's memory is too small for requested image.")
    assert refused(image_fits, {"id": IMAGE, "status": "active", "size": 2 * GiB}, tiny) == (
        f"Flavor's disk is too small for requested image. Flavor disk is {GiB} bytes, image "
        f"is {2 * GiB} bytes.")
    assert refused(image_fits, {"id": IMAGE, "status": "active", "min_disk": 5}, tiny) == (
        "Flavor's disk is smaller than the minimum size specified in image metadata. Flavor "
        f"disk is {GiB} bytes, minimum size is {5 * GiB} bytes.")
    assert image_properties({"id": IMAGE, "name": "cirros", "disk_format": "qcow2",
                             "min_disk": 1, "hw_disk_bus": "virtio", "tags": []}) == {
        "disk_format": "qcow2", "min_disk": "1", "hw_disk_bus": "virtio",
        "base_image_ref": IMAGE}


def test_hostnames_from_names():
    assert sanitize_hostname("Web Server_1.example", "x") == "web-server-1-example"
    assert sanitize_hostname("!!!", "server-1") == "server-1"


def test_key_pairs_generated_and_fingerprinted_as_nova_does():
    private, public, fingerprint = generate_keypair("ssh", "u1")
    assert private.startswith("-----BEGIN RSA PRIVATE KEY-----")
    assert public.startswith("ssh-rsa ") and public.endswith(" Generated-by-Nova")
    assert ssh_fingerprint(public) == fingerprint and len(fingerprint.split(":")) == 16
    with pytest.raises(ValueError):
        ssh_fingerprint("ssh-rsa not-a-key")
    _, cert, x509_print = generate_keypair("x509", "u1")
    assert cert.startswith("-----BEGIN CERTIFICATE-----")
    assert x509_fingerprint(cert) == x509_print and len(x509_print.split(":")) == 20


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 5) | st.text(max_size=6)
    | st.sampled_from(["", "0", "1", "-1", IMAGE, "volume", "image", "blank", "local",
                       "snapshot", "auto", "none", "vda"]),
    lambda children: st.lists(children, max_size=3)
    | st.dictionaries(st.sampled_from(["uuid", "source_type", "destination_type", "boot_index",
                                       "volume_size", "port", "fixed_ip", "device_name",
                                       "delete_on_termination", "no_device", "tag"]),
                      children, max_size=4),
    max_leaves=10)


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(bdm=json_values, networks=json_values, counts=json_values,
       version=st.sampled_from(["2.1", "2.37", "2.42", "2.67", "2.100"]))
def test_a_body_that_passes_the_schema_is_parsed_or_refused_never_crashes(bdm, networks, counts,
                                                                          version):
    server = {"name": "x", "flavorRef": "1", "block_device_mapping_v2": bdm,
              "networks": networks, "min_count": counts}
    try:
        validate_body(server_create_schema(v(version)), {"server": server})
    except SimError:
        return
    try:
        parsed = parse_bdms(server, image_given=False)
        check_boot_sequence(parsed, image_given=False)
        parse_networks(server.get("networks"), v(version))
        instance_count(server)
    except SimError as err:
        assert err.status == 400
