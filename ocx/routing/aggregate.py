"""Execute an aggregated listing: every provider asked at once, one merged page back.

The decisions are pure and live elsewhere (``listing``: the service's format and the calls to
make; ``merge``: the order and the page). This module does the asking, in rounds:

1. A marker that is a provider's resource id (not OCX's own) is resolved first: the provider
   holding it resumes after it, every other provider after its last item that sorts before it.
2. Every provider still worth asking gets the caller's query with its own marker and the page
   size, all at once, under one deadline; those that fail or are too slow are left out and
   named.
3. The answers are merged. A page left short (duplicates folded, a provider that ran out)
   is topped up by another round from where the merge stopped.
"""
from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field

import orjson
from multidict import MultiDict, MultiDictProxy

from ..backends.base import ProviderFailure, ProviderResponse, ServiceNotOffered
from ..call import ApiRequest
from .execute import gather
from .listing import Listing, Query, present, provider_request
from .merge import Batch, Cursor, merge_page

Ask = Callable[[str, ApiRequest], Awaitable[ProviderResponse]]
MAX_ROUNDS = 8          # top-ups of one page; each round moves every provider forward
SCAN_PAGE = 1000        # page size when looking for where a provider resumes


@dataclass
class Merged:
    """One merged page and what was learned on the way."""

    entries: list[tuple[str, dict]] = field(default_factory=list)   # (provider, shown item)
    next: Cursor | None = None
    answers: dict[str, ProviderResponse] = field(default_factory=dict)  # each one's last
    seen: dict[str, list[str]] = field(default_factory=dict)    # ids each provider showed
    missing: dict[str, str] = field(default_factory=dict)       # provider → why it is absent
    refused: dict[str, ProviderResponse] = field(default_factory=dict)  # error answers
    count: int | None = None                                     # Cinder's ``with_count``
    position: Cursor | None = None    # where every provider stands after the page
    last_id: str | None = None        # the id of the page's last item


class _NotAListing(Exception):
    pass


def _next_link_in(listing: Listing, document: dict) -> bool:
    if listing.style == "glance":
        return bool(document.get("next"))
    links = document.get(listing.links_key)
    return isinstance(links, list) and any(
        isinstance(link, dict) and link.get("rel") == "next" for link in links)


def _read(listing: Listing, answer: ProviderResponse, limit: int | None
          ) -> tuple[Batch, dict]:
    try:
        document = orjson.loads(answer.body or b"")
    except orjson.JSONDecodeError:
        raise _NotAListing from None
    items = listing.items(document)
    if items is None:
        raise _NotAListing
    more = (limit is not None and len(items) >= limit) or _next_link_in(listing, document)
    return Batch(items, more), document


