"""Cinder's list filters: which a user may use, and how the database applies them."""
from __future__ import annotations

import datetime as dt

import pytest

from ocx.sim.cinder import SNAPSHOT, VOLUME, process_filters, record_matches
from ocx.sim.errors import SimError

UTC = dt.timezone.utc


def filters(params, admin=False, version=(3, 71), resource=VOLUME):
    return process_filters(dict(params), resource, is_admin=admin, version=version)


def test_a_user_may_filter_only_on_what_resource_filters_allow():
    with pytest.raises(SimError) as info:
        filters({"name": "a", "project_id": "p", "host": "h"})
    assert info.value.status == 400
    assert info.value.message == "Invalid filters project_id,host are found in query options."
    # all_tenants is never an invalid filter; it is handled apart.
    assert filters({"all_tenants": "1", "status": "available"}) == {"status": "available"}


def test_before_331_unknown_filters_are_dropped_for_users_and_kept_for_admins():
    assert filters({"name": "a", "host": "h"}, version=(3, 30)) == {"display_name": "a"}
    assert filters({"group_id": "g"}, version=(3, 9)) == {}
    assert filters({"host": "h"}, admin=True, version=(3, 30)) == {"host": "h"}


def test_a_filter_on_no_column_gives_an_empty_listing_not_an_error():
    assert filters({"colour": "blue"}, admin=True) is None
    assert filters({"metadata": "not a dict"}) is None


def test_filter_values_are_read_as_python_literals_except_the_name():
    result = filters({"size": "2", "name": "007", "metadata": "{'tier': 'gold'}",
                      "bootable": "true"})
    assert result == {"size": 2, "display_name": "007", "metadata": {"tier": "gold"},
                      "bootable": True}


def test_a_bootable_filter_must_be_a_boolean_from_32():
    with pytest.raises(SimError) as info:
        filters({"bootable": "maybe"})
    assert info.value.message == "Invalid input received: 'bootable = maybe'"
    assert filters({"bootable": "maybe"}, version=(3, 1)) == {"bootable": True}


def test_records_match_exact_values_metadata_lists_and_time_comparisons():
    vol = {"display_name": "data", "size": 2, "status": "available", "bootable": False,
           "metadata": {"tier": "gold"}, "admin_metadata": {},
           "created_at": dt.datetime(2026, 3, 1, tzinfo=UTC)}
    assert record_matches(vol, {"display_name": "data", "size": 2})
    assert not record_matches(vol, {"status": "in-use"})
    assert record_matches(vol, {"metadata": {"tier": "gold"}})
    assert not record_matches(vol, {"metadata": {"tier": "silver"}})
    assert record_matches(vol, {"status": ["in-use", "available"]})
    assert record_matches(vol, filters({"created_at": "gt:2026-02-01T00:00:00"}))
    assert not record_matches(vol, filters({"created_at": "lt:2026-02-01T00:00:00"}))
    assert record_matches(vol, {"display_name~": "at"})


def test_snapshots_have_their_own_filters():
    assert filters({"volume_id": "v", "status": "available"}, resource=SNAPSHOT) == {
        "volume_id": "v", "status": "available"}
    with pytest.raises(SimError):
        filters({"size": "1"}, resource=SNAPSHOT)


def test_a_dict_given_for_a_plain_column_matches_nothing_instead_of_failing():
    vol = {"size": 2, "metadata": {}, "admin_metadata": {}}
    assert not record_matches(vol, filters({"size": "{1: 2}"}, admin=True))
