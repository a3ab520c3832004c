"""Benchmark: one volume listing over several clouds through OCX, against going direct.

Starts on loopback one ``ocx sim`` (clouds home, sp1, sp2, sp3; home is the K2K identity
provider) and four ``ocx serve`` in front of it: over 2, 3 and 4 clouds, and over 3 clouds
with ``listing_timeout = 1``. Creates volumes in every cloud directly, then measures
``GET /volume/v3/{project}/volumes/detail`` with the home demo user's token:

1. fan-out: at 0 and 50 ms added latency per cloud, p50/p99 and requests/s at a few
   concurrencies, through OCX over 2, 3 and 4 clouds and direct to home's Cinder (the
   ratio), and the sum of the clouds' own latencies (what a proxy asking one after another
   would take);
2. one slow cloud: sp2 2 s away, the others 50 ms: through OCX with ``listing_timeout`` above
   2 s (about the slowest cloud's time, not the sum) and with 1 s (about 1 s, sp2 named in
   ``X-OCX-Missing-Providers``).

Prints tables and writes the figures as JSON (``--output``). Every process it starts is
stopped on the way out. Run: ``python bench/listing.py [--quick]`` (or ``make bench-listing``).
"""
from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import orjson
from prettytable import PrettyTable

from common import (VOLUME_TYPES, Children, CpuMeter, FaultControl, Gateway, Login,
                    create_volumes, load, load_calls, login, machine, print_targets,
                    put_in_catalog, run_main, serve_has_workers, start_ocx, start_sim,
                    write_ocx_config)

CLOUDS = ("home", "sp1", "sp2", "sp3")   # home first: every other cloud's identity provider
FAN_OUT = (2, 3, 4)                      # clouds one listing goes over
NEAR_MS = 50                             # "each 50 ms away"
SLOW_CLOUD, SLOW_MS = "sp2", 2000        # the slowed cloud of part 2
LONG_TIMEOUT, SHORT_TIMEOUT = 5, 1       # listing_timeout above and below the slow cloud
LISTING = "/volumes/detail"
MISSING_HEADER = "X-OCX-Missing-Providers"
WARM_UP_SECONDS = 0.25                   # before each measured cell
SEQUENTIAL_AT = 32                       # concurrency of the one-after-another client
SEQUENTIAL_FAN_OUT = (2, 4)              # clouds it asks
DEFAULT_OUTPUT = Path(__file__).resolve().parent / "results" / "listing.json"


@dataclass(frozen=True)
class Options:
    quick: bool
    output: Path
    volumes: int               # per cloud
    seconds: float             # per measured cell
    concurrencies: tuple[int, ...]
    slow_requests: int         # listings timed in part 2, one after another
    workers: int | None = None  # OCX's worker processes (None: ocx serve's default)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--quick", action="store_true", help="a short run: fewer, shorter cells")
    p.add_argument("--volumes", type=int, default=20, help="volumes created in each cloud")
    p.add_argument("--workers", type=int, default=2,
                   help="OCX worker processes (ocx serve --workers; default 2)")


def options(args: argparse.Namespace, output: Path | None = None) -> Options:
    output = output or getattr(args, "output", None) or DEFAULT_OUTPUT
    workers = args.workers if serve_has_workers() else None
    if args.quick:
        return Options(True, output, args.volumes, 1.0, (1, SEQUENTIAL_AT), 1, workers)
    return Options(False, output, args.volumes, 2.0, (1, 8, SEQUENTIAL_AT), 3, workers)


def parse_args(argv: list[str] | None) -> Options:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_arguments(p)
    p.add_argument("--output", type=Path, default=DEFAULT_OUTPUT,
                   help="where to write the figures as JSON (default: bench/results/listing.json)")
    return options(p.parse_args(argv))


# -- the set-up ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Target:
    """Somewhere to send the listing, and how many volumes it must hold."""

    via: str                    # "ocx" or "direct"
    name: str
    url: str
    headers: dict
    volumes: int
    pid: int | None = None      # the OCX process, for its CPU share


@dataclass
class Setup:
    session: aiohttp.ClientSession
    faults: FaultControl
    sim_pid: int
    through: dict[int, Target]  # clouds → OCX over that many
    short: Target               # OCX over 3 clouds with the short listing_timeout
    direct: dict[str, Target]   # cloud → its own Cinder


