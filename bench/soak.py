"""Soak: many users' mixed traffic through OCX for a long while (issue 12's load test).

Starts on loopback one ``ocx sim`` (home, the K2K identity provider, and its service
providers sp1 and sp2), a PostgreSQL database of its own on the test server
(``OCX_TEST_POSTGRES_URL``, as the tests; dropped at the end) and ``ocx serve --workers N``
over the three clouds, put in home's catalog. Users are made in several projects of home,
each logged in once (and again before its token expires). ``--concurrency`` clients then
call OCX for ``--duration`` seconds, each as one user after another, with a mix of calls:
volume listings and shows, volume creates in a cloud picked at random (``name@cloud``) and
deletes, server, image and network listings, flavor listings, networks made and deleted.

Nothing is broken on purpose: every error is OCX's (or the machine's), so none is expected.
Printed: requests, requests/s, errors by cause, p50/p99 overall and per call, and, at the
start (after a warm-up) and at the end, each OCX worker's resident memory and open file
descriptors (from /proc), with the samples taken every ``--sample-every`` seconds in the
JSON.

Run: ``python bench/soak.py [--duration 600] [--users 24] [--projects 4]
[--concurrency 16] [--workers 2]`` (not part of ``make bench``: it runs for 10 minutes).
"""
from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import random
import secrets
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
from prettytable import PrettyTable
from sqlalchemy.engine import make_url

from common import (VOLUME_TYPES, Children, machine, percentile, process_tree, put_in_catalog,
                    run_main, start_ocx, start_sim, write_ocx_config)

CLOUDS = ("home", "sp1", "sp2")     # home first: the others' identity provider
POSTGRES = os.environ.get("OCX_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/")
DEFAULT_OUTPUT = Path(__file__).resolve().parent / "results" / "soak.json"
CLIENT_TIMEOUT = 90.0               # past OCX's own call_timeout (60 s): a hang shows
WARM_UP_SECONDS = 20.0              # before the start figures: every user validated, K2K done
RELOGIN_MARGIN = dt.timedelta(minutes=5)
KEPT_VOLUMES = 12                   # per user: past this a delete is likelier than a create
SETTLED = 3.0                       # seconds after its create a volume may be deleted (Cinder
                                    # refuses to delete one still "creating", as the sim does)
# The mix of calls (weights).
MIX = {"list-volumes": 22, "show-volume": 24, "create-volume": 10, "delete-volume": 9,
       "list-servers": 8, "list-networks": 8, "list-images": 6, "list-flavors": 5,
       "network-create-delete": 4, "list-volumes-detail": 4}


@dataclass(frozen=True)
class Options:
    duration: float
    users: int
    projects: int
    concurrency: int
    workers: int
    sample_every: float
    output: Path
    cache_size: int | None


def parse_args(argv: list[str] | None) -> Options:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--duration", type=float, default=600.0,
                   help="seconds of traffic after the warm-up (default 600)")
    p.add_argument("--users", type=int, default=24, help="users of home (default 24)")
    p.add_argument("--projects", type=int, default=4,
                   help="projects of home the users are spread over (default 4)")
    p.add_argument("--concurrency", type=int, default=16,
                   help="clients calling at once (default 16)")
    p.add_argument("--workers", type=int, default=2,
                   help="OCX worker processes (ocx serve --workers; default 2)")
    p.add_argument("--sample-every", type=float, default=30.0,
                   help="seconds between samples of memory and descriptors (default 30)")
    p.add_argument("--cache-size", type=int, default=None,
                   help="OCX's [store] cache_size (default: OCX's own): a small one tells "
                        "memory the caches hold from memory that leaks")
    p.add_argument("--output", type=Path, default=DEFAULT_OUTPUT,
                   help="where to write the figures as JSON (default: bench/results/soak.json)")
    a = p.parse_args(argv)
    if min(a.users, a.projects, a.concurrency, a.workers) < 1 or a.duration <= 0:
        p.error("--users, --projects, --concurrency, --workers and --duration must be "
                "positive")
    return Options(a.duration, a.users, min(a.projects, a.users), a.concurrency, a.workers,
                   a.sample_every, a.output, a.cache_size)


