"""`ocx demo`: simulated clouds, OCX in front of them, and an OCX in each provider.

The clouds (``home``, the K2K identity provider, and the service providers ``sp1`` and
``sp2``) run in a child process (``ocx sim``); the OCXs run in this one:

- the user's OCX (home's Keystone, every cloud a provider), put in the home catalog;
- an OCX of ``sp1`` and one of ``sp2`` (seed 000's topology): each cloud's Nova reaches Cinder
  and Glance through its own cloud's OCX, peered with the user's OCX, which injects what that
  Nova needs to use a volume or an image of the other provider;
- a Proton server (Gluon's net-l3vpn) in ``sp1`` registering its ports in etcd (under a prefix
  of the run's own), whose ports the user's OCX serves on its Neutron API (issue 9); its URL is
  ``services.sp1.proton`` in ``ocx-demo.json``;
- a fourth landlord, ``ctl``, whose networking is two simulated SDN controllers behind a
  controller provider of the user's OCX (issue 10): no OpenStack service of its own, reached
  through OCX (``openstack network create NAME@ctl``); its controllers' URLs are
  ``services.ctl.controller`` (one per server) in ``ocx-demo.json``, and ``ocx sim-fault``
  stops, starts and restarts each.

A ``clouds.yaml`` is written with the cloud ``ocx`` (the demo user of the home cloud, through
OCX), ``ocx-admin`` (home's admin through OCX: the status page at ``/ocx/``) and ``home``, ``sp1``, ``sp2`` going direct, so that what is created directly is what OCX
must find.
"""
from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import signal
import socket
import sys
import tempfile
from pathlib import Path

import orjson

from . import config

# sp1 also runs a Proton server (net-l3vpn) whose Gluon ports OCX serves (issue 9).
# ctl is a landlord whose networking is two SDN controllers behind a controller provider.
CLOUDS = "home,sp1=nova+cinder+glance+neutron+proton,sp2,ctl=controller"
GLUON_CLOUD = "sp1"
ETCD_URL = "http://127.0.0.1:2379"
SERVICE_TYPES = {"nova": "compute", "cinder": "block-storage", "glance": "image",
                 "neutron": "network", "keystone": "identity", "proton": "proton",
                 "controller": "controller"}


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
    """The user's OCX alone: home's Keystone, every cloud of home's a provider, no peers."""
    providers = ", ".join(providers_of(described) + controller_landlords(described))
    return ocx_config(described, "home", port, state_dir, [f"providers = {providers}"]) + \
        controller_sections(described)


def providers_of(described: dict) -> list[str]:
    """The K2K service providers of home."""
    return [name for name, cloud in described["clouds"].items()
            if cloud["idp"] == "home" and "controller" not in cloud]


def controller_landlords(described: dict) -> list[str]:
    """The clouds whose networking is SDN controllers (a controller provider each)."""
    return [name for name, cloud in described["clouds"].items() if "controller" in cloud]


def controller_sections(described: dict) -> str:
    """``[provider:NAME] kind = controller`` with each landlord's servers and credentials."""
    lines = []
    for name in controller_landlords(described):
        ctl = described["clouds"][name]["controller"]
        lines += ["", f"[provider:{name}]", "kind = controller", f"servers = {ctl['servers']}",
                  f"serverauth = {ctl['auth']}"]
        if ctl.get("deployment_id"):
            lines.append(f"deployment_id = {ctl['deployment_id']}")
    return "\n".join(lines) + "\n" if lines else ""


def ocx_config(described: dict, keystone: str, port: int, state_dir: Path,
               lines: list[str]) -> str:
    """An OCX whose home is cloud ``keystone``, with its service user there."""
    home = described["clouds"][keystone]
    service = home["users"]["ocx"]
    return "\n".join([
        "[DEFAULT]", "bind_host = 127.0.0.1", f"bind_port = {port}",
        f"state_dir = {state_dir}", *lines, "",
        "[keystone]", f"auth_url = {home['auth_url']}", "username = ocx",
        f"password = {service['password']}", f"project_name = {service['project']}",
        "home_interface = internal", ""])


