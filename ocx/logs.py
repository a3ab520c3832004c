"""Logs the way oslo.log writes them (issue 13): the request ids on every line of a call.

Each call OCX answers gets its own ``req-<uuid>`` (oslo.middleware's ``RequestId``), returned
in ``X-OpenStack-Request-ID``. A caller's ``X-OpenStack-Request-ID`` of the form
``req-<uuid>`` is its *global* request id (oslo.context's ``global_request_id``; anything else
is ignored, as oslo.middleware does); the providers are sent the global id when there is one,
else OCX's own (``context.global_id``, as Nova's and Cinder's clients pass it on), so one id
follows a call across every cloud.

The ids live in a :data:`CURRENT` context variable (each call is one asyncio task; tasks it
starts inherit it), read by :class:`ContextFilter` on every record. Lines are oslo.log's
``logging_context_format_string`` (``... [global_id request_id user project] message``), or
one JSON object per line with ``[DEFAULT] use_json`` (oslo.log's option of that name). No
token is ever put in the context.
"""
from __future__ import annotations

import contextvars
import logging
import re
import sys
import uuid
from dataclasses import dataclass

import orjson

HEADER = "X-OpenStack-Request-ID"
ID_FORMAT = re.compile(r"^req-[a-f0-9]{8}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{12}$")

CONTEXT_FORMAT = ("%(asctime)s.%(msecs)03d %(process)d %(levelname)s %(name)s "
                  "[%(global_request_id)s %(request_id)s %(user_identity)s] %(message)s")
DEFAULT_FORMAT = "%(asctime)s.%(msecs)03d %(process)d %(levelname)s %(name)s [-] %(message)s"
DATE_FORMAT = "%Y-%m-%d %H:%M:%S"


@dataclass
class CallIds:
    """The ids of the call being answered; ``user``/``project`` once the token is validated."""

    request_id: str
    global_request_id: str | None = None
    user: str | None = None
    project: str | None = None

    @property
    def global_id(self) -> str:
        """What the providers are sent: the caller's global id, else OCX's own."""
        return self.global_request_id or self.request_id


CURRENT: contextvars.ContextVar[CallIds | None] = contextvars.ContextVar("ocx_call",
                                                                         default=None)


def begin(inbound: str | None) -> CallIds:
    """A new call: OCX's own id; the caller's ``inbound`` header kept only when well formed."""
    ids = CallIds(f"req-{uuid.uuid4()}",
                  inbound if inbound and ID_FORMAT.match(inbound) else None)
    CURRENT.set(ids)
    return ids


def current() -> CallIds | None:
    return CURRENT.get()


def identified(user: str, project: str) -> None:
    ids = CURRENT.get()
    if ids is not None:
        ids.user, ids.project = user, project


class ContextFilter(logging.Filter):
    """Puts the current call's ids on each record (``-`` outside a call)."""

    def filter(self, record: logging.LogRecord) -> bool:
        ids = CURRENT.get()
        if ids is None:
            record.request_id = record.global_request_id = "-"
            record.user_identity = "- -"
            record.in_call = False
        else:
            record.request_id = ids.request_id
            record.global_request_id = ids.global_request_id or "-"
            record.user_identity = f"{ids.user or '-'} {ids.project or '-'}"
            record.in_call = True
        return True


class TextFormatter(logging.Formatter):
    """oslo.log's two formats: with the call's ids inside a call, ``[-]`` outside one."""

    def __init__(self) -> None:
        super().__init__(CONTEXT_FORMAT, DATE_FORMAT)
        self._default = logging.Formatter(DEFAULT_FORMAT, DATE_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        if getattr(record, "in_call", False):
            return super().format(record)
        return self._default.format(record)


class JsonFormatter(logging.Formatter):
    """One JSON object per line, with oslo.log's JSONFormatter's main keys."""

    def format(self, record: logging.LogRecord) -> str:
        doc = {"asctime": self.formatTime(record, DATE_FORMAT), "created": record.created,
               "levelname": record.levelname, "name": record.name,
               "message": record.getMessage(), "process": record.process,
               "request_id": getattr(record, "request_id", None),
               "global_request_id": getattr(record, "global_request_id", None),
               "user_identity": getattr(record, "user_identity", None)}
        for key in ("request_id", "global_request_id"):
            if doc[key] == "-":
                doc[key] = None
        if record.exc_info:
            doc["traceback"] = self.formatException(record.exc_info)
        return orjson.dumps(doc).decode()


def setup(level: int, *, use_json: bool = False, stream=None) -> logging.Handler:
    """The root logger writes oslo-style lines (or JSON) to ``stream`` (stderr)."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.addFilter(ContextFilter())
    handler.setFormatter(JsonFormatter() if use_json else TextFormatter())
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "ocx_logs", False)]:
        root.removeHandler(old)
    handler.ocx_logs = True
    root.addHandler(handler)
    root.setLevel(level)
    return handler


def configure(use_json: bool) -> None:
    """At a gateway's start: ``use_json`` applied to the handler :func:`setup` installed, or,
    in a process with none yet (a spawned worker), one installed at INFO."""
    ours = [h for h in logging.getLogger().handlers if getattr(h, "ocx_logs", False)]
    if not ours:
        setup(logging.INFO, use_json=use_json)
        return
    for handler in ours:
        handler.setFormatter(JsonFormatter() if use_json else TextFormatter())
