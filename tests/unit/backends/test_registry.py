"""The providers of now: configured (pinned), excluded, discovered, disabled at home."""
from __future__ import annotations

import pytest

from ocx.backends.registry import (CONFIGURED, DISCOVERED, HOME, ProviderEntry, Providers,
                                   merge)


def sp(enabled=True, url="http://sp/v3/OS-FEDERATION/identity_providers/home/protocols/"
                          "saml2/auth"):
    return {"enabled": enabled, "auth_url": url}


def pinned(name, sp_id=None, **kw):
    return ProviderEntry(name, sp_id or name, CONFIGURED, **kw)


def names(entries):
    return [(e.name, e.source) for e in entries]


def test_configured_providers_come_first_in_their_order_then_discovered_ones_by_id():
    merged = merge([pinned("sp2"), pinned("sp1")], {"sp3": sp(), "sp1": sp(), "sp0": sp()},
                   excluded=())
    assert names(merged) == [("sp2", CONFIGURED), ("sp1", CONFIGURED), ("sp0", DISCOVERED),
                             ("sp3", DISCOVERED)]


def test_a_pinned_provider_stays_though_the_home_keystone_disables_or_drops_it():
    assert names(merge([pinned("sp1")], {"sp1": sp(enabled=False)}, excluded=())) == \
        [("sp1", CONFIGURED)]
    assert names(merge([pinned("sp1")], {}, excluded=())) == [("sp1", CONFIGURED)]


def test_a_pinned_provider_is_matched_by_its_sp_id_and_keeps_its_settings():
    mine = pinned("bu", "bu-sp", interface="internal", project_map={"a": "b"})
    merged = merge([mine], {"bu-sp": sp(url="http://bu/v3/auth")}, excluded=())
    assert [(e.name, e.sp_id, e.interface, dict(e.project_map), e.auth_url)
            for e in merged] == [("bu", "bu-sp", "internal", {"a": "b"}, "http://bu/v3/auth")]


def test_disabled_excluded_and_reserved_service_providers_are_not_used():
    merged = merge([], {"off": sp(enabled=False), "no": sp(), "home": sp(), "peer": sp(),
                        "yes": sp()}, excluded={"no"}, reserved={"home", "peer"})
    assert names(merged) == [("yes", DISCOVERED)]


def test_an_sp_whose_id_is_a_pinned_providers_name_is_not_taken_twice():
    merged = merge([pinned("bu", "bu-sp")], {"bu": sp(), "bu-sp": sp()}, excluded=())
    assert names(merged) == [("bu", CONFIGURED)]


class Thing:
    def __init__(self, name, sp_id=None):
        self.name, self.sp_id = name, sp_id


def registry(configured=(), excluded=(), extra=None):
    made = []

    def make(entry):
        made.append(entry.name)
        return Thing(entry.name, entry.sp_id)

    providers = Providers(ProviderEntry("home", None, HOME), Thing("home"), list(configured),
                          make, excluded=excluded, extra=extra or {})
    return providers, made


def test_the_registry_is_read_live_as_the_sequence_of_names_home_first():
    providers, made = registry([pinned("sp1")])
    seen = providers        # what the pipeline and extensions hold from start-up
    assert list(seen) == ["home", "sp1"] and seen[0] == "home"
    change = providers.update({"sp1": sp(), "sp3": sp()})
    assert change.added == ("sp3",) and change.removed == ()
    assert list(seen) == ["home", "sp1", "sp3"] and "sp3" in seen and len(seen) == 3
    assert providers.get("sp3").sp_id == "sp3"
    assert dict(providers.remotes)["sp3"].sp_id == "sp3" and "home" not in providers.remotes
    assert made == ["sp1", "sp3"]


def test_a_provider_disabled_at_home_leaves_the_names_but_its_object_is_kept():
    providers, made = registry()
    providers.update({"sp3": sp()})
    thing = providers.get("sp3")
    change = providers.update({"sp3": sp(enabled=False)})
    assert change.removed == ("sp3",) and "sp3" not in providers
    assert providers.get("sp3") is None and "sp3" not in providers.remotes
    assert providers.objects["sp3"] is thing     # a call already planned still finds it
    providers.update({"sp3": sp()})
    assert providers.get("sp3") is thing and made == ["sp3"]


def test_providers_reached_through_peers_are_never_among_the_names():
    peer = Thing("far")
    providers, _ = registry(extra={"far": peer})
    providers.update({"far": sp()})
    assert list(providers) == ["home"] and providers.get("far") is peer


def test_excluding_a_configured_provider_is_a_configuration_error():
    with pytest.raises(ValueError, match="sp1"):
        registry([pinned("sp1")], excluded={"sp1"})
