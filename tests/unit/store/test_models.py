"""The mapping values: a local token only as its hash, a remote token never in a repr."""
from __future__ import annotations

import datetime as dt
import hashlib

import pytest

from ocx.store import ResourceMapping, TokenMapping, token_hash

IN_AN_HOUR = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)


def mapping(**changes) -> TokenMapping:
    fields = {"local_token_hash": token_hash("local"), "local_project": "demo",
              "provider": "sp-bu", "remote_token": "REMOTE-SECRET", "remote_project": "bu-demo",
              "expires_at": IN_AN_HOUR, "catalog": [{"type": "compute", "endpoints": []}]}
    return TokenMapping(**{**fields, **changes})


def test_a_local_token_is_kept_as_its_sha256():
    assert token_hash("abc") == hashlib.sha256(b"abc").hexdigest()
    assert len(token_hash("gAAAAABk" * 30)) == 64


def test_a_clear_token_where_the_hash_belongs_is_refused():
    with pytest.raises(ValueError, match="sha256") as refused:
        mapping(local_token_hash="gAAAAABclear-local-token")

    assert "clear-local-token" not in str(refused.value)


def test_the_repr_shows_neither_token_nor_catalog():
    shown = repr(mapping()) + str(mapping())

    assert "REMOTE-SECRET" not in shown and "compute" not in shown
    assert token_hash("local") not in shown
    assert token_hash("local")[:12] in shown and "sp-bu" in shown


def test_expiry_is_aware_utc():
    in_paris = dt.datetime(2030, 1, 1, 13, 0, tzinfo=dt.timezone(dt.timedelta(hours=1)))

    m = mapping(expires_at=in_paris)

    assert m.expires_at == dt.datetime(2030, 1, 1, 12, 0, tzinfo=dt.UTC)
    assert m.expires_at.tzinfo is dt.UTC
    assert m.expired(m.expires_at) and not m.expired(m.expires_at - dt.timedelta(seconds=1))
    with pytest.raises(ValueError, match="timezone-aware"):
        mapping(expires_at=dt.datetime(2030, 1, 1))


def test_a_resource_mapping_says_how_it_was_learned():
    m = ResourceMapping.learned("volumes", "bs1", "sp-nu", "nu-demo", "http://nu:8776/v3",
                                "listing")

    assert m.key == ("volumes", "bs1")
    assert m.updated_at.tzinfo is dt.UTC
    with pytest.raises(ValueError, match="unknown source"):
        ResourceMapping.learned("volumes", "bs1", "sp-nu", None, None, "guess")
