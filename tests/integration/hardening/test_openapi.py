"""OCX's own API against its description, ``ocx/api/openapi.yaml`` (issue 12): schemathesis
makes calls from the description, valid ones and ones that break it, and every answer must
be one the description gives for the call (status, content type, body, headers), a call
that breaks the description must be refused with a 4xx, and no answer is a 5xx or shows a
traceback. The injection API is also called signed with the folder's peer's secret, so that
its documents are read and checked, not refused at the door."""
from __future__ import annotations

import datetime as dt
import json
import time
from pathlib import Path

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import (content_type_conformance, negative_data_rejection,
                                 not_a_server_error, response_headers_conformance,
                                 response_schema_conformance, status_code_conformance)

import ocx.api
from ocx.learn import injection

from .conftest import PEER
from .test_fuzz_gateway import TRACEBACK_MARKS

SCHEMA = schemathesis.openapi.from_path(Path(ocx.api.__file__).parent / "openapi.yaml")
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance, response_headers_conformance]
FUZZ = settings(max_examples=30, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                                       HealthCheck.data_too_large])
GETS = ["/healthz", "/readyz", "/ocx/v1/providers", "/ocx/v1/projects", "/ocx/v1/quotas"]
SECURED = {"/ocx/v1/providers", "/ocx/v1/projects", "/ocx/v1/quotas"}


def checked(case, response: requests.Response, negative: bool) -> None:
    case.validate_response(response, checks=CHECKS + ([negative_data_rejection]
                                                      if negative else []))
    assert not any(mark in response.content for mark in TRACEBACK_MARKS), response.text[:500]


def test_the_description_is_valid_openapi():
    assert [op.ok().label for op in SCHEMA.get_all_operations()] == [
        "GET /healthz", "GET /readyz", "GET /ocx/v1/providers", "GET /ocx/v1/projects",
        "GET /ocx/v1/quotas", "POST /ocx/v1/peer/mappings"]


@pytest.mark.parametrize("path", GETS)
def test_each_read_answers_as_described(hardened, path):
    """The reads take no parameter (no call breaks their description): each caller, with
    each kind of token or none."""
    tokens = {"admin": hardened.token("home", "admin"), "member": hardened.token(),
              "none": None, "refused": "gAAAAA-made-up"}

    @FUZZ
    @given(case=SCHEMA[path]["GET"].as_strategy(),
           who=st.sampled_from(sorted(tokens)))
    def one(case, who):
        headers = {"X-Auth-Token": tokens[who]} if tokens[who] else {}
        response = case.call(base_url=hardened.url, headers=headers, timeout=30)
        checked(case, response, negative=False)
        if path in SECURED and who in ("none", "refused"):
            assert response.status_code == 401
        if path in ("/ocx/v1/providers", "/ocx/v1/projects") and who == "member":
            assert response.status_code == 403

    one()


def fitted(document: dict) -> dict:
    """A document the description allows, made one this OCX takes: its providers the peer's,
    its types ones OCX maps, its mappings not expired."""
    later = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)).isoformat()
    return {"token_mappings": [{**t, "provider": "sp1", "expires_at": later}
                               for t in document.get("token_mappings", [])],
            "resource_mappings": [{**r, "provider": "sp2", "type": "servers"}
                                  for r in document.get("resource_mappings", [])]
            or [{"type": "servers", "id": "fuzzed", "provider": "sp2"}]}


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_injections_answer_as_described(hardened, mode):
    operation = SCHEMA["/ocx/v1/peer/mappings"]["POST"]
    seen: set[int] = set()

    @FUZZ
    @given(case=operation.as_strategy(generation_mode=mode),
           how=st.sampled_from(["as made", "signed", "signed and fitted"]))
    def one(case, how):
        if how == "as made":
            response = case.call(base_url=hardened.url, timeout=30)
            checked(case, response, negative=mode is GenerationMode.NEGATIVE)
            return
        # Signed by the peer: the document itself is read (whether it keeps the description
        # or not, as the case was made) and stored whole, or refused with a 4xx.
        document = case.body
        if how == "signed and fitted" and mode is GenerationMode.POSITIVE:
            document = fitted(document)
        body = json.dumps(document).encode() if not isinstance(document, bytes) else document
        when = int(time.time())
        headers = {injection.PEER_HEADER: PEER, injection.TIME_HEADER: str(when),
                   injection.SIGNATURE_HEADER: injection.signature(
                       hardened.peer_secret, when, "POST", injection.PATH, body),
                   "Content-Type": "application/json"}
        response = requests.post(hardened.url + injection.PATH, data=body, headers=headers,
                                 timeout=30)
        checked(case, response, negative=False)
        assert response.status_code in (200, 400, 403), response.text[:300]
        seen.add(response.status_code)
        if document is not case.body:
            assert response.status_code == 200, response.text[:300]

    one()
    assert 400 in seen and (mode is GenerationMode.NEGATIVE or 200 in seen), seen
