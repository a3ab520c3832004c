"""The project rule: which remote project stands for the caller's home project."""
from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ocx.identity.errors import NoRemoteProject
from ocx.identity.projects import ProjectRule, RemoteProject, choose_remote_project

DEMO = RemoteProject("id-demo", "demo", "default")
RESEARCH = RemoteProject("id-research", "research", "default")
OTHER = RemoteProject("id-other", "other", "default")


def test_the_project_of_the_same_name_is_chosen():
    assert choose_remote_project("home-demo", "demo", [RESEARCH, DEMO], {}) == DEMO


def test_the_only_project_is_chosen_whatever_its_name():
    assert choose_remote_project("home-lab", "lab", [RESEARCH], {}) == RESEARCH


def test_a_map_by_local_name_wins_over_the_same_name():
    assert choose_remote_project("home-demo", "demo", [DEMO, RESEARCH],
                                 {"demo": "research"}) == RESEARCH


def test_a_map_by_local_id_wins_over_a_map_by_name():
    rule = {"home-demo": "id-other", "demo": "research"}
    assert choose_remote_project("home-demo", "demo", [DEMO, RESEARCH, OTHER], rule) == OTHER


def test_a_map_may_name_the_remote_project_by_id():
    assert choose_remote_project("x", "demo", [DEMO, RESEARCH], {"demo": "id-research"}) \
        == RESEARCH


def test_a_mapped_project_the_user_cannot_use_is_an_error_not_a_guess():
    with pytest.raises(NoRemoteProject) as err:
        choose_remote_project("home-demo", "demo", [DEMO], {"demo": "finance"})
    assert err.value.candidates == 1
    assert "finance" in str(err.value) and "1 project " in str(err.value)


def test_no_match_among_several_names_the_count_of_candidates():
    with pytest.raises(NoRemoteProject) as err:
        choose_remote_project("home-lab", "lab", [DEMO, RESEARCH, OTHER], {})
    assert err.value.candidates == 3
    assert "3 projects" in str(err.value) and "project_map" in str(err.value)


def test_no_project_at_all_is_an_error():
    with pytest.raises(NoRemoteProject) as err:
        choose_remote_project("home-demo", "demo", [], {})
    assert err.value.candidates == 0


def test_a_name_held_in_two_domains_is_ambiguous():
    twin = RemoteProject("id-demo-2", "demo", "other-domain")
    with pytest.raises(NoRemoteProject, match="ambiguous"):
        choose_remote_project("home-demo", "demo", [DEMO, twin], {})


def test_a_rule_is_the_function_with_its_map():
    assert ProjectRule({"demo": "research"}).choose("x", "demo", [DEMO, RESEARCH]) == RESEARCH
    assert ProjectRule().choose("x", "demo", [DEMO, RESEARCH]) == DEMO


names = st.sampled_from(["demo", "research", "lab", "ops", "dev"])
projects = st.lists(st.builds(RemoteProject, id=st.uuids().map(lambda u: u.hex), name=names),
                    max_size=6, unique_by=lambda p: p.name)


@given(projects, names, st.dictionaries(names, names, max_size=3))
def test_the_choice_is_always_one_of_the_candidates_or_an_error(candidates, local, pmap):
    try:
        chosen = choose_remote_project("local-id", local, candidates, pmap)
    except NoRemoteProject as exc:
        assert exc.candidates == len(candidates)
    else:
        assert chosen in candidates


@given(projects, names)
def test_without_a_map_a_same_named_project_is_always_chosen(candidates, local):
    same = [p for p in candidates if p.name == local]
    if same:
        assert choose_remote_project("local-id", local, candidates, {}) == same[0]


@given(projects, names, names)
def test_a_map_to_a_usable_project_is_always_followed(candidates, local, target):
    wanted = [p for p in candidates if p.name == target]
    if wanted:
        assert choose_remote_project("local-id", local, candidates, {local: target}) \
            == wanted[0]
