"""Plan: where a call goes, decided without any I/O."""
from __future__ import annotations

import pytest
from multidict import CIMultiDict, MultiDict

from ocx.api.request import parse
from ocx.routing.plan import Kind, PlanError, plan

PROVIDERS = ("home", "sp1", "sp2")


def req(method, path, headers=None):
    return parse(method, path, MultiDict(), CIMultiDict(headers or {}))


def test_a_create_goes_to_the_services_default():
    p = plan(req("POST", "/volume/v3/volumes"), providers=PROVIDERS, default="home",
             mapped_provider=None)
    assert (p.kind, p.targets, p.learn) == (Kind.SINGLE, ("home",), True)


@pytest.mark.parametrize("header", ["X-OCX-Provider", "MM-SERVICE-PROVIDER"])
def test_a_create_goes_where_the_caller_says(header):
    p = plan(req("POST", "/compute/v2.1/servers", {header: "sp2"}), providers=PROVIDERS,
             default="home", mapped_provider=None)
    assert p.targets == ("sp2",)


def test_naming_an_unknown_provider_is_a_client_error():
    with pytest.raises(PlanError) as err:
        plan(req("POST", "/compute/v2.1/servers", {"X-OCX-Provider": "mars"}),
             providers=PROVIDERS, default="home", mapped_provider=None)
    assert err.value.status == 400 and "mars" in err.value.message


def test_a_known_resource_goes_to_its_provider():
    p = plan(req("DELETE", "/network/v2.0/ports/p1"), providers=PROVIDERS, default="home",
             mapped_provider="sp1")
    assert (p.kind, p.targets, p.mapped) == (Kind.SINGLE, ("sp1",), True)


def test_an_unknown_resource_is_searched_in_every_provider_home_first():
    p = plan(req("GET", "/image/v2/images/i1"), providers=PROVIDERS, default="home",
             mapped_provider=None)
    assert (p.kind, p.targets) == (Kind.SEARCH, PROVIDERS)


def test_resources_every_cloud_has_are_searched_but_not_learned():
    p = plan(req("GET", "/compute/v2.1/flavors/1"), providers=PROVIDERS, default="home",
             mapped_provider=None)
    assert p.kind is Kind.SEARCH and not p.learn


def test_a_stale_mapping_turns_into_a_search_of_every_provider():
    from ocx.routing.plan import after_stale
    mapped = plan(req("GET", "/network/v2.0/ports/p1"), providers=PROVIDERS, default="home",
                  mapped_provider="sp1")
    again = after_stale(mapped, PROVIDERS)
    assert (again.kind, again.targets, again.learn, again.mapped) == \
        (Kind.SEARCH, PROVIDERS, True, False)
