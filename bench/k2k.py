"""Benchmark: many distinct users arriving at once at a service provider through OCX (K2K).

Starts on loopback one ``ocx sim`` (clouds home, the K2K identity provider, and sp1) and OCX
over both. Makes 1,000 users (by default) in the home Keystone, members of its ``demo``
project, and logs each in. Then every user, all at the same moment, sends a few identical
calls through OCX for a volume in sp1 (``GET /volume/v3/{project}/volumes/{id}``; OCX already
knows where the volume lives). For each user OCX must validate a token it has never seen and
make a K2K exchange (a signed SAML assertion from home, a federated login and a rescoped token
at sp1); the calls of one user share one validation and one exchange (coalescing).

Then the same again: the tokens and token mappings are cached now. For each round: calls/s
(all calls over the time from the first sent to the last answered), p50/p99/max latency,
errors, and the calls OCX made to each Keystone (the simulator's counters).

Run: ``python bench/k2k.py [--quick] [--users N]`` (or ``make bench-k2k``).
"""
from __future__ import annotations

import argparse
import asyncio
import secrets
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import aiohttp
from prettytable import PrettyTable

from common import (VOLUME_TYPES, Children, CpuMeter, Login, login, machine, percentile,
                    run_main, serve_has_workers, start_ocx, start_sim, write_ocx_config)
from tools import find_pyspy, profile, profile_lines

CLOUDS = ("home", "sp1")
PROVIDER = "sp1"
DEFAULT_OUTPUT = Path(__file__).resolve().parent / "results" / "k2k.json"


@dataclass(frozen=True)
class Options:
    quick: bool
    output: Path
    users: int
    calls_per_user: int
    workers: int
    profile: bool = False


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--quick", action="store_true", help="a short run: 250 users")
    p.add_argument("--users", type=int, default=None, help="distinct users (default 1000)")
    p.add_argument("--calls-per-user", type=int, default=2,
                   help="calls each user sends at once (default 2)")
    p.add_argument("--workers", type=int, default=2,
                   help="OCX worker processes (ocx serve --workers; default 2)")
    p.add_argument("--profile", action="store_true",
                   help="also sample OCX and the simulator with py-spy (when installed) "
                        "during the first round")


def options(args: argparse.Namespace, output: Path | None = None) -> Options:
    output = output or getattr(args, "output", None) or DEFAULT_OUTPUT
    users = args.users or (250 if args.quick else 1000)
    return Options(args.quick, output, users, args.calls_per_user, args.workers,
                   getattr(args, "profile", False))


# -- users --------------------------------------------------------------------------------------

async def _json(resp: aiohttp.ClientResponse, expected: int, what: str) -> dict:
    if resp.status != expected:
        raise RuntimeError(f"{what}: {resp.status} {(await resp.text())[:200]}")
    return await resp.json() if resp.content_length != 0 and expected != 204 else {}


async def make_users(session: aiohttp.ClientSession, auth_url: str, admin: Login,
                     project_id: str, count: int, password: str) -> list[str]:
    """``count`` users of the home Keystone with the member role on ``project_id``."""
    async with session.get(f"{auth_url}/roles", params={"name": "member"},
                           headers=admin.headers) as resp:
        role = (await _json(resp, 200, "role look-up"))["roles"][0]["id"]
    limit = asyncio.Semaphore(32)

    async def one(i: int) -> str:
        name = f"bench-k2k-{i:05d}"
        body = {"user": {"name": name, "password": password, "domain_id": "default",
                         "default_project_id": project_id}}
        async with limit:
            async with session.post(f"{auth_url}/users", json=body,
                                    headers=admin.headers) as resp:
                uid = (await _json(resp, 201, "user create"))["user"]["id"]
            async with session.put(f"{auth_url}/projects/{project_id}/users/{uid}/roles/{role}",
                                   headers=admin.headers) as resp:
                await _json(resp, 204, "role grant")
        return name

    return list(await asyncio.gather(*(one(i) for i in range(count))))


async def log_in(session: aiohttp.ClientSession, auth_url: str, names: list[str],
                 password: str, project: str) -> list[str]:
    """A project-scoped token for each user (never written anywhere)."""
    limit = asyncio.Semaphore(32)

    async def one(name: str) -> str:
        body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
            "name": name, "password": password, "domain": {"id": "default"}}}},
            "scope": {"project": {"name": project, "domain": {"id": "default"}}}}}
        async with limit:
            async with session.post(f"{auth_url}/auth/tokens?nocatalog", json=body) as resp:
                await _json(resp, 201, "login")
                return resp.headers["X-Subject-Token"]

    return list(await asyncio.gather(*(one(n) for n in names)))


