"""Faults a simulated cloud can be given while it runs: latency, errors, services down.

Latency and error rate act in a middleware of every service; "down" closes the service's
listening socket so that callers see a refused connection, as with a dead host.
"""
from __future__ import annotations

import asyncio
import random
from collections import Counter
from dataclasses import dataclass, field

from aiohttp import web

from .errors import SimError

ALL = "*"


@dataclass
class Faults:
    """Per-service fault settings; the key ``*`` applies to every service of the cloud."""

    latency_ms: dict[str, float] = field(default_factory=dict)
    error_rate: dict[str, float] = field(default_factory=dict)
    down: set[str] = field(default_factory=set)
    rng: random.Random = field(default_factory=random.Random, repr=False)

    def latency_for(self, service: str) -> float:
        return self.latency_ms.get(service, self.latency_ms.get(ALL, 0.0)) / 1000.0

    def fails(self, service: str) -> bool:
        rate = self.error_rate.get(service, self.error_rate.get(ALL, 0.0))
        return rate > 0 and self.rng.random() < rate

    def describe(self) -> dict:
        return {"latency_ms": dict(self.latency_ms), "error_rate": dict(self.error_rate),
                "down": sorted(self.down)}


def fault_middleware(faults: Faults, service: str, calls: Counter):
    """Count the call (tests check where calls went), then apply the service's faults."""

    @web.middleware
    async def middleware(request: web.Request, handler):
        calls[(service, request.method)] += 1
        delay = faults.latency_for(service)
        if delay > 0:
            await asyncio.sleep(delay)
        if faults.fails(service):
            raise SimError(503, "The server is currently unavailable. Please try again at a "
                                "later time.", kind="ServiceUnavailable")
        return await handler(request)

    return middleware