class Aggregation:
    """One aggregated listing call: the listing, the caller's request and query, and how to ask."""

    def __init__(self, listing: Listing, request: ApiRequest, query: Query,
                 providers: Sequence[str], ask: Ask, deadline: float) -> None:
        self.listing = listing
        self.request = request
        self.query = query
        self.providers = list(providers)
        self.ask = ask
        self.deadline = deadline
        self.result = Merged()
        self._counted: set[str] = set()

    # -- the rounds ---------------------------------------------------------------------------

    async def run(self, marker_hint: str | None = None) -> Merged:
        query, result = self.query, self.result
        cursor = query.cursor
        if query.marker is not None:
            cursor = await self._resolve_marker(query.marker, marker_hint)
        wanted = None if query.limit is None else query.limit + query.offset
        skip = query.offset
        for _ in range(MAX_ROUNDS):
            active = [p for p in self.providers if p not in result.missing
                      and p not in result.refused]
            asks = cursor.requests(active)
            if not asks:
                result.next = None
                break
            batches = await self._round(asks, wanted)
            if not batches:
                break  # everyone asked failed: the page is what earlier rounds found
            size = wanted if wanted is not None else max(1, sum(len(b.items)
                                                               for b in batches.values()))
            page = merge_page(batches, query.spec, size, cursor, self.listing.id_field,
                              fold=self.listing.fold)
            taken = page.entries
            if skip:
                taken, skip = taken[skip:], max(0, skip - len(taken))
            result.entries += [(p, present(self.listing, query, item)) for p, item in taken]
            if taken:
                result.last_id = str(taken[-1][1][self.listing.id_field])
            result.next, result.position = page.next, page.position
            if page.next is None or wanted is None:
                break
            cursor = page.next
            wanted = query.limit - len(result.entries) + skip
            if wanted <= 0:
                break
        return result

    async def _round(self, asks: Mapping[str, str | None], limit: int | None
                     ) -> dict[str, Batch]:
        calls = {p: self.ask(p, provider_request(self.listing, self.request, self.query,
                                                 marker, limit))
                 for p, marker in asks.items()}
        batches: dict[str, Batch] = {}
        for provider, answer in (await gather(calls, self.deadline)).items():
            read = self._accept(provider, answer, limit)
            if read is not None:
                batches[provider] = read
        return batches

    def _accept(self, provider: str, answer: ProviderResponse | ProviderFailure,
                limit: int | None) -> Batch | None:
        """One provider's answer in a round: a batch, or the reason it is left out."""
        result = self.result
        if isinstance(answer, ServiceNotOffered):
            result.refused.pop(provider, None)
            self.providers.remove(provider)  # not missing: it has none of these
            return None
        if isinstance(answer, ProviderFailure):
            result.missing[provider] = answer.reason
            return None
        if not answer.ok:
            result.refused[provider] = answer
            result.missing[provider] = f"answered {answer.status}"
            return None
        try:
            batch, document = _read(self.listing, answer, limit)
        except _NotAListing:
            result.missing[provider] = "answered with something that is not a listing"
            return None
        result.answers[provider] = answer
        result.seen.setdefault(provider, []).extend(str(i[self.listing.id_field])
                                                    for i in batch.items)
        count = document.get("count")
        if isinstance(count, int) and provider not in self._counted:
            self._counted.add(provider)  # each provider's total, once however many rounds
            result.count = (result.count or 0) + count
        return batch

    # -- a provider's resource id as marker --------------------------------------------------

    async def _resolve_marker(self, marker: str, hint: str | None) -> Cursor:
        """The cursor that resumes every provider right after ``marker`` in the merged order."""
        owner, item = await self._find(marker, hint)
        boundary = self.query.spec.key(item)
        others = [p for p in self.providers if p != owner]
        found = await gather({p: self._resume_point(p, boundary) for p in others},
                             self.deadline)
        after, done = {owner: marker}, set()
        for provider, point in found.items():
            if isinstance(point, ProviderFailure):
                if not isinstance(point, ServiceNotOffered):
                    self.result.missing[provider] = point.reason
                continue
            resume, exhausted = point
            if resume is not None:
                after[provider] = resume
            if exhausted:
                done.add(provider)
        return Cursor(after, frozenset(done))

    async def _find(self, marker: str, hint: str | None) -> tuple[str, dict]:
        show = self.request.replace(resource_id=marker, detail=False, subpath=(),
                                    query=MultiDictProxy(MultiDict()))
        order = ([hint] if hint in self.providers else []) + \
            [p for p in self.providers if p != hint]
        for group in ([order[0]], order[1:]) if hint in self.providers else (order,):
            answers = await gather({p: self.ask(p, show) for p in group}, self.deadline)
            for provider in group:  # the first in provider order that has it
                answer = answers.get(provider)
                if isinstance(answer, ProviderResponse) and answer.ok:
                    try:
                        item = self.listing.item(orjson.loads(answer.body or b""))
                    except orjson.JSONDecodeError:
                        item = None
                    if item is not None:
                        return provider, item
        raise self.listing.marker_not_found(marker)

    async def _resume_point(self, provider: str, boundary: tuple) -> tuple[str | None, bool]:
        """Walk ``provider``'s listing to its last item that sorts at or before ``boundary``.

        Returns that item's id (None: start from its first) and whether nothing follows it.
        """
        spec, resume = self.query.spec, None
        while True:
            request = provider_request(self.listing, self.request, self.query, resume,
                                       SCAN_PAGE)
            answer = await self.ask(provider, request)
            if not answer.ok:
                raise ProviderFailure(provider, f"answered {answer.status}")
            try:
                batch, _ = _read(self.listing, answer, SCAN_PAGE)
            except _NotAListing:
                raise ProviderFailure(provider, "answered with something that is not a "
                                                "listing") from None
            for item in batch.items:
                if boundary < spec.key(item):
                    return resume, False
                resume = str(item[self.listing.id_field])
            if not batch.more:
                return resume, True
            await asyncio.sleep(0)

