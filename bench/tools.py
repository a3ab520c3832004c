"""The programs the benchmarks drive besides OCX: wrk (the load generator), nginx (the
reference reverse proxy) and py-spy (the profiler).

wrk and nginx are Debian's, installed with apt-get when missing (as root; otherwise the parts
that need them say so and use what there is). nginx runs as an instance of its own: its own
configuration, pid file, logs and temporary folders in the benchmark's work folder, a loopback
port; the system's nginx, if any, is never touched. py-spy is used when it is installed
(``pip install py-spy``); nothing installs it behind the user's back.
"""
from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import orjson

from ocx.demo import free_port

from common import Children, CpuMeter

STARTUP_SECONDS = 30

# -- installing ---------------------------------------------------------------------------------


def find_or_install(command: str, package: str) -> str | None:
    """The path of ``command``; installs the Debian ``package`` first when it is missing and
    this is root on Debian. None when it cannot be had."""
    found = shutil.which(command)
    if found or os.geteuid() != 0 or not shutil.which("apt-get"):
        return found
    print(f"bench: installing Debian's {package} (for {command})", file=sys.stderr, flush=True)
    # RUNLEVEL=1: the package's scripts must not start a system service of their own.
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive", RUNLEVEL="1")
    install = ["apt-get", "install", "-y", "-qq", "--no-install-recommends", package]
    if subprocess.run(install, env=env, capture_output=True, check=False).returncode:
        # The package lists may be missing or old on a fresh machine.
        subprocess.run(["apt-get", "update", "-qq"], env=env, capture_output=True, check=False)
        subprocess.run(install, env=env, capture_output=True, check=False)
    return shutil.which(command)


def find_pyspy() -> str | None:
    """py-spy on the PATH or beside this Python (a venv's bin)."""
    beside = Path(sys.executable).parent / "py-spy"
    return shutil.which("py-spy") or (str(beside) if beside.exists() else None)


# -- wrk ----------------------------------------------------------------------------------------

# Headers come from the environment (BENCH_HEADER_1, _2, ...), so that a token never appears
# on a command line; the figures are printed as one JSON line when the run is done.
WRK_SCRIPT = r"""
local i = 1
while true do
  local header = os.getenv("BENCH_HEADER_" .. i)
  if header == nil then break end
  local name, value = header:match("^([^:]+):%s*(.*)$")
  wrk.headers[name] = value
  i = i + 1
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH-RESULT {"requests":%d,"duration_us":%d,"connect":%d,"read":%d,"write":%d,' ..
    '"status":%d,"timeout":%d,"p50_us":%d,"p99_us":%d,"mean_us":%.1f,"max_us":%d}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99), latency.mean, latency.max))
end
"""


@dataclass(frozen=True)
class Wrk:
    path: str
    script: Path

    @classmethod
    def prepare(cls, path: str, work: Path) -> Wrk:
        script = work / "bench.lua"
        script.write_text(WRK_SCRIPT)
        return cls(path, script)

    async def run(self, children: Children, url: str, headers: dict[str, str], *,
                  concurrency: int, seconds: float, pids: dict[str, int]) -> dict:
        """One closed-loop run of ``concurrency`` connections (one wrk thread: the other core
        is the servers'); the figures in the shape of :meth:`common.Run.figures`. Any answer
        other than 2xx/3xx, and any socket error or time-out, counts as an error."""
        env = dict(os.environ)
        env.update({f"BENCH_HEADER_{i}": f"{k}: {v}"
                    for i, (k, v) in enumerate(headers.items(), 1)})
        cpu = CpuMeter(pids, client_child=True)
        cpu.start()
        _, out = await children.run(
            "wrk", self.path, "-t1", f"-c{concurrency}", f"-d{max(1, round(seconds))}s",
            "--timeout", "10s", "-s", str(self.script), url, env=env,
            timeout=seconds + 60)
        shares = cpu.stop()
        line = next((ln for ln in out.decode().splitlines() if ln.startswith("BENCH-RESULT ")),
                    None)
        if line is None:
            raise RuntimeError("wrk printed no result")
        r = orjson.loads(line.split(" ", 1)[1])
        elapsed = r["duration_us"] / 1e6
        errors = r["connect"] + r["read"] + r["write"] + r["status"] + r["timeout"]
        return {"requests": r["requests"], "errors": errors, "seconds": round(elapsed, 3),
                "rps": round(r["requests"] / elapsed, 1) if elapsed else 0.0,
                "p50_ms": round(r["p50_us"] / 1000, 2), "p99_ms": round(r["p99_us"] / 1000, 2),
                "mean_ms": round(r["mean_us"] / 1000, 2), "cpu": shares, "client": "wrk"}


# -- nginx --------------------------------------------------------------------------------------

NGINX_CONF = """\
worker_processes {workers};
{user}pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {prefix}/client_body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    keepalive_requests 1000000;
    upstream cloud {{
        server {upstream};
        keepalive 128;
        keepalive_requests 1000000;
    }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
{streaming}            proxy_pass http://cloud;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host {upstream};
        }}
    }}
}}
"""


@dataclass(frozen=True)
class Nginx:
    url: str
    pid: int


# Large bodies pass through memory as they come, as OCX passes them, instead of through
# temporary files (nginx's default for bodies beyond its buffers): uploads unbuffered, downloads
# through 4 MiB of buffers.
STREAMING = """\
            client_max_body_size 0;
            proxy_request_buffering off;
            proxy_buffers 16 256k;
            proxy_busy_buffers_size 1m;
            proxy_max_temp_file_size 0;
"""


