"""Hypothesis on the pure parsers of what callers and peers send (issue 12): whatever comes in,
each answers with a value or with its own refusal (which becomes a 4xx), never another
exception (which would be a 500)."""
from __future__ import annotations

import datetime as dt
import string
from urllib.parse import quote

import orjson
import pytest
from aiohttp.http_exceptions import (BadHttpMessage, BadHttpMethod, BadStatusLine,
                                     InvalidHeader, LineTooLong, TransferEncodingError)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from multidict import CIMultiDict, MultiDict

from ocx.api.errors import OcxError, error_body, webob_format
from ocx.api.health_api import readiness
from ocx.api.limits import Limits, refusal
from ocx.api.request import ParseError, parse
from ocx.call import SERVICES
from ocx.learn import injection
from ocx.routing import listing as listings
from ocx.routing.merge import Cursor, InvalidMarker, decode_marker, encode_marker

FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
KEY = b"k" * 32
NOW = dt.datetime(2026, 5, 1, 12, 0, tzinfo=dt.UTC)

text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40)
# Segments as a client may send them: plain, percent-encoded, dot segments in every spelling,
# ids, versions, projects, and raw bytes percent-encoded.
segment = st.one_of(
    st.sampled_from(["..", ".", "%2e%2e", "%2E%2e", "%2e", ".%2e", "%2F", "%00", "%", "%zz",
                     "v2.1", "v3", "v2", "v2.0", "detail", "servers", "volumes", "images",
                     "networks", "action", "0123456789abcdef0123456789abcdef", "", ";x=1"]),
    st.text(alphabet=string.ascii_letters + string.digits + "-._~%:@!$&'()*+,;=", max_size=20),
    st.binary(max_size=12).map(lambda b: quote(b, safe="")),
    text.map(lambda s: quote(s, safe="")))
paths = st.builds(lambda head, segs, slash: head + "/".join(segs) + ("/" if slash else ""),
                  st.sampled_from([f"/{s}/" for s in SERVICES] + ["/", "//", "/ocx/"]),
                  st.lists(segment, max_size=7), st.booleans())
queries = st.lists(st.tuples(st.sampled_from(["limit", "marker", "sort_key", "sort_dir",
                                              "sort", "offset", "fields", "page_reverse",
                                              "name", "all_tenants"]) | text,
                             text | st.integers().map(str)), max_size=6)
headers = st.lists(st.tuples(st.sampled_from(["OpenStack-API-Version",
                                              "X-OpenStack-Nova-API-Version", "Accept",
                                              "Content-Type", "X-OCX-Provider"]), text),
                   max_size=4)


@FUZZ
@given(method=st.sampled_from(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "COPY"]),
       path=paths, query=queries, header_list=headers)
def test_request_parse_answers_or_refuses(method, path, query, header_list):
    try:
        api = parse(method, path, MultiDict(query), CIMultiDict(header_list))
    except ParseError as err:
        assert err.status in (400, 404)
        return
    # What is sent on to a provider has no dot segment and no slash inside a segment, and
    # parses back to the same call.
    sent = api.path_for(api.project_id)
    again = parse(method, f"/{api.service}{sent}" if sent != "/" else f"/{api.service}",
                  MultiDict(query), CIMultiDict(header_list))
    assert (again.version, again.project_id, again.collection, again.resource_id,
            again.subpath) == (api.version, api.project_id, api.collection, api.resource_id,
                               api.subpath)


cursors = st.builds(Cursor, st.dictionaries(text, text, max_size=4),
                    st.frozensets(text, max_size=4), st.none() | text)


@FUZZ
@given(cursor=cursors, context=text)
def test_markers_round_trip_and_refuse_any_change(cursor, context):
    marker = encode_marker(cursor, KEY, context)
    assert decode_marker(marker, KEY, context) == cursor
    body, _, signature = marker.rpartition(".")
    for forged in (marker[:-1] + ("A" if marker[-1] != "A" else "B"), marker + "x",
                   body[:-1] + ("A" if body[-1] != "A" else "B") + "." + signature):
        with pytest.raises(InvalidMarker):
            decode_marker(forged, KEY, context)
    with pytest.raises(InvalidMarker):
        decode_marker(marker, b"another key".ljust(32, b"\0"), context)


@FUZZ
@given(marker=st.one_of(text, text.map(lambda s: "ocx1." + s),
                        st.binary(max_size=60).map(lambda b: "ocx1." + b.hex() + "." + b[:8].hex())))
def test_any_marker_decodes_or_is_refused(marker):
    try:
        found = decode_marker(marker, KEY, "compute/servers/")
    except InvalidMarker:
        return
    assert found is None or isinstance(found, Cursor)


@FUZZ
@given(listing=st.sampled_from(listings.LISTINGS), query=queries, header_list=headers,
       detail=st.booleans())
def test_listing_queries_are_read_or_refused_as_the_service_would(listing, query, header_list,
                                                                  detail):
    path = f"/{listing.service}/{'v2.1' if listing.service == 'compute' else 'v3'}/" \
           f"{listing.collection}{'/detail' if detail else ''}"
    api = parse("GET", path, MultiDict(query), CIMultiDict(header_list))
    try:
        q = listings.parse_query(listing, api, KEY)
    except listings.ListingError as err:
        assert 400 <= err.status < 500 and err.message
        return
    if q.limit is not None and listing.max_limit is not None:
        assert q.limit <= listing.max_limit          # a huge limit is the service's cap


# -- a peer's injection -------------------------------------------------------------------------

