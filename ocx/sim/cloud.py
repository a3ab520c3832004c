"""One simulated cloud: a Keystone and any of Nova, Cinder, Glance and Neutron, in memory.

Each service listens on its own loopback port. A service can be taken down (its socket closed,
so callers get a refused connection) and brought back on the same port while the cloud runs.
"""
from __future__ import annotations

import importlib
import logging
import random
import tempfile
from collections import Counter
from dataclasses import dataclass, field

from aiohttp import web

from .auth import TokenRegistry
from .controller import ClusterSpec, ControllerCluster
from .faults import Faults
from .notify import Notifier
from .service import SimService

log = logging.getLogger(__name__)

SERVICE_NAMES = ("nova", "cinder", "glance", "neutron")
# Offered only when named (``sp1=nova+neutron+proton``): a Gluon Proton server (net-l3vpn);
# ``ctl=controller``: redundant SDN controllers (``controller.py``), N servers, not a SimService.
OPTIONAL_SERVICES = ("proton", "controller")
CONTROLLER = "controller"
KNOWN_SERVICES = SERVICE_NAMES + OPTIONAL_SERVICES


@dataclass(frozen=True)
class CloudSpec:
    """What a simulated cloud offers and where.

    ``ports`` maps a service name (``keystone``, ``nova``...) to a fixed port; others get a free
    one. ``idp`` names the cloud whose Keystone this cloud trusts as a K2K identity provider.
    ``settings`` holds per-service options such as ``nova.cinder_url`` (where Nova calls Cinder).
    """

    name: str
    services: tuple[str, ...] = SERVICE_NAMES
    host: str = "127.0.0.1"
    region: str = "RegionOne"
    ports: dict[str, int] = field(default_factory=dict)
    idp: str | None = None
    token_ttl: int = 3600
    settings: dict[str, str] = field(default_factory=dict)
    seed: int | None = None


_CLASSES = {"keystone": "keystone:KeystoneService", "nova": "nova:NovaService",
            "cinder": "cinder:CinderService", "glance": "glance:GlanceService",
            "neutron": "neutron:NeutronService", "proton": "proton:ProtonService"}


def service_class(name: str) -> type[SimService]:
    """The class of a service, imported only when a cloud offers it."""
    module, _, cls = _CLASSES[name].partition(":")
    return getattr(importlib.import_module(f"{__package__}.{module}"), cls)


class SimCloud:
    def __init__(self, spec: CloudSpec, *, notifications_url: str | None = None,
                 data_dir: str | None = None) -> None:
        unknown = set(spec.services) - set(KNOWN_SERVICES)
        if unknown:
            raise ValueError(f"cloud {spec.name}: unknown services {sorted(unknown)}")
        self.spec = spec
        self.name = spec.name
        self.settings = dict(spec.settings)  # changeable while running (control endpoint)
        self.faults = Faults(rng=random.Random(spec.seed))
        self.calls: Counter[tuple[str, str]] = Counter()  # (service, method) → calls received
        self.tokens = TokenRegistry()
        self.notifier = Notifier(notifications_url, spec.name)
        self._tmp = None if data_dir else tempfile.TemporaryDirectory(prefix=f"ocx-sim-{spec.name}-")
        self.data_dir = data_dir or self._tmp.name
        self.services: dict[str, SimService] = {
            name: service_class(name)(self) for name in ("keystone", *spec.services)
            if name != CONTROLLER}
        self.controllers = ControllerCluster(
            ClusterSpec.from_settings(spec.settings, spec.ports, host=spec.host, seed=spec.seed),
            name=f"{spec.name}-controller") if CONTROLLER in spec.services else None
        self._runners: dict[str, web.AppRunner] = {}
        self._sites: dict[str, web.TCPSite] = {}
        self._ports: dict[str, int] = {}

    @property
    def keystone(self):
        return self.services["keystone"]

    def setting(self, key: str, default: str | None = None) -> str | None:
        return self.settings.get(key, default)

    # -- life cycle -------------------------------------------------------------------------

    async def start(self) -> None:
        await self.notifier.start()
        for name, service in self.services.items():
            runner = web.AppRunner(service.make_app(), access_log=None,
                                   handler_cancellation=True)
            await runner.setup()
            self._runners[name] = runner
            await self._listen(name, self.spec.ports.get(name, 0))
        for service in self.services.values():
            await service.on_start()
        if self.controllers is not None:
            await self.controllers.start()

    async def _listen(self, name: str, port: int) -> None:
        site = web.TCPSite(self._runners[name], self.spec.host, port, reuse_address=True)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # the port the kernel gave us
        self._sites[name] = site
        self._ports[name] = port
        self.services[name].base_url = f"http://{self.spec.host}:{port}"

    async def stop(self) -> None:
        if self.controllers is not None:
            await self.controllers.stop()
        for service in self.services.values():
            await service.on_stop()
        for runner in self._runners.values():
            await runner.cleanup()
        self._runners.clear()
        self._sites.clear()
        await self.notifier.stop()
        if self._tmp is not None:
            self._tmp.cleanup()

    async def set_down(self, name: str, down: bool) -> None:
        """Close (or reopen on the same port) the listening socket of one service."""
        if name not in self.services:
            raise KeyError(name)
        if down and name in self._sites:
            await self._sites.pop(name).stop()
            # A dead host drops its connections too: pooled keep-alive ones must not survive.
            for connection in self._runners[name].server.connections:
                connection.force_close()
            self.faults.down.add(name)
        elif not down and name not in self._sites:
            await self._listen(name, self._ports[name])
            self.faults.down.discard(name)

    # -- what clients see -------------------------------------------------------------------

    def call_counts(self) -> dict[str, dict[str, int]]:
        """Calls received so far, by service and method."""
        counts: dict[str, dict[str, int]] = {}
        for (service, method), n in sorted(self.calls.items()):
            counts.setdefault(service, {})[method] = n
        return counts

    def endpoints(self) -> dict[str, str | list[str]]:
        """Each service's endpoint; ``controller``: one URL per controller server."""
        endpoints: dict[str, str | list[str]] = {
            name: service.endpoint for name, service in self.services.items()}
        if self.controllers is not None:
            endpoints[CONTROLLER] = self.controllers.urls()
        return endpoints