def gateway_plans(described: dict, work: Path) -> dict[str, Path]:
    """OCX name → its configuration: over 2, 3 and 4 clouds, and 3 with the short timeout."""
    plans = {f"ocx-{n}": write_ocx_config(described, CLOUDS[1:n], work, f"ocx-{n}",
                                          listing_timeout=LONG_TIMEOUT) for n in FAN_OUT}
    plans["ocx-3-short"] = write_ocx_config(described, CLOUDS[1:3], work, "ocx-3-short",
                                            listing_timeout=SHORT_TIMEOUT)
    return plans


def ocx_target(gateway: Gateway, catalog_url: str, catalog_gateway: Gateway, headers: dict,
            volumes: int) -> Target:
    """The listing URL at one OCX; the catalog names one of them, the others differ by port."""
    url = gateway.url + catalog_url.removeprefix(catalog_gateway.url) + LISTING
    return Target("ocx", gateway.name, url, headers, volumes, gateway.pid)


async def prepare(children: Children, work: Path, session: aiohttp.ClientSession,
                  opts: Options) -> Setup:
    described = await start_sim(children, ",".join(CLOUDS), work)
    plans = gateway_plans(described, work)
    gateways = dict(zip(plans, await asyncio.gather(
        *(start_ocx(children, conf, name, opts.workers) for name, conf in plans.items()))))
    await put_in_catalog(gateways["ocx-3"])
    logins = dict(zip(CLOUDS, await asyncio.gather(
        *(login(session, described["clouds"][c]) for c in CLOUDS))))
    home = logins["home"]
    # Through OCX: the volume endpoint the home catalog now shows; direct: the clouds' own.
    catalog_url = home.endpoint(VOLUME_TYPES, "public")
    direct = {c: Target("direct", c, _direct_url(c, logins[c]) + LISTING, logins[c].headers,
                        opts.volumes) for c in CLOUDS}
    await asyncio.gather(*(create_volumes(session, t.url.removesuffix(LISTING), t.headers,
                                          f"bench-{c}", opts.volumes)
                           for c, t in direct.items()))
    by_clouds = {n: ocx_target(gateways[f"ocx-{n}"], catalog_url, gateways["ocx-3"], home.headers,
                            n * opts.volumes) for n in FAN_OUT}
    short = ocx_target(gateways["ocx-3-short"], catalog_url, gateways["ocx-3"], home.headers,
                    3 * opts.volumes)
    setup = Setup(session, FaultControl(session, described["control"]), described["pid"],
                  by_clouds, short, direct)
    await warm_up(setup)
    return setup


def _direct_url(cloud: str, account: Login) -> str:
    # Home's public endpoints are OCX's now; its own Cinder is the internal one.
    return account.endpoint(VOLUME_TYPES, "internal" if cloud == "home" else "public")


async def warm_up(setup: Setup) -> None:
    """Token validation, K2K exchanges and keep-alive connections, before anything is timed;
    and a check that every listing holds what it must."""
    targets = [*setup.through.values(), setup.short, *setup.direct.values()]
    for _ in range(3):
        answers = await asyncio.gather(*(listing_once(setup.session, t) for t in targets))
    for target, answer in zip(targets, answers):
        if answer.status != 200 or answer.volumes != target.volumes or answer.missing:
            raise RuntimeError(f"{target.name}: expected {target.volumes} volumes, got "
                               f"{answer.status} with {answer.volumes} (missing: "
                               f"{answer.missing or 'none'})")


@dataclass(frozen=True)
class Answer:
    ms: float
    status: int
    volumes: int
    missing: str | None


async def listing_once(session: aiohttp.ClientSession, target: Target) -> Answer:
    t0 = time.perf_counter()
    async with session.get(target.url, headers=target.headers) as resp:
        body = await resp.read()
        ms = (time.perf_counter() - t0) * 1000
        volumes = len(orjson.loads(body).get("volumes", [])) if resp.status == 200 else 0
        return Answer(ms, resp.status, volumes, resp.headers.get(MISSING_HEADER))


async def set_latency(setup: Setup, latency_ms: dict[str, float]) -> None:
    await asyncio.gather(*(setup.faults.latency(c, ms) for c, ms in latency_ms.items()))


# -- part 1: fan-out at 0 and 50 ms -------------------------------------------------------------

