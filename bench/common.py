"""What the benchmarks share: simulated clouds and OCX as child processes, tokens, faults,
and a load generator that reports latency percentiles and throughput.

Every process a benchmark starts is a :class:`Children` member and is stopped on the way out,
whatever the way out is (an error, Ctrl-C, SIGTERM); on Linux a child also dies with its
parent, so that not even a SIGKILL of the benchmark leaves one behind.
"""
from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import math
import os
import re
import signal
import statistics
import sys
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import orjson

from ocx import config
from ocx.demo import free_port, gateway_config

VOLUME_TYPES = ("block-storage", "volumev3", "volume")   # the catalog types of Cinder v3
STARTUP_SECONDS = 60
STOP_SECONDS = 10

# -- child processes ---------------------------------------------------------------------------

_PR_SET_PDEATHSIG = 1
_LIBC = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True) \
    if sys.platform.startswith("linux") else None


def _die_with_parent() -> None:
    """Runs in the child before exec: the kernel sends it SIGTERM when the benchmark dies."""
    if _LIBC is not None:
        _LIBC.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


@dataclass
class Child:
    name: str
    proc: asyncio.subprocess.Process
    log: Path
    stop_signal: int

    @property
    def pid(self) -> int:
        return self.proc.pid

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


class Children:
    """The processes a benchmark started; ``stop_all`` ends them, newest first."""

    def __init__(self, logs: Path) -> None:
        self.logs = logs
        self.running: list[Child] = []

    async def spawn(self, name: str, *argv: str, stdout=asyncio.subprocess.DEVNULL,
                    stop_signal: int = signal.SIGTERM) -> Child:
        log = self.logs / f"{name}.log"
        with open(log, "wb") as stderr:
            proc = await asyncio.create_subprocess_exec(
                *argv, stdout=stdout, stderr=stderr, stdin=asyncio.subprocess.DEVNULL,
                # Out of the terminal's process group: Ctrl-C reaches the benchmark alone,
                # which stops its children in order rather than see them vanish under it.
                start_new_session=True, preexec_fn=_die_with_parent)
        child = Child(name, proc, log, stop_signal)
        self.running.append(child)
        return child

    async def run(self, name: str, *argv: str, env: dict | None = None,
                  timeout: float = 600) -> tuple[int, bytes]:
        """Run a short-lived child to its end: (exit status, its stdout). Stopped like the
        others if the benchmark is interrupted meanwhile."""
        log = self.logs / f"{name}.log"
        with open(log, "wb") as stderr:
            proc = await asyncio.create_subprocess_exec(
                *argv, stdout=asyncio.subprocess.PIPE, stderr=stderr,
                stdin=asyncio.subprocess.DEVNULL, env=env, start_new_session=True,
                preexec_fn=_die_with_parent)
        child = Child(name, proc, log, signal.SIGTERM)
        self.running.append(child)
        try:
            out, _ = await asyncio.wait_for(proc.communicate(), timeout)
        except BaseException:
            _signal(proc.pid, signal.SIGKILL)
            await proc.wait()
            raise
        finally:
            if child in self.running:  # unless stop_all took it meanwhile
                self.running.remove(child)
        if proc.returncode:
            raise RuntimeError(f"{name} failed ({proc.returncode}):\n{child.log_tail()}")
        return proc.returncode, out

    async def stop_all(self) -> None:
        children, self.running = list(reversed(self.running)), []
        for child in children:
            _signal(child.pid, child.stop_signal)
        deadline = time.monotonic() + STOP_SECONDS
        for child in children:
            try:
                await asyncio.wait_for(child.proc.wait(), max(0.1, deadline - time.monotonic()))
            except asyncio.TimeoutError:
                _signal(child.pid, signal.SIGKILL)
                await child.proc.wait()

    def kill_leftovers(self) -> None:
        """Last resort from synchronous code, when the event loop could not stop them."""
        for child in self.running:
            _signal(child.pid, signal.SIGKILL)
        self.running = []