# -- users --------------------------------------------------------------------------------------

@dataclass
class User:
    name: str
    project: str
    password: str = field(repr=False)
    token: str = field(default="", repr=False)
    project_id: str = ""
    expires: dt.datetime = dt.datetime.min.replace(tzinfo=dt.timezone.utc)
    urls: dict[str, str] = field(default_factory=dict)   # service → OCX's URL of it
    volumes: list[tuple[str, float]] = field(default_factory=list)   # (id, made at)
    relogins: int = 0

    @property
    def headers(self) -> dict[str, str]:
        return {"X-Auth-Token": self.token, "Accept": "application/json"}


async def _expect(resp: aiohttp.ClientResponse, status: int, what: str) -> dict:
    if resp.status != status:
        raise RuntimeError(f"{what}: {resp.status} {(await resp.text())[:200]}")
    return await resp.json() if status != 204 else {}


async def make_users(session: aiohttp.ClientSession, home: dict, opts: Options) -> list[User]:
    """``opts.users`` users of home, spread over ``opts.projects`` projects of their own, each
    with the member role there."""
    auth = home["auth_url"].rstrip("/")
    admin = User("admin", home["users"]["admin"]["project"], home["users"]["admin"]["password"])
    await log_in(session, auth, admin)
    async with session.get(f"{auth}/roles", params={"name": "member"},
                           headers=admin.headers) as resp:
        role = (await _expect(resp, 200, "role look-up"))["roles"][0]["id"]
    projects = {}
    for i in range(opts.projects):
        name = f"soak-{i:02d}"
        async with session.post(f"{auth}/projects", headers=admin.headers, json={
                "project": {"name": name, "domain_id": "default"}}) as resp:
            projects[name] = (await _expect(resp, 201, "project create"))["project"]["id"]
    password = secrets.token_urlsafe(16)
    users = []
    for i in range(opts.users):
        project = f"soak-{i % opts.projects:02d}"
        user = User(f"soak-user-{i:03d}", project, password)
        async with session.post(f"{auth}/users", headers=admin.headers, json={"user": {
                "name": user.name, "password": password, "domain_id": "default",
                "default_project_id": projects[project]}}) as resp:
            uid = (await _expect(resp, 201, "user create"))["user"]["id"]
        async with session.put(f"{auth}/projects/{projects[project]}/users/{uid}/roles/{role}",
                               headers=admin.headers) as resp:
            await _expect(resp, 204, "role grant")
        users.append(user)
    for user in users:
        await log_in(session, auth, user)
    return users


async def log_in(session: aiohttp.ClientSession, auth: str, user: User) -> None:
    """A project-scoped token (never written anywhere) and OCX's endpoints from its catalog."""
    body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": user.name, "password": user.password, "domain": {"id": "default"}}}},
        "scope": {"project": {"name": user.project, "domain": {"id": "default"}}}}}
    async with session.post(f"{auth}/auth/tokens", json=body) as resp:
        token = (await _expect(resp, 201, f"login of {user.name}"))["token"]
        user.token = resp.headers["X-Subject-Token"]
    user.project_id = token["project"]["id"]
    user.expires = dt.datetime.fromisoformat(token["expires_at"].replace("Z", "+00:00"))
    for entry in token.get("catalog", []):
        for endpoint in entry["endpoints"]:
            if endpoint["interface"] == "public":
                user.urls[entry["type"]] = endpoint["url"].rstrip("/")
    user.urls["volume"] = next(user.urls[t] for t in VOLUME_TYPES if t in user.urls)


# -- the traffic --------------------------------------------------------------------------------

@dataclass
class Tally:
    latencies: dict[str, list[float]] = field(default_factory=dict)
    errors: Counter = field(default_factory=Counter)
    requests: int = 0

    def record(self, op: str, seconds: float, cause: str | None) -> None:
        self.requests += 1
        self.latencies.setdefault(op, []).append(seconds * 1000)
        if cause is not None:
            self.errors[cause] += 1