# -- the burst ----------------------------------------------------------------------------------

async def keystone_calls(session: aiohttp.ClientSession, control: str) -> dict[str, dict]:
    counts = {}
    for cloud in CLOUDS:
        async with session.get(f"{control.rstrip('/')}/clouds/{cloud}/calls") as resp:
            counts[cloud] = (await resp.json()).get("keystone", {})
    return counts


def listen_overflows() -> int:
    """The kernel's count of connections refused for a full listen queue (machine-wide)."""
    lines = Path("/proc/net/netstat").read_text().splitlines()
    for names, values in zip(lines[::2], lines[1::2]):
        if names.startswith("TcpExt:"):
            return int(dict(zip(names.split(), values.split())).get("ListenOverflows", 0))
    return 0


def _difference(after: dict, before: dict) -> dict:
    return {cloud: {m: n - before.get(cloud, {}).get(m, 0) for m, n in methods.items()
                    if n - before.get(cloud, {}).get(m, 0)}
            for cloud, methods in after.items()}


async def burst(session: aiohttp.ClientSession, url: str, tokens: list[str],
                calls_per_user: int, pids: dict[str, int], control: str) -> dict:
    """Every user's calls sent at once; the figures of the whole burst."""
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    start = asyncio.Event()

    async def call(token: str) -> None:
        await start.wait()
        t0 = time.perf_counter()
        try:
            async with session.get(url, headers={"X-Auth-Token": token,
                                                 "Accept": "application/json"}) as resp:
                await resp.read()
                status = resp.status
        except (aiohttp.ClientError, asyncio.TimeoutError):
            status = 0
        latencies.append((time.perf_counter() - t0) * 1000)
        statuses[status] = statuses.get(status, 0) + 1

    before = await keystone_calls(session, control)
    overflows = listen_overflows()
    tasks = [asyncio.create_task(call(t)) for t in tokens for _ in range(calls_per_user)]
    await asyncio.sleep(0)
    cpu = CpuMeter(pids)
    cpu.start()
    t0 = time.perf_counter()
    start.set()
    await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - t0
    shares = cpu.stop()
    ordered = sorted(latencies)
    calls = await keystone_calls(session, control)
    return {"users": len(tokens), "calls": len(tasks), "seconds": round(elapsed, 2),
            "calls_per_s": round(len(tasks) / elapsed, 1),
            "p50_ms": round(percentile(ordered, 50), 1),
            "p99_ms": round(percentile(ordered, 99), 1), "max_ms": round(ordered[-1], 1),
            "errors": sum(n for s, n in statuses.items() if s != 200),
            "statuses": {str(s): n for s, n in sorted(statuses.items())},
            "keystone_calls": _difference(calls, before), "cpu": shares,
            "listen_queue_overflows": listen_overflows() - overflows}


