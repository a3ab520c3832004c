"""Every ``ocx`` command's ``--help`` ends with examples, and every example is a command line
``ocx`` accepts."""
from __future__ import annotations

import shlex

import pytest

from ocx.cli import build_parser, main
from ocx.cli_help import EXAMPLES, subcommands

COMMANDS = [name for name, _ in subcommands(build_parser())]


def test_every_command_has_examples_and_every_example_a_command():
    assert set(COMMANDS) == set(EXAMPLES)


@pytest.mark.parametrize("command", COMMANDS)
def test_help_shows_the_examples(capsys, command):
    with pytest.raises(SystemExit) as stopped:
        main([*command.split(), "--help"])
    assert stopped.value.code == 0
    out = capsys.readouterr().out
    examples = out.split("\nexamples:\n", 1)[1]
    # As written (not re-wrapped): each line of the example is a line of the help.
    assert examples.rstrip("\n") == EXAMPLES[command]


EXAMPLE_LINES = [pytest.param(line, id=f"{command}: {line.strip()}")
                 for command, text in EXAMPLES.items() for line in text.splitlines()]


@pytest.mark.parametrize("line", EXAMPLE_LINES)
def test_each_example_parses(line):
    argv = shlex.split(line, comments=True)
    assert argv[0] == "ocx"
    if argv[1] == "bench":
        return   # bench hands every argument to bench/run.py, before any parsing
    args = build_parser().parse_args(argv[1:])
    assert callable(args.func)


def test_the_top_level_help_says_what_exit_statuses_mean(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    statuses = out.split("exit status", 1)[1].splitlines()[1:]
    assert [line.split()[0] for line in statuses if line[:3].strip().isdigit()] == \
        ["0", "1", "2", "3"]
