"""What every fault test asserts of what the clients saw and of what the store holds."""
from __future__ import annotations

from collections import Counter
from collections.abc import Callable

from .conftest import CLIENT_TIMEOUT, World
from .traffic import Outcome, Traffic


def summary(outcomes: list[Outcome]) -> str:
    """The failures, counted by call, status and message (for assertion messages)."""
    counted = Counter((o.op, o.status, o.failure, o.message[:160]) for o in outcomes)
    return "\n".join(f"{n} x {key}" for key, n in counted.most_common(20))


def answered_in_time(traffic: Traffic, bound: float) -> None:
    """No call was left waiting: every one had an answer (none hit the client's timeout),
    and within ``bound`` seconds (OCX's own time limits)."""
    hung = [o for o in traffic.outcomes if o.failure == "timeout"]
    assert not hung, f"calls hung past the client's {CLIENT_TIMEOUT} s:\n{summary(hung)}"
    slow = [o for o in traffic.outcomes if o.seconds > bound]
    assert not slow, f"calls took longer than {bound} s:\n{summary(slow)}"


def only_explained(traffic: Traffic, explained: Callable[[Outcome], bool]) -> list[Outcome]:
    """Every failure is one the outage explains; the failures."""
    failed = traffic.failures()
    unexplained = [o for o in failed if not explained(o)]
    assert not unexplained, f"failures the outage does not explain:\n{summary(unexplained)}"
    return failed


def recovered(traffic: Traffic, since: float) -> None:
    """Once the dependency is back (and OCX had ``since`` to notice), every call succeeds."""
    after = traffic.since(since)
    assert len(after) > 10, "too few calls after the dependency came back to tell"
    failed = [o for o in after if not o.ok and o.status != 404]
    assert not failed, f"OCX did not recover by itself:\n{summary(failed)}"


def nothing_lost(world: World, traffic: Traffic) -> int:
    """Every volume whose create OCX answered 2xx (and that was never deleted) is mapped in
    the store to the cloud it was made in, and every token mapping a call to a service
    provider used is there; how many mappings were checked."""
    kept = traffic.kept()
    found, held = world.stored([("volumes", v) for v in kept], sorted(traffic.tokens))
    lost = {v: kept[v] for (_, v), m in found.items() if m is None}
    assert not lost, f"{len(lost)} of {len(kept)} acknowledged volume mappings lost: {lost}"
    wrong = {v: (m.provider, kept[v][0]) for (_, v), m in found.items()
             if m.provider != kept[v][0]}
    assert not wrong, f"mapped to the wrong cloud: {wrong}"
    gone = [key[1:] for key, m in held.items() if m is None]
    assert not gone, f"token mappings lost (project, provider): {gone}"
    return len(found) + len(held)
