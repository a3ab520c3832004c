"""A graceful stop: no new connections, the calls in flight given a bounded time to finish.

:class:`InFlight` counts the calls being handled (a middleware: a streamed answer, an image
download, counts until its last byte is written). :func:`drain` closes the listening
sockets (a new connection is refused, so a load balancer or a client's retry goes to another
worker or host), asks every open connection to close once its current call is answered
(idle keep-alive connections at once), and waits until no call is in flight or ``grace``
seconds have passed. What is still running then is cancelled by the runner's cleanup.
"""
from __future__ import annotations

import asyncio
import logging

from aiohttp import web

log = logging.getLogger(__name__)


class InFlight:
    def __init__(self) -> None:
        self.count = 0
        self._idle = asyncio.Event()
        self._idle.set()

    @web.middleware
    async def middleware(self, request: web.Request, handler) -> web.StreamResponse:
        self.count += 1
        self._idle.clear()
        try:
            return await handler(request)
        finally:
            self.count -= 1
            if not self.count:
                self._idle.set()

    async def idle(self, timeout: float) -> bool:
        """Whether every call ended within ``timeout`` seconds."""
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
        except asyncio.TimeoutError:
            return False
        return True


async def drain(runner: web.BaseRunner, in_flight: InFlight, grace: float) -> None:
    for site in list(runner.sites):
        await site.stop()
    if runner.server is not None:
        runner.server.pre_shutdown()
    log.info("stopping: new connections refused; %d calls in flight have %.0f s to finish",
             in_flight.count, grace)
    if not await in_flight.idle(grace):
        log.warning("stopping: %d calls still in flight after %.0f s are cut",
                    in_flight.count, grace)
