"""What OCX takes in: the limits on a request's line and headers, and reading a body whole up
to a limit (issue 12; the body's limit is ``[DEFAULT] max_request_body_size``, applied by
``app.read_request``).

aiohttp's parser enforces the line and header limits before any handler runs, and answers what
it refuses with a 400 whose text, and whose ERROR log line, quote the first 100 bytes of the
offending line: the start of a token, for an oversized ``X-Auth-Token``. :class:`Runner` serves
the application with those limits and answers the parser's refusals itself: 414 for a request
target that is too long, 431 for a header that is too long or too many headers, 400 for
anything else that is not HTTP, in Keystone's JSON error form (the service is not known yet),
quoting nothing the client sent; the log line names the refusal only.
"""
from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from aiohttp import StreamReader, web
from aiohttp.http_exceptions import (BadHttpMessage, BadHttpMethod, BadStatusLine,
                                     HttpProcessingError, InvalidHeader, LineTooLong,
                                     PayloadEncodingError)
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_server import Server
from oslo_config import cfg

from .errors import OcxError, error_body

log = logging.getLogger(__name__)
# Seconds a refused client may go on sending before its connection is closed.
LINGER = 2.0


@dataclass(frozen=True)
class Limits:
    request_line: int = 8192          # bytes of the request target (path and query)
    header_line: int = 16384          # bytes of one header, name and value
    headers: int = 128                # headers in one request

    @classmethod
    def from_conf(cls, conf: cfg.ConfigOpts) -> Limits:
        return cls(request_line=conf.max_request_line, header_line=conf.max_header_line,
                   headers=conf.max_headers)

    def parser_args(self) -> dict[str, int]:
        """aiohttp's ``RequestHandler`` arguments that make its parser enforce them."""
        return {"max_line_size": self.request_line, "max_field_size": self.header_line,
                "max_headers": self.headers}


def refusal(exc: BaseException | None, limits: Limits) -> OcxError:
    """How to answer what aiohttp's parser refused (pure): status and a message that quotes
    nothing of the request."""
    if isinstance(exc, LineTooLong):
        limit = exc.args[1] if len(exc.args) > 1 else None
        if limit == limits.request_line and limit != limits.header_line:
            return OcxError(414, f"The request's path and query are longer than "
                                 f"{limits.request_line} bytes.")
        return OcxError(431, f"A request header is longer than {limits.header_line} bytes.")
    message = getattr(exc, "message", "") or ""
    if isinstance(exc, BadHttpMessage) and message.startswith("Too many headers"):
        return OcxError(431, f"The request has more than {limits.headers} headers.")
    if isinstance(exc, BadHttpMethod):
        return OcxError(400, "The request method is not valid.")
    if isinstance(exc, BadStatusLine):
        return OcxError(400, "The request line is not valid.")
    if isinstance(exc, InvalidHeader):
        return OcxError(400, "A request header is not valid.")
    if isinstance(exc, PayloadEncodingError):
        return OcxError(400, "The request body's framing is not valid.")
    return OcxError(400, "The request is not valid HTTP.")


async def read_body(content: StreamReader, limit: int) -> bytes:
    """The whole body, or its first ``limit + 1`` bytes when it is longer (the caller refuses
    it). ``StreamReader.read(n)`` gives only what has arrived, which for a body sent in
    several segments is its start."""
    chunks: list[bytes] = []
    size = 0
    while size <= limit:
        chunk = await content.read(limit + 1 - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


class _Protocol(RequestHandler):
    """aiohttp's connection handler, answering the parser's refusals as :func:`refusal` says."""

    __slots__ = ()
    limits = Limits()   # set on the subclass each runner makes

    def handle_error(self, request, status: int = 500, exc: BaseException | None = None,
                     message: str | None = None) -> web.StreamResponse:
        if status == 500 or not isinstance(exc, HttpProcessingError):
            return super().handle_error(request, status, exc, message)
        err = refusal(exc, self.limits)
        log.warning("refused a request from %s: %s %s", request.remote, err.status,
                    err.message)
        body, content_type = error_body(None, err)
        response = _Refusal(status=err.status, body=body, content_type=content_type)
        response.force_close()
        self.close()   # what else comes on this connection is read and dropped, not parsed
        return response


class _Refusal(web.Response):
    """An answer to a request that was not read to its end (a header too long: the client may
    still be sending). Closing at once, with its data unread, would reset the connection and
    the client might never read the answer; so the answer is followed by the end of what OCX
    sends, and the connection is closed when the client closes its side or ``LINGER`` seconds
    have gone by, whatever it sent meanwhile dropped unread (as web servers' lingering close
    does)."""

    async def write_eof(self, data: bytes = b"") -> None:
        transport = self._req.transport if self._req is not None else None
        await super().write_eof(data)
        if transport is None or transport.is_closing() or not transport.can_write_eof():
            return
        transport.write_eof()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + LINGER
        while not transport.is_closing() and loop.time() < deadline:
            await asyncio.sleep(0.02)


class _Server(Server):
    protocol: type[RequestHandler] = _Protocol

    def __call__(self) -> RequestHandler:
        handler = super().__call__()
        # Same slots, one method more: the handler aiohttp made becomes OCX's.
        handler.__class__ = self.protocol
        return handler


class Runner(web.AppRunner):
    """``web.AppRunner`` with OCX's limits on what it reads."""

    def __init__(self, app: web.Application, limits: Limits, **kwargs) -> None:
        super().__init__(app, **kwargs, **limits.parser_args())
        self.limits = limits

    async def _make_server(self) -> Server:
        server = await super()._make_server()
        server.__class__ = _Server
        server.protocol = type("Protocol", (_Protocol,), {"__slots__": (),
                                                         "limits": self.limits})
        return server
