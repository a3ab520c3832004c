"""The mapping store on SQL: SQLite (the embedded default) or PostgreSQL (shared by workers).

Look-ups on the hot path are served from memory after the first read: one LRU per kind of
mapping sits in front of the database. Writes go through to the database and update the
cache; deletes invalidate it. Both touch the cache inside their transaction, after the
statement and before the commit, while the database holds the rows locked: so the cache sees
concurrent writes of one key in the order the database applied them (a failed write
invalidates what it cached). Misses are not cached: an unknown resource costs a search
anyway, and remembering the miss would hide the mapping another worker learns meanwhile.

Several workers sharing a PostgreSQL store each have their own cache, so one worker may keep
serving a mapping another has deleted or replaced, until it is evicted or (token mappings)
expires. That is safe: a resource mapping that went stale gives a 404, on which the gateway
deletes it and searches again; a token mapping stays a valid token of the same user until it
expires.

A mapping learned from a cloud's answer (``put_token_mapping``, ``put_resource_mappings``)
while the database cannot be reached is not lost with the call: it is served from memory and
kept pending (``outage.Pending``), and written as soon as the database answers again (tried
every ``retry`` seconds, and once more on ``close``). ``put_mappings`` (a peer's injection,
all or none) stays strict: its caller hears of the failure.
"""
from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Self

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncEngine

from .cache import LRU
from .crypto import Cipher, InvalidToken
from .engine import make_engine
from .migrate import check, upgrade_engine
from .models import (
    HASH_PREFIX,
    ResourceMapping,
    TokenMapping,
    TokenMappingInfo,
    utcnow,
)
from .notified import NotifiedMappings
from .outage import Pending, unreachable
from .schema import resource_mappings, token_mappings
from .projects import ProjectStore
from .controller import ControllerStore
from .spanning import SpanningStore
from .urls import async_url, shown

log = logging.getLogger(__name__)

TokenKey = tuple[str, str, str]
ResourceKey = tuple[str, str]

# Rows handled per statement when re-encrypting every token.
ROTATE_BATCH = 500

_TOKEN_KEY = (token_mappings.c.local_token_hash, token_mappings.c.local_project,
              token_mappings.c.provider)
_RESOURCE_KEY = (resource_mappings.c.resource_type, resource_mappings.c.resource_id)


