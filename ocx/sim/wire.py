"""What every simulated service puts on the wire: JSON bodies, timestamps, request ids.

Pure helpers shared by the simulated services; no service logic lives here.
"""
from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import orjson
from aiohttp import web

JSON = "application/json"


def dumps(body: Any) -> bytes:
    return orjson.dumps(body)


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None,
                  content_type: str = JSON) -> web.Response:
    return web.Response(body=dumps(body), status=status, headers=headers,
                        content_type=content_type)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def iso_z(t: dt.datetime) -> str:
    """Nova, Glance and Neutron style: 2026-11-24T17:10:28Z."""
    return t.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def iso_micro(t: dt.datetime) -> str:
    """Cinder style: 2026-11-24T17:10:28.000000 (naive UTC)."""
    return t.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")


def iso_keystone(t: dt.datetime) -> str:
    """Keystone style: 2026-11-24T17:10:28.000000Z."""
    return t.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(value: str) -> dt.datetime:
    """Parse the ISO 8601 forms clients send (``changes-since``, ``created_at``...)."""
    v = value.strip().replace(" ", "T")
    if v.endswith("Z"):
        v = v[:-1] + "+00:00"
    t = dt.datetime.fromisoformat(v)
    return t if t.tzinfo else t.replace(tzinfo=dt.timezone.utc)


def new_id() -> str:
    return str(uuid.uuid4())


def request_id() -> str:
    return "req-" + str(uuid.uuid4())
