"""Secrets at rest (issue 12): local tokens only as hashes, remote tokens only encrypted (read
from the database's own bytes), and ``ocx keys rotate`` re-encrypting them with a new key while
an OCX serves, losing no mapping: an OCX holding the new key alone then uses every mapping made
before, with no K2K exchange.

The OCXs here have a SQLite store of their own and stand beside the folder's (not in the
catalog); the callers' calls go to them directly."""
from __future__ import annotations

import contextlib
import glob
import io
import hashlib
import json
import os
import subprocess
import sys
import threading

import pytest
import requests

from ocx import cli
from ocx.store import MappingStore, generate_key
from ocx.store.crypto import Cipher
from ocx.store.models import TokenMapping, utcnow

from .conftest import start_ocx, stop_ocx, write_config

CLOUDS = ("home", "sp1", "sp2")
OCX = os.path.join(os.path.dirname(sys.executable), "ocx")


@pytest.fixture
def issued(hardened):
    """Every token the clouds issue during the test, by cloud."""
    tokens: dict[str, list[str]] = {name: [] for name in CLOUDS}
    registries = {name: hardened.sim.cloud(name).keystone.tokens for name in CLOUDS}
    for name, registry in registries.items():
        def add(token, name=name, add=registry.add):
            tokens[name].append(token.id)
            return add(token)
        registry.add = add
    yield tokens
    for registry in registries.values():
        del registry.add


@pytest.fixture
def own_store(hardened, tmp_path):
    """A folder for an OCX's SQLite store, and the keys it will go through."""
    return tmp_path, generate_key(), generate_key()


def serving(hardened, state, keys: list[str]):
    """An OCX with the store in ``state`` and ``keys`` (newest first)."""
    path, conf = write_config(hardened.sim, str(state), {},
                              "[store]\nencryption_keys = " + ", ".join(keys) + "\n")
    return path, conf, start_ocx(hardened.sim, conf, catalog=False)


def listing_everywhere(url: str, token: str) -> None:
    """A listing of every cloud's servers: a token mapping at each service provider."""
    resp = requests.get(url + "/compute/v2.1/servers", headers={"X-Auth-Token": token},
                        timeout=30)
    assert resp.status_code == 200, resp.text
    assert "X-OCX-Missing-Providers" not in resp.headers


def keys_cli(*args: str, process: bool = False) -> subprocess.CompletedProcess:
    """``ocx keys ARGS``: its exit status and what it printed; run in a process of its own
    with ``process``, else by its ``main`` here (the same code, a second less)."""
    if process:
        return subprocess.run([OCX, "keys", *args], capture_output=True, text=True,
                              timeout=120)
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            status = cli.main(["keys", *args])
        except SystemExit as exc:     # argparse's usage errors
            status = exc.code
    return subprocess.CompletedProcess(args, status, out.getvalue(), err.getvalue())


def written(state) -> bytes:
    """Every byte SQLite wrote: the database file and its write-ahead log."""
    return b"".join(open(p, "rb").read() for p in glob.glob(str(state / "ocx.sqlite*")))


def test_tokens_are_stored_only_as_hashes_and_ciphertexts(hardened, own_store, issued):
    state, key, _ = own_store
    _, conf, task = serving(hardened, state, [key])
    try:
        token = hardened.token()
        listing_everywhere(f"http://127.0.0.1:{conf.bind_port}", token)
    finally:
        stop_ocx(hardened.sim, task)
    raw = written(state)
    remote = issued["sp1"] + issued["sp2"]
    assert remote, "no K2K exchange was made"
    for secret in [token, *issued["home"], *remote]:
        for piece in (secret, secret[:24], secret[-24:]):
            assert piece.encode() not in raw
    assert hashlib.sha256(token.encode()).hexdigest().encode() in raw
    assert key.encode() not in raw


