"""Request bodies and list queries as Neutron's API layer checks them."""
from __future__ import annotations

import datetime as dt

import pytest

from ocx.sim.auth import Token
from ocx.sim.errors import SimError
from ocx.sim.neutron import (
    NETWORK,
    NOT_SPECIFIED,
    PORT,
    SECURITY_GROUP_RULE,
    SUBNET,
    check_rule,
    parse_list_query,
    prepare_body,
    to_bool,
    valid_subnet,
)

NOW = dt.datetime(2026, 11, 24, 17, 10, 28, tzinfo=dt.timezone.utc)


def token(project: str = "p1", roles: tuple[str, ...] = ("member",)) -> Token:
    return Token(id="t", user_id="u", user_name="demo", user_domain_id="default",
                 methods=("password",), issued_at=NOW, expires_at=NOW, audit_id="a",
                 project_id=project, roles=tuple((r, r) for r in roles))


def refused(call, *args, **kwargs) -> SimError:
    with pytest.raises(SimError) as info:
        call(*args, **kwargs)
    return info.value


def test_a_network_body_gets_its_defaults_and_both_project_keys():
    [item] = prepare_body(NETWORK, token(), {"network": {"name": "net"}}, is_create=True)
    assert item["name"] == "net" and item["admin_state_up"] is True
    assert item["project_id"] == item["tenant_id"] == "p1"
    assert item["shared"] is False and item["router:external"] is NOT_SPECIFIED


def test_values_are_converted_as_neutron_converts_them():
    [item] = prepare_body(NETWORK, token(), {"network": {"admin_state_up": "false",
                                                         "mtu": "1400"}}, is_create=True)
    assert item["admin_state_up"] is False and item["mtu"] == 1400
    err = refused(prepare_body, NETWORK, token(), {"network": {"admin_state_up": "maybe"}},
                  True)
    assert (err.status, err.kind) == (400, "InvalidInput")
    assert err.message == "Invalid input for operation: 'maybe' cannot be converted to boolean."
    assert to_bool(1) is True and to_bool("on") is True


@pytest.mark.parametrize("body, message", [
    (None, "Unable to find 'network' in request body"),
    ([], "Unable to find 'network' in request body"),
    ({"network": None}, "Unable to find 'network' in request body"),
    ({"network": []}, "Object 'network' contains invalid data"),
    ({"networks": []}, "Resources required"),
    ({"networks": [5]}, "Body contains invalid data"),
    ({"network": {"colour": "red", "name": "n"}}, "Unrecognized attribute(s) 'colour'"),
    ({"network": {"status": "DOWN"}}, "Attribute 'status' not allowed in POST"),
    ({"network": {"name": 5}}, "Invalid input for name. Reason: '5' is not a valid string."),
    ({"network": {"tenant_id": "a", "project_id": "b"}},
     "'project_id' and 'tenant_id' do not match"),
    ({"network": {"project_id": "someone-else"}},
     "Specifying 'project_id' or 'tenant_id' other than the authenticated project in "
     "request is not allowed for current user."),
])
def test_bad_network_bodies_get_neutrons_http_bad_request(body, message):
    err = refused(prepare_body, NETWORK, token(), body, True)
    assert (err.status, err.kind, err.message) == (400, "HTTPBadRequest", message)


def test_required_attributes_are_named_in_the_order_of_the_attribute_map():
    err = refused(prepare_body, SUBNET, token(), {"subnet": {"cidr": "10.0.0.0/24"}}, True)
    assert err.message == "Failed to parse request. Required attribute 'ip_version' not specified"


def test_an_update_may_not_touch_read_only_attributes_nor_be_bulk():
    err = refused(prepare_body, PORT, token(), {"port": {"network_id": "x"}}, False)
    assert err.message == "Cannot update read-only attribute network_id"
    err = refused(prepare_body, PORT, token(), {"ports": [{"name": "a"}]}, False)
    assert err.message == "Bulk operation not supported"


@pytest.mark.parametrize("cidr, reason", [
    ("10.0.0.0/33", "'10.0.0.0/33' is not a valid IP subnet"),
    ("banana", "'banana' is not a valid IP subnet"),
    ("10.0.0.0", "'10.0.0.0' isn't a recognized IP subnet cidr, '10.0.0.0/32' is recommended"),
    ("10.0.0.0/24", None),
    ("fd00::/64", None),
])
def test_cidrs_are_checked_like_neutron_lib_checks_them(cidr, reason):
    assert valid_subnet(cidr) == reason


def test_a_subnet_with_a_bad_cidr_is_refused_with_the_reason():
    body = {"subnet": {"network_id": "6f3b5b76-3c8c-4f23-8d38-1b1b1d1b1b1b", "ip_version": 4,
                       "cidr": "10.0.0.0/33"}}
    err = refused(prepare_body, SUBNET, token(), body, True)
    assert err.message == ("Invalid input for cidr. Reason: '10.0.0.0/33' is not a valid IP "
                           "subnet.")