def _cause(op: str, status: int, body: bytes) -> str:
    """An error's cause: the call, the status and the start of OCX's message."""
    import orjson

    message = ""
    try:
        document = orjson.loads(body)
        inner = next(iter(document.values())) if isinstance(document, dict) else None
        if isinstance(inner, dict):
            message = str(inner.get("message") or inner.get("detail") or "")
    except (orjson.JSONDecodeError, StopIteration):
        message = body[:80].decode(errors="replace")
    return f"{op}: {status} {message[:90]}".strip()


class Client:
    """One client: calls as one user after another, from the mix, until the deadline."""

    def __init__(self, index: int, session: aiohttp.ClientSession, users: list[User],
                 auth: str, tally: Tally) -> None:
        self.rng = random.Random(index)
        self.session = session
        self.users = users
        self.auth = auth
        self.tally = tally
        self.turn = index

    async def run(self, deadline: float) -> None:
        ops, weights = list(MIX), list(MIX.values())
        while time.monotonic() < deadline:
            user = self.users[self.turn % len(self.users)]
            self.turn += 1
            if user.expires - dt.datetime.now(dt.timezone.utc) < RELOGIN_MARGIN:
                await log_in(self.session, self.auth, user)
                user.relogins += 1
            op = self.rng.choices(ops, weights)[0]
            if op == "create-volume" and len(user.volumes) >= KEPT_VOLUMES:
                op = "delete-volume"
            elif op in ("show-volume", "delete-volume") and not user.volumes:
                op = "create-volume"
            await getattr(self, op.replace("-", "_"))(user, op)

    async def call(self, op: str, method: str, url: str, user: User, expect: tuple[int, ...],
                   **kwargs) -> bytes | None:
        started = time.monotonic()
        try:
            async with self.session.request(method, url, headers=user.headers,
                                            **kwargs) as resp:
                body = await resp.read()
                status = resp.status
        except asyncio.TimeoutError:
            self.tally.record(op, time.monotonic() - started, f"{op}: client timeout "
                                                              f"({CLIENT_TIMEOUT:.0f} s)")
            return None
        except aiohttp.ClientError as exc:
            self.tally.record(op, time.monotonic() - started, f"{op}: {type(exc).__name__}")
            return None
        ok = status in expect
        self.tally.record(op, time.monotonic() - started, None if ok else
                          _cause(op, status, body))
        return body if ok else None

    async def list_volumes(self, user: User, op: str) -> None:
        await self.call(op, "GET", f"{user.urls['volume']}/volumes?limit=10", user, (200,))

    async def list_volumes_detail(self, user: User, op: str) -> None:
        await self.call(op, "GET", f"{user.urls['volume']}/volumes/detail?limit=20", user,
                        (200,))

    async def show_volume(self, user: User, op: str) -> None:
        volume, _ = self.rng.choice(user.volumes)
        await self.call(op, "GET", f"{user.urls['volume']}/volumes/{volume}", user, (200,))

    async def create_volume(self, user: User, op: str) -> None:
        import orjson

        cloud = self.rng.choice(CLOUDS)
        body = await self.call(op, "POST", f"{user.urls['volume']}/volumes", user, (202,),
                               json={"volume": {"size": 1, "name": f"soak@{cloud}"}})
        if body is not None:
            user.volumes.append((orjson.loads(body)["volume"]["id"], time.monotonic()))

    async def delete_volume(self, user: User, op: str) -> None:
        settled = [v for v in user.volumes if time.monotonic() - v[1] > SETTLED]
        if not settled:
            return await self.show_volume(user, "show-volume")
        volume = self.rng.choice(settled)
        user.volumes.remove(volume)
        await self.call(op, "DELETE", f"{user.urls['volume']}/volumes/{volume[0]}", user,
                        (202,))

    async def list_servers(self, user: User, op: str) -> None:
        await self.call(op, "GET", f"{user.urls['compute']}/servers?limit=10", user, (200,))

    async def list_networks(self, user: User, op: str) -> None:
        await self.call(op, "GET", f"{user.urls['network']}/v2.0/networks?limit=10", user,
                        (200,))

    async def list_images(self, user: User, op: str) -> None:
        await self.call(op, "GET", f"{user.urls['image']}/v2/images?limit=10", user, (200,))

    async def list_flavors(self, user: User, op: str) -> None:
        await self.call(op, "GET", f"{user.urls['compute']}/flavors", user, (200,))

    async def network_create_delete(self, user: User, op: str) -> None:
        import orjson

        cloud = self.rng.choice(CLOUDS)
        body = await self.call(op, "POST", f"{user.urls['network']}/v2.0/networks", user,
                               (201,), json={"network": {"name": f"soak@{cloud}"}})
        if body is not None:
            network = orjson.loads(body)["network"]["id"]
            await self.call(op, "DELETE", f"{user.urls['network']}/v2.0/networks/{network}",
                            user, (204,))