def _signal(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


async def _wait_for_file(child: Child, path: Path, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not path.exists():
        if child.proc.returncode is not None:
            raise RuntimeError(f"{child.name} exited ({child.proc.returncode}):\n"
                               f"{child.log_tail()}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{child.name} did not start in {seconds:.0f} s")
        await asyncio.sleep(0.05)


async def start_sim(children: Children, clouds: str, work: Path) -> dict:
    """``ocx sim`` with these clouds (the first is the K2K identity provider); its description
    (endpoints, demo credentials, the control URL) once every cloud answers."""
    describe = work / "clouds.json"
    child = await children.spawn("sim", sys.executable, "-m", "ocx.cli", "sim",
                                 "--clouds", clouds, "--describe", str(describe))
    await _wait_for_file(child, describe, STARTUP_SECONDS)
    described = orjson.loads(describe.read_bytes())
    described["pid"] = child.pid
    return described


def write_ocx_config(described: dict, providers: Iterable[str], work: Path, name: str,
                     **defaults) -> Path:
    """An OCX configuration in front of the home cloud and ``providers`` (its K2K service
    providers), with extra ``[DEFAULT]`` options; readable only by its owner (it holds the
    service user's password)."""
    wanted = set(providers)
    clouds = {n: c for n, c in described["clouds"].items() if c["idp"] is None or n in wanted}
    text = gateway_config({"clouds": clouds}, free_port(), work / f"{name}-state")
    extra = "".join(f"{key} = {value}\n" for key, value in defaults.items())
    path = work / f"{name}.conf"
    path.touch(mode=0o600)
    path.write_text(text.replace("[DEFAULT]\n", f"[DEFAULT]\n{extra}", 1))
    return path


@dataclass
class Gateway:
    name: str
    url: str
    pid: int
    conf: Path


def serve_has_workers() -> bool:
    """Whether ``ocx serve`` takes ``--workers N`` (several processes on one port)."""
    import subprocess
    helped = subprocess.run([sys.executable, "-m", "ocx.cli", "serve", "--help"],
                            capture_output=True, text=True, check=False)
    return "--workers" in helped.stdout


# OCX processes that failed to start and were started again (name, what their log said):
# a failure of OCX, reported with the figures, that does not cost the whole run.
START_FAILURES: list[dict] = []


async def start_ocx(children: Children, conf: Path, name: str,
                    workers: int | None = None) -> Gateway:
    """``ocx serve`` with this configuration (and ``--workers``, when given), once it
    listens. One that exits while starting is started once more, and the failure recorded in
    :data:`START_FAILURES`."""
    try:
        return await _start_ocx(children, conf, name, workers)
    except _Exited as exc:
        print(f"bench: {name} failed to start; starting it again:\n{exc.log}", file=sys.stderr)
        # Into the figures: the last lines, without the machine's paths.
        last = [re.sub(r"(/[\w.+-]+){2,}", "<path>", line)
                for line in exc.log.strip().splitlines()[-3:]]
        START_FAILURES.append({"process": name, "workers": workers, "log_end": last})
        return await _start_ocx(children, conf, name, workers)


class _Exited(RuntimeError):
    def __init__(self, name: str, status: int, log: str) -> None:
        super().__init__(f"{name} exited ({status}):\n{log}")
        self.log = log


async def _start_ocx(children: Children, conf: Path, name: str,
                     workers: int | None) -> Gateway:
    extra = ("--workers", str(workers)) if workers else ()
    child = await children.spawn(name, sys.executable, "-m", "ocx.cli", "serve",
                                 "--config", str(conf), *extra, stdout=asyncio.subprocess.PIPE,
                                 stop_signal=signal.SIGINT)
    try:
        async with asyncio.timeout(STARTUP_SECONDS):
            while line := await child.proc.stdout.readline():
                if line.startswith(b"OCX ready: "):
                    return Gateway(name, line.split(b": ", 1)[1].strip().decode(),
                                   child.pid, conf)
    except TimeoutError:
        raise RuntimeError(f"{name} did not start in {STARTUP_SECONDS} s") from None
    await child.proc.wait()
    children.running.remove(child)
    # The log is kept beside the new one's: the first lines say what failed.
    child.log.rename(child.log.with_suffix(".failed.log"))
    raise _Exited(name, child.proc.returncode,
                  child.log.with_suffix(".failed.log").read_text(errors="replace")[-4000:])


async def put_in_catalog(gateway: Gateway) -> None:
    """Point the home catalog's public endpoints at this OCX, as ``ocx catalog`` does."""
    from ocx.identity import ksa
    from ocx.identity.catalog import register_ocx
    from ocx.identity.validate import service_auth

    conf = config.load(str(gateway.conf))
    await register_ocx(ksa.session(conf.call_timeout, service_auth(conf)),
                       conf.keystone.auth_url, gateway.url)


# -- Keystone, Cinder and the fault control ----------------------------------------------------

@dataclass(frozen=True)
class Login:
    token: str
    project_id: str
    catalog: list

    def endpoint(self, types: Iterable[str], interface: str = "public") -> str:
        types = tuple(types)
        for entry in self.catalog:
            if entry["type"] in types:
                for endpoint in entry["endpoints"]:
                    if endpoint["interface"] == interface:
                        return endpoint["url"].rstrip("/")
        raise LookupError(f"no {interface} endpoint of type {types[0]} in the catalog")

    @property
    def headers(self) -> dict[str, str]:
        return {"X-Auth-Token": self.token, "Accept": "application/json"}


async def login(session: aiohttp.ClientSession, cloud: dict, user: str = "demo") -> Login:
    """A project-scoped token of one of the cloud's demo users, with its catalog."""
    creds = cloud["users"][user]
    body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": user, "password": creds["password"], "domain": {"name": "Default"}}}},
        "scope": {"project": {"name": creds["project"], "domain": {"name": "Default"}}}}}
    async with session.post(f"{cloud['auth_url'].rstrip('/')}/auth/tokens", json=body) as resp:
        if resp.status != 201:
            raise RuntimeError(f"login to {cloud['auth_url']} failed: {resp.status}")
        token = (await resp.json())["token"]
        return Login(resp.headers["X-Subject-Token"], token["project"]["id"],
                     token.get("catalog", []))


