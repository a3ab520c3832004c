"""With real RabbitMQ: a resource made directly in a service provider, not through OCX, is
known to OCX once its notification arrives, so that OCX asks only the cloud that holds it; its
deletion forgets it; a malformed notification is skipped and the next one still applied."""
from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import uuid

import aio_pika
import orjson
import pytest

from ocx.sim.notify import oslo_envelope
from tests.integration.notifications.conftest import wait_for

SECRET = "gAAAAAB-a-token-that-must-never-be-logged"


def volume_mapping(env, volume_id: str):
    return env.mapping("volumes", volume_id)[0]


def cinder_calls(env, cloud: str) -> dict:
    return env.calls(cloud).get("cinder", {})


def test_a_volume_made_directly_in_a_provider_is_found_without_a_search(notified):
    ocx, sp2 = notified.connect("ocx"), notified.connect("sp2")
    list(ocx.block_storage.volumes())            # the client has found OCX's endpoints

    volume = sp2.block_storage.create_volume(size=1, name="made-in-sp2")
    mapping = wait_for(lambda: volume_mapping(notified, volume.id), "the volume's mapping")
    assert (mapping.provider, mapping.remote_project, mapping.source) == (
        "sp2", sp2.current_project_id, "notification")

    notified.reset_calls()
    shown = ocx.block_storage.get_volume(volume.id)

    assert (shown.id, shown.name) == (volume.id, "made-in-sp2")
    assert cinder_calls(notified, "sp2") == {"GET": 1}
    assert cinder_calls(notified, "sp1") == {} and cinder_calls(notified, "home") == {}

    sp2.block_storage.delete_volume(volume.id)
    wait_for(lambda: volume_mapping(notified, volume.id) is None, "the mapping to go")
    _, tombstone = notified.mapping("volumes", volume.id)
    assert tombstone.deleted and tombstone.provider == "sp2"


def test_each_provider_is_the_one_whose_broker_told(notified):
    sp1 = notified.connect("sp1")
    volume = sp1.block_storage.create_volume(size=1, name="made-in-sp1")
    network = sp1.network.create_network(name="made-in-sp1")

    assert wait_for(lambda: volume_mapping(notified, volume.id), "volume").provider == "sp1"
    found = wait_for(lambda: notified.mapping("networks", network.id)[0], "network")
    assert (found.provider, found.remote_project) == ("sp1", sp1.current_project_id)

    sp1.network.delete_network(network.id)
    wait_for(lambda: notified.mapping("networks", network.id)[0] is None, "network gone")


async def _publish(url: str, body: bytes) -> None:
    connection = await aio_pika.connect(url, timeout=10)
    try:
        channel = await connection.channel()
        exchange = await channel.declare_exchange("cinder", aio_pika.ExchangeType.TOPIC,
                                                  durable=False)
        await exchange.publish(aio_pika.Message(body), routing_key="notifications.info")
    finally:
        await connection.close()


async def _waiting(url: str, queue: str) -> int:
    connection = await aio_pika.connect(url, timeout=10)
    try:
        declared = await (await connection.channel()).declare_queue(queue, passive=True)
        return declared.declaration_result.message_count
    finally:
        await connection.close()


def test_a_malformed_notification_is_skipped_and_the_next_one_applied(notified, caplog):
    caplog.set_level(logging.INFO, logger="ocx.learn")
    broken = oslo_envelope("volume.create.end", {"tenant_id": "p", "volume_id": 42},
                           "volume.sp2", {"auth_token": SECRET})
    for body in (b"{not json at all", orjson.dumps(broken)):
        notified.sim.call(_publish(notified.brokers["sp2"], body))

    volume = notified.connect("sp2").block_storage.create_volume(size=1, name="after")

    assert wait_for(lambda: volume_mapping(notified, volume.id), "the good one").provider \
        == "sp2"
    assert notified.sim.call(_waiting(notified.brokers["sp2"], "ocx-notifications")) == 0
    skipped = [r.getMessage() for r in caplog.records if "malformed:" in r.getMessage()]
    assert len(skipped) == 2 and "volume_id" in skipped[1]
    assert SECRET not in caplog.text


def test_a_broker_that_is_down_does_not_stop_ocx(notified, caplog):
    # home's broker (port 1) refuses every connection: OCX keeps trying, and serves.
    caplog.set_level(logging.WARNING, logger="ocx.learn")
    wait_for(lambda: "notifications of home: broker 127.0.0.1:1/ unreachable" in caplog.text,
             "another try at home's broker", timeout=15)
    assert [v.name for v in notified.connect("ocx").block_storage.volumes(name="after")]


def test_ocx_listen_stops_cleanly_on_sigterm(notified, tmp_path):
    # A listener process of its own: its own store and queue, sp1's broker.
    queue = f"ocx-listen-{uuid.uuid4().hex[:8]}"
    conf = tmp_path / "listen.conf"
    conf.write_text(
        f"[DEFAULT]\nstate_dir = {tmp_path}\nproviders = sp1\n\n"
        f"[provider:sp1]\nnotifications_url = {notified.brokers['sp1']}\n\n"
        f"[notifications]\nqueue = {queue}\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
    proc = subprocess.Popen([sys.executable, "-m", "ocx.cli", "listen", "--config", str(conf)],
                            stderr=subprocess.PIPE, text=True, env=env)
    try:
        lines = []
        while not any(f"listening on queue {queue}" in line for line in lines):
            line = proc.stderr.readline()
            assert line, f"ocx listen ended: {''.join(lines)}"
            lines.append(line)
        volume = notified.connect("sp1").block_storage.create_volume(size=1, name="heard")
        while not any(f"mapped volumes {volume.id}" in line for line in lines):
            line = proc.stderr.readline()
            assert line, f"ocx listen ended: {''.join(lines)}"
            lines.append(line)
        proc.send_signal(signal.SIGTERM)
        rest = proc.communicate(timeout=30)[1]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, rest
    assert "notification listener stopped" in rest and "Traceback" not in rest


pytestmark = pytest.mark.timeout(180)
