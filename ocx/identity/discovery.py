"""The K2K service providers registered at the home Keystone, read with OCX's service user
(``GET /v3/OS-FEDERATION/service_providers``), and the task that keeps the gateway's providers
(``backends.registry.Providers``) in step with them while OCX runs.

When the home Keystone cannot be read, the providers stay as they were: a hiccup at home does
not drop every service provider.
"""
from __future__ import annotations

import asyncio
import logging

import aiohttp

log = logging.getLogger(__name__)


class ListingFailed(Exception):
    """The service providers could not be read; ``reason`` says why, in safe words."""

    def __init__(self, reason: str, status: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


async def service_providers(http: aiohttp.ClientSession, auth_url: str, token: str,
                            timeout: float) -> dict[str, dict]:
    """Every service provider of the home Keystone (``auth_url``: its v3 URL), by id."""
    if timeout <= 0:
        raise ListingFailed("no time left to ask")
    try:
        async with http.get(f"{auth_url.rstrip('/')}/OS-FEDERATION/service_providers",
                            headers={"X-Auth-Token": token, "Accept": "application/json"},
                            timeout=aiohttp.ClientTimeout(total=timeout)) as response:
            if response.status == 403:
                raise ListingFailed("OCX's service user may not list them (HTTP 403)", 403)
            if response.status != 200:
                raise ListingFailed(f"it answered HTTP {response.status}", response.status)
            body = await response.json(content_type=None)
    except TimeoutError:
        raise ListingFailed(f"it did not answer within {timeout:.1f} s") from None
    except aiohttp.ClientConnectionError:
        raise ListingFailed("it is unreachable") from None
    except (aiohttp.ClientError, ValueError) as exc:
        raise ListingFailed(f"it gave an answer OCX cannot read ({type(exc).__name__})") \
            from None
    try:
        return {str(sp["id"]): sp for sp in body["service_providers"]}
    except (TypeError, KeyError):
        raise ListingFailed("it gave an answer OCX cannot read") from None


class Discovery:
    """Reads the home Keystone's service providers into ``providers`` (``update(listed)``)
    now (:meth:`refresh`) and every ``interval`` seconds (:meth:`run_forever`)."""

    def __init__(self, providers, validator, http: aiohttp.ClientSession, *, interval: float,
                 timeout: float) -> None:
        self.providers = providers
        self.validator = validator     # identity.validate.TokenValidator: OCX's own token
        self.http = http
        self.interval = interval
        self.timeout = timeout
        self.last_failure: str | None = None

    async def refresh(self) -> bool:
        """One reading; False (logged, providers unchanged) when it could not be had."""
        try:
            token = await self.validator.service_token()
            try:
                listed = await service_providers(self.http, self.validator.auth_url, token,
                                                 self.timeout)
            except ListingFailed as exc:
                if exc.status != 401:
                    raise
                # OCX's own token went bad (the home Keystone restarted, say): a new one, once.
                token = await self.validator._service_token(refused=token)
                listed = await service_providers(self.http, self.validator.auth_url, token,
                                                 self.timeout)
        except Exception as exc:  # noqa: BLE001 - any failure leaves the providers as they are
            reason = getattr(exc, "reason", None) or type(exc).__name__
            if reason != self.last_failure:
                log.warning("the home Keystone's service providers could not be read: %s",
                            reason)
            self.last_failure = reason
            return False
        self.last_failure = None
        self.providers.update(listed)
        return True

    async def run_forever(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            await self.refresh()
