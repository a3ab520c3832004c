"""Benchmark: forwarding a call whose place OCX knows, and finding one whose place it does not.

Starts on loopback one ``ocx sim`` (clouds home, sp1, sp2, sp3; home is the K2K identity
provider), OCX over all four with 1 and with ``--workers`` worker processes, and nginx as a
reverse proxy to sp1's Cinder. The timed call is a volume show,
``GET /volume/v3/{project}/volumes/{id}``, of a volume made directly in sp1:

1. forwarding: OCX knows the volume's mapping and has validated the caller's token (both
   warmed before timing); requests/s, p50 and p99 at concurrency 1 and 32, direct to sp1's
   Cinder, through nginx and through OCX (the best of two interleaved rounds of each cell);
   the ratios, and the latency OCX adds at concurrency 1. The load generator is wrk when
   there is one (Debian's, installed when missing), else the Python client.
2. search: volumes made directly in the four clouds, each asked for once through OCX, which
   has no mapping for any: it asks every cloud at once and the first to have it answers (and
   learns the mapping); and an id no cloud has (every cloud must answer 404).

Run: ``python bench/forward.py [--quick] [--workers N] [--profile]`` (or ``make bench-forward``).
"""
from __future__ import annotations

import argparse
import asyncio
import random
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import aiohttp
from prettytable import PrettyTable
from yarl import URL

from common import (VOLUME_TYPES, Children, CpuMeter, Login, load, login, machine,
                    print_targets, run_main, serve_has_workers, start_ocx, start_sim,
                    tcp_active_opens, write_ocx_config)
from tools import Wrk, find_or_install, find_pyspy, profile, profile_lines, start_nginx

CLOUDS = ("home", "sp1", "sp2", "sp3")   # home first: every other cloud's identity provider
TARGET_CLOUD = "sp1"                     # where the shown volume lives (reached by K2K)
CONCURRENCIES = (1, 32)
THROUGHPUT_AT = 32                       # the concurrency the throughput targets are read at
WARM_UP_SECONDS = 1.0
DEFAULT_OUTPUT = Path(__file__).resolve().parent / "results" / "forward.json"


@dataclass(frozen=True)
class Options:
    quick: bool
    output: Path
    seconds: float             # per measured cell
    rounds: int                # of every cell, interleaved; the best of each is reported
    workers: int               # OCX's worker processes (OCX with 1 is measured too)
    searches: dict[int, int]   # concurrency → searches timed (each for a volume not yet mapped)
    profile: bool              # sample OCX with py-spy during one more run at THROUGHPUT_AT


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--quick", action="store_true", help="a short run: shorter cells")
    p.add_argument("--workers", type=int, default=2,
                   help="OCX worker processes (ocx serve --workers; default 2)")
    p.add_argument("--profile", action="store_true",
                   help="also sample OCX with py-spy (when installed) under load")


def options(args: argparse.Namespace, output: Path | None = None) -> Options:
    output = output or getattr(args, "output", None) or DEFAULT_OUTPUT
    if args.quick:
        return Options(True, output, 2.0, 1, args.workers, {1: 100, 32: 400}, args.profile)
    return Options(False, output, 4.0, 2, args.workers, {1: 300, 32: 1500}, args.profile)


# -- the set-up ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Target:
    """Where the volume show is sent, and with what."""

    name: str                   # "direct", "nginx", "ocx-1w", ...
    label: str
    url: str
    headers: dict
    pid: int | None = None      # the proxy's process (its CPU share)
    workers: int | None = None  # OCX's worker processes


@dataclass
class Setup:
    session: aiohttp.ClientSession
    sim_pid: int
    direct: Target
    nginx: Target | None
    ocx: list[Target]                 # fewest workers first
    search_url: str                   # OCX's volume URL (most workers), without the id
    search_ids: list[str]             # volumes OCX has never seen, in the order to ask
    home: Login
    wrk: Wrk | None
    notes: list[str]


