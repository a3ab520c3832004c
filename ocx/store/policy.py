"""Group-Based Policy's state in SQL (issue 11). Shares the mapping store's engine
(``store.policy``).

Rows are plain dicts, one table per kind (``KINDS``); decisions about them are made in
``ocx/policy``. What must stay true across workers is kept by the database or by a lock:

- a group has at most one proxy, and a proxy proxies one group: both links of
  ``gp_group_proxy_mappings`` are unique, and :meth:`Tx.claim_proxy` takes a group's proxy slot
  only while it is empty;
- every change to an L3 policy's topology (groups, their subnets, gateways, routes) holds
  :meth:`PolicyStore.topology_lock` for that L3 policy: a process-wide asyncio lock and, on
  PostgreSQL, an advisory lock on a connection of its own, so that subnet allocation from its
  pools never hands out one CIDR twice, even to two workers.
"""
from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
import weakref
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from .engine import advisory_locked
from .models import utcnow
from .schema import (
    gp_group_proxy_mappings,
    gp_l2_policies,
    gp_l3_policies,
    gp_owned_resources,
    gp_policy_target_groups,
    gp_policy_targets,
    gp_proxy_gateway_mappings,
    gp_proxy_ip_pool_mapping,
    gp_ptg_subnets,
    sc_instances,
    sc_nodes,
    sc_plumbed_groups,
    sc_service_targets,
    sc_specs,
)

# kind → (table, key column)
KINDS: Mapping[str, tuple[sa.Table, str]] = {
    "l3_policies": (gp_l3_policies, "id"),
    "proxy_ip_pools": (gp_proxy_ip_pool_mapping, "l3_policy_id"),
    "l2_policies": (gp_l2_policies, "id"),
    "policy_target_groups": (gp_policy_target_groups, "id"),
    "group_proxies": (gp_group_proxy_mappings, "policy_target_group_id"),
    "group_subnets": (gp_ptg_subnets, "subnet_id"),
    "policy_targets": (gp_policy_targets, "id"),
    "proxy_gateways": (gp_proxy_gateway_mappings, "policy_target_id"),
    "servicechain_nodes": (sc_nodes, "id"),
    "servicechain_specs": (sc_specs, "id"),
    "servicechain_instances": (sc_instances, "id"),
    "service_targets": (sc_service_targets, "policy_target_id"),
    "plumbed_groups": (sc_plumbed_groups, "policy_target_group_id"),
}
_ORDER = {"group_subnets": "position", "plumbed_groups": "sequence",
          "service_targets": "position"}


class Conflict(Exception):
    """A write the database refused because it would break a uniqueness the model needs; the
    transaction it was part of is rolled back."""


def _where(table: sa.Table, where: Mapping[str, Any]) -> list:
    """``column == value``, or ``column IN values`` for a list/tuple/set."""
    clauses = []
    for name, value in where.items():
        column = table.c[name]
        if isinstance(value, (list, tuple, set, frozenset)):
            clauses.append(column.in_(list(value)))
        elif value is None:
            clauses.append(column.is_(None))
        else:
            clauses.append(column == value)
    return clauses


