"""The gateway: one call, top to bottom.

    parse → identify → extend → plan → credit → execute → shape

Each stage is one call into the module that owns it; this module only strings them together,
reads the inbound request and writes the answer. Every failure becomes an answer in the
service's own error format.
"""
from __future__ import annotations

import asyncio
import functools
import hashlib
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from .. import logs, metrics
from ..backends.base import (Credentials, ProviderFailure, ProviderResponse,
                             ProviderUnreachable)
from ..call import SERVICES, ApiRequest
from ..extensions.base import Call, ExtensionError, Extensions, Located
from ..identity.errors import (IdentityUnavailable, K2KFailed, NoRemoteProject, NotInjected,
                               Unauthenticated)
from ..routing import plan as planning
from ..routing.documents import Combine, Versions
from ..routing.execute import Executor, Outcome, SearchFailed
from ..store import ResourceMapping
from ..store.outage import unreachable as store_unreachable
from .errors import OcxError, error_response
from .limits import read_body
from .request import ParseError, parse
from .fanout import Fanout, ListingSettings
from .usage import narrowed
from .response import Shaped, shape

log = logging.getLogger(__name__)

# Bodies of these types are read (extensions and learning look at them); others stream.
READ_TYPES = ("application/json", "application/openstack-images-v2.1-json-patch",
              "application/openstack-images-v2.0-json-patch")
MAX_READ_BODY = 16 << 20
CHUNK = 256 << 10


def marker_key(store_keys: Sequence[str]) -> bytes:
    """The key of OCX's markers, derived from the store's newest key: the same in every worker
    and after a restart, so that a ``next`` link outlives the process that gave it."""
    return hashlib.sha256(b"ocx listing marker\0" + store_keys[0].encode()).digest()


@dataclass(frozen=True)
class Stages:
    """What the pipeline calls; built once in :mod:`ocx.api.server` and never changed."""

    validator: object          # identity.validate.TokenValidator: identify(token) -> Caller
    mapper: object             # identity.tokens.TokenMapper: credentials(caller, provider)
    store: object              # store.MappingStore
    executor: Executor
    extensions: Extensions
    providers: Sequence[str]   # every provider, home first
    defaults: Mapping[str, str]  # OCX service → provider of creates and listings
    public_url: str
    via: str                   # this OCX's id in X-OCX-Via (loop guard)
    listing: ListingSettings
    reachable: Sequence[str] = ()  # providers reached only with a peer's injected mappings
    voucher: object = None     # identity.vouch.ServiceVoucher: token_at(service_token, provider)
    usage: object = None       # identity.usage.ProjectUsage: the providers each project uses
    max_body: int = MAX_READ_BODY  # bytes of a JSON body read ([DEFAULT] max_request_body_size)


def _wants_body(request: web.Request) -> bool:
    ctype = request.content_type
    return request.can_read_body and (ctype in READ_TYPES or ctype.endswith("+json")
                                      or (request.content_length or 0) == 0)


async def read_request(request: web.Request,
                       max_body: int = MAX_READ_BODY) -> tuple[ApiRequest, object]:
    """Parse the inbound request; JSON bodies are read, others stay a stream to forward."""
    body: bytes | None = None
    stream = None
    if request.can_read_body:
        if _wants_body(request):
            if (request.content_length or 0) > max_body:
                raise OcxError(413, "The request body is too large.")
            try:
                body = await read_body(request.content, max_body)
            except HttpProcessingError:
                # aiohttp's parser refused the body's framing (a bad chunk, a wrong length).
                raise OcxError(400, "The request body's framing is not valid.") from None
            if len(body) > max_body:
                raise OcxError(413, "The request body is too large.")
        else:
            stream = request.content.iter_chunked(CHUNK)
    api = parse(request.method, request.raw_path.split("?", 1)[0], request.query,
                request.headers, body)
    return api, (body if body is not None else stream)