async def measure_cell(setup: Setup, target: Target, concurrency: int,
                       seconds: float) -> dict:
    pids = {"sim": setup.sim_pid} | ({"ocx": target.pid} if target.pid else {})
    # Unmeasured: the connections a new concurrency opens, client to OCX and OCX to clouds.
    await load(setup.session, target.url, target.headers, concurrency=concurrency,
               seconds=min(WARM_UP_SECONDS, seconds / 4))
    run = await load(setup.session, target.url, target.headers, concurrency=concurrency,
                     seconds=seconds, cpu=CpuMeter(pids), ok=whole)
    return {"via": target.via, "target": target.name, "concurrency": concurrency,
            **run.figures()}


async def sequential(setup: Setup, clouds: int, concurrency: int, seconds: float, *,
                     new_connections: bool) -> dict:
    """A client that fans out one after another: each listing is the same listing asked of
    each cloud in turn, directly (keep-alive connections, or a new one for every call, as
    the proxy OCX replaces did)."""
    targets = [setup.direct[c] for c in CLOUDS[:clouds]]
    session = setup.session
    if new_connections:
        session = aiohttp.ClientSession(timeout=setup.session.timeout,
                                         connector=aiohttp.TCPConnector(force_close=True,
                                                                        limit=0))

    async def one_listing() -> bool:
        good = True
        for target in targets:
            async with session.get(target.url, headers=target.headers) as resp:
                body = await resp.read()
                good = good and resp.status == 200 and \
                    len(orjson.loads(body).get("volumes", [])) == target.volumes
        return good

    try:
        pids = {"sim": setup.sim_pid}
        await load_calls(one_listing, concurrency=concurrency,
                         seconds=min(WARM_UP_SECONDS, seconds / 4))
        run = await load_calls(one_listing, concurrency=concurrency, seconds=seconds,
                               cpu=CpuMeter(pids))
    finally:
        if new_connections:
            await session.close()
    return {"via": "sequential", "target": "one after another" + (
                ", new connection per call" if new_connections else ""),
            "clouds": clouds, "concurrency": concurrency, **run.figures()}


def whole(resp: aiohttp.ClientResponse) -> bool:
    """A listing with every cloud in it: a partial one would flatter the figures."""
    return resp.status == 200 and MISSING_HEADER not in resp.headers


async def fan_out(setup: Setup, opts: Options, latency: int) -> dict:
    """Every cell at one added latency per cloud."""
    await set_latency(setup, {c: latency for c in CLOUDS})
    home = setup.direct["home"]
    cells = [await measure_cell(setup, home, c, opts.seconds) for c in opts.concurrencies]
    # The clouds' own latency, one request at a time: its sum is a one-after-another proxy.
    alone = {c: await measure_cell(setup, setup.direct[c], 1, opts.seconds)
             for c in CLOUDS[1:]}
    alone["home"] = cells[0]
    for n in FAN_OUT:
        for c in opts.concurrencies:
            cell = await measure_cell(setup, setup.through[n], c, opts.seconds)
            direct = next(d for d in cells if d["concurrency"] == c)
            cell |= {"clouds": n, "p50_vs_direct": _ratio(cell["p50_ms"], direct["p50_ms"]),
                     "rps_vs_direct": _ratio(cell["rps"], direct["rps"])}
            cells.append(cell)
    for n in SEQUENTIAL_FAN_OUT:
        cells.append(await sequential(setup, n, SEQUENTIAL_AT, opts.seconds,
                                      new_connections=False))
    cells.append(await sequential(setup, FAN_OUT[-1], SEQUENTIAL_AT, opts.seconds,
                                  new_connections=True))
    cells.append(await sequential(setup, FAN_OUT[-1], 1, opts.seconds, new_connections=False))
    for cell in cells:
        if cell["via"] == "sequential":
            mine = next(c for c in cells if c["via"] == "ocx" and c["clouds"] == cell["clouds"]
                        and c["concurrency"] == cell["concurrency"])
            cell["ocx_rps_vs_this"] = _ratio(mine["rps"], cell["rps"])
    sums = {n: round(sum(alone[c]["p50_ms"] for c in CLOUDS[:n]), 2) for n in FAN_OUT}
    return {"latency_ms": latency, "cells": cells,
            "direct_p50_ms": {c: alone[c]["p50_ms"] for c in CLOUDS},
            "sum_of_clouds_p50_ms": sums}


def _ratio(a: float, b: float) -> float | None:
    return round(a / b, 2) if b else None


# -- part 2: one cloud 2 s away -----------------------------------------------------------------