async def start_nginx(children: Children, path: str, upstream: str, work: Path,
                      workers: int, *, streaming: bool = False, name: str = "nginx") -> Nginx:
    """nginx as a keep-alive reverse proxy to ``upstream`` (host:port), with ``workers``
    worker processes, once it accepts connections; ``streaming``: bodies are not buffered."""
    prefix = work / name
    prefix.mkdir(mode=0o700)
    port = free_port()
    # A master started as root runs its workers as nobody, who could not use the private
    # temporary folders: they run as the same user instead.
    user = "user root;\n" if os.geteuid() == 0 else ""
    conf = prefix / "nginx.conf"
    conf.write_text(NGINX_CONF.format(workers=workers, user=user, prefix=prefix,
                                      upstream=upstream, port=port,
                                      streaming=STREAMING if streaming else ""))
    child = await children.spawn(name, path, "-p", f"{prefix}/", "-c", str(conf),
                                 "-e", str(prefix / "error.log"), "-g", "daemon off;",
                                 stop_signal=signal.SIGTERM)
    deadline = time.monotonic() + STARTUP_SECONDS
    while True:
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            if child.proc.returncode is not None or time.monotonic() > deadline:
                raise RuntimeError("nginx did not start: "
                                   + (prefix / "error.log").read_text(errors="replace")[-500:]
                                   if (prefix / "error.log").exists() else "no error log")
            await asyncio.sleep(0.05)
            continue
        writer.close()
        await writer.wait_closed()
        return Nginx(f"http://127.0.0.1:{port}", child.pid)


# -- py-spy -------------------------------------------------------------------------------------

_FRAME = re.compile(r"^(?P<func>.*) \((?P<file>[^()]*):(?P<line>\d+)\)$")


async def profile(children: Children, pyspy: str, pid: int, seconds: float, name: str
                  ) -> dict:
    """Sample a Python process and its children (a server's workers) with py-spy for
    ``seconds``; the functions that took the most time, by own time and with callees, as
    shares of the samples: by function (own time), by package (own time) and OCX's functions
    with their callees. File names are cut to the package's own path."""
    _, out = await children.run(
        f"py-spy-{name}", pyspy, "record", "--pid", str(pid), "--subprocesses",
        "--duration", str(max(1, round(seconds))), "--rate", "250", "--format", "raw",
        "--output", "/dev/stdout", "--nonblocking", "--full-filenames", timeout=seconds + 60)
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    by_package: Counter[str] = Counter()
    total = 0
    for line in out.decode(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        frames = [f for f in (_short(f) for f in stack.split(";")) if f]
        if not frames or not count.isdigit():
            continue
        n = int(count)
        total += n
        own[frames[-1]] += n
        by_package[_package(frames[-1])] += n
        # OCX's own functions (whatever the line), with what they call; not its entry point.
        for function in {f.rsplit(":", 1)[0] + ")" for f in frames
                         if "(ocx/" in f and "(ocx/cli.py" not in f}:
            inclusive[function] += n
    if not total:
        return {"samples": 0, "seconds": seconds, "own": [], "by_package": [], "ocx": []}

    def shares(counter: Counter[str], top: int = 25) -> list[dict]:
        return [{"function": f, "share": round(n / total, 3)} for f, n in counter.most_common(top)]

    return {"samples": total, "seconds": seconds, "own": shares(own),
            "by_package": shares(by_package), "ocx": shares(inclusive)}


def _package(frame: str) -> str:
    """Where a frame's code lives: ``aiohttp``, ``ocx/api``, ``stdlib/asyncio``, ..."""
    file = frame.rsplit("(", 1)[-1]
    parts = file.split(":")[0].split("/")
    if parts[0] in ("ocx", "stdlib") and len(parts) > 2:
        return "/".join(parts[:2])
    return parts[0] if len(parts) > 1 else file.split(":")[0]


def _short(frame: str) -> str:
    """``func (/long/path/site-packages/aiohttp/web.py:12)`` → ``func (aiohttp/web.py:12)``;
    py-spy's process and thread frames are dropped."""
    m = _FRAME.match(frame.strip())
    if m is None:
        return ""
    file = m["file"]
    for marker in ("site-packages/", "/ocx/", "/bench/"):
        at = file.rfind(marker)
        if at >= 0:
            file = file[at + len(marker):] if marker == "site-packages/" else file[at + 1:]
            break
    else:
        stdlib = re.search(r"/lib/python3[^/]*/(.*)$", file)
        file = "stdlib/" + stdlib[1] if stdlib else os.path.basename(file)
    return f"{m['func']} ({file}:{m['line']})"


def profile_lines(sampled: dict, title: str, top: int = 10) -> list[str]:
    """What :func:`profile` found, as lines to print."""
    lines = [f"py-spy on {title} ({sampled['samples']} samples in {sampled['seconds']} s)"]
    for key, heading in (("by_package", "own time by package"), ("own", "own time by function"),
                         ("ocx", "OCX's functions with their callees")):
        if sampled[key]:
            lines.append(f" {heading}:")
            lines += [f"  {row['share'] * 100:5.1f}%  {row['function']}"
                      for row in sampled[key][:top]]
    return lines
