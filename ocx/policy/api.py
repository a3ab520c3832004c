"""The GBP API on OCX, under ``/policy`` (thin: parse, identify, call the service, answer).

    /policy                                  version document
    /policy/v2.0/                            the resources
    /policy/v2.0/{collection}                GET (list), POST (create)
    /policy/v2.0/{collection}/{id}           GET (show), PUT (update), DELETE

``collection`` is one of ``l3_policies``, ``l2_policies``, ``policy_target_groups``,
``policy_targets``, ``servicechain_nodes``, ``servicechain_specs``,
``servicechain_instances``; GBP's own prefixes (``/v2.0/grouppolicy/...``,
``/v2.0/servicechain/...``) and a ``.json`` suffix are accepted too, so that GBP's client,
pointed at this endpoint, finds its paths. Bodies, listings (filters on any attribute,
``fields``) and errors are Neutron's. The caller is identified with its Keystone token as the
gateway does; ``X-OCX-Provider`` on an L3 policy's create names the provider it renders on.
"""
from __future__ import annotations

import logging
import time

import orjson
from aiohttp import web

from ..identity.errors import IdentityUnavailable, Unauthenticated
from .attributes import PREFIXES, RESOURCES
from .errors import PolicyError
from .neutron import NeutronFailure
from .service import Context, PolicyService

log = logging.getLogger(__name__)

PATH = "/policy"
VERSION = "v2.0"
PROVIDER_HEADER = "X-OCX-Provider"
INTERNAL = PolicyError(500, "HTTPInternalServerError",
                       "Request Failed: internal server error while processing your request.")


class PolicyApi:
    def __init__(self, service: PolicyService, validator, public_url: str) -> None:
        self.service = service
        self.validator = validator
        self.public_url = public_url.rstrip("/")

    def routes(self) -> list[web.RouteDef]:
        return [web.route("*", PATH, self.handle), web.route("*", PATH + "/{tail:.*}",
                                                             self.handle)]

    async def handle(self, request: web.Request) -> web.StreamResponse:
        started = time.monotonic()
        status = 500
        try:
            response = await self._dispatch(request)
        except PolicyError as exc:
            response = _error(exc)
        except NeutronFailure as exc:
            response = _error(PolicyError(exc.status, exc.type, exc.message))
        except Exception:  # noqa: BLE001 - every failure is an answer in Neutron's form
            log.exception("GBP request failed")
            response = _error(INTERNAL)
        status = response.status
        log.info("%s %s %s %.1fms", request.method, request.path, status,
                 (time.monotonic() - started) * 1000)
        return response

    async def _dispatch(self, request: web.Request) -> web.Response:
        parts = [p for p in request.path[len(PATH):].split("/") if p]
        if parts and parts[-1].endswith(".json"):
            parts[-1] = parts[-1][:-len(".json")]
        if not parts:
            return self._only(request, "GET") or _json(200, self._versions())
        if parts[0] != VERSION:
            raise _not_found()
        parts = parts[1:]
        if not parts:
            return self._only(request, "GET") or _json(200, self._resources())
        if len(parts) > 1 and parts[1] in RESOURCES and parts[0] == PREFIXES[parts[1]]:
            parts = parts[1:]
        if parts[0] not in RESOURCES or len(parts) > 2:
            raise _not_found()
        collection = parts[0]
        resource_id = parts[1] if len(parts) == 2 else None
        allowed = ("GET", "PUT", "DELETE") if resource_id else ("GET", "POST")
        refusal = self._only(request, *allowed)
        if refusal is not None:
            return refusal
        ctx = await self._context(request)
        service = self.service
        singular = RESOURCES[collection]
        fields = request.query.getall("fields", [])
        if request.method == "GET" and resource_id is None:
            filters = [(k, v) for k, v in request.query.items() if k != "fields"]
            items = await service.list(ctx, collection, filters, fields)
            return _json(200, {collection: items})
        if request.method == "GET":
            return _json(200, {singular: await service.show(ctx, collection, resource_id,
                                                            fields)})
        if request.method == "DELETE":
            await service.delete(ctx, collection, resource_id)
            return web.Response(status=204)
        body = await _body(request)
        if request.method == "POST":
            return _json(201, {singular: await service.create(ctx, collection, body)})
        return _json(200, {singular: await service.update(ctx, collection, resource_id,
                                                          body)})

    async def _context(self, request: web.Request) -> Context:
        try:
            caller = await self.validator.identify(request.headers.get("X-Auth-Token"))
        except Unauthenticated:
            raise _Unauthenticated(self.validator.auth_url) from None
        except IdentityUnavailable as exc:
            raise PolicyError(503, "ServiceUnavailable",
                              f"The token cannot be validated now: {exc.reason}.") from None
        provider = request.headers.get(PROVIDER_HEADER, "").strip() or None
        return Context(project_id=caller.project_id, is_admin=caller.is_admin,
                       token=caller.token, provider=provider)

    @staticmethod
    def _only(request: web.Request, *methods: str) -> web.Response | None:
        if request.method in methods:
            return None
        response = _error(PolicyError(405, "HTTPMethodNotAllowed",
                                      "The server could not comply with the request since it "
                                      "is either malformed or otherwise incorrect."))
        response.headers["Allow"] = ", ".join(methods)
        return response

    def _versions(self) -> dict:
        return {"versions": [{"id": VERSION, "status": "CURRENT", "links": [
            {"href": f"{self.public_url}{PATH}/{VERSION}/", "rel": "self"}]}]}

    def _resources(self) -> dict:
        return {"resources": [
            {"name": singular, "collection": collection, "links": [
                {"href": f"{self.public_url}{PATH}/{VERSION}/{collection}", "rel": "self"}]}
            for collection, singular in RESOURCES.items()]}


