"""Which controller a call goes to, and what happens after its answer: a pure state machine.

- **Sticky primary**: calls go to the primary and stay there while it answers.
- A connection failure, a time-out or a 5xx **marks** the server failed and makes the next good
  server (in the configured order, wrapping round) the primary, so that the next call goes
  straight to it; the same call is tried there.
- A **503** (the controller is busy) is tried again on the same server up to ``retries`` times,
  waiting ``backoff``, then twice that, and so on; after that it counts as a failure.
- Failed servers are **probed** (``GET /health``, by the I/O side); one that answers returns to
  the pool as a standby (the primary stays where it is: sticky).
- A call tries each server at most once (503 retries aside). Good servers come first; a server
  marked failed is tried only when no good one is left untried (it may have come back before
  its probe), so a failed server is never picked while a good one exists.

:class:`Pool` is immutable: every change returns a new one. ``Pool.view()`` is what
``ocx providers`` shows.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

from .controller_config import Server

PRIMARY, STANDBY, FAILED = "primary", "standby", "failed"


@dataclass(frozen=True)
class ServerState:
    server: Server
    failed: bool = False
    since: float | None = None          # when it was last marked failed or back
    last_error: str | None = None


@dataclass(frozen=True)
class Pool:
    servers: tuple[ServerState, ...]
    primary: int = 0                    # index into servers

    @classmethod
    def of(cls, servers: tuple[Server, ...]) -> Pool:
        if not servers:
            raise ValueError("a controller pool needs at least one server")
        return cls(tuple(ServerState(s) for s in servers))

    def index(self, server: Server) -> int:
        for i, state in enumerate(self.servers):
            if state.server == server:
                return i
        raise KeyError(server)

    def state(self, server: Server) -> ServerState:
        return self.servers[self.index(server)]

    def ring(self) -> tuple[ServerState, ...]:
        """Every server, the primary first, then the configured order wrapping round."""
        n = len(self.servers)
        return tuple(self.servers[(self.primary + k) % n] for k in range(n))

    @property
    def good(self) -> tuple[Server, ...]:
        return tuple(s.server for s in self.ring() if not s.failed)

    @property
    def failed(self) -> tuple[Server, ...]:
        """The servers to probe."""
        return tuple(s.server for s in self.servers if s.failed)

    def view(self) -> list[dict]:
        """The servers in the order calls try them, with their state."""
        return [{"server": str(s.server),
                 "state": FAILED if s.failed else PRIMARY if k == 0 else STANDBY,
                 "since": s.since, "last_error": s.last_error}
                for k, s in enumerate(self.ring())]

    # -- changes --------------------------------------------------------------------------

    def answered(self, server: Server, at: float) -> Pool:
        """``server`` answered a call: it is good and, sticky, the primary."""
        i = self.index(server)
        return replace(self, servers=_set(self.servers, i, _back(self.servers[i], at)),
                       primary=i)

    def failure(self, server: Server, reason: str, at: float) -> Pool:
        """``server`` failed: marked, and the primary moves on when it was the primary."""
        i = self.index(server)
        servers = _set(self.servers, i, ServerState(server, True, at, reason))
        primary = self.primary
        if i == primary:
            n = len(servers)
            primary = next(((i + k) % n for k in range(1, n) if not servers[(i + k) % n].failed),
                           primary)
        return replace(self, servers=servers, primary=primary)

    def probed(self, server: Server, ok: bool, at: float, reason: str = "probe failed"
               ) -> Pool:
        """A probe of a failed server: one that answered is back in the pool (not primary,
        unless every other server is failed)."""
        i = self.index(server)
        if not ok:
            state = self.servers[i]
            return replace(self, servers=_set(self.servers, i, replace(
                state, failed=True, last_error=reason, since=state.since or at)))
        servers = _set(self.servers, i, _back(self.servers[i], at))
        primary = i if servers[self.primary].failed else self.primary
        return replace(self, servers=servers, primary=primary)


def _set(states: tuple[ServerState, ...], i: int, state: ServerState) -> tuple[ServerState, ...]:
    return states[:i] + (state,) + states[i + 1:]


def _back(state: ServerState, at: float) -> ServerState:
    return state if not state.failed else ServerState(state.server, False, at, state.last_error)


# -- one call ---------------------------------------------------------------------------------

OK, BUSY, FAILURE = "ok", "busy", "failure"


def classify(status: int | None) -> str:
    """An answer's meaning for redundancy: None (no answer: refused, reset, timed out) and
    5xx other than 503 are failures; 503 is busy; anything else is an answer the caller
    gets (a 4xx is the controller's verdict on the request, not a fault of the server)."""
    if status is None:
        return FAILURE
    if status == 503:
        return BUSY
    if status >= 500:
        return FAILURE
    return OK


@dataclass(frozen=True)
class Send:
    """Send the call to ``server`` after waiting ``delay`` seconds."""

    server: Server
    delay: float = 0.0


@dataclass(frozen=True)
class GiveUp:
    """No server accepted the call; ``reasons`` by server, in the order tried."""

    reasons: tuple[tuple[Server, str], ...]


@dataclass(frozen=True)
class Call:
    """One call's progress over the servers."""

    tried: tuple[tuple[Server, str], ...] = ()   # servers given up on, with why
    current: Server | None = None
    busy: int = 0                                # 503s in a row from ``current``
    done: bool = False


@dataclass(frozen=True)
class Policy:
    retries: int = 3          # 503 retries on one server
    backoff: float = 0.5      # first wait; doubles

    def next(self, pool: Pool, call: Call) -> Send | GiveUp:
        """Where the call goes now."""
        if call.current is not None and call.busy:
            return Send(call.current, self.backoff * 2 ** (call.busy - 1))
        given_up = {s for s, _ in call.tried}
        ordered = [s for s in pool.ring() if not s.failed] + [s for s in pool.ring() if s.failed]
        for state in ordered:
            if state.server not in given_up:
                return Send(state.server)
        return GiveUp(call.tried)

    def record(self, pool: Pool, call: Call, server: Server, status: int | None,
               reason: str, at: float) -> tuple[Pool, Call]:
        """``server`` answered ``status`` (None: no answer, ``reason`` says why)."""
        meaning = classify(status)
        if meaning == OK:
            return pool.answered(server, at), replace(call, current=server, busy=0, done=True)
        if meaning == BUSY:
            busy = (call.busy if call.current == server else 0) + 1
            if busy <= self.retries:
                return pool, replace(call, current=server, busy=busy)
            reason = f"503 after {self.retries} retries"
        elif status is not None:
            reason = f"answered {status}"
        return (pool.failure(server, reason, at),
                replace(call, tried=call.tried + ((server, reason),), current=None, busy=0))
