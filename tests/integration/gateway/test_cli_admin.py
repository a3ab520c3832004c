"""The operator's commands, run as an operator runs them: the real ``ocx`` command against
the configuration of a running OCX in front of home, sp1 and sp2 (on each store)."""
from __future__ import annotations

import hashlib
import json
import os
import re
import socket
import subprocess
import sys

import pytest

from ocx.store.migrate import head

OCX = os.path.join(os.path.dirname(sys.executable), "ocx")
# Every token the simulated Keystones issue starts so, and so does every Fernet ciphertext.
TOKEN_START = "gAAAAA"


def ocx(config: str, *args: str, expect: int = 0) -> subprocess.CompletedProcess:
    """Run ``ocx ARGS --config CONFIG``; whatever it prints holds no token."""
    proc = subprocess.run([OCX, *args, "--config", config], capture_output=True, text=True,
                          timeout=120, check=False)
    assert proc.returncode == expect, f"ocx {' '.join(args)}: {proc.returncode}\n{proc.stderr}"
    assert TOKEN_START not in proc.stdout + proc.stderr
    return proc


def ocx_json(config: str, *args: str):
    return json.loads(ocx(config, *args, "-f", "json").stdout)


@pytest.fixture(scope="module")
def config_file(ocx_env) -> str:
    return ocx_env.conf.config_file[0]


@pytest.fixture
def volume_in_sp1(ocx_env):
    """A volume made directly in sp1, then shown through OCX (which searches and learns)."""
    sp1 = ocx_env.connect("sp1")
    made = sp1.block_storage.create_volume(size=1, name="for-the-operator")
    sp1.block_storage.wait_for_status(made, "available", wait=30)
    assert ocx_env.connect("ocx").block_storage.get_volume(made.id).name == "for-the-operator"
    yield made
    sp1.block_storage.delete_volume(made.id)


def test_upgrading_the_gateways_store_again_changes_nothing(config_file):
    assert f"is at revision {head()}, the newest" in ocx(config_file, "db", "upgrade").stdout


def test_a_resource_found_in_sp1_is_listed_with_its_provider(ocx_env, config_file,
                                                             volume_in_sp1):
    mappings = ocx_json(config_file, "mappings", "list", "--provider", "sp1")
    mine = [m for m in mappings if m["id"] == volume_in_sp1.id]
    assert len(mine) == 1
    assert mine[0]["type"] == "volumes" and mine[0]["provider"] == "sp1"
    assert mine[0]["remote_project"] == ocx_env.connect("sp1").current_project_id
    assert mine[0]["source"] == "search"
    shown = ocx_json(config_file, "mappings", "show", "volumes", volume_in_sp1.id)
    assert shown == dict(mine[0], endpoint=shown["endpoint"]) and shown["endpoint"]


def test_token_mappings_show_a_hash_prefix_and_never_a_token(ocx_env, config_file,
                                                            volume_in_sp1):
    conn = ocx_env.connect("ocx")
    conn.block_storage.get_volume(volume_in_sp1.id)  # this user's token is mapped in sp1
    token = conn.session.get_token()
    listed = ocx(config_file, "mappings", "list", "--tokens", "-f", "json").stdout
    assert token not in listed
    mine = [t for t in json.loads(listed)
            if t["hash_prefix"] == hashlib.sha256(token.encode()).hexdigest()[:12]]
    assert [{k: v for k, v in t.items() if k != "expires_at"} for t in mine] == [
        {"hash_prefix": mine[0]["hash_prefix"], "local_project": conn.current_project_id,
         "provider": "sp1", "remote_project": ocx_env.connect("sp1").current_project_id}]


def test_a_deleted_mapping_is_gone_and_a_missing_one_is_an_error(config_file, volume_in_sp1):
    key = ("volumes", volume_in_sp1.id)
    assert ocx(config_file, "mappings", "delete", *key).stdout.startswith("deleted")
    gone = ocx(config_file, "mappings", "show", *key, expect=1)
    assert gone.stderr.strip() == f"ocx mappings show: no mapping for volumes {key[1]}"
    again = ocx(config_file, "mappings", "delete", *key, expect=1)
    assert again.stderr.strip() == f"ocx mappings delete: no mapping for volumes {key[1]}"


def test_everything_of_one_provider_is_deleted_and_nothing_else(ocx_env, config_file,
                                                                volume_in_sp1):
    conn = ocx_env.connect("ocx")
    at_home = conn.block_storage.create_volume(size=1, name="stays-mapped")
    try:
        list(conn.block_storage.volumes())  # a listing maps every volume it sees
        done = ocx(config_file, "mappings", "delete", "--provider", "sp1").stdout
        counts = re.fullmatch(r"deleted (\d+) resource mapping\(s\) and (\d+) token "
                              r"mapping\(s\) of provider sp1\n", done)
        assert counts and int(counts[1]) >= 1 and int(counts[2]) >= 1
        left = ocx_json(config_file, "mappings", "list")
        assert "sp1" not in {m["provider"] for m in left}
        assert ("home", "volumes") in {(m["provider"], m["type"]) for m in left
                                       if m["id"] == at_home.id}
        assert "sp1" not in {t["provider"] for t in
                             ocx_json(config_file, "mappings", "list", "--tokens")}
    finally:
        conn.block_storage.delete_volume(at_home.id)


