"""Fixture of the controller tests: N simulated network controllers on loopback.

``controllers(n)`` starts ``n`` servers of one cluster (shared credentials, one deployment) on
an event loop in a thread of their own and answers a :class:`SimControllers` handle; they stop
when the test ends. The handle suits synchronous tests and, for quick calls, asynchronous ones.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from ocx.sim.controller import ClusterSpec, ControllerCluster, apply_faults, clear_faults
from ocx.sim.exchange import ExchangeThread


class SimControllers:
    """A running cluster of simulated controllers, seen from test code."""

    def __init__(self, runner: ExchangeThread, cluster: ControllerCluster) -> None:
        self.runner = runner
        self.cluster = cluster

    def call(self, coro, timeout: float = 30):
        """Run a coroutine on the controllers' event loop."""
        return self.runner.call(coro, timeout)

    @property
    def servers(self) -> list[str]:
        """``host:port`` of each server; ``",".join(...)`` is the ``servers=`` option."""
        return [s.server for s in self.cluster.servers]

    @property
    def urls(self) -> list[str]:
        return self.cluster.urls()

    @property
    def auth(self) -> str:
        return self.cluster.auth

    @property
    def user(self) -> str:
        return self.cluster.spec.user

    @property
    def password(self) -> str:
        return self.cluster.password

    @property
    def deployment_id(self) -> str | None:
        return self.cluster.spec.deployment_id

    def state(self, i: int) -> dict:
        """Server ``i``'s whole state: networks (with ports), routers, hash, running."""
        return self.call(self._on_loop(self.cluster[i].describe))

    def stop(self, i: int) -> None:
        self.call(self.cluster[i].stop())

    def start(self, i: int) -> None:
        self.call(self.cluster[i].start())

    def restart(self, i: int, empty: bool = True) -> None:
        self.call(self.cluster[i].restart(empty=empty))

    def fail(self, i: int, status: int = 503, count: int | None = None) -> None:
        """The next ``count`` requests (every one while ``count`` is None) answer ``status``."""
        self.call(self._on_loop(apply_faults, self.cluster[i],
                                {"status": status, "count": count}))

    def slow(self, i: int, ms: float) -> None:
        self.call(self._on_loop(apply_faults, self.cluster[i], {"latency_ms": ms}))

    def heal(self, i: int) -> None:
        self.call(self._on_loop(clear_faults, self.cluster[i]))

    def requests(self, i: int) -> list[tuple[str, str, int]]:
        """(method, path below the base URI, status) of every request server ``i`` received."""
        return self.call(self._on_loop(lambda: list(self.cluster[i].log)))

    @staticmethod
    async def _on_loop(fn, *args):
        return fn(*args)


@pytest.fixture
def controllers() -> Iterator[Callable[..., SimControllers]]:
    """``controllers(n=2, deployment_id=None, user="ocx")`` → a running :class:`SimControllers`."""
    runners: list[ExchangeThread] = []

    def make(n: int = 2, *, deployment_id: str | None = None, user: str = "ocx",
             seed: int | None = 11) -> SimControllers:
        cluster = ControllerCluster(ClusterSpec(count=n, user=user, deployment_id=deployment_id,
                                                seed=seed), name="ctl")
        runner = ExchangeThread(cluster)
        runner.__enter__()
        runners.append(runner)
        return SimControllers(runner, cluster)

    yield make
    for runner in reversed(runners):
        runner.__exit__(None, None, None)

