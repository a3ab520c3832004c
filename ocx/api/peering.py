"""The injection API: a peer OCX it trusts hands this OCX mappings (seed 000, "Token Injection").

    POST /ocx/v1/peer/mappings      (document: ocx.learn.injection)

A peer proves who it is with a signature made with the secret both sides share
(``X-OCX-Peer``, ``X-OCX-Peer-Time``, ``X-OCX-Peer-Signature``), or with a token of the home
Keystone whose user has the role the peer's section accepts (``X-OCX-Peer`` and
``X-Auth-Token``). Anything else is refused with 401 or 403, and a refused injection stores
nothing; an accepted one is stored whole, in one transaction.
"""
from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Collection, Mapping

import orjson
from aiohttp import web

from ..config import PeerConfig
from ..identity.errors import IdentityUnavailable, Unauthenticated
from ..learn.injection import (PATH, PEER_HEADER, SIGNATURE_HEADER, TIME_HEADER,
                               InjectionRefused, check_signature, decode)
from .errors import OcxError, error_response

__all__ = ["PATH", "PeerInjections"]
MAX_BODY = 4 << 20

log = logging.getLogger(__name__)


class PeerInjections:
    def __init__(self, peers: Mapping[str, PeerConfig], *, validator, store,
                 types: Collection[str],
                 clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC)) -> None:
        self.peers = peers
        self.validator = validator
        self.store = store
        self.types = frozenset(types)
        self.clock = clock

    async def handle(self, request: web.Request) -> web.Response:
        try:
            if (request.content_length or 0) > MAX_BODY:
                raise OcxError(413, "The injection is too large.")
            body = await request.content.read(MAX_BODY + 1)
            if len(body) > MAX_BODY:
                raise OcxError(413, "The injection is too large.")
            peer = await self._authenticate(request, body)
            injection = decode(body, providers=peer.accept_providers, types=self.types,
                               now=self.clock())
            await self.store.put_mappings(injection.tokens, injection.resources)
        except InjectionRefused as exc:
            log.warning("injection refused (%s): %s", exc.status, exc.message)
            return error_response(None, OcxError(exc.status, exc.message))
        except OcxError as exc:
            return error_response(None, exc)
        except IdentityUnavailable as exc:
            return error_response(None, OcxError(503, f"The peer's token cannot be validated "
                                                      f"now: {exc.reason}."))
        log.info("peer %s injected %d token mappings and %d resource mappings (providers %s)",
                 peer.name, len(injection.tokens), len(injection.resources),
                 ", ".join(sorted({m.provider for m in (*injection.tokens,
                                                         *injection.resources)})))
        return web.Response(status=200, content_type="application/json", body=orjson.dumps(
            {"injected": {"token_mappings": len(injection.tokens),
                          "resource_mappings": len(injection.resources)}}))

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