class MappingStore:
    """Token mappings and resource mappings, kept in SQL with a read-through cache.

    Open with :meth:`open`; one store (one engine, one connection pool) per process.
    """

    def __init__(self, engine: AsyncEngine, cipher: Cipher, *, cache_size: int,
                 clock: Callable[[], dt.datetime] = utcnow, retry: float = 1.0) -> None:
        self.engine = engine
        self._cipher = cipher
        self._clock = clock
        self._tokens: LRU[TokenKey, TokenMapping] = LRU(cache_size, counted="token")
        self._resources: LRU[ResourceKey, ResourceMapping] = LRU(cache_size,
                                                                 counted="resource")
        # Learned while the database could not be reached; written when it answers again.
        self.pending = Pending()
        self.retry = retry
        self._flushing: asyncio.Task | None = None
        self.spanning = SpanningStore(engine, clock)   # spanning networks (issue 7)
        self.projects = ProjectStore(engine, clock)    # providers each project uses (issue 8)
        self.controller = ControllerStore(engine, clock)   # controller landlords' state (issue 10)
        # mappings kept current by notifications, in their order (issue 8)
        self.notified = NotifiedMappings(engine, self._resources, clock)

    @classmethod
    async def open(cls, url: str | URL, keys: Sequence[str], cache_size: int = 100_000, *,
                   migrate: bool = False, clock: Callable[[], dt.datetime] = utcnow,
                   timeout: float | None = None) -> MappingStore:
        """Open the store at ``url`` with the Fernet ``keys`` (newest first).

        ``migrate=True`` brings the schema up to date first (the demo, the tests); otherwise a
        schema that is not current raises :class:`~ocx.store.migrate.SchemaNotCurrent`.
        ``cache_size`` bounds each of the two caches (0: no cache). ``timeout``: seconds the
        database has to answer each statement (PostgreSQL; see :func:`make_engine`); a
        migration is not bounded by it.
        """
        cipher = Cipher(keys)
        engine = make_engine(url, timeout)
        try:
            if migrate:
                if engine.dialect.name == "postgresql" and timeout is not None:
                    plain = make_engine(url)    # a long migration is not a server that hangs
                    try:
                        await upgrade_engine(plain)
                    finally:
                        await plain.dispose()
                else:
                    await upgrade_engine(engine)
            else:
                await check(engine)
        except BaseException:
            await engine.dispose()
            raise
        log.info("mapping store open at %s", shown(async_url(url)))
        return cls(engine, cipher, cache_size=cache_size, clock=clock)

    async def close(self, flush_timeout: float = 5.0) -> None:
        """Close; mappings still pending are written if the database answers within
        ``flush_timeout`` seconds (else they are lost, and learned again by a search)."""
        if self._flushing is not None:
            self._flushing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._flushing
            self._flushing = None
        if len(self.pending):
            try:
                async with asyncio.timeout(flush_timeout):
                    await self._flush_once()
            except Exception as exc:  # noqa: BLE001 - closing: say what is lost
                log.warning("the store is closing with %d learned mappings not written (%s)",
                            len(self.pending), type(exc).__name__)
        self._tokens.clear()
        self._resources.clear()
        await self.engine.dispose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- token mappings -------------------------------------------------------------------

    async def get_token_mapping(self, local_token_hash: str, local_project: str,
                                provider: str) -> TokenMapping | None:
        """The live mapping, or None (none, expired, or sealed with a key no longer held)."""
        key = (local_token_hash, local_project, provider)
        now = self._clock()
        cached = self._tokens.lookup(key)
        if cached is not None:
            if not cached.expired(now):
                return cached
            # Another worker may have renewed it: look in the database.
            self._tokens.invalidate(key)
        waiting = self.pending.tokens.get(key)
        if waiting is not None and not waiting.expired(now):
            return waiting
        with self._tokens.filling(key) as fill:
            query = sa.select(token_mappings).where(
                _is(_TOKEN_KEY, key), token_mappings.c.expires_at > now)
            async with self.engine.connect() as conn:
                row = (await conn.execute(query)).first()
            if row is None:
                return None
            mapping = self._token_from_row(row)
            if mapping is not None:
                fill(mapping)
            return mapping

    async def put_token_mapping(self, m: TokenMapping) -> None:
        """Insert or replace the mapping for ``m``'s (local token, local project, provider);
        kept pending while the database cannot be reached (see the module's docstring)."""
        await self._learn([m], [])

    async def delete_token_mappings(self, *, local_token_hash: str | None = None,
                                    provider: str | None = None) -> int:
        """Delete the mappings of a local token, of a provider, or both; with neither, all.
        Returns how many rows went."""
        query = sa.delete(token_mappings)
        if local_token_hash is not None:
            query = query.where(token_mappings.c.local_token_hash == local_token_hash)
        if provider is not None:
            query = query.where(token_mappings.c.provider == provider)
        def matches(k: TokenKey, _=None) -> bool:
            return local_token_hash in (None, k[0]) and provider in (None, k[2])

        async with self.engine.begin() as conn:
            deleted = (await conn.execute(query)).rowcount
            self._tokens.invalidate_where(matches)
        self.pending.forget(tokens=[k for k in self.pending.tokens if matches(k)])
        return deleted

    async def list_token_mappings(self, *, provider: str | None = None, limit: int = 1000,
                                  include_expired: bool = False) -> list[TokenMappingInfo]:
        """What an operator may see of the mappings: never a token, a prefix of the hash."""
        t = token_mappings
        query = (sa.select(t.c.local_token_hash, t.c.local_project, t.c.provider,
                           t.c.remote_project, t.c.expires_at)
                 .order_by(t.c.provider, t.c.local_project, t.c.local_token_hash).limit(limit))
        if provider is not None:
            query = query.where(t.c.provider == provider)
        if not include_expired:
            query = query.where(t.c.expires_at > self._clock())
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [TokenMappingInfo(r.local_token_hash[:HASH_PREFIX], r.local_project, r.provider,
                                 r.remote_project, r.expires_at) for r in rows]

    async def purge_expired(self) -> int:
        """Delete the expired token mappings; returns how many."""
        now = self._clock()
        async with self.engine.begin() as conn:
            purged = (await conn.execute(
                sa.delete(token_mappings).where(token_mappings.c.expires_at <= now))).rowcount
            self._tokens.invalidate_where(lambda _, m: m.expired(now))
        return purged

    async def rotate_keys(self, new_keys: Sequence[str]) -> int:
        """Re-encrypt every remote token under ``new_keys[0]``; from then on use ``new_keys``.

        Tokens sealed with either the current keys or ``new_keys`` are opened, so the old key
        may already be left out of ``new_keys``. A token no key opens is useless: its mapping
        is deleted (the next call makes a new one). A mapping rewritten meanwhile is left as
        written. Returns how many tokens were re-encrypted.
        """
        final = Cipher(new_keys)
        old = [k for k in self._cipher.keys if k not in final.keys]
        # Writes during the rotation already use the new first key.
        self._cipher = rotating = Cipher([*final.keys, *old])
        t = token_mappings
        rotate = (t.update()
                  .where(*(c == sa.bindparam(f"k_{c.name}") for c in _TOKEN_KEY),
                         t.c.remote_token_enc == sa.bindparam("old"))
                  .values(remote_token_enc=sa.bindparam("new")))
        drop = sa.delete(t).where(*(c == sa.bindparam(f"k_{c.name}") for c in _TOKEN_KEY),
                                  t.c.remote_token_enc == sa.bindparam("old"))
        rotated = lost = 0
        after: TokenKey | None = None
        while True:
            query = sa.select(*_TOKEN_KEY, t.c.remote_token_enc).order_by(*_TOKEN_KEY)
            if after is not None:
                query = query.where(sa.tuple_(*_TOKEN_KEY) > after)
            async with self.engine.connect() as conn:
                rows = (await conn.execute(query.limit(ROTATE_BATCH))).all()
            if not rows:
                break
            after = tuple(rows[-1][:3])
            updates, undecryptable = [], []
            for r in rows:
                params = {"k_local_token_hash": r[0], "k_local_project": r[1],
                          "k_provider": r[2], "old": r[3]}
                try:
                    updates.append({**params, "new": rotating.rotate(r[3])})
                except InvalidToken:
                    undecryptable.append(params)
            async with self.engine.begin() as conn:
                if updates:
                    await conn.execute(rotate, updates)
                if undecryptable:
                    await conn.execute(drop, undecryptable)
            rotated += len(updates)
            lost += len(undecryptable)
            for params in undecryptable:
                self._tokens.invalidate(
                    (params["k_local_token_hash"], params["k_local_project"],
                     params["k_provider"]))
        self._cipher = final
        if lost:
            log.warning("key rotation: %d token mappings could not be decrypted with any key "
                        "and were deleted", lost)
        log.info("key rotation: %d remote tokens re-encrypted", rotated)
        return rotated

    def _token_from_row(self, row: Any) -> TokenMapping | None:
        try:
            remote_token = self._cipher.decrypt(row.remote_token_enc)
        except InvalidToken:
            log.warning("a token mapping for provider %s is sealed with a key this OCX does not "
                        "hold; ignored (a new one will be made)", row.provider)
            return None
        return TokenMapping(local_token_hash=row.local_token_hash,
                            local_project=row.local_project, provider=row.provider,
                            remote_token=remote_token, remote_project=row.remote_project,
                            expires_at=row.expires_at, catalog=row.catalog)

    # -- resource mappings ----------------------------------------------------------------

    async def get_resource_mapping(self, resource_type: str,
                                   resource_id: str) -> ResourceMapping | None:
        key = (resource_type, resource_id)
        if "\x00" in resource_type or "\x00" in resource_id:
            # A caller's id (a listing's marker, an id in a body): never stored, and
            # PostgreSQL refuses a NUL in a text even to look it up.
            return None
        cached = self._resources.lookup(key) or self.pending.resources.get(key)
        if cached is not None:
            return cached
        with self._resources.filling(key) as fill:
            query = sa.select(resource_mappings).where(_is(_RESOURCE_KEY, key))
            async with self.engine.connect() as conn:
                row = (await conn.execute(query)).first()
            if row is None:
                return None
            mapping = _resource_from_row(row)
            fill(mapping)
            return mapping

    async def put_resource_mappings(self, ms: Iterable[ResourceMapping]) -> None:
        """Insert or replace many mappings in one transaction (the last of a key wins); kept
        pending while the database cannot be reached (see the module's docstring).

        A mapping the cache already holds with the same provider, project and endpoint is
        not written again, so repeated listings of the same resources cost no writes.
        """
        await self._learn([], ms)

    async def put_mappings(self, tokens: Iterable[TokenMapping],
                           resources: Iterable[ResourceMapping]) -> None:
        """Insert or replace token and resource mappings in one transaction: all or none (a
        peer's injection is stored whole or not at all)."""
        await self._write(list({m.key: m for m in tokens}.values()),
                          list({m.key: m for m in resources}.values()))

    async def _learn(self, tokens: list[TokenMapping],
                     resources: Iterable[ResourceMapping]) -> None:
        resources = list({m.key: m for m in resources}.values())
        try:
            await self._write(tokens, resources)
        except Exception as exc:
            if not unreachable(exc):
                raise
            self._defer(tokens, resources, exc)

    def _defer(self, tokens: list[TokenMapping], resources: list[ResourceMapping],
               exc: BaseException) -> None:
        """Serve them from memory and write them when the database answers again."""
        if not len(self.pending):
            log.warning("the mapping store cannot be reached (%s); mappings learned meanwhile "
                        "are kept in memory and written when it answers again",
                        type(exc).__name__)
        self.pending.add(tokens, resources)
        for m in tokens:
            self._tokens.put(m.key, m)
        for m in resources:
            self._resources.put(m.key, m)
        if self._flushing is None or self._flushing.done():
            self._flushing = asyncio.get_running_loop().create_task(
                self._flush_forever(), name="ocx-store-pending")

    async def _flush_forever(self) -> None:
        while len(self.pending):
            await asyncio.sleep(self.retry)
            try:
                written = await self._flush_once()
            except Exception as exc:  # noqa: BLE001 - still away (or refused: logged, dropped)
                if not unreachable(exc):
                    log.exception("learned mappings could not be written; dropped")
                    self.pending.take()
                continue
            log.info("the mapping store answers again: wrote %d mappings learned meanwhile",
                     written)
        if self.pending.dropped:
            log.warning("%d learned mappings were dropped while the store was away (more than "
                        "%d); they are learned again when used", self.pending.dropped,
                        self.pending.limit)
            self.pending.dropped = 0

    async def _flush_once(self) -> int:
        tokens, resources = self.pending.take()
        try:
            await self._write(tokens, resources, unchanged=True)
        except BaseException:
            self.pending.restore(tokens, resources)
            raise
        return len(tokens) + len(resources)

    async def _write(self, tokens: list[TokenMapping], resources: list[ResourceMapping], *,
                     unchanged: bool = False) -> None:
        """One transaction; ``unchanged``: resource mappings the cache holds alike are
        written too (they are in the cache because they wait to be written)."""
        fresh = resources if unchanged else \
            [m for m in resources if not _same_place(self._resources.get(m.key), m)]
        if not tokens and not fresh:
            return
        try:
            async with self.engine.begin() as conn:
                if tokens:
                    await conn.execute(self._upsert(token_mappings), [
                        {"local_token_hash": m.local_token_hash,
                         "local_project": m.local_project, "provider": m.provider,
                         "remote_token_enc": self._cipher.encrypt(m.remote_token),
                         "remote_project": m.remote_project, "expires_at": m.expires_at,
                         "catalog": list(m.catalog)} for m in tokens])
                if fresh:
                    await conn.execute(self._upsert(resource_mappings), [
                        {"resource_type": m.resource_type, "resource_id": m.resource_id,
                         "provider": m.provider, "remote_project": m.remote_project,
                         "endpoint": m.endpoint, "source": m.source,
                         "updated_at": m.updated_at} for m in fresh])
                for m in tokens:
                    self._tokens.put(m.key, m)
                for m in fresh:
                    self._resources.put(m.key, m)
        except BaseException:
            for m in tokens:
                self._tokens.invalidate(m.key)
            for m in fresh:
                self._resources.invalidate(m.key)
            raise
        if not unchanged:   # what waited for these keys is older than what was just written
            self.pending.forget(tokens=[m.key for m in tokens],
                                resources=[m.key for m in fresh])

    async def delete_resource_mapping(self, resource_type: str, resource_id: str) -> bool:
        """Forget where a resource lives; True if there was a mapping."""
        key = (resource_type, resource_id)
        async with self.engine.begin() as conn:
            deleted = (await conn.execute(sa.delete(resource_mappings).where(
                _is(_RESOURCE_KEY, key)))).rowcount
            self._resources.invalidate(key)
        self.pending.forget(resources=[key])
        return deleted > 0

    async def list_resource_mappings(self, *, resource_type: str | None = None,
                                     provider: str | None = None, limit: int = 1000,
                                     marker: str | tuple[str, str] | None = None,
                                     ) -> list[ResourceMapping]:
        """A page of mappings in (resource type, resource id) order, from the database.

        ``marker`` is where the previous page ended: its last ``(resource_type, resource_id)``,
        or, when ``resource_type`` is given, just the last resource id.
        """
        r = resource_mappings
        query = sa.select(r).order_by(*_RESOURCE_KEY).limit(limit)
        if resource_type is not None:
            query = query.where(r.c.resource_type == resource_type)
        if provider is not None:
            query = query.where(r.c.provider == provider)
        if isinstance(marker, str):
            if resource_type is None:
                raise ValueError("a resource id marker needs resource_type; otherwise pass "
                                 "(resource_type, resource_id)")
            query = query.where(r.c.resource_id > marker)
        elif marker is not None:
            query = query.where(sa.tuple_(*_RESOURCE_KEY) > tuple(marker))
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [_resource_from_row(row) for row in rows]

    # -- helpers --------------------------------------------------------------------------

    def _upsert(self, table: sa.Table):
        dialect = postgresql if self.engine.dialect.name == "postgresql" else sqlite
        insert = dialect.insert(table)
        return insert.on_conflict_do_update(
            index_elements=[c.name for c in table.primary_key],
            set_={c.name: insert.excluded[c.name] for c in table.c if not c.primary_key})


def _is(columns: Sequence[sa.Column], key: Sequence[str]):
    return sa.and_(*(c == v for c, v in zip(columns, key)))


def _resource_from_row(row: Any) -> ResourceMapping:
    return ResourceMapping(row.resource_type, row.resource_id, row.provider,
                           row.remote_project, row.endpoint, row.source, row.updated_at)


def _same_place(cached: ResourceMapping | None, m: ResourceMapping) -> bool:
    return cached is not None and (cached.provider, cached.remote_project, cached.endpoint) \
        == (m.provider, m.remote_project, m.endpoint)
