"""Simulated services publish oslo-format notifications to a real RabbitMQ."""
from __future__ import annotations

import asyncio
import os
import uuid

import aio_pika
import orjson
import pytest

RABBIT = os.environ.get("OCX_TEST_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/")


async def _listen(exchange_name: str, queue_name: str):
    connection = await aio_pika.connect_robust(RABBIT, timeout=10)
    channel = await connection.channel()
    exchange = await channel.declare_exchange(exchange_name, aio_pika.ExchangeType.TOPIC,
                                              durable=False)
    queue = await channel.declare_queue(queue_name, auto_delete=True)
    await queue.bind(exchange, routing_key="notifications.*")
    return connection, queue


async def _collect(queue, event_type: str, volume_id: str, timeout: float = 15):
    """The first ``event_type`` about ``volume_id`` (the exchange is shared with other runs)."""
    async def first():
        async with queue.iterator() as messages:
            async for message in messages:
                async with message.process():
                    envelope = orjson.loads(message.body)
                    inner = orjson.loads(envelope["oslo.message"])
                    if inner["event_type"] == event_type \
                            and inner["payload"].get("volume_id") == volume_id:
                        return envelope, inner, message.routing_key
    return await asyncio.wait_for(first(), timeout)


def test_creating_a_volume_publishes_oslo_notifications(make_sim):
    sim = make_sim("n=cinder", notifications_url=RABBIT)
    # Cinder sets no control_exchange: it notifies on oslo.messaging's default exchange.
    connection, queue = sim.call(_listen("openstack", f"ocx-test-{uuid.uuid4().hex}"))
    try:
        conn = sim.connect("n")
        volume = conn.block_storage.create_volume(size=1, name="notified")
        envelope, message, routing_key = sim.call(_collect(queue, "volume.create.end", volume.id))
        assert envelope["oslo.version"] == "2.0"
        assert routing_key == "notifications.info"
        assert message["priority"] == "INFO"
        assert message["publisher_id"].startswith("volume.")
        assert message["payload"]["volume_id"] == volume.id
        assert message["payload"]["tenant_id"] == conn.current_project_id
    finally:
        sim.call(connection.close())


def test_a_broker_that_is_down_costs_only_the_events(make_sim):
    sim = make_sim("n=cinder", notifications_url="amqp://guest:guest@127.0.0.1:1/")
    conn = sim.connect("n")
    volume = conn.block_storage.create_volume(size=1, name="unheard")
    assert conn.block_storage.wait_for_status(volume, "available", wait=30).status == "available"


pytestmark = pytest.mark.timeout(120)