async def create_volumes(session: aiohttp.ClientSession, volume_url: str, headers: dict,
                         prefix: str, count: int) -> None:
    async def one(i: int) -> None:
        body = {"volume": {"size": 1, "name": f"{prefix}-{i:03d}"}}
        async with session.post(f"{volume_url}/volumes", json=body, headers=headers) as resp:
            if resp.status != 202:
                raise RuntimeError(f"volume create at {prefix} failed: {resp.status}")

    await asyncio.gather(*(one(i) for i in range(count)))


class FaultControl:
    """The simulator's control endpoint: latency, errors and services down, per cloud."""

    def __init__(self, session: aiohttp.ClientSession, control_url: str) -> None:
        self.session = session
        self.base = control_url.rstrip("/")

    async def latency(self, cloud: str, ms: float, service: str = "*") -> None:
        await self._call("PATCH", cloud, {"latency_ms": {service: ms}})

    async def clear(self, cloud: str) -> None:
        await self._call("DELETE", cloud)

    async def _call(self, method: str, cloud: str, body: dict | None = None) -> None:
        async with self.session.request(method, f"{self.base}/clouds/{cloud}/faults",
                                        json=body) as resp:
            if resp.status != 200:
                raise RuntimeError(f"fault control of {cloud}: {resp.status} "
                                   f"{await resp.text()}")


# -- load and its figures ----------------------------------------------------------------------

