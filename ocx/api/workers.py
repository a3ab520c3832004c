"""Several gateway processes on one port, the way OpenStack's API services run ``workers``.

Each worker is a whole gateway (its own event loop, connection pools and caches) listening on
the same port with ``SO_REUSEPORT``, so the kernel spreads connections over them; they share
the mapping store (SQLite in WAL mode, or PostgreSQL). The parent only starts them, says when
all are ready, restarts one that dies, and stops them all on SIGTERM or SIGINT.
"""
from __future__ import annotations

import logging
import multiprocessing
import multiprocessing.connection
import os
import signal
import time
from collections.abc import Callable

log = logging.getLogger(__name__)

START_TIMEOUT = 120.0
RESTART_PAUSE = 1.0        # between restarts of a worker that keeps dying
STOP_TIMEOUT = 10.0       # past the workers' own grace (their calls in flight), to close


def _worker(config_path: str, index: int, ready) -> None:
    """One worker: the gateway until SIGTERM."""
    from .. import config
    from .server import run

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when to stop
    conf = config.load(config_path)
    # One worker listens to notifications (a restarted worker 0 listens again).
    try:
        run(conf, reuse_port=True, ready=lambda url: ready.put((index, url)),
            notifications=index == 0)
    except ValueError as exc:   # a configuration OCX cannot start with: one line
        log.error("worker %d cannot start: %s", index, exc)
        raise SystemExit(2) from None


class Workers:
    def __init__(self, config_path: str, count: int, grace: float = 0.0) -> None:
        self.config_path = config_path
        self.count = count
        # A stopping worker drains its calls in flight for ``grace`` seconds
        # (shutdown_grace_seconds) before closing: it is killed only past that.
        self.stop_timeout = grace + STOP_TIMEOUT
        self._terminated: set[int] = set()
        self.context = multiprocessing.get_context("spawn")  # no loop or threads inherited
        self.ready = self.context.Queue()
        self.processes: dict[int, multiprocessing.Process] = {}
        self.stopping = False

    def _start(self, index: int) -> None:
        process = self.context.Process(target=_worker, name=f"ocx-worker-{index}",
                                       args=(self.config_path, index, self.ready))
        process.start()
        self.processes[index] = process

    def run(self, announce: Callable[[str], None]) -> int:
        """Start the workers, ``announce(url)`` once all listen, and keep them running."""
        previous = {sig: signal.signal(sig, self._stop) for sig in (signal.SIGTERM,
                                                                     signal.SIGINT)}
        try:
            for index in range(self.count):
                self._start(index)
            url = self._wait_ready()
            if url is None:
                return 1
            announce(url)
            self._supervise()
            return 0
        finally:
            self._shutdown()
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _wait_ready(self) -> str | None:
        deadline, url, started = time.monotonic() + START_TIMEOUT, None, set()
        while len(started) < self.count and not self.stopping:
            if any(not p.is_alive() for p in self.processes.values()):
                log.error("a worker died while starting; see its log above")
                return None
            try:
                index, url = self.ready.get(timeout=0.2)
            except Exception:  # noqa: BLE001 - queue.Empty: keep waiting
                if time.monotonic() > deadline:
                    log.error("the workers did not start within %.0f s", START_TIMEOUT)
                    return None
                continue
            started.add(index)
        return url

    def _supervise(self) -> None:
        while not self.stopping:
            sentinels = {p.sentinel: i for i, p in self.processes.items()}
            for sentinel in multiprocessing.connection.wait(list(sentinels), timeout=1.0):
                if self.stopping:
                    break
                index = sentinels[sentinel]
                log.warning("worker %d exited with %s; starting it again", index,
                            self.processes[index].exitcode)
                time.sleep(RESTART_PAUSE)
                self._start(index)

    def _stop(self, signum, frame) -> None:
        self.stopping = True
        self._terminate()   # at once: the workers stop taking connections now

    def _terminate(self) -> None:
        """SIGTERM to each worker, once (a second one would cut its calls in flight)."""
        for process in self.processes.values():
            if process.is_alive() and process.pid not in self._terminated:
                self._terminated.add(process.pid)
                process.terminate()

    def _shutdown(self) -> None:
        self._terminate()
        deadline = time.monotonic() + self.stop_timeout
        for process in self.processes.values():
            process.join(max(0.0, deadline - time.monotonic()))
            if process.is_alive():
                os.kill(process.pid, signal.SIGKILL)
                process.join()
