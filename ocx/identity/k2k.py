"""The K2K exchange: a caller's home token → a project-scoped token of a service provider.

keystoneauth1 does the work (synchronous, so in worker threads), in three steps:

1. ``Keystone2Keystone`` wrapping a ``v3.Token`` of the caller's home token and project, with no
   scope: the home Keystone signs a SAML assertion, the service provider (SP) consumes it and
   hands back an *unscoped* federated token. That is the one SAML exchange (an assertion is
   single-use; nothing below asks for another).
2. ``GET /v3/auth/projects`` at the SP with that token: the projects the federated user may use.
   The remote project is chosen from them by the pure rule of :mod:`ocx.identity.projects`.
3. ``v3.Token`` of the unscoped token against the SP's auth URL, scoped to that project.

Concurrent exchanges for the same (token, local project, SP) share one. Results are not kept
here: the token mappings (``tokens.py``) keep them.
"""
from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from keystoneauth1 import access
from keystoneauth1 import exceptions as ks_exc
from keystoneauth1.identity import v3

from . import ksa
from .caller import Caller
from .coalesce import Coalescer
from .errors import K2KFailed, NoRemoteProject, NoRemoteProjectAt, Unauthenticated
from .projects import ProjectRule, RemoteProject, choose_remote_project

EXCHANGE_THREADS = 16   # K2K exchanges under way at once; each waits on two Keystones

__all__ = ["K2KExchanger", "ProjectRule", "RemoteCredentials", "RemoteProject",
           "choose_remote_project"]


@dataclass(frozen=True)
class RemoteCredentials:
    """A project-scoped token of a service provider, got for a caller by K2K."""

    token: str = field(repr=False)
    project_id: str
    project_name: str
    expires_at: dt.datetime
    catalog: list = field(default_factory=list, repr=False, compare=False)
    auth_url: str = ""               # the SP's Keystone v3 URL


@dataclass(frozen=True)
class _Unscoped:
    token: str = field(repr=False)
    auth_url: str
    candidates: tuple[RemoteProject, ...]


