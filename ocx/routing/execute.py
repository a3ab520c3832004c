"""Execute: send a planned call to its providers, concurrently and within time limits.

The executor decides nothing: the plan says where, the credentials say with what. A search asks
every provider for the resource at once; a provider's 404 is an answer, a provider that cannot
be reached is an outcome, and neither stops the others.
"""
from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass
from typing import TypeVar

import aiohttp
from multidict import MultiDict, MultiDictProxy

from .. import metrics
from ..backends.base import (
    Credentials,
    Provider,
    ProviderFailure,
    ProviderResponse,
    ProviderTimeout,
    ProviderUnreachable,
    ServiceNotOffered,
)
from ..call import ApiRequest

T = TypeVar("T")


@dataclass(frozen=True)
class Outcome:
    """What one provider did in a search: answered with a status, or failed to answer."""

    provider: str
    status: int | None = None
    failure: str | None = None
    absent: bool = False      # cannot hold the resource: no such service, no project there

    def describe(self) -> str:
        return f"{self.provider}: {self.failure or self.status}"


class SearchFailed(Exception):
    """No provider could say it has the resource: some could not be asked (or none holds the
    service at all, ``not_found``)."""

    def __init__(self, outcomes: list[Outcome]) -> None:
        super().__init__("; ".join(o.describe() for o in outcomes))
        self.outcomes = outcomes

    @property
    def not_found(self) -> bool:
        return all(o.status == 404 or o.absent for o in self.outcomes)


def locator(request: ApiRequest) -> ApiRequest:
    """The GET that finds where a resource lives: the call itself when it is that GET."""
    if request.method in ("GET", "HEAD") and not request.subpath:
        return request
    return request.replace(method="GET", subpath=(), body=None,
                           query=MultiDictProxy(MultiDict()))


class RenewedMidStream(ProviderFailure):
    """The provider refused the token OCX holds there; a new one is made, but the call's body
    was a stream already spent: the caller sends it again."""

    status = 503