async def one_after_another(setup: Setup, target: Target, count: int) -> list[Answer]:
    return [await listing_once(setup.session, target) for _ in range(count)]


def summary(answers: list[Answer]) -> dict:
    times = [a.ms for a in answers]
    return {"requests": len(answers), "p50_ms": round(statistics.median(times), 1),
            "min_ms": round(min(times), 1), "max_ms": round(max(times), 1),
            "statuses": sorted({a.status for a in answers}),
            "volumes": sorted({a.volumes for a in answers}),
            "missing_header": sorted({a.missing or "" for a in answers})}


async def slow_cloud(setup: Setup, opts: Options) -> dict:
    latency = {c: NEAR_MS for c in CLOUDS} | {SLOW_CLOUD: SLOW_MS}
    await set_latency(setup, latency)
    n = opts.slow_requests
    direct = await asyncio.gather(*(one_after_another(setup, setup.direct[c], n)
                                    for c in CLOUDS[:3]))
    per_cloud = {c: summary(a)["p50_ms"] for c, a in zip(CLOUDS[:3], direct)}
    long = summary(await one_after_another(setup, setup.through[3], n))
    short = summary(await one_after_another(setup, setup.short, n))
    return {"latency_ms": {c: latency[c] for c in CLOUDS[:3]},
            "direct_p50_ms": per_cloud, "sum_of_clouds_p50_ms": round(sum(per_cloud.values()), 1),
            "slowest_cloud_p50_ms": max(per_cloud.values()),
            "long_timeout": {"listing_timeout_s": LONG_TIMEOUT, "expected_volumes":
                             setup.through[3].volumes, **long},
            "short_timeout": {"listing_timeout_s": SHORT_TIMEOUT, "expected_volumes":
                              2 * opts.volumes, **short}}


# -- the report ---------------------------------------------------------------------------------

def fan_out_table(part: dict) -> PrettyTable:
    table = PrettyTable(["target", "conc.", "req/s", "p50 ms", "p99 ms", "errors",
                         "p50 / direct", "req/s / direct", "OCX req/s ÷ this",
                         "CPU sim/ocx/client"])
    for cell in part["cells"]:
        cpu = cell["cpu"]
        table.add_row([_target_label(cell), cell["concurrency"], cell["rps"], cell["p50_ms"],
                       cell["p99_ms"], cell["errors"], cell.get("p50_vs_direct", ""),
                       cell.get("rps_vs_direct", ""), cell.get("ocx_rps_vs_this", ""),
                       "/".join(f"{cpu[k]:.2f}" if k in cpu else "-"
                                for k in ("sim", "ocx", "client"))])
    table.align = "r"
    table.align["target"] = "l"
    return table


def _target_label(cell: dict) -> str:
    if cell["via"] == "ocx":
        return f"OCX over {cell['clouds']} clouds"
    if cell["via"] == "sequential":
        return f"{cell['clouds']} clouds {cell['target']}"
    return f"direct to {cell['target']}"


def sum_table(parts: list[dict]) -> PrettyTable:
    table = PrettyTable(["added latency", "clouds", "OCX p50 ms (1 at a time)",
                         "sum of the clouds' p50 ms", "slowest cloud's p50 ms"])
    for part in parts:
        for n in FAN_OUT:
            cell = next(c for c in part["cells"] if c.get("clouds") == n
                        and c["concurrency"] == 1)
            slowest = max(part["direct_p50_ms"][c] for c in CLOUDS[:n])
            table.add_row([f"{part['latency_ms']} ms", n, cell["p50_ms"],
                           part["sum_of_clouds_p50_ms"][n], slowest])
    table.align = "r"
    return table


def slow_table(part: dict) -> PrettyTable:
    table = PrettyTable(["listing_timeout", "requests", "p50 ms", "min-max ms", "volumes",
                         "X-OCX-Missing-Providers"])
    for key in ("long_timeout", "short_timeout"):
        row = part[key]
        table.add_row([f"{row['listing_timeout_s']} s", row["requests"], row["p50_ms"],
                       f"{row['min_ms']}-{row['max_ms']}",
                       f"{'/'.join(map(str, row['volumes']))} of {row['expected_volumes']}"
                       if key == "long_timeout" else
                       f"{'/'.join(map(str, row['volumes']))} (all but {SLOW_CLOUD})",
                       ", ".join(h or "(absent)" for h in row["missing_header"])])
    table.align = "r"
    return table


