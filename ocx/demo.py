"""`ocx demo`: three simulated clouds and OCX in front of them, ready for the real clients.

The clouds (``home``, the K2K identity provider, and the service providers ``sp1`` and
``sp2``) run in a child process (``ocx sim``); OCX runs in this one. OCX is put in the home
catalog, and a ``clouds.yaml`` is written with the cloud ``ocx`` (the demo user of the home
cloud, through OCX) and ``home``, ``sp1``, ``sp2`` going direct, so that what is created directly
is what OCX must find.
"""
from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import sys
import tempfile
from pathlib import Path

import orjson

from . import config

CLOUDS = "home,sp1,sp2"
SERVICE_TYPES = {"nova": "compute", "cinder": "block-storage", "glance": "image",
                 "neutron": "network", "keystone": "identity"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def start_clouds(describe: Path) -> tuple[asyncio.subprocess.Process, dict]:
    """Start ``ocx sim`` in a child process and wait for its description of the clouds."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "ocx.cli", "sim", "--clouds", CLOUDS, "--describe", str(describe),
        stdout=asyncio.subprocess.DEVNULL)
    for _ in range(600):
        if describe.exists():
            return proc, orjson.loads(describe.read_bytes())
        if proc.returncode is not None:
            break
        await asyncio.sleep(0.1)
    proc.kill()
    raise RuntimeError("the simulated clouds did not start")


def gateway_config(described: dict, port: int, state_dir: Path) -> str:
    home = described["clouds"]["home"]
    service = home["users"]["ocx"]
    providers = [name for name, cloud in described["clouds"].items() if cloud["idp"] == "home"]
    return "\n".join([
        "[DEFAULT]", "bind_host = 127.0.0.1", f"bind_port = {port}",
        f"providers = {', '.join(providers)}", f"state_dir = {state_dir}", "",
        "[keystone]", f"auth_url = {home['auth_url']}", "username = ocx",
        f"password = {service['password']}", f"project_name = {service['project']}",
        "home_interface = internal", ""])


def clouds_yaml(described: dict, ocx_url: str) -> dict:
    clouds = {}
    for name, cloud in described["clouds"].items():
        demo = cloud["users"]["demo"]
        clouds[name] = {
            "auth": {"auth_url": cloud["auth_url"], "username": "demo",
                     "password": demo["password"], "project_name": demo["project"],
                     "user_domain_name": "Default", "project_domain_name": "Default"},
            "region_name": cloud["region"], "identity_api_version": 3,
            # The home catalog's public endpoints are OCX's: going direct means internal.
            "interface": "internal" if name == "home" else "public"}
    clouds["ocx"] = dict(clouds["home"], interface="public")
    return {"clouds": clouds}


def service_urls(described: dict) -> dict:
    return {name: {SERVICE_TYPES[svc]: url for svc, url in cloud["endpoints"].items()}
            for name, cloud in described["clouds"].items()}


def write_private(path: Path, document: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(orjson.dumps(document, option=orjson.OPT_INDENT_2))
    path.chmod(0o600)


async def run(clouds_yaml_path: Path, port: int | None) -> None:
    from .api.server import serve
    from .identity import ksa
    from .identity.catalog import register_ocx
    from .identity.validate import service_auth

    work = Path(tempfile.mkdtemp(prefix="ocx-demo-"))
    sim, described = await start_clouds(work / "clouds.json")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        port = port or free_port()
        conf_path = work / "ocx.conf"
        conf_path.write_text(gateway_config(described, port, work / "state"))
        os.chmod(conf_path, 0o600)
        conf = config.load(str(conf_path))
        ocx_url = config.public_url(conf)
        await register_ocx(ksa.session(conf.call_timeout, service_auth(conf)),
                           conf.keystone.auth_url, ocx_url)
        write_private(clouds_yaml_path, clouds_yaml(described, ocx_url))
        write_private(clouds_yaml_path.parent / "ocx-demo.json",
                      {"ocx": ocx_url, "control": described["control"],
                       "config": str(conf_path), "services": service_urls(described)})
        server = asyncio.create_task(serve(conf, ready=lambda url: print(
            f"OCX ready: {url}", flush=True)))
        waiter = asyncio.create_task(stop.wait())
        done, _ = await asyncio.wait({server, waiter}, return_when=asyncio.FIRST_COMPLETED)
        server.cancel()
        await asyncio.gather(server, return_exceptions=True)
        if server in done and server.exception():
            raise server.exception()
    finally:
        if sim.returncode is None:
            sim.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(sim.wait(), 15)
            except asyncio.TimeoutError:
                sim.kill()
                await sim.wait()
        # It holds the service user's password, the store's key and the remote tokens.
        shutil.rmtree(work, ignore_errors=True)


def main(clouds_yaml_path: Path, port: int | None) -> int:
    try:
        asyncio.run(run(clouds_yaml_path, port))
    except (RuntimeError, ValueError) as exc:
        print(f"ocx demo: {exc}", file=sys.stderr)
        return 1
    return 0
