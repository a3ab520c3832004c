"""Probes for orchestrators (issue 12), without a token (a probe has none):

    GET /healthz   liveness: the process answers; nothing else is touched
    GET /readyz    readiness: the mapping store answers a trivial query and the home Keystone
                   answers its version document, each within ``timeout`` seconds, at once;
                   200 naming each check, or 503 naming what failed and why

The answers name checks and failures only: no URL, host, user or token (a store URL may hold
a password); the log line of a failure says more.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping

import aiohttp
import orjson
import sqlalchemy as sa
from aiohttp import web

HEALTHZ = "/healthz"
READYZ = "/readyz"
log = logging.getLogger(__name__)


class CheckFailed(Exception):
    """A readiness check failed; the message is shown to the prober and holds no secret."""


def readiness(failures: Mapping[str, str | None]) -> tuple[int, dict]:
    """The status and body of ``GET /readyz`` from each check's failure (None: it passed).
    Pure."""
    checks = {name: {"ok": True} if reason is None else {"ok": False, "reason": reason}
              for name, reason in failures.items()}
    ready = all(reason is None for reason in failures.values())
    return (200 if ready else 503), {"status": "ready" if ready else "not ready",
                                     "checks": checks}


def _why(exc: BaseException) -> str:
    """What an unexpected failure was, by kind only (its text may name hosts or users)."""
    return f"failed ({type(exc).__name__})"


class Health:
    def __init__(self, *, store, http: aiohttp.ClientSession, keystone_url: str,
                 timeout: float) -> None:
        self.store = store
        self.http = http
        self.keystone_url = keystone_url
        self.timeout = timeout

    def routes(self) -> list[web.RouteDef]:
        return [web.get(HEALTHZ, self.live), web.get(READYZ, self.ready)]

    async def live(self, request: web.Request) -> web.Response:
        return _json(200, {"status": "alive"})

    async def ready(self, request: web.Request) -> web.Response:
        names = ("store", "keystone")
        results = await asyncio.gather(self._run("store", self.check_store()),
                                       self._run("keystone", self.check_keystone()))
        status, body = readiness(dict(zip(names, results)))
        return _json(status, body)

    async def _run(self, name: str, check) -> str | None:
        """The check's failure, or None; never longer than ``timeout``."""
        try:
            async with asyncio.timeout(self.timeout):
                await check
        except TimeoutError:
            reason = f"no answer within {self.timeout:g} s"
        except CheckFailed as exc:
            reason = str(exc)
        except Exception as exc:  # noqa: BLE001 - every failure is a reason, never a 500
            reason = _why(exc)
            first = (str(exc).splitlines() or [""])[0]
            log.warning("readiness: the %s check failed: %s: %s", name, type(exc).__name__,
                        first)
            return reason
        else:
            return None
        log.warning("readiness: the %s check failed: %s", name, reason)
        return reason

    async def check_store(self) -> None:
        async with self.store.engine.connect() as conn:
            await conn.execute(sa.text("SELECT 1"))

    async def check_keystone(self) -> None:
        async with self.http.get(self.keystone_url, allow_redirects=False,
                                 headers={"Accept": "application/json"}) as response:
            if response.status >= 400:
                raise CheckFailed(f"answered {response.status}")
            try:
                document = orjson.loads(await response.read())
            except orjson.JSONDecodeError:
                document = None
            if not (isinstance(document, dict) and ("version" in document
                                                    or "versions" in document)):
                raise CheckFailed("answered something that is not a version document")


def _json(status: int, body: dict) -> web.Response:
    # Probes read it often; nobody should keep it.
    return web.Response(status=status, body=orjson.dumps(body),
                        content_type="application/json",
                        headers={"Cache-Control": "no-store"})
