"""Mappings a peer OCX injects (seed 000, "Token Injection"): the document, its checks, its
signature. Pure: no I/O; the clock and the peer's settings are passed in.

A peer in front of the user knows, for a call that joins a resource of cloud SP2 to a server of
cloud SP1, the user's token at SP1 and at SP2. It tells the OCX in front of SP1's Cinder and
Glance (where SP1's Nova sends its calls with the SP1 token) two things:

- a token mapping: (hash of the SP1 token, SP1 project) → SP2 → (SP2 token, SP2 project, expiry,
  SP2's catalog); only the hash of the SP1 token travels, never the token;
- resource mappings: (type, id) → (SP2, SP2 project, endpoint).

The document is decoded straight into typed values (msgspec), so a wrong field is refused with
the place it is at, and everything is checked before anything is stored.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Annotated

import msgspec

from ..store import ResourceMapping, TokenMapping

# Where a peer OCX takes injections, and the headers of a signed one.
PATH = "/ocx/v1/peer/mappings"
PEER_HEADER = "X-OCX-Peer"
TIME_HEADER = "X-OCX-Peer-Time"
SIGNATURE_HEADER = "X-OCX-Peer-Signature"
# How far a signature's time may be from the receiver's clock (replays are bounded by it; an
# injection replayed inside it only writes the same mappings again).
SIGNATURE_WINDOW = dt.timedelta(minutes=5)
# What one injection may carry: one call's worth of mappings, with room to spare.
MAX_MAPPINGS = 1000

# No NUL: PostgreSQL's text cannot hold one (the store would fail, a 500).
Text = Annotated[str, msgspec.Meta(min_length=1, max_length=255, pattern=r"^[^\x00]*\Z")]
# Printable ASCII (catalog URLs are; a host is punycoded): one meaning in every regex dialect,
# so that OCX's API description (ocx/api/openapi.yaml) says exactly what is taken.
# \Z, not $: Python's $ also matches before a final newline ("<hash>\n" would pass here and
# fail later, a 500).
Url = Annotated[str, msgspec.Meta(pattern=r"^https?://[!-~]+\Z", max_length=2048)]
Sha256 = Annotated[str, msgspec.Meta(pattern=r"^[0-9a-f]{64}\Z")]
Token = Annotated[str, msgspec.Meta(min_length=1, max_length=8192, pattern=r"^[^\x00]*\Z")]


class Endpoint(msgspec.Struct, forbid_unknown_fields=False):
    url: Url
    interface: Text
    region_id: Text | None = None
    region: Text | None = None
    id: Text | None = None


class CatalogEntry(msgspec.Struct, forbid_unknown_fields=False):
    type: Text
    endpoints: Annotated[list[Endpoint], msgspec.Meta(max_length=100)]
    name: Text | None = None
    id: Text | None = None


class InjectedToken(msgspec.Struct, forbid_unknown_fields=True):
    local_token_hash: Sha256
    local_project: Text
    provider: Text
    remote_token: Token
    remote_project: Text
    expires_at: dt.datetime
    catalog: Annotated[list[CatalogEntry], msgspec.Meta(max_length=100)] = []

    def __repr__(self) -> str:  # the remote token is never shown
        return (f"InjectedToken(provider={self.provider!r}, local_project="
                f"{self.local_project!r}, remote_project={self.remote_project!r})")


class InjectedResource(msgspec.Struct, forbid_unknown_fields=True):
    type: Text
    id: Text
    provider: Text
    remote_project: Text | None = None
    endpoint: Url | None = None


class Document(msgspec.Struct, forbid_unknown_fields=True):
    token_mappings: Annotated[list[InjectedToken], msgspec.Meta(max_length=MAX_MAPPINGS)] = []
    resource_mappings: Annotated[list[InjectedResource],
                                 msgspec.Meta(max_length=MAX_MAPPINGS)] = []


class InjectionRefused(ValueError):
    """The injection is not taken; ``status`` says how to answer (400, 401, 403)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class Injection:
    """What one injection stores, all of it or nothing."""

    tokens: tuple[TokenMapping, ...]
    resources: tuple[ResourceMapping, ...]


