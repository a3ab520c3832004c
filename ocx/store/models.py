"""The two mappings of seed 000 as immutable values, and the hash that keys local tokens.

Primitive 1, the token mapping: (local token, local project) → provider → (remote token,
remote project, expiry, catalog). Primitive 2, the resource mapping: (resource type, resource
id) → (provider, remote project, endpoint).

A local token never appears here, only its sha256; a remote token is held in clear in memory
only and never shown by a ``repr``.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import re
from dataclasses import dataclass, field

# How a resource mapping was learned. "response" is any other answer that named the resource.
SOURCES = frozenset({"create", "listing", "search", "notification", "peer", "response"})

# Characters of a local token's hash shown to an operator (enough to tell tokens apart).
HASH_PREFIX = 12

_SHA256_HEX = re.compile(r"[0-9a-f]{64}")


def token_hash(token: str) -> str:
    """The sha256 hex digest of a local token: the only form in which a local token is kept."""
    return hashlib.sha256(token.encode()).hexdigest()


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def as_utc(when: dt.datetime, what: str) -> dt.datetime:
    """``when`` in UTC; a naive datetime is refused rather than guessed at."""
    if when.tzinfo is None or when.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware")
    return when.astimezone(dt.UTC)


@dataclass(frozen=True)
class TokenMapping:
    """What a local token scoped to a local project becomes at one provider."""

    local_token_hash: str
    local_project: str
    provider: str
    remote_token: str = field(repr=False)
    remote_project: str
    expires_at: dt.datetime
    catalog: list[dict] = field(default_factory=list, repr=False)

    def __post_init__(self) -> None:
        # A clear token passed where its hash belongs would be stored in clear: refuse it.
        if not _SHA256_HEX.fullmatch(self.local_token_hash):
            raise ValueError("local_token_hash must be a sha256 hex digest (see token_hash())")
        object.__setattr__(self, "expires_at", as_utc(self.expires_at, "expires_at"))

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.local_token_hash, self.local_project, self.provider)

    def expired(self, now: dt.datetime) -> bool:
        return self.expires_at <= now

    def __repr__(self) -> str:
        return (f"TokenMapping(local_token_hash={self.local_token_hash[:HASH_PREFIX]!r}…, "
                f"local_project={self.local_project!r}, provider={self.provider!r}, "
                f"remote_project={self.remote_project!r}, "
                f"expires_at={self.expires_at.isoformat()!r})")


@dataclass(frozen=True)
class TokenMappingInfo:
    """A token mapping as an operator may see it: no token, only a prefix of the local hash."""

    hash_prefix: str
    local_project: str
    provider: str
    remote_project: str
    expires_at: dt.datetime


@dataclass(frozen=True)
class ResourceMapping:
    """Where one resource lives."""

    resource_type: str
    resource_id: str
    provider: str
    remote_project: str | None
    endpoint: str | None
    source: str
    updated_at: dt.datetime

    def __post_init__(self) -> None:
        if self.source not in SOURCES:
            raise ValueError(f"unknown source {self.source!r}; one of {sorted(SOURCES)}")
        object.__setattr__(self, "updated_at", as_utc(self.updated_at, "updated_at"))

    @classmethod
    def learned(cls, resource_type: str, resource_id: str, provider: str,
                remote_project: str | None, endpoint: str | None,
                source: str) -> ResourceMapping:
        """A mapping learned just now."""
        return cls(resource_type, resource_id, provider, remote_project, endpoint, source,
                   utcnow())

    @property
    def key(self) -> tuple[str, str]:
        return (self.resource_type, self.resource_id)


# -- spanning networks (issue 7) -----------------------------------------------------------------

@dataclass(frozen=True)
class SpanningNetwork:
    """A network that spans providers: its id (the origin cloud's network), VNI, owner."""

    network_id: str
    vni: int
    project_id: str
    origin: str
    template: dict = field(default_factory=dict, repr=False)  # what its twins copy


@dataclass(frozen=True)
class Twin:
    """A spanning network's network in one provider; ``twin_id`` None while it is being made."""

    network_id: str
    provider: str
    twin_id: str | None
    claimed_at: dt.datetime


@dataclass(frozen=True)
class SpanningSubnet:
    """A subnet of a spanning network: one CIDR, each provider's own allocation pools."""

    subnet_id: str
    network_id: str
    template: dict = field(repr=False)
    pools: dict[str, list[dict]] = field(repr=False)   # provider → Neutron pool dicts


@dataclass(frozen=True)
class SpanningView:
    """What a project's listings need to show spanning networks as one: every twin's id and
    every twin subnet's id, each to the spanning one's."""

    networks: dict[str, str] = field(default_factory=dict)   # twin id → spanning id
    subnets: dict[str, str] = field(default_factory=dict)    # twin subnet id → spanning id
    twins_of: dict[str, tuple[str, ...]] = field(default_factory=dict)  # spanning → twins

    def __bool__(self) -> bool:
        return bool(self.twins_of)


# -- the providers each project uses (issue 8) ---------------------------------------------------

@dataclass(frozen=True)
class ProjectProvider:
    """What OCX learned of one local project at one provider, when it last saw it.

    ``remote_project`` is the project the caller's calls use there (the local project itself
    at home); None means the provider holds nothing of the project: a K2K exchange found no
    project the federated user can use there.
    """

    local_project: str
    provider: str
    remote_project: str | None
    seen_at: dt.datetime
    local_project_name: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "seen_at", as_utc(self.seen_at, "seen_at"))

    @property
    def holds_nothing(self) -> bool:
        return self.remote_project is None

    @property
    def key(self) -> tuple[str, str]:
        return (self.local_project, self.provider)