async def new_volume(session: aiohttp.ClientSession, volume_url: str, headers: dict,
                     name: str) -> str:
    body = {"volume": {"size": 1, "name": name}}
    async with session.post(f"{volume_url}/volumes", json=body, headers=headers) as resp:
        if resp.status != 202:
            raise RuntimeError(f"volume create failed: {resp.status}")
        return (await resp.json())["volume"]["id"]


async def new_volumes(session: aiohttp.ClientSession, logins: dict[str, Login], count: int
                      ) -> list[str]:
    """``count`` volumes made directly, spread over every cloud, in random order."""
    limit = asyncio.Semaphore(32)

    async def one(i: int) -> str:
        cloud = logins[CLOUDS[i % len(CLOUDS)]]
        async with limit:
            return await new_volume(session, cloud.endpoint(VOLUME_TYPES), cloud.headers,
                                    f"bench-search-{i:05d}")

    ids = list(await asyncio.gather(*(one(i) for i in range(count))))
    random.Random(6).shuffle(ids)
    return ids


async def start_gateways(children: Children, described: dict, work: Path, workers: int,
                         notes: list[str]) -> dict[int, object]:
    """OCX over every cloud with 1 and ``workers`` worker processes (the same one when
    ``ocx serve`` has no ``--workers``)."""
    has_workers = serve_has_workers()
    counts = sorted({1, workers}) if has_workers else [1]
    if not has_workers and workers != 1:
        notes.append(f"ocx serve has no --workers option: OCX measured with 1 worker process, "
                     f"not {workers}")
    gateways = {}
    for n in counts:
        conf = write_ocx_config(described, CLOUDS[1:], work, f"ocx-{n}w")
        gateways[n] = await start_ocx(children, conf, f"ocx-{n}w",
                                      workers=n if has_workers else None)
    return gateways


async def prepare(children: Children, work: Path, session: aiohttp.ClientSession,
                  opts: Options) -> Setup:
    notes: list[str] = []
    described = await start_sim(children, ",".join(CLOUDS), work)
    gateways = await start_gateways(children, described, work, opts.workers, notes)
    logins = dict(zip(CLOUDS, await asyncio.gather(
        *(login(session, described["clouds"][c]) for c in CLOUDS))))
    home, owner = logins["home"], logins[TARGET_CLOUD]
    cinder = owner.endpoint(VOLUME_TYPES)
    volume = await new_volume(session, cinder, owner.headers, "bench-show")
    shown = f"/volumes/{volume}"
    direct = Target("direct", f"direct to {TARGET_CLOUD}", cinder + shown, owner.headers)
    ocx = [Target(f"ocx-{n}w", f"OCX, {n} worker{'s' if n > 1 else ''}",
                  f"{gw.url}/volume/v3/{home.project_id}{shown}", home.headers, gw.pid, n)
           for n, gw in gateways.items()]
    nginx = await _nginx(children, work, direct, opts.workers, notes)
    wrk_path = find_or_install("wrk", "wrk")
    if wrk_path is None:
        notes.append("no wrk (not root?): the Python client generated the load")
    search_total = sum(opts.searches.values()) + SEARCH_WARM_UP
    setup = Setup(session, described["pid"], direct, nginx, ocx,
                  f"{ocx[-1].url.removesuffix(shown)}/volumes/",
                  await new_volumes(session, logins, search_total), home,
                  Wrk.prepare(wrk_path, work) if wrk_path else None, notes)
    await check_targets(setup, volume)
    return setup


async def _nginx(children: Children, work: Path, direct: Target, workers: int,
                 notes: list[str]) -> Target | None:
    path = find_or_install("nginx", "nginx")
    if path is None:
        notes.append("no nginx (not root?): the reverse-proxy reference is missing")
        return None
    url = URL(direct.url)
    proxy = await start_nginx(children, path, f"{url.host}:{url.port}", work, workers)
    return Target("nginx", f"nginx, {workers} worker{'s' if workers > 1 else ''}",
                  proxy.url + url.raw_path, direct.headers, proxy.pid, workers)


