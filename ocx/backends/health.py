"""Provider health: up, degraded or down, from what real calls and probes found.

Health is kept per provider *and service* (a provider whose Cinder is down still serves its
Nova); a provider's own state is read from its services'. :func:`step` is the state machine,
pure: a state and an event give the next state. :class:`HealthBook` holds the states and is
fed by the executor (every call's outcome) and the prober (``probe.py``); it does no I/O.

- A call answered (any status below 500) → up.
- A refused connection → down at once: nothing listens there.
- A time-out, a broken answer or a 5xx → degraded; ``down_after`` of them in a row → down.
- A probe that answers → up; one that does not → down.

A down service is not called (the executor refuses at once, naming it) until a probe finds
it answering.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace

from .. import metrics

UP, DEGRADED, DOWN = "up", "degraded", "down"


@dataclass(frozen=True)
class Answered:
    """A call (or a probe, ``probe``) got an answer."""

    at: float
    probe: bool = False


@dataclass(frozen=True)
class Failed:
    """A call (or a probe) got no usable answer; ``refused``: the connection was refused."""

    at: float
    reason: str
    refused: bool = False
    probe: bool = False


@dataclass(frozen=True)
class Health:
    state: str = UP
    since: float | None = None          # when it entered ``state`` (epoch seconds)
    last_error: str | None = None
    last_error_at: float | None = None
    failures: int = 0                   # failed calls in a row


def step(health: Health, event: Answered | Failed, *, down_after: int) -> Health:
    """The state after ``event``."""
    if isinstance(event, Answered):
        return _enter(replace(health, failures=0), UP, event.at)
    failures = health.failures + 1
    failed = replace(health, failures=failures, last_error=event.reason,
                     last_error_at=event.at)
    if event.refused or event.probe or failures >= down_after:
        return _enter(failed, DOWN, event.at)
    if health.state == DOWN:
        return failed  # stays down until a probe finds it answering
    return _enter(failed, DEGRADED, event.at)


def _enter(health: Health, state: str, at: float) -> Health:
    if health.state == state and health.since is not None:
        return health
    return replace(health, state=state, since=at)


def combined(states: Iterable[str]) -> str:
    """A provider's state from its services': down when every one is, up when every one is,
    degraded otherwise (up when none has been called yet)."""
    seen = set(states)
    if not seen or seen == {UP}:
        return UP
    return DOWN if seen == {DOWN} else DEGRADED


@dataclass(frozen=True)
class ServiceHealth:
    provider: str
    service: str
    health: Health
    url: str | None                     # what a probe asks: the service's root


class HealthBook:
    """The health of every (provider, service) OCX has called."""

    def __init__(self, *, down_after: int = 3, clock: Callable[[], float] = time.time) -> None:
        self.down_after = down_after
        self._clock = clock
        self._health: dict[tuple[str, str], Health] = {}
        self._urls: dict[tuple[str, str], str] = {}

    def answered(self, provider: str, service: str, *, probe: bool = False) -> None:
        key = (provider, service)
        current = self._health.get(key)
        if current is None or current.state != UP or current.failures:
            self._record(key, Answered(self._clock(), probe))

    def failed(self, provider: str, service: str, reason: str, *, refused: bool = False,
               probe: bool = False, url: str | None = None) -> None:
        key = (provider, service)
        if url:
            self._urls[key] = url
        self._record(key, Failed(self._clock(), reason, refused, probe))

    def _record(self, key: tuple[str, str], event: Answered | Failed) -> None:
        self._health[key] = step(self._health.get(key, Health(since=self._clock())), event,
                                 down_after=self.down_after)
        metrics.health(key[0], self.provider_state(key[0]))   # ocx_provider_health

    def refusal(self, provider: str, service: str) -> str | None:
        """Why a call to ``service`` of ``provider`` must not be made now, or None."""
        health = self._health.get((provider, service))
        if health is None or health.state != DOWN:
            return None
        return (f"is down since {_when(health.since)} (last error: {health.last_error}); "
                f"skipped until it answers again")

    def provider_state(self, provider: str) -> str:
        return combined(h.state for (p, _), h in self._health.items() if p == provider)

    def services(self, provider: str) -> list[ServiceHealth]:
        return [ServiceHealth(p, s, h, self._urls.get((p, s)))
                for (p, s), h in sorted(self._health.items()) if p == provider]

    def not_up(self) -> list[ServiceHealth]:
        """What the prober asks about."""
        return [ServiceHealth(p, s, h, self._urls.get((p, s)))
                for (p, s), h in self._health.items() if h.state != UP]

    def view(self, provider: str) -> dict:
        """A provider's health as the admin API and ``ocx providers`` show it."""
        services = self.services(provider)
        state = combined(s.health.state for s in services)
        last = max((s.health for s in services if s.health.last_error_at is not None),
                   key=lambda h: h.last_error_at, default=None)
        changed = [s.health.since for s in services
                   if s.health.state == state and s.health.since is not None]
        return {"state": state,
                "since": _when(min(changed)) if changed and state != UP else None,
                "last_error": last.last_error if last else None,
                "last_error_at": _when(last.last_error_at) if last else None,
                "services": {s.service: {"state": s.health.state,
                                         "since": _when(s.health.since),
                                         "last_error": s.health.last_error}
                             for s in services}}


def _when(epoch: float | None) -> str | None:
    if epoch is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))
