"""OCX's own API about projects (issue 8):

    GET /ocx/v1/projects   (admin) per local project: its home, its foreign providers, the
                           remote project at each, those that hold nothing of it, when each
                           was last seen; read from the store, no token in it.
    GET /ocx/v1/quotas     the caller's project at each provider it uses: the remote project,
                           and the quotas and usage of compute, volume and network there
                           (seed 004 vs Mercador: "we need to expose project for quota
                           polling").

Quotas are asked with the caller's own credentials at each provider, every provider and
service at once, with the services' own quota APIs (Nova ``os-quota-sets/{project}/detail``,
Cinder ``os-quota-sets/{project}?usage=true``, Neutron ``quotas/{project}/details``). Each
provider has ``timeout`` seconds: one that fails or takes longer is reported with its reason.
"""
from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence

import orjson
from aiohttp import web
from multidict import MultiDict, MultiDictProxy

from ..backends.base import ProviderFailure, ServiceNotOffered
from ..call import ApiRequest
from ..identity.errors import K2KFailed, NoRemoteProject
from ..identity.usage import project_records
from ..routing.execute import gather
from .callers import ADMIN_ROLE, admin_of, caller_of
from .errors import OcxError, error_response
from .usage import narrowed

PROJECTS_PATH = "/ocx/v1/projects"
QUOTAS_PATH = "/ocx/v1/quotas"


def quota_calls(remote_project: str, caller_project: str) -> dict[str, ApiRequest]:
    """The quota-and-usage call of each service for ``remote_project``."""
    def own(service: str, collection: str, *subpath: str) -> ApiRequest:
        return ApiRequest.own("GET", service, caller_project, collection, remote_project,
                              *subpath)

    return {"compute": own("compute", "os-quota-sets", "detail"),
            "volume": own("volume", "os-quota-sets").replace(
                query=MultiDictProxy(MultiDict(usage="true"))),
            "network": own("network", "quotas", "details")}


def quota_usage(service: str, document: object) -> dict[str, dict[str, int]] | None:
    """Each resource's ``limit``, ``in_use`` and ``reserved`` from a service's answer (Neutron
    says ``used``); None when the answer is not such a document. Pure."""
    if not isinstance(document, dict):
        return None
    body = document.get("quota" if service == "network" else "quota_set")
    if not isinstance(body, dict):
        return None
    result = {}
    for name, value in body.items():
        if isinstance(value, dict) and "limit" in value:
            result[name] = {"limit": value["limit"],
                            "in_use": value.get("in_use", value.get("used", 0)),
                            "reserved": value.get("reserved", 0)}
    return result


class ProjectsApi:
    def __init__(self, *, validator, store, usage, mapper, executor, providers: Sequence[str],
                 configured: Mapping[str, Sequence[str]], timeout: float) -> None:
        self.validator = validator
        self.store = store
        self.usage = usage
        self.mapper = mapper
        self.executor = executor
        self.providers = providers   # home first; read at each call (it may change)
        self.configured = configured
        self.timeout = timeout

    def routes(self) -> list[web.RouteDef]:
        return [web.get(PROJECTS_PATH, self.projects), web.get(QUOTAS_PATH, self.quotas)]

    async def projects(self, request: web.Request) -> web.Response:
        try:
            await admin_of(self.validator, request,
                           f"Listing the projects OCX serves needs the role {ADMIN_ROLE!r} "
                           "on the caller's token.")
            rows = await self.store.projects.all()
        except OcxError as exc:
            return error_response(None, exc)
        records = project_records(rows, home=tuple(self.providers)[0],
                                  configured=self.configured)
        return _json({"projects": records})

    async def quotas(self, request: web.Request) -> web.Response:
        try:
            caller = await caller_of(self.validator, request)
        except OcxError as exc:
            return error_response(None, exc)
        providers = tuple(self.providers)
        targets = await narrowed(self.usage, caller, providers, providers[0])
        deadline = asyncio.get_running_loop().time() + self.timeout
        results = await gather({p: self._at(caller, p, deadline) for p in targets}, deadline)
        quotas = []
        for provider in targets:
            result = results[provider]
            if isinstance(result, ProviderFailure):
                result = {"provider": provider, "remote_project": None, "error": result.reason}
            if result is not None:
                quotas.append(result)
        return _json({"project_id": caller.project_id, "project_name": caller.project_name,
                      "quotas": quotas})

    async def _at(self, caller, provider: str, deadline: float) -> dict | None:
        """The caller's quotas at one provider; None when it holds nothing of the project."""
        try:
            credentials = await self.mapper.credentials(caller, provider)
        except NoRemoteProject as exc:
            if exc.candidates == 0:
                return None
            return {"provider": provider, "remote_project": None, "error": str(exc)}
        except (K2KFailed, ProviderFailure) as exc:
            return {"provider": provider, "remote_project": None, "error": exc.reason}
        remote = credentials.project_id
        calls = quota_calls(remote, caller.project_id)
        answers = await gather({s: self.executor.send(provider, r, credentials)
                                for s, r in calls.items()}, deadline)
        services: dict[str, dict] = {}
        errors: dict[str, str] = {}
        for service, answer in answers.items():
            if isinstance(answer, ServiceNotOffered):
                continue      # the provider has no such service: nothing to report
            if isinstance(answer, ProviderFailure):
                errors[service] = answer.reason
                continue
            answer.release()
            usage = None
            if answer.ok:
                try:
                    usage = quota_usage(service, orjson.loads(answer.body or b""))
                except orjson.JSONDecodeError:
                    pass
            if usage is None:
                errors[service] = (f"answered {answer.status}" if not answer.ok else
                                   "answered with something that is not a quota set")
            else:
                services[service] = usage
        result = {"provider": provider, "remote_project": remote, **services}
        if errors:
            result["errors"] = errors
        return result


def _json(document: dict) -> web.Response:
    return web.Response(status=200, content_type="application/json",
                        body=orjson.dumps(document))
