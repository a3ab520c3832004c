"""A controller provider's servers and credentials, as the seed configures them:
servers=192.168.1.100:80,192.168.1.101:80, serverauth=user:pass, serverssl=False."""
from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ocx import config
from ocx.backends.controller_config import (
    ControllerConfigError,
    Server,
    parse_server,
    parse_servers,
    settings,
)


def test_the_seeds_configuration():
    s = settings("ctl", servers="192.168.1.100:80,192.168.1.101:80", serverauth="user:pass",
                 serverssl=False)
    assert s.servers == (Server("192.168.1.100", 80), Server("192.168.1.101", 80))
    assert (s.username, s.password, s.ssl) == ("user", "pass", False)
    assert s.deployment_id == "ctl"
    assert "pass" not in repr(s)


def test_ipv6_servers_are_written_in_brackets():
    [a, b] = parse_servers("[fd00::1]:8000, ctl-2.example.net:8443", provider="ctl")
    assert a == Server("fd00::1", 8000) and a.url(ssl=True) == "https://[fd00::1]:8000"
    assert b.url(ssl=False) == "http://ctl-2.example.net:8443"


@pytest.mark.parametrize("value, named", [
    ("", "no server given"),
    (" , ", "no server given"),
    ("10.0.0.1:80,10.0.0.2", "entry 2: '10.0.0.2': no port"),
    ("10.0.0.1:80,,10.0.0.2:80", "entry 2: empty entry"),
    ("10.0.0.1:http", "entry 1: '10.0.0.1:http': the port 'http' is not a number"),
    ("10.0.0.1:0", "the port 0 is out of range"),
    ("10.0.0.1:65536", "the port 65536 is out of range"),
    ("fd00::1:80", "an IPv6 address is written [address]:port"),
    ("[fd00::1]80", "an IPv6 address is written [address]:port"),
    ("[not-v6]:80", "'not-v6' is not an IPv6 address"),
    ("bad_host:80", "'bad_host' is not a host name or address"),
    ("a:80,b:81,a:80", "entry 3: a:80 is listed twice"),
])
def test_a_malformed_or_empty_list_is_refused_naming_the_entry(value, named):
    with pytest.raises(ControllerConfigError) as caught:
        parse_servers(value, provider="ctl")
    assert "[provider:ctl] servers" in str(caught.value)
    assert named in str(caught.value)


def test_serverauth_needs_a_user_and_a_colon():
    with pytest.raises(ControllerConfigError, match="serverauth: expected user:password"):
        settings("ctl", servers="a:1", serverauth="justuser")
    assert settings("ctl", servers="a:1").username is None


def _write(tmp_path, text: str) -> str:
    path = tmp_path / "ocx.conf"
    path.write_text(text)
    return str(path)


def test_the_options_are_read_from_the_provider_section(tmp_path):
    conf = config.load(_write(tmp_path, "[DEFAULT]\nproviders = ctl\n[provider:ctl]\n"
                              "servers = 10.0.0.1:80,[fd00::2]:81\nserverauth = admin:s3cret\n"
                              "serverssl = true\nserver_timeout = 2.5\n"
                              "deployment_id = ocx-east\n"))
    s = config.controller(conf, "ctl")
    assert [str(x) for x in s.servers] == ["10.0.0.1:80", "[fd00::2]:81"]
    assert (s.username, s.ssl, s.server_timeout, s.deployment_id) == (
        "admin", True, 2.5, "ocx-east")


def test_a_malformed_server_list_stops_ocx_at_start_up(tmp_path):
    path = _write(tmp_path, "[DEFAULT]\nproviders = ctl\n[provider:ctl]\n"
                            "servers = 10.0.0.1:80,10.0.0.2:x\n")
    with pytest.raises(ControllerConfigError, match=r"entry 2: '10.0.0.2:x'"):
        config.load(path)


_label = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?", fullmatch=True)
_hosts = st.one_of(
    st.lists(_label, min_size=1, max_size=4).map(".".join),
    st.ip_addresses(v=4).map(str),
    st.ip_addresses(v=6).map(str))
_ports = st.integers(1, 65535)


@given(st.lists(st.tuples(_hosts, _ports), min_size=1, max_size=5, unique=True))
def test_every_written_list_reads_back_in_order(entries):
    written = ",".join(f"[{h}]:{p}" if ":" in h else f"{h}:{p}" for h, p in entries)
    servers = parse_servers(written, provider="ctl")
    assert [(s.host, s.port) for s in servers] == [
        (str(ipaddress.ip_address(h)) if ":" in h else h, p) for h, p in entries]
    assert parse_servers([str(s) for s in servers], provider="ctl") == servers


@given(st.text(max_size=30))
def test_any_text_is_a_server_or_a_clear_error(text):
    try:
        server = parse_server(text)
    except ValueError as exc:
        assert str(exc)
    else:
        assert 1 <= server.port <= 65535 and server.host
        assert parse_server(str(server)) == server
