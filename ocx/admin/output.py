"""How the operator commands print what they found, as the openstack CLI does with ``-f``:
``table`` (the default), ``json``, ``yaml`` or ``value``. Pure: records in, text out.

A record is a flat dict of JSON values (str, int, bool, None, lists of str). A table shows the
columns asked for; JSON and YAML (the machine formats) always give every field, so that
scripts see all there is.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import orjson
import yaml
from prettytable import PrettyTable

FORMATS = ("table", "json", "yaml", "value")
# The formats that give every field of a record, for scripts.
MACHINE = ("json", "yaml")

# Words written in capitals in a heading, as the openstack CLI writes "ID".
_ACRONYMS = {"id": "ID", "sp": "SP", "url": "URL"}

Record = Mapping[str, Any]


def heading(key: str) -> str:
    """``remote_project`` → ``Remote Project``; ``sp_id`` → ``SP ID``."""
    return " ".join(_ACRONYMS.get(word, word.capitalize()) for word in key.split("_"))


def cell(value: Any, blank: str = "None") -> str:
    """One value as text: lists joined by commas, None as ``blank``."""
    if value is None:
        return blank
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value)
    return str(value)


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Left-aligned columns in ``+---+`` rules, drawn by prettytable as the openstack CLI's are."""
    drawn = PrettyTable(list(headers), align="l")
    drawn.add_rows([list(r) for r in rows])
    return drawn.get_string()


def render_list(records: Sequence[Record], columns: Sequence[str], fmt: str, *,
                blanks: Mapping[str, str] | None = None) -> str:
    """Many records: a table of ``columns``, every field in JSON or YAML, or one line of
    values each.

    ``blanks`` says what a table or a value line shows for None in a column (default "None").
    """
    if fmt in MACHINE:
        return _machine(list(records), fmt)
    rows = [[cell(r.get(c), (blanks or {}).get(c, "None")) for c in columns] for r in records]
    if fmt == "value":
        return "\n".join(" ".join(row) for row in rows)
    return table([heading(c) for c in columns], rows)


def render_record(record: Record, fmt: str, *, blanks: Mapping[str, str] | None = None) -> str:
    """One record: a Field/Value table, JSON, YAML, or its values one per line."""
    if fmt in MACHINE:
        return _machine(dict(record), fmt)
    values = [cell(v, (blanks or {}).get(k, "None")) for k, v in record.items()]
    if fmt == "value":
        return "\n".join(values)
    return table(["Field", "Value"], [[heading(k), v] for k, v in zip(record, values)])


def _machine(document: Any, fmt: str) -> str:
    if fmt == "yaml":
        # Block style, as the openstack CLI's YAML; the fields in the record's order, as JSON.
        return yaml.safe_dump(document, default_flow_style=False, sort_keys=False,
                              allow_unicode=True).rstrip("\n")
    return orjson.dumps(document, option=orjson.OPT_INDENT_2).decode()