def report(results: dict) -> None:
    opts = results["options"]
    print(f"\nVolume listing (volumes/detail, {opts['volumes_per_cloud']} volumes per cloud), "
          f"{opts['seconds_per_cell']} s per cell, {results['machine']['cpus']} CPUs, load "
          f"average {results['machine']['load_average_at_start'][0]} at the start")
    for part in results["fan_out"]:
        print(f"\n{part['latency_ms']} ms added to every cloud:")
        print(fan_out_table(part))
    print("\nOCX against a proxy that asks the clouds one after another:")
    print(sum_table(results["fan_out"]))
    slow = results["slow_cloud"]
    lat = ", ".join(f"{c} {ms} ms" for c, ms in slow["latency_ms"].items())
    print(f"\nOne slow cloud ({lat}); OCX over home, sp1, sp2. Direct p50: "
          + ", ".join(f"{c} {ms} ms" for c, ms in slow["direct_p50_ms"].items())
          + f"; their sum {slow['sum_of_clouds_p50_ms']} ms, the slowest "
            f"{slow['slowest_cloud_p50_ms']} ms.")
    print(slow_table(slow))
    short = slow["short_timeout"]["missing_header"]
    present = all(h == SLOW_CLOUD for h in short)
    print(f"X-OCX-Missing-Providers with listing_timeout {SHORT_TIMEOUT} s: "
          f"{'present, naming ' + SLOW_CLOUD if present else 'NOT as expected: ' + str(short)}")


def targets(results: dict) -> list[dict]:
    """The issue's targets for a listing over 4 clouds 50 ms away, next to the figures."""
    part = next(p for p in results["fan_out"] if p["latency_ms"] == NEAR_MS)
    n = FAN_OUT[-1]
    ocx_alone = next(c for c in part["cells"] if c["via"] == "ocx" and c["clouds"] == n
                     and c["concurrency"] == 1)
    slowest = max(part["direct_p50_ms"][c] for c in CLOUDS[:n])
    ratio = ocx_alone["p50_ms"] / slowest
    rows = [{"target": f"listing, {n} clouds {NEAR_MS} ms away: p50 ≤ 1.2 × the slowest "
                       f"cloud's", "measured": f"{ratio:.2f} × ({ocx_alone['p50_ms']} ms vs "
                                               f"{slowest} ms; their sum "
                                               f"{part['sum_of_clouds_p50_ms'][n]} ms)",
             "met": ratio <= 1.2}]
    for cell in part["cells"]:
        if cell["via"] == "sequential" and cell["clouds"] == n \
                and cell["concurrency"] == SEQUENTIAL_AT:
            how = "new connection per call" if "new" in cell["target"] else "keep-alive"
            rows.append({"target": f"listing, {n} clouds {NEAR_MS} ms away, c="
                                   f"{cell['concurrency']}: ≥ 10 × sequential fan-out's req/s "
                                   f"({how})",
                         "measured": f"{cell['ocx_rps_vs_this']} × ({cell['rps']} req/s "
                                     f"sequential)",
                         "met": cell["ocx_rps_vs_this"] >= 10})
    return rows


# -- running it ---------------------------------------------------------------------------------

async def measure(opts: Options, children: Children, work: Path) -> dict:
    started = time.monotonic()
    timeout = aiohttp.ClientTimeout(total=60)
    connector = aiohttp.TCPConnector(limit=0, force_close=False)
    async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:
        setup = await prepare(children, work, session, opts)
        parts = [await fan_out(setup, opts, latency) for latency in (0, NEAR_MS)]
        slow = await slow_cloud(setup, opts)
    return {"benchmark": "listing", "date": dt.datetime.now(dt.timezone.utc).isoformat(
                timespec="seconds"),
            "machine": machine(),
            "options": {"quick": opts.quick, "volumes_per_cloud": opts.volumes,
                        "seconds_per_cell": opts.seconds,
                        "concurrencies": list(opts.concurrencies),
                        "slow_requests": opts.slow_requests, "workers": opts.workers or 1},
            "fan_out": parts, "slow_cloud": slow,
            "wall_seconds": round(time.monotonic() - started, 1)}


def main(argv: list[str] | None = None) -> int:
    opts = parse_args(argv)

    def show(results: dict) -> None:
        report(results)
        print_targets(targets(results))

    return run_main("bench/listing.py", lambda children, work: measure(opts, children, work),
                    show, opts.output)


if __name__ == "__main__":
    sys.exit(main())