# -- OCX's processes ----------------------------------------------------------------------------

def workers(parent: int) -> list[int]:
    """OCX's worker processes (the spawned ones, not the resource tracker beside them)."""
    found = []
    for pid in process_tree(parent)[1:]:
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if b"spawn_main" in command and b"resource_tracker" not in command:
            found.append(pid)
    return sorted(found) or [parent]     # --workers 1: the process itself


def sample(parent: int, started: float, requests: int) -> dict:
    """Each worker's resident memory (MiB) and open file descriptors, now."""
    figures = {}
    for pid in workers(parent):
        try:
            rss = next(int(line.split()[1]) for line in
                       Path(f"/proc/{pid}/status").read_text().splitlines()
                       if line.startswith("VmRSS:"))
            fds = len(os.listdir(f"/proc/{pid}/fd"))
        except (OSError, StopIteration):
            continue
        figures[str(pid)] = {"rss_mib": round(rss / 1024, 1), "fds": fds}
    return {"t": round(time.monotonic() - started, 1), "requests": requests,
            "workers": figures}


async def sampling(parent: int, started: float, tally: Tally, every: float,
                   into: list[dict]) -> None:
    while True:
        await asyncio.sleep(every)
        into.append(sample(parent, started, tally.requests))


# -- the run ------------------------------------------------------------------------------------

async def database(name: str) -> str:
    import asyncpg

    admin = make_url(POSTGRES).set(drivername="postgresql", database="postgres") \
        .render_as_string(hide_password=False)
    try:
        conn = await asyncpg.connect(admin, timeout=10)
    except (OSError, asyncpg.PostgresError) as exc:
        raise RuntimeError(f"PostgreSQL does not answer ({type(exc).__name__}); start it with "
                           "scripts/ensure-services") from None
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return make_url(POSTGRES).set(database=name).render_as_string(hide_password=False)


async def drop_database(name: str) -> None:
    import asyncpg

    admin = make_url(POSTGRES).set(drivername="postgresql", database="postgres") \
        .render_as_string(hide_password=False)
    conn = await asyncpg.connect(admin, timeout=10)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


async def measure(opts: Options, children: Children, work: Path) -> dict:
    began = time.monotonic()
    described = await start_sim(children, ",".join(CLOUDS), work)
    name = f"ocx_soak_{secrets.token_hex(4)}"
    url = await database(name)
    try:
        conf = write_ocx_config(described, CLOUDS[1:], work, "ocx-soak")
        with open(conf, "a") as f:
            f.write(f"\n[store]\nurl = {url}\n")
            if opts.cache_size is not None:
                f.write(f"cache_size = {opts.cache_size}\n")
        gateway = await start_ocx(children, conf, "ocx-soak", workers=opts.workers)
        await put_in_catalog(gateway)
        home = described["clouds"]["home"]
        auth = home["auth_url"].rstrip("/")
        timeout = aiohttp.ClientTimeout(total=CLIENT_TIMEOUT)
        async with aiohttp.ClientSession(timeout=timeout,
                                         connector=aiohttp.TCPConnector(limit=0)) as session:
            users = await make_users(session, home, opts)
            # Warm-up: every user validated and given its K2K tokens, the pools filled.
            warm = Tally()
            clients = [Client(i, session, users, auth, warm) for i in range(opts.concurrency)]
            await asyncio.gather(*(c.run(time.monotonic() + WARM_UP_SECONDS) for c in clients))
            tally = Tally()
            for client in clients:
                client.tally = tally
            started = time.monotonic()
            samples = [sample(gateway.pid, started, 0)]
            sampler = asyncio.create_task(sampling(gateway.pid, started, tally,
                                                   opts.sample_every, samples))
            try:
                await asyncio.gather(*(c.run(started + opts.duration) for c in clients))
            finally:
                sampler.cancel()
            elapsed = time.monotonic() - started
            samples.append(sample(gateway.pid, started, tally.requests))
        return {"benchmark": "soak", "machine": machine(),
                "options": {"duration": opts.duration, "users": opts.users,
                            "projects": opts.projects, "concurrency": opts.concurrency,
                            "workers": opts.workers, "clouds": list(CLOUDS),
                            "cache_size": opts.cache_size},
                "warm_up": {"requests": warm.requests, "errors": dict(warm.errors)},
                "figures": figures(tally, elapsed),
                "relogins": sum(u.relogins for u in users),
                "samples": samples,
                "wall_seconds": round(time.monotonic() - began, 1)}
    finally:
        await children.stop_all()
        await drop_database(name)


