"""Errors as each real service puts them on the wire.

A handler raises :class:`SimError`; the service's error middleware renders it in that service's
own format. aiohttp's own HTTP errors (unknown route, wrong method) and unexpected exceptions go
through the same renderer, so a client never sees a traceback or a format the service would not
send.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from http import HTTPStatus

import orjson
from aiohttp import web

from .wire import json_response, request_id

log = logging.getLogger(__name__)


# The request id of the call being answered (oslo's X-OpenStack-Request-ID).
REQUEST_ID = web.RequestKey("request_id", str)


class SimError(Exception):
    """An answer with an error status, in the service's error format.

    ``kind`` is the error type where the format carries one (Neutron's ``NetworkNotFound``).
    """

    def __init__(self, status: int, message: str, *, kind: str | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.kind = kind
        self.headers = headers or {}


def bad_request(message: str, kind: str = "BadRequest") -> SimError:
    return SimError(400, message, kind=kind)


def not_found(message: str, kind: str = "NotFound") -> SimError:
    return SimError(404, message, kind=kind)


def conflict(message: str, kind: str = "Conflict") -> SimError:
    return SimError(409, message, kind=kind)


def forbidden(message: str, kind: str = "Forbidden") -> SimError:
    return SimError(403, message, kind=kind)


# A renderer gets the request too: some formats are negotiated on its headers (Glance's WebOb).
Renderer = Callable[[SimError, web.Request], web.Response]

# Nova's and Cinder's wsgi.Fault names by status (nova/api/openstack/wsgi.py).
_FAULT_NAMES = {400: "badRequest", 401: "unauthorized", 403: "forbidden", 404: "itemNotFound",
                405: "badMethod", 409: "conflictingRequest", 413: "overLimit",
                415: "badMediaType", 429: "overLimit", 501: "notImplemented",
                503: "serviceUnavailable"}


def _title(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def fault_body(err: SimError) -> dict:
    """Nova's and Cinder's ``wsgi.Fault``: ``{"itemNotFound": {"code": 404, "message": ...}}``;
    a 413 or 429 that says when to retry names it in the body too."""
    name = _FAULT_NAMES.get(err.status, "computeFault")
    fault = {"code": err.status, "message": err.message}
    if err.status in (413, 429) and "Retry-After" in err.headers:
        fault["retryAfter"] = err.headers["Retry-After"]
    return {name: fault}


def render_fault(err: SimError, request: web.Request | None = None) -> web.Response:
    """Cinder's faults (and Nova's, which name their charset: see ``nova.render_nova_fault``)."""
    return json_response(fault_body(err), status=err.status, headers=err.headers)


def render_keystone(err: SimError, request: web.Request | None = None) -> web.Response:
    """Keystone (and keystonemiddleware's 401): ``{"error": {"code", "title", "message"}}``."""
    return json_response({"error": {"code": err.status, "title": _title(err.status),
                                    "message": err.message}},
                         status=err.status, headers=err.headers)


def render_neutron(err: SimError, request: web.Request | None = None) -> web.Response:
    """Neutron: ``{"NeutronError": {"type": "NetworkNotFound", "message": ..., "detail": ""}}``."""
    kind = err.kind or _title(err.status).replace(" ", "")
    return json_response({"NeutronError": {"type": kind, "message": err.message, "detail": ""}},
                         status=err.status, headers=err.headers)


async def read_keystone_json(request: web.Request) -> dict:
    """A Keystone request body: a JSON object, or Keystone's 400."""
    raw = await request.read()
    try:
        body = orjson.loads(raw) if raw else None
    except orjson.JSONDecodeError:
        raise SimError(400, "The request you have made is malformed: the body is not valid "
                            "JSON.") from None
    if not isinstance(body, dict):
        raise SimError(400, "The request you have made is malformed: expected a JSON object.")
    return body


def unauthorized(keystone_url: str) -> SimError:
    """keystonemiddleware's answer to a missing, bad or expired token (any service)."""
    return SimError(401, "The request you have made requires authentication.",
                    kind="Unauthorized",
                    headers={"WWW-Authenticate": f'Keystone uri="{keystone_url}"'})


def error_middleware(render: Renderer, *, keystone_401: bool = True,
                     render_miss: Renderer | None = None):
    """Render every failure of a service's handlers in that service's format.

    ``keystone_401``: keystonemiddleware refuses a call without a valid token itself, in
    Keystone's format; else (Glance) the service does, in its own. ``render_miss``: how a path
    no route matches is answered, when not in the service's format (Nova's and Cinder's
    routers answer WebOb's 404 before any of their code runs).
    """

    @web.middleware
    async def middleware(request: web.Request, handler):
        try:
            return await handler(request)
        except SimError as err:
            if keystone_401 and err.status == 401 and "WWW-Authenticate" in err.headers:
                return render_keystone(err)
            return render(err, request)
        except web.HTTPException as exc:
            if exc.status < 400:
                raise
            if exc.status == 404 and render_miss is not None:
                return render_miss(SimError(404, "The resource could not be found."), request)
            headers = {"Allow": exc.headers["Allow"]} if "Allow" in exc.headers else None
            message = {404: "The resource could not be found.",
                       405: "The method is not allowed for the requested URL."}.get(
                           exc.status, exc.reason)
            return render(SimError(exc.status, message, headers=headers), request)
        except Exception:  # noqa: BLE001 - a simulated service must answer, not crash
            log.exception("unexpected error in %s %s", request.method, request.path)
            return render(SimError(500, "An unexpected error prevented the server from "
                                        "fulfilling your request."), request)

    return middleware


def request_id_middleware(extra_header: str | None = None):
    """oslo's request id: every answer carries ``X-OpenStack-Request-ID`` (Nova adds its own)."""

    @web.middleware
    async def middleware(request: web.Request, handler):
        request[REQUEST_ID] = rid = request_id()
        response = await handler(request)
        if not response.prepared:  # a streamed answer set its headers when it started
            response.headers["X-OpenStack-Request-ID"] = rid
            if extra_header:
                response.headers[extra_header] = rid
        return response

    return middleware
