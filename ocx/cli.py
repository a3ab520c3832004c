"""The ``ocx`` command."""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import logging
import os
import signal
import subprocess
import sys
import tempfile
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
    p.add_argument("--etcd", default=None,
                   help="etcd URL the clouds' Proton servers register their ports in "
                        "(a cloud runs one when named with proton: sp1=nova+neutron+proton)")
    p.add_argument("--etcd-prefix", default=None,
                   help="key prefix of the Gluon port registry (default /gluon/port/)")
    p.add_argument("--controllers", type=int, default=None,
                   help="how many simulated network controllers a cloud named with "
                        "'controller' runs (ctl=controller; default 2)")
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
    f.add_argument("--controller", type=int, metavar="I",
                   help="the cloud's network controller I (0, 1, ...) instead: --stop, --start, "
                        "--restart, or its --latency-ms / --error-rate / --clear; alone, its "
                        "state")
    action = f.add_mutually_exclusive_group()
    action.add_argument("--stop", dest="controller_action", action="store_const",
                        const="stop", help="with --controller: stop it (its socket closed)")
    action.add_argument("--start", dest="controller_action", action="store_const",
                        const="start", help="with --controller: start it again, as it was")
    action.add_argument("--restart", dest="controller_action", action="store_const",
                        const="restart", help="with --controller: restart it empty, as a "
                                              "rebooted controller with no persistent state")
    f.set_defaults(func=cmd_sim_fault, parser=f)


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
    proton = {k: v for k, v in (("proton.etcd", args.etcd),
                                ("proton.etcd_prefix", args.etcd_prefix)) if v}
    if proton:
        specs = [dataclasses.replace(s, settings={**s.settings, **proton}) for s in specs]
    if args.controllers is not None:
        specs = [dataclasses.replace(s, settings={**s.settings,
                                                  "controller.count": str(args.controllers)})
                 for s in specs]
    exchange = SimExchange(specs, notifications_url=notifications)
    await exchange.start()
    runner = web.AppRunner(make_control_app(exchange), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", control_port)
    await site.start()
    control_url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}/sim"
    try:
        description = exchange.describe()
        print(orjson.dumps({"control": control_url, "clouds": description},
                           option=orjson.OPT_INDENT_2).decode(), flush=True)
        if args.clouds_yaml:
            _write_private(args.clouds_yaml, exchange.clouds_yaml())
            print(f"clouds.yaml written to {args.clouds_yaml}", file=sys.stderr, flush=True)
        if args.describe:
            _write_private(args.describe, {"control": control_url, "clouds": description})
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
    finally:
        await runner.cleanup()
        await exchange.stop()