async def check_targets(setup: Setup, volume: str) -> None:
    """Every target shows the volume; OCX learns where it lives and makes the caller's K2K
    token mapping here, before anything is timed."""
    for target in [setup.direct, *([setup.nginx] if setup.nginx else []), *setup.ocx]:
        for _ in range(3):
            async with setup.session.get(target.url, headers=target.headers) as resp:
                body = await resp.json(content_type=None)
                if resp.status != 200 or body.get("volume", {}).get("id") != volume:
                    raise RuntimeError(f"{target.label}: the volume show answered "
                                       f"{resp.status}")


# -- part 1: forwarding -------------------------------------------------------------------------

async def run_cell(children: Children, setup: Setup, target: Target, concurrency: int,
                   seconds: float) -> dict:
    pids = {"sim": setup.sim_pid} | ({target.name.split("-")[0]: target.pid}
                                     if target.pid else {})
    if setup.wrk is not None:
        run = lambda s: setup.wrk.run(children, target.url, target.headers,  # noqa: E731
                                      concurrency=concurrency, seconds=s, pids=pids)
    else:
        async def run(s: float) -> dict:
            measured = await load(setup.session, target.url, target.headers,
                                  concurrency=concurrency, seconds=s, cpu=CpuMeter(pids))
            return measured.figures() | {"client": "python"}
    await run(WARM_UP_SECONDS)      # connections opened, every worker warm
    figures = await run(seconds)
    return {"target": target.name, "label": target.label, "workers": target.workers,
            "concurrency": concurrency, **figures}


async def forwarding(children: Children, setup: Setup, opts: Options) -> dict:
    """Every cell ``rounds`` times, the rounds interleaved (direct, nginx, OCX, then again),
    so that other work on the machine falls on all targets alike; the best of each cell (by
    requests/s) is the figure, every round is in ``rounds``."""
    targets = [setup.direct, *([setup.nginx] if setup.nginx else []), *setup.ocx]
    rounds = []
    for n in range(opts.rounds):
        for t in targets:
            for c in CONCURRENCIES:
                rounds.append(dict(await run_cell(children, setup, t, c, opts.seconds),
                                   round=n + 1))
    cells = [max((r for r in rounds if r["target"] == t.name and r["concurrency"] == c),
                 key=lambda r: r["rps"]) for t in targets for c in CONCURRENCIES]
    return {"cells": cells, "rounds": rounds,
            "summary": [summarise(cells, t.name) for t in setup.ocx]}


def _cell(cells: list[dict], target: str, concurrency: int) -> dict | None:
    return next((c for c in cells if c["target"] == target and c["concurrency"] == concurrency),
                None)


def summarise(cells: list[dict], ocx: str) -> dict:
    """One OCX against direct and nginx: throughput ratios at THROUGHPUT_AT, added p50 at 1."""
    mine, direct = _cell(cells, ocx, THROUGHPUT_AT), _cell(cells, "direct", THROUGHPUT_AT)
    nginx = _cell(cells, "nginx", THROUGHPUT_AT)
    alone, direct_alone = _cell(cells, ocx, 1), _cell(cells, "direct", 1)
    return {"target": ocx, "workers": mine["workers"],
            "rps_vs_direct": _ratio(mine["rps"], direct["rps"]),
            "rps_vs_nginx": _ratio(mine["rps"], nginx["rps"]) if nginx else None,
            "nginx_vs_direct": _ratio(nginx["rps"], direct["rps"]) if nginx else None,
            "added_p50_ms_at_1": round(alone["p50_ms"] - direct_alone["p50_ms"], 2)}


def _ratio(a: float, b: float) -> float | None:
    return round(a / b, 3) if b else None


async def profiled(children: Children, setup: Setup, seconds: float) -> dict | None:
    """py-spy on the OCX with the most workers during one more run at THROUGHPUT_AT."""
    pyspy = find_pyspy()
    if pyspy is None:
        setup.notes.append("--profile: py-spy is not installed (pip install py-spy)")
        return None
    target = setup.ocx[-1]
    cell, sampled = await asyncio.gather(
        run_cell(children, setup, target, THROUGHPUT_AT, seconds + 2 * WARM_UP_SECONDS),
        _after(WARM_UP_SECONDS * 2, profile(children, pyspy, target.pid, seconds, "forward")))
    return {"target": target.name, "concurrency": THROUGHPUT_AT, "rps_while_sampled":
            cell["rps"], **sampled}