async def measure(opts: Options, children: Children, work: Path) -> dict:
    started = time.monotonic()
    notes = []
    described = await start_sim(children, ",".join(CLOUDS), work)
    has_workers = serve_has_workers()
    if not has_workers and opts.workers != 1:
        notes.append(f"ocx serve has no --workers option: OCX ran as 1 process, not "
                     f"{opts.workers}")
    conf = write_ocx_config(described, CLOUDS[1:], work, "ocx-k2k")
    gateway = await start_ocx(children, conf, "ocx-k2k",
                              workers=opts.workers if has_workers else None)
    timeout = aiohttp.ClientTimeout(total=600)
    async with aiohttp.ClientSession(timeout=timeout,
                                     connector=aiohttp.TCPConnector(limit=0)) as session:
        home_cloud = described["clouds"]["home"]
        auth_url = home_cloud["auth_url"].rstrip("/")
        admin, demo, owner = await asyncio.gather(
            login(session, home_cloud, "admin"), login(session, home_cloud),
            login(session, described["clouds"][PROVIDER]))
        # A volume in sp1, whose mapping OCX learns here (the demo user's first call).
        async with session.post(f"{owner.endpoint(VOLUME_TYPES)}/volumes", headers=owner.headers,
                                json={"volume": {"size": 1, "name": "bench-k2k"}}) as resp:
            volume = (await _json(resp, 202, "volume create"))["volume"]["id"]
        url = f"{gateway.url}/volume/v3/{demo.project_id}/volumes/{volume}"
        async with session.get(url, headers=demo.headers) as resp:
            await _json(resp, 200, "the volume through OCX")
        password = secrets.token_urlsafe(16)
        t0 = time.monotonic()
        names = await make_users(session, auth_url, admin, demo.project_id, opts.users,
                                 password)
        tokens = await log_in(session, auth_url, names, password,
                              home_cloud["users"]["demo"]["project"])
        made = time.monotonic() - t0
        pids = {"sim": described["pid"], "ocx": gateway.pid}
        first, sampled = await asyncio.gather(
            burst(session, url, tokens, opts.calls_per_user, pids, described["control"]),
            sample(children, pids, opts, notes))
        again = await burst(session, url, tokens, opts.calls_per_user, pids,
                            described["control"])
    return {"benchmark": "k2k", "machine": machine(),
            "options": {"quick": opts.quick, "users": opts.users,
                        "calls_per_user": opts.calls_per_user,
                        "workers": opts.workers if has_workers else 1},
            "users_made_seconds": round(made, 1),
            "rounds": [dict(first, round="new users: validation + K2K exchange"),
                       dict(again, round="the same users again: cached")],
            "profile": sampled, "notes": notes,
            "wall_seconds": round(time.monotonic() - started, 1)}


PROFILE_SECONDS = 10


async def sample(children: Children, pids: dict[str, int], opts: Options,
                 notes: list[str]) -> dict | None:
    """py-spy on OCX and on the simulator during the first seconds of the first round."""
    if not opts.profile:
        return None
    pyspy = find_pyspy()
    if pyspy is None:
        notes.append("--profile: py-spy is not installed (pip install py-spy)")
        return None
    await asyncio.sleep(1)
    found = await asyncio.gather(*(profile(children, pyspy, pid, PROFILE_SECONDS, name)
                                   for name, pid in pids.items()))
    return dict(zip(pids, found))


def report(results: dict) -> None:
    o = results["options"]
    print(f"\nK2K: {o['users']:,} distinct users at once, {o['calls_per_user']} calls each, "
          f"through OCX ({o['workers']} process(es)) to a volume in {PROVIDER}:")
    table = PrettyTable(["round", "calls", "seconds", "calls/s", "p50 ms", "p99 ms", "max ms",
                         "errors", "listen queue overflows", "Keystone calls (home; sp1)",
                         "CPU (share of one core)"])
    for r in results["rounds"]:
        ks = r["keystone_calls"]
        table.add_row([r["round"], r["calls"], r["seconds"], r["calls_per_s"], r["p50_ms"],
                       r["p99_ms"], r["max_ms"], r["errors"], r["listen_queue_overflows"],
                       "; ".join(" ".join(f"{m} {n}" for m, n in ks.get(c, {}).items()) or "0"
                                 for c in CLOUDS),
                       " ".join(f"{k} {v:.2f}" for k, v in r["cpu"].items())])
    table.align = "r"
    for column in ("round", "Keystone calls (home; sp1)", "CPU (share of one core)"):
        table.align[column] = "l"
    print(table)
    if results.get("profile"):
        for name, sampled in results["profile"].items():
            print("\n".join(profile_lines(sampled, f"{name} during the first round")))
    for note in results["notes"]:
        print(f"note: {note}")


def targets(results: dict) -> list[dict]:
    """The issue names no figure for K2K: the row says what was measured."""
    first, again = results["rounds"]
    return [{"target": f"K2K: {results['options']['users']:,} new users at once (no figure "
                       f"set)", "measured": f"{first['calls_per_s']} calls/s, p50 "
                                            f"{first['p50_ms'] / 1000:.1f} s, {first['errors']} "
                                            f"errors; cached: {again['calls_per_s']} calls/s",
             "met": None}]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_arguments(p)
    p.add_argument("--output", type=Path, default=DEFAULT_OUTPUT,
                   help="where to write the figures as JSON (default: bench/results/k2k.json)")
    opts = options(p.parse_args(argv))
    return run_main("bench/k2k.py", lambda children, work: measure(opts, children, work),
                    report, opts.output)


if __name__ == "__main__":
    sys.exit(main())
