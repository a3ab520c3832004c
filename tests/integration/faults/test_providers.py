"""Simulated clouds that turn slow, fail, go down or restart their Keystone while users call
OCX (the clouds' own fault switches, ``ocx/sim/faults.py``).

Calls to the faulty cloud are answered within OCX's time limits with an error naming it (or
the cloud's own error, passed on); listings leave it out and say so; calls to the other
clouds go on; once the cloud is well again every call succeeds, and no acknowledged mapping
is lost.
"""
from __future__ import annotations

import time

from . import checks
from .conftest import OCX_LIMITS
from .traffic import Outcome, Traffic

BOUND = OCX_LIMITS["call_timeout"] + 2
CINDER_503 = "The server is currently unavailable. Please try again at a later time."


def naming(provider: str):
    def explained(outcome: Outcome) -> bool:
        return outcome.status in (502, 503, 504) and provider in outcome.message
    return explained


def listings_left_out(traffic: Traffic, provider: str, start: float, end: float) -> None:
    """Listings asked meanwhile were answered (partial), not failed."""
    lists = [o for o in traffic.between(start, end) if o.op == "list"]
    assert lists and all(o.ok for o in lists), checks.summary([o for o in lists if not o.ok])


def test_a_cloud_slower_than_the_call_timeout_is_cut_off_and_left_out_of_listings(world):
    with Traffic(world.users) as traffic:
        time.sleep(1)
        slow = time.monotonic()
        world.set_faults("sp2", latency_ms=(OCX_LIMITS["call_timeout"] + 4) * 1000,
                         service="cinder")
        try:
            time.sleep(OCX_LIMITS["call_timeout"] + 1)
        finally:
            world.clear_faults("sp2")
        well = time.monotonic()
        time.sleep(4)
    checks.answered_in_time(traffic, BOUND)
    failed = checks.only_explained(traffic, naming("sp2"))
    assert failed, "calls to the slow cloud cannot all have succeeded"
    listings_left_out(traffic, "sp2", slow, well)
    checks.recovered(traffic, well + 1)
    checks.nothing_lost(world, traffic)


def test_a_cloud_failing_half_its_calls_has_its_errors_passed_on(world):
    with Traffic(world.users) as traffic:
        time.sleep(1)
        world.set_faults("sp1", error_rate=0.5, service="cinder")
        try:
            time.sleep(3)
        finally:
            world.clear_faults("sp1")
        well = time.monotonic()
        time.sleep(3)
    checks.answered_in_time(traffic, BOUND)
    failed = checks.only_explained(
        traffic, lambda o: o.status == 503 and (o.message == CINDER_503 or "sp1" in o.message))
    assert failed, "half the calls to sp1's Cinder fail"
    checks.recovered(traffic, well + 1)
    checks.nothing_lost(world, traffic)


def test_a_service_that_goes_down_is_named_and_skipped_until_it_is_back(world):
    with Traffic(world.users) as traffic:
        time.sleep(1)
        down = time.monotonic()
        world.set_faults("sp2", down={"cinder": True})
        try:
            time.sleep(3)
        finally:
            world.set_faults("sp2", down={"cinder": False})
        well = time.monotonic()
        time.sleep(4)
    checks.answered_in_time(traffic, BOUND)
    failed = checks.only_explained(traffic, naming("sp2"))
    assert failed, "calls to sp2's Cinder cannot all have succeeded"
    listings_left_out(traffic, "sp2", down + 0.5, well)
    # The health probe (every health_probe_interval) sees it back.
    checks.recovered(traffic, well + 2)
    checks.nothing_lost(world, traffic)


def test_keystone_restarts_forgetting_every_token_cost_the_users_nothing(world):
    """sp1's Keystone forgets the tokens OCX got there by K2K: OCX makes new ones and sends
    the call again. home's forgets the users' own: their clients log in again (keystoneauth
    does on a 401) and OCX validates the new tokens."""
    with Traffic(world.users) as traffic:
        time.sleep(1)
        assert world.restart_keystone("sp1") > 0
        time.sleep(2)
        assert world.restart_keystone("home") > 0
        time.sleep(3)
    checks.answered_in_time(traffic, BOUND)
    home = world.sim.cloud("home").keystone.endpoint

    def restarting(o: Outcome) -> bool:
        """Only what fell in the moment a Keystone had its socket closed to restart."""
        return (o.status == 502 and o.message.startswith("No token could be had at provider "
                                                         "sp1:") and "unreachable" in o.message
                or o.status == 503 and o.message.startswith(
                    "The token cannot be validated now: the home Keystone is unreachable")
                # a client logging in again at home's Keystone itself, not through OCX
                or o.failure == "connection" and home in o.message)
    checks.only_explained(traffic, restarting)
    checks.nothing_lost(world, traffic)