async def _after(delay: float, coro):
    await asyncio.sleep(delay)
    return await coro


# -- part 2: search -----------------------------------------------------------------------------

SEARCH_WARM_UP = 40     # searches before timing: K2K token mappings at sp2, sp3 in each worker


async def searching(setup: Setup, opts: Options) -> dict:
    ids = iter(setup.search_ids)
    url = lambda: setup.search_url + next(ids)  # noqa: E731 - each volume asked for once
    pids = {"sim": setup.sim_pid, "ocx": setup.ocx[-1].pid}
    headers = setup.home.headers
    await load(setup.session, url, headers, concurrency=8, seconds=60,
               max_requests=SEARCH_WARM_UP)
    cells = []
    for concurrency, count in opts.searches.items():
        opened = tcp_active_opens()
        run = await load(setup.session, url, headers, concurrency=concurrency, seconds=120,
                         max_requests=count, cpu=CpuMeter(pids))
        cells.append({"kind": "found in one of 4 clouds", "concurrency": concurrency,
                      **run.figures(), "new_connections_per_call": _per(opened, run)})
    nowhere = setup.search_url + str(uuid.uuid4())
    for concurrency in opts.searches:
        opened = tcp_active_opens()
        run = await load(setup.session, nowhere, headers, concurrency=concurrency,
                         seconds=opts.seconds, cpu=CpuMeter(pids), ok=lambda r: r.status == 404)
        cells.append({"kind": "in no cloud (404 from all 4)", "concurrency": concurrency,
                      **run.figures(), "new_connections_per_call": _per(opened, run)})
    # The same client going direct to the cloud that holds a volume: what a search adds to.
    for concurrency in opts.searches:
        run = await load(setup.session, setup.direct.url, setup.direct.headers,
                         concurrency=concurrency, seconds=opts.seconds,
                         cpu=CpuMeter({"sim": setup.sim_pid}))
        cells.append({"kind": f"direct show at {TARGET_CLOUD} (same client)",
                      "concurrency": concurrency, **run.figures()})
    return {"target": setup.ocx[-1].name, "workers": setup.ocx[-1].workers, "cells": cells}


def _per(opened_before: int, run) -> float:
    return round((tcp_active_opens() - opened_before) / max(run.requests, 1), 2)


# -- the report ---------------------------------------------------------------------------------

def _cpu(cell: dict, keys=("sim", "ocx", "nginx", "client")) -> str:
    cpu = cell.get("cpu", {})
    return " ".join(f"{k} {cpu[k]:.2f}" for k in keys if k in cpu)


def forwarding_table(part: dict) -> PrettyTable:
    table = PrettyTable(["target", "conc.", "req/s", "p50 ms", "p99 ms", "errors",
                         "CPU (share of one core)"])
    for cell in part["cells"]:
        table.add_row([cell["label"], cell["concurrency"], cell["rps"], cell["p50_ms"],
                       cell["p99_ms"], cell["errors"], _cpu(cell)])
    table.align = "r"
    table.align["target"] = table.align["CPU (share of one core)"] = "l"
    return table


def ratio_table(part: dict) -> PrettyTable:
    table = PrettyTable(["OCX", f"req/s ÷ direct (c={THROUGHPUT_AT})",
                         f"req/s ÷ nginx (c={THROUGHPUT_AT})", "added p50 ms (c=1)"])
    for row in part["summary"]:
        table.add_row([f"{row['workers']} worker(s)", row["rps_vs_direct"],
                       row["rps_vs_nginx"] if row["rps_vs_nginx"] is not None else "-",
                       row["added_p50_ms_at_1"]])
    table.align = "r"
    return table


def search_table(part: dict) -> PrettyTable:
    table = PrettyTable(["volume show", "conc.", "requests", "req/s", "p50 ms", "p99 ms",
                         "errors", "new connections per call", "CPU (share of one core)"])
    for cell in part["cells"]:
        table.add_row([cell["kind"], cell["concurrency"], cell["requests"], cell["rps"],
                       cell["p50_ms"], cell["p99_ms"], cell["errors"],
                       cell.get("new_connections_per_call", "-"), _cpu(cell)])
    table.align = "r"
    table.align["volume show"] = table.align["CPU (share of one core)"] = "l"
    return table


