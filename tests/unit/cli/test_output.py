"""``-f table|json|yaml|value`` (ocx/admin/output.py): YAML says what JSON says."""
from __future__ import annotations

import json

import yaml

from ocx.admin.output import FORMATS, render_list, render_record

RECORDS = [
    {"type": "servers", "id": "9d3c", "provider": "sp1", "remote_project": None,
     "services": ["compute", "volume"], "synced": True, "count": 3},
    {"type": "volumes", "id": "a-b: c", "provider": "home", "remote_project": "p",
     "services": [], "synced": False, "count": 0},
]


def test_yaml_is_offered_like_the_openstack_client():
    assert FORMATS == ("table", "json", "yaml", "value")


def test_a_list_in_yaml_is_every_field_in_order():
    text = render_list(RECORDS, ("type", "id"), "yaml")
    assert yaml.safe_load(text) == json.loads(render_list(RECORDS, ("type", "id"), "json"))
    assert yaml.safe_load(text) == RECORDS
    assert text.splitlines()[:2] == ["- type: servers", "  id: 9d3c"]   # record order
    assert not text.endswith("\n")     # printed with print(), as the other formats


def test_a_record_in_yaml_is_a_mapping():
    text = render_record(RECORDS[1], "yaml")
    assert yaml.safe_load(text) == RECORDS[1]
    assert "id: 'a-b: c'" in text.splitlines()   # quoted where YAML needs it


def test_nothing_in_yaml_is_an_empty_list():
    assert yaml.safe_load(render_list([], ("type",), "yaml")) == []


def test_the_table_shows_only_the_columns():
    table = render_list(RECORDS, ("type", "remote_project"), "table",
                        blanks={"remote_project": "-"})
    assert table.splitlines()[1].split("|")[1:3] == [" Type    ", " Remote Project "]
    assert "| servers | -              |" in table
    assert "9d3c" not in table
