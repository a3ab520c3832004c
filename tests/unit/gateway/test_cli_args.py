"""The operator commands' arguments: a wrong combination is a usage error (status 2) before
anything is read or opened."""
from __future__ import annotations

import pytest

from ocx.cli import main


def usage_error(capsys, *argv: str) -> str:
    with pytest.raises(SystemExit) as stopped:
        main(list(argv))
    assert stopped.value.code == 2
    return capsys.readouterr().err.strip().splitlines()[-1]


@pytest.mark.parametrize("argv, message", [
    (["mappings", "delete"], "give a resource's TYPE and ID, or --provider"),
    (["mappings", "delete", "servers"], "give a resource's TYPE and ID, or --provider"),
    (["mappings", "delete", "servers", "x", "--provider", "sp1"],
     "give either TYPE ID or --provider, not both"),
    (["mappings", "delete", "servers", "x", "--tokens"], "--type and --tokens go with --provider"),
    (["mappings", "delete", "--provider", "sp1", "--type", "servers", "--tokens"],
     "--type selects resource mappings, --tokens token mappings: give one"),
    (["mappings", "list", "--tokens", "--type", "servers"],
     "--type lists resource mappings; token mappings have no type"),
    (["mappings", "list", "--include-expired"], "--include-expired goes with --tokens"),
])
def test_a_wrong_combination_is_a_usage_error(capsys, argv, message):
    assert usage_error(capsys, *argv, "--config", "/nonexistent.conf").endswith(message)


def test_every_operator_command_needs_the_configuration(capsys):
    for argv in (["db", "upgrade"], ["mappings", "list"], ["providers"]):
        assert "--config" in usage_error(capsys, *argv)


def test_limits_and_time_limits_are_positive(capsys):
    assert "must be 1 or more" in usage_error(capsys, "mappings", "list", "--limit", "0",
                                              "--config", "x")
    assert "must be more than 0" in usage_error(capsys, "providers", "--timeout", "0",
                                                "--config", "x")


def test_a_configuration_that_is_not_there_is_a_one_line_error(capsys):
    assert main(["mappings", "list", "--config", "/nonexistent/ocx.conf"]) == 1
    assert capsys.readouterr().err.startswith("ocx mappings list: cannot read the "
                                              "configuration: ")


def test_a_bad_value_in_the_configuration_stops_serve_before_it_opens_anything(capsys, tmp_path):
    conf = tmp_path / "ocx.conf"
    conf.write_text(f"[DEFAULT]\nlisting_timeout = -1\nstate_dir = {tmp_path / 'state'}\n"
                    "[keystone]\nauth_url = http://127.0.0.1:9/v3\n")
    assert main(["serve", "--config", str(conf)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("ocx serve: Value for option listing_timeout")
    assert not (tmp_path / "state").exists()
