"""Benchmark: resource mapping look-ups with a million mappings, in SQLite and in PostgreSQL.

For each backend: a fresh database (a file in the work folder; a database of its own on the
loopback PostgreSQL server, dropped at the end), its schema made by ``MappingStore.open``
(the migrations), then 1,000,000 resource mappings bulk-loaded (``executemany`` in one SQLite
transaction; PostgreSQL's COPY) and the tables analysed. Then, in a fresh process, through
``ocx.store.MappingStore`` exactly as the gateway uses it (``get_resource_mapping``):

- cold: a sample of mappings looked up once each, the process and its cache new (each one a
  read of the database; the operating system's page cache is left as the load left it);
- warm: the same sample again (from the store's in-memory cache);
- database only: the same sample through a store with no cache (``cache_size = 0``), its
  connection open: what a look-up costs a worker whose cache does not hold the mapping;
- absent: ids no mapping has (misses are never cached: always the database).

p50/p99 per look-up in ms. PostgreSQL is found as the tests find it (``OCX_TEST_POSTGRES_URL``,
default ``postgresql://postgres@127.0.0.1:5432/``); if it does not answer, its rows say so.

Run: ``python bench/store.py [--quick] [--mappings N]`` (or ``make bench-store``).
"""
from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import random
import secrets
import sqlite3
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import orjson
from prettytable import PrettyTable
from sqlalchemy.engine import make_url

from common import Children, machine, percentile, print_targets, run_main

POSTGRES = os.environ.get("OCX_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/")
TYPES = ("servers", "volumes", "images", "ports", "networks", "snapshots")
PROVIDERS = ("home", "sp1", "sp2", "sp3")
BATCH = 100_000
WARM_P99_TARGET_MS = 1.0
DEFAULT_OUTPUT = Path(__file__).resolve().parent / "results" / "store.json"
# What the look-up process is told, through its environment (never its command line).
ENV_URL, ENV_KEY, ENV_SAMPLE = "OCX_BENCH_STORE_URL", "OCX_BENCH_STORE_KEY", "OCX_BENCH_SAMPLE"


@dataclass(frozen=True)
class Options:
    quick: bool
    output: Path
    mappings: int
    sample: int          # mappings looked up in each phase


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--quick", action="store_true", help="a short run: a smaller sample")
    p.add_argument("--mappings", type=int, default=1_000_000, help="mappings loaded")


def options(args: argparse.Namespace, output: Path | None = None) -> Options:
    output = output or getattr(args, "output", None) or DEFAULT_OUTPUT
    return Options(args.quick, output, args.mappings, 2_000 if args.quick else 10_000)


# -- the mappings -------------------------------------------------------------------------------

def mapping_rows(count: int, seed: int = 6):
    """Batches of (type, id, provider, remote project, endpoint, source, updated at): as many
    as a busy exchange learns from listings, ids as random as the clouds' own."""
    rng = random.Random(seed)
    projects = [uuid.UUID(int=rng.getrandbits(128)).hex for _ in range(500)]
    updated = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
    made = 0
    while made < count:
        n = min(BATCH, count - made)
        batch = []
        for _ in range(n):
            provider = rng.choice(PROVIDERS)
            batch.append((rng.choice(TYPES), str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                          provider, rng.choice(projects),
                          f"http://{provider}.cloud.example:8776/v3", "listing", updated))
        made += n
        yield batch


def sample_keys(count: int, sample: int, seed: int = 6) -> list[list[str]]:
    """``sample`` (type, id) keys of the loaded mappings (drawn from the same generator)."""
    chosen = sorted(random.Random(seed + 1).sample(range(count), sample))
    keys, at, i = [], 0, 0
    for batch in mapping_rows(count, seed):
        while i < len(chosen) and chosen[i] < at + len(batch):
            row = batch[chosen[i] - at]
            keys.append([row[0], row[1]])
            i += 1
        at += len(batch)
    random.Random(seed + 2).shuffle(keys)
    return keys


async def make_schema(url: str, key: str) -> None:
    from ocx.store import MappingStore

    store = await MappingStore.open(url, [key], migrate=True)
    await store.close()


