"""The ``ocx`` command."""
from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from pathlib import Path

import orjson


def _sim_parser(sub) -> None:
    p = sub.add_parser("sim", help="run simulated OpenStack clouds on loopback")
    p.add_argument("--clouds", default="idp,bu,nu",
                   help="cloud names, optionally with services: idp,bu=cinder+glance,nu "
                        "(the first is every other cloud's K2K identity provider)")
    p.add_argument("--config", type=Path, help="an INI file describing the clouds instead")
    p.add_argument("--control-port", type=int, default=None,
                   help="port of the fault-control endpoint (default: a free one)")
    p.add_argument("--notifications", default=None,
                   help="RabbitMQ URL to publish oslo-format notifications to")
    p.add_argument("--clouds-yaml", type=Path, default=None,
                   help="write a clouds.yaml for the demo user of every cloud here")
    p.add_argument("--seed", type=int, default=None, help="seed for the fault generator")
    p.set_defaults(func=cmd_sim)

    d = sub.add_parser("demo", help="run the demo exchange (idp, bu, nu) with a clouds.yaml")
    d.add_argument("--clouds-yaml", type=Path, default=Path(".ocx/clouds.yaml"))
    d.set_defaults(func=cmd_sim, clouds="idp,bu,nu", config=None, control_port=None,
                   notifications=None, seed=None)

    f = sub.add_parser("sim-fault", help="change the faults of a running simulated cloud")
    f.add_argument("--control", required=True, help="URL of the simulator's control endpoint")
    f.add_argument("cloud")
    f.add_argument("--service", default="*", help="service the latency/error rate applies to")
    f.add_argument("--latency-ms", type=float)
    f.add_argument("--error-rate", type=float)
    f.add_argument("--down", action="append", default=[], help="take a service down")
    f.add_argument("--up", action="append", default=[], help="bring a service back")
    f.add_argument("--clear", action="store_true", help="clear every fault first")
    f.set_defaults(func=cmd_sim_fault)


async def _run_sim(args) -> None:
    from aiohttp import web

    from .sim.config import parse_config
    from .sim.control import make_control_app
    from .sim.exchange import SimExchange, parse_clouds

    if args.config:
        config = parse_config(args.config.read_text())
        specs, control_port = config.clouds, config.control_port
        notifications = args.notifications or config.notifications
    else:
        specs, control_port = parse_clouds(args.clouds, seed=args.seed), 0
        notifications = args.notifications
    if args.control_port is not None:
        control_port = args.control_port
    exchange = SimExchange(specs, notifications_url=notifications)
    await exchange.start()
    runner = web.AppRunner(make_control_app(exchange), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", control_port)
    await site.start()
    control_url = "http://127.0.0.1:%d/sim" % site._server.sockets[0].getsockname()[1]
    try:
        description = exchange.describe()
        print(orjson.dumps({"control": control_url, "clouds": description},
                           option=orjson.OPT_INDENT_2).decode(), flush=True)
        if args.clouds_yaml:
            _write_clouds_yaml(args.clouds_yaml, exchange.clouds_yaml())
            print(f"clouds.yaml written to {args.clouds_yaml}", file=sys.stderr, flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
    finally:
        await runner.cleanup()
        await exchange.stop()


def _write_clouds_yaml(path: Path, document: dict) -> None:
    # JSON is valid YAML, and the real clients read clouds.yaml with a YAML parser.
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(orjson.dumps(document, option=orjson.OPT_INDENT_2))
    path.chmod(0o600)


def cmd_sim(args) -> int:
    try:
        asyncio.run(_run_sim(args))
    except ValueError as exc:
        print(f"ocx sim: {exc}", file=sys.stderr)
        return 2
    return 0


def cmd_sim_fault(args) -> int:
    import urllib.request

    base = args.control.rstrip("/")
    if not base.endswith("/sim"):
        base += "/sim"
    url = f"{base}/clouds/{args.cloud}/faults"

    def call(method: str, body: dict | None = None) -> dict:
        req = urllib.request.Request(url, method=method,
                                     data=orjson.dumps(body) if body is not None else None,
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                return orjson.loads(resp.read())
        except urllib.error.HTTPError as exc:
            raise SystemExit(f"ocx sim-fault: {exc.code}: {exc.read().decode(errors='replace')}")

    if args.clear:
        call("DELETE")
    change: dict = {}
    if args.latency_ms is not None:
        change["latency_ms"] = {args.service: args.latency_ms}
    if args.error_rate is not None:
        change["error_rate"] = {args.service: args.error_rate}
    if args.down or args.up:
        change["down"] = {**{s: True for s in args.down}, **{s: False for s in args.up}}
    state = call("PATCH", change) if change else call("GET")
    print(orjson.dumps(state, option=orjson.OPT_INDENT_2).decode())
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ocx", description="OCX: one OpenStack endpoint in "
                                                             "front of many clouds")
    parser.add_argument("-v", "--verbose", action="store_true")
    sub = parser.add_subparsers(dest="command", required=True)
    _sim_parser(sub)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(process)d %(levelname)s %(name)s %(message)s")
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
