"""The sending side of injection: hand a peer OCX the mappings it will need.

The peer is the OCX in front of another cloud's own Cinder and Glance (``[peer:NAME] fronts``).
An injection is signed with the secret both sides share, or carries this OCX's service token
(``auth = token``, for a peer that shares the home Keystone). A peer that refuses, fails or
does not answer in time is a :class:`PeerRefused`; nothing is retried here, the caller decides.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence

import aiohttp
import orjson

from ..config import PeerConfig
from ..store import ResourceMapping, TokenMapping
from .injection import PATH, PEER_HEADER, SIGNATURE_HEADER, TIME_HEADER, encode, signature

log = logging.getLogger(__name__)


class PeerRefused(Exception):
    """The peer did not take the injection (``status`` None: it could not be reached)."""

    def __init__(self, peer: str, status: int | None, reason: str) -> None:
        super().__init__(f"peer {peer}: {reason}")
        self.peer = peer
        self.status = status
        self.reason = reason


class PeerClient:
    def __init__(self, session: aiohttp.ClientSession, peers: Iterable[PeerConfig], *,
                 me: str, timeout: float,
                 service_token: Callable[[], Awaitable[str]] | None = None,
                 clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC)) -> None:
        self.session = session
        self.me = me                    # this OCX's name at its peers
        self.timeout = aiohttp.ClientTimeout(total=timeout)
        self.service_token = service_token
        self.clock = clock
        self._fronting: Mapping[str, PeerConfig] = {
            provider: peer for peer in peers for provider in peer.fronts}

    def fronting(self, provider: str) -> PeerConfig | None:
        """The peer in front of ``provider``'s own services, if one is configured."""
        return self._fronting.get(provider)

    async def inject(self, peer: PeerConfig, tokens: Sequence[TokenMapping],
                     resources: Sequence[ResourceMapping]) -> None:
        body = encode(tokens, resources)
        headers = {"Content-Type": "application/json", PEER_HEADER: self.me}
        if peer.auth == "token":
            if self.service_token is None:
                raise PeerRefused(peer.name, None, "no service token to authenticate with")
            headers["X-Auth-Token"] = await self.service_token()
        else:
            when = int(self.clock().timestamp())
            headers[TIME_HEADER] = str(when)
            headers[SIGNATURE_HEADER] = signature(peer.secret or "", when, "POST", PATH, body)
        url = peer.url.rstrip("/") + PATH
        try:
            async with self.session.post(url, data=body, headers=headers,
                                         timeout=self.timeout) as resp:
                text = await resp.text()
                if resp.status != 200:
                    raise PeerRefused(peer.name, resp.status, _message(text) or resp.reason)
        except asyncio.TimeoutError:
            raise PeerRefused(peer.name, None, "did not answer in time") from None
        except aiohttp.ClientError as exc:
            raise PeerRefused(peer.name, None, f"cannot be reached ({type(exc).__name__})") \
                from None
        log.info("injected %d token mappings and %d resource mappings into peer %s",
                 len(tokens), len(resources), peer.name)


def _message(text: str) -> str:
    """The message of an error in Keystone's form, else nothing."""
    try:
        return str(orjson.loads(text)["error"]["message"])
    except (ValueError, KeyError, TypeError):
        return ""
