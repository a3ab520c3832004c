"""oslo.messaging transport URLs, as the services' transport_url writes them."""
from __future__ import annotations

import pytest

from ocx.learn.transport import Broker, brokers


def test_a_rabbit_url_with_a_virtual_host():
    (b,) = brokers("rabbit://ocx:s%40cret@mq.sp1.example:5673/sp1")
    assert b == Broker("mq.sp1.example", 5673, "ocx", "s@cret", "sp1", False)
    assert "cret" not in repr(b) and b.shown() == "mq.sp1.example:5673/sp1"


def test_the_default_virtual_host_port_and_user():
    assert brokers("rabbit://mq/") == [Broker("mq", 5672, "guest", "guest", "/", False)]
    assert brokers("amqp://u:p@127.0.0.1:5672/")[0].virtualhost == "/"
    assert brokers("rabbit://u:p@mq//")[0].virtualhost == "/"


def test_a_cluster_is_tried_host_by_host():
    found = brokers("rabbit://a:1@mq1:5672,b:2@mq2:5673/openstack")
    assert [(b.host, b.port, b.login, b.virtualhost) for b in found] == [
        ("mq1", 5672, "a", "openstack"), ("mq2", 5673, "b", "openstack")]


def test_tls_from_the_scheme_or_the_query():
    assert brokers("amqps://u:p@mq/")[0] == Broker("mq", 5671, "u", "p", "/", True)
    assert brokers("rabbit://u:p@mq:5671/?ssl=1")[0].ssl
    assert brokers("rabbit://u:p@[::1]:5672/")[0].host == "::1"


@pytest.mark.parametrize("url, message", [
    ("http://u:p@mq/", "starts with one of"),
    ("mq:5672", "starts with one of"),
    ("rabbit://u:secretpw@:5672/", "without a name"),
    ("rabbit://u:secretpw@mq:notaport/", "port"),
    ("rabbit://u:secretpw@mq:70000/", "port"),
])
def test_a_bad_url_says_why_without_quoting_it(url, message):
    with pytest.raises(ValueError, match=message) as raised:
        brokers(url)
    assert "secretpw" not in str(raised.value)
