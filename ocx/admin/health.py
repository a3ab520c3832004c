"""``ocx providers``: each provider OCX sends calls to, its kind, its K2K service provider id,
the services it offers and its health, found with OCX's service user alone and within a time
limit (a provider that is down shows as down, never as a hang).

- The home cloud is up when its Keystone answers (``GET [keystone] auth_url``). Its services
  are those of the service user's catalog at ``[keystone] home_interface``.
- A K2K service provider is up when the home Keystone lists it, enabled, in
  ``/v3/OS-FEDERATION/service_providers`` and the Keystone of its ``auth_url`` answers. What it
  offers is in the catalog a user's K2K token brings, so it is unknown until a user's call.

Any HTTP answer below 500 counts as answering: the host is there and its Keystone runs.
Probing (:func:`probe`, I/O) and judging (:func:`assess_home`, :func:`assess_service_provider`,
pure) are kept apart.

Besides the configured providers, those the gateway discovers at the home Keystone are shown
(``discover_providers``; not those in ``exclude_providers``). When the gateway runs (at
``public_url``), what it has seen of each provider's calls is shown too (``GET
/ocx/v1/providers`` with the service user's token, which needs the admin role): its state
(up, degraded, down), since when, and the last error.
"""
from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, replace

import aiohttp
from keystoneauth1 import exceptions as ks_exc
from oslo_config import cfg

from .. import config
from ..backends.catalog import find_endpoint
from ..backends.registry import CONFIGURED, DISCOVERED, ProviderEntry, merge
from ..call import SERVICES
from ..identity import ksa
from ..identity.discovery import ListingFailed, service_providers
from ..identity.validate import service_auth

UP, DOWN, UNKNOWN = "up", "down", "unknown"
# What a table shows for services that cannot be known without a user's token.
SERVICES_UNKNOWN = "unknown until a user's call"

_V3 = re.compile(r"^(.*?/v3)(?:/|$)")


@dataclass(frozen=True)
class Answer:
    """What one GET found: its HTTP status, or (``status`` None) why there was none."""

    status: int | None = None
    failure: str = ""

    @property
    def answered(self) -> bool:
        return self.status is not None and self.status < 500

    def describe(self) -> str:
        return f"answered HTTP {self.status}" if self.status is not None else self.failure


@dataclass(frozen=True)
class HomeView:
    """What the home Keystone told OCX's service user.

    ``catalog`` is the service user's (None: it could not log in, ``login_failure`` says why);
    ``service_providers`` maps each service provider id to its entry (None: they could not be
    listed, ``listing_failure`` says why).
    """

    keystone: Answer
    catalog: list[dict] | None = None
    login_failure: str = ""
    service_providers: dict[str, dict] | None = None
    listing_failure: str = ""


@dataclass(frozen=True)
class ProviderStatus:
    name: str
    kind: str
    sp_id: str | None          # None for the home cloud, the K2K identity provider
    health: str                # UP | DOWN | UNKNOWN
    detail: str                # why, in words
    services: tuple[str, ...] | None  # OCX's service names; None: not known yet
    keystone: str | None       # the Keystone URL that was asked
    source: str = CONFIGURED   # home, configured (pinned) or discovered at the home Keystone
    state: str | None = None   # the running gateway's: up, degraded, down (None: not known)
    since: str | None = None
    last_error: str | None = None

    def shown_services(self) -> str:
        """The services as a table shows them, saying why when they are not known."""
        if self.services is not None:
            return ", ".join(self.services) or "none"
        return SERVICES_UNKNOWN if self.sp_id is not None else "unknown (see detail)"

    def record(self) -> dict:
        return {"name": self.name, "kind": self.kind, "sp_id": self.sp_id,
                "health": self.health,
                "services": list(self.services) if self.services is not None else None,
                "detail": self.detail, "keystone": self.keystone, "source": self.source,
                "state": self.state, "since": self.since, "last_error": self.last_error}


