"""Benchmark: a large image's data uploaded and downloaded through OCX, against going direct.

Starts on loopback one ``ocx sim`` (clouds home and sp1), OCX over both, and nginx as a
streaming reverse proxy to sp1's Glance (the reference for what any proxy costs here). An image
is made in sp1 directly (and through nginx), and one through OCX (``X-OCX-Provider: sp1``, so
OCX learns where it lives);
then ``PUT /v2/images/{id}/file`` sends 1 GiB (by default) of data and ``GET .../file`` reads
it back, one transfer at a time, streamed by the client in 1 MiB pieces and never held whole.
For each: MiB/s, OCX's over direct, and OCX's peak memory, the resident high-water mark
(``VmHWM`` of /proc/PID/status) of each OCX process, reset before each transfer where the
kernel allows (``clear_refs``). Both images must end up with the same size and checksum.

Run: ``python bench/images.py [--quick] [--size-mib N]`` (or ``make bench-images``).
"""
from __future__ import annotations

import argparse
import asyncio
import random
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
from prettytable import PrettyTable
from yarl import URL

from common import (Children, Gateway, Login, login, machine, print_targets, process_tree,
                    run_main, serve_has_workers, start_ocx, start_sim, tree_memory_mib,
                    write_ocx_config)
from tools import find_or_install, find_pyspy, profile, profile_lines, start_nginx

CLOUDS = ("home", "sp1")
OWNER = "sp1"                   # where both images live
CHUNK = 1 << 20
MEMORY_TARGET_MIB = 200
DEFAULT_OUTPUT = Path(__file__).resolve().parent / "results" / "images.json"


@dataclass(frozen=True)
class Options:
    quick: bool
    output: Path
    size_mib: int
    rounds: int
    workers: int
    profile: bool = False


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--quick", action="store_true", help="a short run: 256 MiB, one round")
    p.add_argument("--size-mib", type=int, default=None, help="image size (default 1024)")
    p.add_argument("--workers", type=int, default=2,
                   help="OCX worker processes (ocx serve --workers; default 2)")
    p.add_argument("--profile", action="store_true",
                   help="also sample OCX with py-spy (when installed) during downloads")


def options(args: argparse.Namespace, output: Path | None = None) -> Options:
    output = output or getattr(args, "output", None) or DEFAULT_OUTPUT
    size = args.size_mib or (256 if args.quick else 1024)
    return Options(args.quick, output, size, 1 if args.quick else 2, args.workers,
                   getattr(args, "profile", False))


# -- one transfer -------------------------------------------------------------------------------

@dataclass(frozen=True)
class Side:
    """Where the image calls go: OCX or sp1's Glance, with the token that place takes."""

    name: str                 # "direct" or "ocx"
    images_url: str           # .../v2/images
    headers: dict
    create_headers: dict


async def create_image(session: aiohttp.ClientSession, side: Side, name: str) -> str:
    body = {"name": name, "disk_format": "raw", "container_format": "bare"}
    async with session.post(side.images_url, json=body, headers=side.create_headers) as resp:
        if resp.status != 201:
            raise RuntimeError(f"image create ({side.name}) failed: {resp.status} "
                               f"{(await resp.text())[:200]}")
        return (await resp.json())["id"]


async def data(size_mib: int, piece: bytes) -> AsyncIterator[bytes]:
    for _ in range(size_mib):
        yield piece


async def upload(session: aiohttp.ClientSession, side: Side, image: str, size_mib: int,
                 piece: bytes) -> float:
    headers = dict(side.headers, **{"Content-Type": "application/octet-stream",
                                    "Content-Length": str(size_mib * CHUNK)})
    t0 = time.perf_counter()
    async with session.put(f"{side.images_url}/{image}/file", data=data(size_mib, piece),
                           headers=headers) as resp:
        await resp.read()
        if resp.status != 204:
            raise RuntimeError(f"image upload ({side.name}) failed: {resp.status}")
    return time.perf_counter() - t0


async def download(session: aiohttp.ClientSession, side: Side, image: str,
                   size_mib: int) -> float:
    received = 0
    t0 = time.perf_counter()
    async with session.get(f"{side.images_url}/{image}/file", headers=side.headers) as resp:
        if resp.status != 200:
            raise RuntimeError(f"image download ({side.name}) failed: {resp.status}")
        async for chunk in resp.content.iter_any():
            received += len(chunk)
    elapsed = time.perf_counter() - t0
    if received != size_mib * CHUNK:
        raise RuntimeError(f"image download ({side.name}): {received} bytes, expected "
                           f"{size_mib * CHUNK}")
    return elapsed


async def image_facts(session: aiohttp.ClientSession, side: Side, image: str) -> tuple:
    async with session.get(f"{side.images_url}/{image}", headers=side.headers) as resp:
        body = await resp.json()
        return body.get("size"), body.get("checksum"), body.get("status")


