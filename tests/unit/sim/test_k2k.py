"""Keystone's mapping rules, as a K2K service provider applies them to an IdP's attributes."""
from __future__ import annotations

import pytest

from ocx.sim.k2k import MappingError, apply_mapping, validate_mapping

IDP = "http://idp.example:5000/v3/OS-FEDERATION/saml2/idp"
# What Shibboleth hands Keystone after a K2K assertion: several values joined by ";".
ENVIRONMENT = {"openstack_user": "demo", "openstack_user_domain": "Default",
               "openstack_roles": "member;reader", "openstack_project": "demo",
               "openstack_project_domain": "Default", "Shib-Identity-Provider": IDP}

K2K_RULES = [{
    "local": [{"user": {"name": "{0}", "type": "ephemeral"}}, {"group": {"id": "g-fed"}}],
    "remote": [{"type": "openstack_user"},
               {"type": "Shib-Identity-Provider", "any_one_of": [IDP]}],
}]


def mapped(rules, environment=ENVIRONMENT):
    return apply_mapping("m1", validate_mapping({"rules": rules}), environment)


def test_the_k2k_mapping_gives_an_ephemeral_user_in_the_federated_group():
    identity = mapped(K2K_RULES)
    assert identity.user == {"name": "demo", "type": "ephemeral"}
    assert identity.group_ids == ("g-fed",)
    assert identity.group_names == ()


def test_an_assertion_from_another_idp_maps_to_nothing():
    with pytest.raises(MappingError) as info:
        mapped(K2K_RULES, {**ENVIRONMENT, "Shib-Identity-Provider": "http://rogue/idp"})
    assert info.value.status == 400
    assert "Could not map any federated user properties" in str(info.value)


def test_a_missing_attribute_means_the_rule_does_not_apply():
    environment = {k: v for k, v in ENVIRONMENT.items() if k != "openstack_user"}
    with pytest.raises(MappingError):
        mapped(K2K_RULES, environment)


def test_not_any_of_excludes_a_value():
    rules = [{"local": [{"user": {"name": "{0}"}}, {"group": {"id": "g-users"}}],
              "remote": [{"type": "openstack_user"},
                         {"type": "openstack_roles", "not_any_of": ["admin"]}]}]
    assert mapped(rules).group_ids == ("g-users",)
    with pytest.raises(MappingError):
        mapped(rules, {**ENVIRONMENT, "openstack_roles": "member;admin"})


def test_regex_matches_any_value():
    rules = [{"local": [{"user": {"name": "{0}"}}],
              "remote": [{"type": "openstack_user"},
                         {"type": "openstack_roles", "any_one_of": ["^mem"], "regex": True}]}]
    assert mapped(rules).user["name"] == "demo"
    with pytest.raises(MappingError):
        mapped(rules, {**ENVIRONMENT, "openstack_roles": "reader;remember"})


def test_later_rules_add_groups_and_the_first_user_wins():
    rules = [
        {"local": [{"user": {"name": "{0}@{1}", "domain": {"name": "Default"}}}],
         "remote": [{"type": "openstack_user"}, {"type": "openstack_user_domain"}]},
        {"local": [{"user": {"name": "ignored"}},
                   {"group": {"name": "staff", "domain": {"name": "Default"}}}],
         "remote": [{"type": "openstack_project", "any_one_of": ["demo"]}]},
    ]
    identity = mapped(rules)
    assert identity.user == {"name": "demo@Default", "domain": {"name": "Default"},
                             "type": "ephemeral"}
    assert identity.group_names == ({"name": "staff", "domain": {"name": "Default"}},)


def test_groups_from_a_multi_valued_attribute():
    rules = [{"local": [{"user": {"name": "{0}"}},
                        {"groups": "{1}", "domain": {"id": "default"}}],
              "remote": [{"type": "openstack_user"}, {"type": "openstack_roles"}]}]
    assert mapped(rules).group_names == ({"name": "member", "domain": {"id": "default"}},
                                         {"name": "reader", "domain": {"id": "default"}})


def test_whitelist_and_blacklist_filter_what_is_captured():
    rules = [{"local": [{"user": {"name": "{0}"}},
                        {"groups": "{1}", "domain": {"id": "default"}}],
              "remote": [{"type": "openstack_user"},
                         {"type": "openstack_roles", "whitelist": ["reader"]}]}]
    assert [g["name"] for g in mapped(rules).group_names] == ["reader"]
    rules[0]["remote"][1] = {"type": "openstack_roles", "blacklist": ["reader"]}
    assert [g["name"] for g in mapped(rules).group_names] == ["member"]


def test_groups_without_a_domain_are_an_invalid_rule():
    rules = [{"local": [{"user": {"name": "{0}"}}, {"groups": "{0}"}],
              "remote": [{"type": "openstack_user"}]}]
    with pytest.raises(MappingError) as info:
        mapped(rules)
    assert "Both 'groups' and 'domain'" in str(info.value)


def test_a_reference_to_a_missing_match_is_keystones_direct_mapping_error():
    rules = [{"local": [{"user": {"name": "{3}"}}], "remote": [{"type": "openstack_user"}]}]
    with pytest.raises(MappingError) as info:
        mapped(rules)
    assert info.value.status == 500
    assert "refers to a remote match that doesn't exist" in str(info.value)


@pytest.mark.parametrize("ref, message", [
    ({}, "'rules' is a required property"),
    ({"rules": []}, "is too short"),
    ({"rules": [{"local": []}]}, "'remote' is a required property"),
    ({"rules": [{"local": [], "remote": [{"type": "x"}], "extra": 1}]},
     "('extra' was unexpected)"),
    ({"rules": [{"local": [{"projects": []}], "remote": [{"type": "x"}]}]},
     "('projects' was unexpected)"),
    ({"rules": [{"local": [{"user": {"type": "admin"}}], "remote": [{"type": "x"}]}]},
     "is not one of ['ephemeral', 'local']"),
    ({"rules": [{"local": [{"group": {"name": "g"}}], "remote": [{"type": "x"}]}]},
     "is not valid under any of the given schemas"),
    ({"rules": [{"local": [], "remote": [{"type": "x", "any_one_of": "a"}]}]},
     "is not valid under any of the given schemas"),
    ({"rules": [{"local": [], "remote": [{"type": "x", "regex": True}]}]},
     "is not valid under any of the given schemas"),
    ({"rules": [{"local": [], "remote": [{"any_one_of": ["a"]}]}]},
     "is not valid under any of the given schemas"),
])
def test_invalid_mappings_are_refused_with_a_schema_message(ref, message):
    with pytest.raises(MappingError) as info:
        validate_mapping(ref)
    assert message in str(info.value)
    assert info.value.status == 400