def keystone_root(auth_url: str) -> str:
    """The Keystone v3 root an SP's ``auth_url`` lives under (``…/v3/OS-FEDERATION/…/auth`` →
    ``…/v3``); a URL without ``/v3`` is kept as it is."""
    found = _V3.match(auth_url)
    return found[1] if found else auth_url


def offered_services(catalog: list[dict], interface: str, region: str | None) -> tuple[str, ...]:
    """The services OCX fronts (``compute``, ``volume``, ...) that ``catalog`` has an endpoint
    for at ``interface`` (and ``region``), in OCX's order."""
    return tuple(service for service, types in SERVICES.items()
                 if find_endpoint(catalog, types, interface, region))


def assess_home(name: str, view: HomeView, auth_url: str, interface: str,
                region: str | None) -> ProviderStatus:
    if not view.keystone.answered:
        return ProviderStatus(name, "openstack", None, DOWN,
                              f"its Keystone {view.keystone.describe()}", None, auth_url,
                              source="home")
    if view.catalog is None:
        return ProviderStatus(name, "openstack", None, UP,
                              f"its Keystone answers; services unknown: OCX's service user "
                              f"{view.login_failure}", None, auth_url, source="home")
    return ProviderStatus(name, "openstack", None, UP, "its Keystone answers",
                          offered_services(view.catalog, interface, region), auth_url,
                          source="home")


def assess_service_provider(provider: config.ProviderConfig, view: HomeView,
                            keystone: Answer | None, source: str = CONFIGURED
                            ) -> ProviderStatus:
    """``keystone``: what the SP's Keystone answered (None: it was not asked)."""
    def status(health: str, detail: str, url: str | None = None) -> ProviderStatus:
        return ProviderStatus(provider.name, provider.kind, provider.sp_id, health, detail,
                              None, url, source=source)

    if view.service_providers is None:
        return status(UNKNOWN, f"the home Keystone could not list its service providers: "
                               f"{view.listing_failure}")
    entry = view.service_providers.get(provider.sp_id)
    if entry is None:
        return status(DOWN, f"{provider.sp_id!r} is not a service provider of the home "
                            f"Keystone")
    url = keystone_root(entry.get("auth_url") or "")
    if not entry.get("enabled", True):
        return status(DOWN, "disabled at the home Keystone", url)
    if keystone is None or not keystone.answered:
        why = keystone.describe() if keystone is not None else "was not asked (no time left)"
        return status(DOWN, f"listed by the home Keystone; its Keystone {why}", url)
    return status(UP, "listed by the home Keystone; its Keystone answers", url)


def with_gateway(status: ProviderStatus, seen: dict | None) -> ProviderStatus:
    """``status`` with what the running gateway has seen of the provider (``seen``: its
    record from ``GET /ocx/v1/providers``; None: it has none)."""
    if seen is None:
        return status
    return replace(status, state=seen.get("state"), since=seen.get("since"),
                   last_error=seen.get("last_error"))


def shown_providers(conf: cfg.ConfigOpts, listed: dict[str, dict] | None
                    ) -> list[tuple[config.ProviderConfig, str]]:
    """The configured providers and, when discovery is on, the home Keystone's others: what
    the gateway uses (``backends.registry.merge``), with where each comes from."""
    configured = config.providers(conf)
    if not conf.discover_providers or listed is None:
        return [(p, CONFIGURED) for p in configured]
    by_name = {p.name: p for p in configured}
    entries = merge([ProviderEntry(p.name, p.sp_id, CONFIGURED) for p in configured], listed,
                    conf.exclude_providers, reserved={"home"})
    return [(by_name[e.name], CONFIGURED) if e.source != DISCOVERED else
            (config.ProviderConfig(e.name, "openstack", e.sp_id, "public", {}), DISCOVERED)
            for e in entries]


# -- probing (I/O) -----------------------------------------------------------------------------

