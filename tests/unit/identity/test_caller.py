"""A Caller from the home Keystone's token document."""
from __future__ import annotations

import datetime as dt
import hashlib

import pytest

from ocx.identity.caller import caller_from_token_body, parse_time

TOKEN = "gAAAAAsecret-token-value"


def body(**changes):
    doc = {"methods": ["password"], "expires_at": "2030-01-02T03:04:05.000000Z",
           "user": {"id": "u1", "name": "alice", "domain": {"id": "default", "name": "Default"}},
           "project": {"id": "p1", "name": "demo", "domain": {"id": "default",
                                                              "name": "Default"}},
           "roles": [{"id": "r1", "name": "member"}, {"id": "r2", "name": "reader"}],
           "catalog": [{"type": "volumev3", "endpoints": []}]}
    doc.update(changes)
    return {"token": {k: v for k, v in doc.items() if v is not None}}


def test_a_caller_is_what_the_token_document_says():
    caller = caller_from_token_body(TOKEN, body())
    assert (caller.user_id, caller.user_name, caller.user_domain_id) == ("u1", "alice",
                                                                         "default")
    assert (caller.project_id, caller.project_name, caller.project_domain_id) == (
        "p1", "demo", "default")
    assert caller.roles == frozenset({"member", "reader"}) and not caller.is_admin
    assert caller.expires_at == dt.datetime(2030, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc)
    assert caller.catalog == [{"type": "volumev3", "endpoints": []}]
    assert caller.token == TOKEN
    assert caller.token_hash == hashlib.sha256(TOKEN.encode()).hexdigest()


def test_the_token_never_shows_in_repr():
    caller = caller_from_token_body(TOKEN, body())
    assert TOKEN not in repr(caller) and caller.token_hash in repr(caller)


def test_the_admin_role_makes_an_admin():
    caller = caller_from_token_body(TOKEN, body(roles=[{"id": "r", "name": "admin"}]))
    assert caller.is_admin


def test_a_token_without_project_is_not_a_caller():
    with pytest.raises(ValueError, match="not scoped to a project"):
        caller_from_token_body(TOKEN, body(project=None))


def test_a_broken_document_is_refused_without_the_token_in_the_message():
    with pytest.raises(ValueError) as err:
        caller_from_token_body(TOKEN, {"token": {"project": {"id": "p"}}})
    assert TOKEN not in str(err.value)


def test_times_without_a_zone_are_utc():
    assert parse_time("2030-01-01T00:00:00") == dt.datetime(2030, 1, 1,
                                                            tzinfo=dt.timezone.utc)
