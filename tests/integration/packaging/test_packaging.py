"""Running OCX the operator's way: the compose file (its services, their health checks and
order, and the configuration it gives OCX, read by OCX itself), the systemd unit (checked by
``systemd-analyze``), and the container image (built by ``docker build`` where a Docker daemon
answers; the files it installs from are checked everywhere)."""
from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import urllib.parse
import zipfile
from pathlib import Path

import pytest
import yaml

from ocx import config
from ocx.cli import build_parser

ROOT = Path(__file__).resolve().parents[3]
COMPOSE = ROOT / "compose.yaml"
UNIT = ROOT / "etc" / "systemd" / "ocx.service"
DOCKERFILE = ROOT / "Dockerfile"
BIN = Path(sys.executable).parent
BACKING = ("postgres", "rabbitmq", "etcd")
CONF_IN_CONTAINER = "/etc/ocx/ocx.conf"
# What the operator exports before `docker compose up` (compose.yaml's header).
OPERATOR_ENV = {"OCX_DB_PASSWORD": "db-pw", "OCX_RABBIT_PASSWORD": "mq-pw",
                "OCX_SERVICE_PASSWORD": "svc-pw",
                "OCX_KEYSTONE_URL": "https://keystone.example:5000/v3"}

# -- compose.yaml -------------------------------------------------------------------------------

_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::([?-])([^}]*))?\}")


class Missing(Exception):
    pass


def interpolate(text: str, env: dict[str, str]) -> str:
    """Compose's ``${VAR}``, ``${VAR:-default}`` and ``${VAR:?error}``."""
    missing = []

    def value(found: re.Match) -> str:
        name, how, arg = found.groups()
        if env.get(name):
            return env[name]
        if how == "?":
            missing.append(name)
        return arg if how == "-" else ""

    done = _VARIABLE.sub(value, text)
    if missing:
        raise Missing(sorted(set(missing)))
    return done


def compose(env: dict[str, str] | None = None) -> dict:
    return yaml.safe_load(interpolate(COMPOSE.read_text(), OPERATOR_ENV if env is None
                                      else env))


def test_compose_refuses_to_start_without_the_passwords_and_the_keystone():
    with pytest.raises(Missing) as missing:
        compose({})
    assert missing.value.args[0] == sorted(OPERATOR_ENV)


