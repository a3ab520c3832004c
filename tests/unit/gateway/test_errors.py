"""OCX's own errors in the form of the service the caller spoke to, as the real one writes it."""
from __future__ import annotations

import orjson
import pytest

from ocx.api.errors import OcxError, error_body, webob_format


@pytest.mark.parametrize("accept,form", [
    ("", "plain"),                      # no Accept header: WebOb offers neither
    ("*/*", "html"),                    # what requests and openstacksdk send
    ("application/json", "json"),
    ("text/plain", "plain"),
    ("application/json;q=0.5, text/html;q=0.4", "json"),
    ("application/json, text/html", "html"),                # a tie keeps WebOb's order
    ("text/html;q=0, */*", "json"),
    ("text/html;level=1;q=0.2, application/json;q=0.1", "json"),  # parameters fit no offer
    ("text/*;q=0.2, text/*;q=0.9", "html"),                  # the first most specific range
    ("garbage;;;", "html"), ("text/html;q=2", "html"),     # unparsable: anything goes
])
def test_webob_picks_its_error_form_from_accept(accept, form):
    assert webob_format(accept) == form


def test_glances_errors_are_webobs_and_its_401_keeps_webobs_explanation():
    missing = OcxError(404, "No image found with ID x")
    body, ctype = error_body("image", missing, "*/*")
    assert ctype == "text/html; charset=UTF-8"
    assert body.decode() == ("<html>\n <head>\n  <title>404 Not Found</title>\n </head>\n"
                             " <body>\n  <h1>404 Not Found</h1>\n  No image found with ID x"
                             "<br /><br />\n\n\n\n </body>\n</html>")
    body, ctype = error_body("image", missing, "application/json")
    assert orjson.loads(body) == {"message": "No image found with ID x<br /><br />\n\n\n",
                                  "code": "404 Not Found", "title": "Not Found"}
    body, ctype = error_body("image", OcxError(401, "ignored"), "")
    assert ctype == "text/plain; charset=UTF-8"
    assert body.decode().startswith("401 Unauthorized\n\nThis server could not verify that ")


def test_nova_names_its_charset_cinder_does_not_and_a_401_is_keystonemiddlewares():
    assert error_body("compute", OcxError(502, "x"))[1] == "application/json; charset=UTF-8"
    assert error_body("volume", OcxError(502, "x"))[1] == "application/json"
    body, ctype = error_body("compute", OcxError(401, "The request you have made requires "
                                                      "authentication."))
    assert ctype == "application/json" and list(orjson.loads(body)) == ["error"]
