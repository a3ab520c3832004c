"""What happened in the last minutes, per worker, in memory: the status page's numbers.

Pure bookkeeping (the clock is given): per provider a ring of fixed time slots (calls, failed
calls, summed latency), and the last searches and K2K exchanges. Bounded whatever the load:
``SLOTS`` slots per provider and ``KEPT`` events of each kind; nothing here names a caller, a
project or a token.
"""
from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

SLOT_SECONDS = 10
SLOTS = 30          # 5 minutes of history per provider
KEPT = 20           # searches and exchanges remembered


@dataclass
class Slot:
    start: int = -1      # the slot's first second (epoch // SLOT_SECONDS * SLOT_SECONDS)
    calls: int = 0
    errors: int = 0      # no answer, or a 5xx
    seconds: float = 0.0

    @property
    def latency_ms(self) -> float | None:
        return self.seconds / self.calls * 1000 if self.calls else None

    @property
    def error_rate(self) -> float | None:
        return self.errors / self.calls if self.calls else None


@dataclass(frozen=True)
class Event:
    at: float
    kind: str            # "search" or "k2k"
    what: str            # a search's collection; an exchange's provider
    outcome: str         # found, not_found, failed; ok, failed
    provider: str | None
    seconds: float


class Recent:
    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self._rings: dict[str, list[Slot]] = {}
        self.searches: deque[Event] = deque(maxlen=KEPT)
        self.exchanges: deque[Event] = deque(maxlen=KEPT)

    def call(self, provider: str, seconds: float, failed: bool) -> None:
        """One call to ``provider`` took ``seconds``; ``failed``: no answer or a 5xx."""
        start = int(self.clock()) // SLOT_SECONDS * SLOT_SECONDS
        ring = self._rings.get(provider)
        if ring is None:
            ring = self._rings[provider] = [Slot() for _ in range(SLOTS)]
        slot = ring[start // SLOT_SECONDS % SLOTS]
        if slot.start != start:        # a slot of a past round: start it anew
            slot.start, slot.calls, slot.errors, slot.seconds = start, 0, 0, 0.0
        slot.calls += 1
        slot.errors += failed
        slot.seconds += seconds

    def search(self, collection: str, outcome: str, provider: str | None,
               seconds: float) -> None:
        self.searches.append(Event(self.clock(), "search", collection, outcome, provider,
                                   seconds))

    def exchange(self, provider: str, outcome: str, seconds: float) -> None:
        self.exchanges.append(Event(self.clock(), "k2k", provider, outcome, provider, seconds))

    def providers(self) -> list[str]:
        return sorted(self._rings)

    def series(self, provider: str) -> list[Slot]:
        """The last ``SLOTS`` slots of ``provider``, oldest first; an empty slot where no call
        was made (``start`` set, nothing counted)."""
        now = int(self.clock()) // SLOT_SECONDS * SLOT_SECONDS
        ring = {s.start: s for s in self._rings.get(provider, ())}
        starts = [now - SLOT_SECONDS * i for i in range(SLOTS - 1, -1, -1)]
        return [ring.get(start) or Slot(start) for start in starts]


# The worker's own: the executor, the token mapper and the status page share it.
RECENT = Recent()
