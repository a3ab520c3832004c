"""Execute and shape an aggregate plan: every provider asked at once, one answer back.

The gateway credits the providers and hands over; this module asks them (``routing.aggregate``
for listings, ``routing.execute.gather`` for documents), leaves out and names those that failed,
and shapes the merged answer. When no provider could answer, the answer is an error: the
service's own if every provider refused the call, else a 503 that names them.
"""
from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import hmac
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Generic, TypeVar

import aiohttp
import orjson
from multidict import CIMultiDict

from .. import metrics
from ..backends.base import Credentials, ProviderFailure, ProviderResponse, ServiceNotOffered
from ..call import ApiRequest
from ..extensions.base import Call
from ..routing.aggregate import Aggregation
from ..routing.documents import Versions
from ..routing.execute import Executor, gather
from ..routing.listing import Listing, ListingError, marker_context, parse_query
from ..routing.merge import Cursor
from ..store.cache import LRU
from .errors import OcxError
from .response import MISSING_HEADER, Rewriter, Shaped, keep_headers, shape, shape_listing


V = TypeVar("V")
# An error body larger than this is cut: it is a message, not data.
MAX_ERROR_BODY = 1 << 20


@dataclass(frozen=True)
class ListingSettings:
    """How aggregated calls behave (``[DEFAULT] listing_*``)."""

    timeout: float          # seconds the providers get
    partial: bool           # answer without the missing providers (else 503)
    marker_key: bytes = field(repr=False)  # signs the markers of OCX's ``next`` links


def project_marker_key(key: bytes, project_id: str) -> bytes:
    """The key of one project's markers: a marker holds where the project's listing stood
    at each cloud (its resources' ids), so another project's caller is refused it as the
    service refuses a marker it cannot see (issue 12, isolation)."""
    return hmac.new(key, b"project\0" + project_id.encode(), hashlib.sha256).digest()


class _Recent(Generic[V]):
    """A bounded LRU whose entries are forgotten ``seconds`` after they were put."""

    def __init__(self, size: int, seconds: float) -> None:
        self.seconds = seconds
        self._kept: LRU[tuple, tuple[float, V]] = LRU(size)

    def put(self, key: tuple, value: V) -> None:
        self._kept.put(key, (time.monotonic(), value))

    def get(self, key: tuple) -> V | None:
        kept = self._kept.get(key)
        if kept is None or time.monotonic() - kept[0] > self.seconds:
            return None
        return kept[1]


class RecentVersions:
    """Combined version documents, kept a while for callers without a token (clients discover
    versions anonymously; combining needs a token at every provider)."""

    def __init__(self, seconds: float = 300.0, size: int = 64) -> None:
        self._kept: _Recent[Shaped] = _Recent(size, seconds)

    @staticmethod
    def _key(api: ApiRequest) -> tuple:
        # The path as asked: /v3 and /v3/ are different answers (a redirect and a document).
        return api.service, api.path_for("{project_id}")

    def put(self, api: ApiRequest, shaped: Shaped) -> None:
        self._kept.put(self._key(api), shaped)

    def get(self, api: ApiRequest) -> Shaped | None:
        shaped = self._kept.get(self._key(api))
        if shaped is None:
            return None
        return Shaped(shaped.status, CIMultiDict(shaped.headers), shaped.body)


class RecentCursors:
    """Where recent pages ended, by the id of their last item.

    openstacksdk and the other clients page with the last id they saw as ``marker`` (and ask
    once more after the last page). Resolving such an id means reading every other cloud up to
    where it sorts; a page this OCX gave just before is resumed from its cursor instead. Kept
    per user, project, listing and query, for a while.
    """

    def __init__(self, size: int = 10_000, seconds: float = 600.0) -> None:
        self._kept: _Recent[Cursor] = _Recent(size, seconds)

    @staticmethod
    def key(call: Call, listing: Listing, last_id: str) -> tuple:
        query = tuple(sorted((k, v) for k, v in call.request.query.items()
                             if k not in ("marker", "limit", "offset")))
        return (call.caller.user_id, call.caller.project_id,
                marker_context(listing, call.request), query, last_id)

    def put(self, key: tuple, position: Cursor) -> None:
        # Providers that had items are asked again after their last one (new items may have
        # come); one that had none stays done, as it was when the page was made.
        done = frozenset(p for p in position.done if p not in position.after)
        self._kept.put(key, Cursor(position.after, done, position.last))

    def get(self, key: tuple) -> Cursor | None:
        return self._kept.get(key)


async def whole(answer: ProviderResponse) -> ProviderResponse:
    """An error answer with its body read: a merged answer is written whole, so a streamed
    body (Glance's errors are HTML) would otherwise be lost."""
    if answer.stream is not None:
        try:
            answer.body = await answer.stream.content.read(MAX_ERROR_BODY)
        except (aiohttp.ClientError, asyncio.TimeoutError):
            raise ProviderFailure(answer.provider, "broke off its answer") from None
        finally:
            answer.release()
    return answer


