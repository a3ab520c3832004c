"""What the operator commands print with -f table (the default), json and value."""
from __future__ import annotations

import json

from ocx.admin.output import heading, render_list, render_record

MAPPINGS = [
    {"type": "servers", "id": "a1", "provider": "sp1", "remote_project": "p9", "endpoint": None},
    {"type": "volumes", "id": "b22", "provider": "home", "remote_project": None,
     "endpoint": "http://h/v3"},
]


def test_headings_are_written_as_the_openstack_cli_writes_them():
    assert heading("remote_project") == "Remote Project"
    assert heading("id") == "ID"
    assert heading("sp_id") == "SP ID"


def test_a_table_shows_the_columns_asked_for_in_a_box():
    assert render_list(MAPPINGS, ("type", "id", "remote_project"), "table").splitlines() == [
        "+---------+-----+----------------+",
        "| Type    | ID  | Remote Project |",
        "+---------+-----+----------------+",
        "| servers | a1  | p9             |",
        "| volumes | b22 | None           |",
        "+---------+-----+----------------+",
    ]


def test_an_empty_listing_is_a_table_of_headings_and_an_empty_json_list():
    assert render_list([], ("type", "id"), "table").splitlines()[1] == "| Type | ID |"
    assert json.loads(render_list([], ("type", "id"), "json")) == []


def test_json_gives_every_field_not_only_the_columns():
    assert json.loads(render_list(MAPPINGS, ("type",), "json")) == MAPPINGS


def test_value_gives_one_line_of_values_per_record_for_scripts():
    assert render_list(MAPPINGS, ("id", "provider"), "value") == "a1 sp1\nb22 home"


def test_a_blank_says_what_none_means_in_its_column():
    rows = [{"name": "sp1", "services": None}, {"name": "home", "services": ["compute", "image"]}]
    table = render_list(rows, ("name", "services"), "table",
                        blanks={"services": "unknown until a user's call"})
    assert "| sp1  | unknown until a user's call |" in table
    assert "| home | compute, image              |" in table


def test_one_record_is_a_field_value_table():
    assert render_record(MAPPINGS[0], "table").splitlines()[1:5] == [
        "| Field          | Value   |",
        "+----------------+---------+",
        "| Type           | servers |",
        "| ID             | a1      |",
    ]
    assert json.loads(render_record(MAPPINGS[0], "json")) == MAPPINGS[0]
    assert render_record(MAPPINGS[0], "value").splitlines() == [
        "servers", "a1", "sp1", "p9", "None"]
