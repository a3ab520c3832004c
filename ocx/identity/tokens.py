"""Credit: the token and project a caller's call uses at each provider (seed 000, primitive 1).

At the home cloud the caller's own token serves. At a K2K service provider the token mapping
(local token, local project) → provider → (remote token, remote project) serves; when there is
none, or it has expired, a K2K exchange makes one and the store keeps it. The exchanger
coalesces concurrent exchanges, so a burst of calls from a new token makes one. A provider that
OCX has no K2K relation with (one a peer OCX injects mappings for) is reached only with an
injected mapping, until it expires. A provider OCX itself serves from its own store (a
controller provider, ``local``) takes the caller's own identity: no token, the home project.
"""
from __future__ import annotations

import datetime as dt
import time
from collections.abc import Collection, Mapping
from dataclasses import dataclass

from .. import metrics
from ..backends.base import Credentials
from ..store import TokenMapping
from .caller import Caller
from .coalesce import Coalescer
from .errors import NotInjected

# A mapping this close to its expiry is renewed rather than used.
RENEW_MARGIN = dt.timedelta(seconds=30)


@dataclass(frozen=True)
class Remote:
    """How OCX reaches one K2K service provider."""

    sp_id: str
    project_map: Mapping[str, str]


class TokenMapper:
    def __init__(self, store, exchanger, *, home: str, remotes: Mapping[str, Remote],
                 local: Collection[str] = ()) -> None:
        self.store = store
        self.local = frozenset(local)
        self.exchanger = exchanger
        self.home = home
        self.remotes = remotes
        # Look-up, exchange and store as one piece of work per mapping key: a call arriving
        # between the end of an exchange and the store's write must not start another.
        self._work: Coalescer[TokenMapping] = Coalescer()

    async def credentials(self, caller: Caller, provider: str) -> Credentials:
        if provider == self.home:
            return Credentials(caller.token, caller.project_id, tuple(caller.catalog),
                               caller.expires_at, roles=caller.roles)
        if provider in self.local:
            return Credentials("", caller.project_id, expires_at=caller.expires_at,
                               roles=caller.roles)
        mapping = await self.store.get_token_mapping(caller.token_hash, caller.project_id,
                                                     provider)
        if provider not in self.remotes:
            if mapping is None:  # the store gives no expired mapping
                raise NotInjected(provider)
        elif not usable(mapping):
            mapping = await self._work.run((caller.token_hash, caller.project_id, provider),
                                           lambda: self._renew(caller, provider))
        return Credentials(mapping.remote_token, mapping.remote_project, tuple(mapping.catalog),
                           mapping.expires_at)

    async def _renew(self, caller: Caller, provider: str) -> TokenMapping:
        mapping = await self.store.get_token_mapping(caller.token_hash, caller.project_id,
                                                     provider)
        if not usable(mapping):  # still: nobody renewed it while this waited its turn
            remote = self.remotes[provider]
            started = time.monotonic()
            try:
                exchanged = await self.exchanger.exchange(caller, remote.sp_id,
                                                          remote.project_map)
            except Exception:
                metrics.k2k_exchange(provider, False, time.monotonic() - started)
                raise
            metrics.k2k_exchange(provider, True, time.monotonic() - started)
            mapping = TokenMapping(
                local_token_hash=caller.token_hash, local_project=caller.project_id,
                provider=provider, remote_token=exchanged.token,
                remote_project=exchanged.project_id,
                # A mapping never outlives the local token it stands for.
                expires_at=min(exchanged.expires_at, caller.expires_at),
                catalog=list(exchanged.catalog))
            await self.store.put_token_mapping(mapping)
        return mapping


def usable(mapping: TokenMapping | None) -> bool:
    return mapping is not None and \
        mapping.expires_at - RENEW_MARGIN > dt.datetime.now(dt.timezone.utc)