async def delete_image(session: aiohttp.ClientSession, side: Side, image: str) -> None:
    async with session.delete(f"{side.images_url}/{image}", headers=side.headers) as resp:
        await resp.read()


# -- peak memory --------------------------------------------------------------------------------

def reset_peaks(pid: int) -> bool:
    """Reset the resident high-water mark of a process tree (Linux ``clear_refs`` 5); False
    where the kernel or the permissions do not allow it (the mark then counts since start)."""
    done = True
    for p in process_tree(pid):
        try:
            Path(f"/proc/{p}/clear_refs").write_text("5")
        except OSError:
            done = False
    return done


# -- the runs -----------------------------------------------------------------------------------

async def one_round(session: aiohttp.ClientSession, sides: dict[str, Side], gateway: Gateway,
                    opts: Options, piece: bytes, n: int) -> list[dict]:
    rows = []
    facts = {}
    # Alternate the order, so that none always finds the others' warm caches.
    order = list(sides.values()) if n % 2 else list(reversed(sides.values()))
    for side in order:
        image = await create_image(session, side, f"bench-image-{side.name}-{n}")
        for direction in ("upload", "download"):
            memory = side.name == "ocx"
            if memory:
                reset = reset_peaks(gateway.pid)
                before = tree_memory_mib(gateway.pid, "VmRSS")
            if direction == "upload":
                seconds = await upload(session, side, image, opts.size_mib, piece)
            else:
                seconds = await download(session, side, image, opts.size_mib)
            row = {"round": n, "via": side.name, "direction": direction,
                   "mib": opts.size_mib, "seconds": round(seconds, 2),
                   "mib_per_s": round(opts.size_mib / seconds, 1)}
            if memory:
                peaks = tree_memory_mib(gateway.pid, "VmHWM")
                row |= {"ocx_rss_before_mib": before, "ocx_peak_mib": peaks,
                        "peak_reset": reset}
            rows.append(row)
        facts[side.name] = await image_facts(session, side, image)
        await delete_image(session, side, image)
    if len(set(facts.values())) != 1 or facts["ocx"][0] != opts.size_mib * CHUNK:
        raise RuntimeError(f"the images differ (size, checksum, status): {facts}")
    return rows


def summarise(rows: list[dict]) -> dict:
    out = {}
    for direction in ("upload", "download"):
        def mean(via: str) -> float:
            picked = [r["mib_per_s"] for r in rows if r["via"] == via
                      and r["direction"] == direction]
            return round(sum(picked) / len(picked), 1)
        direct, ocx = mean("direct"), mean("ocx")
        peak = max(max(r["ocx_peak_mib"]) for r in rows
                   if r["via"] == "ocx" and r["direction"] == direction)
        out[direction] = {"direct_mib_per_s": direct, "ocx_mib_per_s": ocx,
                          "ocx_vs_direct": round(ocx / direct, 3),
                          "ocx_peak_mib_per_process": peak}
        if any(r["via"] == "nginx" for r in rows):
            nginx = mean("nginx")
            out[direction] |= {"nginx_mib_per_s": nginx,
                               "nginx_vs_direct": round(nginx / direct, 3)}
    return out


async def measure(opts: Options, children: Children, work: Path) -> dict:
    started = time.monotonic()
    notes = []
    described = await start_sim(children, ",".join(CLOUDS), work)
    has_workers = serve_has_workers()
    if not has_workers and opts.workers != 1:
        notes.append(f"ocx serve has no --workers option: OCX ran as 1 process, not "
                     f"{opts.workers}")
    conf = write_ocx_config(described, CLOUDS[1:], work, "ocx-images")
    gateway = await start_ocx(children, conf, "ocx-images",
                              workers=opts.workers if has_workers else None)
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=10, sock_read=120)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        logins: dict[str, Login] = dict(zip(CLOUDS, await asyncio.gather(
            *(login(session, described["clouds"][c]) for c in CLOUDS))))
        home, owner = logins["home"], logins[OWNER]
        glance = owner.endpoint(("image",))
        sides = {"direct": Side("direct", f"{glance}/v2/images", owner.headers, owner.headers),
                 "ocx": Side("ocx", f"{gateway.url}/image/v2/images", home.headers,
                             dict(home.headers, **{"X-OCX-Provider": OWNER}))}
        nginx = find_or_install("nginx", "nginx")
        if nginx is None:
            notes.append("no nginx (not root?): the reverse-proxy reference is missing")
        else:
            upstream = URL(glance)
            proxy = await start_nginx(children, nginx, f"{upstream.host}:{upstream.port}", work,
                                      opts.workers, streaming=True, name="nginx-images")
            sides["nginx"] = Side("nginx", f"{proxy.url}{upstream.raw_path.rstrip('/')}/v2/images",
                                  owner.headers, owner.headers)
        piece = random.Random(6).randbytes(CHUNK)
        rows = []
        for n in range(1, opts.rounds + 1):
            rows += await one_round(session, sides, gateway, opts, piece, n)
        sampled = await profiled(children, session, sides["ocx"], gateway, opts, piece, notes) \
            if opts.profile else None
    if not all(r.get("peak_reset", True) for r in rows):
        notes.append("the kernel would not reset the memory high-water mark: OCX's peak "
                     "counts from its start")
    return {"benchmark": "images", "machine": machine(),
            "options": {"quick": opts.quick, "size_mib": opts.size_mib, "rounds": opts.rounds,
                        "workers": opts.workers if has_workers else 1},
            "transfers": rows, "summary": summarise(rows), "profile": sampled, "notes": notes,
            "wall_seconds": round(time.monotonic() - started, 1)}