class Executor:
    """``health`` (backends.health.HealthBook): fed every call's outcome; a service it says is
    down is not called. ``healer`` (identity.heal.HealingMapper): ``renew(provider,
    credentials)`` on a provider's 401, for a token OCX made there."""

    def __init__(self, session: aiohttp.ClientSession, providers: Mapping[str, Provider], *,
                 connect_timeout: float, call_timeout: float, health=None,
                 healer=None) -> None:
        self.session = session
        self.providers = providers
        # sock_read limits the wait for each chunk, not the whole (streamed) body.
        self.timeout = aiohttp.ClientTimeout(total=None, sock_connect=connect_timeout,
                                             sock_read=call_timeout)
        self.health = health
        self.healer = healer
        self._stragglers: set[asyncio.Task] = set()   # searches' losers, still answering

    def is_down(self, provider: str) -> bool:
        """Every service of ``provider`` OCX has called is down: it is skipped at once."""
        return self.health is not None and self.health.provider_state(provider) == "down"

    async def send(self, provider: str, request: ApiRequest, credentials: Credentials,
                   body=None, method: str | None = None) -> ProviderResponse:
        target = self.providers[provider]
        if self._tracked(target):
            refusal = self.health.refusal(provider, request.service)
            if refusal is not None:
                raise ProviderUnreachable(provider, refusal)
        answer = await self._send(target, request, credentials, body, method)
        if answer.status != 401 or self.healer is None:
            return answer
        # A 401 of a token OCX made there (not the caller's own): a new one, and once again.
        try:
            renewed = await self.healer.renew(provider, credentials)
        except Exception as exc:  # noqa: BLE001 - K2K failures and the like, described
            answer.release()
            raise ProviderFailure(provider, f"refused the token OCX holds there, and no new "
                                            f"one could be had ({_reason(exc)})") from None
        if renewed is None:
            return answer
        answer.release()
        if body is not None and not isinstance(body, (bytes, bytearray)):
            raise RenewedMidStream(provider, "refused the token OCX held there; a new one is "
                                             "made: send the call again")
        return await self._send(target, request, renewed, body, method)

    def _tracked(self, target: Provider) -> bool:
        """A provider the health book follows: not one that keeps its own servers' health
        (a controller provider answers reads from OCX's store with every server down)."""
        return self.health is not None and not getattr(target, "own_health", False)

    async def _send(self, target: Provider, request: ApiRequest, credentials: Credentials,
                    body, method: str | None) -> ProviderResponse:
        """One call, its outcome told to the health book and counted (``ocx.metrics``)."""
        started = time.monotonic()
        try:
            answer = await target.send(self.session, request, credentials, body=body,
                                       timeout=self.timeout, method=method)
        except ServiceNotOffered:
            raise
        except ProviderFailure as exc:
            metrics.provider_call(target.name, request.service, method or request.method,
                                  None, time.monotonic() - started)
            if self._tracked(target):
                self.health.failed(target.name, request.service, exc.reason,
                                   refused=isinstance(exc, ProviderUnreachable),
                                   url=target.root(request.service, credentials))
            raise
        metrics.provider_call(target.name, request.service, method or request.method,
                              answer.status, time.monotonic() - started)
        if self._tracked(target):
            if answer.status >= 500:
                self.health.failed(target.name, request.service,
                                   f"answered HTTP {answer.status}", url=answer.root)
            else:
                self.health.answered(target.name, request.service)
        return answer

    async def search(self, request: ApiRequest, credentials: Mapping[str, Credentials | Outcome],
                     *, by_arrival: bool, body=None) -> ProviderResponse:
        """Find the provider that has the resource: the first 2xx wins.

        ``by_arrival``: the first to answer 2xx wins (ids unique across clouds); otherwise the
        first 2xx in provider order wins (resources every cloud has, such as flavors).
        ``credentials`` holds an :class:`Outcome` for a provider that could not be credited.
        When no provider has it (each answered 404 or cannot hold it), the answer is the first
        such provider's own 404 to the call itself, as the service words it for that call.
        Raises :class:`SearchFailed` when some provider could not be asked, or none answered.
        """
        started = time.monotonic()
        probe = locator(request)
        outcomes: dict[str, Outcome] = {
            name: c for name, c in credentials.items() if isinstance(c, Outcome)}
        tasks = {asyncio.create_task(self.send(name, probe, c)): name
                 for name, c in credentials.items() if not isinstance(c, Outcome)}
        order = [name for name in credentials if name not in outcomes]
        answers: dict[str, ProviderResponse] = {}
        winner: ProviderResponse | None = None
        kept: ProviderResponse | None = None
        pending = set(tasks)
        try:
            while pending and winner is None:
                done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    name = tasks[task]
                    try:
                        answer = task.result()
                    except ServiceNotOffered as exc:
                        outcomes[name] = Outcome(name, failure=exc.reason, absent=True)
                        continue
                    except ProviderFailure as exc:
                        outcomes[name] = Outcome(name, failure=exc.reason)
                        continue
                    outcomes[name] = Outcome(name, status=answer.status)
                    answers[name] = answer
                winner = self._winner(order, answers, outcomes, by_arrival)
            kept = winner or self._not_found(order, answers, outcomes)
        finally:
            for task in pending:
                # A loser still answering is let finish: cancelling it would close its
                # keep-alive connection, and the next call would open a new one.
                self._stragglers.add(task)
                task.add_done_callback(self._let_go)
            for answer in answers.values():
                if answer is not kept:
                    answer.release()
        seconds = time.monotonic() - started
        if kept is None:
            failed = SearchFailed([outcomes[name] for name in credentials])
            metrics.search(request.collection, "not_found" if failed.not_found else "failed",
                           None, seconds)
            raise failed
        metrics.search(request.collection, "found" if kept.ok else "not_found",
                       kept.provider if kept.ok else None, seconds)
        if probe is request:
            return kept
        kept.release()
        return await self.send(kept.provider, request, credentials[kept.provider], body)

    @staticmethod
    def _not_found(order: list[str], answers: dict[str, ProviderResponse],
                   outcomes: dict[str, Outcome]) -> ProviderResponse | None:
        """The first 404 in provider order, when no provider has the resource."""
        if not all(o.status == 404 or o.absent for o in outcomes.values()):
            return None
        return next((answers[name] for name in order
                     if name in answers and answers[name].status == 404), None)

    def _let_go(self, task: asyncio.Task) -> None:
        self._stragglers.discard(task)
        if not task.cancelled() and task.exception() is None:
            task.result().release()

    @staticmethod
    def _winner(order: list[str], answers: dict[str, ProviderResponse],
                outcomes: dict[str, Outcome], by_arrival: bool) -> ProviderResponse | None:
        if by_arrival:
            return next((a for a in answers.values() if a.ok), None)
        for name in order:  # the first provider in order that has answered 2xx...
            if name not in outcomes:
                return None  # ...but only once every provider before it has answered
            if name in answers and answers[name].ok:
                return answers[name]
        return None


def _reason(failure: Exception) -> str:
    return getattr(failure, "reason", None) or type(failure).__name__


async def gather(calls: Mapping[str, Awaitable[T]], deadline: float
                 ) -> dict[str, T | ProviderFailure]:
    """Run ``calls`` (one per provider) at once until ``deadline`` (the loop's clock).

    What a provider answered, or the failure that kept it from answering: a provider that has
    not answered by the deadline is cancelled and given a :class:`ProviderTimeout`.
    """
    loop = asyncio.get_running_loop()
    tasks = {name: asyncio.ensure_future(call) for name, call in calls.items()}
    if not tasks:
        return {}
    _, pending = await asyncio.wait(tasks.values(), timeout=max(0.0, deadline - loop.time()))
    for task in pending:
        task.cancel()
    results: dict[str, T | ProviderFailure] = {}
    for name, task in tasks.items():
        if task in pending:
            results[name] = ProviderTimeout(name, "did not answer in time")
            continue
        try:
            results[name] = task.result()
        except ProviderFailure as exc:
            results[name] = exc
    if pending:
        await asyncio.gather(*pending, return_exceptions=True)  # let them close their sockets
    return results
