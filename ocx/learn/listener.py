"""The notification listener (``ocx listen``, or inside ``ocx serve``): each provider's
oslo-format notifications, consumed from its RabbitMQ, keep the resource mappings current.

Per provider, OCX declares one queue of its own on that provider's broker (``[notifications]
queue``), bound to the services' topic exchanges (``nova``, ``cinder``, ``glance``,
``neutron``, and ``openstack``: oslo.messaging's default, which Cinder keeps) with the
routing keys ``<topic>.info``. The queue is durable and not
auto-deleted, so notifications sent while OCX restarts wait for it instead of being lost (a
lost create costs a search later; a lost delete leaves a stale mapping until a 404), and it is
bounded (``x-max-length``) so that an OCX gone for good cannot fill the provider's broker.
Every OCX process sharing one store uses the same name: they share the work and each
notification is applied once. The exchanges are declared as the services declare them
(oslo.messaging's default: not durable), which is a no-op when they exist already.

A notification's provider is the one whose broker delivered it. Parsing is pure
(:mod:`ocx.learn.notifications`); the store applies the changes in the notifications' own
order (:mod:`ocx.store.notified`). A message is acknowledged once applied, or at once when
it is malformed or of no interest (logged without its content: its context may hold a
token); it is never requeued to be read again and again. A broker that is down or drops the
connection is tried again with a growing wait; a store that fails is retried the same way,
the message held meanwhile. Nothing here stops the gateway.
"""
from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import random
from dataclasses import dataclass, field

import aio_pika
from aio_pika.connection import make_url
import sqlalchemy.exc
from oslo_config import cfg

from ..store import MappingStore
from ..store.models import utcnow
from ..store.notified import ResourceEvent
from .notifications import Parsed, Skipped, parse
from .transport import Broker, brokers

log = logging.getLogger(__name__)

PREFETCH = 64               # messages in flight per provider
QUEUE_MAX_LENGTH = 100_000  # the oldest are dropped past this (OCX gone, or far behind)
CONNECT_TIMEOUT = 10.0
CLOSE_TIMEOUT = 5.0         # for a consumer or a connection to close
FIRST_WAIT = 1.0


@dataclass(frozen=True)
class Source:
    """Where one provider's notifications come from."""

    provider: str
    brokers: tuple[Broker, ...] = field(repr=False)


@dataclass(frozen=True)
class Settings:
    queue: str = "ocx-notifications"
    exchanges: tuple[str, ...] = ("nova", "cinder", "glance", "neutron", "openstack")
    topics: tuple[str, ...] = ("notifications", "versioned_notifications")
    retention: float = 86400.0
    reconnect_max: float = 60.0

    @classmethod
    def from_conf(cls, conf: cfg.ConfigOpts) -> Settings:
        n = conf.notifications
        return cls(queue=n.queue, exchanges=tuple(n.exchanges), topics=tuple(n.topics),
                   retention=float(n.retention), reconnect_max=n.reconnect_max)


def sources(conf: cfg.ConfigOpts, home: str) -> list[Source]:
    """Every provider with a ``notifications_url``: the home cloud (``[keystone]``) and each
    ``[provider:NAME]`` section of the file. A bad URL stops OCX here, saying where."""
    from ..config import provider_opts

    found = []
    if conf.keystone.notifications_url:
        found.append(_source(home, conf.keystone.notifications_url, "[keystone]"))
    for section in conf.list_all_sections():
        if not section.startswith("provider:"):
            continue
        if section not in conf:  # a provider not named in [DEFAULT] providers (discovered)
            conf.register_opts(provider_opts, group=section)
        url = conf[section].notifications_url
        if url:
            found.append(_source(section.removeprefix("provider:"), url, f"[{section}]"))
    return found


def _source(provider: str, url: str, where: str) -> Source:
    try:
        return Source(provider, tuple(brokers(url)))
    except ValueError as exc:
        raise ValueError(f"{where} notifications_url: {exc}") from None