USER_OCX = "user-ocx"


def peered_configs(described: dict, ports: dict[str, int], work: Path) -> dict[str, str]:
    """The configuration of each OCX, by the cloud it stands in front of (``home``: the
    user's). A secret of its own for each pair of peers."""
    providers = providers_of(described)
    secret = {p: secrets.token_urlsafe(24) for p in providers}
    user = [f"providers = {', '.join(providers + controller_landlords(described))}",
            f"peer_name = {USER_OCX}",
            f"peers = {', '.join(f'{p}-ocx' for p in providers)}"]
    for p in providers:
        user += ["", f"[peer:{p}-ocx]", f"url = http://127.0.0.1:{ports[p]}", f"fronts = {p}",
                 f"secret = {secret[p]}"]
    configs = {"home": ocx_config(described, "home", ports["home"], work / "home", user)
               + controller_sections(described)}
    for p in providers:
        # Every other provider, not home: to this OCX, "home" is its own cloud.
        others = [o for o in providers if o != p]
        configs[p] = ocx_config(described, p, ports[p], work / p, [
            f"peer_name = {p}-ocx", f"peers = {USER_OCX}", "", f"[peer:{USER_OCX}]",
            f"secret = {secret[p]}", f"accept_providers = {', '.join(others)}"])
    return configs


async def through_own_ocx(control: str, cloud: str, ocx_url: str) -> None:
    """``cloud``'s Nova calls Cinder and Glance, and its Cinder calls Glance (a volume made
    from an image), through ``ocx_url`` from now on."""
    import aiohttp

    settings = {"nova.cinder_url": f"{ocx_url}/volume/v3/%(project_id)s",
                "nova.glance_url": f"{ocx_url}/image", "cinder.glance_url": f"{ocx_url}/image"}
    async with aiohttp.ClientSession() as session:
        async with session.patch(f"{control}/clouds/{cloud}/settings", json=settings) as resp:
            if resp.status != 200:
                raise RuntimeError(f"the simulated {cloud} refused its settings: "
                                   f"{await resp.text()}")


def gluon_section(prefix: str) -> str:
    """The user's OCX reads the Gluon port registry the demo's Proton server writes."""
    return "\n".join(["", "[gluon]", f"etcd_url = {ETCD_URL}", f"key_prefix = {prefix}", ""])


async def gluon_registry(control: str) -> str:
    """A registry prefix of this run's own (ports of earlier runs are not this one's) that
    the Proton server of ``GLUON_CLOUD`` registers its ports under; etcd must answer."""
    import aiohttp

    prefix = f"/ocx-demo-{secrets.token_hex(4)}/gluon/port/"
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session:
        try:
            async with session.get(f"{ETCD_URL}/version") as resp:
                await resp.read()
        except (aiohttp.ClientError, asyncio.TimeoutError):
            raise RuntimeError(f"etcd does not answer at {ETCD_URL} (the Gluon port "
                               f"registry): `make demo` starts it (scripts/ensure-services "
                               f"etcd)") from None
        async with session.patch(f"{control}/clouds/{GLUON_CLOUD}/settings",
                                 json={"proton.etcd_prefix": prefix}) as resp:
            if resp.status != 200:
                raise RuntimeError(f"the simulated {GLUON_CLOUD} refused its settings: "
                                   f"{await resp.text()}")
    return prefix


async def forget_registry(prefix: str) -> None:
    """The run's registry entries go with it."""
    import aetcd

    try:
        async with aetcd.Client(host="127.0.0.1", port=2379, timeout=5) as etcd:
            await etcd.delete_prefix(prefix.encode())
    except Exception as exc:  # noqa: BLE001 - the demo stops anyway; say what is left
        print(f"ocx demo: the registry entries under {prefix} stay in etcd: {exc}",
              file=sys.stderr)


