"""Which controller a call goes to: sticky primary, fail-over, 503 back-off, probes."""
from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from ocx.backends.controller_config import Server
from ocx.backends.controller_policy import Call, GiveUp, Policy, Pool, Send, classify

A, B, C = Server("10.0.0.1", 80), Server("10.0.0.2", 80), Server("10.0.0.3", 80)


def run(policy: Policy, pool: Pool, answers: dict[Server, list[int | None]], at: float = 0.0):
    """One call to the end; ``answers`` are each server's statuses in turn (None: no answer).
    Returns the pool after, the sends made and how the call ended."""
    call, sent = Call(), []
    while True:
        step = policy.next(pool, call)
        if isinstance(step, GiveUp):
            return pool, sent, step
        sent.append(step)
        status = answers[step.server].pop(0)
        pool, call = policy.record(pool, call, step.server, status, "connection refused", at)
        if call.done:
            return pool, sent, status


def test_calls_stay_on_the_primary_while_it_answers():
    policy, pool = Policy(), Pool.of((A, B, C))
    for _ in range(3):
        pool, sent, status = run(policy, pool, {A: [200]})
        assert sent == [Send(A)] and status == 200
    assert [s["state"] for s in pool.view()] == ["primary", "standby", "standby"]


def test_a_dead_primary_moves_the_call_and_the_next_ones_to_the_next_server():
    policy, pool = Policy(), Pool.of((A, B, C))
    pool, sent, status = run(policy, pool, {A: [None], B: [201]}, at=5.0)
    assert [s.server for s in sent] == [A, B] and status == 201
    assert pool.view() == [
        {"server": "10.0.0.2:80", "state": "primary", "since": None, "last_error": None},
        {"server": "10.0.0.3:80", "state": "standby", "since": None, "last_error": None},
        {"server": "10.0.0.1:80", "state": "failed", "since": 5.0,
         "last_error": "connection refused"}]
    pool, sent, _ = run(policy, pool, {B: [200]})
    assert sent == [Send(B)]   # straight to the good server


def test_a_5xx_is_a_failure_but_a_4xx_is_the_answer():
    policy, pool = Policy(), Pool.of((A, B))
    pool, sent, status = run(policy, pool, {A: [404]})
    assert status == 404 and pool.failed == ()
    pool, sent, status = run(policy, pool, {A: [500], B: [200]})
    assert [s.server for s in sent] == [A, B] and pool.state(A).last_error == "answered 500"


def test_a_503_is_retried_with_back_off_then_the_next_server_is_tried():
    policy, pool = Policy(retries=2, backoff=0.5), Pool.of((A, B))
    pool, sent, status = run(policy, pool, {A: [503, 503, 503], B: [200]})
    assert sent == [Send(A), Send(A, 0.5), Send(A, 1.0), Send(B)]
    assert status == 200 and pool.state(A).last_error == "503 after 2 retries"
    policy, pool = Policy(retries=2), Pool.of((A, B))
    pool, sent, status = run(policy, pool, {A: [503, 200]})
    assert len(sent) == 2 and status == 200 and pool.failed == ()


def test_with_every_server_down_the_call_gives_up_naming_each():
    policy, pool = Policy(), Pool.of((A, B))
    pool, sent, end = run(policy, pool, {A: [None], B: [502]})
    assert end == GiveUp(((A, "connection refused"), (B, "answered 502")))
    assert pool.good == ()
    # The next call still tries the failed servers (one may be back before its probe).
    pool, sent, status = run(policy, pool, {A: [None], B: [200]})
    assert status == 200 and pool.view()[0]["server"] == "10.0.0.2:80"


def test_a_probed_server_comes_back_as_a_standby_the_primary_stays():
    pool = Pool.of((A, B)).failure(A, "timed out", 1.0)
    assert pool.failed == (A,)
    pool = pool.probed(A, False, 2.0, "refused")
    assert pool.state(A).failed and pool.state(A).since == 1.0
    pool = pool.probed(A, True, 3.0)
    assert pool.failed == () and [s["state"] for s in pool.view()] == ["primary", "standby"]
    assert pool.view()[0]["server"] == "10.0.0.2:80"


def test_classify():
    assert [classify(s) for s in (None, 200, 409, 500, 503, 504)] == [
        "failure", "ok", "ok", "failure", "busy", "failure"]


_servers = (A, B, C)
_events = st.lists(st.tuples(st.sampled_from(["call", "fail", "probe_ok", "probe_bad"]),
                             st.sampled_from(_servers),
                             st.sampled_from([None, 200, 404, 500, 503])), max_size=40)


@given(_events)
def test_a_failed_server_is_never_picked_while_a_good_one_is_untried(events):
    policy, pool, call = Policy(retries=1), Pool.of(_servers), Call()
    for what, server, status in events:
        if what == "fail":
            pool = pool.failure(server, "x", 0.0)
        elif what == "probe_ok" and pool.state(server).failed:
            pool = pool.probed(server, True, 0.0)
        elif what == "probe_bad" and pool.state(server).failed:
            pool = pool.probed(server, False, 0.0)
        else:
            step = policy.next(pool, call)
            if isinstance(step, GiveUp):
                assert {s for s, _ in step.reasons} == set(_servers)
                call = Call()
                continue
            given_up = {s for s, _ in call.tried}
            if pool.state(step.server).failed and not (call.busy and call.current):
                assert all(g in given_up for g in pool.good)
            pool, call = policy.record(pool, call, step.server, status, "x", 0.0)
            if call.done:
                call = Call()
        # the primary is good whenever any server is
        assert not pool.servers[pool.primary].failed or pool.good == ()
        assert len(pool.view()) == 3