class ProviderListener:
    """One provider's notifications, until cancelled."""

    def __init__(self, source: Source, store: MappingStore, settings: Settings) -> None:
        self.source = source
        self.provider = source.provider
        self.store = store
        self.settings = settings
        self.applied = 0    # events that changed a mapping
        self.ignored = 0    # events older than what the store holds, or duplicates
        self.skipped = 0    # notifications that change nothing (malformed ones included)
        self.malformed = 0

    async def run(self) -> None:
        wait, attempt = FIRST_WAIT, 0
        while True:
            broker = self.source.brokers[attempt % len(self.source.brokers)]
            attempt += 1
            # Made, then connected, so that a failed connection is closed here (aio_pika's
            # connect() leaves it to the garbage collector, which cannot await the close).
            connection = aio_pika.Connection(
                make_url(host=broker.host, port=broker.port, login=broker.login,
                         password=broker.password, virtualhost=broker.virtualhost,
                         ssl=broker.ssl),
                client_properties={"connection_name": f"ocx-listen-{self.provider}"})
            try:
                await connection.connect(timeout=CONNECT_TIMEOUT)
            except asyncio.CancelledError:
                with contextlib.suppress(Exception):
                    await _close(connection)
                raise
            except Exception as exc:  # noqa: BLE001 - any failure to connect: try again later
                with contextlib.suppress(Exception):
                    await connection.close()
                log.warning("notifications of %s: broker %s unreachable (%s); next try in "
                            "%.0f s", self.provider, broker.shown(), _why(exc, broker), wait)
            else:
                wait = FIRST_WAIT
                try:
                    await self._consume(connection)
                    log.warning("notifications of %s: broker %s closed the connection; "
                                "reconnecting", self.provider, broker.shown())
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # noqa: BLE001 - a dropped connection: reconnect
                    log.warning("notifications of %s: lost broker %s (%s); reconnecting",
                                self.provider, broker.shown(), _why(exc, broker))
                finally:
                    with contextlib.suppress(Exception):
                        await _close(connection)
            await asyncio.sleep(wait * random.uniform(0.5, 1.0))
            wait = min(wait * 2, self.settings.reconnect_max)

    async def _consume(self, connection: aio_pika.abc.AbstractConnection) -> None:
        """Declare, bind and consume until the connection closes."""
        channel = await connection.channel()
        await channel.set_qos(prefetch_count=PREFETCH)
        queue = await channel.declare_queue(
            self.settings.queue, durable=True, auto_delete=False,
            arguments={"x-max-length": QUEUE_MAX_LENGTH})
        for name in self.settings.exchanges:
            exchange = await channel.declare_exchange(name, aio_pika.ExchangeType.TOPIC,
                                                      durable=False)
            for topic in self.settings.topics:
                await queue.bind(exchange, routing_key=f"{topic}.info")
        log.info("notifications of %s: listening on queue %s", self.provider,
                 self.settings.queue)
        draining = asyncio.ensure_future(self._drain(queue))
        closed = asyncio.ensure_future(connection.closed())
        for task in (draining, closed):
            # what they end with is read below, or does not matter once stopping: never
            # "exception was never retrieved" with a traceback at exit
            task.add_done_callback(_retrieved)
        try:
            await asyncio.wait({draining, closed}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            # Stopping the consumer asks the broker (basic.cancel), which a broker going
            # away may never answer: waited for a bounded time, and whatever it raises is
            # not allowed to replace this task's own cancellation (which would keep a
            # stopping listener running).
            for task in (draining, closed):
                task.cancel()
            await asyncio.wait({draining, closed}, timeout=CLOSE_TIMEOUT)
            failed = draining.exception() \
                if draining.done() and not draining.cancelled() else None
        if failed is not None:
            raise failed

    async def _drain(self, queue: aio_pika.abc.AbstractQueue) -> None:
        async with queue.iterator() as messages:
            async for message in messages:
                await self.handle(message.body)
                await message.ack()

    async def handle(self, body: bytes) -> None:
        """Apply one notification (retrying a failing store); return when it may be acked."""
        outcome = parse(body)
        if isinstance(outcome, Skipped):
            self._skipped(outcome)
            return
        events = self._events(outcome)
        wait = FIRST_WAIT
        while True:
            try:
                applied = await self.store.notified.apply(events)
                break
            except (sqlalchemy.exc.DataError, sqlalchemy.exc.IntegrityError, ValueError) as exc:
                self._skipped(Skipped(f"the store refused it: {type(exc).__name__}", True,
                                      outcome.event_type, outcome.message_id))
                return
            except Exception as exc:  # noqa: BLE001 - the store is down: hold the message
                log.warning("notifications of %s: the store failed (%s); retrying in %.0f s",
                            self.provider, _why(exc), wait)
                await asyncio.sleep(wait * random.uniform(0.5, 1.0))
                wait = min(wait * 2, self.settings.reconnect_max)
        for event, changed in zip(events, applied):
            if changed:
                self.applied += 1
                log.info("notifications of %s: %s %s %s (%s)", self.provider,
                         "forgot" if event.deleted else "mapped", event.resource_type,
                         event.resource_id, outcome.event_type)
            else:
                self.ignored += 1
                log.debug("notifications of %s: %s of %s %s is older than what is known; "
                          "ignored", self.provider, outcome.event_type, event.resource_type,
                          event.resource_id)

    def _events(self, parsed: Parsed) -> list[ResourceEvent]:
        return [ResourceEvent(c.resource_type, c.resource_id, self.provider, c.remote_project,
                              c.deleted, c.at) for c in parsed.changes]

    def _skipped(self, skipped: Skipped) -> None:
        self.skipped += 1
        what = f"a {skipped.event_type} notification" if skipped.event_type else "a notification"
        if skipped.message_id:
            what += f" (message {skipped.message_id[:64]})"
        if skipped.malformed:
            self.malformed += 1
            log.warning("notifications of %s: skipped %s, malformed: %s", self.provider, what,
                        skipped.reason)
        else:
            log.debug("notifications of %s: skipped %s: %s", self.provider, what,
                      skipped.reason)


def _retrieved(task: asyncio.Future) -> None:
    if not task.cancelled():
        task.exception()


async def _close(connection: aio_pika.abc.AbstractConnection) -> None:
    """Close, without waiting for ever on a broker that does not answer (and finishing even
    if the caller is cancelled meanwhile)."""
    await asyncio.wait_for(asyncio.shield(connection.close()), CLOSE_TIMEOUT)


def _why(exc: BaseException, broker: Broker | None = None) -> str:
    """An exception in one line: its class and first line, the broker's password masked should
    a message quote its URL (the store's statements hide their parameters themselves)."""
    text = str(exc).splitlines()[0] if str(exc) else ""
    if broker is not None and broker.password:
        text = text.replace(broker.password, "***")
    return f"{type(exc).__name__}: {text}"[:300] if text else type(exc).__name__


async def purge_forever(store: MappingStore, retention: float) -> None:
    """Events older than the retention are no longer needed to order anything."""
    interval = min(retention / 4, 3600.0)
    while True:
        await asyncio.sleep(interval)
        try:
            purged = await store.notified.purge(utcnow() - dt.timedelta(seconds=retention))
        except Exception as exc:  # noqa: BLE001 - retried next time
            log.warning("purging old notification events failed: %s", _why(exc))
        else:
            if purged:
                log.info("purged %d notification events older than %.0f s", purged, retention)


async def listen(store: MappingStore, found: list[Source], settings: Settings) -> None:
    """Every provider's listener, and the purge of old events, until cancelled."""
    listeners = [ProviderListener(source, store, settings) for source in found]
    tasks = [asyncio.create_task(listener.run(), name=f"ocx-listen-{listener.provider}")
             for listener in listeners]
    tasks.append(asyncio.create_task(purge_forever(store, settings.retention)))
    log.info("listening to the notifications of %s",
             ", ".join(s.provider for s in found) or "no provider")
    try:
        await asyncio.gather(*tasks)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def start(conf: cfg.ConfigOpts, store: MappingStore, home: str) -> asyncio.Task | None:
    """The listener as a task of ``ocx serve`` (``[DEFAULT] listen_notifications``), or None
    when it is off. A listener that fails is logged and never takes the gateway down."""
    if not conf.listen_notifications:
        return None
    found = sources(conf, home)
    if not found:
        log.warning("listen_notifications is on but no provider has a notifications_url")
        return None
    task = asyncio.create_task(listen(store, found, Settings.from_conf(conf)),
                               name="ocx-listen")
    task.add_done_callback(_report)
    return task


def _report(task: asyncio.Task) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("the notification listener stopped: %s", _why(task.exception()))


async def stop(task: asyncio.Task | None) -> None:
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def run(conf: cfg.ConfigOpts, found: list[Source]) -> None:
    """``ocx listen``: the listener alone until SIGTERM or Ctrl-C (a clean stop: the brokers'
    connections and the store closed; a message being applied is finished or redelivered)."""
    import signal

    from ..store.location import store_keys, store_url

    async def main() -> None:
        task = asyncio.current_task()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, task.cancel)
        store = await MappingStore.open(store_url(conf), store_keys(conf),
                                        cache_size=conf.store.cache_size, migrate=True)
        try:
            await listen(store, found, Settings.from_conf(conf))
        finally:
            await store.close()
            log.info("notification listener stopped")

    with contextlib.suppress(asyncio.CancelledError):
        asyncio.run(main())
