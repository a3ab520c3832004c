"""``ocx controller sync NAME``: give the SDN controllers of controller provider NAME (issue
10, seed 003) OCX's whole state from the store, as the gateway does when a controller comes
back or answers out of sync: one ``PUT /topology`` per server, through
:meth:`~ocx.backends.controller.ControllerClient.sync`, so under the store's sync lock (one
sync at a time per provider; on PostgreSQL across every process sharing the store, gateways
included). Seed 003's "independently update/recover the external network controller(s)".

Every configured server is given the state, or only the one ``--server`` names, in the
configured order; a server that cannot be reached, refuses OCX's credentials or refuses the
topology is reported with why, and the others are still tried. The store is opened as every
operator command opens it (``admin.store.open_store``): never created, never migrated.
Naming a provider that is not configured, or not of kind ``controller``, or a server that is
not one of its own, is a :class:`UsageError` (exit status 2), raised before anything is
opened.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
from oslo_config import cfg

from .. import config
from ..backends.base import ProviderFailure
from ..backends.controller import ControllerAuthFailed, ControllerClient
from ..backends.controller_config import (
    ControllerConfigError,
    ControllerSettings,
    Server,
    parse_server,
)
from .store import AdminError, open_store

# Also what ``ocx providers`` says of a server answering 401/403.
REFUSES_CREDENTIALS = "refuses OCX's credentials (check serverauth / deployment_id)"
COLUMNS = ("server", "synced", "networks", "subnets", "ports", "routers", "detail")


class UsageError(AdminError):
    """The command names something the configuration does not have (exit status 2)."""


@dataclass(frozen=True)
class Target:
    """What to synchronise: a controller provider's settings and the servers asked for."""

    settings: ControllerSettings
    servers: tuple[Server, ...]


@dataclass(frozen=True)
class SyncResult:
    """One server's outcome; the counts are those of the state it was given (None: none)."""

    server: str
    synced: bool
    detail: str
    networks: int | None = None
    subnets: int | None = None
    ports: int | None = None
    routers: int | None = None

    def record(self) -> dict:
        return {"server": self.server, "synced": self.synced, "networks": self.networks,
                "subnets": self.subnets, "ports": self.ports, "routers": self.routers,
                "detail": self.detail}


# -- choosing (pure but for reading the configuration) ----------------------------------------

def target(conf: cfg.ConfigOpts, name: str, server: str | None = None) -> Target:
    """Controller provider ``name``'s settings and its servers to synchronise (all, or the
    one ``server`` names as ``host:port``); :class:`UsageError` saying what is wrong."""
    controllers = [p for p in conf.providers if conf[f"provider:{p}"].kind == "controller"]
    known = ", ".join(controllers) or "none"
    if name not in conf.providers:
        raise UsageError(f"no provider {name!r} in the configuration's providers "
                         f"(controller providers: {known})")
    kind = conf[f"provider:{name}"].kind
    if kind != "controller":
        raise UsageError(f"provider {name!r} is of kind {kind}, not controller: it has no "
                         f"controllers to synchronise (controller providers: {known})")
    try:
        settings = config.controller(conf, name)
    except ControllerConfigError as exc:
        raise UsageError(str(exc)) from None
    return Target(settings, chosen_servers(settings, server))


def chosen_servers(settings: ControllerSettings, server: str | None) -> tuple[Server, ...]:
    """Every server in the configured order, or the one named (one of the provider's)."""
    if server is None:
        return settings.servers
    try:
        wanted = parse_server(server)
    except ValueError as exc:
        raise UsageError(f"--server: {exc}") from None
    if wanted not in settings.servers:
        raise UsageError(f"{wanted} is not a controller of {settings.name} (its servers: "
                         f"{', '.join(str(s) for s in settings.servers)})")
    return (wanted,)


def failure_detail(exc: BaseException, settings: ControllerSettings) -> str:
    """Why a server was not synchronised, in the operator's words (never a credential)."""
    if isinstance(exc, ControllerAuthFailed):
        return REFUSES_CREDENTIALS
    if isinstance(exc, ProviderFailure):
        return exc.reason
    if isinstance(exc, TimeoutError):
        return f"took no state within {settings.sync_timeout:g} s (sync_timeout)"
    if isinstance(exc, aiohttp.ClientConnectionError):
        return f"cannot be reached ({type(exc).__name__})"
    return f"failed ({type(exc).__name__})"


# -- synchronising (I/O) -----------------------------------------------------------------------

class _Counted:
    """The store's controller state as the client reads it, keeping the counts of the last
    snapshot it took: what the server was given, read under the sync lock."""

    def __init__(self, store: Any) -> None:
        self._store = store
        self.counts: dict[str, int] | None = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    async def snapshot(self, provider: str):
        snap = await self._store.snapshot(provider)
        self.counts = {"networks": len(snap.networks), "subnets": len(snap.subnets),
                       "ports": len(snap.ports), "routers": len(snap.routers)}
        return snap


async def sync(chosen: Target, url: str,
               done: Callable[[SyncResult], None] | None = None) -> list[SyncResult]:
    """Give each chosen server the store's whole state, one after the other; ``done`` is
    told of each server's outcome as it comes (``ocx controller sync``'s progress bar)."""
    settings = chosen.settings
    results = []
    async with open_store(url) as store, \
            aiohttp.ClientSession(skip_auto_headers=("User-Agent",)) as http:
        for server in chosen.servers:
            counted = _Counted(store.controller)
            client = ControllerClient(settings, counted, http)
            try:
                await client.sync(server)
            except (ProviderFailure, TimeoutError, aiohttp.ClientError) as exc:
                results.append(SyncResult(str(server), False, failure_detail(exc, settings)))
            else:
                results.append(SyncResult(str(server), True, "given the whole state "
                                                             "(PUT /topology)",
                                          **(counted.counts or {})))
            if done is not None:
                done(results[-1])
    return results
