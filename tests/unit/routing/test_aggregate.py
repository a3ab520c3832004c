"""A user of the exchange pages through "what volumes (servers, images, networks) do I have?".

Resources are spread at random over 1-5 clouds. Each cloud is an in-memory stand-in that sorts
and pages as the real service does (``ocx.sim.paging``) and answers in the service's format.
The walk is the client's: the first page, then every ``next`` link OCX gives, parsed back as a
request. It must yield exactly the sorted union: no duplicate, no gap, the right order, and no
cloud asked for more than a page or for anything before its own marker.
"""
from __future__ import annotations

import asyncio
from urllib.parse import parse_qsl, urlsplit

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from multidict import CIMultiDict, MultiDict

from ocx.api.request import parse
from ocx.api.response import MISSING_HEADER, shape_listing
from ocx.backends.base import ProviderResponse, ProviderUnreachable
from ocx.routing.aggregate import Aggregation
from ocx.routing.listing import ListingError, find, parse_query
from ocx.sim.paging import MarkerNotFound, page, sort_items

KEY = b"m" * 32
BASE = "http://ocx.test"
PROJECT = "0123456789abcdef0123456789abcdef"

# What each service's listing looks like to the client: path, collection key, sort queries.
CASES = {
    "volume": (f"/volume/v3/{PROJECT}/volumes/detail", "volumes"),
    "compute": ("/compute/v2.1/servers/detail", "servers"),
    "image": ("/image/v2/images", "images"),
    "network": ("/network/v2.0/networks", "networks"),
}
FIELDS = ["name", "size", "status", "created_at"]
TIMES = ["2024-01-01T00:00:00Z", "2024-01-02T00:00:00Z", None]


def sort_query(service: str, keys: list[str], dirs: list[str]) -> list[tuple[str, str]]:
    if service == "volume":
        return [("sort", ",".join(f"{k}:{d}" for k, d in zip(keys, dirs)))] if keys else []
    if service == "compute":
        names = {"name": "display_name", "created_at": "created_at", "size": "progress",
                 "status": "vm_state"}
        return [("sort_key", names[k]) for k in keys] + [("sort_dir", d) for d in dirs]
    if service == "image":
        return [("sort_key", k) for k in keys] + ([("sort_dir", dirs[0])] if dirs else [])
    return [("sort_key", k) for k in keys] + [("sort_dir", d) for d in dirs]


def as_served(service: str, item: dict) -> dict:
    """The item in the field names the service shows."""
    if service == "compute":
        return {"id": item["id"], "name": item["name"], "created": item["created_at"],
                "progress": item["size"], "OS-EXT-STS:vm_state": item["status"],
                "links": [{"rel": "self", "href": f"http://cloud/v2.1/servers/{item['id']}"}]}
    return dict(item)


class Cloud:
    """One cloud's listing: the service's order (its own spec), its own paging."""

    def __init__(self, name: str, items: list[dict]) -> None:
        self.name = name
        self.items = items
        self.asked: list[tuple[str | None, int]] = []

    def answer(self, service: str, key: str, spec, call) -> ProviderResponse:
        if call.resource_id is not None:  # a show: what a marker that is an id resolves to
            found = [i for i in self.items if i["id"] == call.resource_id]
            status = 200 if found else 404
            body = orjson.dumps({key[:-1]: found[0]} if found else {"itemNotFound": {}})
            return ProviderResponse(self.name, status, CIMultiDict(), "http://cloud", None,
                                    body=body)
        query = call.query
        limit = int(query["limit"]) if "limit" in query else None
        marker = query.get("marker")
        self.asked.append((marker, limit))
        ordered = sort_items(self.items, spec.keys)
        try:
            chunk, more = page(ordered, limit, marker)
        except MarkerNotFound:
            return ProviderResponse(self.name, 400, CIMultiDict(), "http://cloud", None,
                                    body=b'{"badRequest": {"message": "marker"}}')
        document: dict = {key: chunk}
        if more and service != "image":
            document[f"{key}_links"] = [{"rel": "next", "href": "http://cloud/next"}]
        elif more:
            document["next"] = "/v2/images?marker=x"
        return ProviderResponse(self.name, 200, CIMultiDict(), "http://cloud", None,
                                body=orjson.dumps(document))


async def one_page(service: str, path: str, pairs, clouds: dict[str, Cloud], held_spec):
    request = parse("GET", path, MultiDict(pairs), CIMultiDict())
    listing = find(request.service, request.collection)
    query = parse_query(listing, request, KEY)

    async def ask(provider: str, call):
        return clouds[provider].answer(service, listing.key, held_spec, call)

    merged = await Aggregation(listing, request, query, list(clouds), ask,
                               asyncio.get_running_loop().time() + 10).run()
    shaped = shape_listing(listing, request, query, merged, f"{BASE}/{service}", PROJECT, KEY)
    return orjson.loads(shaped.body), shaped, listing


def spec_of(path: str, pairs):
    """The order the service gives for ``pairs``: the one each stand-in cloud keeps."""
    request = parse("GET", path, MultiDict(), CIMultiDict())
    return find(request.service, request.collection).sort(pairs)


def next_of(service: str, document: dict, key: str) -> str | None:
    if service == "image":
        return document.get("next")
    links = document.get(f"{key}_links", [])
    return next((link["href"] for link in links if link["rel"] == "next"), None)