def test_rotation_while_serving_keeps_every_mapping(hardened, own_store, issued):
    state, old, new = own_store
    token = hardened.token()
    _, conf, task = serving(hardened, state, [old])
    try:
        listing_everywhere(f"http://127.0.0.1:{conf.bind_port}", token)
    finally:
        stop_ocx(hardened.sim, task)
    exchanged = len(issued["sp1"]) + len(issued["sp2"])

    # The new key first everywhere, the old one after it; the rotation runs while it serves.
    path, conf, task = serving(hardened, state, [new, old])
    before = json.loads(keys_cli("status", "--config", path, "-f", "json").stdout)
    assert before == [{"key": "#1 (newest)", "values": 0}, {"key": "#2", "values": 2},
                      {"key": "none", "values": 0}]        # sp1's and sp2's
    url = f"http://127.0.0.1:{conf.bind_port}"
    failures: list[str] = []
    stop = threading.Event()

    def traffic():
        while not stop.is_set():
            try:
                listing_everywhere(url, token)
            except (AssertionError, requests.RequestException) as exc:
                failures.append(str(exc)[:200])

    caller = threading.Thread(target=traffic)
    caller.start()
    try:
        rotated = keys_cli("rotate", "--config", path, process=True)
        status = keys_cli("status", "--config", path, "-f", "json")
    finally:
        stop.set()
        caller.join()
        stop_ocx(hardened.sim, task)
    assert rotated.returncode == 0, rotated.stderr
    assert rotated.stdout.startswith("re-encrypted 2 value(s) with the newest key")
    assert failures == []
    assert json.loads(status.stdout) == [{"key": "#1 (newest)", "values": 2},
                                         {"key": "#2", "values": 0},
                                         {"key": "none", "values": 0}]

    # The old key dropped: every mapping still opens, no exchange is made again.
    path, conf, task = serving(hardened, state, [new])
    try:
        listing_everywhere(f"http://127.0.0.1:{conf.bind_port}", token)
    finally:
        stop_ocx(hardened.sim, task)
    assert len(issued["sp1"]) + len(issued["sp2"]) == exchanged
    again = keys_cli("rotate", "--config", path)
    assert again.returncode == 0
    assert again.stdout.startswith("re-encrypted 0 value(s) with the newest key; 2 already "
                                   "were")
    for secret in [old, new, token]:
        assert secret not in rotated.stdout + rotated.stderr + status.stdout


def test_values_no_key_opens_are_left_unless_told(hardened, own_store):
    state, mine, foreign = own_store
    path, conf = write_config(hardened.sim, str(state), {},
                              f"[store]\nencryption_keys = {mine}\n")
    url = f"sqlite:///{state}/ocx.sqlite"

    async def put(keys, local):
        store = await MappingStore.open(url, keys, migrate=True)
        try:
            await store.put_token_mapping(TokenMapping(
                local_token_hash=hashlib.sha256(local.encode()).hexdigest(),
                local_project="p", provider="sp1", remote_token=f"remote of {local}",
                remote_project="rp", expires_at=utcnow().replace(year=utcnow().year + 1),
                catalog=()))
        finally:
            await store.close()

    hardened.sim.call(put([mine], "alice"))
    hardened.sim.call(put([foreign], "bob"))

    left = keys_cli("rotate", "--config", path, process=True)
    assert left.returncode == 3, left.stderr
    assert "1 value(s) no configured key opens: left in place" in left.stderr
    assert "\"none\"" not in left.stdout
    status = json.loads(keys_cli("status", "--config", path, "-f", "json").stdout)
    assert status[-1] == {"key": "none", "values": 1}

    deleted = keys_cli("rotate", "--config", path, "--delete-unreadable")
    assert deleted.returncode == 0, deleted.stderr
    assert "deleted" in deleted.stderr
    status = json.loads(keys_cli("status", "--config", path, "-f", "json").stdout)
    assert status == [{"key": "#1 (newest)", "values": 1}, {"key": "none", "values": 0}]


def test_without_a_key_or_a_store_it_fails_and_makes_nothing(hardened, tmp_path):
    path, _ = write_config(hardened.sim, str(tmp_path), {})
    no_key = keys_cli("rotate", "--config", path)
    assert no_key.returncode == 1
    assert no_key.stderr.startswith("ocx keys rotate: no encryption key")
    assert not os.path.exists(tmp_path / "encryption.key")
    path, _ = write_config(hardened.sim, str(tmp_path), {},
                           f"[store]\nencryption_keys = {generate_key()}\n")
    no_store = keys_cli("rotate", "--config", path)
    assert no_store.returncode == 1 and "ocx db upgrade" in no_store.stderr
    assert keys_cli("rotate").returncode == 2          # --config is needed


def test_generate_prints_a_key_the_store_takes(hardened):
    made = keys_cli("generate")
    assert made.returncode == 0
    Cipher([made.stdout.strip()])     # a Fernet key: taken
    assert keys_cli("generate").stdout != made.stdout