def encode(tokens: Sequence[TokenMapping], resources: Sequence[ResourceMapping]) -> bytes:
    """The document the sending peer posts."""
    return msgspec.json.encode({
        "token_mappings": [{
            "local_token_hash": t.local_token_hash, "local_project": t.local_project,
            "provider": t.provider, "remote_token": t.remote_token,
            "remote_project": t.remote_project, "expires_at": t.expires_at.isoformat(),
            "catalog": list(t.catalog)} for t in tokens],
        "resource_mappings": [{
            "type": r.resource_type, "id": r.resource_id, "provider": r.provider,
            "remote_project": r.remote_project, "endpoint": r.endpoint} for r in resources]})


def decode(body: bytes, *, providers: Collection[str], types: Collection[str],
           now: dt.datetime) -> Injection:
    """The mappings of ``body``, checked against what the peer may inject.

    ``providers``: those the peer may inject for; ``types``: the resource types OCX keeps
    mappings of. Raises :class:`InjectionRefused` naming the first thing wrong.
    """
    try:
        doc = msgspec.json.decode(body, type=Document)
    except msgspec.ValidationError as exc:
        raise InjectionRefused(400, f"Invalid injection: {exc}.") from None
    except msgspec.DecodeError:
        raise InjectionRefused(400, "The injection is not valid JSON.") from None
    if not doc.token_mappings and not doc.resource_mappings:
        raise InjectionRefused(400, "The injection holds no mapping.")
    for where, entries in (("token_mappings", doc.token_mappings),
                           ("resource_mappings", doc.resource_mappings)):
        for i, entry in enumerate(entries):
            if entry.provider not in providers:
                raise InjectionRefused(403, f"This peer may not inject mappings for provider "
                                            f"{entry.provider!r} (at $.{where}[{i}]).")
    tokens = []
    for i, t in enumerate(doc.token_mappings):
        if t.expires_at.tzinfo is None:
            raise InjectionRefused(400, f"Invalid injection: expires_at needs a time zone "
                                        f"- at `$.token_mappings[{i}].expires_at`.")
        if t.expires_at <= now:
            raise InjectionRefused(400, f"Invalid injection: the token mapping at "
                                        f"$.token_mappings[{i}] has expired.")
        tokens.append(TokenMapping(
            local_token_hash=t.local_token_hash, local_project=t.local_project,
            provider=t.provider, remote_token=t.remote_token, remote_project=t.remote_project,
            expires_at=t.expires_at, catalog=msgspec.to_builtins(t.catalog)))
    resources = []
    for i, r in enumerate(doc.resource_mappings):
        if r.type not in types:
            raise InjectionRefused(400, f"Invalid injection: unknown resource type {r.type!r} "
                                        f"- at `$.resource_mappings[{i}].type`.")
        resources.append(ResourceMapping(r.type, r.id, r.provider, r.remote_project,
                                         r.endpoint, "peer", now))
    return Injection(tuple(tokens), tuple(resources))


def signature(secret: str, when: int, method: str, path: str, body: bytes) -> str:
    """HMAC-SHA256 over the time, the call and the body: the secret itself never travels."""
    message = f"{when}\n{method.upper()} {path}\n".encode() + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def check_signature(secret: str, *, when: str, given: str, method: str, path: str,
                    body: bytes, now: dt.datetime) -> None:
    """Raises :class:`InjectionRefused` (401) unless ``given`` signs this call, recently."""
    try:
        stamp = int(when)
    except ValueError:
        raise InjectionRefused(401, f"{TIME_HEADER} must be a Unix time.") from None
    # In integers: a time of hundreds of digits is refused, not an OverflowError.
    if abs(int(now.timestamp()) - stamp) > SIGNATURE_WINDOW.total_seconds():
        raise InjectionRefused(401, f"{TIME_HEADER} is too far from this OCX's clock.")
    expected = signature(secret, stamp, method, path, body)
    # As bytes: compare_digest refuses str with non-ASCII characters (a TypeError).
    if not hmac.compare_digest(expected.encode(),
                               given.strip().lower().encode("utf-8", "surrogateescape")):
        raise InjectionRefused(401, "The injection's signature does not match.")
