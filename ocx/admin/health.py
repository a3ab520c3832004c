"""``ocx providers``: each provider OCX sends calls to, its kind, its K2K service provider id,
the services it offers and its health, found with OCX's service user alone and within a time
limit (a provider that is down shows as down, never as a hang).

- The home cloud is up when its Keystone answers (``GET [keystone] auth_url``). Its services
  are those of the service user's catalog at ``[keystone] home_interface``.
- A K2K service provider is up when the home Keystone lists it, enabled, in
  ``/v3/OS-FEDERATION/service_providers`` and the Keystone of its ``auth_url`` answers. What it
  offers is in the catalog a user's K2K token brings, so it is unknown until a user's call.

- A controller provider (issue 10: ``kind = controller``) offers ``network``; each of its
  ``servers`` is asked ``GET /networkService/v1.1/health`` with OCX's credentials
  (``serverauth``, ``deployment_id``): up when every server answers, degraded when some do,
  down when none does. A server answering 401 or 403 refuses OCX's credentials: it counts as
  not answering, and the detail names it.

Any HTTP answer below 500 counts as answering: the host is there and its Keystone runs.
Probing (:func:`probe`, I/O) and judging (:func:`assess_home`, :func:`assess_service_provider`,
:func:`assess_controller`, pure) are kept apart.

Besides the configured providers, those the gateway discovers at the home Keystone are shown
(``discover_providers``; not those in ``exclude_providers``). When the gateway runs (at
``public_url``), what it has seen of each provider's calls is shown too (``GET
/ocx/v1/providers`` with the service user's token, which needs the admin role): its state
(up, degraded, down), since when, and the last error; for a controller provider also its
servers in the order calls try them, each primary, standby or failed.
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
from ..backends.controller_config import ControllerSettings, Server
from ..backends.controller_translate import BASE_URI, INSTANCE_HEADER
from ..backends.registry import CONFIGURED, DISCOVERED, ProviderEntry, merge
from ..call import SERVICES
from ..identity import ksa
from ..identity.discovery import ListingFailed, service_providers
from ..identity.validate import service_auth
from .controller import REFUSES_CREDENTIALS

UP, DEGRADED, DOWN, UNKNOWN = "up", "degraded", "down", "unknown"
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
    sp_id: str | None          # None for the home cloud (the K2K identity provider) and for
                               # a controller provider (not a K2K service provider)
    health: str                # UP | DEGRADED (controllers only) | DOWN | UNKNOWN
    detail: str                # why, in words
    services: tuple[str, ...] | None  # OCX's service names; None: not known yet
    keystone: str | None       # the Keystone URL that was asked
    source: str = CONFIGURED   # home, configured (pinned) or discovered at the home Keystone
    state: str | None = None   # the running gateway's: up, degraded, down (None: not known)
    since: str | None = None
    last_error: str | None = None
    # A controller provider's servers, in the order calls try them (the gateway's when it
    # runs, else the configured one): server, health, detail, and the gateway's state
    # (primary, standby, failed), since and last_error. None for other kinds.
    controllers: tuple[dict, ...] | None = None

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
                "state": self.state, "since": self.since, "last_error": self.last_error,
                "controllers": [dict(c) for c in self.controllers]
                if self.controllers is not None else None}

    def shown(self) -> dict:
        """The record as a table shows it: services and SP id in words, the controllers as
        ``host:port state, ...``."""
        sp_id = self.sp_id if self.sp_id is not None else \
            "(identity provider)" if self.source == "home" else ""
        return dict(self.record(), services=self.shown_services(), sp_id=sp_id,
                    controllers=shown_controllers(self.controllers))


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


def server_health(answer: Answer) -> tuple[str, str]:
    """(UP or DOWN, why) of one controller server from its ``GET /health``."""
    if answer.status in (401, 403):
        return DOWN, f"{REFUSES_CREDENTIALS} (HTTP {answer.status})"
    if answer.answered:
        return UP, "answers"
    return DOWN, answer.describe()


def assess_controller(settings: ControllerSettings, answers: list[Answer]) -> ProviderStatus:
    """A controller provider from what each of its servers (in the configured order)
    answered: up when every one answers, degraded when some do, down when none does."""
    servers = []
    for server, answer in zip(settings.servers, answers):
        health, detail = server_health(answer)
        servers.append({"server": str(server), "health": health, "detail": detail,
                        "state": None, "since": None, "last_error": None})
    failing = [f"{s['server']} {s['detail']}" for s in servers if s["health"] != UP]
    if not failing:
        health, detail = UP, f"all {len(servers)} controllers answer"
    elif len(failing) < len(servers):
        health = DEGRADED
        detail = (f"{len(servers) - len(failing)} of {len(servers)} controllers answer; "
                  + "; ".join(failing))
    else:
        health, detail = DOWN, "no controller answers: " + "; ".join(failing)
    return ProviderStatus(settings.name, "controller", None, health, detail, ("network",),
                          None, controllers=tuple(servers))


def gateway_controllers(probed: tuple[dict, ...], seen: list[dict]) -> tuple[dict, ...]:
    """The probed servers in the gateway's order, with its state of each (``seen``: its
    ``controllers``); a server it does not have (the configuration changed since it
    started) comes after, without a state."""
    by_server = {c["server"]: c for c in probed}
    ordered = [{**by_server.get(str(s.get("server")),
                                {"server": str(s.get("server")), "health": None,
                                 "detail": "not in this configuration"}),
                "state": s.get("state"), "since": s.get("since"),
                "last_error": s.get("last_error")} for s in seen]
    listed = {c["server"] for c in ordered}
    return tuple(ordered) + tuple(c for c in probed if c["server"] not in listed)


def shown_controllers(controllers: tuple[dict, ...] | None) -> str | None:
    """``10.0.0.1:8000 primary, 10.0.0.2:8000 standby`` (the state when the gateway has one,
    else the health probed); None for a provider that has no controllers."""
    if controllers is None:
        return None
    return ", ".join(f"{c['server']} {c.get('state') or c.get('health') or ''}".rstrip()
                     for c in controllers)


def with_gateway(status: ProviderStatus, seen: dict | None) -> ProviderStatus:
    """``status`` with what the running gateway has seen of the provider (``seen``: its
    record from ``GET /ocx/v1/providers``; None: it has none)."""
    if seen is None:
        return status
    controllers = status.controllers
    if controllers is not None and isinstance(seen.get("controllers"), list):
        controllers = gateway_controllers(controllers, seen["controllers"])
    return replace(status, state=seen.get("state"), since=seen.get("since"),
                   last_error=seen.get("last_error"), controllers=controllers)


def shown_providers(conf: cfg.ConfigOpts, listed: dict[str, dict] | None
                    ) -> list[tuple[config.ProviderConfig, str]]:
    """The configured K2K providers and, when discovery is on, the home Keystone's others:
    what the gateway uses (``backends.registry.merge``), with where each comes from. A name
    the home Keystone lists that is a controller provider's is the controller provider's."""
    configured = config.providers(conf)
    if not conf.discover_providers or listed is None:
        return [(p, CONFIGURED) for p in configured]
    by_name = {p.name: p for p in configured}
    local = {p for p in conf.providers if conf[f"provider:{p}"].kind != "openstack"}
    entries = merge([ProviderEntry(p.name, p.sp_id, CONFIGURED) for p in configured], listed,
                    conf.exclude_providers, reserved={"home"} | local)
    return [(by_name[e.name], CONFIGURED) if e.source != DISCOVERED else
            (config.ProviderConfig(e.name, "openstack", e.sp_id, "public", {}), DISCOVERED)
            for e in entries]


# -- probing (I/O) -----------------------------------------------------------------------------

async def probe(conf: cfg.ConfigOpts, home: str, timeout: float) -> list[ProviderStatus]:
    """The status of the home cloud (named ``home``) and of every service provider the
    gateway uses, all found within about ``timeout`` seconds."""
    auth_url = conf.keystone.auth_url.rstrip("/")
    controllers = config.controllers(conf)
    loop = asyncio.get_running_loop()
    connector = aiohttp.TCPConnector(ssl=config.client_tls(conf).ssl_context())
    async with aiohttp.ClientSession(connector=connector,
                                     skip_auto_headers=("User-Agent",)) as http:
        # From here: loading the CA bundle is not time the first questions lose.
        deadline = loop.time() + timeout

        def left() -> float:
            return max(0.0, deadline - loop.time())

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
        answers, seen, healths = await asyncio.gather(
            asyncio.gather(*(_get(http, keystone_root(sps[p.sp_id].get("auth_url") or ""),
                                  left()) for p in listed)),
            _gateway_view(http, config.public_url(conf), token, left()),
            asyncio.gather(*(_controller_health(http, c, left()) for c in controllers)))
    by_name = {p.name: a for p, a in zip(listed, answers)}
    return [with_gateway(assess_home(home, view, auth_url, conf.keystone.home_interface,
                                     conf.keystone.region_name), seen.get(home)),
            *(with_gateway(assess_service_provider(p, view, by_name.get(p.name), source),
                           seen.get(p.name))
              for p, source in remotes),
            *(with_gateway(assess_controller(c, list(h)), seen.get(c.name))
              for c, h in zip(controllers, healths))]


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


async def _controller_health(http: aiohttp.ClientSession, settings: ControllerSettings,
                             timeout: float) -> tuple[Answer, ...]:
    """Every server's ``GET /health``, at once, with OCX's credentials and deployment id."""
    headers = {INSTANCE_HEADER: settings.deployment_id}
    if settings.username:
        # Built here, never logged: it holds the password.
        headers["Authorization"] = aiohttp.BasicAuth(settings.username,
                                                     settings.password or "").encode()

    def url(server: Server) -> str:
        return f"{server.url(settings.ssl)}{BASE_URI}/health"

    return tuple(await asyncio.gather(*(_get(http, url(s), timeout, headers)
                                        for s in settings.servers)))


async def _get(http: aiohttp.ClientSession, url: str, timeout: float,
               headers: dict[str, str] | None = None) -> Answer:
    if not url.startswith(("http://", "https://")):
        return Answer(failure=f"has no usable URL ({url!r})")
    if timeout <= 0:
        return Answer(failure="was not asked (no time left)")
    try:
        async with http.get(url, allow_redirects=False, headers=headers,
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
        access = service_auth(conf).get_access(ksa.session(timeout,
                                                           tls=config.client_tls(conf)))
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
