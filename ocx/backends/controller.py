"""The controller provider kind (issue 10, seed 003): a landlord whose networking is a set of
redundant SDN controllers, reached by authenticated REST calls; OCX keeps the state itself.

This module is the I/O around three pure parts: ``controller_config`` (the settings),
``controller_translate`` (Neutron changes → REST calls) and ``controller_policy`` (which
server, fail-over, 503 back-off). The state lives in the store (``ocx.store.controller``).

- :class:`ControllerClient` sends one call: Basic authentication and the deployment's
  ``Instance-ID`` on every request, the server's last consistency hash when OCX has one; a
  2xx answer's hash is stored. A 409 (hash mismatch) or a 404 NX* (the controller lacks what
  OCX has) means the server is out of sync: it is given the whole state (``PUT /topology``)
  and the call is sent again, once. A server never heard from is synchronised before its first
  write. Failed servers are probed (``GET /health``) and synchronised when they answer.
- :class:`ControllerNetworking` is the write path: validate (the store refuses a clash or an
  unknown id before any controller is called), write the store, send; when no controller
  accepts, the store's change is undone (create → delete, update → the old value) and
  :class:`ControllerUnavailable` (503) is raised. A delete is sent first and recorded after
  (so a refused delete keeps the resource). Reads are the store's.

The Neutron API side is ``controller_provider.py``. Syncs of a provider are one at a time
across every worker and ``ocx controller sync`` (the store's ``sync_lock``).
"""
from __future__ import annotations

import asyncio
import logging
import ssl as ssl_
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson

from . import controller_translate as tr
from .base import ProviderFailure, ProviderUnreachable
from .controller_config import ControllerSettings, Server
from .controller_policy import Call, GiveUp, Policy, Pool

log = logging.getLogger(__name__)


class ControllerUnavailable(ProviderUnreachable):
    """No controller accepted the call (503); the reason names each server tried."""


class ControllerAuthFailed(ProviderFailure):
    """A controller refused OCX's credentials or deployment id: a configuration error."""

    status = 502


class ControllerRefused(ProviderFailure):
    """A controller refused a request as malformed (a 4xx other than out-of-sync)."""

    status = 502


@dataclass(frozen=True)
class Answer:
    server: Server
    status: int
    body: Any


def _reason(body: Any) -> str:
    return body.get("reason", "") if isinstance(body, dict) else ""


def out_of_sync(status: int, body: Any) -> bool:
    """The controller's state is not OCX's: a hash mismatch, or it lacks a resource."""
    return status == 409 or (status == 404 and _reason(body).startswith("NX"))


