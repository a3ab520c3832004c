"""Errors OCX answers itself, each in the format of the service the caller spoke to.

Two trees (as aiohttp keeps them): :class:`OcxError` is what OCX answers; what a provider did
is ``backends.base.ProviderFailure`` or an ordinary provider answer, passed on as it is.
"""
from __future__ import annotations

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


def error_body(service: str | None, err: OcxError, accept: str = "") -> tuple[bytes, str]:
    """The body and content type the real service would use for this error."""
    if err.status == 401 or service is None:
        # keystonemiddleware answers 401 before any service sees the call, in Keystone's form.
        body = {"error": {"code": err.status, "title": _title(err.status),
                          "message": err.message}}
    elif service in ("compute", "volume"):
        body = {_FAULT_NAMES.get(err.status, "computeFault"): {"code": err.status,
                                                              "message": err.message}}
    elif service == "network":
        kind = err.kind or _title(err.status).replace(" ", "")
        body = {"NeutronError": {"type": kind, "message": err.message, "detail": ""}}
    elif "application/json" in accept:  # Glance: WebOb's JSON form when JSON is asked for
        body = {"message": err.message, "code": f"{err.status} {_title(err.status)}",
                "title": _title(err.status)}
    else:
        text = f"{err.status} {_title(err.status)}\n\n{err.message}\n\n   "
        return text.encode(), "text/plain; charset=UTF-8"
    return orjson.dumps(body), "application/json"


def error_response(service: str | None, err: OcxError, accept: str = "") -> web.Response:
    body, content_type = error_body(service, err, accept)
    response = web.Response(status=err.status, body=body, headers=err.headers)
    response.content_type = content_type.split(";")[0]
    if "charset" in content_type:
        response.charset = "utf-8"
    return response
