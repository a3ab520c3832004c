"""Identify: a caller's token checked against the home Keystone (the simulated ``idp``).

Keystone is asked once per token while the answer keeps: valid tokens until the cache window or
their expiry, refused ones for the refusal window, and a burst of calls with a new token makes
one validation. When Keystone cannot answer, the caller hears so at once.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import hashlib

import aiohttp
import pytest

from ocx.identity.errors import IdentityUnavailable, Unauthenticated

from .conftest import keystone_calls, ocx_auth, on_sim, user_token

BOGUS = "gAAAAAthis-is-not-a-token-of-the-home-cloud"


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def test_a_demo_token_identifies_the_demo_user(sim, make_validator):
    token = await user_token(sim)
    caller = await make_validator().identify(token)
    keystone = sim.cloud("idp").keystone
    assert (caller.user_name, caller.project_name) == ("demo", "demo")
    assert caller.project_id == keystone.project_id("demo")
    assert caller.user_id == keystone.find_user("demo")
    assert caller.roles == {"member", "reader"} and not caller.is_admin
    assert caller.token == token
    assert caller.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert caller.expires_at > dt.datetime.now(dt.timezone.utc)
    assert {"volumev3", "compute"} <= {entry["type"] for entry in caller.catalog}


async def test_an_admin_is_known_as_one(sim, make_validator):
    caller = await make_validator().identify(await user_token(sim, "admin"))
    assert caller.is_admin


async def test_a_known_token_is_answered_from_the_cache(sim, make_validator):
    validator, token = make_validator(), await user_token(sim)
    first = await validator.identify(token)
    before = keystone_calls(sim)
    assert await validator.identify(token) == first
    assert keystone_calls(sim) == before


async def test_a_burst_with_a_new_token_makes_one_keystone_call(sim, make_validator):
    validator, token = make_validator(), await user_token(sim)
    await validator.identify(await user_token(sim))   # OCX's own token is fetched by now
    before = keystone_calls(sim)
    callers = await asyncio.gather(*(validator.identify(token) for _ in range(10)))
    assert len(set(callers)) == 1
    assert keystone_calls(sim) - before == 1


async def test_a_bad_token_is_refused_once_for_ten_callers_and_then_from_the_cache(
        sim, make_validator):
    validator = make_validator(refusal_cache_seconds=60)
    await validator.identify(await user_token(sim))
    before = keystone_calls(sim)
    results = await asyncio.gather(*(validator.identify(BOGUS) for _ in range(10)),
                                   return_exceptions=True)
    assert all(isinstance(r, Unauthenticated) for r in results)
    assert keystone_calls(sim) - before == 1
    with pytest.raises(Unauthenticated) as err:
        await validator.identify(BOGUS)
    assert keystone_calls(sim) - before == 1
    assert BOGUS not in str(err.value)


async def test_a_refusal_is_only_cached_for_the_refusal_window(sim, make_validator):
    clock = Clock()
    validator = make_validator(refusal_cache_seconds=5, clock=clock)
    for _ in range(2):
        with pytest.raises(Unauthenticated):
            await validator.identify(BOGUS)
    before = keystone_calls(sim)
    clock.now += 5
    with pytest.raises(Unauthenticated):
        await validator.identify(BOGUS)
    assert keystone_calls(sim) - before == 1


@pytest.mark.parametrize("token", [None, "", "has spaces in it", "line\r\nbreak", "é" * 10])
async def test_a_missing_or_malformed_token_is_refused_without_asking(sim, make_validator,
                                                                     token):
    before = keystone_calls(sim)
    with pytest.raises(Unauthenticated):
        await make_validator().identify(token)
    assert keystone_calls(sim) == before


async def test_an_expired_token_is_refused(sim, make_validator):
    keystone = sim.cloud("idp").keystone
    past = dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=1)
    expired = on_sim(sim, keystone.issue_token, keystone.find_user("demo"), ["password"],
                     project_id=keystone.project_id("demo"), expires_at=past)
    with pytest.raises(Unauthenticated):
        await make_validator().identify(expired.id)


async def test_an_unscoped_token_is_refused_with_the_reason(sim, make_validator):
    with pytest.raises(Unauthenticated, match="not scoped to a project"):
        await make_validator().identify(await user_token(sim, unscoped=True))


async def test_a_revoked_token_is_refused_once_the_cache_window_is_over(sim, make_validator):
    clock = Clock()
    validator = make_validator(token_cache_seconds=300, clock=clock)
    token = await user_token(sim)
    await validator.identify(token)
    tokens = sim.cloud("idp").tokens
    on_sim(sim, lambda: tokens.revoke(tokens.validate(token)))
    clock.now += 299
    await validator.identify(token)       # still trusted: the cache window is not over
    clock.now += 1
    with pytest.raises(Unauthenticated):
        await validator.identify(token)


async def test_forget_drops_a_token_from_the_cache(sim, make_validator):
    validator, token = make_validator(), await user_token(sim)
    await validator.identify(token)
    tokens = sim.cloud("idp").tokens
    on_sim(sim, lambda: tokens.revoke(tokens.validate(token)))
    validator.forget(token)
    with pytest.raises(Unauthenticated):
        await validator.identify(token)


async def test_a_refused_service_token_is_renewed_once(sim, make_validator):
    validator = make_validator()
    await validator.identify(await user_token(sim))
    tokens = sim.cloud("idp").tokens
    service_token = validator._service[0]
    on_sim(sim, lambda: tokens.revoke(tokens.validate(service_token)))
    admin_token = await user_token(sim, "admin")
    logins = keystone_calls(sim, method="POST")
    caller = await validator.identify(admin_token)
    assert caller.user_name == "admin"
    assert keystone_calls(sim, method="POST") - logins == 1    # one new login of OCX's user


async def test_a_wrong_service_password_makes_identity_unavailable(sim, make_validator):
    wrong = "not-the-password"
    validator = make_validator(auth=ocx_auth(sim, password=wrong))
    with pytest.raises(IdentityUnavailable, match="username and password") as err:
        await validator.identify(await user_token(sim))
    assert wrong not in str(err.value)


async def test_keystone_down_makes_identity_unavailable_at_once(sim, make_validator):
    token = await user_token(sim)
    # A downed sim service stops listening but keeps open connections, so the warm validator
    # must not hold one (a dead host would not answer on it either).
    fresh = aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True))
    warm = make_validator(session=fresh)
    await warm.identify(await user_token(sim))     # has OCX's token; the next call is a GET
    cold = make_validator()                        # must log OCX's user in first
    sim.call(sim.cloud("idp").set_down("keystone", True))
    try:
        async with asyncio.timeout(30):            # a guard against a hang, not a timing
            for validator in (warm, cold):
                with pytest.raises(IdentityUnavailable, match="unreachable") as err:
                    await validator.identify(token)
                assert token not in str(err.value)
        sim.call(sim.cloud("idp").set_down("keystone", False))
        assert (await warm.identify(token)).user_name == "demo"   # not cached as a refusal
    finally:
        sim.call(sim.cloud("idp").set_down("keystone", False))
        await fresh.close()


async def test_a_slow_keystone_makes_identity_unavailable_within_the_time_limit(
        sim, make_validator):
    validator, token = make_validator(timeout=0.3), await user_token(sim)
    await validator.identify(await user_token(sim))
    faults = sim.cloud("idp").faults
    on_sim(sim, faults.latency_ms.__setitem__, "keystone", 5000)
    try:
        with pytest.raises(IdentityUnavailable, match="did not answer within 0.3 s"):
            await validator.identify(token)
    finally:
        on_sim(sim, faults.latency_ms.pop, "keystone")


async def test_a_failing_keystone_makes_identity_unavailable_with_its_status(
        sim, make_validator):
    validator, token = make_validator(), await user_token(sim)
    await validator.identify(await user_token(sim))
    faults = sim.cloud("idp").faults
    on_sim(sim, faults.error_rate.__setitem__, "keystone", 1.0)
    try:
        with pytest.raises(IdentityUnavailable, match="HTTP 503"):
            await validator.identify(token)
    finally:
        on_sim(sim, faults.error_rate.pop, "keystone")
    assert (await validator.identify(token)).user_name == "demo"