def test_each_provider_with_its_health_and_what_home_offers(config_file, tmp_path):
    # sp1 and sp2 as the gateway has them, and one the home Keystone has never heard of.
    with open(config_file) as f:
        text = f.read().replace("providers = sp1, sp2", "providers = sp1, sp2, ghost")
    (tmp_path / "ocx.conf").write_text(text)
    providers = {p["name"]: p for p in ocx_json(str(tmp_path / "ocx.conf"), "providers")}
    assert list(providers) == ["home", "sp1", "sp2", "ghost"]
    home = providers["home"]
    assert (home["health"], home["kind"], home["sp_id"]) == ("up", "openstack", None)
    assert home["services"] == ["compute", "volume", "image", "network"]
    for sp in ("sp1", "sp2"):
        assert providers[sp]["health"] == "up", providers[sp]["detail"]
        assert (providers[sp]["kind"], providers[sp]["sp_id"]) == ("openstack", sp)
        assert providers[sp]["services"] is None  # unknown until a user's call
    assert providers["ghost"]["health"] == "down"
    assert "not a service provider of the home Keystone" in providers["ghost"]["detail"]


def test_a_service_provider_whose_keystone_is_down_shows_down(ocx_env, config_file):
    ocx_env.sim.call(ocx_env.sim.cloud("sp2").set_down("keystone", True))
    try:
        providers = {p["name"]: p for p in ocx_json(config_file, "providers")}
    finally:
        ocx_env.sim.call(ocx_env.sim.cloud("sp2").set_down("keystone", False))
    assert providers["sp2"]["health"] == "down"
    assert "its Keystone is unreachable" in providers["sp2"]["detail"]
    assert providers["home"]["health"] == providers["sp1"]["health"] == "up"


def test_a_home_keystone_that_never_answers_shows_down_within_the_time_limit(tmp_path):
    with socket.socket() as silent:  # the kernel accepts connections; nothing answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        conf = tmp_path / "ocx.conf"
        conf.write_text(f"[DEFAULT]\nproviders = sp1\nstate_dir = {tmp_path}\n[keystone]\n"
                        f"auth_url = http://127.0.0.1:{silent.getsockname()[1]}/v3\n"
                        f"password = secret\n")
        table = ocx(str(conf), "providers", "--timeout", "1").stdout
    home = next(line for line in table.splitlines() if line.startswith("| home "))
    assert "| down " in home and "did not answer within 1.0 s" in home
    sp1 = next(line for line in table.splitlines() if line.startswith("| sp1 "))
    assert "| unknown " in sp1 and "unknown until a user's call" in sp1


def test_a_new_store_is_made_by_db_upgrade_and_by_nothing_else(tmp_path):
    conf = str(tmp_path / "ocx.conf")
    (tmp_path / "ocx.conf").write_text(f"[DEFAULT]\nstate_dir = {tmp_path / 'state'}\n")
    refused = ocx(conf, "mappings", "list", expect=1)
    assert refused.stderr.strip() == (f"ocx mappings list: there is no store at "
                                      f"{tmp_path / 'state' / 'ocx.sqlite'}: run "
                                      f"`ocx db upgrade` first")
    assert ocx_json(conf, "db", "current")["current"] is None
    assert not (tmp_path / "state").exists()
    assert f"upgraded from revision none to {head()}" in ocx(conf, "db", "upgrade").stdout
    assert ocx(conf, "mappings", "list").stdout.splitlines()[1].split() == [
        "|", "Type", "|", "ID", "|", "Provider", "|", "Remote", "Project", "|", "Source", "|",
        "Updated", "At", "|"]
    assert os.listdir(tmp_path / "state") == ["ocx.sqlite"]  # no encryption key made


def test_a_store_that_cannot_be_reached_is_a_one_line_error_without_its_password(tmp_path):
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))  # a port nobody listens on
        url = f"postgresql://ocx:hunter2@127.0.0.1:{closed.getsockname()[1]}/ocx"
        (tmp_path / "ocx.conf").write_text(f"[store]\nurl = {url}\n")
        failed = ocx(str(tmp_path / "ocx.conf"), "db", "upgrade", expect=1)
    assert failed.stderr.startswith("ocx db upgrade: the store cannot be reached: ")
    assert len(failed.stderr.splitlines()) == 1 and "hunter2" not in failed.stderr
