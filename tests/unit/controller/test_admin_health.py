"""How `ocx providers` judges a controller provider from its servers' ``GET /health`` and
shows the running gateway's view of them (pure: ocx/admin/health.py)."""
from __future__ import annotations

from ocx.admin.health import (
    DEGRADED,
    DOWN,
    UP,
    Answer,
    assess_controller,
    gateway_controllers,
    server_health,
    shown_controllers,
    with_gateway,
)
from ocx.backends.controller_config import settings

CTL = settings("ctl", servers="10.0.0.1:8000,10.0.0.2:8000,[fd00::3]:8000",
               serverauth="ocx:secret")
REFUSED = "refuses OCX's credentials (check serverauth / deployment_id)"


def test_every_server_answering_is_up_and_the_provider_offers_network():
    status = assess_controller(CTL, [Answer(200)] * 3)
    assert (status.health, status.kind, status.sp_id, status.services) == \
        (UP, "controller", None, ("network",))
    assert status.detail == "all 3 controllers answer"
    assert [c["server"] for c in status.controllers] == \
        ["10.0.0.1:8000", "10.0.0.2:8000", "[fd00::3]:8000"]
    assert {c["health"] for c in status.controllers} == {UP}


def test_some_answering_is_degraded_and_the_detail_names_the_others():
    status = assess_controller(CTL, [Answer(200), Answer(failure="is unreachable"),
                                     Answer(503)])
    assert status.health == DEGRADED
    assert status.detail == ("1 of 3 controllers answer; 10.0.0.2:8000 is unreachable; "
                             "[fd00::3]:8000 answered HTTP 503")
    assert [c["health"] for c in status.controllers] == [UP, DOWN, DOWN]


def test_none_answering_is_down():
    status = assess_controller(CTL, [Answer(failure="did not answer within 1.0 s")] * 3)
    assert status.health == DOWN
    assert status.detail.startswith("no controller answers: 10.0.0.1:8000 did not answer")


def test_a_server_refusing_the_credentials_counts_as_not_answering_and_is_named():
    assert server_health(Answer(401)) == (DOWN, f"{REFUSED} (HTTP 401)")
    assert server_health(Answer(403)) == (DOWN, f"{REFUSED} (HTTP 403)")
    assert server_health(Answer(404)) == (UP, "answers")   # there, and takes OCX's credentials
    status = assess_controller(CTL, [Answer(401), Answer(200), Answer(200)])
    assert status.health == DEGRADED
    assert f"10.0.0.1:8000 {REFUSED} (HTTP 401)" in status.detail


def test_the_gateways_order_and_state_replace_the_configured_order():
    probed = assess_controller(CTL, [Answer(failure="is unreachable"), Answer(200),
                                     Answer(200)])
    seen = {"name": "ctl", "state": "degraded", "since": "2026-01-01T00:00:00Z",
            "last_error": "no answer within 10 s",
            "controllers": [
                {"server": "10.0.0.2:8000", "state": "primary", "since": None,
                 "last_error": None},
                {"server": "[fd00::3]:8000", "state": "standby", "since": None,
                 "last_error": None},
                {"server": "10.0.0.1:8000", "state": "failed", "since": "2026-01-01T00:00:00Z",
                 "last_error": "no answer within 10 s"}]}
    status = with_gateway(probed, seen)
    assert (status.state, status.last_error) == ("degraded", "no answer within 10 s")
    assert [(c["server"], c["state"], c["health"]) for c in status.controllers] == [
        ("10.0.0.2:8000", "primary", UP), ("[fd00::3]:8000", "standby", UP),
        ("10.0.0.1:8000", "failed", DOWN)]
    assert shown_controllers(status.controllers) == \
        "10.0.0.2:8000 primary, [fd00::3]:8000 standby, 10.0.0.1:8000 failed"
    record = status.record()
    assert record["controllers"][2]["last_error"] == "no answer within 10 s"
    assert status.shown()["controllers"] == shown_controllers(status.controllers)
    assert status.shown()["sp_id"] == ""   # not "(identity provider)": not the home cloud


def test_without_a_gateway_the_configured_order_and_the_probed_health_are_shown():
    status = with_gateway(assess_controller(CTL, [Answer(200), Answer(401), Answer(200)]),
                          None)
    assert status.state is None
    assert shown_controllers(status.controllers) == \
        "10.0.0.1:8000 up, 10.0.0.2:8000 down, [fd00::3]:8000 up"


def test_servers_the_gateway_and_the_configuration_do_not_share_are_kept():
    probed = assess_controller(CTL, [Answer(200)] * 3).controllers
    merged = gateway_controllers(probed, [{"server": "10.9.9.9:8000", "state": "primary"},
                                          {"server": "10.0.0.1:8000", "state": "standby"}])
    assert [(c["server"], c["state"]) for c in merged] == [
        ("10.9.9.9:8000", "primary"), ("10.0.0.1:8000", "standby"),
        ("10.0.0.2:8000", None), ("[fd00::3]:8000", None)]
    assert merged[0]["health"] is None and "not in this configuration" in merged[0]["detail"]


def test_other_kinds_have_no_controllers():
    from ocx.admin.health import HomeView, assess_home
    home = assess_home("home", HomeView(Answer(200)), "http://k/v3", "internal", None)
    assert home.record()["controllers"] is None and shown_controllers(None) is None
    assert home.shown()["sp_id"] == "(identity provider)"
