"""Identify: the caller's token, validated against the home Keystone and remembered a while.

``GET /v3/auth/tokens`` with OCX's service token in ``X-Auth-Token`` and the caller's in
``X-Subject-Token``, as keystonemiddleware does. That call is on every request's path, so it is
made with aiohttp and its answers are cached: a valid token until it expires (or
``token_cache_seconds``, whichever comes first), a refused one for ``refusal_cache_seconds``.
Caches are keyed by the token's hash. A burst of calls with a token not yet known makes one
Keystone call.

The service token comes from keystoneauth1 (synchronous, so in a worker thread) and is reused
until a minute before it expires, or until Keystone refuses it.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import logging
import re
import time
from collections.abc import Callable

import aiohttp
from keystoneauth1 import exceptions as ks_exc
from keystoneauth1.identity import v3
from keystoneauth1.plugin import BaseAuthPlugin
from oslo_config import cfg

from . import ksa
from .cache import TTLCache
from .caller import Caller, caller_from_token_body, token_hash
from .coalesce import Coalescer
from .errors import IdentityUnavailable, Unauthenticated

log = logging.getLogger(__name__)

# A service token this close to its expiry is renewed before use.
SERVICE_TOKEN_MARGIN = dt.timedelta(seconds=60)
# Tokens are printable ASCII without spaces (Fernet, JWS); anything else cannot be one and
# could not even go into a header.
_TOKEN_SHAPE = re.compile(r"[\x21-\x7e]{1,16384}")
NOT_PROJECT_SCOPED = ("The token is not scoped to a project; OCX serves project-scoped "
                      "calls only.")


def service_auth(conf: cfg.ConfigOpts) -> v3.Password:
    """OCX's service user at the home Keystone, from the ``[keystone]`` options."""
    k = conf.keystone
    return v3.Password(auth_url=k.auth_url, username=k.username, password=k.password,
                       project_name=k.project_name, user_domain_name=k.user_domain_name,
                       project_domain_name=k.project_domain_name)


def cache_seconds(expires_at: dt.datetime, now: dt.datetime, token_cache_seconds: float
                  ) -> float:
    """How long a token found valid at ``now`` is trusted without asking again.

    Never beyond its expiry; zero or less means not at all.
    """
    return min(float(token_cache_seconds), (expires_at - now).total_seconds())


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