def _write_private(path: Path, document: dict) -> None:
    """Written beside and renamed into place: whoever waits for the file sees it whole."""
    # JSON is valid YAML, and the real clients read clouds.yaml with a YAML parser.
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.touch(mode=0o600)
    partial.write_bytes(orjson.dumps(document, option=orjson.OPT_INDENT_2))
    partial.chmod(0o600)
    partial.rename(path)


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

    def call(method: str, body: dict | None = None, *, path: str | None = None) -> dict:
        req = urllib.request.Request(f"{base}/clouds/{args.cloud}/{path}" if path else url,
                                     method=method,
                                     data=orjson.dumps(body) if body is not None else None,
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                return orjson.loads(resp.read())
        except urllib.error.HTTPError as exc:
            raise SystemExit(f"ocx sim-fault: {exc.code}: {exc.read().decode(errors='replace')}")
        except (urllib.error.URLError, TimeoutError) as exc:
            raise SystemExit(f"ocx sim-fault: the control endpoint {base} cannot be reached: "
                             f"{getattr(exc, 'reason', exc)}")

    if args.controller is not None:
        return _controller_fault(args, call)
    if args.controller_action:
        args.parser.error("--stop, --start and --restart go with --controller")
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


def _controller_fault(args, call) -> int:
    """``ocx sim-fault CLOUD --controller I ...``: the control routes of the simulated
    controllers (``ocx/sim/controller.py``: ``POST .../controllers/{i}/stop|start|restart``,
    ``PATCH|DELETE .../controllers/{i}/faults``, ``GET .../controllers/{i}``)."""
    if args.controller < 0:
        args.parser.error("--controller is a controller's index: 0, 1, ...")
    if args.down or args.up or args.service != "*":
        args.parser.error("--down, --up and --service are a cloud's services' faults; a "
                          "controller takes --stop, --start, --restart, --latency-ms, "
                          "--error-rate and --clear")
    path = f"controllers/{args.controller}"
    change = {key: value for key, value in (("latency_ms", args.latency_ms),
                                            ("error_rate", args.error_rate))
              if value is not None}
    state = None
    if args.clear:
        state = call("DELETE", path=f"{path}/faults")
    if change:
        state = call("PATCH", change, path=f"{path}/faults")
    if args.controller_action:
        # restart: empty, as the route's default (a rebooted controller keeps nothing).
        state = call("POST", path=f"{path}/{args.controller_action}")
    if state is None:
        state = call("GET", path=path)
    print(orjson.dumps(state, option=orjson.OPT_INDENT_2).decode())
    return 0


def _gateway_parsers(sub) -> None:
    s = sub.add_parser("serve", help="run the gateway")
    s.add_argument("--config", required=True, help="the INI configuration file")
    s.add_argument("--workers", type=_positive, default=None,
                   help="worker processes on the port (default: [DEFAULT] workers)")
    s.set_defaults(func=cmd_serve)

    c = sub.add_parser("catalog", help="point the home catalog's public endpoints at OCX")
    c.add_argument("--config", required=True)
    c.set_defaults(func=cmd_catalog)

    b = sub.add_parser("bench", help="the benchmarks of a source checkout (bench/run.py); "
                                     "arguments go to it, e.g. --quick")
    b.set_defaults(func=lambda args: cmd_bench([]))

    d = sub.add_parser("demo", help="three simulated clouds (home, sp1, sp2) and OCX in front")
    d.add_argument("--clouds-yaml", type=Path, default=Path("clouds.yaml"),
                   help="where to write clouds.yaml (ocx-demo.json goes beside it)")
    d.add_argument("--port", type=int, default=None, help="OCX's port (default: a free one)")
    d.set_defaults(func=cmd_demo)

    n = sub.add_parser("listen", help="keep the resource mappings current from the providers' "
                                      "notifications (RabbitMQ), until SIGTERM")
    n.add_argument("--config", required=True, help="the INI configuration file")
    n.set_defaults(func=cmd_listen)


def cmd_bench(bench_args: list[str]) -> int:
    """Run bench/run.py of the checkout this OCX is installed from (``make bench`` does too)."""
    script = Path(__file__).resolve().parent.parent / "bench" / "run.py"
    if not script.exists():
        print("ocx bench: the benchmarks come with OCX's source checkout (bench/run.py); "
              "this installation has none", file=sys.stderr)
        return 2
    return subprocess.call([sys.executable, str(script), *bench_args])


def cmd_demo(args) -> int:
    from .demo import main as demo_main

    return demo_main(args.clouds_yaml, args.port)


def cmd_serve(args) -> int:
    from . import config
    from .api.server import prepare_store, run
    from .api.workers import Workers

    conf = config.load(args.config)
    workers = args.workers or conf.workers

    def announce(url: str) -> None:
        print(f"OCX ready: {url}", flush=True)

    if workers == 1:
        try:
            run(conf, ready=announce)
        except ValueError as exc:   # a configuration OCX cannot start with: one line
            print(f"ocx serve: {exc}", file=sys.stderr)
            return 2
        return 0
    prepare_store(conf)  # the workers would otherwise race to create it
    # /metrics sums every worker's values (prometheus_client's multiprocess mode): the
    # operator's directory, else one of this run's own.
    with _metrics_dir():
        return Workers(args.config, workers, conf.shutdown_grace_seconds).run(announce)


@contextlib.contextmanager
def _metrics_dir():
    from .metrics import MULTIPROC_ENV

    if os.environ.get(MULTIPROC_ENV):
        yield
        return
    with tempfile.TemporaryDirectory(prefix="ocx-metrics-") as path:
        os.environ[MULTIPROC_ENV] = path   # inherited by the spawned workers
        try:
            yield
        finally:
            del os.environ[MULTIPROC_ENV]


def cmd_listen(args) -> int:
    from . import config
    from .api.server import HOME
    from .learn import listener

    conf = config.load(args.config)
    try:
        found = listener.sources(conf, HOME)
    except ValueError as exc:
        print(f"ocx listen: {exc}", file=sys.stderr)
        return 2
    if not found:
        print("ocx listen: no notifications_url in [keystone] or any [provider:NAME]",
              file=sys.stderr)
        return 2
    listener.run(conf, found)
    return 0


def cmd_catalog(args) -> int:
    from . import config
    from .identity import ksa
    from .identity.catalog import register_ocx
    from .identity.validate import service_auth

    conf = config.load(args.config)
    session = ksa.session(conf.call_timeout, service_auth(conf), tls=config.client_tls(conf))
    changes = asyncio.run(register_ocx(session, conf.keystone.auth_url, config.public_url(conf),
                                       conf.keystone.region_name))
    for change in changes:
        print(f"{change.service_type}: {change.old_url or '(none)'} -> {change.new_url}")
    return 0


# -- the operator's commands: ocx db, ocx mappings, ocx providers, ocx projects --------------

RESOURCE_COLUMNS = ("type", "id", "provider", "remote_project", "source", "updated_at")
TOKEN_COLUMNS = ("hash_prefix", "local_project", "provider", "remote_project", "expires_at")
# health: as probed now; state, since, last_error: as the running gateway has seen its calls.
PROVIDER_COLUMNS = ("name", "kind", "sp_id", "source", "health", "state", "since", "last_error",
                    "services", "controllers", "detail")


def _operator_parsers(sub) -> None:
    from .admin.output import FORMATS

    with_config = argparse.ArgumentParser(add_help=False)
    with_config.add_argument("--config", required=True, help="the INI configuration file")
    # Operators read the answer; log lines only with -v.
    with_config.set_defaults(log_level=logging.WARNING)
    with_format = argparse.ArgumentParser(add_help=False)
    with_format.add_argument("-f", "--format", choices=FORMATS, default="table",
                             help="output format (default: table)")

    db = sub.add_parser("db", help="the mapping store's schema")
    db_sub = db.add_subparsers(dest="db_command", required=True)
    p = db_sub.add_parser("upgrade", parents=[with_config],
                          help="run the store's migrations up to the newest revision")
    p.set_defaults(func=cmd_db_upgrade)
    p = db_sub.add_parser("current", parents=[with_config, with_format],
                          help="the revision the store is at, and the newest one")
    p.set_defaults(func=cmd_db_current)
    p = db_sub.add_parser("status", parents=[with_config, with_format],
                          help="as current, for scripts: exit status 0 when the store is at "
                               "the newest revision, 3 when it needs `ocx db upgrade`")
    p.set_defaults(func=cmd_db_status)

    m = sub.add_parser("mappings", help="resource and token mappings in the store")
    m_sub = m.add_subparsers(dest="mappings_command", required=True)
    p = m_sub.add_parser("list", parents=[with_config, with_format],
                         help="resource mappings, or token mappings with --tokens")
    p.add_argument("--type", dest="resource_type", help="only this resource type (servers, "
                                                         "volumes, ...)")
    p.add_argument("--provider", help="only the mappings to this provider")
    p.add_argument("--tokens", action="store_true",
                   help="token mappings (a prefix of the local token's hash, never a token)")
    p.add_argument("--include-expired", action="store_true",
                   help="with --tokens: expired token mappings too")
    p.add_argument("--limit", type=_positive, help="at most this many")
    p.set_defaults(func=cmd_mappings_list, parser=p)
    p = m_sub.add_parser("show", parents=[with_config, with_format],
                         help="where one resource lives")
    p.add_argument("type", help="resource type (servers, volumes, images, ports, ...)")
    p.add_argument("id", help="resource id")
    p.set_defaults(func=cmd_mappings_show)
    p = m_sub.add_parser("delete", parents=[with_config],
                         help="forget where a resource lives (TYPE ID), or everything "
                              "mapped to one provider (--provider)")
    p.add_argument("target", nargs="*", metavar="TYPE ID", help="resource type and id")
    p.add_argument("--provider", help="every mapping to this provider (resource and token)")
    p.add_argument("--type", dest="resource_type",
                   help="with --provider: only resource mappings of this type")
    p.add_argument("--tokens", action="store_true",
                   help="with --provider: only token mappings")
    p.set_defaults(func=cmd_mappings_delete, parser=p)

    g = sub.add_parser("gluon", help="Gluon ports (issue 9)")
    g_sub = g.add_subparsers(dest="gluon_command", required=True)
    p = g_sub.add_parser("setup", parents=[with_config],
                         help="make the dummy network and subnet of Gluon ports in the home "
                              "cloud's Neutron, unless they are there")
    p.set_defaults(func=cmd_gluon_setup)

    p = sub.add_parser("providers", parents=[with_config, with_format],
                       help="each provider, its services and its health")
    p.add_argument("--timeout", type=_positive_float, default=5.0,
                   help="seconds all the checks may take together (default: 5)")
    p.set_defaults(func=cmd_providers)

    p = sub.add_parser("projects", parents=[with_config, with_format],
                       help="each local project: its home, its foreign providers, the remote "
                            "project at each, when last seen")
    p.set_defaults(func=cmd_projects)

    c = sub.add_parser("controller", help="a controller provider's SDN controllers (issue 10)")
    c_sub = c.add_subparsers(dest="controller_command", required=True)
    p = c_sub.add_parser("sync", parents=[with_config, with_format],
                         help="give the controllers of controller provider NAME OCX's whole "
                              "state from the store (PUT /topology); exit status 0: every "
                              "server asked was synchronised, 1: some were not, 2: usage or "
                              "configuration error")
    p.add_argument("name", metavar="NAME", help="the controller provider ([provider:NAME])")
    p.add_argument("--server", metavar="HOST:PORT",
                   help="only this one of its servers (default: every one, in order)")
    p.set_defaults(func=cmd_controller_sync)

    k = sub.add_parser("keys", help="the store's encryption keys (ocx/admin/keys.py)")
    k_sub = k.add_subparsers(dest="keys_command", required=True)
    p = k_sub.add_parser("generate", help="print a new Fernet key, to put first in "
                                          "[store] encryption_keys")
    p.set_defaults(func=cmd_keys_generate)
    p = k_sub.add_parser("rotate", parents=[with_config],
                         help="re-encrypt every encrypted value with the newest key, while "
                              "the gateways run; exit status 0: all done, 1: failed (run it "
                              "again), 3: some values no configured key opens")
    p.add_argument("--delete-unreadable", action="store_true",
                   help="delete the rows of values no configured key opens (their token "
                        "mappings are made again on the next call)")
    p.set_defaults(func=cmd_keys_rotate)
    p = k_sub.add_parser("status", parents=[with_config, with_format],
                         help="how many values each configured key seals")
    p.set_defaults(func=cmd_keys_status)


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be 1 or more")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError("must be more than 0")
    return value


def _operator(name: str, work) -> int:
    """Run one operator command's coroutine; a failure is one line on stderr and status 1."""
    import sqlalchemy.exc

    from .admin.store import AdminError
    from .store import SchemaNotCurrent

    try:
        asyncio.run(work)
    except (AdminError, SchemaNotCurrent, ValueError) as exc:  # ValueError: a bad store URL
        print(f"ocx {name}: {exc}", file=sys.stderr)
        return 1
    except sqlalchemy.exc.SQLAlchemyError as exc:
        # Statement parameters are hidden by the engine; the first line says what failed.
        reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
        print(f"ocx {name}: the store failed: {reason}", file=sys.stderr)
        return 1
    except OSError as exc:
        where = f": {exc.filename}" if exc.filename else ""
        print(f"ocx {name}: the store cannot be reached: {exc.strerror or exc}{where}",
              file=sys.stderr)
        return 1
    return 0


def _load(args):
    """The configuration and the store's URL."""
    from oslo_config import cfg

    from . import config
    from .admin.store import AdminError
    from .store.location import store_url

    try:
        conf = config.load(args.config)
    except cfg.Error as exc:
        raise AdminError(f"cannot read the configuration: {exc}") from None
    try:
        url = store_url(conf)
    except cfg.Error as exc:
        raise AdminError(f"bad configuration: {exc}") from None
    return conf, url


def _print(text: str) -> None:
    if text:
        print(text)


def cmd_db_upgrade(args) -> int:
    from .admin.store import shown, upgrade_schema

    async def work():
        _, url = _load(args)
        before, after = await upgrade_schema(url)
        if before == after:
            print(f"the store at {shown(url)} is at revision {after}, the newest")
        else:
            print(f"the store at {shown(url)} is upgraded from revision {before or 'none'} "
                  f"to {after}")

    return _operator("db upgrade", work())


def cmd_db_current(args) -> int:
    return _db_revision(args, "db current")[0]


def _db_revision(args, name: str) -> tuple[int, bool]:
    """Print where the store is; (the exit status, whether it is behind the newest)."""
    from .admin.output import render_record
    from .admin.store import schema_revision, shown

    behind = False

    async def work():
        nonlocal behind
        _, url = _load(args)
        at, newest = await schema_revision(url)
        behind = at != newest
        _print(render_record({"store": shown(url), "current": at, "head": newest,
                              "up_to_date": at == newest}, args.format))

    status = _operator(name, work())
    return status, behind


# ocx db status: the store is not at the newest revision (or has no schema yet).
EXIT_UPGRADE_NEEDED = 3


def cmd_db_status(args) -> int:
    status, behind = _db_revision(args, "db status")
    if status == 0 and behind:
        print("ocx db status: the store needs `ocx db upgrade`", file=sys.stderr)
        return EXIT_UPGRADE_NEEDED
    return status


def cmd_mappings_list(args) -> int:
    from .admin import store as admin
    from .admin.output import render_list

    if args.tokens and args.resource_type:
        args.parser.error("--type lists resource mappings; token mappings have no type")
    if args.include_expired and not args.tokens:
        args.parser.error("--include-expired goes with --tokens")

    async def work():
        _, url = _load(args)
        async with admin.open_store(url) as store:
            if args.tokens:
                records = await admin.list_tokens(store, provider=args.provider,
                                                  include_expired=args.include_expired,
                                                  limit=args.limit)
                _print(render_list(records, TOKEN_COLUMNS, args.format))
            else:
                records = await admin.list_resources(store, resource_type=args.resource_type,
                                                     provider=args.provider, limit=args.limit)
                _print(render_list(records, RESOURCE_COLUMNS, args.format))

    return _operator("mappings list", work())


def cmd_mappings_show(args) -> int:
    from .admin import store as admin
    from .admin.output import render_record

    async def work():
        _, url = _load(args)
        async with admin.open_store(url) as store:
            _print(render_record(await admin.show_resource(store, args.type, args.id),
                                 args.format))

    return _operator("mappings show", work())


def cmd_mappings_delete(args) -> int:
    from .admin import store as admin

    if args.provider is None and len(args.target) != 2:
        args.parser.error("give a resource's TYPE and ID, or --provider")
    if args.provider is not None and args.target:
        args.parser.error("give either TYPE ID or --provider, not both")
    if args.provider is None and (args.resource_type or args.tokens):
        args.parser.error("--type and --tokens go with --provider")
    if args.resource_type and args.tokens:
        args.parser.error("--type selects resource mappings, --tokens token mappings: "
                          "give one")

    async def work():
        _, url = _load(args)
        async with admin.open_store(url) as store:
            if args.provider is None:
                await admin.delete_resource(store, *args.target)
                print(f"deleted the mapping of {args.target[0]} {args.target[1]}")
                return
            resources, tokens = await admin.delete_provider(
                store, args.provider, resource_type=args.resource_type,
                resources=not args.tokens, tokens=not args.resource_type)
            what = []
            if not args.tokens:
                kind = f"{args.resource_type} " if args.resource_type else ""
                what.append(f"{resources} {kind}resource mapping(s)")
            if not args.resource_type:
                what.append(f"{tokens} token mapping(s)")
            print(f"deleted {' and '.join(what)} of provider {args.provider}")

    return _operator("mappings delete", work())


def cmd_gluon_setup(args) -> int:
    from . import config
    from .admin import gluon
    from .admin.store import AdminError
    from .identity import ksa
    from .identity.validate import service_auth

    async def work():
        conf, _ = _load(args)
        if not conf.keystone.auth_url:
            raise AdminError("[keystone] auth_url is not set")
        session = ksa.session(conf.call_timeout, service_auth(conf),
                              tls=config.client_tls(conf))
        neutron = gluon.HomeNeutron(session, conf.keystone.home_interface,
                                    conf.keystone.region_name)
        for outcome in await asyncio.to_thread(gluon.setup, neutron, conf.gluon):
            print(outcome.line())

    return _operator("gluon setup", work())


def cmd_providers(args) -> int:
    from .admin.health import probe
    from .admin.output import MACHINE, render_list
    from .admin.store import AdminError
    from .api.server import HOME

    async def work():
        conf, _ = _load(args)
        if not conf.keystone.auth_url:
            raise AdminError("[keystone] auth_url is not set")
        statuses = await probe(conf, HOME, args.timeout)
        if args.format in MACHINE:
            records = [s.record() for s in statuses]
        else:
            records = [s.shown() for s in statuses]
        _print(render_list(records, PROVIDER_COLUMNS, args.format,
                           blanks={"sp_id": "(identity provider)", "state": "",
                                   "since": "", "last_error": "", "controllers": ""}))

    return _operator("providers", work())


def cmd_controller_sync(args) -> int:
    from .admin import controller
    from .admin.output import render_list
    from .admin.progress import bar
    from .admin.store import AdminError

    outcome = 0

    async def work():
        nonlocal outcome
        try:
            conf, url = _load(args)
            chosen = controller.target(conf, args.name, args.server)
        except (AdminError, ValueError) as exc:  # ValueError: a bad controller server list
            print(f"ocx controller sync: {exc}", file=sys.stderr)
            outcome = 2
            return
        with bar(len(chosen.servers), f"syncing {args.name}", "server") as shown:
            results = await controller.sync(chosen, url, done=lambda _: shown.update())
        _print(render_list([r.record() for r in results], controller.COLUMNS, args.format,
                           blanks={"networks": "", "subnets": "", "ports": "",
                                   "routers": ""}))
        outcome = 0 if all(r.synced for r in results) else 1

    return _operator("controller sync", work()) or outcome


def cmd_projects(args) -> int:
    from . import config
    from .admin.output import MACHINE, render_list
    from .admin.projects import COLUMNS, list_projects, project_rows
    from .api.server import HOME

    async def work():
        conf, url = _load(args)
        records = await list_projects(url, home=HOME, configured=config.project_providers(conf))
        rows = records if args.format in MACHINE else project_rows(records)
        _print(render_list(rows, COLUMNS, args.format, blanks={"last_seen": "never"}))

    return _operator("projects", work())


# ocx keys rotate: values left that no configured key opens.
EXIT_UNREADABLE = 3


def cmd_keys_generate(args) -> int:
    from .store import generate_key

    print(generate_key())
    return 0


def cmd_keys_rotate(args) -> int:
    from .admin import keys
    from .admin import store as admin

    unreadable = 0

    async def work():
        nonlocal unreadable
        conf, url = _load(args)
        configured = keys.configured_keys(conf)
        async with admin.open_store(url) as store:
            done = await keys.rotate(store, configured,
                                     delete_unreadable=args.delete_unreadable)
        print(f"re-encrypted {done.rotated} value(s) with the newest key; {done.current} "
              f"already were" + (f"; {done.changed} rewritten meanwhile by a gateway, left "
                                 f"as written" if done.changed else ""))
        if done.unreadable:
            gone = "deleted" if args.delete_unreadable else "left in place"
            print(f"{done.unreadable} value(s) no configured key opens: {gone}",
                  file=sys.stderr)
            unreadable = 0 if args.delete_unreadable else done.unreadable

    status = _operator("keys rotate", work())
    return EXIT_UNREADABLE if status == 0 and unreadable else status


def cmd_keys_status(args) -> int:
    from .admin import keys
    from .admin import store as admin
    from .admin.output import render_list

    async def work():
        conf, url = _load(args)
        configured = keys.configured_keys(conf)
        async with admin.open_store(url) as store:
            use = await keys.key_use(store, configured)
        rows = [{"key": f"#{i + 1}" + (" (newest)" if i == 0 else ""), "values": n}
                for i, n in enumerate(use.by_key)]
        rows.append({"key": "none", "values": use.unreadable})
        _print(render_list(rows, ("key", "values"), args.format))

    return _operator("keys status", work())


def build_parser() -> argparse.ArgumentParser:
    from .cli_help import add_examples

    parser = argparse.ArgumentParser(prog="ocx", description="OCX: one OpenStack endpoint in "
                                                             "front of many clouds")
    parser.add_argument("-v", "--verbose", action="store_true")
    sub = parser.add_subparsers(dest="command", required=True)
    _sim_parser(sub)
    _gateway_parsers(sub)
    _operator_parsers(sub)
    add_examples(parser)   # every command's --help ends with examples (ocx/cli_help.py)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["bench"] and argv[1:] not in (["-h"], ["--help"]):
        return cmd_bench(argv[1:])  # every argument is bench/run.py's
    args = build_parser().parse_args(argv)
    level = getattr(args, "log_level", logging.INFO)
    from .logs import setup as setup_logs  # oslo.log's lines, each call's request ids on them

    level = logging.DEBUG if args.verbose else level
    root = logging.getLogger()
    if any(not getattr(h, "ocx_logs", False) for h in root.handlers):
        # Whoever called main() logs already (a test's capture): as basicConfig, add nothing.
        root.setLevel(level)
    else:
        setup_logs(level)
    from oslo_config import cfg
    try:
        return args.func(args)
    except cfg.Error as exc:  # a bad configuration file: one line, not a traceback
        print(f"ocx {args.command}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