PROFILE_SECONDS = 4


async def profiled(children: Children, session: aiohttp.ClientSession, side: Side,
                   gateway: Gateway, opts: Options, piece: bytes, notes: list[str]
                   ) -> dict | None:
    """py-spy on OCX while the image is downloaded through it again and again."""
    pyspy = find_pyspy()
    if pyspy is None:
        notes.append("--profile: py-spy is not installed (pip install py-spy)")
        return None
    image = await create_image(session, side, "bench-image-profiled")
    await upload(session, side, image, opts.size_mib, piece)

    async def downloads() -> int:
        end, count = time.monotonic() + PROFILE_SECONDS + 1, 0
        while time.monotonic() < end:
            await download(session, side, image, opts.size_mib)
            count += 1
        return count

    count, sampled = await asyncio.gather(
        downloads(), profile(children, pyspy, gateway.pid, PROFILE_SECONDS, "images"))
    await delete_image(session, side, image)
    return {"downloads": count, **sampled}


# -- the report ---------------------------------------------------------------------------------

def report(results: dict) -> None:
    o = results["options"]
    print(f"\nImage data through OCX and direct (sp1's Glance), {o['size_mib']} MiB, "
          f"{o['rounds']} round(s), OCX with {o['workers']} process(es):")
    table = PrettyTable(["round", "via", "direction", "seconds", "MiB/s",
                         "OCX RSS before MiB", "OCX peak MiB (per process)"])
    for r in results["transfers"]:
        table.add_row([r["round"], r["via"], r["direction"], r["seconds"], r["mib_per_s"],
                       " / ".join(map(str, r.get("ocx_rss_before_mib", []))) or "-",
                       " / ".join(map(str, r.get("ocx_peak_mib", []))) or "-"])
    table.align = "r"
    print(table)
    for direction, s in results["summary"].items():
        nginx = (f"; nginx {s['nginx_mib_per_s']} MiB/s ({s['nginx_vs_direct'] * 100:.1f}%)"
                 if "nginx_mib_per_s" in s else "")
        print(f"{direction}: OCX {s['ocx_mib_per_s']} MiB/s, direct {s['direct_mib_per_s']} "
              f"MiB/s ({s['ocx_vs_direct'] * 100:.1f}%){nginx}; OCX peak "
              f"{s['ocx_peak_mib_per_process']} MiB")
    if results.get("profile"):
        sampled = results["profile"]
        print("\n".join(profile_lines(sampled, f"OCX during {sampled['downloads']} downloads")))
    for note in results["notes"]:
        print(f"note: {note}")


def targets(results: dict) -> list[dict]:
    rows = []
    size = results["options"]["size_mib"]
    for direction, s in results["summary"].items():
        nginx = (f"; nginx {s['nginx_vs_direct'] * 100:.0f}%" if "nginx_vs_direct" in s else "")
        rows.append({"target": f"{size} MiB image {direction} through OCX ≥ 80% of direct",
                     "measured": f"{s['ocx_vs_direct'] * 100:.1f}% ({s['ocx_mib_per_s']} vs "
                                 f"{s['direct_mib_per_s']} MiB/s{nginx})",
                     "met": s["ocx_vs_direct"] >= 0.80})
        rows.append({"target": f"{size} MiB image {direction}: OCX peak memory < "
                               f"{MEMORY_TARGET_MIB} MiB",
                     "measured": f"{s['ocx_peak_mib_per_process']} MiB (VmHWM, largest process)",
                     "met": s["ocx_peak_mib_per_process"] < MEMORY_TARGET_MIB})
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_arguments(p)
    p.add_argument("--output", type=Path, default=DEFAULT_OUTPUT,
                   help="where to write the figures as JSON (default: bench/results/images.json)")
    opts = options(p.parse_args(argv))

    def show(results: dict) -> None:
        report(results)
        print_targets(targets(results))

    return run_main("bench/images.py", lambda children, work: measure(opts, children, work),
                    show, opts.output)


if __name__ == "__main__":
    sys.exit(main())