def _stat_fields(pid: int) -> list[str]:
    """/proc/PID/stat after the command name (which may hold spaces); [] once it is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return []


def process_tree(pid: int) -> list[int]:
    """``pid`` and every process descended from it (workers of a server, nginx's workers)."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = _stat_fields(int(entry.name))
            if fields:
                parents.setdefault(int(fields[1]), []).append(int(entry.name))
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        todo.extend(parents.get(current, ()))
    return tree


def _cpu_seconds(pid: int, tree: bool = False) -> float:
    """User + system CPU time so far (Linux /proc) of a process, or of it and its
    descendants; 0 where there is none."""
    total = 0
    for p in process_tree(pid) if tree else (pid,):
        fields = _stat_fields(p)
        if fields:
            total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


class CpuMeter:
    """Share of one CPU each named process used between start and stop; the processes named
    in ``trees`` count with their descendants (several workers, nginx's workers). A client
    that is a child process of its own (wrk) is measured by ``client_child``."""

    def __init__(self, pids: dict[str, int], trees: Iterable[str] = ("ocx", "nginx"),
                 client_child: bool = False) -> None:
        self.pids = dict(pids) if client_child else dict(pids, client=os.getpid())
        self.trees = set(trees)
        self.client_child = client_child
        self._start: dict[str, float] = {}
        self._children0 = 0.0
        self._t0 = 0.0

    def _read(self) -> dict[str, float]:
        return {name: _cpu_seconds(pid, name in self.trees) for name, pid in self.pids.items()}

    def start(self) -> None:
        self._t0 = time.monotonic()
        self._start = self._read()
        self._children0 = _reaped_children_cpu()

    def stop(self) -> dict[str, float]:
        wall = max(time.monotonic() - self._t0, 1e-9)
        now = self._read()
        shares = {name: round((now[name] - self._start[name]) / wall, 2) for name in now}
        if self.client_child:  # the load generator ran and was reaped meanwhile
            shares["client"] = round((_reaped_children_cpu() - self._children0) / wall, 2)
        return shares


def _reaped_children_cpu() -> float:
    import resource
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def tcp_active_opens() -> int:
    """TCP connections this machine has opened so far (/proc/net/snmp ``Tcp: ActiveOpens``):
    the difference over a run, divided by its calls, is how many new connections a call
    cost (every process here counts, so it is read where only the measured ones run)."""
    lines = Path("/proc/net/snmp").read_text().splitlines()
    for names, values in zip(lines[::2], lines[1::2]):
        if names.startswith("Tcp:"):
            return int(dict(zip(names.split(), values.split()))["ActiveOpens"])
    return 0


def memory_kib(pid: int, field_name: str = "VmHWM") -> int:
    """A /proc/PID/status memory figure (VmHWM: the resident high-water mark; VmRSS: now)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field_name + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def tree_memory_mib(pid: int, field_name: str = "VmHWM") -> list[float]:
    """The figure for each process of the tree under ``pid``, in MiB (a server's master and
    its workers), largest first."""
    return sorted((round(memory_kib(p, field_name) / 1024, 1) for p in process_tree(pid)),
                  reverse=True)


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile of sorted values (q from 0 to 100)."""
    if not sorted_values:
        return float("nan")
    rank = max(1, math.ceil(q / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


@dataclass
class Run:
    """What one load run measured."""

    requests: int
    errors: int
    seconds: float
    latencies_ms: list[float] = field(repr=False)
    cpu: dict[str, float] = field(default_factory=dict)

    def figures(self) -> dict:
        ordered = sorted(self.latencies_ms)
        return {"requests": self.requests, "errors": self.errors,
                "seconds": round(self.seconds, 3),
                "rps": round(self.requests / self.seconds, 1) if self.seconds else 0.0,
                "p50_ms": round(percentile(ordered, 50), 2),
                "p99_ms": round(percentile(ordered, 99), 2),
                "mean_ms": round(statistics.fmean(ordered), 2) if ordered else float("nan"),
                "cpu": self.cpu}


def is_200(resp: aiohttp.ClientResponse) -> bool:
    return resp.status == 200


async def load(session: aiohttp.ClientSession, url: str | Callable[[], str], headers: dict, *,
               concurrency: int, seconds: float, cpu: CpuMeter | None = None,
               max_requests: int | None = None,
               ok: Callable[[aiohttp.ClientResponse], bool] = is_200) -> Run:
    """``concurrency`` clients each sending GET ``url`` (or the URL ``url()`` gives for each
    call) one after another for ``seconds`` (or until ``max_requests`` in all); an answer
    ``ok`` refuses counts as an error."""
    next_url = url if callable(url) else (lambda: url)

    async def call() -> bool:
        async with session.get(next_url(), headers=headers) as resp:
            await resp.read()
            return ok(resp)

    return await load_calls(call, concurrency=concurrency, seconds=seconds, cpu=cpu,
                            max_requests=max_requests)


async def load_calls(call: Callable[[], Awaitable[bool]], *, concurrency: int, seconds: float,
                     cpu: CpuMeter | None = None, max_requests: int | None = None) -> Run:
    """``concurrency`` clients each awaiting ``call()`` one after another for ``seconds`` (or
    until ``max_requests`` in all); a call that returns False or fails is an error."""
    latencies: list[float] = []
    errors = 0
    started = time.perf_counter()
    end = started + seconds
    budget = [max_requests if max_requests is not None else sys.maxsize]

    async def client() -> None:
        nonlocal errors
        while time.perf_counter() < end and budget[0] > 0:
            budget[0] -= 1
            t0 = time.perf_counter()
            try:
                good = await call()
            except (aiohttp.ClientError, asyncio.TimeoutError):
                good = False
            latencies.append((time.perf_counter() - t0) * 1000)
            errors += not good

    if cpu:
        cpu.start()
    await asyncio.gather(*(client() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    return Run(len(latencies), errors, elapsed, latencies, cpu.stop() if cpu else {})


def machine() -> dict:
    """What the figures were measured on (nothing that names a user or a path)."""
    import platform
    model = next((line.split(":", 1)[1].strip() for line in
                  Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), platform.machine())
    mem_kib = next((int(line.split()[1]) for line in Path("/proc/meminfo").read_text()
                    .splitlines() if line.startswith("MemTotal:")), 0)
    return {"cpus": os.cpu_count(), "cpu_model": model,
            "memory_gib": round(mem_kib / 1024 / 1024, 1),
            "kernel": platform.release(), "python": platform.python_version(),
            # Other work on the machine skews the figures: this says how much there was.
            "load_average_at_start": [round(x, 2) for x in os.getloadavg()]}


def shown_path(path: Path) -> str:
    """A path as printed: relative to here when it is below."""
    relative = os.path.relpath(path)
    return str(path) if relative.startswith("..") else relative


def run_main(name: str, measure: Callable[[Children, Path], Awaitable[dict]],
             report: Callable[[dict], None], output: Path) -> int:
    """Run one benchmark: a private work folder (configurations hold passwords), every child
    stopped on the way out (Ctrl-C and SIGTERM included), the report printed and the figures
    written to ``output``. Returns the exit status."""
    import shutil
    import tempfile

    work = Path(tempfile.mkdtemp(prefix="ocx-bench-"))
    children = Children(work)

    async def measured() -> dict:
        task = asyncio.current_task()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
        try:
            return await measure(children, work)
        finally:
            await children.stop_all()

    try:
        results = asyncio.run(measured())
    except (KeyboardInterrupt, asyncio.CancelledError):
        print(f"{name}: interrupted; every process it started is stopped", file=sys.stderr)
        return 130
    except (RuntimeError, aiohttp.ClientError, TimeoutError, OSError) as exc:
        print(f"{name}: {exc}", file=sys.stderr)
        return 1
    finally:
        children.kill_leftovers()
        shutil.rmtree(work, ignore_errors=True)
    report(results)
    write_results(output, results)
    print(f"\nfigures written to {shown_path(output)}")
    return 0


def print_targets(rows: list[dict]) -> None:
    """Each target with its figure: met, NOT met, or - where the issue sets no figure."""
    for row in rows:
        state = {True: "met    ", False: "NOT met", None: "-      "}[row["met"]]
        print(f"{state}  {row['target']}: {row['measured']}")


def write_results(path: Path, document: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(orjson.dumps(document, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS))


__all__ = ["START_FAILURES", "Children", "CpuMeter", "FaultControl", "Gateway", "Login", "Run",
           "VOLUME_TYPES", "create_volumes", "load", "load_calls", "login", "machine",
           "memory_kib", "percentile", "print_targets", "process_tree", "put_in_catalog",
           "run_main", "serve_has_workers", "shown_path", "start_ocx", "start_sim",
           "tcp_active_opens", "tree_memory_mib", "write_ocx_config", "write_results"]