async def probe(conf: cfg.ConfigOpts, home: str, timeout: float) -> list[ProviderStatus]:
    """The status of the home cloud (named ``home``) and of every service provider the
    gateway uses, all found within about ``timeout`` seconds."""
    auth_url = conf.keystone.auth_url.rstrip("/")
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout

    def left() -> float:
        return max(0.0, deadline - loop.time())

    async with aiohttp.ClientSession(skip_auto_headers=("User-Agent",)) as http:
        keystone, login = await asyncio.gather(
            _get(http, auth_url, left()), asyncio.to_thread(_login, conf, left()))
        token, catalog, login_failure = login
        if token is None:
            sps, listing_failure = None, f"OCX's service user {login_failure}"
        else:
            sps, listing_failure = await _service_providers(http, auth_url, token, left())
        view = HomeView(keystone, catalog, login_failure, sps, listing_failure)
        remotes = shown_providers(conf, sps)
        listed = [p for p, _ in remotes if sps is not None and p.sp_id in sps]
        answers, seen = await asyncio.gather(
            asyncio.gather(*(_get(http, keystone_root(sps[p.sp_id].get("auth_url") or ""),
                                  left()) for p in listed)),
            _gateway_view(http, config.public_url(conf), token, left()))
    by_name = {p.name: a for p, a in zip(listed, answers)}
    return [with_gateway(assess_home(home, view, auth_url, conf.keystone.home_interface,
                                     conf.keystone.region_name), seen.get(home)),
            *(with_gateway(assess_service_provider(p, view, by_name.get(p.name), source),
                           seen.get(p.name))
              for p, source in remotes)]


async def _gateway_view(http: aiohttp.ClientSession, public_url: str, token: str | None,
                        timeout: float) -> dict[str, dict]:
    """What the running gateway has seen of each provider, by name; nothing when it does not
    run or will not say (its health is then simply not shown)."""
    if token is None or timeout <= 0:
        return {}
    try:
        async with http.get(f"{public_url}/ocx/v1/providers",
                            headers={"X-Auth-Token": token, "Accept": "application/json"},
                            timeout=aiohttp.ClientTimeout(total=timeout)) as response:
            if response.status != 200:
                return {}
            body = await response.json(content_type=None)
        return {str(p["name"]): p for p in body["providers"]}
    except (aiohttp.ClientError, TimeoutError, ValueError, TypeError, KeyError):
        return {}


async def _get(http: aiohttp.ClientSession, url: str, timeout: float) -> Answer:
    if not url.startswith(("http://", "https://")):
        return Answer(failure=f"has no usable URL ({url!r})")
    if timeout <= 0:
        return Answer(failure="was not asked (no time left)")
    try:
        async with http.get(url, allow_redirects=False,
                            timeout=aiohttp.ClientTimeout(total=timeout)) as response:
            return Answer(response.status)
    except TimeoutError:
        return Answer(failure=f"did not answer within {timeout:.1f} s")
    except aiohttp.ClientConnectionError:
        return Answer(failure="is unreachable")
    except aiohttp.ClientError as exc:
        return Answer(failure=f"failed ({type(exc).__name__})")


def _login(conf: cfg.ConfigOpts, timeout: float
           ) -> tuple[str | None, list[dict] | None, str]:
    """In a worker thread: OCX's service user logs in; (token, catalog, why not)."""
    if timeout <= 0:
        return None, None, "could not log in in time"
    try:
        access = service_auth(conf).get_access(ksa.session(timeout))
    except ks_exc.Unauthorized:
        return None, None, "cannot log in (HTTP 401); check [keystone] username and password"
    except Exception as exc:  # noqa: BLE001 - whatever keystoneauth1 raised: described, not echoed
        return None, None, f"could not log in: the home Keystone {ksa.describe(exc)}"
    return access.auth_token, list(access.service_catalog.catalog or []), ""


async def _service_providers(http: aiohttp.ClientSession, auth_url: str, token: str,
                             timeout: float) -> tuple[dict[str, dict] | None, str]:
    try:
        return await service_providers(http, auth_url, token, timeout), ""
    except ListingFailed as exc:
        return None, exc.reason