def _missing_error(what: str, missing: Mapping[str, str]) -> OcxError:
    return OcxError(503, f"{what}: " + "; ".join(f"{p}: {r}" for p, r in sorted(missing.items())),
                    headers={MISSING_HEADER: ",".join(sorted(missing))})


class Fanout:
    def __init__(self, executor: Executor, store, settings: ListingSettings,
                 base: Callable[[str], str]) -> None:
        self.executor = executor
        self.store = store
        self.settings = settings
        self.base = base               # OCX's URL of a service
        self.versions = RecentVersions()
        self.cursors = RecentCursors()

    def _deadline(self) -> float:
        return asyncio.get_running_loop().time() + self.settings.timeout

    async def listing(self, call: Call, credited: Mapping[str, Credentials],
                      missing: Mapping[str, str]) -> Shaped:
        """One merged page of every provider's listing."""
        listing, api, settings = call.plan.merge, call.request, self.settings
        key = project_marker_key(settings.marker_key, call.caller.project_id)
        try:
            query = parse_query(listing, api, key)
        except ListingError as exc:
            raise OcxError(exc.status, exc.message, kind=exc.kind) from None
        hint = None
        if query.marker is not None:
            recent = self.cursors.get(RecentCursors.key(call, listing, query.marker))
            if recent is not None:
                query = dataclasses.replace(query, cursor=recent, marker=None)
            elif listing.learnable:
                mapping = await self.store.get_resource_mapping(api.collection, query.marker)
                hint = mapping.provider if mapping else None

        # Listing sources an extension adds (name → ask(request)), merged and paged with the
        # providers' answers (extensions/gluon.py: each Proton server's Gluon ports).
        sources = call.extras.get("listing_sources") or {}

        def ask(provider: str, request: ApiRequest):
            if provider in sources:
                return sources[provider](request)
            return self.executor.send(provider, request, credited[provider])

        try:
            merged = await Aggregation(listing, api, query, [*credited, *sources], ask,
                                       self._deadline()).run(hint)
        except ListingError as exc:
            raise OcxError(exc.status, exc.message, kind=exc.kind) from None
        for source in sources:
            merged.seen.pop(source, None)  # no provider to map their ids to
        merged.missing.update(missing)
        metrics.missing(merged.missing)
        refused = next((merged.refused[p] for p in call.plan.targets
                        if p in merged.refused), None)
        for answer in merged.refused.values():
            if answer is not refused or merged.answers:
                answer.release()
        if not merged.answers:
            if refused is not None:  # every provider refused the query: the service's own error
                return shape(api, await whole(refused), self.base(api.service),
                             call.caller.project_id, learn=False)
            if merged.missing:
                raise _missing_error("No provider could answer the listing", merged.missing)
        elif merged.missing and not settings.partial:
            raise _missing_error("Providers missing from the listing", merged.missing)
        if merged.last_id is not None and merged.position is not None:
            self.cursors.put(RecentCursors.key(call, listing, merged.last_id), merged.position)
        return shape_listing(listing, api, query, merged, self.base(api.service),
                             call.caller.project_id, key)

    async def document(self, call: Call, credited: Mapping[str, Credentials],
                       missing: Mapping[str, str]) -> Shaped:
        """A document every provider gives (versions, extensions, limits), combined into one."""
        combine, api, caller = call.plan.merge, call.request, call.caller
        calls = {p: self.executor.send(p, combine.request_for(api, c.project_id,
                                                              caller.project_id), c)
                 for p, c in credited.items()}
        answers = await gather(calls, self._deadline())
        documents: list[tuple[str, dict]] = []
        missing = dict(missing)
        first: ProviderResponse | None = None
        refused: ProviderResponse | None = None
        for provider in credited:
            answer = answers[provider]
            if isinstance(answer, ServiceNotOffered):
                continue
            if isinstance(answer, ProviderFailure):
                missing[provider] = answer.reason
                continue
            if not combine.accepts(answer.status):
                if refused is None:
                    refused = answer
                else:
                    answer.release()
                missing[provider] = f"answered {answer.status}"
                continue
            try:
                document = orjson.loads(answer.body or b"")
            except orjson.JSONDecodeError:
                document = None
            if not isinstance(document, dict):
                answer.release()
                missing[provider] = "answered with something that is not JSON"
                continue
            rewriter = Rewriter(answer.root, self.base(api.service), answer.remote_project,
                                caller.project_id)
            documents.append((provider, rewriter.walk(document)))
            first = first or answer
        metrics.missing(missing)
        if first is None:
            if refused is not None:
                return shape(api, await whole(refused), self.base(api.service),
                             caller.project_id, False)
            raise _missing_error("No provider could answer", missing)
        if refused is not None:
            refused.release()
        if missing and not self.settings.partial:
            raise _missing_error("Providers missing from the answer", missing)
        headers = CIMultiDict({"Content-Type": "application/json"})
        keep_headers(headers, first)
        if missing:
            headers[MISSING_HEADER] = ",".join(sorted(missing))
        body = orjson.dumps(combine.combine(api, documents, caller.project_id))
        shaped = Shaped(first.status, headers, body)
        if isinstance(combine, Versions) and not missing:
            self.versions.put(api, shaped)
        return shaped
