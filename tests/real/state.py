"""What a fresh set-up makes once and later starts reuse: the initialised SQLite databases,
the keys (Fernet, credential, SAML signing, mellon), the generated passwords and the ids of
what was registered. Kept in the cache folder under a hash of the venv and of the set-up code,
so that a change of either makes a new one.

The databases hold URLs with the ports of the set-up run; a later start moves them to its
own ports (relocate).
"""
from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import secrets
import shutil
import sqlite3
import time
from pathlib import Path

from .layout import Cloud, service_users

HERE = Path(__file__).resolve().parent
# Besides the databases: the keys, and the identity nova-compute gives its node on its first
# start (it refuses to start again on a host it knows without it).
KEPT = ("keys", "nova/compute_id")
# The code that decides what the state holds: any change to it makes a new state.
SETUP_SOURCES = ("layout.py", "configs.py", "services.py", "keystone.py", "federation.py",
                 "nova.py", "state.py", "clouds.py", "runners/cinder_all.py",
                 "runners/neutron_schema.py", "runners/site/sitecustomize.py")


def state_key(venv_key: str) -> str:
    digest = hashlib.sha256(venv_key.encode())
    for name in SETUP_SOURCES:
        digest.update((HERE / name).read_bytes())
    return digest.hexdigest()[:12]


def new_passwords(cloud_name: str) -> dict[str, str]:
    users = ["admin", *service_users(cloud_name)] + (["demo"] if cloud_name == "a" else [])
    return {user: secrets.token_urlsafe(18) for user in users}


class Store:
    def __init__(self, cache: Path, venv_key: str) -> None:
        self.cache = cache
        self.path = cache / f"state-{state_key(venv_key)}"

    @contextlib.contextmanager
    def lock(self):
        """One harness at a time prepares state (a second waits, then finds it ready)."""
        with open(self.cache / "state.lock", "w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    @property
    def meta_file(self) -> Path:
        return self.path / "state.json"

    def complete(self) -> bool:
        return self.meta_file.exists()

    def load(self) -> dict:
        return json.loads(self.meta_file.read_text())

    def restore(self, cloud: Cloud) -> None:
        """Copy a cloud's saved databases and keys into its run folder."""
        saved = self.path / cloud.name
        for item in saved.iterdir():
            target = cloud.dir / item.name
            if item.is_dir():
                shutil.copytree(item, target, dirs_exist_ok=True)
            else:
                shutil.copy2(item, target)

    def save(self, clouds: list[Cloud], meta: dict) -> None:
        """Keep the clouds' databases (consistent copies, services may be running) and keys."""
        for stale in self.cache.glob(".state-*"):  # left by a set-up that was killed
            if not Path(f"/proc/{stale.suffix[1:]}").exists():
                shutil.rmtree(stale, ignore_errors=True)
        staging = self.cache / f".{self.path.name}.{os.getpid()}"
        shutil.rmtree(staging, ignore_errors=True)
        for cloud in clouds:
            target = staging / cloud.name
            target.mkdir(parents=True)
            for database in cloud.dir.glob("*.sqlite"):
                backup_sqlite(database, target / database.name)
            for name in KEPT:
                source = cloud.dir / name
                if source.is_dir():
                    shutil.copytree(source, target / name)
                elif source.exists():
                    (target / name).parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(source, target / name)
        meta_file = staging / "state.json"
        meta_file.write_text(json.dumps(meta, indent=1))
        meta_file.chmod(0o600)
        shutil.rmtree(self.path, ignore_errors=True)
        staging.rename(self.path)
        for old in self.cache.glob("state-*"):  # states of older set-ups are of no more use
            if old != self.path:
                shutil.rmtree(old, ignore_errors=True)


def backup_sqlite(source: Path, target: Path) -> None:
    src, dst = sqlite3.connect(source), sqlite3.connect(target)
    try:
        src.backup(dst)
    finally:
        src.close()
        dst.close()


# --- moving the saved URLs to this run's ports ------------------------------------------------

def all_bases(clouds: list[Cloud]) -> dict[str, str]:
    return {f"{cloud.name}/{service}": url for cloud in clouds
            for service, url in cloud.bases().items()}


def url_mover(old: dict[str, str], new: dict[str, str]):
    """A function rewriting a URL that starts with an old base to the same service's new base."""
    pairs = [(old[key], new[key]) for key in old if key in new]

    def move(url: str) -> str:
        for before, after in pairs:
            if url == before or url.startswith(before + "/"):
                return after + url[len(before):]
        return url
    return move


def relocate(cloud: Cloud, old: dict[str, str], new: dict[str, str]) -> None:
    """Rewrite the URLs of the saved state (catalog, service providers, IdP metadata)."""
    move = url_mover(old, new)
    db = sqlite3.connect(cloud.dir / "keystone.sqlite")
    try:
        for table, columns in (("endpoint", ("url",)),
                               ("service_provider", ("auth_url", "sp_url"))):
            for row in db.execute(f"SELECT id, {', '.join(columns)} FROM {table}").fetchall():
                moved = [move(value) for value in row[1:]]
                sets = ", ".join(f"{column} = ?" for column in columns)
                db.execute(f"UPDATE {table} SET {sets} WHERE id = ?", (*moved, row[0]))
        db.commit()
    finally:
        db.close()
    metadata = cloud.dir / "keys" / "saml" / "idp-metadata.xml"
    if metadata.exists():
        moves = {old[key]: new[key] for key in old if key in new}
        pattern = "|".join(re.escape(base) + "(?=/)" for base in moves)
        metadata.write_text(re.sub(pattern, lambda m: moves[m.group(0)], metadata.read_text()))


# --- run folders --------------------------------------------------------------------------------

def new_run_folder(cache: Path, keep: int = 3) -> Path:
    """A folder for this run. Those of runs whose process is gone are removed first but for
    the last few (their logs tell what happened)."""
    runs = cache / "runs"
    runs.mkdir(exist_ok=True)
    finished = sorted((old for old in runs.iterdir() if not run_alive(old)),
                      key=lambda folder: folder.stat().st_mtime)
    for old in finished[:max(0, len(finished) - keep)]:
        shutil.rmtree(old, ignore_errors=True)
    folder = runs / f"{os.getpid()}-{int(time.time())}"
    folder.mkdir()
    return folder


def run_alive(folder: Path) -> bool:
    pid = folder.name.split("-")[0]
    return pid.isdigit() and Path(f"/proc/{pid}").exists()
