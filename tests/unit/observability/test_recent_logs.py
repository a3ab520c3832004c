"""The status page's ring, its drawing, and the log lines' request ids (pure parts)."""
from __future__ import annotations

import io
import logging

import orjson

from ocx import logs
from ocx.api import status_page
from ocx.recent import SLOT_SECONDS, SLOTS, Recent


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def test_ring_counts_per_slot_and_forgets_old_rounds():
    clock = Clock()
    recent = Recent(clock)
    recent.call("sp1", 0.010, False)
    recent.call("sp1", 0.030, True)
    series = recent.series("sp1")
    assert len(series) == SLOTS
    assert (series[-1].calls, series[-1].errors) == (2, 1)
    assert abs(series[-1].latency_ms - 20.0) < 1e-9 and series[-1].error_rate == 0.5
    assert all(s.calls == 0 for s in series[:-1])
    clock.now += SLOT_SECONDS * SLOTS          # a whole round later: the slot is reused
    recent.call("sp1", 0.001, False)
    series = recent.series("sp1")
    assert (series[-1].calls, series[-1].errors) == (1, 0)
    assert sum(s.calls for s in series) == 1
    assert recent.series("nobody")[-1].calls == 0


def test_events_are_bounded():
    recent = Recent(Clock())
    for i in range(100):
        recent.search("volumes", "found", "sp1", 0.01)
        recent.exchange("sp2", "ok", 0.2)
    assert len(recent.searches) == len(recent.exchanges) == 20


def test_page_draws_each_provider_escaped_without_script():
    recent = Recent(Clock())
    recent.call("sp1", 0.02, False)
    recent.search("volumes", "not_found", None, 0.01)
    page = status_page.render({
        "providers": [{"name": "sp1", "kind": "openstack", "source": "configured",
                       "state": "down", "since": "2024-01-01T00:00:00Z",
                       "last_error": "<refused>"}],
        "mappings": [("volumes", "sp1", 3)], "peers": [("b", "http://b", "sp9")],
        "recent": recent, "now": Clock()()})
    assert 'data-provider="sp1"' in page and 'class="state down"' in page
    assert "&lt;refused&gt;" in page and "<refused>" not in page
    assert "<svg" in page and "<script" not in page
    assert "20.0 ms" in page and "not_found" in page


def test_a_well_formed_global_id_is_kept_others_dropped():
    good = "req-12345678-1234-1234-1234-123456789abc"
    ids = logs.begin(good)
    assert ids.global_request_id == good and ids.global_id == good
    assert logs.ID_FORMAT.match(ids.request_id) and ids.request_id != good
    ids = logs.begin("req-x\nforged line")
    assert ids.global_request_id is None and ids.global_id == ids.request_id


def test_lines_carry_the_ids_in_text_and_json():
    stream = io.StringIO()
    logger = logging.getLogger("ocx.test.observability")
    handler = logging.StreamHandler(stream)
    handler.addFilter(logs.ContextFilter())
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        handler.setFormatter(logs.TextFormatter())
        logs.CURRENT.set(None)
        logger.info("outside")
        ids = logs.begin(None)
        logs.identified("u1", "p1")
        logger.info("inside")
        handler.setFormatter(logs.JsonFormatter())
        logger.info("json")
    finally:
        logger.removeHandler(handler)
    outside, inside, json_line = stream.getvalue().splitlines()
    assert "ocx.test.observability [-] outside" in outside
    assert f"[- {ids.request_id} u1 p1] inside" in inside
    doc = orjson.loads(json_line)
    assert doc["request_id"] == ids.request_id and doc["global_request_id"] is None
    assert doc["message"] == "json" and doc["levelname"] == "INFO"
