"""Every benchmark of OCX in one run (``make bench``): one table of targets, one JSON file.

The parts, each starting on loopback what it needs and stopping it before the next begins:

- ``forward``: a mapped volume show through OCX, nginx and direct; a search over 4 clouds;
- ``listing``: an aggregated listing over 2-4 clouds at 0 and 50 ms, against a client that
  asks the clouds one after another;
- ``images``: 1 GiB of image data up and down through OCX and direct, OCX's peak memory;
- ``store``: mapping look-ups with 1 million mappings in SQLite and PostgreSQL;
- ``k2k``: 1,000 new users at once through OCX to a service provider.

Prints each part's tables, then every target of the issue next to its measured figure and
whether it is met; writes everything to ``bench/results/bench.json`` and the targets as a
Markdown table to ``bench/results/summary.md``. ``--quick`` is a short run (about 3 minutes);
the full one takes about 7.
"""
from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import resource
import sys
import time
import traceback
from pathlib import Path

import forward
import images
import k2k
import listing
import store
from common import START_FAILURES, Children, machine, run_main

PARTS = {"forward": forward, "listing": listing, "images": images, "store": store, "k2k": k2k}
RESULTS = Path(__file__).resolve().parent / "results"
DEFAULT_OUTPUT = RESULTS / "bench.json"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="a short run of every part")
    p.add_argument("--only", default=",".join(PARTS),
                   help=f"the parts to run, comma-separated (default: {','.join(PARTS)})")
    p.add_argument("--workers", type=int, default=2,
                   help="OCX worker processes (ocx serve --workers; default 2)")
    p.add_argument("--profile", action="store_true",
                   help="sample OCX with py-spy (when installed) in the forward and k2k parts")
    p.add_argument("--output", type=Path, default=DEFAULT_OUTPUT,
                   help="where to write the figures (default: bench/results/bench.json)")
    args = p.parse_args(argv)
    unknown = set(args.only.split(",")) - set(PARTS)
    if unknown:
        p.error(f"unknown parts: {', '.join(sorted(unknown))}; known: {', '.join(PARTS)}")
    # What each part's own options read, at their defaults.
    args.volumes, args.size_mib, args.mappings = 20, None, 1_000_000
    args.users, args.calls_per_user = None, 2
    return args


async def run_parts(args: argparse.Namespace, children: Children, work: Path) -> dict:
    started = time.monotonic()
    results: dict = {"benchmark": "all", "date": dt.datetime.now(dt.timezone.utc).isoformat(
                         timespec="seconds"),
                     "machine": machine(),
                     "options": {"quick": args.quick, "workers": args.workers,
                                 "parts": args.only.split(",")},
                     "parts": {}, "failed": {}}
    for name in args.only.split(","):
        module = PARTS[name]
        folder = work / name
        folder.mkdir()
        children.logs = folder
        print(f"bench: {name} ...", file=sys.stderr, flush=True)
        t0 = time.monotonic()
        try:
            results["parts"][name] = await module.measure(module.options(args), children,
                                                          folder)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - one failed part does not hide the others
            results["failed"][name] = f"{type(exc).__name__}: {exc}"
            traceback.print_exc(file=sys.stderr)
        finally:
            await children.stop_all()   # nothing of one part runs under the next
        print(f"bench: {name} done in {time.monotonic() - t0:.0f} s", file=sys.stderr,
              flush=True)
    results["ocx_start_failures"] = START_FAILURES
    results["targets"] = targets(results)
    results["wall_seconds"] = round(time.monotonic() - started, 1)
    return results


def targets(results: dict) -> list[dict]:
    rows = []
    for name, part in results["parts"].items():
        for row in PARTS[name].targets(part):
            rows.append(dict(row, part=name))
    return rows


STATE = {True: "met", False: "NOT met", None: "-"}


def report(results: dict) -> None:
    for name, part in results["parts"].items():
        PARTS[name].report(part)
    m = results["machine"]
    print(f"\nTargets of issue 6, measured in one run on {m['cpus']} × {m['cpu_model']}, "
          f"{m['memory_gib']} GiB, Python {m['python']}, load average "
          f"{m['load_average_at_start'][0]} at the start ({results['wall_seconds']} s):")
    from prettytable import PrettyTable
    table = PrettyTable(["target", "measured", "met?"])
    for row in results["targets"]:
        table.add_row([row["target"], row["measured"], STATE[row["met"]]])
    table.align = "l"
    print(table)
    for name, reason in results["failed"].items():
        print(f"FAILED: {name}: {reason}")
    for failure in results["ocx_start_failures"]:
        print(f"OCX FAILED TO START (started again): {failure['process']} with "
              f"{failure['workers']} workers: {' / '.join(failure['log_end'])}")


def markdown(results: dict) -> str:
    m = results["machine"]
    lines = [f"Measured {results['date'][:10]} on {m['cpus']} × {m['cpu_model']}, "
             f"{m['memory_gib']} GiB, Linux {m['kernel']}, Python {m['python']}; load "
             f"average {m['load_average_at_start'][0]} at the start; "
             f"{'quick' if results['options']['quick'] else 'full'} run, OCX with "
             f"{results['options']['workers']} workers.", "",
             "| target | measured | met? |", "| --- | --- | --- |"]
    lines += [f"| {r['target']} | {r['measured']} | {STATE[r['met']]} |"
              for r in results["targets"]]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # A thousand users at once need a thousand sockets here, in OCX and in the simulator.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    outcome: dict = {}

    def show(results: dict) -> None:
        report(results)
        summary = args.output.with_name("summary.md")
        summary.parent.mkdir(parents=True, exist_ok=True)
        summary.write_text(markdown(results))
        outcome.update(results)

    status = run_main("bench/run.py", lambda children, work: run_parts(args, children, work),
                      show, args.output)
    return status or (1 if outcome.get("failed") else 0)


if __name__ == "__main__":
    sys.exit(main())
