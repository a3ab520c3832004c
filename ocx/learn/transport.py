"""Pure: an oslo.messaging transport URL → the RabbitMQ brokers it names.

oslo.messaging writes ``rabbit://user:password@host:5672,user2:password2@host2:5672/vhost``
(several hosts of one cluster, tried in turn; the virtual host is the path, the default ``/``
when empty). ``amqp://`` and ``amqps://`` (TLS) are read the same way; ``?ssl=1`` asks for TLS
too. A password is never part of what a broker shows.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import parse_qs, unquote, urlsplit

SCHEMES = {"rabbit": 5672, "amqp": 5672, "amqps": 5671}
_TRUE = {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class Broker:
    host: str
    port: int
    login: str
    password: str = field(repr=False)
    virtualhost: str
    ssl: bool

    def shown(self) -> str:
        """Where it is, for a log line: no credentials."""
        return f"{self.host}:{self.port}/{self.virtualhost.lstrip('/')}"


def brokers(url: str) -> list[Broker]:
    """The brokers of a transport URL, in the order to try them; ValueError says what is
    wrong (never quoting the URL: it holds a password)."""
    scheme, sep, rest = url.strip().partition("://")
    if not sep or scheme.lower() not in SCHEMES:
        raise ValueError(f"a notifications transport URL starts with one of "
                         f"{', '.join(s + '://' for s in SCHEMES)}")
    scheme = scheme.lower()
    parts = urlsplit(f"{scheme}://{rest}")
    query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    ssl = scheme == "amqps" or query.get("ssl", "").lower() in _TRUE
    virtualhost = unquote(parts.path[1:]) if parts.path not in ("", "/") else "/"
    found = []
    for netloc in parts.netloc.split(","):
        userinfo, at, hostport = netloc.rpartition("@")
        if not hostport:
            raise ValueError("a notifications transport URL names a host without a name")
        login, _, password = userinfo.partition(":") if at else ("guest", "", "guest")
        host, port = _host_port(hostport, SCHEMES[scheme])
        found.append(Broker(host, port, unquote(login), unquote(password), virtualhost, ssl))
    return found


def _host_port(text: str, default: int) -> tuple[str, int]:
    if text.startswith("["):   # [IPv6]:port
        host, _, after = text[1:].partition("]")
        port = after.removeprefix(":")
    else:
        host, _, port = text.partition(":")
    if not host:
        raise ValueError("a notifications transport URL names a host without a name")
    if not port:
        return host, default
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError("a notifications transport URL has a port that is not a number "
                         "from 1 to 65535")
    return host, int(port)