def load_sqlite(path: Path, count: int) -> None:
    conn = sqlite3.connect(path)
    try:
        conn.execute("PRAGMA synchronous=OFF")
        conn.execute("PRAGMA cache_size=-262144")   # 256 MiB while loading
        with conn:
            for batch in mapping_rows(count):
                conn.executemany(
                    "INSERT INTO resource_mappings (resource_type, resource_id, provider, "
                    "remote_project, endpoint, source, updated_at) VALUES (?,?,?,?,?,?,?)",
                    [(*r[:6], r[6].strftime("%Y-%m-%d %H:%M:%S.%f")) for r in batch])
        conn.execute("ANALYZE")
    finally:
        conn.close()


async def load_postgres(dsn: str, count: int) -> None:
    import asyncpg

    conn = await asyncpg.connect(dsn, timeout=10)
    try:
        for batch in mapping_rows(count):
            await conn.copy_records_to_table(
                "resource_mappings", records=batch,
                columns=["resource_type", "resource_id", "provider", "remote_project",
                         "endpoint", "source", "updated_at"])
        await conn.execute("ANALYZE resource_mappings")
    finally:
        await conn.close()


# -- the look-ups (in a process of their own) ---------------------------------------------------

def _ms(samples_ns: list[int]) -> dict:
    ordered = sorted(x / 1e6 for x in samples_ns)
    return {"lookups": len(ordered), "p50_ms": round(percentile(ordered, 50), 4),
            "p99_ms": round(percentile(ordered, 99), 4),
            "max_ms": round(ordered[-1], 3) if ordered else None}


async def _timed(store, keys: list[list[str]], expect_found: bool) -> list[int]:
    times = []
    for resource_type, resource_id in keys:
        t0 = time.perf_counter_ns()
        found = await store.get_resource_mapping(resource_type, resource_id)
        times.append(time.perf_counter_ns() - t0)
        if (found is not None) != expect_found:
            raise RuntimeError(f"look-up of a {'known' if expect_found else 'unknown'} "
                               f"mapping gave {'nothing' if found is None else 'a mapping'}")
    return times


