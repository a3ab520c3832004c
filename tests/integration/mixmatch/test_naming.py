"""mixmatch's name routing with the unmodified ``openstack`` client: ``NAME@provider`` creates
the resource in that provider, named NAME."""
from __future__ import annotations

import json

from .test_attach import openstack


def test_a_volume_named_with_a_provider_suffix_is_made_there(exchange):
    made = json.loads(openstack(exchange, "volume", "create", "--size", "1", "-f", "json",
                                "data@sp2"))
    try:
        assert made["name"] == "data"
        in_sp2 = exchange.connect("sp2").block_storage.get_volume(made["id"])
        assert in_sp2.name == "data"
        assert exchange.connect("sp3").block_storage.find_volume(made["id"]) is None
    finally:
        exchange.connect("sp2").block_storage.delete_volume(made["id"], ignore_missing=True)


def test_a_network_named_for_sp3_is_made_in_sp3_and_found_through_ocx(exchange):
    made = json.loads(openstack(exchange, "network", "create", "-f", "json", "blue@sp3"))
    try:
        assert exchange.connect("sp3").network.get_network(made["id"]).name == "blue"
        shown = json.loads(openstack(exchange, "network", "show", "-f", "json", made["id"]))
        assert shown["name"] == "blue"
    finally:
        exchange.connect("sp3").network.delete_network(made["id"], ignore_missing=True)


def test_an_address_like_name_is_only_a_name(exchange):
    made = json.loads(openstack(exchange, "volume", "create", "--size", "1", "-f", "json",
                                "backup@example.org"))
    try:
        assert made["name"] == "backup@example.org"
    finally:
        openstack(exchange, "volume", "delete", made["id"])
