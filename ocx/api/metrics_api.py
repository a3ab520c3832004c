"""``GET /metrics``: OCX's metrics in Prometheus's text format (``ocx.metrics``).

Scraped without a token by default, as OpenStack services' Prometheus exporters are (no
metric carries a token or names a user, project or resource); ``[metrics] require_admin``
asks for a token with the admin role instead.
"""
from __future__ import annotations

from aiohttp import web

from .. import metrics
from .callers import admin_of
from .errors import OcxError, error_response

PATH = "/metrics"


class MetricsApi:
    def __init__(self, *, validator, require_admin: bool) -> None:
        self.validator = validator
        self.require_admin = require_admin

    def routes(self) -> list[web.RouteDef]:
        return [web.get(PATH, self.handle)]

    async def handle(self, request: web.Request) -> web.Response:
        if self.require_admin:
            try:
                await admin_of(self.validator, request, "Only an admin may read the metrics.")
            except OcxError as exc:
                return error_response(None, exc, request.headers.get("Accept", ""))
        body, content_type = metrics.exposition()
        response = web.Response(body=body)
        response.headers["Content-Type"] = content_type
        return response