async def lookups() -> dict:
    from ocx.store import MappingStore

    url, key = os.environ[ENV_URL], os.environ[ENV_KEY]
    keys = orjson.loads(Path(os.environ[ENV_SAMPLE]).read_bytes())
    absent = [[k[0], str(uuid.uuid4())] for k in keys[: len(keys) // 5]]
    t0 = time.perf_counter_ns()
    store = await MappingStore.open(url, [key])
    opened = time.perf_counter_ns() - t0
    try:
        first = await _timed(store, keys[:1], True)
        cold = await _timed(store, keys[1:], True)
        warm = await _timed(store, keys[1:], True)
        missing = await _timed(store, absent, False)
    finally:
        await store.close()
    uncached = await MappingStore.open(url, [key], cache_size=0)
    try:
        await _timed(uncached, keys[:1], True)     # its connection opened
        database = await _timed(uncached, keys[1:], True)
    finally:
        await uncached.close()
    return {"open_ms": round(opened / 1e6, 1), "first_ms": round(first[0] / 1e6, 2),
            "cold": _ms(cold), "warm": _ms(warm), "database_only": _ms(database),
            "absent": _ms(missing)}


# -- the benchmark ------------------------------------------------------------------------------

async def backend_run(children: Children, work: Path, name: str, url: str, key: str,
                      sample_file: Path, load) -> dict:
    t0 = time.monotonic()
    await make_schema(url, key)
    await load()
    loaded = time.monotonic() - t0
    env = dict(os.environ, **{ENV_URL: url, ENV_KEY: key, ENV_SAMPLE: str(sample_file)})
    _, out = await children.run(f"store-lookups-{name}", sys.executable, __file__, "--lookups",
                                env=env, timeout=600)
    return {"backend": name, "load_seconds": round(loaded, 1), **orjson.loads(out)}


async def sqlite_run(children: Children, work: Path, opts: Options, key: str,
                     sample_file: Path) -> dict:
    path = work / "mappings.sqlite"
    result = await backend_run(children, work, "sqlite", f"sqlite:///{path}", key, sample_file,
                               lambda: asyncio.to_thread(load_sqlite, path, opts.mappings))
    result["database_mib"] = round(path.stat().st_size / (1 << 20), 1)
    return result


async def postgres_run(children: Children, work: Path, opts: Options, key: str,
                       sample_file: Path) -> dict:
    import asyncpg

    name = f"ocx_bench_{secrets.token_hex(4)}"
    admin = make_url(POSTGRES).set(drivername="postgresql", database="postgres") \
        .render_as_string(hide_password=False)
    try:
        conn = await asyncpg.connect(admin, timeout=10)
    except (OSError, asyncpg.PostgresError) as exc:
        return {"backend": "postgresql", "skipped": f"PostgreSQL does not answer "
                f"({type(exc).__name__}); start it with scripts/ensure-services"}
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
        url = make_url(POSTGRES).set(database=name).render_as_string(hide_password=False)
        dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
        return await backend_run(children, work, "postgresql", url, key, sample_file,
                                 lambda: load_postgres(dsn, opts.mappings))
    finally:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.close()


async def measure(opts: Options, children: Children, work: Path) -> dict:
    from ocx.store import generate_key

    started = time.monotonic()
    key = generate_key()
    sample_file = work / "sample.json"
    sample_file.write_bytes(orjson.dumps(
        await asyncio.to_thread(sample_keys, opts.mappings, opts.sample)))
    runs = [await sqlite_run(children, work, opts, key, sample_file),
            await postgres_run(children, work, opts, key, sample_file)]
    return {"benchmark": "store", "machine": machine(),
            "options": {"quick": opts.quick, "mappings": opts.mappings, "sample": opts.sample},
            "backends": runs, "wall_seconds": round(time.monotonic() - started, 1)}


def report(results: dict) -> None:
    o = results["options"]
    print(f"\nMapping store: resource mapping look-ups with {o['mappings']:,} mappings "
          f"({o['sample']:,} looked up per phase), through ocx.store.MappingStore:")
    table = PrettyTable(["backend", "load s", "phase", "p50 ms", "p99 ms", "max ms"])
    for run in results["backends"]:
        if "skipped" in run:
            table.add_row([run["backend"], "-", run["skipped"], "-", "-", "-"])
            continue
        table.add_row([run["backend"], run["load_seconds"],
                       f"first (store opened in {run['open_ms']} ms)", run["first_ms"], "", ""])
        for phase, label in (("cold", "cold: new process, empty cache"),
                             ("warm", "warm: cached"),
                             ("database_only", "database only (no cache)"),
                             ("absent", "absent id (always the database)")):
            f = run[phase]
            table.add_row(["", "", label, f["p50_ms"], f["p99_ms"], f["max_ms"]])
    table.align = "r"
    table.align["phase"] = "l"
    print(table)


def targets(results: dict) -> list[dict]:
    rows = []
    for run in results["backends"]:
        what = f"mapping look-up, {results['options']['mappings']:,} mappings, {run['backend']}: " \
               f"p99 < {WARM_P99_TARGET_MS:g} ms warm"
        if "skipped" in run:
            rows.append({"target": what, "measured": run["skipped"], "met": None})
            continue
        rows.append({"target": what, "measured": f"{run['warm']['p99_ms']} ms warm (cold "
                     f"{run['cold']['p99_ms']} ms, database only {run['database_only']['p99_ms']}"
                     f" ms)", "met": run["warm"]["p99_ms"] < WARM_P99_TARGET_MS})
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_arguments(p)
    p.add_argument("--output", type=Path, default=DEFAULT_OUTPUT,
                   help="where to write the figures as JSON (default: bench/results/store.json)")
    p.add_argument("--lookups", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.lookups:   # the fresh process of the look-ups: figures on stdout
        sys.stdout.buffer.write(orjson.dumps(asyncio.run(lookups())))
        return 0
    opts = options(args)

    def show(results: dict) -> None:
        report(results)
        print_targets(targets(results))

    return run_main("bench/store.py", lambda children, work: measure(opts, children, work),
                    show, opts.output)


if __name__ == "__main__":
    sys.exit(main())
