"""Gluon port registry values: what Gluon writes is read, anything else is reported."""
from __future__ import annotations

import orjson
import pytest

from ocx.backends.gluon_registry import (Malformed, PortBackend, etcd_address, parse_entry,
                                         port_id_of)

PORT = "fe338d4c-2aef-4487-aa25-cb753bf02518"


def value(**fields) -> bytes:
    return orjson.dumps(fields)


def test_a_value_as_gluon_writes_it_names_tenant_service_and_url():
    raw = value(tenant_id="5205b400fa6c4a888a0b229200562229", service="net-l3vpn",
                url="http://127.0.0.1:2705/")
    assert parse_entry(PORT, raw) == PortBackend(
        PORT, "5205b400fa6c4a888a0b229200562229", "net-l3vpn", "http://127.0.0.1:2705")


@pytest.mark.parametrize("raw, reason", [
    (b"not json", "value is not JSON"),
    (b"[1, 2]", "value is a JSON list, not an object"),
    (value(service="net-l3vpn", url="http://h:1"), "'tenant_id' is missing"),
    (value(tenant_id="t", service="", url="http://h:1"), "'service' is missing"),
    (value(tenant_id="t", service="net-l3vpn", url=7), "'url' is missing"),
    (value(tenant_id="t", service="net-l3vpn", url="h:1/x"), "'url' is not an http(s) URL"),
])
def test_a_malformed_value_is_reported_with_why_never_guessed(raw, reason):
    entry = parse_entry(PORT, raw)
    assert isinstance(entry, Malformed) and entry.port_id == PORT
    assert entry.reason.startswith(reason)


def test_only_keys_directly_under_the_prefix_are_ports():
    assert port_id_of(f"/gluon/port/{PORT}".encode(), "/gluon/port/") == PORT
    assert port_id_of(b"/gluon/port/", "/gluon/port/") is None
    assert port_id_of(b"/gluon/port/a/b", "/gluon/port/") is None
    assert port_id_of(b"/gluon/portx", "/gluon/port/") is None
    assert port_id_of(f"/proton/net-l3vpn/Port/{PORT}".encode(), "/gluon/port/") is None


def test_etcd_endpoints_with_or_without_scheme():
    assert etcd_address("http://127.0.0.1:23790") == ("127.0.0.1", 23790)
    assert etcd_address("localhost:2379") == ("localhost", 2379)
    assert etcd_address("http://etcd.example") == ("etcd.example", 2379)