class _Unauthenticated(PolicyError):
    """keystonemiddleware's 401, in Keystone's form, with the Keystone to get a token from."""

    def __init__(self, auth_url: str) -> None:
        super().__init__(401, "Unauthorized",
                         "The request you have made requires authentication.")
        self.auth_url = auth_url

    def body(self) -> dict:
        return {"error": {"code": 401, "title": "Unauthorized", "message": self.message}}


def _error(exc: PolicyError) -> web.Response:
    response = web.Response(status=exc.status, body=orjson.dumps(exc.body()),
                            content_type="application/json")
    if isinstance(exc, _Unauthenticated):
        response.headers["WWW-Authenticate"] = f'Keystone uri="{exc.auth_url}"'
    return response


def _json(status: int, document: dict) -> web.Response:
    return web.Response(status=status, body=orjson.dumps(document),
                        content_type="application/json")


def _not_found() -> PolicyError:
    return PolicyError(404, "HTTPNotFound", "The resource could not be found.")


async def _body(request: web.Request) -> object:
    raw = await request.read()
    if not raw:
        return None
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise PolicyError(400, "HTTPBadRequest", "Malformed JSON in request body.") from None


def build(conf, engine, validator, http, home: str) -> PolicyApi:
    """The GBP API of a gateway (``ocx.api.server``): its store on the gateway's database
    engine, Neutron reached through this OCX's own public endpoint over ``http``."""
    from .. import config
    from ..store.policy import PolicyStore
    from . import nodes
    from .neutron import NeutronClients
    from .service import Settings

    group = conf.policy
    public_url = config.public_url(conf)
    settings = Settings(provider=group.provider or home,
                        proxy_ip_pool=group.default_proxy_ip_pool,
                        proxy_subnet_prefix_length=group.default_proxy_subnet_prefix_length,
                        default_ip_pool=group.default_ip_pool,
                        default_subnet_prefix_length=group.default_subnet_prefix_length)
    clients = NeutronClients(http, public_url, conf.connect_timeout + conf.call_timeout)
    service = PolicyService(PolicyStore(engine), clients, settings,
                            nodes.load(list(group.node_drivers)))
    return PolicyApi(service, validator, public_url)
