"""/metrics after a mixed run holds the right counts; each call's request ids (issue 13)."""
from __future__ import annotations

import logging
import uuid

import aiohttp
import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from ocx import logs

# The counts do not depend on the store: SQLite only.
pytestmark = pytest.mark.parametrize("ocx_env", ["sqlite"], indirect=True)


def scrape(url: str) -> dict[tuple, float]:
    answer = requests.get(f"{url}/metrics", timeout=30)
    assert answer.status_code == 200, answer.text
    assert answer.headers["Content-Type"].startswith("text/plain")
    values = {}
    for family in text_string_to_metric_families(answer.text):
        for sample in family.samples:
            values[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return values


def delta(before: dict, after: dict, name: str, **labels) -> float:
    key = (name, frozenset(labels.items()))
    return after.get(key, 0.0) - before.get(key, 0.0)


def fresh_token(ocx_env) -> tuple[str, str]:
    """A new token of home's demo user (never seen by OCX: its K2K exchanges are new)."""
    import openstack

    conn = openstack.connection.Connection(identity_api_version="3", interface="internal",
                                           **ocx_env.sim.auth_args("home"))
    return conn.session.get_token(), conn.session.get_project_id()


def test_metrics_after_a_mixed_run(ocx_env):
    volume = ocx_env.connect("sp1").block_storage.create_volume(size=1, name="metered")
    token, project = fresh_token(ocx_env)
    headers = {"X-Auth-Token": token}
    base = f"{ocx_env.url}/volume/v3/{project}/volumes"
    before = scrape(ocx_env.url)

    # A volume OCX has no mapping of: one search, found at sp1; then N shows from the mapping.
    n = 3
    for _ in range(1 + n):
        answer = requests.get(f"{base}/{volume.id}", headers=headers, timeout=30)
        assert answer.status_code == 200, answer.text
    # An id no cloud has: a search every provider answers 404.
    assert requests.get(f"{base}/{uuid.uuid4()}", headers=headers,
                        timeout=30).status_code == 404
    # A listing with sp2's Cinder down: sp2 missing from it, and its health shows it.
    ocx_env.sim.call(ocx_env.sim.cloud("sp2").set_down("cinder", True))
    try:
        listing = requests.get(base, headers=headers, timeout=30)
        assert listing.status_code == 200, listing.text
        assert "sp2" in listing.headers["X-OCX-Missing-Providers"]
        during = scrape(ocx_env.url)
    finally:
        ocx_env.sim.call(ocx_env.sim.cloud("sp2").set_down("cinder", False))
    ocx_env.until_up("sp2")
    after = scrape(ocx_env.url)

    calls = dict(service="volume", method="GET")
    assert delta(before, after, "ocx_requests_total", provider="sp1", status="200",
                 **calls) == 1 + n
    assert delta(before, after, "ocx_requests_total", provider="multiple", status="200",
                 **calls) == 1
    # The search's probe and the N shows: exactly the calls sp1's Cinder was sent.
    assert delta(before, after, "ocx_provider_calls_total", provider="sp1", status="200",
                 **calls) == 1 + n + 1   # and sp1's part of the listing
    assert delta(before, after, "ocx_provider_call_seconds_count", provider="sp1",
                 service="volume") == 1 + n + 1 + 1   # and its 404 in the second search
    assert delta(before, after, "ocx_searches_total", outcome="found") == 1
    assert delta(before, after, "ocx_searches_total", outcome="not_found") == 1
    assert delta(before, after, "ocx_searches_total", outcome="failed") == 0
    # The N shows were planned from the mapping learned by the search, held in memory.
    assert delta(before, after, "ocx_mapping_cache_lookups_total", kind="resource",
                 result="hit") == n
    # One K2K exchange for the new token at sp1, however many calls used it.
    assert delta(before, after, "ocx_k2k_exchanges_total", provider="sp1", result="ok") == 1
    assert delta(before, after, "ocx_k2k_exchanges_total", provider="sp1",
                 result="failed") == 0
    exchanges = sum(delta(before, after, "ocx_k2k_exchanges_total", provider=p, result=r)
                    for p in ("sp1", "sp2") for r in ("ok", "failed"))
    assert delta(before, after, "ocx_stage_seconds_count", stage="k2k_exchange") == exchanges
    # Every call through the pipeline was identified and timed.
    assert delta(before, after, "ocx_stage_seconds_count", stage="identify") == 1 + n + 2
    assert delta(before, after, "ocx_request_seconds_count", service="volume") == 1 + n + 2
    assert delta(before, after, "ocx_listing_missing_providers_total", provider="sp2") == 1
    assert during[("ocx_provider_health", frozenset({"provider": "sp2",
                                                     "state": "up"}.items()))] == 0
    # Down when its Cinder is all OCX has called there, else degraded: one of them.
    assert sum(during[("ocx_provider_health", frozenset({"provider": "sp2",
                                                         "state": s}.items()))]
               for s in ("degraded", "down")) == 1
    assert after[("ocx_provider_health", frozenset({"provider": "sp2",
                                                    "state": "up"}.items()))] == 1
    # No label holds a token or a project id.
    text = requests.get(f"{ocx_env.url}/metrics", timeout=30).text
    assert token not in text and project not in text


class Lines(logging.Handler):
    """The log lines, as OCX writes them."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.addFilter(logs.ContextFilter())
        self.setFormatter(logs.TextFormatter())
        self.records: list[tuple[logging.LogRecord, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append((record, self.format(record)))


def test_request_ids_on_every_line_in_the_answer_and_at_the_provider(ocx_env):
    volume = ocx_env.connect("sp1").block_storage.create_volume(size=1, name="traced")
    token, project = fresh_token(ocx_env)
    caller_id = f"req-{uuid.uuid4()}"
    sent: list[tuple[str, dict]] = []
    original = aiohttp.ClientSession._request

    async def recording(self, method, url, **kwargs):
        sent.append((str(url), dict(kwargs.get("headers") or {})))
        return await original(self, method, url, **kwargs)

    lines = Lines()
    root = logging.getLogger()
    level = root.level
    root.addHandler(lines)
    root.setLevel(logging.DEBUG)
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(aiohttp.ClientSession, "_request", recording)
            answer = requests.get(f"{ocx_env.url}/volume/v3/{project}/volumes/{volume.id}",
                                  headers={"X-Auth-Token": token,
                                           "X-OpenStack-Request-ID": caller_id}, timeout=30)
            bad = requests.get(f"{ocx_env.url}/volume/v3/{project}/volumes/{volume.id}",
                               headers={"X-Auth-Token": token,
                                        "X-OpenStack-Request-ID": "not-an-id"}, timeout=30)
    finally:
        root.removeHandler(lines)
        root.setLevel(level)
    assert answer.status_code == 200 and bad.status_code == 200
    own = answer.headers["X-OpenStack-Request-ID"]
    assert logs.ID_FORMAT.match(own) and own != caller_id
    bad_own = bad.headers["X-OpenStack-Request-ID"]
    assert logs.ID_FORMAT.match(bad_own) and bad_own != own

    # Every line OCX wrote in the call carries both ids; the one line per call says it all.
    ours = [(r, text) for r, text in lines.records
            if getattr(r, "request_id", "-") == own]
    assert ours, [text for _, text in lines.records]
    for record, text in ours:
        assert f"[{caller_id} {own} " in text, text
    summary = [text for r, text in ours if r.name == "ocx.api.app"]
    assert len(summary) == 1
    assert (f'"GET /volume/v3/{project}/volumes/{volume.id}" status: 200 provider: sp1 '
            in summary[0]), summary
    # Lines of OCX's modules written while neither call ran belong to no call.
    for record, text in lines.records:
        if record.name.startswith("ocx.") and not record.name.startswith("ocx.sim"):
            assert record.request_id in (own, bad_own, "-"), text
    # The providers got the caller's global id; with a malformed one, OCX's own.
    to_sp1 = [h for url, h in sent if volume.id in url]
    assert to_sp1 and all(h.get("X-OpenStack-Request-ID") in (caller_id, bad_own)
                          for h in to_sp1), to_sp1
    assert {h["X-OpenStack-Request-ID"] for h in to_sp1} == {caller_id, bad_own}
    assert not any(token in text for _, text in lines.records)
