"""Errors as WebOb writes them: Glance's (it raises ``webob.exc`` exceptions), and Nova's and
Cinder's when their router finds no route (``webob.exc.HTTPNotFound``, before any controller).

The body depends on the client's ``Accept`` header: ``{"message", "code", "title"}`` JSON for a
client that asks for JSON, an HTML page for ``*/*`` (what ``requests`` sends), plain text when
no ``Accept`` header is sent.
"""
from __future__ import annotations

import html
import json
import re
from collections.abc import Callable
from http import HTTPStatus
from string import Template

from aiohttp import web

from .errors import SimError

# status: (title, WebOb's default explanation)
_WEBOB = {
    400: ("Bad Request", "The server could not comply with the request since\r\n"
                         "it is either malformed or otherwise incorrect.\r\n"),
    401: ("Unauthorized", "This server could not verify that you are authorized to access the "
                          "document you requested. Either you supplied the wrong credentials "
                          "(e.g., bad password), or your browser does not understand how to "
                          "supply the credentials required."),
    403: ("Forbidden", "Access was denied to this resource."),
    404: ("Not Found", "The resource could not be found."),
    405: ("Method Not Allowed", ""),
    409: ("Conflict", "There was a conflict when trying to complete your request."),
    410: ("Gone", "This resource is no longer available.  No forwarding address is given."),
    413: ("Request Entity Too Large", "The body of your request was too large for this server."),
    415: ("Unsupported Media Type", ""),
    416: ("Request Range Not Satisfiable", "The Range requested is not available."),
    500: ("Internal Server Error", "The server has either erred or is incapable of performing"
                                   "\r\nthe requested operation.\r\n"),
    501: ("Not Implemented", ""),
    503: ("Service Unavailable", "The server is currently unavailable. Please try again at a "
                                 "later time."),
}
_BODY = "${explanation}<br /><br />\n${detail}\n${html_comment}\n"
# The exceptions whose body names a request variable instead of an explanation.
_BODY_WITH_ENVIRON = {
    405: "The method ${REQUEST_METHOD} is not allowed for this resource. <br /><br />\n${detail}",
    415: "The request media type ${CONTENT_TYPE} is not supported by this server.\n"
         "<br /><br />\n${detail}",
    501: "\nThe request method ${REQUEST_METHOD} is not implemented for this server. "
         "<br /><br />\n${detail}",
}
_HTML_PAGE = Template("<html>\n <head>\n  <title>${status}</title>\n </head>\n <body>\n"
                      "  <h1>${status}</h1>\n  ${body}\n </body>\n</html>")


class WebobError(SimError):
    """A ``webob.exc`` exception: Glance passes an ``explanation`` or a ``detail`` (or both).

    ``webob.exc.HTTPConflict(msg)`` sets the detail and keeps WebOb's default explanation;
    ``HTTPConflict(explanation=msg)`` replaces the explanation. The body differs, so we keep
    both, as Glance's code does.
    """

    def __init__(self, status: int, explanation: str | None = None, *,
                 detail: str | None = None, headers: dict[str, str] | None = None) -> None:
        title, default = _WEBOB.get(status, (_phrase(status), ""))
        self.title = title
        self.explanation = default if explanation is None else explanation
        self.detail = detail
        super().__init__(status, detail or self.explanation, headers=headers)

    def body_text(self, method: str, content_type: str | None,
                  escape: Callable[[str], str]) -> str:
        """WebOb's ``_make_body``: the explanation, ``<br /><br />`` and the detail."""
        args = {"explanation": escape(self.explanation), "detail": escape(self.detail or ""),
                "comment": "", "html_comment": ""}
        template = _BODY_WITH_ENVIRON.get(self.status)
        if template is not None:
            args["REQUEST_METHOD"] = escape(method)
            if content_type is not None:  # a missing CONTENT_TYPE stays as the placeholder
                args["CONTENT_TYPE"] = escape(content_type)
        return Template(template or _BODY).safe_substitute(args)


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


