"""The Gluon port registry: which Proton server owns a port, read from etcd and kept current.

A Proton server writes ``<prefix><port uuid>`` → ``{"tenant_id", "service", "url"}`` when it
creates a port and deletes the key with the port (Gluon's layout; prefix ``/gluon/port/``).
:class:`GluonRegistry` reads the whole prefix once, then follows it with an etcd watch starting
at the revision it read, so a lookup never asks etcd. When the connection breaks (etcd
restarted, network) it reconnects with back-off, reads the prefix again (keys deleted meanwhile
disappear) and watches from there.

A value that is not what Gluon writes is kept as :class:`Malformed` with the reason; it is
reported, never guessed at. Parsing (:func:`parse_entry`) is pure and separate from the I/O.
"""
from __future__ import annotations

import asyncio
import logging
import urllib.parse
from dataclasses import dataclass

import orjson

log = logging.getLogger(__name__)

DEFAULT_ENDPOINT = "http://127.0.0.1:2379"
DEFAULT_PREFIX = "/gluon/port/"


@dataclass(frozen=True)
class PortBackend:
    """A Gluon port: its tenant, its networking service id and its Proton server's base URL."""

    port_id: str
    tenant_id: str
    service: str
    url: str


@dataclass(frozen=True)
class Malformed:
    """A registry entry that is not what Gluon writes, and why."""

    port_id: str
    reason: str


Entry = PortBackend | Malformed


# -- pure parsing -----------------------------------------------------------------------------

def port_id_of(key: bytes, prefix: str) -> str | None:
    """The port id of a registry key; None for a key that is not directly under the prefix."""
    text = key.decode("utf-8", errors="replace")
    if not text.startswith(prefix):
        return None
    rest = text[len(prefix):]
    return rest if rest and "/" not in rest else None


def parse_entry(port_id: str, raw: bytes) -> Entry:
    """A registry value → :class:`PortBackend`, or :class:`Malformed` saying what is wrong."""
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return Malformed(port_id, "value is not JSON")
    if not isinstance(value, dict):
        return Malformed(port_id, f"value is a JSON {type(value).__name__}, not an object")
    fields = {}
    for name in ("tenant_id", "service", "url"):
        item = value.get(name)
        if not isinstance(item, str) or not item.strip():
            return Malformed(port_id, f"{name!r} is missing or not a non-empty string")
        fields[name] = item.strip()
    url = urllib.parse.urlsplit(fields["url"])
    if url.scheme not in ("http", "https") or not url.netloc:
        return Malformed(port_id, "'url' is not an http(s) URL")
    return PortBackend(port_id, fields["tenant_id"], fields["service"],
                       fields["url"].rstrip("/"))


def etcd_address(endpoint: str) -> tuple[str, int]:
    """``http://host:2379`` (or ``host:2379``) → (host, port)."""
    parsed = urllib.parse.urlsplit(endpoint if "//" in endpoint else f"http://{endpoint}")
    return parsed.hostname or "127.0.0.1", parsed.port or 2379


# -- the registry (I/O) -----------------------------------------------------------------------