class TokenValidator:
    """``identify(token)`` → :class:`Caller`, or :class:`Unauthenticated` /
    :class:`IdentityUnavailable`.

    ``auth`` is OCX's service user (see :func:`service_auth`); ``session`` is the aiohttp
    session the gateway shares; ``timeout`` limits each call to the home Keystone.
    ``clock`` (monotonic seconds) and ``now`` (aware UTC) are there for tests.
    """

    def __init__(self, auth_url: str, auth: BaseAuthPlugin, session: aiohttp.ClientSession, *,
                 token_cache_seconds: float = 300, refusal_cache_seconds: float = 5,
                 cache_size: int = 100_000, timeout: float = 10.0,
                 clock: Callable[[], float] = time.monotonic,
                 now: Callable[[], dt.datetime] = _utcnow, tls=None) -> None:
        self.auth_url = auth_url.rstrip("/")
        self.token_cache_seconds = token_cache_seconds
        self.refusal_cache_seconds = refusal_cache_seconds
        self.timeout = timeout
        self._client_timeout = aiohttp.ClientTimeout(total=timeout)
        self._auth = auth
        self._ks_session = ksa.session(timeout, auth, tls=tls)  # the service user's login
        self._http = session
        self._now = now
        self._valid: TTLCache[Caller] = TTLCache(cache_size, clock)
        self._refused: TTLCache[str] = TTLCache(cache_size, clock)
        self._validations: Coalescer[Caller] = Coalescer()
        self._logins: Coalescer[tuple[str, dt.datetime]] = Coalescer()
        self._service: tuple[str, dt.datetime] | None = None
        self._service_catalog: list[dict] = []

    async def identify(self, token: str | None) -> Caller:
        """The caller a token stands for; Keystone is asked only when the caches cannot say."""
        if not token:
            raise Unauthenticated()
        if not _TOKEN_SHAPE.fullmatch(token):
            raise Unauthenticated("The token is malformed.")
        key = token_hash(token)
        caller = self._valid.get(key)
        if caller is not None:
            return caller
        refusal = self._refused.get(key)
        if refusal is not None:
            raise Unauthenticated(refusal)
        return await self._validations.run(key, lambda: self._validate(token, key))

    def forget(self, token: str) -> None:
        """Drop what is cached about a token (it was revoked, say)."""
        key = token_hash(token)
        self._valid.pop(key)
        self._refused.pop(key)

    async def _validate(self, token: str, key: str) -> Caller:
        try:
            caller = await self._ask_keystone(token)
        except Unauthenticated as exc:
            log.info("token %s… refused: %s", key[:12], exc.message)
            self._refused.put(key, exc.message, self.refusal_cache_seconds)
            raise
        self._valid.put(key, caller, cache_seconds(caller.expires_at, self._now(),
                                                   self.token_cache_seconds))
        return caller

    async def _ask_keystone(self, token: str) -> Caller:
        service_token = await self._service_token()
        status, body = await self._get_token(service_token, token)
        if status == 401:  # OCX's own token was refused (revoked, expired early): renew once
            service_token = await self._service_token(refused=service_token)
            status, body = await self._get_token(service_token, token)
        if status == 200:
            if not isinstance(body, dict) or not isinstance(body.get("token"), dict):
                raise IdentityUnavailable("the home Keystone gave an answer OCX cannot read")
            if not body["token"].get("project"):
                raise Unauthenticated(NOT_PROJECT_SCOPED)
            try:
                return caller_from_token_body(token, body)
            except ValueError:
                raise IdentityUnavailable("the home Keystone gave a token document OCX "
                                          "cannot read") from None
        if status in (400, 404):  # Keystone's answers for a token it does not know (any more)
            raise Unauthenticated()
        if status == 401:
            raise IdentityUnavailable("the home Keystone refuses OCX's service user (HTTP 401)")
        if status == 403:
            raise IdentityUnavailable("OCX's service user may not validate tokens at the home "
                                      "Keystone (HTTP 403)")
        raise IdentityUnavailable(f"the home Keystone answered HTTP {status}")

    async def _get_token(self, service_token: str, token: str) -> tuple[int, object]:
        headers = {"X-Auth-Token": service_token, "X-Subject-Token": token,
                   "Accept": "application/json"}
        try:
            async with self._http.get(f"{self.auth_url}/auth/tokens", headers=headers,
                                      timeout=self._client_timeout) as response:
                if response.status != 200:
                    return response.status, None
                return 200, await response.json(content_type=None)
        except TimeoutError:  # aiohttp's time limits are TimeoutErrors too
            raise IdentityUnavailable(f"the home Keystone did not answer within "
                                      f"{self.timeout:g} s") from None
        except aiohttp.ClientConnectionError as exc:
            raise IdentityUnavailable(f"the home Keystone is unreachable "
                                      f"({type(exc).__name__})") from None
        except (aiohttp.ClientError, ValueError) as exc:
            raise IdentityUnavailable(f"the home Keystone gave an answer OCX cannot read "
                                      f"({type(exc).__name__})") from None

    async def service_catalog(self) -> list[dict]:
        """The home catalog as OCX's service user sees it (for calls that carry no token)."""
        await self._service_token()
        return self._service_catalog

    async def service_token(self) -> str:
        """OCX's own token at the home Keystone (what it authenticates to a peer with)."""
        return await self._service_token()

    async def _service_token(self, refused: str | None = None) -> str:
        """OCX's own token: the cached one unless it is refused or about to expire."""
        current = self._service
        if (current is not None and current[0] != refused
                and current[1] - SERVICE_TOKEN_MARGIN > self._now()):
            return current[0]
        fresh = await self._logins.run(
            "service", lambda: asyncio.to_thread(self._login, refused is not None))
        if fresh[0] == refused:  # joined a login that was already under way and reused it
            fresh = await self._logins.run("service", lambda: asyncio.to_thread(self._login, True))
        self._service = fresh
        return fresh[0]

    def _login(self, renew: bool) -> tuple[str, dt.datetime]:
        """In a worker thread: keystoneauth1 logs the service user in (or reuses its token)."""
        if renew:
            self._auth.invalidate()
        try:
            access = self._auth.get_access(self._ks_session)
        except ks_exc.Unauthorized:
            raise IdentityUnavailable("OCX's service user cannot log in at the home Keystone "
                                      "(HTTP 401); check [keystone] username and password"
                                      ) from None
        except Exception as exc:  # whatever keystoneauth1 raised: described, never echoed
            raise IdentityUnavailable(f"the home Keystone {ksa.describe(exc)} when OCX's "
                                      f"service user logged in") from None
        self._service_catalog = list(access.service_catalog.catalog or ())
        return access.auth_token, access.expires