class K2KExchanger:
    """``exchange(caller, sp_id, project_rule)`` → :class:`RemoteCredentials` or
    :class:`K2KFailed`.

    ``auth_url`` is the home Keystone's v3 URL; ``timeout`` limits each HTTP request of the
    exchange (connection and answer), so that a dead SP fails the exchange promptly.
    """

    def __init__(self, auth_url: str, *, timeout: float = 30.0, tls=None,
                 provider_tls: Mapping[str, object] = {}) -> None:
        self.auth_url = auth_url.rstrip("/")
        self.timeout = timeout
        # TLS (``config.ClientTLS``): the home Keystone's, and each SP's by its id.
        self.tls = tls
        self.provider_tls = dict(provider_tls)
        self._exchanges: Coalescer[RemoteCredentials] = Coalescer()
        # Steps 2 and 3 (a token in a header, no cookie) go through the SP's kept session.
        self.sessions = ksa.SessionCache(timeout)
        self._pool = ThreadPoolExecutor(max_workers=EXCHANGE_THREADS,
                                        thread_name_prefix="ocx-k2k")

    async def exchange(self, caller: Caller, sp_id: str,
                       project_rule: ProjectRule | Mapping[str, str] | None = None
                       ) -> RemoteCredentials:
        """A token of ``sp_id`` for the caller, in the project ``project_rule`` chooses.

        ``project_rule`` may also be given as the bare project map of one (as
        ``[provider:NAME] project_map`` reads); None is the rule without a map.
        """
        rule = project_rule if isinstance(project_rule, ProjectRule) else ProjectRule(
            dict(project_rule or {}))
        key = (caller.token_hash, caller.project_id, sp_id)
        return await self._exchanges.run(key, lambda: self._exchange(caller, sp_id, rule))

    async def _exchange(self, caller: Caller, sp_id: str, rule: ProjectRule
                        ) -> RemoteCredentials:
        # The whole exchange is one job of a pool of its own: its steps do not queue behind
        # every other exchange's (callers finish in the order they came) nor starve the
        # default executor.
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, self._exchange_now, caller, sp_id, rule)

    def _exchange_now(self, caller: Caller, sp_id: str, rule: ProjectRule
                      ) -> RemoteCredentials:
        # Step 1 has a session of its own and no other: it holds the SP's session cookie.
        unscoped = self._login(ksa.session(self.timeout, tls=self.tls), caller, sp_id)
        try:
            project = rule.choose(caller.project_id, caller.project_name, unscoped.candidates)
        except NoRemoteProject as exc:
            raise NoRemoteProjectAt(sp_id, str(exc), exc.candidates) from None
        scoped = self._scope(unscoped, project, sp_id)
        return RemoteCredentials(
            token=scoped.auth_token, project_id=scoped.project_id,
            project_name=scoped.project_name or project.name, expires_at=scoped.expires,
            catalog=list(scoped.service_catalog.catalog or ()), auth_url=unscoped.auth_url)

    def _tls(self, sp_id: str):
        return self.provider_tls.get(sp_id) or self.tls

    def _login(self, session, caller: Caller, sp_id: str) -> _Unscoped:
        """Steps 1 and 2, in a worker thread: the unscoped SP token and its projects."""
        home = v3.Token(self.auth_url, caller.token, project_id=caller.project_id,
                        include_catalog=False)
        # Whatever keystoneauth1 raises below is described by its kind, never echoed.
        try:
            known = home.get_sp_auth_url(session, sp_id) is not None
        except ks_exc.Unauthorized:
            # The caller's token is no longer valid at home (revoked, or forgotten by a
            # Keystone restart) though OCX's validation of it is still cached: a 401, on
            # which the client gets a new token, not a failure of the provider.
            raise Unauthenticated() from None
        except Exception as exc:
            raise K2KFailed(sp_id, f"the home Keystone {ksa.describe(exc)} when OCX presented "
                                   f"the caller's token") from None
        if not known:
            raise K2KFailed(sp_id, "not an enabled K2K service provider of the home Keystone")
        sp_tls = self._tls(sp_id)
        if sp_tls != self.tls:  # the SP's endpoints with its own TLS options
            for url in (home.get_sp_auth_url(session, sp_id), home.get_sp_url(session, sp_id)):
                if url:
                    ksa.tls_for(session, url, sp_tls)
        k2k = v3.Keystone2Keystone(home, sp_id)
        try:
            auth_ref = k2k.get_auth_ref(session)
        except Exception as exc:
            where = ("the home Keystone" if isinstance(exc, ks_exc.AuthorizationFailure)
                     else "its Keystone")
            raise K2KFailed(sp_id, f"K2K login failed: {where} {ksa.describe(exc)}") from None
        sp_url = k2k.auth_url.rstrip("/")  # the SP's v3 URL, learnt from the exchange
        try:
            with self.sessions.using(sp_url, sp_tls) as kept:
                listing = kept.get(f"{sp_url}/auth/projects", authenticated=False,
                                   headers={"X-Auth-Token": auth_ref.auth_token,
                                            "Accept": "application/json"}).json()
            candidates = tuple(RemoteProject(str(p["id"]), str(p["name"]), p.get("domain_id"))
                               for p in listing["projects"])
        except Exception as exc:
            raise K2KFailed(sp_id, f"listing the federated user's projects failed: its "
                                   f"Keystone {ksa.describe(exc)}") from None
        return _Unscoped(auth_ref.auth_token, sp_url, candidates)

    def _scope(self, unscoped: _Unscoped, project: RemoteProject, sp_id: str
               ) -> access.AccessInfoV3:
        """Step 3, in a worker thread: the unscoped SP token rescoped to the project."""
        plugin = v3.Token(unscoped.auth_url, unscoped.token, project_id=project.id)
        try:
            with self.sessions.using(unscoped.auth_url, self._tls(sp_id)) as kept:
                return plugin.get_auth_ref(kept)
        except Exception as exc:
            raise K2KFailed(sp_id, f"scoping to project {project.name} failed: its Keystone "
                                   f"{ksa.describe(exc)}") from None