class ControllerClient:
    # ``store``: the mapping store's ``controller`` (ocx.store.controller.ControllerStore),
    # passed in: backends import no other ocx folder.
    def __init__(self, settings: ControllerSettings, store: Any,
                 http: aiohttp.ClientSession, *, clock: Callable[[], float] = time.time,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
                 ssl: ssl_.SSLContext | bool = True) -> None:
        self.settings = settings
        self.store = store
        self.http = http
        self.ssl = ssl              # [provider:NAME]'s TLS context (True: the session's)
        self.pool = Pool.of(settings.servers)
        self.policy = Policy(retries=settings.retries_503, backoff=settings.backoff)
        self._clock = clock
        self._sleep = sleep
        self._sync_lock = asyncio.Lock()
        # The Authorization header's value, made once (never logged: it holds the password).
        self._authorization = (aiohttp.encode_basic_auth(settings.username,
                                                         settings.password or "")
                               if settings.username else None)

    @property
    def name(self) -> str:
        return self.settings.name

    def view(self) -> list[dict]:
        """The servers in the order calls try them, and their state (``ocx providers``)."""
        return self.pool.view()

    # -- one request to one server ---------------------------------------------------------------

    async def _request(self, server: Server, call: tr.RestCall, *, timeout: float,
                       check_hash: bool = True) -> tuple[int, Any]:
        headers = {tr.INSTANCE_HEADER: self.settings.deployment_id,
                   "Content-Type": "application/json"}
        if self._authorization is not None:
            headers["Authorization"] = self._authorization
        if check_hash:
            known = await self.store.hash(self.name, str(server))
            if known is not None:
                headers[tr.HASH_HEADER] = known
        data = orjson.dumps(call.body) if call.body is not None else None
        url = server.url(self.settings.ssl) + tr.BASE_URI + call.path
        async with self.http.request(call.method, url, data=data, headers=headers,
                                     allow_redirects=False, ssl=self.ssl,
                                     timeout=aiohttp.ClientTimeout(total=timeout)) as response:
            raw = await response.read()
            try:
                body = orjson.loads(raw) if raw else None
            except orjson.JSONDecodeError:
                body = None
            if 200 <= response.status < 300 and tr.HASH_HEADER in response.headers:
                await self.store.set_hash(self.name, str(server),
                                          response.headers[tr.HASH_HEADER])
        if response.status in (401, 403) or (response.status == 400 and _reason(body) ==
                                             "missing-instance-id"):
            raise ControllerAuthFailed(self.name, f"controller {server} refused OCX "
                                                  f"({response.status} {_reason(body)}): check "
                                                  "serverauth and deployment_id")
        return response.status, body

    async def _try(self, server: Server, call: tr.RestCall) -> tuple[int | None, Any, str]:
        """(status, body, why) of one attempt; status None when there was no answer."""
        try:
            status, body = await self._request(server, call,
                                               timeout=self.settings.server_timeout)
        except TimeoutError:
            return None, None, f"no answer within {self.settings.server_timeout:g} s"
        except (aiohttp.ClientError, OSError) as exc:
            return None, None, f"cannot be reached ({type(exc).__name__})"
        return status, body, ""

    # -- a call, over the servers --------------------------------------------------------------

    async def send(self, call: tr.RestCall) -> Answer:
        """Send ``call`` to the first server that takes it (see the module's description)."""
        progress = Call()
        while True:
            step = self.policy.next(self.pool, progress)
            if isinstance(step, GiveUp):
                raise ControllerUnavailable(self.name, "no controller accepted the call: " +
                                            "; ".join(f"{s}: {why}" for s, why in step.reasons))
            if step.delay:
                await self._sleep(step.delay)
            server = step.server
            if await self.store.hash(self.name, str(server)) is None and call.writes:
                if not await self._sync_quietly(server):
                    self.pool, progress = self.policy.record(
                        self.pool, progress, server, None, "could not be synchronised",
                        self._clock())
                    continue
            status, body, why = await self._try(server, call)
            if status is not None and out_of_sync(status, body):
                log.info("controller %s of %s is out of sync (%s %s): synchronising",
                         server, self.name, status, _reason(body))
                if await self._sync_quietly(server):
                    status, body, why = await self._try(server, call)
                else:
                    status, why = None, "could not be synchronised"
            self.pool, progress = self.policy.record(self.pool, progress, server, status, why,
                                                     self._clock())
            if progress.done:
                if status >= 400:
                    raise ControllerRefused(self.name, f"controller {server} answered "
                                                       f"{status} {_reason(body)}")
                return Answer(server, status, body)

    # -- synchronisation and probes --------------------------------------------------------------

    async def sync(self, server: Server) -> None:
        """Give ``server`` OCX's whole state (``PUT /topology``); one sync at a time."""
        async with self._sync_lock, self.store.sync_lock(self.name):
            snap = await self.store.snapshot(self.name)
            call = tr.topology(snap.networks, snap.subnets, snap.ports, snap.routers,
                               snap.interfaces)
            status, body = await self._request(server, call, timeout=self.settings.sync_timeout,
                                               check_hash=False)
            if not 200 <= status < 300:
                raise ControllerRefused(self.name, f"controller {server} refused the "
                                                   f"topology: {status} {_reason(body)}")
            log.info("controller %s of %s synchronised (%d networks, %d routers)", server,
                     self.name, len(snap.networks), len(snap.routers))

    async def _sync_quietly(self, server: Server) -> bool:
        try:
            await self.sync(server)
        except ControllerAuthFailed:
            raise
        except (ProviderFailure, TimeoutError, aiohttp.ClientError, OSError) as exc:
            log.warning("controller %s of %s could not be synchronised: %s", server,
                        self.name, exc)
            return False
        return True

    async def check_credentials(self) -> None:
        """At start-up: every server that answers must take OCX's credentials and deployment
        id (:class:`ControllerAuthFailed` names the first that does not); one that does not
        answer is only logged (reads are the store's until it does)."""
        async def ask(server: Server) -> None:
            try:
                await self._request(server, tr.health(), timeout=self.settings.server_timeout,
                                    check_hash=False)
            except (TimeoutError, aiohttp.ClientError, OSError) as exc:
                log.warning("controller %s of %s does not answer at start-up (%s)", server,
                            self.name, type(exc).__name__)

        await asyncio.gather(*(ask(server) for server in self.settings.servers))

    async def probe(self) -> None:
        """Ask every failed server for ``GET /health``; one that answers is synchronised and
        returns to the pool."""
        for server in self.pool.failed:
            status, body, why = await self._try(server, tr.health())
            ok = status is not None and status < 500
            if ok:
                # A server back from a failure may have restarted empty or missed writes.
                ok = await self._sync_quietly(server)
                why = why or "could not be synchronised"
            self.pool = self.pool.probed(server, ok, self._clock(),
                                         why or f"health answered {status}")