def clouds_yaml(described: dict, ocx_url: str) -> dict:
    clouds = {}
    for name, cloud in described["clouds"].items():
        if "controller" in cloud:
            continue   # no OpenStack service of its own: reached through OCX only
        demo = cloud["users"]["demo"]
        clouds[name] = {
            "auth": {"auth_url": cloud["auth_url"], "username": "demo",
                     "password": demo["password"], "project_name": demo["project"],
                     "user_domain_name": "Default", "project_domain_name": "Default"},
            "region_name": cloud["region"], "identity_api_version": 3,
            # The home catalog's public endpoints are OCX's: going direct means internal.
            "interface": "internal" if name == "home" else "public"}
    clouds["ocx"] = dict(clouds["home"], interface="public")
    # Home's admin through OCX: the operator's view (the status page at /ocx/, ocx providers'
    # gateway column, GET /ocx/v1/...), which needs the admin role.
    admin = described["clouds"]["home"]["users"].get("admin")
    if admin is not None:
        clouds["ocx-admin"] = dict(clouds["ocx"], auth=dict(
            clouds["ocx"]["auth"], username="admin", password=admin["password"],
            project_name=admin["project"]))
    return {"clouds": clouds}


def service_urls(described: dict) -> dict:
    return {name: {SERVICE_TYPES[svc]: url for svc, url in cloud["endpoints"].items()}
            for name, cloud in described["clouds"].items()}


def write_private(path: Path, document: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(orjson.dumps(document, option=orjson.OPT_INDENT_2))
    path.chmod(0o600)


async def run(clouds_yaml_path: Path, port: int | None) -> None:
    from .admin import gluon
    from .api.server import serve
    from .identity import ksa
    from .identity.catalog import register_ocx
    from .identity.validate import service_auth
    from .policy.catalog import register_policy

    work = Path(tempfile.mkdtemp(prefix="ocx-demo-"))
    sim, described = await start_clouds(work / "clouds.json")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    prefix = None
    try:
        prefix = await gluon_registry(described["control"])
        ports = {name: free_port() for name in described["clouds"]}
        ports["home"] = port or ports["home"]
        confs = {}
        for cloud, text in peered_configs(described, ports, work / "state").items():
            if cloud == "home":
                text += gluon_section(prefix)
            path = work / f"ocx-{cloud}.conf"
            path.write_text(text)
            os.chmod(path, 0o600)
            confs[cloud] = config.load(str(path))
        user = confs["home"]
        ocx_url = config.public_url(user)
        await register_ocx(ksa.session(user.call_timeout, service_auth(user)),
                           user.keystone.auth_url, ocx_url)
        # The GBP API at /policy, in home's catalog as service type policy (issue 11).
        await register_policy(ksa.session(user.call_timeout, service_auth(user)),
                              user.keystone.auth_url, ocx_url)
        # The dummy network and subnet of Gluon ports (ocx gluon setup).
        neutron = gluon.HomeNeutron(ksa.session(user.call_timeout, service_auth(user)),
                                    user.keystone.home_interface, user.keystone.region_name)
        await asyncio.to_thread(gluon.setup, neutron, user.gluon)
        peers = {cloud: config.public_url(conf) for cloud, conf in confs.items()
                 if cloud != "home"}
        for cloud, url in peers.items():
            await through_own_ocx(described["control"], cloud, url)
        write_private(clouds_yaml_path, clouds_yaml(described, ocx_url))
        write_private(clouds_yaml_path.parent / "ocx-demo.json",
                      {"ocx": ocx_url, "peers": peers, "control": described["control"],
                       "config": str(work / "ocx-home.conf"),
                       "services": service_urls(described)})
        started = set()

        def ready(url: str) -> None:
            started.add(url)
            if len(started) == len(confs):
                print(f"OCX ready: {ocx_url}", flush=True)

        servers = [asyncio.create_task(serve(conf, ready=ready)) for conf in confs.values()]
        waiter = asyncio.create_task(stop.wait())
        done, _ = await asyncio.wait({*servers, waiter}, return_when=asyncio.FIRST_COMPLETED)
        for server in servers:
            server.cancel()
        await asyncio.gather(*servers, return_exceptions=True)
        for server in servers:
            if server in done and server.exception():
                raise server.exception()
    finally:
        if prefix is not None:
            await forget_registry(prefix)
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
