"""How each service of a cloud is initialised (once, then cached) and started (every run)."""
from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from . import configs
from .layout import LOOPBACK, Cloud
from .procs import Supervisor, run

RUNNERS = Path(__file__).resolve().parent / "runners"
# sitecustomize.py there: SQLite transactions begin with BEGIN IMMEDIATE (see its docstring).
SITE = RUNNERS / "site"
DATABASES = ("keystone", "glance", "cinder", "neutron")


def service_env(cloud: Cloud, **extra: str) -> dict[str, str]:
    """The caller's environment without its OpenStack variables, the venv first on PATH."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OS_", "PYTHON"))}
    env["PATH"] = f"{cloud.venv / 'bin'}:{env.get('PATH', '/usr/bin:/bin')}"
    env["PYTHONPATH"] = str(SITE)
    # The services call each other on loopback, never through a proxy.
    env["no_proxy"] = env["NO_PROXY"] = ",".join(
        filter(None, [env.get("no_proxy"), LOOPBACK, "localhost"]))
    env.update(extra)
    return env


def make_folders(cloud: Cloud) -> None:
    for sub in ("logs", "keys", "images", "glance-staging", "glance-tasks", "cinder",
                "cinder/coordination", "neutron", "locks"):
        (cloud.dir / sub).mkdir(parents=True, exist_ok=True)


def write_configs(cloud: Cloud, saml: dict[str, str] | None) -> None:
    configs.keystone(cloud, saml)
    configs.glance(cloud)
    configs.cinder(cloud)
    configs.neutron(cloud)


# --- databases: made once in one cloud's folder, copied to the other ---------------------

def sync_database(cloud: Cloud, database: str) -> None:
    """Create one service's schema in cloud's folder, then switch it to WAL."""
    conf = str(cloud.dir)
    log = cloud.log(f"{database}-db")
    env = service_env(cloud)
    commands = {
        "keystone": [[cloud.bin("keystone-manage"), "--config-file", f"{conf}/keystone.conf",
                      "db_sync"]],
        "glance": [[cloud.bin("glance-manage"), "--config-file", f"{conf}/glance-api.conf",
                    "db_sync"]],
        "cinder": [[cloud.bin("cinder-manage"), "--config-file", f"{conf}/cinder.conf",
                    "db", "sync"]],
        # Neutron's migrations fail on SQLite: tables from the models, then stamped.
        "neutron": [[cloud.bin("python"), str(RUNNERS / "neutron_schema.py"),
                     configs.sqlite(cloud, "neutron")],
                    [cloud.bin("neutron-db-manage"), "--config-file", f"{conf}/neutron.conf",
                     "--config-file", f"{conf}/ml2_conf.ini", "stamp", "heads"]],
    }[database]
    for argv in commands:
        run(argv, log, cwd=cloud.dir, env=env)
    use_wal(cloud.dir / f"{database}.sqlite")


def use_wal(path: Path) -> None:
    """Without WAL, concurrent writers (Keystone's, the scheduler's) fail with 'locked'."""
    db = sqlite3.connect(path)
    try:
        db.execute("PRAGMA journal_mode=WAL")
    finally:
        db.close()


# --- processes ----------------------------------------------------------------------------

def gunicorn(cloud: Cloud, service: str, app: str, **env: str) -> tuple[list[str], dict]:
    argv = [cloud.bin("gunicorn"), "-w", "1", "-b", f"{LOOPBACK}:{cloud.ports[service]}",
            "--timeout", "300", "--graceful-timeout", "5", "--pythonpath", str(RUNNERS),
            "--name", f"ocx-real-{cloud.name}-{service}", "ocx_real_wsgi:application"]
    return argv, service_env(cloud, OCX_REAL_WSGI=app, **env)


def start_services(cloud: Cloud, supervisor: Supervisor) -> None:
    """Start the cloud's OpenStack services (not yet waiting for them)."""
    conf = str(cloud.dir)
    argv, env = gunicorn(cloud, "keystone", "keystone.wsgi.api",
                         OS_KEYSTONE_CONFIG_DIR=conf, OS_KEYSTONE_CONFIG_FILES="keystone.conf")
    supervisor.start(f"{cloud.id} keystone", argv, cloud.log("keystone"), cwd=cloud.dir,
                     env=env, url=cloud.keystone_url)
    supervisor.start(f"{cloud.id} glance",
                     [cloud.bin("glance-api"), "--config-file", f"{conf}/glance-api.conf"],
                     cloud.log("glance"), cwd=cloud.dir, env=service_env(cloud),
                     url=cloud.base("glance") + "/")
    supervisor.start(f"{cloud.id} cinder",
                     [cloud.bin("python"), str(RUNNERS / "cinder_all.py"),
                      "--config-file", f"{conf}/cinder.conf"],
                     cloud.log("cinder"), cwd=cloud.dir, env=service_env(cloud),
                     url=cloud.base("cinder") + "/")
    # PYTHONOPTIMIZE: the test mechanism driver asserts things only its unit tests hold.
    argv, env = gunicorn(cloud, "neutron", "neutron.wsgi.api", OS_NEUTRON_CONFIG_DIR=conf,
                         OS_NEUTRON_CONFIG_FILES="neutron.conf;ml2_conf.ini",
                         PYTHONOPTIMIZE="1")
    supervisor.start(f"{cloud.id} neutron", argv, cloud.log("neutron"), cwd=cloud.dir,
                     env=env, url=cloud.base("neutron") + "/")
