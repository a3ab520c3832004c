"""The examples every ``ocx`` command shows under ``--help``, kept apart from the parsers in
``cli.py``: one entry per command (``"db upgrade"``), put on its parser by :func:`add_examples`
after the parsers are built. ``tests/unit/cli`` holds every command to having one."""
from __future__ import annotations

import argparse

CONFIG = "/etc/ocx/ocx.conf"

# What every command's exit status means; ocx/admin/README.md ("Exit status") gives each
# command's own cases.
EXIT_STATUS = """\
exit status (each command's cases: ocx/admin/README.md, "Exit status"):
  0  done
  1  failed, one line on stderr saying why: the store, a cloud or the
     configuration file could not be read, or a controller server not synced
  2  usage error, nothing done: wrong arguments; for serve, listen, sim and
     controller sync also a configuration they cannot work with
  3  done, something left for the operator: db status, the store needs
     `ocx db upgrade`; keys rotate, values no configured key opens"""

EXAMPLES: dict[str, str] = {
    "sim": """\
  ocx sim --clouds home,sp1,sp2=cinder+glance --clouds-yaml clouds.yaml
  ocx sim --config sim.ini --notifications RABBITMQ-URL""",
    "sim-fault": """\
  ocx sim-fault --control CONTROL-URL sp1 --latency-ms 50
  ocx sim-fault --control CONTROL-URL sp1 --down cinder
  ocx sim-fault --control CONTROL-URL ctl --controller 0 --stop""",
    "serve": f"""\
  ocx serve --config {CONFIG}
  ocx serve --config {CONFIG} --workers 4""",
    "catalog": f"""\
  ocx catalog --config {CONFIG}     # public endpoints of home's catalog -> OCX""",
    "bench": """\
  ocx bench --quick""",
    "demo": """\
  ocx demo --clouds-yaml .ocx/clouds.yaml""",
    "listen": f"""\
  ocx listen --config {CONFIG}""",
    "db": f"""\
  ocx db status --config {CONFIG}       # exit status 3: run `ocx db upgrade`
  ocx db upgrade --config {CONFIG}""",
    "db upgrade": f"""\
  ocx db upgrade --config {CONFIG}""",
    "db current": f"""\
  ocx db current --config {CONFIG} -f json""",
    "db status": f"""\
  ocx db status --config {CONFIG}       # exit status 3: run `ocx db upgrade`""",
    "mappings": f"""\
  ocx mappings list --config {CONFIG} --provider sp1
  ocx mappings show --config {CONFIG} servers SERVER-ID""",
    "mappings list": f"""\
  ocx mappings list --config {CONFIG} --type servers --limit 20
  ocx mappings list --config {CONFIG} --tokens --provider sp1 -f yaml""",
    "mappings show": f"""\
  ocx mappings show --config {CONFIG} volumes VOLUME-ID -f json""",
    "mappings delete": f"""\
  ocx mappings delete --config {CONFIG} servers SERVER-ID
  ocx mappings delete --config {CONFIG} --provider sp1 --tokens""",
    "gluon": f"""\
  ocx gluon setup --config {CONFIG}""",
    "gluon setup": f"""\
  ocx gluon setup --config {CONFIG}""",
    "providers": f"""\
  ocx providers --config {CONFIG}
  ocx providers --config {CONFIG} --timeout 10 -f json""",
    "projects": f"""\
  ocx projects --config {CONFIG} -f yaml""",
    "controller": f"""\
  ocx controller sync ctl --config {CONFIG}""",
    "controller sync": f"""\
  ocx controller sync ctl --config {CONFIG}
  ocx controller sync ctl --config {CONFIG} --server 10.0.0.2:8000 -f json""",
    "keys": f"""\
  ocx keys generate
  ocx keys rotate --config {CONFIG}""",
    "keys generate": """\
  ocx keys generate       # put it first in [store] encryption_keys""",
    "keys rotate": f"""\
  ocx keys rotate --config {CONFIG}
  ocx keys rotate --config {CONFIG} --delete-unreadable""",
    "keys status": f"""\
  ocx keys status --config {CONFIG} -f json""",
}


def subcommands(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
                ) -> list[tuple[str, argparse.ArgumentParser]]:
    """Every command under ``parser`` with its parser: ``("db upgrade", parser)``, ..."""
    found = []
    for action in parser._actions:   # argparse keeps its subparsers only here
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found.append((" ".join((*path, name)), sub))
                found.extend(subcommands(sub, (*path, name)))
    return found


def add_examples(parser: argparse.ArgumentParser) -> None:
    """Each command's examples (and the exit statuses) under its ``--help``, as written."""
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = EXIT_STATUS
    for name, sub in subcommands(parser):
        if name in EXAMPLES:
            sub.formatter_class = argparse.RawDescriptionHelpFormatter
            sub.epilog = f"examples:\n{EXAMPLES[name]}"
