"""RabbitMQ going away under OCX's notification listener (in worker 0), while users call OCX.

sp1's services publish their notifications to a virtual host of the test's own. Its broker
first drops OCX's connection (what clients see when a broker restarts: ``CONNECTION_FORCED``),
then loses everything (the virtual host deleted, its queues and exchanges with it, and made
again). A volume made directly in sp1, in a project of sp1's own that no listing through
OCX shows, after each event is learned from its notification alone; the calls through OCX
never notice.
"""
from __future__ import annotations

import time

import openstack

from tests.integration.notifications.conftest import consumers

from . import checks
from .conftest import OCX_LIMITS
from .services import wait_until
from .traffic import Traffic

QUEUE = "ocx-notifications"


def notified_mapping(world, volume_id: str):
    found, _ = world.stored([("volumes", volume_id)])
    mapping = found[("volumes", volume_id)]
    return mapping if mapping is not None and mapping.source == "notification" else None


def made_directly(sp1: openstack.connection.Connection, name: str) -> str:
    return sp1.block_storage.create_volume(size=1, name=name).id


def test_notifications_are_learned_again_after_the_broker_drops_ocx_and_loses_its_state(
        world):
    sp1 = world.local_user("sp1", "sp1-ops")
    listening = lambda: world.sim.call(consumers(world.vhost.url, QUEUE))  # noqa: E731
    wait_until(listening, "OCX to consume sp1's notifications")
    with Traffic(world.users, providers=("sp1", "sp2")) as traffic:
        first = made_directly(sp1, "before")
        assert wait_until(lambda: notified_mapping(world, first), "the first notification",
                          20).provider == "sp1"

        # The broker closes OCX's connection; what is published meanwhile waits in OCX's
        # durable queue and is learned once OCX is back.
        assert world.vhost.close_connections("ocx-listen-sp1", "broker restarting") == 1
        second = made_directly(sp1, "while-away")
        assert wait_until(lambda: notified_mapping(world, second), "a notification sent "
                          "while OCX was disconnected", 30).provider == "sp1"

        # The broker loses its state: OCX declares its queue and bindings again.
        world.vhost.delete()
        time.sleep(1)
        world.vhost.make()
        wait_until(listening, "OCX to listen again on the broker that lost its state", 30)
        third = made_directly(sp1, "after-loss")
        assert wait_until(lambda: notified_mapping(world, third), "a notification sent "
                          "after the broker came back", 30).provider == "sp1"
    checks.answered_in_time(traffic, OCX_LIMITS["call_timeout"])
    checks.only_explained(traffic, lambda outcome: False)   # the broker serves no call
    checks.nothing_lost(world, traffic)
    log = world.ocx.output()
    assert "notifications of sp1: lost broker" in log or \
        "notifications of sp1: broker 127.0.0.1:5672" in log
