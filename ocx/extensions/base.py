"""Extensions (seed 000, primitive 3): code that joins the call for some methods and paths.

An extension is a small class. It names the methods and path templates it is for and defines
any of three hooks, each named after the stage it runs in. The pipeline finds the hooks by name,
runs the matching extensions in the order configured, and never imports a concrete extension.

Path templates are written over the *resource path*: the service, the collection, the id and
what follows, without the version or the project id (so one template serves both the
``/v2.1/servers`` and ``/v2.1/{project}/servers`` forms)::

    /compute/servers/{server_id}/os-volume_attachments
    /volume/volumes
"""
from __future__ import annotations

import inspect
import re
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any, ClassVar

from ..call import ApiRequest, Shaped

if TYPE_CHECKING:
    from ..routing.plan import Plan

ENTRY_POINT_GROUP = "ocx.extensions"


class ExtensionError(Exception):
    """An extension's answer to a call it cannot let through: ``status`` and ``message`` are
    given to the caller in the service's own error format (``kind``: the error's type where
    the format names one, as Neutron's ``TunnelIdInUse``)."""

    def __init__(self, status: int, message: str, kind: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.kind = kind


@dataclass(frozen=True)
class Located:
    """Where another resource the call names lives: the provider and the project there."""

    provider: str
    remote_project: str | None


@dataclass
class Call:
    """One call on its way through the stages; extensions read and replace its parts.

    ``response`` is set by whoever answers: the pipeline after shaping, or an extension that
    answers the call itself (the pipeline then skips planning and execution). ``locate``
    finds, for this caller, where another resource lives (its mapping, else a search, which is
    learned): ``await call.locate("volume", "volumes", volume_id)`` → :class:`Located` or None.
    """

    request: ApiRequest
    caller: Any                       # identity.caller.Caller
    plan: Plan | None = None
    response: Shaped | None = None
    extras: dict[str, Any] = field(default_factory=dict)
    locate: Callable[[str, str, str], Awaitable[Located | None]] | None = \
        field(default=None, repr=False)


class Extension:
    """Base of every extension; override what you need."""

    name: ClassVar[str] = ""
    methods: ClassVar[frozenset[str]] = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH",
                                                   "DELETE"})
    paths: ClassVar[tuple[str, ...]] = ()

    async def start(self) -> None:
        """When the gateway opens: work of the extension's own that outlives one call."""

    async def stop(self) -> None:
        """When the gateway closes (also after a failed start of a later extension)."""

    async def on_request(self, call: Call, params: dict[str, str]) -> None:
        """After identify, before plan. May replace ``call.request`` or set ``call.response``."""

    async def on_plan(self, call: Call, params: dict[str, str]) -> None:
        """After plan, before credit. May replace ``call.plan``."""

    async def on_response(self, call: Call, params: dict[str, str]) -> None:
        """After shape. May replace ``call.response``; it must stay a complete answer."""


def resource_path(request: ApiRequest) -> str:
    parts = [request.service]
    if request.collection:
        parts.append(request.collection)
    if request.resource_id is not None:
        parts.append(request.resource_id)
    elif request.detail:
        parts.append("detail")
    parts.extend(request.subpath)
    return "/" + "/".join(parts)


def compile_template(template: str) -> re.Pattern:
    pattern = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(template.rstrip("/")))
    return re.compile(f"^{pattern}$")


class Extensions:
    """The extensions of one gateway, compiled once at start-up and frozen.

    Indexed by service, so that a call tries only the extensions for its own service.
    """

    def __init__(self, extensions: Iterable[Extension]) -> None:
        self._extensions = tuple(extensions)
        by_service: dict[str, list] = {}
        for ext in self._extensions:
            for service in dict.fromkeys(t.split("/")[1] for t in ext.paths):
                patterns = tuple(compile_template(t) for t in ext.paths
                                 if t.split("/")[1] == service)
                by_service.setdefault(service, []).append((ext, frozenset(ext.methods),
                                                           patterns))
        self._by_service = {service: tuple(found) for service, found in by_service.items()}

    def __len__(self) -> int:
        return len(self._extensions)

    def __iter__(self):
        return iter(self._extensions)  # in the order their hooks run

    def match(self, request: ApiRequest) -> list[tuple[Extension, dict[str, str]]]:
        candidates = self._by_service.get(request.service)
        if not candidates:
            return []
        path = resource_path(request)
        found = []
        for ext, methods, patterns in candidates:
            if request.method not in methods:
                continue
            for pattern in patterns:
                m = pattern.match(path)
                if m:
                    found.append((ext, m.groupdict()))
                    break
        return found


def load(names: Iterable[str], **context) -> Extensions:
    """Instantiate the named extensions from the ``ocx.extensions`` entry points, in order.

    ``context`` (store, executor, ...) is passed to each extension's constructor as keywords it
    accepts.
    """
    available = {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}
    loaded = []
    for name in names:
        if name not in available:
            raise ValueError(f"unknown extension {name!r}; installed: "
                             f"{', '.join(sorted(available)) or 'none'}")
        cls = available[name].load()
        accepted = inspect.signature(cls).parameters
        loaded.append(cls(**{k: v for k, v in context.items() if k in accepted}))
    return Extensions(loaded)