def test_compose_starts_ocx_after_healthy_postgresql_rabbitmq_and_etcd():
    services = compose()["services"]
    assert {"ocx", "ocx-db-upgrade", *BACKING} <= set(services)
    assert services["postgres"]["image"].startswith("postgres:")
    assert services["rabbitmq"]["image"].startswith("rabbitmq:")
    assert services["etcd"]["image"].startswith(("quay.io/coreos/etcd:", "bitnami/etcd:"))
    for name in (*BACKING, "ocx"):
        check = services[name]["healthcheck"]
        assert check["test"][0] in ("CMD", "CMD-SHELL") and len(check["test"]) > 1, name
        assert check["retries"] >= 1
    ocx, upgrade = services["ocx"], services["ocx-db-upgrade"]
    assert ocx["depends_on"] == {**{name: {"condition": "service_healthy"} for name in BACKING},
                                 "ocx-db-upgrade": {"condition":
                                                    "service_completed_successfully"}}
    assert upgrade["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    assert upgrade["command"] == ["db", "upgrade", "--config", CONF_IN_CONTAINER]
    assert ocx["command"] == ["serve", "--config", CONF_IN_CONTAINER]
    for service in (ocx, upgrade):   # the commands are ones `ocx` takes
        assert build_parser().parse_args(service["command"]).func
        assert (ROOT / service["build"] / "Dockerfile").is_file()
        assert service["image"] == ocx["image"]   # one image, built once


def test_ocx_in_compose_reads_its_configuration_and_reaches_each_service(monkeypatch):
    """The mounted configuration and compose's environment, read by OCX's own loader."""
    services = compose()["services"]
    ocx = services["ocx"]
    mounted = {v.split(":")[1]: v.split(":")[0] for v in ocx["volumes"]}
    conf_file = ROOT / mounted[CONF_IN_CONTAINER]
    assert f"{mounted[CONF_IN_CONTAINER]}:{CONF_IN_CONTAINER}:ro" in ocx["volumes"]
    for name in list(os.environ):
        if name.startswith("OS_"):
            monkeypatch.delenv(name)
    for name, value in ocx["environment"].items():
        monkeypatch.setenv(name, value)
    conf = config.load(str(conf_file))
    assert conf.keystone.auth_url == OPERATOR_ENV["OCX_KEYSTONE_URL"]
    assert conf.keystone.password == OPERATOR_ENV["OCX_SERVICE_PASSWORD"]
    store = urllib.parse.urlsplit(conf.store.url)
    assert (store.scheme, store.hostname, store.port, store.password) == (
        "postgresql", "postgres", 5432, OPERATOR_ENV["OCX_DB_PASSWORD"])
    assert store.path == "/" + services["postgres"]["environment"]["POSTGRES_DB"]
    assert store.username == services["postgres"]["environment"]["POSTGRES_USER"]
    broker = urllib.parse.urlsplit(conf.keystone.notifications_url)
    assert (broker.scheme, broker.hostname, broker.port) == ("rabbit", "rabbitmq", 5672)
    assert (broker.username, broker.password) == (
        services["rabbitmq"]["environment"]["RABBITMQ_DEFAULT_USER"],
        OPERATOR_ENV["OCX_RABBIT_PASSWORD"])
    assert conf.listen_notifications
    assert urllib.parse.urlsplit(conf.gluon.etcd_url).netloc == "etcd:2379"
    assert "--listen-client-urls=http://0.0.0.0:2379" in services["etcd"]["command"]
    # OCX listens where compose publishes it, its state in the volume, checked at /readyz.
    assert conf.bind_host == "0.0.0.0"
    assert ocx["ports"] == [f"{conf.bind_port}:{conf.bind_port}"]
    assert mounted[conf.state_dir] == "ocx-state" and "ocx-state" in compose()["volumes"]
    assert f"http://127.0.0.1:{conf.bind_port}/readyz" in " ".join(ocx["healthcheck"]["test"])


def test_compose_config_validates_where_docker_compose_is_installed():
    docker = shutil.which("docker")
    if docker is None or subprocess.run([docker, "compose", "version"], capture_output=True,
                                        timeout=30).returncode != 0:
        pytest.skip("the docker compose plugin is not installed here: compose.yaml is checked "
                    "by the tests above only")
    done = subprocess.run([docker, "compose", "-f", str(COMPOSE), "config", "--quiet"],
                          env={**os.environ, **OPERATOR_ENV}, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr


# -- the systemd unit ---------------------------------------------------------------------------

def unit_settings(text: str) -> dict[str, dict[str, list[str]]]:
    """Section → key → values (a key may be given more than once)."""
    sections: dict[str, dict[str, list[str]]] = {}
    current = None
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            current = sections.setdefault(line.strip("[]"), {})
            continue
        key, _, value = line.partition("=")
        current.setdefault(key, []).append(value)
    return sections


def test_the_unit_runs_ocx_serve_simply_and_hardened():
    service = unit_settings(UNIT.read_text())["Service"]
    command = shlex.split(service["ExecStart"][0])
    assert command[0] == "/usr/local/bin/ocx"
    assert command[1:] == ["serve", "--config", "/etc/ocx/ocx.conf"]
    assert build_parser().parse_args(command[1:]).func
    # Type=notify only for a service that calls sd_notify; OCX does not.
    assert service["Type"] == ["simple"]
    assert not any("NOTIFY_SOCKET" in p.read_text() or "sd_notify" in p.read_text()
                   for p in (ROOT / "ocx").rglob("*.py"))
    assert service["User"] == ["ocx"] and service["StateDirectory"] == ["ocx"]
    assert service["WorkingDirectory"] == ["/var/lib/ocx"]
    for key, value in (("NoNewPrivileges", "yes"), ("ProtectSystem", "strict"),
                       ("PrivateTmp", "yes"), ("ProtectHome", "yes"),
                       ("PrivateDevices", "yes"), ("CapabilityBoundingSet", "")):
        assert service[key] == [value], key


def systemd_analyze() -> str:
    found = shutil.which("systemd-analyze")
    if found is None:
        pytest.skip("systemd-analyze is not installed here: the unit is checked by the test "
                    "above only")
    return found


@pytest.fixture
def installed_unit(tmp_path) -> Path:
    """The unit, its ExecStart pointing at the ocx installed here (systemd-analyze refuses a
    unit whose program does not exist)."""
    ocx = BIN / "ocx"
    unit = tmp_path / "ocx.service"
    unit.write_text(UNIT.read_text().replace("ExecStart=/usr/local/bin/ocx ",
                                             f"ExecStart={ocx} "))
    assert str(ocx) in unit.read_text()
    return unit


def test_systemd_analyze_verify_finds_nothing_wrong(installed_unit):
    done = subprocess.run([systemd_analyze(), "verify", str(installed_unit)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout + done.stderr == ""    # an unknown key is only a warning: none either


def test_systemd_analyze_security_rates_the_unit_ok(installed_unit):
    done = subprocess.run([systemd_analyze(), "security", "--offline=true", "--no-pager",
                           str(installed_unit)], capture_output=True, text=True, timeout=60)
    if "--offline" in done.stderr:
        pytest.skip("this systemd-analyze cannot rate a unit offline (systemd < 250)")
    rated = re.search(r"Overall exposure level for ocx\.service: ([0-9.]+) (\w+)", done.stdout)
    assert rated, done.stdout + done.stderr
    # systemd's scale: below 2 is OK, 10 UNSAFE.
    assert float(rated[1]) < 2.0 and rated[2] == "OK", rated[0]


# -- the container image ------------------------------------------------------------------------

def dockerfile() -> list[tuple[str, str]]:
    """(instruction, arguments) of the Dockerfile, continuation lines joined."""
    joined = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1])
            for line in (raw.strip() for raw in joined.splitlines())
            if line and not line.startswith("#")]


def admitted(path: str) -> bool:
    """Whether .dockerignore lets ``path`` into the build context (its last matching rule)."""
    keep = True
    for rule in (ROOT / ".dockerignore").read_text().splitlines():
        rule = rule.strip()
        if not rule or rule.startswith("#"):
            continue
        negated = rule.startswith("!")
        pattern = rule.lstrip("!").rstrip("/")
        if pattern == "*" or path == pattern or path.startswith(pattern + "/"):
            keep = negated
    return keep


def test_the_image_runs_ocx_serve_as_a_user_from_python_311_slim():
    steps = dockerfile()
    assert steps[0] == ("FROM", "python:3.11-slim")
    users = [args for op, args in steps if op == "USER"]
    assert users and users[-1] not in ("root", "0")
    entry = yaml.safe_load([args for op, args in steps if op == "ENTRYPOINT"][-1])
    cmd = yaml.safe_load([args for op, args in steps if op == "CMD"][-1])
    assert entry + cmd == ["ocx", "serve", "--config", CONF_IN_CONTAINER]
    # What the image copies in is in the build context.
    for op, args in steps:
        if op == "COPY":
            for source in args.split()[:-1]:
                assert admitted(source) and (ROOT / source).exists(), source


def test_the_package_installs_from_what_the_image_is_given(tmp_path):
    """The wheel ``pip install`` makes in the image, built from the files the build context
    holds: every module of ocx/ and the files the code reads (migrations, openapi.yaml)."""
    uv = BIN / "uv"
    if not uv.exists():
        pytest.skip("uv is not installed beside this Python (make venv installs it)")
    context = tmp_path / "context"
    shutil.copytree(ROOT, context, ignore=lambda folder, names: [
        n for n in names if not admitted(os.path.relpath(os.path.join(folder, n), ROOT))
        or n == "__pycache__"])
    done = subprocess.run([str(uv), "build", "--wheel", "--quiet", "--out-dir",
                           str(tmp_path / "dist"), str(context)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    (wheel,) = (tmp_path / "dist").glob("ocx-*.whl")
    inside = set(zipfile.ZipFile(wheel).namelist())
    wanted = {p.relative_to(ROOT).as_posix() for p in (ROOT / "ocx").rglob("*")
              if p.is_file() and "__pycache__" not in p.parts
              and p.suffix in (".py", ".yaml", ".mako")}
    assert wanted - inside == set()
    assert {"ocx/api/openapi.yaml", "ocx/store/migrations/env.py"} <= inside


def docker_daemon() -> str:
    docker = shutil.which("docker")
    if docker is None:
        pytest.skip("docker is not installed here: the image is not built")
    info = subprocess.run([docker, "info"], capture_output=True, text=True, timeout=60)
    if info.returncode != 0:
        reason = (info.stderr.strip().splitlines() or ["no answer"])[-1]
        pytest.skip(f"the Docker daemon does not answer here ({reason}): the image is not "
                    f"built")
    return docker


@pytest.mark.slow
def test_docker_builds_the_image_and_it_runs_ocx():
    docker = docker_daemon()
    tag = f"ocx-test:{os.getpid()}"
    built = subprocess.run([docker, "build", "--tag", tag, str(ROOT)], capture_output=True,
                           text=True, timeout=1800)
    assert built.returncode == 0, built.stdout[-4000:] + built.stderr[-4000:]
    try:
        ran = subprocess.run([docker, "run", "--rm", tag, "db", "status", "--help"],
                             capture_output=True, text=True, timeout=120)
        assert ran.returncode == 0 and "examples:" in ran.stdout, ran.stderr
        user = subprocess.run([docker, "run", "--rm", "--entrypoint", "id", tag, "-u"],
                              capture_output=True, text=True, timeout=120)
        assert user.stdout.strip() not in ("", "0"), user.stderr
    finally:
        subprocess.run([docker, "image", "rm", "--force", tag], capture_output=True,
                       timeout=120)
