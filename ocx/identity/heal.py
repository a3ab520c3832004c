"""Sessions that heal (seed 004): when a K2K provider refuses a token OCX made there (a 401:
revoked, expired early, or its Keystone restarted and forgot every token), the token mapping
is forgotten and a fresh K2K exchange made, so that the call can be sent again once.

:class:`HealingMapper` stands in front of :class:`~ocx.identity.tokens.TokenMapper`: it hands
out the same credentials and remembers, by a hash of each remote token, whose they are, so
that ``renew(provider, credentials)`` (called by the executor on a 401) can make new ones. A
token it did not make (the caller's own at home, one a peer injected) is not renewed: that
401 is the caller's to see.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import logging
from collections import OrderedDict
from dataclasses import replace

from ..backends.base import Credentials
from .caller import Caller
from .coalesce import Coalescer
from .errors import Unauthenticated

log = logging.getLogger(__name__)

KEPT = 20_000    # remote tokens remembered (least recently used forgotten first)


def _key(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class HealingMapper:
    def __init__(self, mapper, store) -> None:
        self.mapper = mapper
        self.store = store
        self.home = mapper.home
        self.remotes = mapper.remotes
        self._made: OrderedDict[str, tuple[Caller, str]] = OrderedDict()
        self._renewals: Coalescer[Credentials | None] = Coalescer()
        self.renewals = 0        # mappings renewed because a provider refused them

    async def credentials(self, caller: Caller, provider: str) -> Credentials:
        credentials = await self.mapper.credentials(caller, provider)
        if provider != self.home and provider in self.remotes:
            key = _key(credentials.token)
            self._made[key] = (caller, provider)
            self._made.move_to_end(key)
            self._forget_old()
        return credentials

    def _forget_old(self) -> None:
        """Past :data:`KEPT`, or once the caller's token has expired (no call can bring it
        again), an entry is dropped: each holds a caller, catalog included."""
        now = dt.datetime.now(dt.timezone.utc)
        while self._made:
            caller, _ = next(iter(self._made.values()))
            if len(self._made) <= KEPT and caller.expires_at > now:
                return
            self._made.popitem(last=False)

    async def renew(self, provider: str, credentials: Credentials) -> Credentials | None:
        """New credentials in place of ``credentials``, which ``provider`` refused; None when
        they are not OCX's to renew, or the caller's own token is no longer valid at home (a
        Keystone restart forgot it: the provider's 401 then goes to the caller, whose client
        gets a new token)."""
        try:
            fresh = await self._renewed(provider, credentials.token)
        except Unauthenticated:
            return None
        if fresh is None:
            return None
        service_token = credentials.service_token
        if service_token:  # OCX's own token there, vouching for a home service: may be stale too
            vouching = await self._renewed(provider, service_token)
            service_token = vouching.token if vouching is not None else service_token
        return replace(fresh, service_token=service_token)

    async def _renewed(self, provider: str, stale: str) -> Credentials | None:
        key = _key(stale)
        made = self._made.get(key)
        if made is None or made[1] != provider:
            return None
        # Calls refused with the same token at once make one exchange between them.
        return await self._renewals.run(key, lambda: self._renew(made[0], provider, stale))

    async def _renew(self, caller: Caller, provider: str, stale: str) -> Credentials | None:
        current = await self.store.get_token_mapping(caller.token_hash, caller.project_id,
                                                     provider)
        if current is None or current.remote_token == stale:
            await self.store.delete_token_mappings(local_token_hash=caller.token_hash,
                                                   provider=provider)
            self.renewals += 1
            log.info("token mapping %s… at %s refused there: made anew",
                     caller.token_hash[:12], provider)
        fresh = await self.credentials(caller, provider)
        return fresh if fresh.token != stale else None
