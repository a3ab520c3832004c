"""Shape: a provider's answer → the answer the caller gets. Pure.

Every URL that points at a provider becomes the OCX URL of the same thing (the caller never sees
a provider's address, nor a remote project id in a path), and the ids of the resources the
answer shows are collected so that the pipeline can remember where they live.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import orjson
from multidict import CIMultiDict

from ..backends.base import ProviderResponse
from ..call import ApiRequest, Found, Shaped  # noqa: F401 - Found, Shaped: re-exported
from ..routing.aggregate import Merged
from ..routing.listing import Listing, Query, marker_context, next_href
from ..routing.listing import body as listing_body
from ..routing.merge import encode_marker

URL_HEADERS = ("Location", "Content-Location")


@dataclass(frozen=True)
class Rewriter:
    """Turns provider URLs into OCX URLs for one answer."""

    root: str                 # the provider's service root, e.g. http://10.0.0.5:8776
    base: str                 # OCX's URL for the service, e.g. http://ocx:8080/volume
    remote_project: str | None
    local_project: str | None

    def url(self, value: str) -> str:
        if not value.startswith(self.root):
            return value
        tail = value[len(self.root):]
        if tail and tail[0] not in "/?#":
            return value  # another host whose name merely starts the same (":87761")
        if self.remote_project and self.local_project and self.remote_project != \
                self.local_project:
            tail = tail.replace(f"/{self.remote_project}/", f"/{self.local_project}/")
            if tail.endswith(f"/{self.remote_project}"):
                tail = tail[: -len(self.remote_project)] + self.local_project
        return self.base + tail

    def walk(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.url(value)
        if isinstance(value, list):
            return [self.walk(v) for v in value]
        if isinstance(value, dict):
            return {k: self.walk(v) for k, v in value.items()}
        return value


def singular(collection: str) -> str:
    """The body key of one resource: ``security-groups`` → ``security_group``."""
    key = collection.replace("-", "_")
    return key[:-1] if key.endswith("s") else key


def resource_ids(request: ApiRequest, status: int, body: Any) -> list[str]:
    """Ids of ``request.collection`` resources that this successful answer shows."""
    if not (200 <= status < 300) or not isinstance(body, dict) or request.collection is None:
        return []
    plural = request.collection.replace("-", "_")
    if request.listing and isinstance(body.get(plural), list):
        items = body[plural]
    elif isinstance(body.get(plural), list) and request.is_create:  # bulk create (Neutron)
        items = body[plural]
    elif isinstance(body.get(singular(request.collection)), dict):
        items = [body[singular(request.collection)]]
    elif "id" in body and request.service == "image":  # Glance answers with the bare object
        items = [body]
    else:
        return []
    return [item["id"] for item in items if isinstance(item, dict)
            and isinstance(item.get("id"), str)]


def shape(request: ApiRequest, answer: ProviderResponse, base: str,
          local_project: str | None, learn: bool) -> Shaped:
    rewriter = Rewriter(answer.root, base, answer.remote_project, local_project)
    headers = CIMultiDict(answer.headers)
    for name in URL_HEADERS:
        if name in headers:
            headers[name] = rewriter.url(headers[name])
    if answer.body is None:
        return Shaped(answer.status, headers, None, provider=answer.provider)
    body_bytes = answer.body
    learned: list[Found] = []
    needs_rewrite = answer.root.encode() in body_bytes
    if body_bytes and (needs_rewrite or learn):
        try:
            document = orjson.loads(body_bytes)
        except orjson.JSONDecodeError:
            # Passed on as the provider sent it.
            return Shaped(answer.status, headers, body_bytes, provider=answer.provider)
        if learn:
            learned = [Found(rid, answer.provider, answer.remote_project, answer.root)
                       for rid in resource_ids(request, answer.status, document)]
        if needs_rewrite:
            body_bytes = orjson.dumps(rewriter.walk(document))
    return Shaped(answer.status, headers, body_bytes, learned, answer.provider)


# Headers of the providers' answers that hold for the merged one (the microversion served).
KEPT_HEADERS = ("OpenStack-API-Version", "X-OpenStack-Nova-API-Version", "Vary")
MISSING_HEADER = "X-OCX-Missing-Providers"


def keep_headers(headers: CIMultiDict, answer: ProviderResponse | None) -> None:
    """Copy :data:`KEPT_HEADERS` of ``answer`` into ``headers``, every value of each (Nova
    sends ``Vary`` twice, once per microversion header)."""
    if answer is None:
        return
    for name in KEPT_HEADERS:
        for value in answer.headers.getall(name, ()):
            headers.add(name, value)


def shape_listing(listing: Listing, request: ApiRequest, query: Query, merged: Merged,
                  base: str, local_project: str | None, marker_key: bytes) -> Shaped:
    """The merged page as one answer of the service: every URL OCX's, OCX's marker in ``next``."""
    rewriters = {p: Rewriter(a.root, base, a.remote_project, local_project)
                 for p, a in merged.answers.items()}
    items = [rewriters[p].walk(item) for p, item in merged.entries]
    href = None
    if merged.next is not None:
        marker = encode_marker(merged.next, marker_key, marker_context(listing, request))
        href = next_href(listing, request, base, marker)
    extras = {}
    if merged.count is not None and request.query.get("with_count", "").lower() == "true":
        extras["count"] = merged.count
    document = listing_body(listing, request, query, items, href, extras)
    request_id = f"req-{uuid.uuid4()}"  # the merged answer is OCX's own
    headers = CIMultiDict({"Content-Type": "application/json",
                           "X-OpenStack-Request-ID": request_id})
    if request.service == "compute":
        headers["X-Compute-Request-ID"] = request_id
    keep_headers(headers, next(iter(merged.answers.values()), None))
    if merged.missing:
        headers[MISSING_HEADER] = ",".join(sorted(merged.missing))
    learned = [Found(rid, p, merged.answers[p].remote_project, merged.answers[p].root)
               for p, ids in merged.seen.items() for rid in ids] if listing.learnable else []
    return Shaped(200, headers, orjson.dumps(document), learned)