class Gateway:
    def __init__(self, stages: Stages) -> None:
        self.s = stages
        self.fanout = Fanout(stages.executor, stages.store, stages.listing, self._base)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        started = time.monotonic()
        # The service as the path was sent (aiohttp's match is decoded: /%63ompute is none);
        # a path of no service OCX serves has its 404 in Keystone's JSON form.
        segments = request.raw_path.split("?", 1)[0].split("/", 2)
        service = segments[1] if len(segments) > 1 and segments[1] in SERVICES else None
        accept = request.headers.get("Accept", "")
        outcome = "error"
        provider = "none"   # who answered: a provider, "multiple" (merged), none (OCX itself)
        try:
            if self.s.via in request.headers.getall("X-OCX-Via", ()):
                raise OcxError(508, "The call came back to this OCX: a forwarding loop between "
                                    "gateways was stopped.")
            api, body = await read_request(request, self.s.max_body)              # parse
            token = request.headers.get("X-Auth-Token")
            identifying = time.monotonic()
            caller = await self._identify(token, api)                             # identify
            metrics.stage("identify", time.monotonic() - identifying)
            if caller is None:
                # Version documents answer without a (valid) token in the real services.
                shaped, answer = await self._version_document(api)
                outcome, provider = str(shaped.status), self.s.providers[0]
                return await self._write(request, shaped, answer)
            logs.identified(caller.user_id, caller.project_id)
            call = Call(api, caller, locate=functools.partial(self._locate, caller))
            matched = self.s.extensions.match(api)
            for ext, params in matched:                                           # extend
                await ext.on_request(call, params)
                if call.response is not None:
                    break
            answer = None
            if call.response is None:
                planning_at = time.monotonic()
                call.plan = await self._plan(call)                                # plan
                metrics.stage("plan", time.monotonic() - planning_at)
                for ext, params in matched:
                    await ext.on_plan(call, params)
                if call.plan.kind is planning.Kind.AGGREGATE:
                    call.response = await self._aggregate(call)       # credit, execute, shape
                    provider = "multiple"
                else:
                    if call.request.body is not None:
                        body = call.request.body  # as the extensions left it
                    answer = await self._execute(call, body)                      # credit, execute
                    provider = answer.provider
                    call.response = shape(call.request, answer, self._base(api.service),  # shape
                                          caller.project_id, call.plan.learn)
                await self._learn(call)
                for ext, params in matched:
                    await ext.on_response(call, params)
            outcome = str(call.response.status)
            return await self._write(request, call.response, answer)
        except Exception as exc:  # noqa: BLE001 - every failure is an answer in the service's form
            err = self._as_error(exc)
            outcome = str(err.status)
            return error_response(service, err, accept)
        finally:
            elapsed = time.monotonic() - started
            metrics.request(service or "none", request.method, provider, outcome, elapsed)
            # One line per call, as an OpenStack API's WSGI line (the ids come with every
            # line: ocx.logs); the path without its query (a marker, a name filter).
            log.info('"%s %s" status: %s provider: %s time: %.4f', request.method,
                     request.path, outcome, provider, elapsed)

    async def _identify(self, token: str | None, api: ApiRequest):
        """The caller; None for a version document asked without a token or with a bad one."""
        anonymous_ok = api.is_version_document and api.method in ("GET", "HEAD")
        if not token and anonymous_ok:
            return None
        try:
            return await self.s.validator.identify(token)
        except Unauthenticated:
            if anonymous_ok:
                return None
            raise

    async def _version_document(self, api: ApiRequest
                                ) -> tuple[Shaped, ProviderResponse | None]:
        """A version document asked without a (valid) token: the home cloud asked the same way
        (the path as given, a project id in it included), so that the caller gets what the
        service gives an anonymous caller: a document, or a 401 where the service wants a
        token for it (Cinder's ``/v3/``). Where home gives the document, the one last combined
        over every cloud for a caller with a token is given instead, if there is one, with
        home's headers (the microversion named is this caller's)."""
        home = self.s.providers[0]
        anonymous = Credentials("", api.project_id,
                                tuple(await self.s.validator.service_catalog()))
        answer = await self.s.executor.send(home, api, anonymous)
        shaped = shape(api, answer, self._base(api.service), api.project_id, learn=False)
        recent = self._recent_versions(api, shaped)
        if recent is None:
            return shaped, answer
        answer.release()
        return recent, None

    def _recent_versions(self, api: ApiRequest, home: Shaped) -> Shaped | None:
        """Home's answer ``home`` with the body of the version document combined over every
        cloud a moment ago, when there is one and home answers as it did then."""
        combined = self.fanout.versions.get(api)
        if combined is None or combined.status != home.status or home.body is None:
            return None
        return Shaped(home.status, home.headers, combined.body)

    async def _versions_from_home(self, call: Call) -> Shaped | None:
        """A version document for a caller with a token, from the one combined a moment ago
        and home's answer (asked with the caller's own token): every client discovers the
        services at its start, and combining anew means a K2K exchange with every provider."""
        api = call.request
        if self.fanout.versions.get(api) is None:
            return None
        home = self.s.providers[0]
        answer = await self.s.executor.send(home, api, await self._credit(call.caller, home))
        recent = self._recent_versions(api, shape(api, answer, self._base(api.service),
                                                  call.caller.project_id, learn=False))
        answer.release()
        return recent

    def _base(self, service: str) -> str:
        return f"{self.s.public_url}/{service}"

    async def _plan(self, call: Call) -> planning.Plan:
        api = call.request
        mapped = None
        if api.resource_id is not None and planning.learnable(api) \
                and planning.named_provider(api) is None:
            mapping = await self.s.store.get_resource_mapping(api.collection, api.resource_id)
            mapped = mapping.provider if mapping else None
        return planning.plan(api, providers=self.s.providers,
                             default=self.s.defaults.get(api.service, self.s.providers[0]),
                             mapped_provider=mapped, reachable=self.s.reachable)

    async def _locate(self, caller, service: str, collection: str,
                      resource_id: str) -> Located | None:
        """Where another resource lives for ``caller`` (for extensions): its mapping, else a
        search, learned; None when no provider has it."""
        call = Call(ApiRequest.own("GET", service, caller.project_id, collection, resource_id),
                    caller)
        call.plan = await self._plan(call)
        try:
            answer = await self._execute(call, None)
        except SearchFailed as exc:
            if exc.not_found:
                return None
            raise
        answer.release()
        if not answer.ok:
            return None
        await self.s.store.put_resource_mappings([ResourceMapping.learned(
            collection, resource_id, answer.provider, answer.remote_project, None, "search")])
        return Located(answer.provider, answer.remote_project)

    async def _credit(self, caller, provider: str, service_token: str | None = None
                      ) -> Credentials:
        """The caller's credentials at ``provider``; with the service token OCX vouches with
        there when the call carries a home service's (``service_token``)."""
        credentials = await self.s.mapper.credentials(caller, provider)
        if service_token and self.s.voucher is not None:
            vouched = await self.s.voucher.token_at(service_token, provider)
            if vouched:
                return replace(credentials, service_token=vouched)
        return credentials

    async def _execute(self, call: Call, body) -> ProviderResponse:
        plan, api = call.plan, call.request
        if plan.kind is planning.Kind.SINGLE:
            try:
                credentials = await self._credit(call.caller, plan.target,
                                                 _service_token(api))
            except NotInjected:
                if not plan.mapped:
                    raise
                # A peer injected where the resource lives for another token, not this one:
                # to this caller it is a resource like any other, to be searched for.
                call.plan = planning.after_stale(plan, self.s.providers)
                return await self._search(call, body)
            answer = await self.s.executor.send(plan.target, api, credentials, body)
            if not (plan.mapped and answer.status == 404):
                return answer
            # The mapping went stale: forget it and search, unless the body cannot be re-sent.
            # Only a 404 to the project the mapping was learned for says so: another
            # project's caller is refused a resource that is there, and must not take away
            # the mapping its owner's calls use (issue 12, isolation).
            stale = await self.s.store.get_resource_mapping(api.collection, api.resource_id)
            if stale is None or stale.remote_project in (None, credentials.project_id):
                await self.s.store.delete_resource_mapping(api.collection, api.resource_id)
            if body is not None and not isinstance(body, bytes):
                return answer
            answer.release()
            call.plan = planning.after_stale(plan, self.s.providers)
        return await self._search(call, body)

    async def _search(self, call: Call, body) -> ProviderResponse:
        # Only the providers the caller's project uses (``routing.targets``).
        credited, failed = await self._credit_all(call.caller, await self._targets(call),
                                                  _service_token(call.request))
        credited.update({p: Outcome(p, failure=_reason(exc), absent=_holds_nothing(exc))
                         for p, exc in failed.items()})
        return await self.s.executor.search(call.request, credited, by_arrival=call.plan.learn,
                                            body=body)

    async def _targets(self, call: Call) -> tuple[str, ...]:
        """The plan's targets the caller's project's listing or search goes to."""
        return await narrowed(self.s.usage, call.caller, call.plan.targets, self.s.providers[0])

    async def _credit_all(self, caller, providers: Sequence[str],
                          service_token: str | None = None
                          ) -> tuple[dict[str, Credentials], dict[str, Exception]]:
        """Credentials at each provider, and why there are none at the others."""
        # A provider that is down is skipped at once: no K2K exchange, no call (routing.execute).
        asked = [p for p in providers if not self.s.executor.is_down(p)]
        results = await asyncio.gather(*(self._credit(caller, p, service_token)
                                         for p in asked),
                                       return_exceptions=True)
        credited: dict[str, Credentials] = {}
        failed: dict[str, Exception] = {
            p: ProviderUnreachable(p, "is down; skipped until it answers again")
            for p in providers if p not in asked}
        for provider, result in zip(asked, results):
            if isinstance(result, (K2KFailed, ProviderFailure, NoRemoteProject)):
                failed[provider] = result
            elif isinstance(result, BaseException):
                raise result
            else:
                credited[provider] = result
        return credited, failed

    async def _aggregate(self, call: Call) -> Shaped:
        """Every provider asked at once, their answers merged into one (``fanout``)."""
        if isinstance(call.plan.merge, Versions):
            recent = await self._versions_from_home(call)
            if recent is not None:
                return recent
        credited, failed = await self._credit_all(call.caller, await self._targets(call))
        missing = {p: _reason(exc) for p, exc in failed.items() if not _holds_nothing(exc)}
        if isinstance(call.plan.merge, Combine):
            return await self.fanout.document(call, credited, missing)
        return await self.fanout.listing(call, credited, missing)

    async def _learn(self, call: Call) -> None:
        learned = call.response.learned
        if not learned:
            return
        source = ("create" if call.request.is_create else
                  "listing" if call.request.listing else
                  "search" if call.plan.kind is planning.Kind.SEARCH else "response")
        await self.s.store.put_resource_mappings(
            ResourceMapping.learned(call.request.collection, found.resource_id,
                                    found.provider, found.remote_project, found.endpoint, source)
            for found in learned)

    @staticmethod
    async def _write(request: web.Request, shaped: Shaped,
                     answer: ProviderResponse | None) -> web.StreamResponse:
        if shaped.body is not None or answer is None or answer.stream is None:
            return web.Response(status=shaped.status, headers=shaped.headers,
                                body=shaped.body or b"")
        # A streamed answer (image data): piped chunk by chunk, never held whole.
        response = web.StreamResponse(status=shaped.status, headers=shaped.headers)
        if answer.content_length is not None:
            response.content_length = answer.content_length
        try:
            await response.prepare(request)
            async for chunk in answer.stream.content.iter_chunked(CHUNK):
                await response.write(chunk)
            await response.write_eof()
        finally:
            answer.release()
        return response

    def _as_error(self, exc: Exception) -> OcxError:
        if isinstance(exc, OcxError):
            return exc
        if isinstance(exc, ExtensionError):
            return OcxError(exc.status, exc.message, kind=exc.kind)
        if isinstance(exc, (ParseError, planning.PlanError)):
            return OcxError(exc.status, exc.message)
        if isinstance(exc, Unauthenticated):
            # keystonemiddleware's answer, with the Keystone to get a token from.
            keystone = self.s.validator.auth_url
            return OcxError(401, "The request you have made requires authentication.",
                            headers={"WWW-Authenticate": f'Keystone uri="{keystone}"'})
        if isinstance(exc, IdentityUnavailable):
            return OcxError(503, f"The token cannot be validated now: {exc.reason}.")
        if isinstance(exc, SearchFailed):
            if exc.not_found:
                return OcxError(404, "The resource could not be found.", kind="NotFound")
            return OcxError(502, "No provider could answer for the resource: "
                                 + "; ".join(o.describe() for o in exc.outcomes))
        if isinstance(exc, ProviderFailure):
            return OcxError(exc.status, f"Provider {exc.provider} {exc.reason}.")
        if isinstance(exc, K2KFailed):
            return OcxError(502, f"No token could be had at provider {exc.provider}: "
                                 f"{exc.reason}.")
        if isinstance(exc, NoRemoteProject):
            return OcxError(403, str(exc))
        if store_unreachable(exc):   # down, restarting, or silent past [store] timeout
            log.warning("the mapping store cannot be reached: %s", type(exc).__name__)
            return OcxError(503, "The mapping store cannot be reached now; try again shortly.")
        log.exception("unexpected failure")
        return OcxError(500, "OCX failed to handle the request; the failure is logged.")


