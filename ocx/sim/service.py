"""The shape every simulated service has: routes, an error format, a place in the catalog."""
from __future__ import annotations

import abc
from collections.abc import Iterable
from typing import TYPE_CHECKING, ClassVar

from aiohttp import web

from .auth import auth_middleware
from .errors import Renderer, error_middleware, request_id_middleware
from .faults import fault_middleware
from .webob import render_for

if TYPE_CHECKING:
    from .cloud import SimCloud

# Bodies larger than this are refused with 413 unless a handler streams them (Glance data).
MAX_BODY = 1 << 20


def unversioned(handler):
    """Mark a handler that answers outside the microversioned API (a redirect, Nova's version
    documents): no microversion is read or named in its answer."""
    handler.ocx_unversioned = True
    return handler


def is_unversioned(request: web.Request) -> bool:
    """No microversion for this call: a handler so marked, or a path no route matches (the
    router answers before any microversion is read)."""
    return request.match_info.http_exception is not None or getattr(
        request.match_info.handler, "ocx_unversioned", False)


class SimService(abc.ABC):
    """One OpenStack service of a simulated cloud, served on its own loopback port.

    ``catalog_path`` is appended to the service's base URL in the catalog; ``%(project_id)s``
    in it is replaced by the token's project, as Keystone does.
    """

    name: ClassVar[str]
    service_type: ClassVar[str]
    catalog_path: ClassVar[str]
    catalog_aliases: ClassVar[tuple[str, ...]] = ()
    render_error: ClassVar[Renderer]
    request_id_header: ClassVar[str | None] = None  # a service's own, besides oslo's
    # keystonemiddleware answers a call without a valid token itself (Keystone's 401 format);
    # a service whose pipeline delays that decision answers it in its own format (Glance).
    keystone_401: ClassVar[bool] = True
    # A path no route matches: WebOb's 404 (Nova, Cinder), else the service's own format.
    webob_route_miss: ClassVar[bool] = False

    def __init__(self, cloud: SimCloud) -> None:
        self.cloud = cloud
        self.base_url = ""  # set when the cloud has bound the port

    @abc.abstractmethod
    def routes(self) -> Iterable[web.AbstractRouteDef]:
        """The service's routes; handlers marked ``@public`` answer without a token."""

    async def on_start(self) -> None:
        """Called once the port is bound and ``base_url`` is known."""

    async def on_stop(self) -> None:
        """Called before the cloud stops."""

    def make_app(self) -> web.Application:
        cloud = self.cloud
        app = web.Application(
            client_max_size=MAX_BODY,
            middlewares=[
                request_id_middleware(self.request_id_header),
                error_middleware(type(self).render_error, keystone_401=self.keystone_401,
                                 render_miss=render_for if self.webob_route_miss else None),
                fault_middleware(cloud.faults, self.name, cloud.calls),
                # www_authenticate_uri: Keystone's versioned endpoint, as in the catalog.
                auth_middleware(cloud.tokens, lambda: cloud.keystone.endpoint),
            ])
        app.add_routes(list(self.routes()))
        return app

    @property
    def endpoint(self) -> str:
        """The versioned endpoint with the project placeholder, as registered in the catalog."""
        return self.base_url + self.catalog_path

    def project_endpoint(self, project_id: str) -> str:
        return self.endpoint.replace("%(project_id)s", project_id)
