"""Fixtures shared by every test: simulated clouds on loopback and real clients for them."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator

import openstack
import pytest

from ocx.sim.exchange import ExchangeThread, SimExchange, parse_clouds

# The exchange most tests need: a home cloud (the K2K identity provider) with every service,
# a service provider with every service, and one that offers only storage.
DEFAULT_CLOUDS = "idp,bu,nu=cinder+glance"


class Sim:
    """A running set of simulated clouds, seen from synchronous test code."""

    def __init__(self, runner: ExchangeThread, exchange: SimExchange) -> None:
        self.runner = runner
        self.exchange = exchange

    def cloud(self, name: str):
        return self.exchange[name]

    def call(self, coro, timeout: float = 60):
        """Run a coroutine on the clouds' event loop (to change faults, peek at state...)."""
        return self.runner.call(coro, timeout)

    def credentials(self, cloud: str, user: str = "demo") -> dict[str, str]:
        return self.exchange[cloud].keystone.demo_credentials()[user]

    def auth_args(self, cloud: str, user: str = "demo") -> dict[str, str]:
        creds = self.credentials(cloud, user)
        return {"auth_url": self.exchange[cloud].keystone.endpoint, "username": user,
                "password": creds["password"], "project_name": creds["project"],
                "user_domain_name": "Default", "project_domain_name": "Default"}

    def connect(self, cloud: str = "idp", user: str = "demo") -> openstack.connection.Connection:
        """An openstacksdk connection, exactly as a user would make one."""
        return openstack.connection.Connection(
            region_name=self.exchange[cloud].spec.region, identity_api_version="3",
            **self.auth_args(cloud, user))

    def osc(self, *args: str, cloud: str = "idp", user: str = "demo", check: bool = True):
        """Run the real ``openstack`` command against a cloud; JSON output is parsed."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
        env.update({f"OS_{k.upper()}": v for k, v in self.auth_args(cloud, user).items()})
        env.update(OS_IDENTITY_API_VERSION="3", OS_REGION_NAME=self.exchange[cloud].spec.region)
        cmd = [os.path.join(os.path.dirname(sys.executable), "openstack"), *args]
        if "-f" not in args and any(a in args for a in ("list", "show", "create", "issue")):
            cmd += ["-f", "json"]
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
        if check and proc.returncode != 0:
            raise AssertionError(f"openstack {' '.join(args)} failed:\n{proc.stderr}")
        if "-f" in cmd and proc.returncode == 0 and proc.stdout.strip():
            return json.loads(proc.stdout)
        return proc


def start_sim(clouds: str = DEFAULT_CLOUDS, **kwargs) -> Iterator[Sim]:
    exchange = SimExchange(parse_clouds(clouds, seed=7), **kwargs)
    runner = ExchangeThread(exchange)
    with runner:
        yield Sim(runner, exchange)


@pytest.fixture(scope="module")
def sim() -> Iterator[Sim]:
    """The default exchange, shared by the tests of one module."""
    yield from start_sim()


@pytest.fixture
def make_sim() -> Iterator[Callable[..., Sim]]:
    """Start an exchange of one's own (``make_sim("a,b=cinder")``); stopped after the test."""
    stack = []

    def make(clouds: str = DEFAULT_CLOUDS, **kwargs) -> Sim:
        gen = start_sim(clouds, **kwargs)
        stack.append(gen)
        return next(gen)

    yield make
    for gen in reversed(stack):
        gen.close()
