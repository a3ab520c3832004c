"""Glance's errors are WebOb's: the body depends on what the client accepts."""
from __future__ import annotations

import json

import pytest

from ocx.sim.errors import SimError
from ocx.sim.webob import WebobError, negotiate, render_webob


@pytest.mark.parametrize("accept, kind", [
    (None, "plain"),                      # webob reads a missing header as an empty one
    ("", "plain"),                        # openstacksdk's uploads and patches send this
    ("*/*", "html"),                      # requests' default: openstacksdk's usual GET
    ("application/json", "json"),
    ("application/json, text/plain", "json"),
    ("text/html;q=0.5, application/json", "json"),
    ("application/*", "json"),
    ("text/*, application/json;q=0.9", "html"),
    ("text/html;q=0, */*", "json"),      # the more specific range wins, with its q
    ("text/plain", "plain"),
    ("application/octet-stream", "plain"),
    ("text/html;level=1", "plain"),       # a range with media parameters matches no offer
    ("not a media range", "html"),        # an invalid header accepts everything
    ("application/json;q=2", "html"),
])
def test_the_body_follows_the_accept_header_as_webob_negotiates_it(accept, kind):
    assert negotiate(accept) == kind


def test_a_json_accepting_client_gets_message_code_and_title():
    response = render_webob(WebobError(404, "No image found with ID x"),
                            accept="application/json")
    assert response.status == 404
    assert response.content_type == "application/json"
    assert json.loads(response.body) == {"message": "No image found with ID x<br /><br />\n\n\n",
                                         "code": "404 Not Found", "title": "Not Found"}


def test_a_detail_keeps_webobs_explanation_in_front():
    response = render_webob(WebobError(409, detail="Property foo does not exist."),
                            accept="application/json")
    assert json.loads(response.body)["message"] == (
        "There was a conflict when trying to complete your request.<br /><br />\n"
        "Property foo does not exist.\n\n")


def test_a_browser_like_client_gets_an_html_page_that_openstacksdk_can_read():
    response = render_webob(WebobError(403, "Image <x> is protected & cannot be deleted."),
                            accept="*/*")
    assert response.headers["Content-Type"] == "text/html; charset=UTF-8"
    assert response.body.decode() == (
        "<html>\n <head>\n  <title>403 Forbidden</title>\n </head>\n <body>\n"
        "  <h1>403 Forbidden</h1>\n"
        "  Image &lt;x&gt; is protected &amp; cannot be deleted.<br /><br />\n\n\n\n"
        " </body>\n</html>")


def test_a_client_without_accept_gets_plain_text():
    response = render_webob(WebobError(409, "Image status transition from active to saving "
                                            "is not allowed"), accept=None)
    assert response.headers["Content-Type"] == "text/plain; charset=UTF-8"
    assert response.body.decode() == ("409 Conflict\n\nImage status transition from active to "
                                      "saving is not allowed\n\n   ")


def test_method_not_allowed_names_the_method_and_keeps_the_allow_header():
    response = render_webob(WebobError(405, headers={"Allow": "GET, POST"}), method="PUT",
                            accept="application/json")
    assert response.headers["Allow"] == "GET, POST"
    assert json.loads(response.body)["message"] == (
        "The method PUT is not allowed for this resource. <br /><br />\n")


def test_unsupported_media_type_names_the_media_type_and_shows_the_detail():
    response = render_webob(WebobError(415, detail="Invalid content type application/json"),
                            method="PUT", accept="application/json",
                            content_type="application/json")
    assert json.loads(response.body)["message"] == (
        "The request media type application/json is not supported by this server.\n"
        "<br /><br />\nInvalid content type application/json")


def test_generic_errors_get_webobs_own_wording():
    body = json.loads(render_webob(SimError(500, "boom"), accept="application/json").body)
    assert body["code"] == "500 Internal Server Error"
    assert body["message"].startswith("The server has either erred or is incapable")
    assert "boom" not in body["message"]


def test_head_requests_get_no_body():
    assert render_webob(WebobError(404), method="HEAD", accept="*/*").body == b""
