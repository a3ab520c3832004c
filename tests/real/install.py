"""The real tier's software: Debian packages (apt) and one venv of the OpenStack services (uv).

The venv lives in the cache folder under a name made of a hash of what goes into it, so a
change of requirements, constraints or Python builds a new one and an unchanged one is reused.
"""
from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REQUIREMENTS = HERE / "requirements.txt"
CONSTRAINTS = HERE / "upper-constraints-2026.1.txt"

DEBIAN_PACKAGES = ["xmlsec1", "libxmlsec1-openssl", "apache2", "libapache2-mod-auth-mellon"]


def cache_dir() -> Path:
    """Where venvs, initialised state and run folders are kept (outside the repo)."""
    path = Path(os.environ.get("OCX_REAL_CACHE") or Path.home() / ".cache" / "ocx-real")
    path.mkdir(parents=True, exist_ok=True)
    return path


def debian_missing() -> list[str]:
    """The Debian packages not installed yet (dpkg's view: files alone can mislead)."""
    missing = []
    for package in DEBIAN_PACKAGES:
        probe = subprocess.run(["dpkg-query", "-W", "-f=${Status}", package],
                               capture_output=True, text=True)
        if "install ok installed" not in probe.stdout:
            missing.append(package)
    return missing


def ensure_debian_packages(log=print) -> None:
    missing = debian_missing()
    if not missing:
        return
    if os.geteuid() != 0:
        raise RuntimeError(f"the real clouds need the Debian packages {missing}: "
                           "install them (apt-get install) or run as root")
    log(f"real-clouds: installing {' '.join(missing)} with apt-get")
    subprocess.run(["apt-get", "update", "-qq"], check=True)
    # RUNLEVEL=1: Debian's maintainer scripts must not start the system's Apache; the
    # clouds run an Apache instance of their own.
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive", RUNLEVEL="1")
    subprocess.run(["apt-get", "install", "-y", "-qq", *missing], check=True, env=env,
                   stdout=subprocess.DEVNULL)


def venv_key() -> str:
    digest = hashlib.sha256()
    for path in (REQUIREMENTS, CONSTRAINTS):
        digest.update(path.read_bytes())
    digest.update(f"{sys.version_info.major}.{sys.version_info.minor}".encode())
    return digest.hexdigest()[:12]


def find_uv() -> str:
    beside = Path(sys.executable).with_name("uv")
    found = str(beside) if beside.exists() else shutil.which("uv")
    if not found:
        raise RuntimeError("uv is needed to install the real clouds' venv (make venv installs it)")
    return found


def ensure_venv(log=print) -> Path:
    """The OpenStack services' venv, built on first use; returns its folder."""
    venv = cache_dir() / f"venv-{venv_key()}"
    done = venv / ".complete"
    if done.exists():
        return venv
    shutil.rmtree(venv, ignore_errors=True)
    log(f"real-clouds: installing the OpenStack services into {venv}")
    uv = find_uv()
    python = f"{sys.version_info.major}.{sys.version_info.minor}"
    subprocess.run([uv, "venv", "-q", "--python", python, str(venv)], check=True)
    subprocess.run([uv, "pip", "install", "-q", "--python", str(venv / "bin" / "python"),
                    "-c", str(CONSTRAINTS), "-r", str(REQUIREMENTS)], check=True)
    done.write_text(venv_key() + "\n")
    return venv


def ensure_all(log=print) -> Path:
    """Debian packages and venv, one harness at a time (a second waits and reuses them)."""
    with open(cache_dir() / "install.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        ensure_debian_packages(log)
        return ensure_venv(log)


if __name__ == "__main__":
    print(ensure_all())
