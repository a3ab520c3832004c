"""Dependencies of the fault tests' own, so that stopping one disturbs nobody else on the
machine (CI runs beside the services ``scripts/ensure-services`` starts):

- :class:`OwnPostgres`: a PostgreSQL cluster made with Debian's ``initdb`` in a temporary
  folder, on a free loopback port, trust authentication; stopped, started and frozen at will.
- :class:`OwnEtcd`: an ``etcd`` with its data in a temporary folder, on free loopback ports.
- :class:`OwnVhost`: a RabbitMQ virtual host of the test's own on the machine's broker;
  OCX's connections to it can be closed from the broker's side (``rabbitmqctl
  close_connection``), as a broker restart closes them, and the virtual host deleted and made
  again (what a broker that lost its state looks like).
"""
from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

RABBIT = os.environ.get("OCX_TEST_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def wait_until(check, what: str, timeout: float = 30.0, every: float = 0.05):
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(every)


class OwnPostgres:
    """A PostgreSQL server of the test's own (Debian's binaries, the newest installed).

    PostgreSQL refuses to run as root: then the cluster belongs to the ``postgres`` system
    user (the package makes it) and its commands run as that user.
    """

    def __init__(self) -> None:
        found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                       key=lambda p: int(Path(p).parent.parent.name))
        if not found:
            raise RuntimeError("no PostgreSQL server binaries under /usr/lib/postgresql "
                               "(scripts/ensure-services installs them)")
        self.bin = Path(found[-1]).parent
        self.port = free_port()
        self.home = Path(tempfile.mkdtemp(prefix="ocx-faults-pg-"))
        self.data = self.home / "data"
        self.log = self.home / "server.log"
        self.user = "postgres" if os.geteuid() == 0 else None
        if self.user:
            entry = pwd.getpwnam(self.user)
            os.chown(self.home, entry.pw_uid, entry.pw_gid)
        self._as_owner(["initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres",
                        "--no-sync", "-E", "UTF8"])

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _as_owner(self, argv: list[str], timeout: float = 60) -> None:
        command = [str(self.bin / argv[0]), *argv[1:]]
        if self.user:
            command = ["runuser", "-u", self.user, "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout,
                              cwd=self.home)
        if done.returncode:
            raise RuntimeError(f"{argv[0]} failed: {done.stderr or done.stdout}\n"
                               f"{self._log_tail()}")

    def _log_tail(self) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-10:])
        except OSError:
            return ""

    def start(self) -> None:
        options = (f"-p {self.port} -c listen_addresses=127.0.0.1 "
                   f"-c unix_socket_directories={self.home} -c fsync=on "
                   "-c max_connections=60")
        self._as_owner(["pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options,
                        "-w", "-t", "60", "start"])

    def stop(self, mode: str = "fast") -> None:
        """``fast``: every session is ended (what a restart by an operator does);
        ``immediate``: the server quits at once, as in a crash."""
        self._as_owner(["pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop"])

    def pids(self) -> list[int]:
        """The postmaster and every process it started."""
        head = int((self.data / "postmaster.pid").read_text().split()[0])
        found = [head]
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    stat = (entry / "stat").read_text()
                except OSError:
                    continue
                if int(stat.rsplit(")", 1)[1].split()[1]) == head:
                    found.append(int(entry.name))
        return found

    def freeze(self) -> list[int]:
        """Stop every server process (SIGSTOP): connections stay open and nothing answers,
        as with a server behind a dead network."""
        frozen = self.pids()
        for pid in frozen:
            os.kill(pid, signal.SIGSTOP)
        return frozen

    @staticmethod
    def thaw(frozen: list[int]) -> None:
        for pid in frozen:
            try:
                os.kill(pid, signal.SIGCONT)
            except ProcessLookupError:
                pass

    def destroy(self) -> None:
        try:
            if (self.data / "postmaster.pid").exists():
                self.stop("immediate")
        finally:
            shutil.rmtree(self.home, ignore_errors=True)


class OwnEtcd:
    """An etcd of the test's own on free loopback ports, its data in a temporary folder."""

    def __init__(self) -> None:
        if shutil.which("etcd") is None:
            raise RuntimeError("no etcd binary (scripts/ensure-services installs etcd-server)")
        self.data = Path(tempfile.mkdtemp(prefix="ocx-faults-etcd-"))
        self.client_port, self.peer_port = free_port(), free_port()
        self.url = f"http://127.0.0.1:{self.client_port}"
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        peer = f"http://127.0.0.1:{self.peer_port}"
        self.proc = subprocess.Popen(
            ["etcd", "--name", "ocx-faults", "--data-dir", str(self.data / "member"),
             "--listen-client-urls", self.url, "--advertise-client-urls", self.url,
             "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
             "--initial-cluster", f"ocx-faults={peer}"],
            stdout=subprocess.DEVNULL, stderr=open(self.data / "etcd.log", "ab"))
        wait_until(lambda: listening(self.client_port), "etcd to listen", 30)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None

    def destroy(self) -> None:
        self.stop()
        shutil.rmtree(self.data, ignore_errors=True)


def rabbitmqctl(*args: str, check: bool = True) -> str:
    done = subprocess.run(["rabbitmqctl", "-q", *args], capture_output=True, text=True,
                          timeout=60)
    if check and done.returncode:
        raise RuntimeError(f"rabbitmqctl {args[0]} failed: {done.stderr.strip()}")
    return done.stdout


class OwnVhost:
    """A virtual host of the test's own on the machine's RabbitMQ."""

    def __init__(self) -> None:
        self.name = f"ocx-faults-{uuid.uuid4().hex[:10]}"
        parts = urlsplit(RABBIT)
        self.url = urlunsplit((parts.scheme, parts.netloc, "/" + self.name, "", ""))
        self.make()

    def make(self) -> None:
        rabbitmqctl("add_vhost", self.name)
        rabbitmqctl("set_permissions", "-p", self.name, "guest", ".*", ".*", ".*")

    def delete(self) -> None:
        rabbitmqctl("delete_vhost", self.name, check=False)

    def connections(self, name_prefix: str) -> list[str]:
        """The broker's ids (Erlang pids) of the connections to this virtual host whose
        client-given name starts with ``name_prefix``."""
        out = rabbitmqctl("list_connections", "pid", "vhost", "client_properties")
        found = []
        for line in out.splitlines():
            fields = line.split("\t")
            if len(fields) >= 3 and fields[1] == self.name and \
                    f'"connection_name","{name_prefix}' in fields[2].replace("<<", '"') \
                    .replace(">>", '"'):
                found.append(fields[0])
        return found

    def close_connections(self, name_prefix: str, why: str) -> int:
        """Close them from the broker's side, as a broker going down does; how many."""
        closed = 0
        for pid in self.connections(name_prefix):
            rabbitmqctl("close_connection", pid, why, check=False)
            closed += 1
        return closed
