"""Provider health: the state machine (pure) and the book the executor and prober feed."""
from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from ocx.backends.health import (DEGRADED, DOWN, UP, Answered, Failed, Health, HealthBook,
                                 combined, step)


def run(events, down_after=3):
    health = Health(since=0.0)
    for event in events:
        health = step(health, event, down_after=down_after)
    return health


def test_a_refused_connection_takes_a_service_down_at_once():
    health = run([Failed(5.0, "cannot be reached", refused=True)])
    assert (health.state, health.since, health.last_error) == (DOWN, 5.0, "cannot be reached")


def test_time_outs_and_5xx_degrade_then_take_down_after_enough_in_a_row():
    assert run([Failed(1.0, "answered HTTP 503")]).state == DEGRADED
    assert run([Failed(1.0, "t"), Failed(2.0, "t")]).state == DEGRADED
    health = run([Failed(1.0, "t"), Failed(2.0, "t"), Failed(3.0, "did not answer")])
    assert (health.state, health.since, health.last_error) == (DOWN, 3.0, "did not answer")


def test_an_answer_between_failures_starts_the_count_again():
    health = run([Failed(1.0, "t"), Failed(2.0, "t"), Answered(3.0), Failed(4.0, "t"),
                  Failed(5.0, "t")])
    assert health.state == DEGRADED and health.failures == 2


def test_degraded_since_the_first_failure_not_the_last():
    health = run([Failed(1.0, "t"), Failed(2.0, "t")])
    assert health.since == 1.0


def test_a_down_service_comes_back_only_when_it_answers():
    down = run([Failed(1.0, "refused", refused=True)])
    still = step(down, Failed(2.0, "refused again", probe=True), down_after=3)
    assert (still.state, still.since, still.last_error) == (DOWN, 1.0, "refused again")
    back = step(still, Answered(3.0, probe=True), down_after=3)
    assert (back.state, back.since, back.failures) == (UP, 3.0, 0)
    assert back.last_error == "refused again"   # kept: the operator sees what it was


def test_a_degraded_service_whose_probe_fails_is_down():
    degraded = run([Failed(1.0, "answered HTTP 500")])
    assert step(degraded, Failed(2.0, "unreachable", probe=True), down_after=3).state == DOWN


@given(st.lists(st.one_of(
    st.builds(Answered, st.floats(0, 1e6), st.booleans()),
    st.builds(Failed, st.floats(0, 1e6), st.text(max_size=5), st.booleans(), st.booleans())),
    max_size=30), st.integers(1, 5))
def test_the_state_is_always_one_of_three_and_an_answer_always_brings_it_up(events, n):
    health = run(events, n)
    assert health.state in (UP, DEGRADED, DOWN)
    assert step(health, Answered(1e7), down_after=n).state == UP


def test_a_provider_is_down_when_every_service_seen_is_down():
    assert combined([]) == UP
    assert combined([UP, UP]) == UP
    assert combined([DOWN, DOWN]) == DOWN
    assert combined([UP, DOWN]) == DEGRADED
    assert combined([DEGRADED]) == DEGRADED


def test_the_book_refuses_calls_to_a_down_service_only():
    clock = iter(range(100)).__next__
    book = HealthBook(down_after=2, clock=lambda: float(clock()))
    book.answered("sp1", "compute")
    book.failed("sp1", "volume", "cannot be reached", refused=True, url="http://sp1:8776")
    assert book.refusal("sp1", "compute") is None
    assert "cannot be reached" in book.refusal("sp1", "volume")
    assert book.provider_state("sp1") == DEGRADED
    assert [(s.service, s.url) for s in book.not_up()] == [("volume", "http://sp1:8776")]
    book.failed("sp1", "compute", "t")
    book.failed("sp1", "compute", "t")
    assert book.provider_state("sp1") == DOWN
    view = book.view("sp1")
    assert view["state"] == DOWN and view["last_error"] == "t"
    assert set(view["services"]) == {"compute", "volume"}
    book.answered("sp1", "volume", probe=True)
    assert book.refusal("sp1", "volume") is None
    assert book.provider_state("sp2") == UP   # never called: nothing against it
