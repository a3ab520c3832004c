"""``ocx keys``: the store's encryption keys (issue 12).

Every encrypted value in the store (``ENCRYPTED``: today the remote tokens of the token
mappings) is sealed with one of the configured Fernet keys, newest first. Rotating:

1. ``ocx keys generate`` makes a key; it goes first in ``[store] encryption_keys`` of every
   OCX sharing the store, the key in use now after it (from ``state_dir/encryption.key`` when
   none is configured), and each is restarted: from then on each writes with the new key and
   reads with either.
2. ``ocx keys rotate`` re-encrypts every value the newest key does not seal yet, in batches of
   ``BATCH`` rows, one short transaction each, while the gateways run: a row is rewritten only
   if it still holds what was read (a mapping a gateway wrote meanwhile is left as written),
   and a gateway that has the row in its cache keeps its decrypted copy.
3. ``ocx keys status`` says how many values each key seals; when the old key seals none, it
   is dropped from the configuration.

A value no configured key opens is left where it is (another OCX may hold its key) and
counted; ``--delete-unreadable`` deletes its row (a token mapping: its next call exchanges
again). Nothing here prints or logs a key or a token.
"""
from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field

import sqlalchemy as sa
from oslo_config import cfg

from ..store.crypto import Cipher, read_key
from ..store.schema import token_mappings
from ..store.sql import MappingStore
from .store import AdminError

# (table, encrypted column): every value OCX encrypts at rest.
ENCRYPTED: tuple[tuple[sa.Table, str], ...] = ((token_mappings, "remote_token_enc"),)
# Rows read, and rewritten in one transaction, at a time.
BATCH = 500


def configured_keys(conf: cfg.ConfigOpts) -> list[str]:
    """The keys the gateway uses, newest first, without making the key file when there is
    none (the gateway would then use a key that seals nothing)."""
    if conf.store.encryption_keys:
        return list(conf.store.encryption_keys)
    path = os.path.join(conf.state_dir, "encryption.key")
    try:
        return [read_key(path)]
    except FileNotFoundError:
        raise AdminError(f"no encryption key: [store] encryption_keys is empty and {path} "
                         "does not exist") from None


@dataclass
class Rotation:
    """What one rotation did, per value read."""

    rotated: int = 0       # re-encrypted with the newest key
    current: int = 0       # already sealed with it
    changed: int = 0       # rewritten by a gateway between the read and the write: left
    unreadable: int = 0    # no configured key opens it: left (or deleted, ``deleted``)
    deleted: int = 0

    @property
    def read(self) -> int:
        return self.rotated + self.current + self.changed + self.unreadable


@dataclass
class KeyUse:
    """How many values each key seals (``by_key[0]``: the newest), and how many none opens."""

    by_key: list[int] = field(default_factory=list)
    unreadable: int = 0


async def rotate(store: MappingStore, keys: Sequence[str], *, delete_unreadable: bool = False,
                 batch: int = BATCH) -> Rotation:
    """Re-encrypt every value not sealed with ``keys[0]`` under it."""
    cipher = Cipher(keys)
    done = Rotation()
    for table, column in ENCRYPTED:
        async for rows in _batches(store, table, column, batch):
            updates, unreadable = [], []
            for row in rows:
                sealed = row[-1]
                index = cipher.sealed_with(sealed)
                if index == 0:
                    done.current += 1
                elif index is None:
                    unreadable.append(_params(table, row))
                else:
                    updates.append({**_params(table, row), "new": cipher.rotate(sealed)})
            async with store.engine.begin() as conn:
                if updates:
                    written = await _rowcount(conn, _rewrite(table, column), updates)
                    done.rotated += written
                    done.changed += len(updates) - written
                done.unreadable += len(unreadable)
                if unreadable and delete_unreadable:
                    done.deleted += await _rowcount(conn, _delete(table, column), unreadable)
    return done


async def key_use(store: MappingStore, keys: Sequence[str], *, batch: int = BATCH) -> KeyUse:
    cipher = Cipher(keys)
    use = KeyUse(by_key=[0] * len(cipher.keys))
    for table, column in ENCRYPTED:
        async for rows in _batches(store, table, column, batch):
            for row in rows:
                index = cipher.sealed_with(row[-1])
                if index is None:
                    use.unreadable += 1
                else:
                    use.by_key[index] += 1
    return use


async def _batches(store: MappingStore, table: sa.Table, column: str, size: int):
    """The rows' primary keys and sealed value, ``size`` at a time, in key order: each batch
    read anew after the last key of the previous one (rows written meanwhile are no
    trouble)."""
    key = list(table.primary_key.columns)
    after = None
    while True:
        query = sa.select(*key, table.c[column]).order_by(*key).limit(size)
        if after is not None:
            query = query.where(sa.tuple_(*key) > sa.tuple_(*after))
        async with store.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        if not rows:
            return
        yield rows
        after = tuple(rows[-1][:-1])


def _params(table: sa.Table, row) -> dict:
    params = {f"k_{c.name}": value for c, value in zip(table.primary_key.columns, row)}
    params["old"] = row[-1]
    return params


def _matching(table: sa.Table, column: str):
    """The row of the key given, still holding the value read."""
    return [*(c == sa.bindparam(f"k_{c.name}") for c in table.primary_key.columns),
            table.c[column] == sa.bindparam("old")]


def _rewrite(table: sa.Table, column: str):
    return table.update().where(*_matching(table, column)).values(
        {column: sa.bindparam("new")})


def _delete(table: sa.Table, column: str):
    return table.delete().where(*_matching(table, column))


async def _rowcount(conn, statement, params: list[dict]) -> int:
    """Rows an executemany touched. Counted row by row: drivers disagree on what an
    executemany's ``rowcount`` is."""
    touched = 0
    for one in params:
        touched += (await conn.execute(statement, one)).rowcount
    return touched
