"""keystoneauth1 sessions kept per Keystone endpoint: reused, and made anew once one fails."""
from __future__ import annotations

import pytest
import requests
from keystoneauth1 import exceptions as ks_exc

from ocx.identity.ksa import SessionCache

SP = "http://sp1.test:5000/v3"


def test_one_session_per_endpoint_is_kept_and_reused():
    cache = SessionCache(5)
    first = cache.get(SP)
    assert cache.get(SP) is first and cache.get("http://sp2.test/v3") is not first
    with cache.using(SP) as kept:
        assert kept is first
    assert cache.get(SP) is first and cache.made == 2


def test_a_session_that_cannot_reach_its_keystone_is_made_anew():
    cache = SessionCache(5)
    bad = cache.get(SP)
    with pytest.raises(ks_exc.ConnectFailure):
        with cache.using(SP):
            raise ks_exc.ConnectFailure("refused")
    fresh = cache.get(SP)
    assert fresh is not bad and cache.made == 2


def test_an_answer_that_is_an_error_keeps_the_session():
    cache = SessionCache(5)
    kept = cache.get(SP)
    with pytest.raises(ks_exc.Unauthorized):
        with cache.using(SP):
            raise ks_exc.Unauthorized()
    assert cache.get(SP) is kept


def test_kept_sessions_take_no_cookies():
    # A kept session serves every caller: a cookie one answer set must not go with the next.
    kept = SessionCache(5).get(SP)
    cookie = requests.cookies.create_cookie("shibsession", "x", domain="sp1.test")
    policy = kept.session.cookies.get_policy()
    assert not policy.set_ok(cookie, _request())


def _request():
    import urllib.request

    return urllib.request.Request("http://sp1.test:5000/v3/auth/tokens")
