"""A controller landlord's networking in SQL (issue 10, seed 003: "a local persistent store of
quantum state"). Shares the mapping store's engine (``store.controller``).

Every network, subnet, port and router OCX made on a controller provider is kept here, with
each router's interfaces and each controller's last consistency hash, so that reads are
answered without the controllers, a request that cannot succeed fails fast (an unknown id is
404, a clash is refused before any controller is called) and a controller can be given the
whole state again (``snapshot``). Rows are Neutron's JSON (``body``) with the columns that
look-ups and uniqueness need beside it.

Errors carry Neutron's type and status, so that the API side can answer in Neutron's format.
"""
from __future__ import annotations

import asyncio
import contextlib
import copy
import datetime as dt
import fcntl
import hashlib
import os
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from .engine import advisory_locked
from .models import utcnow
from .schema import (
    controller_hashes,
    controller_networks,
    controller_ports,
    controller_router_interfaces,
    controller_routers,
    controller_subnets,
)

KINDS = ("networks", "subnets", "ports", "routers")
LOCK_POLL = 0.05     # seconds between two tries at a SQLite store's sync lock file
_TABLES = {"networks": (controller_networks, "network_id"),
           "subnets": (controller_subnets, "subnet_id"),
           "ports": (controller_ports, "port_id"),
           "routers": (controller_routers, "router_id")}
_SINGULAR = {"networks": "Network", "subnets": "Subnet", "ports": "Port", "routers": "Router"}
# Fields an update may not change (they place the resource).
_FIXED = {"networks": ("id", "tenant_id", "project_id"),
          "subnets": ("id", "tenant_id", "project_id", "network_id"),
          "ports": ("id", "tenant_id", "project_id", "network_id"),
          "routers": ("id", "tenant_id", "project_id")}


class ControllerStoreError(Exception):
    """A change the store refuses; ``status`` and ``type`` are Neutron's."""

    status = 400

    def __init__(self, type_: str, message: str) -> None:
        super().__init__(message)
        self.type = type_
        self.message = message


class NotFound(ControllerStoreError):
    status = 404


class Conflict(ControllerStoreError):
    status = 409


def _not_found(kind: str, resource_id: str) -> NotFound:
    singular = _SINGULAR[kind]
    return NotFound(f"{singular}NotFound",
                    f"{singular} {resource_id} could not be found.")


@dataclass(frozen=True)
class RouterInterface:
    router_id: str
    subnet_id: str
    port_id: str


@dataclass(frozen=True)
class Snapshot:
    """A provider's whole state at one moment (for ``PUT /topology``)."""

    networks: tuple[dict, ...]
    subnets: tuple[dict, ...]
    ports: tuple[dict, ...]
    routers: tuple[dict, ...]
    interfaces: tuple[RouterInterface, ...]


def _tenant(resource: Mapping[str, Any]) -> str:
    tenant = resource.get("tenant_id") or resource.get("project_id")
    if not tenant:
        raise ControllerStoreError("BadRequest", "tenant_id (or project_id) is required")
    return str(tenant)


def _row(kind: str, provider: str, body: Mapping[str, Any], at: dt.datetime) -> dict:
    table, key = _TABLES[kind]
    if not body.get("id"):
        raise ControllerStoreError("BadRequest", "id is required")
    body = {k: v for k, v in body.items() if not (kind == "networks" and k == "subnets")}
    row = {"provider": provider, key: str(body["id"]), "tenant_id": _tenant(body),
           "body": body, "updated_at": at}
    if kind in ("subnets", "ports"):
        if not body.get("network_id"):
            raise ControllerStoreError("BadRequest", "network_id is required")
        row["network_id"] = str(body["network_id"])
    if kind == "ports":
        if not body.get("mac_address"):
            raise ControllerStoreError("BadRequest", "mac_address is required")
        row["mac_address"] = str(body["mac_address"]).lower()
        row["attachment"] = body.get("device_id") or None
    return row


