"""Several simulated clouds side by side, federated with K2K, and a way to run them from sync code.

The first cloud named is the K2K identity provider (the home cloud) unless a spec says
otherwise; every other cloud trusts it as a service provider would.
"""
from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine, Iterable
from typing import Any

from .cloud import KNOWN_SERVICES, SERVICE_NAMES, CloudSpec, SimCloud


def parse_clouds(text: str, *, seed: int | None = None) -> list[CloudSpec]:
    """``idp,bu=cinder+glance,nu`` → specs; the first cloud is every other one's IdP."""
    specs: list[CloudSpec] = []
    for i, part in enumerate(p.strip() for p in text.split(",")):
        if not part:
            continue
        name, _, services = part.partition("=")
        name = name.strip()
        if not name.replace("-", "").replace("_", "").isalnum():
            raise ValueError(f"bad cloud name {name!r}")
        chosen = tuple(s.strip() for s in services.split("+") if s.strip()) or SERVICE_NAMES
        unknown = set(chosen) - set(KNOWN_SERVICES)
        if unknown:
            raise ValueError(f"cloud {name}: unknown services {', '.join(sorted(unknown))}")
        specs.append(CloudSpec(name=name, services=chosen,
                               idp=None if not specs else specs[0].name,
                               seed=None if seed is None else seed + i))
    if len({s.name for s in specs}) != len(specs):
        raise ValueError("cloud names must be unique")
    if not specs:
        raise ValueError("no clouds named")
    return specs


class SimExchange:
    """Start, federate and stop a set of simulated clouds in the running event loop."""

    def __init__(self, specs: Iterable[CloudSpec], *, notifications_url: str | None = None) -> None:
        self.clouds: dict[str, SimCloud] = {}
        for spec in specs:
            self.clouds[spec.name] = SimCloud(spec, notifications_url=notifications_url)

    def __getitem__(self, name: str) -> SimCloud:
        return self.clouds[name]

    async def start(self) -> None:
        started = []
        try:
            for cloud in self.clouds.values():
                await cloud.start()
                started.append(cloud)
            for cloud in self.clouds.values():
                if cloud.spec.idp:
                    self.federate(self.clouds[cloud.spec.idp], cloud)
        except BaseException:
            for cloud in started:
                await cloud.stop()
            raise

    @staticmethod
    def federate(idp: SimCloud, sp: SimCloud) -> None:
        """Register ``sp`` as a K2K service provider of ``idp``, and ``idp`` as trusted by ``sp``."""
        idp_fed, sp_fed = idp.keystone.federation, sp.keystone.federation
        idp_fed.add_service_provider(sp.name, auth_url=sp_fed.federation_auth_url(idp.name),
                                     sp_url=sp_fed.ecp_url)
        sp_fed.trust_identity_provider(idp.name, remote_id=idp_fed.entity_id,
                                       certificate=idp_fed.signing_cert_pem)

    async def stop(self) -> None:
        for cloud in reversed(list(self.clouds.values())):
            await cloud.stop()

    def describe(self) -> dict[str, Any]:
        """Endpoints and demo credentials of every cloud (printed by ``ocx sim``)."""
        return {name: {"endpoints": cloud.endpoints(),
                       "auth_url": cloud.keystone.endpoint,
                       "region": cloud.spec.region,
                       "idp": cloud.spec.idp,
                       "users": cloud.keystone.demo_credentials(),
                       # servers (the proxy's ``servers=``), ``user:pass``, deployment id
                       **({"controller": cloud.controllers.describe()}
                          if cloud.controllers is not None else {})}
                for name, cloud in self.clouds.items()}

    def clouds_yaml(self, user: str = "demo") -> dict[str, Any]:
        """A ``clouds.yaml`` for the real clients: one entry per cloud for ``user``."""
        clouds = {}
        for name, cloud in self.clouds.items():
            creds = cloud.keystone.demo_credentials()[user]
            clouds[name] = {
                "auth": {"auth_url": cloud.keystone.endpoint, "username": user,
                         "password": creds["password"], "project_name": creds["project"],
                         "user_domain_name": "Default", "project_domain_name": "Default"},
                "region_name": cloud.spec.region, "identity_api_version": 3,
                "interface": "public",
            }
        return {"clouds": clouds}


class ExchangeThread:
    """Runs a :class:`SimExchange` on an event loop in a thread of its own.

    For synchronous callers (the tests with real clients, the benchmarks): ``call`` runs a
    coroutine on that loop and waits for it.
    """

    def __init__(self, exchange: SimExchange) -> None:
        self.exchange = exchange
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="ocx-sim",
                                        daemon=True)

    def call(self, coro: Coroutine, timeout: float = 60) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def __enter__(self) -> SimExchange:
        self._thread.start()
        try:
            self.call(self.exchange.start())
        except BaseException:
            self._shutdown()
            raise
        return self.exchange

    def __exit__(self, *exc) -> None:
        try:
            self.call(self.exchange.stop())
        finally:
            self._shutdown()

    def _shutdown(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=10)
        self.loop.close()
