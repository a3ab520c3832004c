"""Two real OpenStack clouds on loopback, federated with Keystone-to-Keystone.

Cloud A: Keystone (the K2K identity provider), Glance, Cinder, Neutron, Placement and Nova
(fake virt driver, its own RabbitMQ node).
Cloud B: Keystone (a K2K service provider behind Apache + mod_auth_mellon), Glance, Cinder,
Neutron. A's users reach a project of B with a real SAML exchange.

`python -m tests.real.clouds up` brings them up with A's OCX (gateway.py; A's Nova reaches
Glance and Cinder through it) and prints their endpoints until Ctrl-C.
"""
from __future__ import annotations

import argparse
import atexit
import json
import shutil
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit

from . import configs, federation, install, keystone, nova, services
from .gateway import OCX_REGION, start_ocx_of_a
from .layout import CLOUD_PORTS, REGION, Cloud
from .procs import Supervisor, free_ports
from .state import Store, all_bases, new_passwords, new_run_folder, relocate


def log_stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def parallel(*calls) -> None:
    """Run set-up steps at once (they are separate processes, mostly), re-raising failures."""
    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        for future in [pool.submit(call) for call in calls]:
            future.result()


class RealClouds:
    """Start with start() (or `with`), stop with stop(): exactly the processes started go.

    Start it from the thread that lives as long as the clouds should: the services are told
    to stop when the thread that started them ends (so that a killed test run leaves none).
    """

    def __init__(self, log=log_stderr) -> None:
        self.log = log
        self.supervisor = Supervisor()
        self.a: Cloud | None = None
        self.b: Cloud | None = None
        self.ids: dict = {}  # what the set-up registered (ids per cloud, B's project...)
        self.run_folder: Path | None = None
        self.timings: dict[str, float] = {}
        self.fresh = False
        self._scratch: list[Path] = []  # folders outside the cache, removed at stop
        self._vhosts: list[str] = []    # the machine RabbitMQ's virtual hosts of this run
        self._meta: dict = {}  # fresh set-up: what goes into the saved state

    # --- what tests use ---------------------------------------------------------------------
    @property
    def clouds(self) -> list[Cloud]:
        return [self.a, self.b]

    @property
    def sp_id(self) -> str:
        """B's id as a service provider at A (the name Keystone2Keystone takes)."""
        return federation.sp_id(self.b)

    @property
    def flavor(self) -> str:
        """The name of the flavor made in A for test servers."""
        return nova.FLAVOR["name"]

    @property
    def b_project_id(self) -> str:
        """The project of B that A's users are given through K2K."""
        return self.ids["b_project_id"]

    def auth(self, cloud: Cloud, user: str = "admin") -> dict[str, str]:
        """keystoneauth / openstacksdk password arguments for a user of a cloud."""
        project = {"admin": "admin", "demo": keystone.DEMO_PROJECT}[user]
        return {"auth_url": cloud.auth_url, "username": user,
                "password": cloud.passwords[user], "project_name": project,
                "user_domain_name": "Default", "project_domain_name": "Default"}

    def memory_mib(self) -> float:
        return self.supervisor.memory_mib()

    def summary(self) -> str:
        kind = "fresh set-up" if self.fresh else "warm start"
        steps = ", ".join(f"{name} {seconds:.0f} s" for name, seconds in self.timings.items())
        return (f"real-clouds: {kind}: {steps}; memory {self.memory_mib():.0f} MiB "
                "(PSS of every process started)")

    def describe(self) -> dict:
        """Endpoints and ids (never passwords: those are in clouds.yaml beside the run)."""
        return {"region": REGION, "run_folder": str(self.run_folder),
                "clouds_yaml": str(self.run_folder / "clouds.yaml"),
                "a": {"endpoints": self.a.endpoints(), "keystone": self.a.keystone_url,
                      "ocx": self.a.ocx_url},
                "b": {"endpoints": self.b.endpoints(), "keystone": self.b.keystone_url,
                      "apache": self.b.auth_url},
                "sp_id_at_a": self.sp_id, "idp_id_at_b": federation.idp_id(self.a),
                "b_project_id": self.b_project_id, "demo_project_id_at_a":
                self.ids["a"]["demo_project_id"]}

    # --- start and stop ---------------------------------------------------------------------
    def __enter__(self) -> RealClouds:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self) -> RealClouds:
        began = time.monotonic()
        atexit.register(self.stop)
        try:
            venv = install.ensure_all(self.log)
            self.timings["install"] = time.monotonic() - began
            cache = install.cache_dir()
            store = Store(cache, install.venv_key())
            self.run_folder = new_run_folder(cache)
            with store.lock():
                self.fresh = not store.complete()
                self._lay_out(venv, store)
                self._start_services()
                if self.fresh:
                    self._register()
                self._start_nova()
                if self.fresh:
                    self._save(store)
            self.ids = store.load()["ids"]
            self._write_clouds_yaml()
        except BaseException:
            self.stop()
            raise
        self.timings["total"] = time.monotonic() - began
        return self

    def stop(self) -> None:
        atexit.unregister(self.stop)
        self.supervisor.stop()
        while self._vhosts:
            rabbitmqctl("delete_vhost", self._vhosts.pop(), check=False)
        while self._scratch:
            shutil.rmtree(self._scratch.pop(), ignore_errors=True)

    def _lay_out(self, venv: Path, store: Store) -> None:
        """This run's clouds: ports, folders, configs; databases restored or made."""
        step = time.monotonic()
        meta = store.load() if not self.fresh else {
            "passwords": {"a": new_passwords("a"), "b": new_passwords("b")}}
        ports = iter(free_ports(sum(map(len, CLOUD_PORTS.values()))))
        self.a, self.b = (
            Cloud(name, self.run_folder / name, venv,
                  {service: next(ports) for service in CLOUD_PORTS[name]},
                  meta["passwords"][name])
            for name in ("a", "b"))
        for cloud in self.clouds:
            services.make_folders(cloud)
            if not self.fresh:
                store.restore(cloud)
                relocate(cloud, meta["bases"], all_bases(self.clouds))
                if cloud.has_nova:
                    nova.relocate_cells(cloud, meta["folders"][cloud.name])
        services.write_configs(self.a, federation.idp_saml_options(self.a))
        services.write_configs(self.b, None)
        for cloud in self.clouds:
            if cloud.has_nova:
                nova.write_configs(cloud)
        if self.fresh:
            self.log("real-clouds: fresh set-up (databases, keys, bootstrap)")
            self._initialise()
            self._meta = meta
        self.timings["set-up" if self.fresh else "restore"] = time.monotonic() - step

    def _initialise(self) -> None:
        a, b = self.a, self.b
        for cloud in self.clouds:
            keystone.make_keys(cloud)
        federation.make_signing_key(federation.saml_dir(a), federation.idp_entity_id(a))
        federation.make_signing_key(b.dir / "keys" / "mellon", federation.sp_entity_id(b))
        # Every schema is made once, in A's folder, and copied to B's.
        parallel(*(lambda db=db: services.sync_database(a, db) for db in services.DATABASES),
                 lambda: nova.sync_databases(a))
        for database in services.DATABASES:
            shutil.copyfile(a.dir / f"{database}.sqlite", b.dir / f"{database}.sqlite")
        parallel(lambda: keystone.bootstrap(a), lambda: keystone.bootstrap(b),
                 lambda: federation.write_idp_metadata(a))

    def _start_services(self) -> None:
        """Everything but Nova's own services (and, warm, those too but nova-compute), at
        once; then wait for all to answer. RabbitMQ goes first (and so stops last): Nova's
        services hang on when it goes before them."""
        step = time.monotonic()
        self._notifications_vhost(self.b)
        for cloud in self.clouds:
            if cloud.has_nova:
                nova.start_rabbitmq(cloud, self.supervisor)
        self.supervisor.next_stage()
        for cloud in self.clouds:
            services.start_services(cloud, self.supervisor)
            if cloud.has_nova:
                nova.start_placement(cloud, self.supervisor)
                if not self.fresh:
                    nova.start_control(cloud, self.supervisor)
        scratch = federation.start_apache(self.a, self.b, self.supervisor)
        if scratch:
            self._scratch.append(scratch)
        self.supervisor.wait_ready(timeout=300)
        self.timings["start"] = time.monotonic() - step

    def _notifications_vhost(self, cloud: Cloud) -> None:
        """The virtual host ``cloud``'s services notify on, on the machine's RabbitMQ (made
        before they start, removed at stop)."""
        vhost = configs.notifications_vhost(cloud)
        rabbitmqctl("add_vhost", vhost)
        self._vhosts.append(vhost)
        user = urlsplit(configs.RABBITMQ).username or "guest"
        rabbitmqctl("set_permissions", "-p", vhost, user, ".*", ".*", ".*")

    def _start_nova(self) -> None:
        """Nova's API, conductor and scheduler (fresh: now that Nova's user exists: they log
        in to Keystone as they start), then nova-compute."""
        step = time.monotonic()
        nova_clouds = [cloud for cloud in self.clouds if cloud.has_nova]
        if self.fresh:
            self.supervisor.next_stage()
            for cloud in nova_clouds:
                nova.start_control(cloud, self.supervisor)
            self.supervisor.wait_ready(timeout=300)
        self.supervisor.next_stage()
        for cloud in nova_clouds:
            nova.start_compute(cloud, self.supervisor)
        self.supervisor.wait_ready(timeout=300)
        self.timings["nova"] = time.monotonic() - step

    def _register(self) -> None:
        """Fresh set-up only: users, catalog and federation."""
        step = time.monotonic()
        a, b = self.a, self.b
        ids: dict = {}

        def at_a():
            ids["a"] = keystone.register_services(a)

        def at_b():
            ids["b"] = keystone.register_services(b)
            ids.update(federation.register_idp_at_sp(a, b))
        parallel(at_a, at_b)
        federation.register_sp_at_idp(a, b)
        self._meta["ids"] = ids
        self.timings["register"] = time.monotonic() - step

    def _save(self, store: Store) -> None:
        """Fresh set-up only: Nova's flavor, then everything is kept for the next start."""
        for cloud in self.clouds:
            if cloud.has_nova:
                self._meta["ids"][cloud.name]["flavor_id"] = nova.create_flavor(cloud)
        self._meta.update(bases=all_bases(self.clouds),
                          folders={cloud.name: str(cloud.dir) for cloud in self.clouds})
        store.save(self.clouds, self._meta)

    def _write_clouds_yaml(self) -> None:
        """clouds.yaml for the openstack CLI (passwords: kept in the run folder, 0600).
        real-a-ocx: A's demo user through A's OCX (its region, there while it runs)."""
        entries = {"real-a": (self.auth(self.a), REGION),
                   "real-a-demo": (self.auth(self.a, "demo"), REGION),
                   "real-a-ocx": (self.auth(self.a, "demo"), OCX_REGION),
                   "real-b": (self.auth(self.b), REGION)}
        clouds = {name: {"auth": auth, "region_name": region, "identity_api_version": 3}
                  for name, (auth, region) in entries.items()}
        path = self.run_folder / "clouds.yaml"
        path.touch(mode=0o600)
        path.write_text(json.dumps({"clouds": clouds}, indent=1))  # JSON is valid YAML


def rabbitmqctl(*args: str, check: bool = True) -> None:
    done = subprocess.run(["rabbitmqctl", "-q", *args], capture_output=True, text=True,
                          timeout=60)
    if check and done.returncode != 0:
        raise RuntimeError(f"rabbitmqctl {args[0]} failed: {done.stderr.strip()[-500:]}")


def up() -> None:
    clouds = RealClouds()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    with clouds:
        gateway = start_ocx_of_a(clouds)  # Nova needs it for images and volumes
        try:
            print(json.dumps(clouds.describe(), indent=1))
            print(clouds.summary())
            print(f"real-clouds: OS_CLIENT_CONFIG_FILE={clouds.run_folder / 'clouds.yaml'} "
                  "openstack --os-cloud real-a|real-a-demo|real-a-ocx|real-b ... (real-a-ocx: "
                  f"through A's OCX, its log {gateway.log}); Ctrl-C stops them", flush=True)
            signal.pause()
        except KeyboardInterrupt:
            pass
        finally:
            gateway.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.real.clouds")
    parser.add_argument("command", choices=["up"])
    parser.parse_args(argv)
    up()


if __name__ == "__main__":
    main()
