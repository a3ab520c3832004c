"""How answers show a spanning network: once, under its own id, its ports of every cloud."""
from __future__ import annotations

import pytest

from ocx.extensions.base import ExtensionError
from ocx.extensions.spanning import (
    as_boolean,
    narrowed_link,
    show_networks,
    show_port,
    show_subnets,
    widened,
)
from ocx.store import SpanningView

VIEW = SpanningView(networks={"net": "net", "twin3": "net", "twin2": "net"},
                    subnets={"twin3-sub": "sub", "twin2-sub": "sub"},
                    twins_of={"net": ("net", "twin2", "twin3")})


def test_every_cloud_listed_shows_the_network_once_under_its_own_id():
    items = [{"id": "other"}, {"id": "twin3", "subnets": ["twin3-sub"]},
             {"id": "net", "subnets": ["sub"]}, {"id": "twin2", "subnets": ["twin2-sub"]}]
    shown = show_networks(items, VIEW)
    assert shown == [{"id": "other"}, {"id": "net", "subnets": ["sub"], "ocx:spanning": True}]


def test_one_cloud_listed_shows_its_twin_as_the_network():
    shown = show_networks([{"id": "twin3", "subnets": ["twin3-sub"]}], VIEW)
    assert shown == [{"id": "net", "subnets": ["sub"], "ocx:spanning": True}]


def test_twin_subnets_are_hidden_or_shown_as_the_spanning_subnet():
    assert show_subnets([{"id": "sub", "network_id": "net"},
                         {"id": "twin3-sub", "network_id": "twin3"}], VIEW) == [
        {"id": "sub", "network_id": "net"}]
    assert show_subnets([{"id": "twin3-sub", "network_id": "twin3"}], VIEW) == [
        {"id": "sub", "network_id": "net"}]


def test_a_port_on_a_twin_shows_the_spanning_ids():
    port = {"id": "p", "network_id": "twin3",
            "fixed_ips": [{"subnet_id": "twin3-sub", "ip_address": "10.0.0.90"}]}
    assert show_port(port, VIEW) == {
        "id": "p", "network_id": "net",
        "fixed_ips": [{"subnet_id": "sub", "ip_address": "10.0.0.90"}]}
    assert show_port({"id": "q", "network_id": "plain"}, VIEW) == {"id": "q",
                                                                   "network_id": "plain"}


def test_a_filter_on_the_network_also_names_its_twins_and_the_link_does_not():
    pairs = widened([("network_id", "net"), ("limit", "2")], VIEW)
    assert pairs == [("network_id", "net"), ("network_id", "twin2"), ("network_id", "twin3"),
                     ("limit", "2")]
    href = "http://ocx/network/v2.0/ports?network_id=net&network_id=twin2&network_id=twin3" \
           "&limit=2&marker=m"
    assert narrowed_link(href, {"twin2", "twin3"}) == \
        "http://ocx/network/v2.0/ports?network_id=net&limit=2&marker=m"


@pytest.mark.parametrize("value, expected", [(True, True), ("true", True), ("Yes", True),
                                             (1, True), (False, False), ("0", False),
                                             ("off", False)])
def test_the_flag_is_read_as_neutron_reads_booleans(value, expected):
    assert as_boolean(value) is expected


@pytest.mark.parametrize("value", ["maybe", [True], {"a": 1}, None, 2])
def test_a_flag_that_is_no_boolean_is_refused(value):
    with pytest.raises(ExtensionError) as refused:
        as_boolean(value)
    assert refused.value.status == 400
    assert refused.value.message == f"Invalid input for operation: '{value}' cannot be " \
                                    f"converted to boolean."