json_values = st.recursive(st.none() | st.booleans() | st.integers(-2**63, 2**63 - 1)
                           | st.floats(allow_nan=False)
                           | text, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(text, inner, max_size=4), max_leaves=20)
stamp = st.datetimes(timezones=st.none() | st.just(dt.UTC)).map(lambda d: d.isoformat())
token_entries = st.fixed_dictionaries(
    {"local_token_hash": st.sampled_from(["a" * 64, "A" * 64, "xyz", "a" * 64 + "\n"]),
     "local_project": text, "provider": st.sampled_from(["sp1", "sp2", "home"]) | text,
     "remote_token": text, "remote_project": text, "expires_at": stamp | text},
    optional={"catalog": json_values, "extra": json_values})
resource_entries = st.fixed_dictionaries(
    {"type": st.sampled_from(["servers", "volumes", "nope"]) | text, "id": text,
     "provider": st.sampled_from(["sp1", "sp2"]) | text},
    optional={"remote_project": st.none() | text,
              "endpoint": st.none() | st.sampled_from(["http://x/y", "ftp://x", "http://x\n",
                                                       "http://x y"]) | text})
documents = st.one_of(
    st.fixed_dictionaries({}, optional={"token_mappings": st.lists(token_entries, max_size=3),
                                        "resource_mappings": st.lists(resource_entries,
                                                                      max_size=3),
                                        "other": json_values}),
    json_values)


@FUZZ
@given(document=documents, raw=st.none() | st.binary(max_size=80))
def test_injections_are_stored_whole_or_refused(document, raw):
    body = raw if raw is not None else orjson.dumps(document)
    try:
        found = injection.decode(body, providers={"sp1", "sp2"}, types={"servers", "volumes"},
                                 now=NOW)
    except injection.InjectionRefused as err:
        assert err.status in (400, 403) and err.message
        return
    assert found.tokens or found.resources
    assert all(t.provider in {"sp1", "sp2"} and t.expires_at > NOW for t in found.tokens)
    assert all(r.provider in {"sp1", "sp2"} for r in found.resources)


@FUZZ
@given(when=st.one_of(text, st.integers().map(str), st.just(str(int(NOW.timestamp()))),
                      st.integers(min_value=10**300, max_value=10**400).map(str)),
       given_=st.one_of(text, st.binary(max_size=70).map(lambda b: b.decode("latin-1")),
                        st.text(alphabet="0123456789abcdef", min_size=64, max_size=64)))
def test_signatures_are_checked_or_refused(when, given_):
    try:
        injection.check_signature("the secret", when=when, given=given_, method="POST",
                                  path=injection.PATH, body=b"{}", now=NOW)
    except injection.InjectionRefused as err:
        assert err.status == 401
    else:   # only the right signature, made at a time close to now, passes
        stamp_ = int(when)
        assert given_.strip().lower() == injection.signature("the secret", stamp_, "POST",
                                                            injection.PATH, b"{}")


def test_a_good_signature_passes():
    when = int(NOW.timestamp())
    given_ = injection.signature("the secret", when, "POST", injection.PATH, b"{}")
    injection.check_signature("the secret", when=str(when), given=given_.upper(),
                              method="POST", path=injection.PATH, body=b"{}", now=NOW)


# -- answers ------------------------------------------------------------------------------------

@FUZZ
@given(accept=text | st.lists(st.sampled_from(["text/html", "application/json", "*/*",
                                                "text/*", ";q=0", ";q=1.0", ";q=0.5", ",",
                                                ";level=1", " ", "q=", "/"]),
                                max_size=8).map("".join),
       service=st.sampled_from([*SERVICES, None]), status=st.integers(100, 599))
def test_errors_render_in_every_form(accept, service, status):
    assert webob_format(accept) in ("html", "json", "plain")
    body, content_type = error_body(service, OcxError(status, "<message & 'quotes'>"), accept)
    assert body and content_type
    if content_type.startswith("application/json"):
        orjson.loads(body)


LIMITS = Limits(request_line=4096, header_line=2048, headers=32)


@pytest.mark.parametrize("exc, status, words", [
    (LineTooLong(b"x" * 100 + b"...", 4096), 414, "path and query"),
    (LineTooLong(b"gAAAAAsecret", 2048), 431, "header is longer"),
    (BadHttpMessage("Too many headers received"), 431, "more than 32 headers"),
    (BadHttpMethod("G\x01T"), 400, "method"),
    (BadStatusLine("x"), 400, "request line"),
    (InvalidHeader(b"X-Secret\x7f"), 400, "header is not valid"),
    (TransferEncodingError("bad chunk"), 400, "framing"),
    (BadHttpMessage("whatever"), 400, "not valid HTTP")])
def test_the_parsers_refusals_quote_nothing(exc, status, words):
    err = refusal(exc, LIMITS)
    assert err.status == status and words in err.message
    assert "secret" not in err.message.lower() and "G\x01T" not in err.message


def test_equal_line_and_header_limits_make_a_long_line_431():
    assert refusal(LineTooLong(b"x", 2048), Limits(request_line=2048, header_line=2048)
                   ).status == 431


@given(st.dictionaries(st.sampled_from(["store", "keystone", "other"]), st.none() | text,
                       min_size=1))
def test_readiness_is_200_only_when_every_check_passed(failures):
    status, body = readiness(failures)
    assert (status == 200) == all(v is None for v in failures.values())
    assert body["status"] == ("ready" if status == 200 else "not ready")
    assert set(body["checks"]) == set(failures)
    assert all(("reason" in c) != c["ok"] for c in body["checks"].values())
