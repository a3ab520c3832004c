"""The exit statuses scripts rely on (ocx/admin/README.md, "Exit status"), and the progress
bar of ``ocx controller sync``, with the real ``ocx`` command on a SQLite store of its own."""
from __future__ import annotations

import fcntl
import json
import os
import pty
import socket
import struct
import subprocess
import sys
import termios

import pytest
import yaml

from ocx.cli import main
from ocx.store.migrate import head

OCX = os.path.join(os.path.dirname(sys.executable), "ocx")


def ocx(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([OCX, *args], capture_output=True, text=True, timeout=120, **kwargs)


def run(capsys, *argv: str) -> tuple[int, str, str]:
    """``ocx ARGV`` in this process (what the command does, without paying for a start-up);
    (exit status, stdout, stderr)."""
    try:
        status = main(list(argv))
    except SystemExit as stopped:     # argparse's usage errors
        status = stopped.code
    out, err = capsys.readouterr()
    return status, out, err


def closed_port() -> int:
    """A loopback port nobody listens on (a controller that is down)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def conf(tmp_path) -> str:
    path = tmp_path / "ocx.conf"
    path.write_text(f"[DEFAULT]\nstate_dir = {tmp_path / 'state'}\nproviders = ctl\n"
                    f"[provider:ctl]\nkind = controller\n"
                    f"servers = 127.0.0.1:{closed_port()}, 127.0.0.1:{closed_port()}\n"
                    f"server_timeout = 2\nsync_timeout = 2\n")
    return str(path)


def test_db_status_is_3_until_the_store_is_upgraded_then_0(capsys, conf):
    status, out, err = run(capsys, "db", "status", "--config", conf, "-f", "json")
    assert status == 3, err
    assert json.loads(out)["current"] is None
    assert err == "ocx db status: the store needs `ocx db upgrade`\n"
    assert run(capsys, "db", "current", "--config", conf)[0] == 0   # current only tells
    assert run(capsys, "db", "upgrade", "--config", conf)[0] == 0
    status, out, err = run(capsys, "db", "status", "--config", conf, "-f", "yaml")
    assert (status, err) == (0, "")
    assert yaml.safe_load(out) == {"store": yaml.safe_load(out)["store"], "current": head(),
                                   "head": head(), "up_to_date": True}


def test_a_configuration_that_cannot_be_read_is_1_and_a_usage_error_2(capsys, tmp_path):
    missing = str(tmp_path / "missing.conf")
    for command in (["db", "status"], ["mappings", "list"], ["keys", "status"]):
        status, _, err = run(capsys, *command, "--config", missing)
        assert status == 1, (command, err)
        assert err.startswith(f"ocx {' '.join(command)}: cannot read the configuration: ")
        assert len(err.splitlines()) == 1
    status, _, err = run(capsys, "mappings", "list", "--config", missing, "-f", "xml")
    assert status == 2 and "invalid choice: 'xml'" in err


def test_controller_sync_is_1_when_a_server_is_not_synced_and_2_for_a_wrong_name(capsys,
                                                                               conf):
    assert run(capsys, "db", "upgrade", "--config", conf)[0] == 0
    status, out, err = run(capsys, "controller", "sync", "ctl", "--config", conf, "-f", "json")
    assert status == 1
    assert [r["synced"] for r in json.loads(out)] == [False, False]
    assert err == ""          # stderr is not a terminal: no progress bar
    status, _, err = run(capsys, "controller", "sync", "nope", "--config", conf)
    assert status == 2 and "no provider 'nope'" in err


def test_controller_sync_draws_its_progress_on_a_terminal_only(capsys, conf):
    assert run(capsys, "db", "upgrade", "--config", conf)[0] == 0
    main, terminal = pty.openpty()
    # A terminal of 24 rows and 100 columns (a new pseudo-terminal has no size: no room).
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    try:
        done = subprocess.run([OCX, "controller", "sync", "ctl", "--config", conf],
                              stdout=subprocess.PIPE, stderr=terminal, timeout=120)
        os.close(terminal)
        drawn = b""
        while True:
            try:
                chunk = os.read(main, 4096)
            except OSError:    # EIO: the terminal's other side is closed and all is read
                break
            if not chunk:
                break
            drawn += chunk
    finally:
        os.close(main)
    assert done.returncode == 1
    assert b"syncing ctl" in drawn and b"2/2" in drawn
    assert b"syncing" not in done.stdout            # the table alone on stdout
    assert done.stdout.count(b"| 127.0.0.1:") == 2
