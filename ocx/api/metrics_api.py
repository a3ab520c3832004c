"""``GET /metrics``: OCX's metrics in Prometheus's text format (``ocx.metrics``).

Scraped without a token by default, as OpenStack services' Prometheus exporters are (no
metric carries a token or names a user, project or resource); ``[metrics] require_admin``
asks for a token with the admin role instead.
"""
from __future__ import annotations

from aiohttp import web

from .. import metrics
from ..identity.errors import IdentityUnavailable, Unauthenticated
from .errors import OcxError, error_response

PATH = "/metrics"
ADMIN_ROLE = "admin"


class MetricsApi:
    def __init__(self, *, validator, require_admin: bool) -> None:
        self.validator = validator
        self.require_admin = require_admin

    def routes(self) -> list[web.RouteDef]:
        return [web.get(PATH, self.handle)]

    async def handle(self, request: web.Request) -> web.Response:
        if self.require_admin:
            try:
                try:
                    caller = await self.validator.identify(request.headers.get("X-Auth-Token"))
                except Unauthenticated:
                    raise OcxError(401, "The request you have made requires authentication.",
                                   headers={"WWW-Authenticate":
                                            f'Keystone uri="{self.validator.auth_url}"'}) \
                        from None
                except IdentityUnavailable as exc:
                    raise OcxError(503, f"The token cannot be validated now: {exc.reason}.") \
                        from None
                if ADMIN_ROLE not in caller.roles:
                    raise OcxError(403, "Only an admin may read the metrics.")
            except OcxError as exc:
                return error_response(None, exc, request.headers.get("Accept", ""))
        body, content_type = metrics.exposition()
        response = web.Response(body=body)
        response.headers["Content-Type"] = content_type
        return response