def report(results: dict) -> None:
    part = results["forwarding"]
    o = results["options"]
    print(f"\nForwarding a volume show whose mapping OCX knows (volume in {TARGET_CLOUD}), "
          f"{o['seconds_per_cell']} s per cell, best of {o.get('rounds', 1)} interleaved "
          f"round(s), load from {part['cells'][0].get('client', 'python')}:")
    print(forwarding_table(part))
    print(ratio_table(part))
    print(f"\nSearch: a volume show OCX has no mapping for, over {len(CLOUDS)} clouds "
          f"({results['search']['target']}, Python client):")
    print(search_table(results["search"]))
    if results.get("profile"):
        print()
        sampled = results["profile"]
        print("\n".join(profile_lines(sampled, f"{sampled['target']} at concurrency "
                                                f"{sampled['concurrency']}, "
                                                f"{sampled['rps_while_sampled']} req/s meanwhile")))
    for note in results["notes"]:
        print(f"note: {note}")


def targets(results: dict) -> list[dict]:
    """The issue's targets for a mapped GET, each next to its measured figure."""
    rows = []
    for row in results["forwarding"]["summary"]:
        if row["workers"] != results["options"]["workers"] and \
                len(results["forwarding"]["summary"]) > 1:
            continue
        who = f"OCX, {row['workers']} worker(s)"
        if row["rps_vs_nginx"] is not None:
            rows.append({"target": f"mapped GET: {who} ≥ 20% of nginx's req/s",
                         "measured": f"{row['rps_vs_nginx'] * 100:.1f}%",
                         "met": row["rps_vs_nginx"] >= 0.20})
        rows.append({"target": f"mapped GET: {who} ≥ 40% of direct req/s",
                     "measured": f"{row['rps_vs_direct'] * 100:.1f}%",
                     "met": row["rps_vs_direct"] >= 0.40})
        rows.append({"target": "mapped GET: added p50 at concurrency 1 ≤ 1 ms",
                     "measured": f"{row['added_p50_ms_at_1']:.2f} ms ({who})",
                     "met": row["added_p50_ms_at_1"] <= 1.0})
    cells = results["search"]["cells"]
    found = [c for c in cells if c["kind"].startswith("found")]
    rows.append({"target": f"search over {len(CLOUDS)} clouds (no figure set)",
                 "measured": ", ".join(f"c={c['concurrency']}: {c['rps']} req/s, p50 "
                                       f"{c['p50_ms']} ms" for c in found), "met": None})
    return rows


# -- running it ---------------------------------------------------------------------------------

async def measure(opts: Options, children: Children, work: Path) -> dict:
    started = time.monotonic()
    timeout = aiohttp.ClientTimeout(total=60)
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:
        setup = await prepare(children, work, session, opts)
        forward = await forwarding(children, setup, opts)
        sampled = await profiled(children, setup, opts.seconds) if opts.profile else None
        search = await searching(setup, opts)
    return {"benchmark": "forward", "machine": machine(),
            "options": {"quick": opts.quick, "seconds_per_cell": opts.seconds,
                        "rounds": opts.rounds,
                        "workers": opts.workers, "concurrencies": list(CONCURRENCIES),
                        "searches": opts.searches},
            "forwarding": forward, "search": search, "profile": sampled,
            "notes": setup.notes, "wall_seconds": round(time.monotonic() - started, 1)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_arguments(p)
    p.add_argument("--output", type=Path, default=DEFAULT_OUTPUT,
                   help="where to write the figures as JSON (default: bench/results/forward.json)")
    opts = options(p.parse_args(argv))

    def show(results: dict) -> None:
        report(results)
        print_targets(targets(results))

    return run_main("bench/forward.py", lambda children, work: measure(opts, children, work),
                    show, opts.output)


if __name__ == "__main__":
    sys.exit(main())