@st.composite
def spreads(draw):
    """1-5 clouds, resources spread at random, with many ties and missing values."""
    n = draw(st.integers(1, 5))
    ids = draw(st.lists(st.uuids().map(str), unique=True, max_size=30))
    clouds: dict[str, list[dict]] = {f"cloud{i}": [] for i in range(n)}
    for rid in ids:
        item = {"id": rid, "name": draw(st.sampled_from([None, "a", "b", ""])),
                "size": draw(st.sampled_from([None, 1, 2, 10])),
                "status": draw(st.sampled_from(["available", "error"])),
                "created_at": draw(st.sampled_from(TIMES))}
        clouds[f"cloud{draw(st.integers(0, n - 1))}"].append(item)
    return clouds


@settings(max_examples=400, deadline=None)
@given(service=st.sampled_from(sorted(CASES)), held=spreads(),
       keys=st.lists(st.sampled_from(FIELDS), max_size=2, unique=True),
       dirs=st.lists(st.sampled_from(["asc", "desc"]), min_size=2, max_size=2),
       limit=st.integers(1, 7), start=st.none() | st.integers(0, 29))
def test_walking_the_next_links_yields_exactly_the_sorted_union(service, held, keys, dirs,
                                                               limit, start):
    """From the first page, or from a resource id of one cloud given as ``marker``."""
    path, key = CASES[service]
    dirs = dirs[:len(keys)]
    pairs = sort_query(service, keys, dirs) + [("limit", str(limit))]
    spec = spec_of(path, pairs)
    clouds = {name: Cloud(name, [as_served(service, i) for i in items])
              for name, items in held.items()}
    union = sort_items([as_served(service, i) for items in held.values() for i in items],
                       spec.keys)
    if start is not None and start < len(union):
        pairs.append(("marker", union[start]["id"]))
        union = union[start + 1:]

    async def walk() -> list[str]:
        walked: list[str] = []
        current_path, current_pairs = path, pairs
        for _ in range(len(union) + 2):
            document, shaped, _ = await one_page(service, current_path, current_pairs, clouds,
                                                 spec)
            assert MISSING_HEADER not in shaped.headers
            walked += [item["id"] for item in document[key]]
            href = next_of(service, document, key)
            if href is None:
                return walked
            assert len(document[key]) == limit  # only the last page is short
            parts = urlsplit(href)
            assert service == "image" or href.startswith(f"{BASE}/{service}/")
            current_path = parts.path if service != "image" else "/image" + parts.path
            current_pairs = parse_qsl(parts.query)
        raise AssertionError("the walk does not end")

    walked = asyncio.run(walk())
    assert walked == [item["id"] for item in union]
    for cloud in clouds.values():  # a page at most, each resumed after its own last item
        # (a marker that is a cloud's id first has each other cloud read up to where it sorts)
        assert start is not None or all(asked_limit == limit for _, asked_limit in cloud.asked)
        mine = [i["id"] for i in sort_items(cloud.items, spec.keys)]
        assert all(marker is None or marker in mine for marker, _ in cloud.asked)


def _volumes(clouds: dict[str, list[str]]) -> dict[str, Cloud]:
    return {name: Cloud(name, [{"id": rid, "name": rid, "created_at": None, "size": 1,
                                "status": "available"} for rid in ids])
            for name, ids in clouds.items()}


def test_a_plain_volume_id_as_marker_resumes_every_cloud_after_it():
    clouds = _volumes({"home": ["a", "d", "g"], "sp1": ["b", "e"], "sp2": ["c", "f"]})
    spec = spec_of(CASES["volume"][0], [("sort", "name:asc")])
    pairs = [("sort", "name:asc"), ("limit", "3"), ("marker", "d")]
    document, _, _ = asyncio.run(one_page("volume", CASES["volume"][0], pairs, clouds, spec))
    assert [v["id"] for v in document["volumes"]] == ["e", "f", "g"]


def test_a_marker_nobody_knows_and_a_forged_marker_are_the_services_own_error():
    # Cinder looks a marker up as one of its volumes: an unknown one is its 404.
    clouds = _volumes({"home": ["a"], "sp1": ["b"]})
    spec = spec_of(CASES["volume"][0], [])
    for marker in ("no-such-volume", "ocx1.e30.AAAAAAAAAAAAAAAAAAAAAA"):
        with pytest.raises(ListingError) as caught:
            asyncio.run(one_page("volume", CASES["volume"][0], [("marker", marker)], clouds,
                                 spec))
        assert (caught.value.status, caught.value.message) == (
            404, f"Volume {marker} could not be found.")


def test_a_cloud_that_cannot_be_reached_is_named_and_the_others_answer():
    clouds = _volumes({"home": ["a"], "sp1": ["b"]})
    spec = spec_of(CASES["volume"][0], [])

    class Down(Cloud):
        def answer(self, *args):
            raise ProviderUnreachable(self.name, "is unreachable")

    clouds["sp2"] = Down("sp2", [])
    document, shaped, _ = asyncio.run(one_page("volume", CASES["volume"][0], [], clouds, spec))
    assert sorted(v["id"] for v in document["volumes"]) == ["a", "b"]
    assert shaped.headers[MISSING_HEADER] == "sp2"