class ControllerStore:
    def __init__(self, engine: AsyncEngine, clock: Callable[[], dt.datetime] = utcnow) -> None:
        self.engine = engine
        self._clock = clock

    # -- reading ----------------------------------------------------------------------------

    async def get(self, provider: str, kind: str, resource_id: str) -> dict | None:
        async with self.engine.connect() as conn:
            return await self._get(conn, provider, kind, resource_id)

    async def list(self, provider: str, kind: str, *, tenant_id: str | None = None,
                   network_id: str | None = None) -> list[dict]:
        """The provider's resources of ``kind`` in id order (a tenant's; a network's
        subnets or ports)."""
        table, key = _TABLES[kind]
        query = sa.select(table.c.body).where(table.c.provider == provider)
        if tenant_id is not None:
            query = query.where(table.c.tenant_id == tenant_id)
        if network_id is not None:
            query = query.where(table.c.network_id == network_id)
        async with self.engine.connect() as conn:
            bodies = list((await conn.execute(query.order_by(table.c[key]))).scalars())
            if kind == "networks":
                return await self._with_subnets(conn, provider, bodies)
        return bodies

    async def interfaces(self, provider: str, router_id: str | None = None
                         ) -> list[RouterInterface]:
        t = controller_router_interfaces
        query = sa.select(t.c.router_id, t.c.subnet_id, t.c.port_id).where(
            t.c.provider == provider)
        if router_id is not None:
            query = query.where(t.c.router_id == router_id)
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query.order_by(t.c.router_id, t.c.port_id))).all()
        return [RouterInterface(*r) for r in rows]

    async def snapshot(self, provider: str) -> Snapshot:
        """Everything of a provider, read in one transaction (on PostgreSQL at REPEATABLE
        READ, so that a change committed halfway through is either wholly in or out)."""
        async with self.engine.connect() as conn:
            if conn.dialect.name == "postgresql":
                await conn.execution_options(isolation_level="REPEATABLE READ")
            async with conn.begin():
                parts = []
                for kind in KINDS:
                    table, key = _TABLES[kind]
                    parts.append(tuple((await conn.execute(
                        sa.select(table.c.body).where(table.c.provider == provider)
                        .order_by(table.c[key]))).scalars()))
                t = controller_router_interfaces
                interfaces = tuple(RouterInterface(*r) for r in (await conn.execute(
                    sa.select(t.c.router_id, t.c.subnet_id, t.c.port_id)
                    .where(t.c.provider == provider)
                    .order_by(t.c.router_id, t.c.port_id))).all())
        networks, subnets, ports, routers = parts
        return Snapshot(networks, subnets, ports, routers, interfaces)

    # -- writing ----------------------------------------------------------------------------

    async def create(self, provider: str, kind: str, body: Mapping[str, Any]) -> dict:
        """Record a new resource; refused (nothing stored) when its id is taken, its network
        is unknown or (a port) its MAC is in use on the network."""
        table, _ = _TABLES[kind]
        row = _row(kind, provider, body, self._clock())
        try:
            async with self.engine.begin() as conn:
                if await self._get(conn, provider, kind, row["body"]["id"]) is not None:
                    raise _exists(kind, row["body"]["id"])
                if kind in ("subnets", "ports"):
                    await self._need(conn, provider, "networks", row["network_id"])
                if kind == "ports":
                    await self._mac_free(conn, provider, row)
                await conn.execute(table.insert().values(**row))
        except IntegrityError:   # another worker made the same id or MAC meanwhile
            raise Conflict("Conflict", f"{_SINGULAR[kind]} {row['body']['id']} clashes with "
                                       "one made at the same time.") from None
        return await self.get(provider, kind, row["body"]["id"])

    async def update(self, provider: str, kind: str, resource_id: str,
                     changes: Mapping[str, Any]) -> tuple[dict, dict]:
        """Merge ``changes`` into a resource; returns (before, after) so that the caller can
        put ``before`` back (``replace``) when no controller takes the change."""
        fixed = [f for f in _FIXED[kind] if f in changes]
        async with self.engine.begin() as conn:
            before = await self._get(conn, provider, kind, resource_id, lock=True)
            if before is None:
                raise _not_found(kind, resource_id)
            moved = [f for f in fixed if changes[f] != before.get(f)]
            if moved:
                raise ControllerStoreError(
                    "BadRequest", f"Cannot update read-only attribute {moved[0]}")
            after = copy.deepcopy(before)
            after.update(changes)
            await self._write(conn, provider, kind, after)
        return before, await self.get(provider, kind, resource_id)

    async def replace(self, provider: str, kind: str, body: Mapping[str, Any]) -> None:
        """Put a resource back exactly as it was (the roll-back of an update)."""
        async with self.engine.begin() as conn:
            if await self._get(conn, provider, kind, body["id"], lock=True) is None:
                raise _not_found(kind, body["id"])
            await self._write(conn, provider, kind, body)

    async def delete(self, provider: str, kind: str, resource_id: str) -> dict:
        """Forget a resource; returns it (the roll-back re-creates it). Refused while
        something uses it: a network's ports, a subnet's router interfaces or addresses, a
        router's interfaces, a port that is a router's interface. A network's subnets go
        with it."""
        table, key = _TABLES[kind]
        async with self.engine.begin() as conn:
            body = await self._get(conn, provider, kind, resource_id, lock=True)
            if body is None:
                raise _not_found(kind, resource_id)
            await self._in_use(conn, provider, kind, resource_id, body)
            if kind == "networks":
                await conn.execute(sa.delete(controller_subnets).where(
                    controller_subnets.c.provider == provider,
                    controller_subnets.c.network_id == resource_id))
            await conn.execute(sa.delete(table).where(table.c.provider == provider,
                                                      table.c[key] == resource_id))
        return body

    async def check_delete(self, provider: str, kind: str, resource_id: str) -> None:
        """What ``delete`` would refuse, without deleting (a delete is sent to the
        controllers before it is recorded)."""
        async with self.engine.connect() as conn:
            body = await self._get(conn, provider, kind, resource_id)
            if body is None:
                raise _not_found(kind, resource_id)
            await self._in_use(conn, provider, kind, resource_id, body)

    # -- attachments and router interfaces ------------------------------------------------------

    async def attach(self, provider: str, port_id: str, device_id: str) -> tuple[dict, dict]:
        """Plug a device into a port (Neutron's device_id); (before, after)."""
        if not device_id:
            raise ControllerStoreError("BadRequest", "an attachment needs a device id")
        return await self.update(provider, "ports", port_id, {"device_id": device_id})

    async def detach(self, provider: str, port_id: str) -> tuple[dict, dict]:
        return await self.update(provider, "ports", port_id, {"device_id": ""})

    async def add_interface(self, provider: str, interface: RouterInterface) -> None:
        """Record a router's interface; the router, subnet and port must exist, the port be
        on the subnet's network, the router have no interface on the subnet yet and the port
        be no router's interface yet."""
        t = controller_router_interfaces
        try:
            async with self.engine.begin() as conn:
                await self._need(conn, provider, "routers", interface.router_id)
                subnet = await self._need(conn, provider, "subnets", interface.subnet_id)
                port = await self._need(conn, provider, "ports", interface.port_id)
                if port["network_id"] != subnet["network_id"]:
                    raise ControllerStoreError(
                        "BadRequest", f"Port {interface.port_id} is not on the network of "
                                      f"subnet {interface.subnet_id}.")
                taken = (await conn.execute(sa.select(t.c.router_id, t.c.subnet_id).where(
                    t.c.provider == provider, sa.or_(
                        t.c.port_id == interface.port_id,
                        sa.and_(t.c.router_id == interface.router_id,
                                t.c.subnet_id == interface.subnet_id))))).first()
                if taken is not None:
                    raise _interface_clash(interface, taken)
                await conn.execute(t.insert().values(provider=provider,
                                                     router_id=interface.router_id,
                                                     subnet_id=interface.subnet_id,
                                                     port_id=interface.port_id))
        except IntegrityError:
            raise Conflict("PortInUse", f"Port {interface.port_id} or subnet "
                                        f"{interface.subnet_id} is already in use.") from None

    async def remove_interface(self, provider: str, router_id: str, *,
                               port_id: str | None = None, subnet_id: str | None = None
                               ) -> RouterInterface:
        """Forget a router's interface, named by its port or its subnet; returns it."""
        if (port_id is None) == (subnet_id is None):
            raise ControllerStoreError("BadRequest", "Either subnet_id or port_id must be "
                                                     "specified")
        t = controller_router_interfaces
        match = [t.c.provider == provider, t.c.router_id == router_id,
                 t.c.port_id == port_id if port_id is not None else t.c.subnet_id == subnet_id]
        async with self.engine.begin() as conn:
            await self._need(conn, provider, "routers", router_id)
            row = (await conn.execute(sa.select(t.c.router_id, t.c.subnet_id, t.c.port_id)
                                      .where(*match))).first()
            if row is None:
                what = f"port {port_id}" if port_id is not None else f"subnet {subnet_id}"
                raise NotFound("RouterInterfaceNotFound",
                               f"Router {router_id} does not have an interface with {what}.")
            await conn.execute(sa.delete(t).where(*match))
        return RouterInterface(*row)

    # -- consistency hashes -------------------------------------------------------------------

    async def hash(self, provider: str, server: str) -> str | None:
        """The last consistency hash ``server`` gave (None: none yet)."""
        h = controller_hashes
        async with self.engine.connect() as conn:
            return (await conn.execute(sa.select(h.c.hash).where(
                h.c.provider == provider, h.c.server == server))).scalar()

    async def set_hash(self, provider: str, server: str, value: str) -> None:
        h = controller_hashes
        dialect = postgresql if self.engine.dialect.name == "postgresql" else sqlite
        insert = dialect.insert(h).values(provider=provider, server=server, hash=value,
                                          updated_at=self._clock())
        upsert = insert.on_conflict_do_update(
            index_elements=["provider", "server"],
            set_={"hash": insert.excluded.hash, "updated_at": insert.excluded.updated_at})
        async with self.engine.begin() as conn:
            await conn.execute(upsert)

    async def forget_hash(self, provider: str, server: str) -> None:
        h = controller_hashes
        async with self.engine.begin() as conn:
            await conn.execute(sa.delete(h).where(h.c.provider == provider,
                                                  h.c.server == server))

    # -- one sync at a time ---------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def sync_lock(self, provider: str) -> AsyncIterator[None]:
        """Held while a controller of ``provider`` is given the whole state, so that workers
        sharing a PostgreSQL store synchronise one at a time (a session advisory lock, on a
        connection of its own). On SQLite, an exclusive ``flock`` on a lock file beside the
        database does the same for the processes of one machine (the workers and ``ocx
        controller sync``); it is polled, so that a sync waiting for it can be cancelled."""
        if self.engine.dialect.name != "postgresql":
            async with _file_lock(self.engine.url.database, provider):
                yield
            return
        async with advisory_locked(self.engine, _lock_key(provider)):
            yield

    # -- helpers ---------------------------------------------------------------------------------

    async def _get(self, conn: AsyncConnection, provider: str, kind: str, resource_id: str,
                   *, lock: bool = False) -> dict | None:
        table, key = _TABLES[kind]
        query = sa.select(table.c.body).where(table.c.provider == provider,
                                              table.c[key] == resource_id)
        if lock and conn.dialect.name == "postgresql":
            query = query.with_for_update()
        body = (await conn.execute(query)).scalar()
        if body is None:
            return None
        if kind == "networks":
            return (await self._with_subnets(conn, provider, [body]))[0]
        return body

    async def _with_subnets(self, conn: AsyncConnection, provider: str, networks: list[dict]
                            ) -> list[dict]:
        """Networks with ``subnets``: their subnets' ids, as Neutron shows them."""
        if not networks:
            return networks
        s = controller_subnets
        rows = (await conn.execute(sa.select(s.c.network_id, s.c.subnet_id).where(
            s.c.provider == provider, s.c.network_id.in_([n["id"] for n in networks]))
            .order_by(s.c.subnet_id))).all()
        of: dict[str, list[str]] = {}
        for network_id, subnet_id in rows:
            of.setdefault(network_id, []).append(subnet_id)
        return [n | {"subnets": of.get(n["id"], [])} for n in networks]

    async def _need(self, conn: AsyncConnection, provider: str, kind: str, resource_id: str
                    ) -> dict:
        body = await self._get(conn, provider, kind, resource_id)
        if body is None:
            raise _not_found(kind, resource_id)
        return body

    async def _mac_free(self, conn: AsyncConnection, provider: str, row: dict) -> None:
        p = controller_ports
        holder = (await conn.execute(sa.select(p.c.port_id).where(
            p.c.provider == provider, p.c.network_id == row["network_id"],
            p.c.mac_address == row["mac_address"], p.c.port_id != row["port_id"]))).scalar()
        if holder is not None:
            raise Conflict("MacAddressInUse",
                           f"Unable to complete operation for network {row['network_id']}. "
                           f"The mac address {row['mac_address']} is in use.")

    async def _write(self, conn: AsyncConnection, provider: str, kind: str,
                     body: Mapping[str, Any]) -> None:
        table, key = _TABLES[kind]
        row = _row(kind, provider, body, self._clock())
        if kind == "ports":
            await self._mac_free(conn, provider, row)
        await conn.execute(table.update().where(table.c.provider == provider,
                                                table.c[key] == row[key]).values(**row))

    async def _in_use(self, conn: AsyncConnection, provider: str, kind: str,
                      resource_id: str, body: dict) -> None:
        t, p = controller_router_interfaces, controller_ports
        if kind == "networks":
            if (await conn.execute(sa.select(p.c.port_id).where(
                    p.c.provider == provider, p.c.network_id == resource_id)
                    .limit(1))).first() is not None:
                raise Conflict("NetworkInUse",
                               f"Unable to complete operation on network {resource_id}. "
                               "There are one or more ports still in use on the network.")
        elif kind == "subnets":
            interface = (await conn.execute(sa.select(t.c.port_id).where(
                t.c.provider == provider, t.c.subnet_id == resource_id).limit(1))).first()
            ports = (await conn.execute(sa.select(p.c.body).where(
                p.c.provider == provider, p.c.network_id == body["network_id"]))).scalars()
            addressed = any(ip.get("subnet_id") == resource_id
                            for port in ports for ip in port.get("fixed_ips") or ())
            if interface is not None or addressed:
                raise Conflict("SubnetInUse",
                               f"Unable to complete operation on subnet {resource_id}: One "
                               "or more ports have an IP allocation from this subnet.")
        elif kind == "routers":
            if (await conn.execute(sa.select(t.c.port_id).where(
                    t.c.provider == provider, t.c.router_id == resource_id)
                    .limit(1))).first() is not None:
                raise Conflict("RouterInUse",
                               f"Router {resource_id} still has ports")
        elif kind == "ports":
            router = (await conn.execute(sa.select(t.c.router_id).where(
                t.c.provider == provider, t.c.port_id == resource_id))).scalar()
            if router is not None:
                raise Conflict("PortInUse",
                               f"Port {resource_id} cannot be deleted directly via the port "
                               f"API: it is an interface of router {router}.")


@contextlib.asynccontextmanager
async def _file_lock(database: str | None, provider: str) -> AsyncIterator[None]:
    if not database or database == ":memory:":
        yield
        return
    path = f"{database}.sync-{hashlib.sha256(provider.encode()).hexdigest()[:16]}.lock"
    fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                await asyncio.sleep(LOCK_POLL)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _lock_key(provider: str) -> int:
    """A provider's advisory lock key: a signed 64-bit number from its name."""
    digest = hashlib.sha256(b"ocx-controller-sync:" + provider.encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def _exists(kind: str, resource_id: str) -> Conflict:
    return Conflict("Conflict", f"{_SINGULAR[kind]} {resource_id} already exists.")


def _interface_clash(interface: RouterInterface, taken) -> ControllerStoreError:
    if taken.router_id == interface.router_id and taken.subnet_id == interface.subnet_id:
        return ControllerStoreError(
            "BadRequest", f"Router {interface.router_id} already has a port on subnet "
                          f"{interface.subnet_id}.")
    return Conflict("PortInUse", f"Port {interface.port_id} is already the interface of "
                                 f"router {taken.router_id}.")
