"""Clients calling OCX from several threads while a dependency fails, and what they saw.

Each thread is one user with an openstacksdk connection (a keystoneauth1 session with a
timeout, no retries) through OCX, and loops over a mix of calls: a volume created in one of
the clouds (``name@provider``), shown, listed, an older one shown again, now and then one
deleted; with ``port``, a (Gluon) port of the user's project shown too. Every call's outcome is kept (:class:`Outcome`): status, OCX's message, how long it
took, or the client-side failure (``timeout``: the client gave up waiting; ``connection``:
OCX could not be reached). A create answered 2xx is an acknowledged mapping
(:attr:`Traffic.created`), to be found in the store afterwards.
"""
from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from keystoneauth1 import exceptions as ks_exceptions

from .conftest import User

PROVIDERS = ("home", "sp1", "sp2")


@dataclass(frozen=True)
class Outcome:
    op: str
    user: str
    status: int | None          # None: no HTTP answer (see ``failure``)
    message: str
    started: float              # time.monotonic()
    seconds: float
    failure: str = ""           # "timeout", "connection" or ""

    @property
    def ok(self) -> bool:
        return self.status is not None and self.status < 400


def _message(response) -> str:
    try:
        document = response.json()
    except ValueError:
        return response.text[:300]
    if isinstance(document, dict):
        for value in document.values():
            if isinstance(value, dict):
                return str(value.get("message") or value.get("detail") or value)[:300]
    return str(document)[:300]


class Traffic:
    """``with Traffic(users) as traffic:`` calls until the block ends; ``traffic.outcomes``."""

    def __init__(self, users: tuple[User, ...], *, pause: float = 0.0,
                 providers: tuple[str, ...] = PROVIDERS,
                 port: tuple[str, str] | None = None) -> None:
        self.users = users
        self.pause = pause
        self.providers = providers
        self.port = port                                # (port id, project name)
        self.outcomes: list[Outcome] = []
        self.created: dict[str, tuple[str, str]] = {}   # volume id → (provider, user)
        self.deleted: set[str] = set()                  # a delete was sent (whatever came)
        self.tokens: set[tuple[str, str, str]] = set()  # (token, project id, provider) used
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.errors: list[BaseException] = []

    def __enter__(self) -> Traffic:
        for index, user in enumerate(self.users):
            thread = threading.Thread(target=self._run, args=(index, user), daemon=True,
                                      name=f"traffic-{user.name}")
            thread.start()
            self._threads.append(thread)
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(120)
        if self.errors:
            raise self.errors[0]

    # -- what the clients saw --------------------------------------------------------------

    def since(self, moment: float) -> list[Outcome]:
        return [o for o in self.outcomes if o.started >= moment]

    def between(self, start: float, end: float) -> list[Outcome]:
        return [o for o in self.outcomes if start <= o.started < end]

    def failures(self) -> list[Outcome]:
        return [o for o in self.outcomes if not o.ok and o.status != 404]

    def kept(self) -> dict[str, tuple[str, str]]:
        """Acknowledged creates never sent a delete: their mappings must be in the store."""
        return {v: p for v, p in self.created.items() if v not in self.deleted}

    # -- the clients -----------------------------------------------------------------------

    def _record(self, outcome: Outcome) -> None:
        with self._lock:
            self.outcomes.append(outcome)

    def _call(self, op: str, user: User, send: Callable[[], object]):
        started = time.monotonic()
        try:
            response = send()
        except ks_exceptions.ConnectTimeout as exc:
            self._record(Outcome(op, user.name, None, str(exc), started,
                                 time.monotonic() - started, "timeout"))
            return None
        except ks_exceptions.ConnectionError as exc:
            self._record(Outcome(op, user.name, None, str(exc), started,
                                 time.monotonic() - started, "connection"))
            return None
        outcome = Outcome(op, user.name, response.status_code,
                          "" if response.status_code < 400 else _message(response), started,
                          time.monotonic() - started)
        self._record(outcome)
        return response

    def _run(self, index: int, user: User) -> None:
        try:
            self._loop(index, user)
        except BaseException as exc:  # noqa: BLE001 - raised in the test by __exit__
            self.errors.append(exc)

    def _loop(self, index: int, user: User) -> None:
        conn = user.connect()
        volumes = conn.block_storage
        mine: list[str] = []
        providers = itertools.cycle(self.providers[index % len(self.providers):]
                                    + self.providers[:index % len(self.providers)])
        for turn in itertools.count():
            if self._stop.is_set():
                return
            provider = next(providers)
            made = self._call(f"create@{provider}", user, lambda: volumes.post(
                "/volumes", json={"volume": {"size": 1, "name": f"{user.name}-{turn}@{provider}"}},
                raise_exc=False))
            if made is not None and made.status_code == 202:
                volume_id = made.json()["volume"]["id"]
                with self._lock:
                    self.created[volume_id] = (provider, user.name)
                mine.append(volume_id)
                if provider != "home":
                    self.tokens.add((conn.session.get_token(), conn.current_project_id,
                                     provider))
                self._call("show", user, lambda: volumes.get(f"/volumes/{volume_id}",
                                                             raise_exc=False))
            self._call("list", user, lambda: volumes.get("/volumes?limit=5", raise_exc=False))
            if self.port is not None and self.port[1] == user.project:
                self._call("show-port", user, lambda: conn.network.get(
                    f"/ports/{self.port[0]}", raise_exc=False))
            if len(mine) > 2:
                older = mine[turn % (len(mine) - 1)]
                self._call("show-older", user, lambda: volumes.get(f"/volumes/{older}",
                                                                   raise_exc=False))
            if turn % 5 == 4 and len(mine) > 3:
                victim = mine.pop(0)
                with self._lock:
                    self.deleted.add(victim)
                self._call("delete", user, lambda: volumes.delete(f"/volumes/{victim}",
                                                                  raise_exc=False))
            if self.pause:
                self._stop.wait(self.pause)
