"""The injection API: a peer OCX it trusts hands this OCX mappings (seed 000, "Token Injection").

    POST /ocx/v1/peer/mappings      (document: ocx.learn.injection)

A peer proves who it is with a signature made with the secret both sides share
(``X-OCX-Peer``, ``X-OCX-Peer-Time``, ``X-OCX-Peer-Signature``), or with a token of the home
Keystone whose user has the role the peer's section accepts (``X-OCX-Peer`` and
``X-Auth-Token``). Anything else is refused with 401 or 403, and a refused injection stores
nothing; an accepted one is stored whole, in one transaction (while the store cannot be
reached: a 503, nothing stored, to be sent again). A signed injection is taken once:
the same one again, while its signature is still good, is answered as taken and stores
nothing, so that whoever saw it pass cannot replay it to bring back mappings since dropped
or replaced (kept per process: with several workers, one that did not take it stores it).
"""
from __future__ import annotations

import datetime as dt
import logging
from collections import OrderedDict
from collections.abc import Callable, Collection, Mapping

import orjson
from aiohttp import web

from ..config import PeerConfig
from ..identity.errors import IdentityUnavailable, Unauthenticated
from ..learn.injection import (PATH, PEER_HEADER, SIGNATURE_HEADER, SIGNATURE_WINDOW,
                               TIME_HEADER, InjectionRefused, check_signature, decode)
from ..store.outage import unreachable as store_unreachable
from .errors import OcxError, error_response
from .limits import read_body

__all__ = ["PATH", "PeerInjections"]
MAX_BODY = 4 << 20

log = logging.getLogger(__name__)


class TakenOnce:
    """The signatures of the injections taken, each kept until its time is too far from the
    clock for it to pass anyway; at most ``size`` (the oldest forgotten first)."""

    def __init__(self, size: int = 100_000) -> None:
        self.size = size
        self._until: OrderedDict[tuple[str, str], dt.datetime] = OrderedDict()

    def seen(self, key: tuple[str, str], now: dt.datetime) -> bool:
        while self._until and next(iter(self._until.values())) < now:
            self._until.popitem(last=False)
        return key in self._until

    def take(self, key: tuple[str, str], until: dt.datetime) -> None:
        self._until[key] = until
        self._until.move_to_end(key)
        while len(self._until) > self.size:
            self._until.popitem(last=False)


class PeerInjections:
    def __init__(self, peers: Mapping[str, PeerConfig], *, validator, store,
                 types: Collection[str],
                 clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC)) -> None:
        self.peers = peers
        self.validator = validator
        self.store = store
        self.types = frozenset(types)
        self.clock = clock
        self.taken = TakenOnce()

    async def handle(self, request: web.Request) -> web.Response:
        try:
            if (request.content_length or 0) > MAX_BODY:
                raise OcxError(413, "The injection is too large.")
            body = await read_body(request.content, MAX_BODY)
            if len(body) > MAX_BODY:
                raise OcxError(413, "The injection is too large.")
            peer = await self._authenticate(request, body)
            now = self.clock()
            signed = _signed(peer, request)
            if signed is not None and self.taken.seen(signed, now):
                log.warning("peer %s sent an injection it had sent before: nothing stored",
                            peer.name)
                return _injected(0, 0)
            injection = decode(body, providers=peer.accept_providers, types=self.types,
                               now=now)
            await self.store.put_mappings(injection.tokens, injection.resources)
            if signed is not None:
                # Kept until its time is too old for it to pass anyway.
                self.taken.take(signed, dt.datetime.fromtimestamp(
                    int(request.headers[TIME_HEADER]), dt.UTC) + SIGNATURE_WINDOW)
        except InjectionRefused as exc:
            log.warning("injection refused (%s): %s", exc.status, exc.message)
            return error_response(None, OcxError(exc.status, exc.message))
        except OcxError as exc:
            return error_response(None, exc)
        except IdentityUnavailable as exc:
            return error_response(None, OcxError(503, f"The peer's token cannot be validated "
                                                      f"now: {exc.reason}."))
        except Exception as exc:
            if not store_unreachable(exc):
                raise
            # Stored whole or not at all: not taken, so the peer may send the same again.
            log.warning("an injection was not stored: the mapping store cannot be reached "
                        "(%s)", type(exc).__name__)
            return error_response(None, OcxError(503, "The mapping store cannot be reached "
                                                      "now; nothing was stored: send the "
                                                      "injection again shortly."))
        log.info("peer %s injected %d token mappings and %d resource mappings (providers %s)",
                 peer.name, len(injection.tokens), len(injection.resources),
                 ", ".join(sorted({m.provider for m in (*injection.tokens,
                                                         *injection.resources)})))
        return _injected(len(injection.tokens), len(injection.resources))

    async def _authenticate(self, request: web.Request, body: bytes) -> PeerConfig:
        name = request.headers.get(PEER_HEADER, "").strip()
        if not name:
            raise InjectionRefused(401, f"Injections come from a peer OCX: {PEER_HEADER} is "
                                        "missing.")
        peer = self.peers.get(name)
        if peer is None:
            raise InjectionRefused(401, f"{name!r} is not a peer of this OCX.")
        if SIGNATURE_HEADER in request.headers:
            if not peer.secret:
                raise InjectionRefused(401, f"Peer {name!r} has no secret here to sign with.")
            check_signature(peer.secret, when=request.headers.get(TIME_HEADER, ""),
                            given=request.headers[SIGNATURE_HEADER], method=request.method,
                            path=request.path, body=body, now=self.clock())
            return peer
        token = request.headers.get("X-Auth-Token")
        if not token:
            raise InjectionRefused(401, "The injection is neither signed nor sent with a token.")
        if not peer.accept_role:
            raise InjectionRefused(403, f"Peer {name!r} must sign its injections.")
        try:
            caller = await self.validator.identify(token)
        except Unauthenticated:
            raise InjectionRefused(401, "The peer's token is not valid.") from None
        if peer.accept_role not in caller.roles:
            raise InjectionRefused(403, f"The token's user lacks the role {peer.accept_role!r} "
                                        f"that peer {name!r} needs.")
        return peer


def _signed(peer: PeerConfig, request: web.Request) -> tuple[str, str] | None:
    """What identifies a signed injection (its signature as it was checked); None when the
    peer authenticated with a token."""
    given = request.headers.get(SIGNATURE_HEADER)
    return None if given is None else (peer.name, given.strip().lower())


def _injected(tokens: int, resources: int) -> web.Response:
    return web.Response(status=200, content_type="application/json", body=orjson.dumps(
        {"injected": {"token_mappings": tokens, "resource_mappings": resources}}))
