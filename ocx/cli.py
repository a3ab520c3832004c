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
    p.add_argument("--describe", type=Path, default=None,
                   help="also write the description (with the demo passwords) to this file, "
                        "readable only by its owner, once every cloud answers")
    p.set_defaults(func=cmd_sim)

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
            _write_private(args.clouds_yaml, exchange.clouds_yaml())
            print(f"clouds.yaml written to {args.clouds_yaml}", file=sys.stderr, flush=True)
        if args.describe:
            partial = args.describe.with_suffix(".partial")
            _write_private(partial, {"control": control_url, "clouds": description})
            partial.rename(args.describe)  # appears whole, for whoever waits for it
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
    finally:
        await runner.cleanup()
        await exchange.stop()


def _write_private(path: Path, document: dict) -> None:
    # JSON is valid YAML, and the real clients read clouds.yaml with a YAML parser.
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600)
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


def _gateway_parsers(sub) -> None:
    s = sub.add_parser("serve", help="run the gateway")
    s.add_argument("--config", required=True, help="the INI configuration file")
    s.set_defaults(func=cmd_serve)

    c = sub.add_parser("catalog", help="point the home catalog's public endpoints at OCX")
    c.add_argument("--config", required=True)
    c.set_defaults(func=cmd_catalog)

    d = sub.add_parser("demo", help="three simulated clouds (home, sp1, sp2) and OCX in front")
    d.add_argument("--clouds-yaml", type=Path, default=Path("clouds.yaml"),
                   help="where to write clouds.yaml (ocx-demo.json goes beside it)")
    d.add_argument("--port", type=int, default=None, help="OCX's port (default: a free one)")
    d.set_defaults(func=cmd_demo)


def cmd_demo(args) -> int:
    from .demo import main as demo_main

    return demo_main(args.clouds_yaml, args.port)


def cmd_serve(args) -> int:
    from . import config
    from .api.server import serve

    conf = config.load(args.config)
    try:
        asyncio.run(serve(conf, ready=lambda url: print(f"OCX ready: {url}", flush=True)))
    except KeyboardInterrupt:
        pass
    return 0


def cmd_catalog(args) -> int:
    from . import config
    from .identity import ksa
    from .identity.catalog import register_ocx
    from .identity.validate import service_auth

    conf = config.load(args.config)
    changes = asyncio.run(register_ocx(ksa.session(conf.call_timeout, service_auth(conf)),
                                       conf.keystone.auth_url, config.public_url(conf),
                                       conf.keystone.region_name))
    for change in changes:
        print(f"{change.service_type}: {change.old_url or '(none)'} -> {change.new_url}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ocx", description="OCX: one OpenStack endpoint in "
                                                             "front of many clouds")
    parser.add_argument("-v", "--verbose", action="store_true")
    sub = parser.add_subparsers(dest="command", required=True)
    _sim_parser(sub)
    _gateway_parsers(sub)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(process)d %(levelname)s %(name)s %(message)s")
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
