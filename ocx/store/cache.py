"""A bounded LRU map that a read-through cache can fill without racing its own writes.

The store reads the database with an ``await`` in between the miss and the fill. A write or
an invalidation of the same key that lands in that gap must win over the value the read
brings back, otherwise the cache would keep a value the database no longer holds. So a read
is bracketed by :meth:`LRU.filling`, and a write or invalidation during it spoils the fill.

Single event loop, no threads: nothing here needs a lock.
"""
from __future__ import annotations

import contextlib
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator
from typing import Generic, TypeVar

from .. import metrics

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class LRU(Generic[K, V]):
    """At most ``size`` entries; the least recently used goes first. ``size`` 0 keeps none."""

    def __init__(self, size: int, *, counted: str | None = None) -> None:
        """``counted``: the kind of mapping whose :meth:`lookup` hits and misses are counted
        (``ocx_mapping_cache_lookups``)."""
        if size < 0:
            raise ValueError("cache size must be >= 0")
        self.size = size
        self._hits = metrics.cache_lookup(counted, True) if counted else None
        self._misses = metrics.cache_lookup(counted, False) if counted else None
        self._data: OrderedDict[K, V] = OrderedDict()
        self._reading: dict[K, int] = {}   # keys with reads in flight → how many
        self._spoiled: set[K] = set()      # of those, keys written or invalidated meanwhile

    def __len__(self) -> int:
        return len(self._data)

    def __contains__(self, key: K) -> bool:
        return key in self._data

    def get(self, key: K) -> V | None:
        """The cached value (now the most recent), or None."""
        try:
            self._data.move_to_end(key)
        except KeyError:
            return None
        return self._data[key]

    def lookup(self, key: K) -> V | None:
        """:meth:`get` for a caller's look-up: counted as a hit or a miss."""
        value = self.get(key)
        if self._hits is not None:
            (self._misses if value is None else self._hits).inc()
        return value

    def put(self, key: K, value: V) -> None:
        """A value just written to the database: it replaces whatever a read may bring."""
        self._spoil(key)
        self._set(key, value)

    def invalidate(self, key: K) -> None:
        self._spoil(key)
        self._data.pop(key, None)

    def invalidate_where(self, predicate: Callable[[K, V], bool]) -> int:
        """Drop every entry ``predicate(key, value)`` holds for (a scan: for rare deletes)."""
        doomed = [k for k, v in self._data.items() if predicate(k, v)]
        for key in doomed:
            self.invalidate(key)
        # Reads in flight may bring back a row the caller is deleting: spoil them all.
        self._spoiled.update(self._reading)
        return len(doomed)

    def clear(self) -> None:
        self._data.clear()
        self._spoiled.update(self._reading)

    @contextlib.contextmanager
    def filling(self, key: K) -> Iterator[Callable[[V], None]]:
        """Bracket a database read of ``key``; the yielded ``fill(value)`` caches what it found
        unless ``key`` was written or invalidated since the bracket opened."""
        self._reading[key] = self._reading.get(key, 0) + 1

        def fill(value: V) -> None:
            if key not in self._spoiled:
                self._set(key, value)

        try:
            yield fill
        finally:
            left = self._reading[key] - 1
            if left:
                self._reading[key] = left
            else:
                del self._reading[key]
                self._spoiled.discard(key)

    def _spoil(self, key: K) -> None:
        if key in self._reading:
            self._spoiled.add(key)

    def _set(self, key: K, value: V) -> None:
        if not self.size:
            return
        self._data[key] = value
        self._data.move_to_end(key)
        while len(self._data) > self.size:
            self._data.popitem(last=False)
