"""Tokens of a simulated Keystone, and the check every simulated service makes on each call.

Real services validate ``X-Auth-Token`` with keystonemiddleware, which asks Keystone. A simulated
cloud's services share a process with its Keystone, so they ask its token registry directly;
the answer and the 401 they give are those of keystonemiddleware.
"""
from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field

from aiohttp import web

from .errors import unauthorized
from .wire import utcnow


@dataclass(frozen=True)
class Token:
    """What Keystone knows about an issued token."""

    id: str
    user_id: str
    user_name: str
    user_domain_id: str
    methods: tuple[str, ...]
    issued_at: dt.datetime
    expires_at: dt.datetime
    audit_id: str
    project_id: str | None = None
    project_name: str | None = None
    project_domain_id: str | None = None
    domain_id: str | None = None          # domain-scoped token
    roles: tuple[tuple[str, str], ...] = ()  # (role id, role name)
    federation: dict | None = None        # OS-FEDERATION block of a federated token
    extra: dict = field(default_factory=dict, compare=False)

    @property
    def role_names(self) -> frozenset[str]:
        return frozenset(name for _, name in self.roles)

    @property
    def is_admin(self) -> bool:
        return "admin" in self.role_names

    def expired(self, now: dt.datetime | None = None) -> bool:
        return (now or utcnow()) >= self.expires_at


# Where the auth middleware leaves the caller's validated token for the handlers.
TOKEN = web.RequestKey("token", Token)


class TokenRegistry:
    """Issued tokens by id; expired and revoked ones are not valid."""

    def __init__(self) -> None:
        self._tokens: dict[str, Token] = {}
        self._revoked: set[str] = set()

    @staticmethod
    def new_token_id() -> str:
        # Opaque like Fernet tokens; long enough that a guess is hopeless.
        return "gAAAAA" + secrets.token_urlsafe(96)

    def add(self, token: Token) -> Token:
        self._prune()
        self._tokens[token.id] = token
        return token

    def validate(self, token_id: str | None) -> Token | None:
        if not token_id:
            return None
        token = self._tokens.get(token_id)
        if token is None or token.expired() or token.audit_id in self._revoked:
            return None
        return token

    def revoke(self, token: Token) -> None:
        self._revoked.add(token.audit_id)
        self._tokens.pop(token.id, None)

    def forget_all(self) -> int:
        """Every token gone, as when a Keystone with in-memory tokens restarts; how many."""
        count = len(self._tokens)
        self._tokens.clear()
        self._revoked.clear()
        return count

    def revoke_user(self, user_id: str) -> None:
        for token in [t for t in self._tokens.values() if t.user_id == user_id]:
            self.revoke(token)

    def _prune(self) -> None:
        if len(self._tokens) % 1024:
            return
        now = utcnow()
        for token_id in [k for k, t in self._tokens.items() if t.expired(now)]:
            del self._tokens[token_id]


def public(handler):
    """Mark a handler as answering without a token (version documents, Keystone auth)."""
    handler.ocx_public = True
    return handler


def auth_middleware(registry: TokenRegistry, keystone_url: Callable[[], str]):
    """keystonemiddleware's check: a valid ``X-Auth-Token`` or 401, before the service runs."""

    @web.middleware
    async def middleware(request: web.Request, handler):
        if getattr(request.match_info.handler, "ocx_public", False):
            return await handler(request)
        token = registry.validate(request.headers.get("X-Auth-Token"))
        if token is None:
            raise unauthorized(keystone_url())
        request[TOKEN] = token
        return await handler(request)

    return middleware
