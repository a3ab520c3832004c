"""What OCX takes in (issue 12): oversized lines, headers and bodies are refused with 414, 431
and 413 (an answer, not a dropped connection); dot segments, malformed JSON, wrong content
types, huge page sizes, unknown services and wrong methods each get a clear answer in the
right format. The limits are the folder's (``conftest.LIMITS``)."""
from __future__ import annotations

import json
import socket
import time
import uuid

import pytest
import requests

from .conftest import LIMITS


def raw_exchange(url: str, request: bytes, *, pause_after: int | None = None) -> bytes:
    """Send ``request`` as it is (split at ``pause_after`` with a pause, as a slow client's
    segments come) and read the whole answer."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        if pause_after is None:
            sock.sendall(request)
        else:
            sock.sendall(request[:pause_after])
            time.sleep(0.3)
            sock.sendall(request[pause_after:])
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return answer


def status_of(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1])


def body_of(answer: bytes) -> bytes:
    return answer.split(b"\r\n\r\n", 1)[1]


def test_a_header_too_long_is_431_and_quotes_nothing_of_it(hardened):
    secret = "gAAAAA" + "s3cr3t" * (LIMITS["max_header_line"] // 6)
    resp = requests.get(hardened.url + "/compute/v2.1/servers",
                        headers={"X-Auth-Token": secret}, timeout=30)
    assert resp.status_code == 431
    assert resp.json() == {"error": {"code": 431, "title": "Request Header Fields Too Large",
                                     "message": "A request header is longer than 2048 bytes."}}
    assert "s3cr3t" not in resp.text


def test_a_header_of_a_megabyte_is_answered_too(hardened):
    request = (b"GET /volume/v3/volumes HTTP/1.1\r\nHost: ocx\r\nX-Auth-Token: "
               + b"x" * (1 << 20) + b"\r\n\r\n")
    answer = raw_exchange(hardened.url, request)
    assert status_of(answer) == 431
    assert b"xxxx" not in body_of(answer)


def test_too_many_headers_are_431(hardened):
    headers = {f"X-Filler-{i}": "1" for i in range(LIMITS["max_headers"] + 5)}
    resp = requests.get(hardened.url + "/network/v2.0/networks", headers=headers, timeout=30)
    assert resp.status_code == 431
    assert "more than 32 headers" in resp.json()["error"]["message"]


def test_a_path_too_long_is_414(hardened):
    resp = requests.get(hardened.url + "/compute/v2.1/servers?name=" + "a" * 5000, timeout=30)
    assert resp.status_code == 414
    assert resp.json()["error"]["code"] == 414


def test_headers_within_the_limits_pass(hardened):
    resp = requests.get(hardened.url + "/compute/v2.1/servers",
                        headers={"X-Filler": "a" * 1500,
                                 **{f"X-More-{i}": "1" for i in range(20)}}, timeout=30)
    assert resp.status_code == 401      # as far as a call without a token goes


def test_what_is_not_http_is_400_quoting_nothing(hardened):
    answer = raw_exchange(hardened.url, b"G\x01T /compute HTTP/1.1\r\nHost: ocx\r\n\r\n")
    assert status_of(answer) == 400
    assert json.loads(body_of(answer))["error"]["code"] == 400
    answer = raw_exchange(hardened.url, b"GET /compute HTTP/1.1\r\nHost: ocx\r\n"
                                        b"Bad Header\x7f: v\r\n\r\n")
    assert status_of(answer) == 400


def test_a_json_body_too_large_is_413_in_the_services_form(hardened):
    token = hardened.token()
    big = json.dumps({"server": {"name": "x" * LIMITS["max_request_body_size"]}})
    resp = requests.post(hardened.url + "/compute/v2.1/servers", data=big, timeout=30,
                         headers={"X-Auth-Token": token, "Content-Type": "application/json"})
    assert resp.status_code == 413
    assert resp.json() == {"overLimit": {"code": 413,
                                         "message": "The request body is too large."}}
    # Without a length, chunk by chunk: counted as it comes.
    chunks = (big[i:i + 8192].encode() for i in range(0, len(big), 8192))
    resp = requests.post(hardened.url + "/network/v2.0/networks", data=chunks, timeout=30,
                         headers={"X-Auth-Token": token, "Content-Type": "application/json"})
    assert resp.status_code == 413
    assert resp.json()["NeutronError"]["message"] == "The request body is too large."


def test_a_body_sent_in_pieces_is_read_whole(hardened):
    """A JSON body that arrives in several segments reaches the provider whole (a read of
    what has arrived would send on its first segment only)."""
    token = hardened.token()
    name = f"pieces-{uuid.uuid4().hex[:8]}"
    body = json.dumps({"network": {"name": name}}).encode().replace(b"}}", b"}" + b" " * 20000
                                                                  + b"}")
    head = (f"POST /network/v2.0/networks HTTP/1.1\r\nHost: ocx\r\nX-Auth-Token: {token}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
            f"Connection: close\r\n\r\n").encode()
    answer = raw_exchange(hardened.url, head + body, pause_after=len(head) + 100)
    assert status_of(answer) == 201, answer[:300]
    assert json.loads(body_of(answer))["network"]["name"] == name


def test_a_body_with_broken_chunks_is_400(hardened):
    token = hardened.token()
    request = (f"POST /network/v2.0/networks HTTP/1.1\r\nHost: ocx\r\nX-Auth-Token: {token}"
               f"\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
               f"5\r\n{{\"net\r\nZZ\r\nwork\r\n0\r\n\r\n").encode()
    answer = raw_exchange(hardened.url, request)
    assert status_of(answer) == 400


def raw_get(hardened, path: str, token: str | None = None) -> tuple[int, bytes]:
    """A GET of ``path`` exactly as written (clients resolve dot segments before sending)."""
    auth = f"X-Auth-Token: {token}\r\n" if token else ""
    answer = raw_exchange(hardened.url, f"GET {path} HTTP/1.1\r\nHost: ocx\r\n{auth}"
                                        f"Connection: close\r\n\r\n".encode())
    return status_of(answer), body_of(answer)


@pytest.mark.parametrize("path", ["/compute/v2.1/servers/..", "/compute/v2.1/%2e%2e/servers",
                                  "/compute/v2.1/servers/%2E%2E/action",
                                  "/compute/v2.1/servers/./x", "/compute/v2.1/servers/a%2Fb"])
def test_dot_segments_are_refused_in_the_services_form(hardened, path):
    status, body = raw_get(hardened, path, hardened.token())
    assert status == 400
    assert json.loads(body) == {"badRequest": {"code": 400,
                                               "message": "The request path is not valid."}}


def test_malformed_json_gets_each_services_own_400(hardened):
    token = hardened.token()
    project = hardened.project()
    headers = {"X-Auth-Token": token, "Content-Type": "application/json"}
    broken = b'{"x": [1, 2'
    nova = requests.post(hardened.url + "/compute/v2.1/servers", data=broken,
                         headers=headers, timeout=30)
    assert nova.status_code == 400
    assert nova.json() == {"badRequest": {"code": 400, "message": "Malformed request body"}}
    cinder = requests.post(hardened.url + f"/volume/v3/{project}/volumes", data=broken,
                           headers=headers, timeout=30)
    assert cinder.status_code == 400 and "badRequest" in cinder.json()
    neutron = requests.post(hardened.url + "/network/v2.0/networks", data=broken,
                            headers=headers, timeout=30)
    assert neutron.status_code == 400 and "NeutronError" in neutron.json()
    glance = requests.post(hardened.url + "/image/v2/images", data=broken,
                           headers={**headers, "Accept": "application/json"}, timeout=30)
    assert glance.status_code == 400 and "Malformed JSON" in glance.text


def test_a_wrong_content_type_is_the_services_to_refuse(hardened):
    project = hardened.project()
    resp = requests.post(hardened.url + f"/volume/v3/{project}/volumes",
                         data=b"<volume size='1'/>", timeout=30,
                         headers={"X-Auth-Token": hardened.token(),
                                  "Content-Type": "application/xml"})
    assert resp.status_code == 415
    assert resp.json() == {"badMediaType": {"code": 415, "message": "Unsupported Content-Type"}}


def test_huge_page_sizes_are_clamped_as_the_services_clamp_them(hardened):
    """Nova, Cinder and Glance cap ``limit`` at their maximum (1000); Neutron has none by
    default and takes any integer; a value that is not one is each service's 400."""
    headers = {"X-Auth-Token": hardened.token()}
    huge = "9" * 40
    for path in (f"/compute/v2.1/servers?limit={huge}", f"/image/v2/images?limit={huge}",
                 f"/network/v2.0/networks?limit={huge}", f"/compute/v2.1/flavors?limit={huge}"):
        resp = requests.get(hardened.url + path, headers=headers, timeout=30)
        assert resp.status_code == 200, (path, resp.text)
    nova = requests.get(hardened.url + "/compute/v2.1/servers?limit=-1", headers=headers,
                        timeout=30)
    assert nova.status_code == 400 and "badRequest" in nova.json()
    neutron = requests.get(hardened.url + "/network/v2.0/networks?limit=x", headers=headers,
                           timeout=30)
    assert neutron.status_code == 400 and "NeutronError" in neutron.json()


@pytest.mark.parametrize("path", ["/", "/swift/v1/AUTH_x", "/identity/v3", "/%63ompute/v2.1",
                                  "/ocx/v2/providers"])
def test_what_ocx_does_not_serve_is_404_in_keystones_form(hardened, path):
    status, body = raw_get(hardened, path, hardened.token())
    assert status == 404
    assert json.loads(body) == {"error": {"code": 404, "title": "Not Found",
                                          "message": "The resource could not be found."}}


def test_an_unknown_version_is_the_services_404(hardened):
    resp = requests.get(hardened.url + "/compute/v9.9/servers",
                        headers={"X-Auth-Token": hardened.token()}, timeout=30)
    assert resp.status_code == 404


@pytest.mark.parametrize("method, path, allowed", [
    ("POST", "/healthz", "GET, HEAD"), ("DELETE", "/ocx/v1/providers", "GET, HEAD"),
    ("GET", "/ocx/v1/peer/mappings", "POST")])
def test_another_method_on_ocxs_own_paths_is_405(hardened, method, path, allowed):
    resp = requests.request(method, hardened.url + path, timeout=30)
    assert resp.status_code == 405
    assert resp.headers["Allow"] == allowed
    assert resp.json()["error"]["code"] == 405
