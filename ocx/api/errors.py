"""Errors OCX answers itself, each in the format of the service the caller spoke to.

Two trees (as aiohttp keeps them): :class:`OcxError` is what OCX answers; what a provider did
is ``backends.base.ProviderFailure`` or an ordinary provider answer, passed on as it is.
"""
from __future__ import annotations

import html
import re
from http import HTTPStatus

import orjson
from aiohttp import web

# Nova's and Cinder's fault names by status (their wsgi.Fault).
_FAULT_NAMES = {400: "badRequest", 401: "unauthorized", 403: "forbidden", 404: "itemNotFound",
                405: "badMethod", 409: "conflictingRequest", 413: "overLimit",
                415: "badMediaType", 429: "overLimit", 501: "notImplemented",
                503: "serviceUnavailable"}


class OcxError(Exception):
    """An answer OCX gives itself; ``message`` is shown to the caller and holds no secret."""

    def __init__(self, status: int, message: str, *, headers: dict[str, str] | None = None,
                 kind: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}
        self.kind = kind


def _title(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


# Glance answers its errors through WebOb; its 401 keeps WebOb's own explanation.
_WEBOB_UNAUTHORIZED = ("This server could not verify that you are authorized to access the "
                       "document you requested. Either you supplied the wrong credentials (e.g., "
                       "bad password), or your browser does not understand how to supply the "
                       "credentials required.")
_MEDIA_RANGE = re.compile(r"([!#$%&'*+\-.^_`|~0-9A-Za-z]+)/([!#$%&'*+\-.^_`|~0-9A-Za-z]+)"
                          r"((?:[ \t]*;[ \t]*[^;]*)*)")
_QVALUE = re.compile(r"0(?:\.[0-9]{0,3})?|1(?:\.0{0,3})?")
_OFFERS = (("text/html", "html"), ("application/json", "json"))


def _media_ranges(accept: str) -> list[tuple[str, str, float]] | None:
    """(type, subtype, quality) of each range without media-type parameters (such a range
    fits neither of WebOb's offers); None when the header does not parse."""
    ranges = []
    for part in filter(None, (p.strip() for p in accept.split(","))):
        match = _MEDIA_RANGE.fullmatch(part)
        if match is None:
            return None
        quality, parameters = 1.0, False
        for param in filter(None, (p.strip() for p in match[3].split(";"))):
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                if not _QVALUE.fullmatch(value.strip()):
                    return None
                quality = float(value)
                break  # what follows q are accept-extensions
            parameters = True
        if not parameters:
            ranges.append((match[1].lower(), match[2].lower(), quality))
    return ranges


def _specificity(kind: str, sub: str, offer: str) -> int:
    """How closely the range ``kind/sub`` fits ``offer``: 0 when it does not."""
    if f"{kind}/{sub}" == offer:
        return 3
    if kind == offer.split("/")[0] and sub == "*":
        return 2
    return 1 if (kind, sub) == ("*", "*") else 0


def webob_format(accept: str) -> str:
    """The form WebOb writes an error in: ``html``, ``json`` or ``plain``.

    WebOb offers ``text/html`` then ``application/json`` and takes the one the ``Accept``
    header ranks first (the most specific fitting range gives the quality; a tie keeps the
    offer order). No header accepts neither (plain text); one that does not parse, any (HTML).
    """
    ranges = _media_ranges(accept)
    if ranges is None:
        return "html"
    ranked = []
    for index, (offer, form) in enumerate(_OFFERS):
        fitting = [(_specificity(t, s, offer), q) for t, s, q in ranges]
        fitting = [found for found in fitting if found[0]]
        if fitting:
            quality = max(fitting, key=lambda found: found[0])[1]  # the first most specific
            if quality > 0:
                ranked.append((quality, -index, form))
    return max(ranked)[2] if ranked else "plain"


def error_body(service: str | None, err: OcxError, accept: str = "") -> tuple[bytes, str]:
    """The body and content type the real service would use for this error."""
    if service == "image":
        return _webob_body(err, accept)
    if err.status == 401 or service is None:
        # keystonemiddleware answers 401 before any service sees the call, in Keystone's form.
        body = {"error": {"code": err.status, "title": _title(err.status),
                          "message": err.message}}
    elif service in ("compute", "volume"):
        body = {_FAULT_NAMES.get(err.status, "computeFault"): {"code": err.status,
                                                              "message": err.message}}
        if service == "compute":  # Nova's faults name their charset, Cinder's do not
            return orjson.dumps(body), "application/json; charset=UTF-8"
    else:  # network
        kind = err.kind or _title(err.status).replace(" ", "")
        body = {"NeutronError": {"type": kind, "message": err.message, "detail": ""}}
    return orjson.dumps(body), "application/json"


def _webob_body(err: OcxError, accept: str) -> tuple[bytes, str]:
    """Glance's error as WebOb renders it, in the form the Accept header picks."""
    status = f"{err.status} {_title(err.status)}"
    explanation = _WEBOB_UNAUTHORIZED if err.status == 401 else err.message
    form = webob_format(accept)
    if form == "json":
        body = {"message": f"{explanation}<br /><br />\n\n\n", "code": status,
                "title": _title(err.status)}
        return orjson.dumps(body), "application/json"
    if form == "html":
        text = (f"<html>\n <head>\n  <title>{status}</title>\n </head>\n <body>\n"
                f"  <h1>{status}</h1>\n  {html.escape(explanation)}<br /><br />\n\n\n\n"
                " </body>\n</html>")
        return text.encode(), "text/html; charset=UTF-8"
    return f"{status}\n\n{explanation}\n\n   ".encode(), "text/plain; charset=UTF-8"


def error_response(service: str | None, err: OcxError, accept: str = "") -> web.Response:
    body, content_type = error_body(service, err, accept)
    response = web.Response(status=err.status, body=body, headers=err.headers)
    response.headers["Content-Type"] = content_type  # as the service spells it
    return response