class ControllerNetworking:
    """Neutron's networks, subnets, ports and routers of one controller provider."""

    def __init__(self, client: ControllerClient) -> None:
        self.client = client
        self.store = client.store
        self.name = client.name

    # -- reads (the store's) -----------------------------------------------------------------

    async def get(self, kind: str, resource_id: str) -> dict | None:
        return await self.store.get(self.name, kind, resource_id)

    async def list(self, kind: str, **filters) -> list[dict]:
        return await self.store.list(self.name, kind, **filters)

    # -- writes --------------------------------------------------------------------------------

    async def create(self, kind: str, body: Mapping[str, Any]) -> dict:
        made = await self.store.create(self.name, kind, body)
        try:
            for call in await self._create_calls(kind, made):
                await self.client.send(call)
        except ProviderFailure:
            await self.store.delete(self.name, kind, made["id"])
            raise
        return made

    async def update(self, kind: str, resource_id: str, changes: Mapping[str, Any]) -> dict:
        before, after = await self.store.update(self.name, kind, resource_id, changes)
        try:
            for call in await self._update_calls(kind, before, after):
                await self.client.send(call)
        except ProviderFailure:
            await self.store.replace(self.name, kind, before)
            raise
        return after

    async def delete(self, kind: str, resource_id: str) -> None:
        body = await self.store.get(self.name, kind, resource_id)
        if body is None:
            await self.store.delete(self.name, kind, resource_id)   # raises the 404
        await self.store.check_delete(self.name, kind, resource_id)
        if kind == "subnets":
            network = await self.store.get(self.name, "networks", body["network_id"])
            left = [s for s in await self.store.list(self.name, "subnets",
                                                     network_id=body["network_id"])
                    if s["id"] != resource_id]
            call = tr.update_network(network, left)
        else:
            call = {"networks": tr.delete_network, "ports": tr.delete_port,
                    "routers": tr.delete_router}[kind](body)
        await self.client.send(call)
        await self.store.delete(self.name, kind, resource_id)

    async def add_interface(self, interface: Any) -> None:
        """``interface``: a ``RouterInterface`` of the store (router_id, subnet_id, port_id)."""
        await self.store.add_interface(self.name, interface)
        try:
            router = await self.store.get(self.name, "routers", interface.router_id)
            subnet = await self.store.get(self.name, "subnets", interface.subnet_id)
            network = await self.store.get(self.name, "networks", subnet["network_id"])
            await self.client.send(tr.add_interface(router, interface.port_id, network, subnet))
        except ProviderFailure:
            await self.store.remove_interface(self.name, interface.router_id,
                                              port_id=interface.port_id)
            raise

    async def remove_interface(self, router_id: str, port_id: str) -> None:
        router = await self.store.get(self.name, "routers", router_id)
        if router is None or not [i for i in await self.store.interfaces(self.name, router_id)
                                  if i.port_id == port_id]:
            await self.store.remove_interface(self.name, router_id, port_id=port_id)  # 404
        await self.client.send(tr.remove_interface(router, port_id))
        await self.store.remove_interface(self.name, router_id, port_id=port_id)

    async def _create_calls(self, kind: str, made: dict) -> list[tr.RestCall]:
        if kind == "networks":
            return [tr.create_network(made)]
        if kind == "subnets":
            return [await self._network_put(made["network_id"])]
        if kind == "ports":
            return tr.create_port(made)
        return [tr.create_router(made)]

    async def _update_calls(self, kind: str, before: dict, after: dict) -> list[tr.RestCall]:
        if kind in ("networks", "subnets"):
            return [await self._network_put(after["id"] if kind == "networks"
                                            else after["network_id"])]
        if kind == "ports":
            return tr.update_port(before, after)
        return [tr.update_router(after)]

    async def _network_put(self, network_id: str) -> tr.RestCall:
        network = await self.store.get(self.name, "networks", network_id)
        subnets = await self.store.list(self.name, "subnets", network_id=network_id)
        return tr.update_network(network, subnets)
