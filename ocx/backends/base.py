"""What every provider kind shares: credentials, answers, transport failures, the HTTP pool.

A provider kind implements ``send``; pools, time limits and the shape of failures live here
so that each kind is only its translation.
"""
from __future__ import annotations

import abc
import datetime as dt
from dataclasses import dataclass, field

import aiohttp
from multidict import CIMultiDict

from ..call import ApiRequest


@dataclass(frozen=True)
class Credentials:
    """What a call to one provider is made with: a token there and the project it is scoped to."""

    token: str = field(repr=False)
    project_id: str | None
    catalog: tuple = field(default=(), repr=False)
    expires_at: dt.datetime | None = None
    # What goes in X-Service-Token at a K2K provider: OCX's own token there, vouching for a
    # home service's call (identity.vouch); None sends none.
    service_token: str | None = field(default=None, repr=False)
    # The caller's roles, where the provider applies policy itself (a controller provider).
    roles: frozenset[str] = frozenset()


@dataclass
class ProviderResponse:
    """A provider's answer. JSON bodies are read (``body``); anything else stays a stream."""

    provider: str
    status: int
    headers: CIMultiDict
    root: str                                  # the provider's service root, for rewriting URLs
    remote_project: str | None
    body: bytes | None = None
    stream: aiohttp.ClientResponse | None = field(default=None, repr=False)
    content_length: int | None = None          # of a streamed body, when the provider said

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def release(self) -> None:
        if self.stream is not None:
            self.stream.release()
            self.stream = None


class ProviderFailure(Exception):
    """A provider could not answer at all (as opposed to answering with an error status)."""

    status = 502

    def __init__(self, provider: str, reason: str) -> None:
        super().__init__(f"{provider}: {reason}")
        self.provider = provider
        self.reason = reason


class ProviderUnreachable(ProviderFailure):
    status = 503


class ProviderTimeout(ProviderFailure):
    status = 504


class ServiceNotOffered(ProviderFailure):
    """The provider's catalog has no endpoint for the service."""

    status = 404


class Provider(abc.ABC):
    """One place calls can go. ``send`` forwards one call and returns the answer."""

    kind: str
    # True for a kind that keeps its own servers' health (the gateway's book then does not).
    own_health: bool = False

    def __init__(self, name: str, *, interface: str = "public", region: str | None = None) -> None:
        self.name = name
        self.interface = interface
        self.region = region

    @abc.abstractmethod
    def root(self, service: str, credentials: Credentials) -> str | None:
        """The provider's root URL for an OCX service, or None when it does not offer it."""

    @abc.abstractmethod
    async def send(self, session: aiohttp.ClientSession, request: ApiRequest,
                   credentials: Credentials, *, body, timeout: aiohttp.ClientTimeout,
                   method: str | None = None) -> ProviderResponse:
        """Forward ``request`` (``body``: bytes, an async iterable of chunks, or None)."""
