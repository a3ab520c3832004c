"""Starting, watching and stopping the clouds' processes.

Every service runs in a process group of its own, so that stopping it ends its workers too,
and only the groups started here are ever signalled.
"""
from __future__ import annotations

import ctypes
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path


def free_ports(count: int) -> list[int]:
    """Distinct free loopback ports (all held open until all are chosen)."""
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """In the child before exec: SIGTERM when the harness dies, even by SIGKILL, so that no
    service outlives a killed test run (Linux; tied to the thread that started it)."""
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def log_tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def run(argv: list[str], log: Path, *, cwd: Path, env: dict[str, str] | None = None,
        timeout: float = 600) -> None:
    """Run a set-up command to its end; its output goes to its log, and into the error."""
    with open(log, "ab") as out:
        proc = subprocess.run(argv, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT,
                              stdin=subprocess.DEVNULL, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv[:3])} failed ({proc.returncode}):\n{log_tail(log)}")


@dataclass
class Service:
    name: str
    proc: subprocess.Popen
    log: Path
    url: str | None = None                       # http://... or tcp://host:port
    ready: Callable[[], bool] | None = None      # another readiness test

    def answers(self) -> bool:
        if self.ready:
            return self.ready()
        if self.url.startswith("tcp://"):
            host, port = self.url[len("tcp://"):].rsplit(":", 1)
            return accepts(host, int(port))
        return answers(self.url)


@dataclass
class Supervisor:
    """The processes one harness started, in stages; stop() ends exactly those, the last
    stage first (Nova's services before the RabbitMQ they would wait for)."""

    stages: list[list[Service]] = field(default_factory=lambda: [[]])

    @property
    def services(self) -> list[Service]:
        return [service for stage in self.stages for service in stage]

    def next_stage(self) -> None:
        self.stages.append([])

    def start(self, name: str, argv: list[str], log: Path, *, cwd: Path,
              env: dict[str, str] | None = None, url: str | None = None,
              ready: Callable[[], bool] | None = None) -> Service:
        out = open(log, "ab")
        try:
            proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, start_new_session=True,
                                    preexec_fn=die_with_parent)
        finally:
            out.close()
        service = Service(name, proc, log, url, ready)
        self.stages[-1].append(service)
        return service

    def wait_ready(self, services: list[Service] | None = None, timeout: float = 180) -> None:
        """Wait until the services (all by default) answer; any of them exiting fails."""
        watched = self.services if services is None else services
        deadline = time.monotonic() + timeout
        pending = [s for s in watched if s.url or s.ready]
        while True:
            for service in watched:
                self.check_alive(service)
            pending = [s for s in pending if not s.answers()]
            if not pending:
                return
            if time.monotonic() > deadline:
                names = ", ".join(s.name for s in pending)
                raise RuntimeError(f"no answer within {timeout:.0f} s from {names}:\n"
                                   + log_tail(pending[0].log))
            time.sleep(0.25)

    def check_alive(self, service: Service) -> None:
        if service.proc.poll() is not None:
            raise RuntimeError(f"{service.name} exited ({service.proc.returncode}):\n"
                               + log_tail(service.log))

    def stop(self, grace: float = 10) -> None:
        """SIGTERM to each started process group, SIGKILL to those still there after grace."""
        while self.stages:
            stage = self.stages.pop()
            for service in stage:
                signal_group(service.proc, signal.SIGTERM)
            deadline = time.monotonic() + grace
            for service in stage:
                try:
                    service.proc.wait(max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    pass
                # Workers of a server may outlive their parent: the group goes in any case.
                signal_group(service.proc, signal.SIGKILL)
                try:
                    service.proc.wait(5)
                except subprocess.TimeoutExpired:
                    pass
        self.stages = [[]]

    def pids(self) -> list[int]:
        """Every live process of the started groups (for the memory figure)."""
        groups = {s.proc.pid for s in self.services}
        found = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    if os.getpgid(int(entry.name)) in groups:
                        found.append(int(entry.name))
                except OSError:
                    continue
        return found

    def memory_mib(self) -> float:
        """Proportional set size of all started processes, in MiB (shared pages split)."""
        total_kib = 0
        for pid in self.pids():
            try:
                for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                    if line.startswith("Pss:"):
                        total_kib += int(line.split()[1])
            except OSError:
                continue
        return total_kib / 1024


def signal_group(proc: subprocess.Popen, sig: int) -> None:
    """Signal the process group led by proc (it was started as a session leader)."""
    try:
        os.killpg(proc.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def accepts(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=2):
            return True
    except OSError:
        return False


# Loopback only: never through a proxy the environment may name.
DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def answers(url: str) -> bool:
    try:
        with DIRECT.open(url, timeout=2) as resp:
            return resp.status < 500
    except urllib.error.HTTPError as err:
        return err.code < 500
    except (OSError, ValueError):
        return False