class GluonRegistry:
    """The ports under ``prefix`` in etcd, read once and then followed with a watch.

    ``start()`` waits for the first read (up to ``timeout``) and follows changes in the
    background; ``lookup`` and ``entries`` only read memory. ``synced`` is False while the
    connection is broken (what is held then is what was last seen).
    """

    def __init__(self, endpoint: str = DEFAULT_ENDPOINT, prefix: str = DEFAULT_PREFIX, *,
                 timeout: float = 5.0, retry_delay: float = 0.5,
                 max_retry_delay: float = 10.0) -> None:
        if not prefix.endswith("/"):
            prefix += "/"
        self.endpoint = endpoint
        self.prefix = prefix
        self.timeout = timeout
        self.retry_delay = retry_delay
        self.max_retry_delay = max_retry_delay
        self._entries: dict[str, Entry] = {}
        self._synced = asyncio.Event()
        self._task: asyncio.Task | None = None
        self.reads = 0          # full reads of the prefix: once, then once per reconnection
        self.revision = 0       # the etcd revision the registry reflects
        self.last_error: str | None = None

    # -- what callers read ------------------------------------------------------------------

    def lookup(self, port_id: str) -> Entry | None:
        """The port's backend, ``Malformed`` for a bad entry, None when it is not a Gluon port."""
        return self._entries.get(port_id)

    def entries(self) -> dict[str, Entry]:
        """Every registry entry by port id (a copy)."""
        return dict(self._entries)

    @property
    def synced(self) -> bool:
        return self._synced.is_set()

    async def wait_synced(self, timeout: float | None = None) -> bool:
        try:
            await asyncio.wait_for(self._synced.wait(), timeout)
        except asyncio.TimeoutError:
            return False
        return True

    # -- life cycle -------------------------------------------------------------------------

    async def start(self, wait: bool = True) -> None:
        """Start following etcd; with ``wait``, until the first read (``ConnectionError`` if
        etcd does not answer within ``timeout``; the registry keeps trying meanwhile)."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="gluon-registry")
        if wait and not await self.wait_synced(self.timeout):
            raise ConnectionError(f"etcd at {self.endpoint} did not answer: {self.last_error}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
        self._synced.clear()

    async def __aenter__(self) -> GluonRegistry:
        await self.start()
        return self

    async def __aexit__(self, *exc) -> None:
        await self.stop()

    # -- following etcd ---------------------------------------------------------------------

    def apply_put(self, key: bytes, value: bytes) -> None:
        port_id = port_id_of(key, self.prefix)
        if port_id is None:
            return
        entry = parse_entry(port_id, value)
        if isinstance(entry, Malformed):
            log.warning("gluon registry: malformed entry for port %s: %s", port_id, entry.reason)
        self._entries[port_id] = entry

    def apply_delete(self, key: bytes) -> None:
        port_id = port_id_of(key, self.prefix)
        if port_id is not None:
            self._entries.pop(port_id, None)

    async def _run(self) -> None:
        import aetcd

        delay = self.retry_delay
        host, port = etcd_address(self.endpoint)
        while True:
            client = aetcd.Client(host=host, port=port, timeout=self.timeout)
            try:
                await self._follow(client)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - any failure: reconnect and re-read
                self.last_error = f"{type(exc).__name__}: {exc}"
                if self._synced.is_set():
                    log.warning("gluon registry: lost etcd at %s (%s); reconnecting",
                                self.endpoint, self.last_error)
                    delay = self.retry_delay  # it was working: retry soon
                self._synced.clear()
            finally:
                try:
                    await asyncio.shield(client.close())
                except Exception:  # noqa: BLE001 - closing a broken channel may fail too
                    pass
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.max_retry_delay)

    async def _follow(self, client) -> None:
        prefix = self.prefix.encode()
        snapshot = await client.get_prefix(prefix)
        entries: dict[str, Entry] = {}
        for kv in snapshot:
            port_id = port_id_of(kv.key, self.prefix)
            if port_id is not None:
                entries[port_id] = parse_entry(port_id, kv.value)
        for bad in (e for e in entries.values() if isinstance(e, Malformed)):
            log.warning("gluon registry: malformed entry for port %s: %s", bad.port_id, bad.reason)
        self._entries = entries
        self.revision = snapshot.header.revision
        self.reads += 1
        watch = await client.watch_prefix(prefix, start_revision=self.revision + 1)
        self._synced.set()
        self.last_error = None
        try:
            async for event in watch:
                if event.kind == "PUT":
                    self.apply_put(event.kv.key, event.kv.value)
                else:
                    self.apply_delete(event.kv.key)
                self.revision = max(self.revision, event.kv.mod_revision)
        finally:
            try:
                await asyncio.shield(watch.cancel())
            except Exception:  # noqa: BLE001
                pass
        # The watch ended without an error: the stream was closed under us. Reconnect.
        raise ConnectionError("etcd watch stream ended")