def figures(tally: Tally, elapsed: float) -> dict:
    every = sorted(x for values in tally.latencies.values() for x in values)
    per_op = {op: {"requests": len(values), "p50_ms": round(percentile(sorted(values), 50), 1),
                   "p99_ms": round(percentile(sorted(values), 99), 1)}
              for op, values in sorted(tally.latencies.items())}
    return {"requests": tally.requests, "seconds": round(elapsed, 1),
            "rps": round(tally.requests / elapsed, 1) if elapsed else 0.0,
            "errors": sum(tally.errors.values()),
            "errors_by_cause": dict(tally.errors.most_common()),
            "p50_ms": round(percentile(every, 50), 1), "p99_ms": round(percentile(every, 99), 1),
            "per_call": per_op}


def report(results: dict) -> None:
    o, f = results["options"], results["figures"]
    print(f"\nSoak: {o['users']} users in {o['projects']} projects, {o['concurrency']} clients, "
          f"{f['seconds']:.0f} s through OCX ({o['workers']} workers, PostgreSQL) over "
          f"{', '.join(o['clouds'])}:")
    print(f"requests {f['requests']:,} ({f['rps']} req/s), errors {f['errors']:,}, "
          f"p50 {f['p50_ms']} ms, p99 {f['p99_ms']} ms")
    table = PrettyTable(["call", "requests", "p50 ms", "p99 ms"])
    for op, row in f["per_call"].items():
        table.add_row([op, row["requests"], row["p50_ms"], row["p99_ms"]])
    table.align = "r"
    table.align["call"] = "l"
    print(table)
    if f["errors_by_cause"]:
        causes = PrettyTable(["errors", "cause"])
        for cause, count in f["errors_by_cause"].items():
            causes.add_row([count, cause])
        causes.align = "l"
        print(causes)
    else:
        print("errors by cause: none")
    first, last = results["samples"][0], results["samples"][-1]
    workers_table = PrettyTable(["worker", "RSS MiB at start", "RSS MiB at end", "RSS MiB max",
                                 "fds at start", "fds at end"])
    for pid in sorted(set(first["workers"]) | set(last["workers"])):
        seen = [s["workers"][pid] for s in results["samples"] if pid in s["workers"]]
        start, end = first["workers"].get(pid, {}), last["workers"].get(pid, {})
        workers_table.add_row([pid, start.get("rss_mib", "-"), end.get("rss_mib", "-"),
                               max(s["rss_mib"] for s in seen), start.get("fds", "-"),
                               end.get("fds", "-")])
    workers_table.align = "r"
    print(workers_table)
    print(f"samples every {results['samples'][1]['t'] if len(results['samples']) > 2 else '-'}"
          f" s in the JSON; users logged in again: {results['relogins']}; warm-up "
          f"{results['warm_up']['requests']} requests, "
          f"{sum(results['warm_up']['errors'].values())} errors")


def main(argv: list[str] | None = None) -> int:
    opts = parse_args(argv)
    return run_main("bench/soak.py", lambda children, work: measure(opts, children, work),
                    report, opts.output)


if __name__ == "__main__":
    sys.exit(main())
