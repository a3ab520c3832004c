"""The objects one call carries through the stages: what every stage and extension sees (the
request as OCX understands it, and the answer the caller gets).

Kept apart from ``api`` so that ``routing``, ``extensions`` and ``backends`` can use them while
nothing imports ``api``.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from urllib.parse import quote

from multidict import CIMultiDict, CIMultiDictProxy, MultiDict, MultiDictProxy

# OCX prefix → the catalog types a provider may list the service under, preferred first.
SERVICES: dict[str, tuple[str, ...]] = {
    "compute": ("compute",),
    "volume": ("block-storage", "volumev3", "volume"),
    "image": ("image",),
    "network": ("network",),
}

# The API version OCX asks a service in when it makes a call of its own.
API_VERSIONS = {"compute": "v2.1", "volume": "v3", "image": "v2", "network": "v2.0"}

# Characters left as they are when a decoded segment is put back in a path (RFC 3986 pchar).
_SAFE = "-._~!$&'()*+,;=:@"


@dataclass(frozen=True)
class ApiRequest:
    """One call as OCX understands it. Changed only by copying (:meth:`replace`)."""

    method: str
    service: str                      # "compute" | "volume" | "image" | "network"
    version: str | None               # "v2.1", "v3", "v2", "v2.0"; None at the service root
    project_id: str | None            # the project id in the path, when the service uses one
    collection: str | None            # "servers", "volumes", "images", "os-keypairs", ...
    resource_id: str | None           # the id (or name) after the collection
    subpath: tuple[str, ...]          # raw segments after the id ("action", "file", ...)
    query: MultiDictProxy = field(repr=False)
    headers: CIMultiDictProxy = field(repr=False)
    listing: bool = False             # GET of a collection (or its "detail")
    detail: bool = False              # the "detail" form of a listing
    body: bytes | None = field(default=None, repr=False)  # None: not read (streamed or empty)
    # The path ended with a slash, which the services tell apart (Cinder's ``/v3`` redirects
    # to ``/v3/``, Neutron lists its resources at ``/v2.0/`` and answers 404 at ``/v2.0``,
    # Nova's ``/v2.1/servers/`` is 404): providers get the path the caller sent.
    trailing_slash: bool = False

    @classmethod
    def own(cls, method: str, service: str, project_id: str, collection: str,
            resource_id: str, *subpath: str) -> ApiRequest:
        """A call OCX makes itself for a caller of ``project_id`` (no query, no body)."""
        return cls(method=method, service=service, version=API_VERSIONS[service],
                   project_id=project_id if service in ("compute", "volume") else None,
                   collection=collection, resource_id=resource_id, subpath=subpath,
                   query=MultiDictProxy(MultiDict()), headers=CIMultiDictProxy(CIMultiDict()))

    def replace(self, **changes) -> ApiRequest:
        return replace(self, **changes)

    @property
    def is_version_document(self) -> bool:
        """The service root, a version root, or a document under the root (Glance's /versions)."""
        return self.version is None or self.collection is None

    @property
    def is_create(self) -> bool:
        return self.method == "POST" and self.collection is not None \
            and self.resource_id is None

    def path_for(self, project_id: str | None) -> str:
        """The path to send to a provider, its project id in place of the caller's."""
        parts = [self.version] if self.version else []
        if self.project_id is not None and project_id is not None:
            parts.append(project_id)
        if self.collection:
            parts.append(quote(self.collection, safe=_SAFE))
        if self.resource_id is not None:
            parts.append(quote(self.resource_id, safe=_SAFE))
        elif self.detail:
            parts.append("detail")
        parts.extend(self.subpath)
        if not parts:
            return "/"
        return "/" + "/".join(parts) + ("/" if self.trailing_slash else "")


@dataclass(frozen=True)
class Found:
    """A resource an answer showed, and where it lives: a resource mapping to remember."""

    resource_id: str
    provider: str
    remote_project: str | None
    endpoint: str


@dataclass
class Shaped:
    """The answer the caller gets: made by the shape stage from a provider's answer, or by an
    extension that answers a call itself."""

    status: int
    headers: CIMultiDict
    body: bytes | None                  # None: stream ``answer.stream`` to the caller
    learned: list[Found] = field(default_factory=list)  # resources of ``request.collection``
    provider: str | None = None         # who answered (None: OCX itself)
