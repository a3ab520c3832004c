"""The light probe of services that are not up: a GET of the service's root (its version
document, which needs no token), every ``interval`` seconds, fed to the health book. Any
answer below 500 counts: the host is there and the service runs.
"""
from __future__ import annotations

import asyncio
import logging
import ssl as ssl_
from collections.abc import Callable

import aiohttp

from .health import HealthBook, ServiceHealth

log = logging.getLogger(__name__)


async def ask(http: aiohttp.ClientSession, url: str, timeout: float,
              ssl: ssl_.SSLContext | bool = True) -> str | None:
    """None when ``url`` answers (below 500); otherwise why not, in words. ``ssl``: the
    provider's TLS context (True: the session's)."""
    try:
        async with http.get(url, allow_redirects=False, ssl=ssl,
                            timeout=aiohttp.ClientTimeout(total=timeout)) as response:
            if response.status >= 500:
                return f"its root answered HTTP {response.status}"
            return None
    except TimeoutError:
        return f"its root did not answer within {timeout:g} s"
    except aiohttp.ClientConnectionError as exc:
        return f"cannot be reached ({type(exc).__name__})"
    except aiohttp.ClientError as exc:
        return f"answered badly ({type(exc).__name__})"


async def probe_once(book: HealthBook, http: aiohttp.ClientSession, timeout: float,
                     ssl_for: Callable[[str], ssl_.SSLContext | bool] = lambda _: True
                     ) -> None:
    """Ask every service that is not up, at once, and record what each did."""
    waiting = [s for s in book.not_up() if s.url]
    results = await asyncio.gather(*(ask(http, s.url, timeout, ssl_for(s.provider))
                                     for s in waiting))
    for service, failure in zip(waiting, results):
        _record(book, service, failure)


def _record(book: HealthBook, service: ServiceHealth, failure: str | None) -> None:
    if failure is None:
        if service.health.state != "up":
            log.info("provider %s %s answers again", service.provider, service.service)
        book.answered(service.provider, service.service, probe=True)
    else:
        book.failed(service.provider, service.service, failure, probe=True)


async def probe_forever(book: HealthBook, http: aiohttp.ClientSession, *, interval: float,
                        timeout: float,
                        ssl_for: Callable[[str], ssl_.SSLContext | bool] = lambda _: True
                        ) -> None:
    while True:
        await asyncio.sleep(interval)
        try:
            await probe_once(book, http, timeout, ssl_for)
        except Exception:  # noqa: BLE001 - a failed round is tried again next time
            log.exception("probing providers failed")
