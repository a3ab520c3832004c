"""OCX's metrics in Prometheus's format (issue 13): every definition, in one place.

Top-level so that every stage may count (``routing``, ``identity``, ``store``, ``backends``,
``api``): it imports nothing of OCX but :mod:`ocx.recent`, the status page's in-memory ring,
which the same calls feed.

No label holds a token, a user, a project or a resource id: labels are OCX's services, HTTP
methods (others counted as ``OTHER``), status codes, provider names (the operator's
configuration or the home Keystone's service providers), stage names and fixed outcomes.

Several workers (``ocx serve --workers N``): with ``PROMETHEUS_MULTIPROC_DIR`` set before the
workers start (``ocx serve`` sets it to a directory of its own when the operator has not),
prometheus_client's multiprocess mode keeps every worker's values in files there and
``/metrics``, whichever worker answers, gives their sum; health gauges are the most recent
value any live worker set.

Hot path: a labelled child is looked up once per label set and kept (``_child``); counting is
then an increment under prometheus_client's own lock.
"""
from __future__ import annotations

import os

from prometheus_client import (CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, Counter,
                               Gauge, Histogram, generate_latest)

from .recent import RECENT

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
METHODS = frozenset(("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"))
STATES = ("up", "degraded", "down")
# From a cached mapping look-up (well under 1 ms) to a slow cloud's call (tens of seconds).
BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
           10.0, 30.0, float("inf"))

REQUESTS = Counter(
    "ocx_requests", "Calls OCX answered, by service, HTTP method, the provider that answered "
    "(multiple: a listing or document of several; none: OCX answered itself) and status.",
    ["service", "method", "provider", "status"])
REQUEST_SECONDS = Histogram(
    "ocx_request_seconds", "Time OCX took to answer a call (to its answer's headers).",
    ["service"], buckets=BUCKETS)
STAGE_SECONDS = Histogram(
    "ocx_stage_seconds", "Time spent per stage of a call: identify (token validation), plan "
    "(mapping look-up and plan), k2k_exchange (one SAML exchange and scoping), provider_call "
    "(one call to a provider, to its answer's headers).", ["stage"], buckets=BUCKETS)
PROVIDER_CALLS = Counter(
    "ocx_provider_calls", "Calls OCX sent to providers, by provider, service, HTTP method and "
    "status (the HTTP status, or error: no answer).",
    ["provider", "service", "method", "status"])
PROVIDER_SECONDS = Histogram(
    "ocx_provider_call_seconds", "Latency of one call to a provider, to its answer's headers.",
    ["provider", "service"], buckets=BUCKETS)
SEARCHES = Counter(
    "ocx_searches", "Searches for a resource OCX had no mapping of, by outcome (found, "
    "not_found: every provider said 404, failed: some provider could not answer).",
    ["outcome"])
CACHE = Counter(
    "ocx_mapping_cache_lookups", "Mapping look-ups, by kind (token, resource) and result "
    "(hit: answered from memory, miss: the database was read).", ["kind", "result"])
K2K = Counter(
    "ocx_k2k_exchanges", "K2K exchanges (a token made at a service provider), by provider "
    "and result (ok, failed).", ["provider", "result"])
HEALTH = Gauge(
    "ocx_provider_health", "1 for the state each provider is in (up, degraded, down), 0 for "
    "the others.", ["provider", "state"], multiprocess_mode="livemostrecent")
MISSING = Counter(
    "ocx_listing_missing_providers", "Listings and combined documents a provider was left "
    "out of (down, failing or too slow), by provider.", ["provider"])

_children: dict[tuple, object] = {}


def _child(metric, *labels: str):
    key = (metric, *labels)
    child = _children.get(key)
    if child is None:
        child = _children[key] = metric.labels(*labels)
    return child


def method_label(method: str) -> str:
    """A method from the client: any other than HTTP's known ones is counted as ``OTHER``."""
    return method if method in METHODS else "OTHER"


# -- what the stages call ----------------------------------------------------------------------

def request(service: str, method: str, provider: str, status: str, seconds: float) -> None:
    _child(REQUESTS, service, method_label(method), provider, status).inc()
    _child(REQUEST_SECONDS, service).observe(seconds)


def stage(name: str, seconds: float) -> None:
    _child(STAGE_SECONDS, name).observe(seconds)


def provider_call(provider: str, service: str, method: str, status: int | None,
                  seconds: float) -> None:
    """One call to a provider: ``status`` None when it gave no answer."""
    _child(PROVIDER_CALLS, provider, service, method_label(method),
           "error" if status is None else str(status)).inc()
    _child(PROVIDER_SECONDS, provider, service).observe(seconds)
    _child(STAGE_SECONDS, "provider_call").observe(seconds)
    RECENT.call(provider, seconds, status is None or status >= 500)


def search(collection: str, outcome: str, provider: str | None, seconds: float) -> None:
    _child(SEARCHES, outcome).inc()
    RECENT.search(collection, outcome, provider, seconds)


def cache_lookup(kind: str, hit: bool):
    """The counter child of one cache's hits or misses (bound once by the cache)."""
    return _child(CACHE, kind, "hit" if hit else "miss")


def k2k_exchange(provider: str, ok: bool, seconds: float) -> None:
    result = "ok" if ok else "failed"
    _child(K2K, provider, result).inc()
    _child(STAGE_SECONDS, "k2k_exchange").observe(seconds)
    RECENT.exchange(provider, result, seconds)


def health(provider: str, state: str) -> None:
    for each in STATES:
        _child(HEALTH, provider, each).set(1 if each == state else 0)


def missing(providers) -> None:
    for provider in providers:
        _child(MISSING, provider).inc()


# -- exposition --------------------------------------------------------------------------------

def exposition() -> tuple[bytes, str]:
    """The text format: this process's values, or every worker's in multiprocess mode."""
    if os.environ.get(MULTIPROC_ENV):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


def worker_exited(pid: int) -> None:
    """A worker is gone: its live gauges no longer count (multiprocess mode)."""
    if os.environ.get(MULTIPROC_ENV):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid)