def test_bulk_bodies_accept_wrapped_and_bare_items():
    items = prepare_body(NETWORK, token(), {"networks": [{"name": "a"},
                                                         {"network": {"name": "b"}}]}, True)
    assert [i["name"] for i in items] == ["a", "b"]


def q(*pairs: tuple[str, str], kind=NETWORK):
    return parse_list_query(kind, list(pairs))


def test_list_queries_split_fields_filters_sorting_and_paging():
    query = q(("fields", "id"), ("fields", "name"), ("name", "a"), ("name", "b"),
              ("admin_state_up", "True"), ("sort_key", "name"), ("sort_dir", "desc"),
              ("limit", "3"), ("marker", "m"), ("page_reverse", "True"))
    assert query.fields == ["id", "name"]
    assert query.filters == {"name": ["a", "b"], "admin_state_up": [True]}
    assert query.sorts == [("name", "desc")]
    assert (query.limit, query.marker, query.page_reverse) == (3, "m", True)


@pytest.mark.parametrize("pairs, kind, message", [
    ((("sort_key", "name"),), "HTTPBadRequest",
     "The number of sort_keys and sort_dirs must be same"),
    ((("sort_key", "colour"), ("sort_dir", "asc")), "HTTPBadRequest",
     "['colour'] is invalid attribute for sort_keys"),
    ((("sort_key", "name"), ("sort_dir", "up")), "HTTPBadRequest",
     "['up'] is invalid value for sort_dirs, valid value is 'asc' and 'desc'"),
    ((("colour", "red"),), "HTTPBadRequest", "['colour'] is invalid attribute for filtering"),
    ((("limit", "many"),), "BadRequest",
     "Bad limit request: Limit must be an integer 0 or greater and not 'many'."),
    ((("limit", "-1"),), "BadRequest",
     "Bad limit request: Limit must be an integer 0 or greater and not '-1'."),
])
def test_bad_list_queries_get_neutrons_messages(pairs, kind, message):
    err = refused(parse_list_query, NETWORK, list(pairs))
    assert (err.status, err.kind, err.message) == (400, kind, message)


def test_limit_zero_means_no_paging_and_tags_and_fixed_ips_are_filters():
    assert q(("limit", "0"), ("marker", "x")).limit is None
    query = q(("fixed_ips", "ip_address=10.0.0.5"), ("fixed_ips", "subnet_id=s"),
              ("tags-any", "a,b"), kind=PORT)
    assert query.filters == {"fixed_ips": {"ip_address": ["10.0.0.5"], "subnet_id": ["s"]},
                             "tags-any": ["a,b"]}


def rule(**values) -> dict:
    base = {"direction": "ingress", "ethertype": "IPv4", "protocol": None,
            "port_range_min": None, "port_range_max": None, "remote_ip_prefix": None,
            "remote_group_id": None}
    return base | values


@pytest.mark.parametrize("values, kind", [
    ({"port_range_min": 22, "port_range_max": 22}, "SecurityGroupProtocolRequiredWithPorts"),
    ({"protocol": "tcp", "port_range_min": 30, "port_range_max": 20},
     "SecurityGroupInvalidPortRange"),
    ({"protocol": "icmp", "port_range_max": 3}, "SecurityGroupMissingIcmpType"),
    ({"remote_ip_prefix": "fd00::/64"}, "SecurityGroupRuleParameterConflict"),
    ({"remote_ip_prefix": "10.0.0.0/8", "remote_group_id": "g"},
     "SecurityGroupRemoteGroupAndRemoteIpPrefix"),
])
def test_security_group_rules_neutron_refuses(values, kind):
    err = refused(check_rule, rule(**values))
    assert (err.status, err.kind) == (400, kind)


def test_security_group_rule_protocols_and_ports_are_converted():
    body = {"security_group_rule": {"security_group_id": "6f3b5b76-3c8c-4f23-8d38-1b1b1d1b1b1b",
                                    "direction": "ingress", "protocol": "TCP",
                                    "port_range_min": "22", "port_range_max": 22,
                                    "ethertype": "ipv4", "remote_ip_prefix": "10.1.2.3/8"}}
    [item] = prepare_body(SECURITY_GROUP_RULE, token(), body, True)
    assert (item["protocol"], item["port_range_min"], item["ethertype"],
            item["remote_ip_prefix"]) == ("tcp", 22, "IPv4", "10.0.0.0/8")
    check_rule(item)
    body["security_group_rule"]["protocol"] = "carrier-pigeon"
    err = refused(prepare_body, SECURITY_GROUP_RULE, token(), body, True)
    assert err.kind == "SecurityGroupRuleInvalidProtocol"
    assert err.message.startswith("Invalid input for operation: Security group rule protocol "
                                  "carrier-pigeon not supported.")
