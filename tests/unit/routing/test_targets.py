"""Which providers a project's listings and searches go to (ocx.routing.targets)."""
from __future__ import annotations

import datetime as dt

from hypothesis import given
from hypothesis import strategies as st

from ocx.routing.targets import select_targets
from ocx.store.models import ProjectProvider

NOW = dt.datetime(2026, 11, 25, 12, 0, tzinfo=dt.UTC)
HOUR = dt.timedelta(hours=1)
EVERY = ("home", "sp1", "sp2", "sp3")


def found(provider: str, remote: str | None, ago: dt.timedelta = dt.timedelta(0)):
    return ProjectProvider("p", provider, remote, NOW - ago)


def select(recorded=(), configured=(), candidates=EVERY):
    return select_targets(candidates, home="home", recorded={r.provider: r for r in recorded},
                          configured=configured, now=NOW, recheck=HOUR)


def test_a_project_never_seen_tries_every_provider_once():
    assert select() == EVERY


def test_a_provider_holding_nothing_is_skipped_until_the_recheck():
    assert select([found("sp1", "r1"), found("sp2", None, HOUR / 2),
                   found("sp3", "r3")]) == ("home", "sp1", "sp3")


def test_a_provider_holding_nothing_is_tried_again_after_the_recheck():
    assert select([found("sp2", None, HOUR)]) == EVERY


def test_the_providers_the_operator_lists_are_always_asked():
    assert select([found("sp2", None)], configured=["sp2"]) == EVERY


def test_home_is_always_asked_even_if_recorded_as_holding_nothing():
    assert select([found("home", None)]) == EVERY


def test_a_configured_provider_that_is_not_a_candidate_is_not_added():
    assert select(configured=["elsewhere"], candidates=("home", "sp1")) == ("home", "sp1")


@given(st.dictionaries(st.sampled_from(EVERY[1:]),
                       st.tuples(st.none() | st.text(min_size=1, max_size=4),
                                 st.integers(0, 7200))),
       st.sets(st.sampled_from(EVERY[1:])))
def test_targets_keep_the_candidates_order_and_never_drop_home_or_a_remote_project(
        recorded, configured):
    rows = [found(p, r, dt.timedelta(seconds=s)) for p, (r, s) in recorded.items()]
    chosen = select(rows, configured)
    assert chosen == tuple(p for p in EVERY if p in chosen)
    assert "home" in chosen
    for p, (remote, seconds) in recorded.items():
        skipped = remote is None and seconds < 3600 and p not in configured
        assert (p in chosen) is not skipped