_MEDIA_RANGE = re.compile(r"([!#$%&'*+\-.^_`|~0-9A-Za-z]+)/([!#$%&'*+\-.^_`|~0-9A-Za-z]+)"
                          r"((?:[ \t]*;[ \t]*[^;]*)*)")
_QVALUE = re.compile(r"0(?:\.[0-9]{0,3})?|1(?:\.0{0,3})?")


def negotiate(accept: str | None) -> str:
    """Which body WebOb writes for an error: ``"html"``, ``"json"`` or ``"plain"``.

    WebOb offers ``text/html`` then ``application/json`` and takes the one the ``Accept``
    header ranks first (most specific matching range wins; ties keep the offer order). It
    reads a missing header as an empty one, which accepts neither: plain text. A header that
    does not parse accepts everything: HTML.
    """
    ranges: list[tuple[str, str, float]] = []
    for part in (accept or "").split(","):
        if not part.strip():
            continue
        match = _MEDIA_RANGE.fullmatch(part.strip())
        if match is None:
            return "html"
        q, media_params = 1.0, False
        for param in filter(None, (p.strip() for p in match.group(3).split(";"))):
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                if not _QVALUE.fullmatch(value.strip()):
                    return "html"
                q = float(value)
                break  # what follows q are accept-extensions
            media_params = True
        if not media_params:  # a range with media type parameters matches neither offer
            ranges.append((match.group(1).lower(), match.group(2).lower(), q))
    ranked = []
    for index, offer in enumerate(("text/html", "application/json")):
        kind, sub = offer.split("/")
        best: tuple[int, float] | None = None
        for rkind, rsub, q in ranges:
            specificity = (3 if (rkind, rsub) == (kind, sub) else
                           2 if rkind == kind and rsub == "*" else
                           1 if (rkind, rsub) == ("*", "*") else 0)
            if specificity and (best is None or specificity > best[0]):
                best = (specificity, q)
        if best and best[1] > 0:
            ranked.append((best[1], -index, offer))
    if not ranked:
        return "plain"
    return "html" if max(ranked)[2] == "text/html" else "json"


def _strip_tags(value: str) -> str:
    value = value.replace("\n", " ").replace("\r", "")
    value = re.sub(r"<br.*?>", "\n", value, flags=re.I | re.S)
    value = re.sub(r"<!--|-->", "", value)
    return re.sub(r"<.*?>", "", value, flags=re.S)


def render_webob(err: SimError, method: str = "GET", accept: str | None = "application/json",
                 content_type: str | None = None) -> web.Response:
    """The response WebOb generates for an exception, negotiated on ``Accept``."""
    if not isinstance(err, WebobError):
        # Routing misses, faults and crashes carry a generic message: WebOb's own text is used.
        err = WebobError(err.status, None if err.status in _WEBOB else err.message,
                         headers=err.headers)
    status_line = f"{err.status} {err.title}"
    kind = negotiate(accept)
    if kind == "json":
        body = json.dumps({"message": err.body_text(method, content_type, str),
                           "code": status_line, "title": err.title})
        mime = "application/json"
    elif kind == "html":
        inner = err.body_text(method, content_type, lambda s: html.escape(s, quote=True))
        body = _HTML_PAGE.substitute(status=status_line, body=inner)
        mime = "text/html; charset=UTF-8"
    else:
        body = f"{status_line}\n\n{_strip_tags(err.body_text(method, content_type, str))}"
        mime = "text/plain; charset=UTF-8"
    headers = {**err.headers, "Content-Type": mime}
    return web.Response(status=err.status, body=b"" if method == "HEAD" else body.encode(),
                        headers=headers)


def render_for(err: SimError, request: web.Request) -> web.Response:
    """:func:`render_webob` for the request being answered."""
    return render_webob(err, request.method, request.headers.get("Accept"),
                        request.headers.get("Content-Type"))