def _service_token(api: ApiRequest) -> str | None:
    """The token a service (the home cloud's Nova) sent next to the user's."""
    return api.headers.get("X-Service-Token") or None


def _reason(failure: Exception) -> str:
    return getattr(failure, "reason", None) or str(failure)


def _holds_nothing(failure: Exception) -> bool:
    """A provider where the caller has no project holds nothing of theirs: not missing."""
    return isinstance(failure, NoRemoteProject) and failure.candidates == 0


@web.middleware
async def request_ids(request: web.Request, handler):
    """Every call its own request id (and the caller's global one), for its log lines, the
    providers and the answer (``ocx.logs``; oslo.middleware's ``RequestId``)."""
    logs.begin(request.headers.get(logs.HEADER))
    return await handler(request)


async def _answer_request_id(request: web.Request, response: web.StreamResponse) -> None:
    """The answer names OCX's id of the call, not the provider's (Nova's own header too)."""
    ids = logs.current()
    if ids is not None:
        response.headers[logs.HEADER] = ids.request_id
        if "X-Compute-Request-ID" in response.headers:
            response.headers["X-Compute-Request-ID"] = ids.request_id


async def _not_allowed(methods: list[str], request: web.Request) -> web.Response:
    return error_response(None, OcxError(405, "The method is not allowed for the requested "
                                              "URL.", headers={"Allow": ", ".join(methods)}))


def make_app(stages: Stages, *, client_max_size: int = MAX_READ_BODY,
             routes: Sequence[web.AbstractRouteDef] = ()) -> web.Application:
    """The gateway; ``routes`` (OCX's own API under ``/ocx``) are matched before the services."""
    gateway = Gateway(stages)
    app = web.Application(client_max_size=client_max_size, middlewares=[request_ids])
    app.on_response_prepare.append(_answer_request_id)
    app.router.add_routes(routes)
    # Another method on one of OCX's own paths is 405 naming those it takes (not the 404 of
    # a service that does not exist); every other path is the services'.
    allowed: dict[str, set[str]] = {}
    for route in routes:
        if isinstance(route, web.RouteDef) and route.method != "*":
            allowed.setdefault(route.path, set()).update(
                (route.method, "HEAD") if route.method == "GET" else (route.method,))
    for path, methods in allowed.items():
        app.router.add_route("*", path, functools.partial(_not_allowed, sorted(methods)))
    app.router.add_route("*", "/", gateway.handle)
    app.router.add_route("*", "/{service}", gateway.handle)
    app.router.add_route("*", "/{service}/{tail:.*}", gateway.handle)
    return app
