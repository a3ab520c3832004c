"""OCX in front of three simulated clouds (home, sp1, sp2) whose services publish their
notifications to a real RabbitMQ on loopback, each service provider to a broker of its own
(a virtual host of this test run: parallel runs never see each other's notifications), and
OCX listening to them (``listen_notifications = true``).

Virtual hosts are made with ``rabbitmqctl`` (the broker is local, as ``scripts/ensure-services``
starts it). home's notifications URL names a broker that is down: OCX must work regardless.
"""
from __future__ import annotations

import os
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

import aio_pika
import pytest
from aiohttp import web

from ocx import config
from ocx.api.server import gateway
from ocx.demo import clouds_yaml, free_port, gateway_config
from ocx.identity import ksa
from ocx.identity.catalog import register_ocx
from ocx.identity.validate import service_auth
from ocx.sim.exchange import ExchangeThread, SimExchange, parse_clouds
from ocx.sim.notify import Notifier
from ocx.store import MappingStore
from ocx.store.location import store_keys, store_url
from tests.conftest import Sim
from tests.integration.gateway.conftest import OcxEnv, _describe

RABBIT = os.environ.get("OCX_TEST_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/")
PROVIDERS = ("sp1", "sp2")
DOWN_BROKER = "amqp://guest:guest@127.0.0.1:1/"


def rabbitmqctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", "-q", *args], check=True, capture_output=True, timeout=60)


def vhost_url(vhost: str) -> str:
    parts = urlsplit(RABBIT)
    return urlunsplit((parts.scheme, parts.netloc, "/" + vhost, "", ""))


class NotifiedEnv(OcxEnv):
    def __init__(self, sim, url, conf, clouds, brokers: dict[str, str], path: str) -> None:
        super().__init__(sim, url, conf, clouds)
        self.brokers = brokers        # provider → its notifications URL
        self.config_path = path

    def mapping(self, resource_type: str, resource_id: str):
        """The mapping as the store holds it now (a store of our own: no cache)."""
        async def read():
            store = await MappingStore.open(store_url(self.conf), store_keys(self.conf),
                                            cache_size=0)
            try:
                return (await store.get_resource_mapping(resource_type, resource_id),
                        await store.notified.last_event(resource_type, resource_id))
            finally:
                await store.close()
        return self.sim.call(read())


async def consumers(url: str, queue: str) -> int:
    """Consumers of a queue (0 when it is not there yet)."""
    connection = await aio_pika.connect(url, timeout=10)
    try:
        channel = await connection.channel()
        try:
            declared = await channel.declare_queue(queue, passive=True)
        except aio_pika.exceptions.ChannelClosed:
            return 0
        return declared.declaration_result.consumer_count
    finally:
        await connection.close()


def wait_for(check, what: str, timeout: float = 30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture(scope="module")
def vhosts() -> Iterator[dict[str, str]]:
    run = uuid.uuid4().hex[:10]
    made = {p: f"ocx-test-{run}-{p}" for p in PROVIDERS}
    try:
        for vhost in made.values():
            rabbitmqctl("add_vhost", vhost)
            rabbitmqctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
        yield {p: vhost_url(v) for p, v in made.items()}
    finally:
        for vhost in made.values():
            subprocess.run(["rabbitmqctl", "-q", "delete_vhost", vhost], capture_output=True,
                           timeout=60)


@pytest.fixture(scope="module")
def notified(vhosts) -> Iterator[NotifiedEnv]:
    exchange = SimExchange(parse_clouds("home,sp1,sp2", seed=7))
    for provider, url in vhosts.items():
        exchange[provider].notifier = Notifier(url, provider)
    runner = ExchangeThread(exchange)
    with runner, tempfile.TemporaryDirectory(prefix="ocx-test-") as state:
        sim = Sim(runner, exchange)
        described = _describe(sim)
        path = os.path.join(state, "ocx.conf")
        text = gateway_config(described, free_port(), state).replace(
            "[DEFAULT]\n", "[DEFAULT]\nlisten_notifications = true\n", 1)
        text += f"notifications_url = {DOWN_BROKER}\n"    # in [keystone]: home's broker
        for provider, url in vhosts.items():
            text += f"\n[provider:{provider}]\nnotifications_url = {url}\n"
        text += "\n[notifications]\nreconnect_max = 2\n"
        with open(path, "w") as f:
            f.write(text)
        conf = config.load(path)
        url = config.public_url(conf)

        async def start():
            context = gateway(conf)
            app = await context.__aenter__()
            app_runner = web.AppRunner(app, access_log=None)
            await app_runner.setup()
            await web.TCPSite(app_runner, conf.bind_host, conf.bind_port).start()
            await register_ocx(ksa.session(10, service_auth(conf)), conf.keystone.auth_url, url)
            return context, app_runner

        context, app_runner = sim.call(start())
        try:
            for broker in vhosts.values():   # OCX's queue is bound: nothing sent now is lost
                wait_for(lambda: sim.call(consumers(broker, "ocx-notifications")),
                         "OCX to consume on each provider's broker")
            yield NotifiedEnv(sim, url, conf, clouds_yaml(described, url), vhosts, path)
        finally:
            async def stop():
                await app_runner.cleanup()
                await context.__aexit__(None, None, None)
            sim.call(stop())
