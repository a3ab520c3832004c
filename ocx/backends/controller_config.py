"""A controller provider's settings (issue 10, seed 003), parsed and checked, pure.

``servers = host:port,host:port,...`` (an IPv6 address in brackets: ``[fd00::1]:8000``),
``serverauth = user:pass``. A malformed or empty list is refused at start-up with a message
naming the bad entry, so that OCX never starts with a controller it could never reach.
"""
from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field

# A DNS name or an IPv4 address: labels of letters, digits and hyphens, dot-separated.
_HOSTNAME = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)(\.(?!-)[A-Za-z0-9-]{1,63}(?<!-))*\.?")


class ControllerConfigError(ValueError):
    """A controller provider's configuration cannot be used; the message says where."""


@dataclass(frozen=True, order=True)
class Server:
    host: str      # a name, an IPv4 address, or an IPv6 address (without brackets)
    port: int

    @property
    def netloc(self) -> str:
        """``host:port`` as it goes in a URL (an IPv6 address in brackets)."""
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    def url(self, ssl: bool) -> str:
        return f"{'https' if ssl else 'http'}://{self.netloc}"

    def __str__(self) -> str:
        return self.netloc


@dataclass(frozen=True)
class ControllerSettings:
    name: str                                  # the provider's name
    servers: tuple[Server, ...]                # in the configured order: the first is primary
    username: str | None
    password: str | None = field(default=None, repr=False)
    ssl: bool = False
    server_timeout: float = 10.0               # one call to one server
    sync_timeout: float = 30.0                 # a full PUT /topology
    deployment_id: str = "ocx"                 # sent with every call (the controller tells
                                               # several deployments apart by it)
    retries_503: int = 3                       # a 503 is tried again this many times
    backoff: float = 0.5                       # seconds before the first retry, doubling


def parse_server(entry: str) -> Server:
    """One ``host:port`` (or ``[v6addr]:port``); ValueError naming what is wrong."""
    text = entry.strip()
    if not text:
        raise ValueError("empty entry")
    if text.startswith("["):
        close = text.find("]")
        if close < 0 or text[close + 1:close + 2] != ":":
            raise ValueError(f"{entry!r}: an IPv6 address is written [address]:port")
        host, port_text = text[1:close], text[close + 2:]
        try:
            host = str(ipaddress.IPv6Address(host))
        except ValueError:
            raise ValueError(f"{entry!r}: {host!r} is not an IPv6 address") from None
    else:
        host, sep, port_text = text.rpartition(":")
        if not sep:
            raise ValueError(f"{entry!r}: no port (host:port)")
        if ":" in host:
            raise ValueError(f"{entry!r}: an IPv6 address is written [address]:port")
        if not _HOSTNAME.fullmatch(host) or len(host) > 253:
            raise ValueError(f"{entry!r}: {host!r} is not a host name or address")
    if not port_text.isascii() or not port_text.isdigit():
        raise ValueError(f"{entry!r}: the port {port_text!r} is not a number")
    port = int(port_text)
    if not 1 <= port <= 65535:
        raise ValueError(f"{entry!r}: the port {port} is out of range (1-65535)")
    return Server(host, port)


def parse_servers(value: str | list[str] | tuple[str, ...] | None, *, provider: str
                  ) -> tuple[Server, ...]:
    """The configured servers in order; refuses an empty list, a bad entry or a repeat."""
    entries = value.split(",") if isinstance(value, str) else list(value or ())
    if not any(e.strip() for e in entries):
        raise ControllerConfigError(f"[provider:{provider}] servers: no server given "
                                    "(host:port,host:port,...)")
    servers: list[Server] = []
    for position, entry in enumerate(entries, 1):
        try:
            server = parse_server(entry)
        except ValueError as exc:
            raise ControllerConfigError(
                f"[provider:{provider}] servers: entry {position}: {exc}") from None
        if server in servers:
            raise ControllerConfigError(
                f"[provider:{provider}] servers: entry {position}: {server} is listed twice")
        servers.append(server)
    return tuple(servers)


def parse_auth(value: str | None, *, provider: str) -> tuple[str | None, str | None]:
    """``user:pass`` → (user, password); empty → no authentication. The password is never
    put in a message."""
    if not value:
        return None, None
    user, sep, password = value.partition(":")
    if not sep or not user:
        raise ControllerConfigError(f"[provider:{provider}] serverauth: expected user:password")
    return user, password


def settings(name: str, *, servers, serverauth: str | None = None, serverssl: bool = False,
             server_timeout: float = 10.0, sync_timeout: float = 30.0,
             deployment_id: str | None = None, retries_503: int = 3,
             backoff: float = 0.5) -> ControllerSettings:
    """A controller provider's settings from its ``[provider:NAME]`` options, checked."""
    username, password = parse_auth(serverauth, provider=name)
    return ControllerSettings(name=name, servers=parse_servers(servers, provider=name),
                              username=username, password=password, ssl=serverssl,
                              server_timeout=server_timeout, sync_timeout=sync_timeout,
                              deployment_id=deployment_id or name, retries_503=retries_503,
                              backoff=backoff)
