"""Request bodies checked against GBP's attribute maps with neutron-lib, as Neutron's API layer
checks them: the PROXY_GROUP attributes of seed 001 attribute for attribute."""
from __future__ import annotations

import pytest

from ocx.policy.attributes import attribute_maps, convert_filter, prepare
from ocx.policy.errors import PolicyError

UUID = "0b5c2f3e-7d6a-4e1b-9f3c-2a8d5e6f7a8b"


def post(collection, resource, **attrs):
    return prepare(collection, {resource: attrs}, is_create=True, project_id="p1",
                   is_admin=False)


def put(collection, resource, **attrs):
    return prepare(collection, {resource: attrs}, is_create=False, project_id="p1",
                   is_admin=False)


def refused(call, *args, **attrs) -> PolicyError:
    with pytest.raises(PolicyError) as caught:
        call(*args, **attrs)
    assert caught.value.status == 400
    return caught.value


def test_the_seed_table_attribute_for_attribute():
    maps = attribute_maps()
    ptg, l3p, pt = maps["policy_target_groups"], maps["l3_policies"], maps["policy_targets"]
    rules = {name: (spec["allow_post"], spec["allow_put"]) for name, spec in (
        ("proxied_group_id", ptg["proxied_group_id"]), ("proxy_type", ptg["proxy_type"]),
        ("proxy_group_id", ptg["proxy_group_id"]), ("proxy_ip_pool", l3p["proxy_ip_pool"]),
        ("proxy_subnet_prefix_length", l3p["proxy_subnet_prefix_length"]),
        ("proxy_gateway", pt["proxy_gateway"]),
        ("group_default_gateway", pt["group_default_gateway"]))}
    assert rules == {"proxied_group_id": (True, False), "proxy_type": (True, False),
                     "proxy_group_id": (False, False), "proxy_ip_pool": (True, False),
                     "proxy_subnet_prefix_length": (True, True),
                     "proxy_gateway": (True, False), "group_default_gateway": (True, False)}
    assert ptg["proxied_group_id"]["validate"] == {"type:uuid_or_none": None}
    assert ptg["proxy_type"]["validate"] == {"type:values": ["l2", "l3", None]}
    assert l3p["proxy_ip_pool"]["validate"] == {"type:subnet": None}
    assert l3p["proxy_ip_pool"]["default"] == "192.168.0.0/16"
    assert l3p["proxy_subnet_prefix_length"]["default"] == 29


def test_defaults_on_a_post():
    got = post("l3_policies", "l3_policy")
    assert got["proxy_ip_pool"] == "192.168.0.0/16" and got["proxy_subnet_prefix_length"] == 29
    assert got["tenant_id"] == got["project_id"] == "p1"
    group = post("policy_target_groups", "policy_target_group")
    assert group["proxied_group_id"] is None and group["proxy_type"] is None
    target = post("policy_targets", "policy_target", policy_target_group_id=UUID)
    assert target["proxy_gateway"] is False and target["group_default_gateway"] is False


def test_conversions():
    assert post("l3_policies", "l3_policy", proxy_subnet_prefix_length="27")[
        "proxy_subnet_prefix_length"] == 27
    assert post("policy_targets", "policy_target", policy_target_group_id=UUID,
                proxy_gateway="true")["proxy_gateway"] is True


def test_neutrons_messages():
    assert refused(post, "policy_target_groups", "policy_target_group",
                   proxy_group_id=UUID).message == "Attribute 'proxy_group_id' not allowed in POST"
    assert refused(put, "policy_target_groups", "policy_target_group",
                   proxied_group_id=UUID).message == \
        "Cannot update read-only attribute proxied_group_id"
    assert refused(post, "policy_target_groups", "policy_target_group",
                   proxy_type="l7").message == \
        "Invalid input for proxy_type. Reason: l7 is not in valid_values."
    bad = refused(post, "l3_policies", "l3_policy", proxy_subnet_prefix_length="x")
    assert (bad.type, bad.message) == ("InvalidInput",
                                       "Invalid input for operation: 'x' is not an integer.")
    assert refused(post, "l3_policies", "l3_policy", bogus=1).message == \
        "Unrecognized attribute(s) 'bogus'"
    assert refused(post, "policy_targets", "policy_target").message == \
        "Failed to parse request. Required attribute 'policy_target_group_id' not specified"


@pytest.mark.parametrize("body,message", [
    (None, "Resource body required"), ([], "Resource body required"),
    ("x", "Body contains invalid data"),
    ({"l3_policies": [{}]}, "Bulk operation not supported"),
    ({"other": {}}, "Unable to find 'l3_policy' in request body"),
    ({"l3_policy": 5}, "Object 'l3_policy' contains invalid data")])
def test_the_envelope(body, message):
    with pytest.raises(PolicyError) as caught:
        prepare("l3_policies", body, is_create=True, project_id="p1", is_admin=False)
    assert caught.value.message == message


def test_another_project_only_for_an_admin():
    assert refused(post, "l2_policies", "l2_policy", tenant_id="p2").type == "HTTPBadRequest"
    got = prepare("l2_policies", {"l2_policy": {"tenant_id": "p2"}}, is_create=True,
                  project_id="p1", is_admin=True)
    assert got["tenant_id"] == "p2"


def test_listing_filters_are_converted_like_the_attribute():
    assert convert_filter("policy_targets", "proxy_gateway", "True") is True
    assert convert_filter("l3_policies", "ip_version", "6") == 6
    assert convert_filter("l3_policies", "name", "x") == "x"
