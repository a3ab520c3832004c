"""oslo.messaging-format notifications from the simulated services, published to RabbitMQ.

The wire form is that of oslo.messaging's notification driver (message format 2.0): an
envelope ``{"oslo.version": "2.0", "oslo.message": "<json>"}`` on the service's topic exchange
(``nova``, ``glance``, ``neutron``; Cinder's is oslo.messaging's default, ``openstack``) with
the routing key ``notifications.<priority>``. Publishing never blocks or fails a call: events
are queued and a broker that is down costs only the lost events, which are logged.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import uuid

import aio_pika
import orjson

from .wire import utcnow

log = logging.getLogger(__name__)

TOPIC = "notifications"


def oslo_envelope(event_type: str, payload: dict, publisher_id: str,
                  context: dict | None = None, priority: str = "INFO") -> dict:
    """The message oslo.messaging's messaging driver sends for one notification."""
    message = {
        "message_id": str(uuid.uuid4()),
        "publisher_id": publisher_id,
        "event_type": event_type,
        "priority": priority,
        "payload": payload,
        "timestamp": utcnow().strftime("%Y-%m-%d %H:%M:%S.%f"),
    }
    for key, value in (context or {}).items():
        message["_context_" + key] = value
    return {"oslo.version": "2.0", "oslo.message": orjson.dumps(message).decode()}


class Notifier:
    """Queues notifications and publishes them in the background; a no-op when not enabled."""

    def __init__(self, url: str | None, cloud: str) -> None:
        self.url = url
        self.cloud = cloud
        self.host = f"{cloud}.{socket.gethostname()}"
        self._queue: asyncio.Queue[tuple[str, dict, str]] | None = None
        self._task: asyncio.Task | None = None
        self._connection: aio_pika.abc.AbstractRobustConnection | None = None

    @property
    def enabled(self) -> bool:
        return self.url is not None

    async def start(self) -> None:
        if self.enabled and self._task is None:
            self._queue = asyncio.Queue(maxsize=10_000)
            self._task = asyncio.create_task(self._publish_forever())

    async def stop(self) -> None:
        if self._task is not None:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._queue.join(), timeout=2)
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self._drop_connection()

    def emit(self, exchange: str, event_type: str, payload: dict, *, service: str,
             context: dict | None = None, priority: str = "INFO") -> None:
        """Queue one notification; ``service`` makes the publisher id (``volume.<host>``)."""
        if self._queue is None:
            return
        body = oslo_envelope(event_type, payload, f"{service}.{self.host}", context, priority)
        try:
            self._queue.put_nowait((exchange, body, priority.lower()))
        except asyncio.QueueFull:
            log.warning("notification queue full; dropped %s", event_type)

    async def _publish_forever(self) -> None:
        exchanges: dict[str, aio_pika.abc.AbstractExchange] = {}
        while True:
            exchange_name, body, priority = await self._queue.get()
            try:
                if self._connection is None or self._connection.is_closed:
                    self._connection = await aio_pika.connect_robust(self.url, timeout=5)
                    channel = await self._connection.channel()
                    exchanges.clear()
                if exchange_name not in exchanges:
                    exchanges[exchange_name] = await channel.declare_exchange(
                        exchange_name, aio_pika.ExchangeType.TOPIC, durable=False)
                await exchanges[exchange_name].publish(
                    aio_pika.Message(orjson.dumps(body), content_type="application/json"),
                    routing_key=f"{TOPIC}.{priority}")
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - a broker outage loses events, not calls
                log.warning("cloud %s could not publish to exchange %s: %s",
                            self.cloud, exchange_name, exc)
                await self._drop_connection()
            finally:
                self._queue.task_done()

    async def _drop_connection(self) -> None:
        """Closed, not just forgotten: a robust connection left open keeps reconnecting in
        tasks of its own, still pending when the loop ends."""
        connection, self._connection = self._connection, None
        if connection is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(connection.close(), timeout=2)
