"""The providers while OCX runs (issue 8): which there are, and how each is doing.

:class:`LiveProviders` is built once at start-up (``server.py``) from the configured providers;
it owns the live list (``backends.registry.Providers``, read by the pipeline on every call),
the health book (``backends.health``, fed by the executor), and the two tasks that keep them
current: the discovery of the home Keystone's service providers (``identity.discovery``) and
the probe of services that are not up (``backends.probe``). It serves

    GET /ocx/v1/providers   (admin) every provider: its kind, source (home, configured,
                            discovered), state (up, degraded, down) with since when and the
                            last error, and each service's state
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import time
from collections.abc import Callable, Mapping

import aiohttp
import orjson
from aiohttp import web
from oslo_config import cfg

from .. import config
from ..backends.base import Provider
from ..backends.health import HealthBook
from ..backends.openstack import OpenStackProvider
from ..backends.probe import probe_forever
from ..backends.registry import CONFIGURED, HOME, ProviderEntry, Providers
from ..identity.discovery import Discovery
from .callers import admin_of
from .errors import OcxError, error_response

PATH = "/ocx/v1/providers"
log = logging.getLogger(__name__)


class LiveProviders:
    def __init__(self, conf: cfg.ConfigOpts, known: Mapping[str, Provider], *, home: str,
                 via: str, reachable: Mapping[str, Provider], validator,
                 http: aiohttp.ClientSession, local: Mapping[str, Provider] = {},
                 ssl_for: Callable[[str], ssl.SSLContext | bool] = lambda _: True) -> None:
        """``known``: the home cloud's and the configured providers' objects, by name;
        ``local``: the controller providers (they keep their servers' health themselves);
        ``ssl_for``: each provider's TLS context for its probes (``api.tls``)."""
        region = conf.keystone.region_name

        def make(entry: ProviderEntry) -> Provider:
            return known.get(entry.name) or OpenStackProvider(
                entry.name, interface=entry.interface, region=region, sp_id=entry.sp_id,
                via=via)

        configured = [ProviderEntry(p.name, p.sp_id, CONFIGURED, p.interface, p.project_map)
                      for p in config.providers(conf)]
        self.registry = Providers(ProviderEntry(home, None, HOME), known[home], configured,
                                  make, excluded=conf.exclude_providers, extra=reachable,
                                  local=local)
        self.health = HealthBook(down_after=conf.health_down_after)
        self.validator = validator
        self.http = http
        self.discovery = Discovery(self.registry, validator, http,
                                   interval=conf.discovery_interval,
                                   timeout=conf.connect_timeout + conf.call_timeout) \
            if conf.discover_providers else None
        self.probe_interval = conf.health_probe_interval
        self.probe_timeout = conf.connect_timeout
        self.ssl_for = ssl_for
        self._tasks: list[asyncio.Task] = []

    async def start(self) -> None:
        """The first reading of the home Keystone (before the first call), then the tasks."""
        if self.discovery is not None:
            await self.discovery.refresh()
            self._tasks.append(asyncio.create_task(self.discovery.run_forever()))
        self._tasks.append(asyncio.create_task(probe_forever(
            self.health, self.http, interval=self.probe_interval, timeout=self.probe_timeout,
            ssl_for=self.ssl_for)))
        self._tasks.append(asyncio.create_task(self.probe_controllers_forever()))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()

    # -- GET /ocx/v1/providers -------------------------------------------------------------------

    def records(self) -> list[dict]:
        """Every current provider with its health; the discovery's last failure, if any."""
        result = []
        for entry in self.registry.entries():
            record = {"name": entry.name, "kind": entry.kind, "sp_id": entry.sp_id,
                      "source": entry.source}
            provider = self.registry.get(entry.name)
            if entry.kind == "controller":
                record.update(_controllers_view(provider.client.view()))
            else:
                record.update(self.health.view(entry.name))
            result.append(record)
        return result

    async def probe_controllers_forever(self) -> None:
        """Failed controllers are asked for ``GET /health`` every probe interval, and
        synchronised and taken back when they answer (``ControllerClient.probe``)."""
        clients = [p.client for name in self.registry
                   if (p := self.registry.get(name)) is not None and p.kind == "controller"]
        while clients:
            await asyncio.sleep(self.probe_interval)
            for client in clients:
                try:
                    await client.probe()
                except Exception:  # noqa: BLE001 - a probe that fails is tried next time
                    log.exception("probing the controllers of %s failed", client.name)

    def routes(self) -> list[web.RouteDef]:
        return [web.get(PATH, self.handle)]

    async def handle(self, request: web.Request) -> web.Response:
        try:
            await admin_of(self.validator, request,
                           "Only an admin may see the providers' health.")
        except OcxError as exc:
            return error_response(None, exc, request.headers.get("Accept", ""))
        body = {"providers": self.records()}
        if self.discovery is not None:
            body["discovery"] = {"enabled": True, "last_failure": self.discovery.last_failure}
        else:
            body["discovery"] = {"enabled": False, "last_failure": None}
        return web.Response(body=orjson.dumps(body), content_type="application/json")


def _controllers_view(servers: list[dict]) -> dict:
    """A controller provider's health from its servers (in the order calls try them): up when
    none has failed, degraded when some have, down when all have."""
    failed = [s for s in servers if s["state"] == "failed"]
    state = "down" if len(failed) == len(servers) else "degraded" if failed else "up"
    last = max(failed, key=lambda s: s["since"] or 0, default=None)
    return {"state": state,
            "since": _when(min(s["since"] or 0 for s in failed)) if failed else None,
            "last_error": last["last_error"] if last else None,
            "last_error_at": _when(last["since"]) if last else None,
            "controllers": [{**s, "since": _when(s["since"])} for s in servers]}


def _when(epoch: float | None) -> str | None:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch)) if epoch else None
