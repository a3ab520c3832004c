"""``ocx serve --workers 2``: an operator runs OCX as a process per core on one port, the way
OpenStack's API services run their workers; a worker that dies is replaced, and stopping OCX
stops them all."""
from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import start_sim

from .test_streaming import OcxProcess


def workers_of(pid: int) -> set[int]:
    """The pids of the processes whose parent is ``pid``."""
    children = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                children.add(int(entry.name))
    return children


def until(predicate, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)
    return value


@pytest.fixture(scope="module")
def two_workers(tmp_path_factory) -> Iterator[OcxProcess]:
    for sim in start_sim("home,sp1,sp2"):
        ocx = OcxProcess(sim, tmp_path_factory.mktemp("ocx-workers"), serve_args=("--workers",
                                                                                   "2"))
        try:
            yield ocx
        finally:
            ocx.stop()


def python_workers(ocx: OcxProcess) -> set[int]:
    # The spawn start method adds a resource tracker beside the workers: leave it out.
    found = set()
    for pid in workers_of(ocx.proc.pid):
        try:
            if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes():
                found.add(pid)
        except OSError:
            pass  # gone meanwhile
    return found


def test_two_workers_serve_one_port_and_share_what_they_learn(two_workers):
    assert two_workers.output().count("OCX ready: ") == 1
    assert len(python_workers(two_workers)) == 2
    conn = two_workers.connect()
    made = conn.block_storage.create_volume(size=1, name="on-two-workers")
    # Many calls, spread by the kernel over both workers: each finds the volume's mapping in
    # the shared store, whichever worker learned it.
    for _ in range(20):
        assert two_workers.connect().block_storage.get_volume(made.id).name == "on-two-workers"
    conn.block_storage.delete_volume(made.id)


def test_a_worker_that_dies_is_replaced(two_workers):
    before = python_workers(two_workers)
    victim = min(before)
    os.kill(victim, signal.SIGKILL)
    def replaced() -> set[int] | None:
        now = python_workers(two_workers)
        return now if len(now) == 2 and victim not in now else None

    after = until(replaced)
    assert after - before  # a new worker
    until(lambda: two_workers.output().count("starting it again") == 1)
    assert [v.name for v in two_workers.connect().block_storage.volumes()] is not None


def test_sigterm_stops_every_worker(tmp_path):
    for sim in start_sim("home"):
        ocx = OcxProcess(sim, tmp_path, serve_args=("--workers", "2"))
        workers = python_workers(ocx)
        assert len(workers) == 2
        ocx.proc.send_signal(signal.SIGTERM)
        assert ocx.proc.wait(20) == 0
        assert not any(Path(f"/proc/{pid}").exists() for pid in workers)