class Tx:
    """The store's operations on one connection, inside one transaction."""

    def __init__(self, conn: AsyncConnection, clock: Callable[[], dt.datetime]) -> None:
        self.conn = conn
        self._clock = clock

    async def get(self, kind: str, key: str) -> dict | None:
        table, column = KINDS[kind]
        row = (await self.conn.execute(sa.select(table).where(table.c[column] == key))).first()
        return dict(row._mapping) if row is not None else None

    async def rows(self, kind: str, **where: Any) -> list[dict]:
        table, column = KINDS[kind]
        query = sa.select(table).where(*_where(table, where))
        order = _ORDER.get(kind)
        if order is not None:
            query = query.order_by(table.c[order])
        elif "created_at" in table.c:
            query = query.order_by(table.c.created_at, table.c[column])
        return [dict(r._mapping) for r in (await self.conn.execute(query)).all()]

    async def insert(self, kind: str, row: Mapping[str, Any]) -> dict:
        table, _ = KINDS[kind]
        row = dict(row)
        if "created_at" in table.c:
            row.setdefault("created_at", self._clock())
        try:
            await self.conn.execute(sa.insert(table).values(**row))
        except IntegrityError as exc:
            raise Conflict(f"{kind}: {type(exc.orig).__name__}") from None
        return row

    async def update(self, kind: str, key: str, values: Mapping[str, Any]) -> bool:
        if not values:
            return await self.get(kind, key) is not None
        table, column = KINDS[kind]
        try:
            result = await self.conn.execute(
                sa.update(table).where(table.c[column] == key).values(**values))
        except IntegrityError as exc:
            raise Conflict(f"{kind}: {type(exc.orig).__name__}") from None
        return result.rowcount > 0

    async def delete(self, kind: str, key: str) -> bool:
        table, column = KINDS[kind]
        result = await self.conn.execute(sa.delete(table).where(table.c[column] == key))
        return result.rowcount > 0

    async def delete_where(self, kind: str, **where: Any) -> int:
        table, _ = KINDS[kind]
        result = await self.conn.execute(sa.delete(table).where(*_where(table, where)))
        return result.rowcount

    async def claim_proxy(self, proxied_id: str, proxy_id: str) -> bool:
        """Make ``proxy_id`` the proxy of ``proxied_id`` if the group has none yet (a failed
        write aborts the transaction: the caller gives up on it)."""
        t = gp_group_proxy_mappings
        result = await self.conn.execute(
            sa.update(t).where(t.c.policy_target_group_id == proxied_id,
                               t.c.proxy_group_id.is_(None)).values(proxy_group_id=proxy_id))
        return result.rowcount == 1

    async def own(self, resource_type: str, resource_id: str) -> None:
        await self.conn.execute(sa.insert(gp_owned_resources).values(
            resource_type=resource_type, resource_id=resource_id))

    async def owns(self, resource_type: str, resource_id: str) -> bool:
        t = gp_owned_resources
        row = (await self.conn.execute(sa.select(t.c.resource_id).where(
            t.c.resource_type == resource_type, t.c.resource_id == resource_id))).first()
        return row is not None

    async def disown(self, resource_type: str, resource_id: str) -> None:
        t = gp_owned_resources
        await self.conn.execute(sa.delete(t).where(t.c.resource_type == resource_type,
                                                   t.c.resource_id == resource_id))


class PolicyStore:
    def __init__(self, engine: AsyncEngine, clock: Callable[[], dt.datetime] = utcnow) -> None:
        self.engine = engine
        self._clock = clock
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = \
            weakref.WeakValueDictionary()

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[Tx]:
        async with self.engine.begin() as conn:
            yield Tx(conn, self._clock)

    # Reads and single writes, each in a transaction of its own.

    async def get(self, kind: str, key: str) -> dict | None:
        async with self.engine.connect() as conn:
            return await Tx(conn, self._clock).get(kind, key)

    async def rows(self, kind: str, **where: Any) -> list[dict]:
        async with self.engine.connect() as conn:
            return await Tx(conn, self._clock).rows(kind, **where)

    async def owns(self, resource_type: str, resource_id: str) -> bool:
        async with self.engine.connect() as conn:
            return await Tx(conn, self._clock).owns(resource_type, resource_id)

    async def related(self, kind: str, column: str, keys: Iterable[str]) -> dict[str, list]:
        """key → the rows of ``kind`` whose ``column`` is that key (one query for many)."""
        keys = list(dict.fromkeys(keys))
        found: dict[str, list] = {k: [] for k in keys}
        if keys:
            for row in await self.rows(kind, **{column: keys}):
                found[row[column]].append(row)
        return found

    @contextlib.asynccontextmanager
    async def topology_lock(self, l3_policy_id: str) -> AsyncIterator[None]:
        """Held while an L3 policy's topology changes (see the module's docstring)."""
        lock = self._locks.get(l3_policy_id)
        if lock is None:
            lock = self._locks[l3_policy_id] = asyncio.Lock()
        async with lock:
            if self.engine.dialect.name != "postgresql":
                yield
                return
            async with advisory_locked(self.engine, _lock_key(l3_policy_id)):
                yield


def _lock_key(name: str) -> int:
    """A signed 64-bit advisory lock key of its own for each L3 policy."""
    digest = hashlib.sha256(b"ocx gbp topology\0" + name.encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)
