"""One listing over every cloud (issue 4), through OCX with openstacksdk and plain HTTP.

A module fixture makes resources directly in home, sp1 and sp2 (as the user of the project
OCX's K2K mapping lands in). Each test lists through OCX and compares with what the three clouds
list directly, asked the same question: the union, in the order one cloud holding everything
would give. That order is written out here from each service's rules (sort keys, then its
tie-breakers), not taken from OCX.
"""
from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

import openstack
import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from keystoneauth1 import session as ksa_session
from keystoneauth1.identity import v3

from ocx.backends.openstack import OpenStackProvider

CLOUDS = ("home", "sp1", "sp2")
TINY = "42"  # m1.nano
# A cloud slower than this is left out of a listing (the default, 10 s, would make a slow test).
OCX_DEFAULTS = {"listing_timeout": "3"}
SLOWER_MS = 6000
MISSING = "X-OCX-Missing-Providers"
PROXIES = {"volume": "block_storage", "compute": "compute", "image": "image",
           "network": "network"}


# -- the resources: made directly in each cloud, once for the module ---------------------------

def public_key() -> str:
    key = ed25519.Ed25519PrivateKey.generate().public_key()
    return key.public_bytes(serialization.Encoding.OpenSSH,
                            serialization.PublicFormat.OpenSSH).decode()


def make_in(conn, index: int, cloud: str) -> None:
    """Three volumes (sizes 1-3, so that every size is in every cloud), a snapshot, two images
    (one private), two servers, two networks each with a subnet and a port, a router and a
    security group."""
    volumes = [conn.block_storage.create_volume(size=1 + (i + index) % 3, name=f"vol-{i}-{cloud}")
               for i in range(3)]
    images = [conn.image.create_image(name=f"img-{i}-{cloud}", disk_format="raw",
                                      container_format="bare", data=b"x" * 64,
                                      visibility="private" if i == 0 else "shared")
              for i in range(2)]
    servers = [conn.compute.create_server(name=f"srv-{i}-{cloud}", flavor_id=TINY,
                                          image_id=images[1].id, networks="none")
               for i in range(2)]
    for i in range(2):
        network = conn.network.create_network(name=f"net-{i}-{cloud}")
        conn.network.create_subnet(name=f"subnet-{i}-{cloud}", network_id=network.id,
                                   ip_version=4, cidr=f"10.{index}.{i}.0/24")
        conn.network.create_port(name=f"port-{i}-{cloud}", network_id=network.id)
    conn.network.create_router(name=f"router-{cloud}")
    conn.network.create_security_group(name=f"sg-{cloud}")
    for volume in volumes:
        conn.block_storage.wait_for_status(volume, "available", interval=0.05, wait=30)
    snapshot = conn.block_storage.create_snapshot(volume_id=volumes[0].id, name=f"snap-{cloud}")
    conn.block_storage.wait_for_status(snapshot, "available", interval=0.05, wait=30)
    for server in servers:
        conn.compute.wait_for_server(server, interval=0.05, wait=30)


@pytest.fixture(scope="module")
def spread(ocx_env) -> None:
    """The resources of every test, made in the three clouds side by side. They go with the
    clouds at the end of the module; tests that make more remove them."""
    with ThreadPoolExecutor(len(CLOUDS)) as pool:
        list(pool.map(lambda n: make_in(ocx_env.connect(CLOUDS[n]), n, CLOUDS[n]),
                      range(len(CLOUDS))))
    # Key pairs belong to a user, and at a service provider OCX's caller is the K2K user, not
    # the local one: they are imported through OCX, naming the cloud. One is alike everywhere.
    shared_key = public_key()
    for cloud in CLOUDS:
        conn = naming(ocx_env, cloud)
        conn.compute.create_keypair(name=f"kp-{cloud}", public_key=public_key())
        conn.compute.create_keypair(name="kp-everywhere", public_key=shared_key)


def naming(ocx_env, provider: str) -> openstack.connection.Connection:
    """openstacksdk through OCX, every call naming ``provider`` (``X-OCX-Provider``)."""
    entry = ocx_env.clouds["ocx"]
    session = ksa_session.Session(auth=v3.Password(**entry["auth"]),
                                  additional_headers={"X-OCX-Provider": provider})
    return openstack.connection.Connection(session=session, region_name=entry["region_name"],
                                           interface=entry["interface"],
                                           identity_api_version="3")


# -- plain HTTP, as any client sends it -------------------------------------------------------

class Http:
    """GETs to one cloud's services, or OCX's, with the user's token."""

    def __init__(self, conn) -> None:
        self.token = conn.session.get_token()
        self.roots = {s: getattr(conn, p).get_endpoint().rstrip("/") for s, p in PROXIES.items()}

    def get(self, url: str, params=(), headers: dict | None = None) -> requests.Response:
        return requests.get(url, params=params, timeout=60, headers={
            "X-Auth-Token": self.token, "Accept": "application/json", **(headers or {})})

    def url(self, service: str, path: str) -> str:
        return self.roots[service] + path

    def image_root(self) -> str:
        """Glance's links are paths from its unversioned root."""
        return self.roots["image"].removesuffix("/v2")


@dataclass(frozen=True)
class Kind:
    """One listing: where it is and how its body reads."""

    service: str
    path: str
    key: str

    @property
    def links_key(self) -> str:
        return f"{self.key}_links"


KINDS = {
    "volumes": Kind("volume", "/volumes/detail", "volumes"),
    "snapshots": Kind("volume", "/snapshots/detail", "snapshots"),
    "servers": Kind("compute", "/servers/detail", "servers"),
    "images": Kind("image", "/images", "images"),
    "networks": Kind("network", "/networks", "networks"),
    "ports": Kind("network", "/ports", "ports"),
    "security-groups": Kind("network", "/security-groups", "security_groups"),
}
VOLUME_3_60 = {"OpenStack-API-Version": "volume 3.60"}  # filters on any column


@pytest.fixture(scope="module")
def ocx(ocx_env, spread) -> Http:
    return Http(ocx_env.connect("ocx"))


@pytest.fixture(scope="module")
def direct(ocx_env, spread) -> dict[str, Http]:
    return {cloud: Http(ocx_env.connect(cloud)) for cloud in CLOUDS}


def listed(http: Http, kind: Kind, params=(), headers: dict | None = None) -> list[dict]:
    resp = http.get(http.url(kind.service, kind.path), params, headers)
    assert resp.status_code == 200, resp.text
    return resp.json()[kind.key]


def each_cloud(direct: dict[str, Http], kind: Kind, params=(), headers: dict | None = None
               ) -> dict[str, list[dict]]:
    """What each cloud lists itself for the same query (its whole listing, one page)."""
    return {cloud: listed(http, kind, params, headers) for cloud, http in direct.items()}


def union(lists: dict[str, list[dict]]) -> list[dict]:
    return [item for items in lists.values() for item in items]


def owners(lists: dict[str, list[dict]]) -> dict[str, str]:
    return {item["id"]: cloud for cloud, items in lists.items() for item in items}


def ordered(items: list[dict], keys: list[tuple[str, str]]) -> list[dict]:
    """``items`` sorted by ``[(field, direction), ...]``, most significant first."""
    result = list(items)
    for name, direction in reversed(keys):  # stable sorts, least significant first
        result.sort(key=lambda item: item[name], reverse=direction == "desc")
    return result


def ids(items: list[dict]) -> list[str]:
    return [item["id"] for item in items]


def next_in(kind: Kind, document: dict) -> str | None:
    """The service's own next link, as the body gives it (Glance's is a path)."""
    if kind.service == "image":
        return document.get("next")
    return next((link["href"] for link in document.get(kind.links_key, [])
                 if link["rel"] == "next"), None)


def next_link(kind: Kind, http: Http, document: dict) -> str | None:
    """The next link as a URL to follow."""
    link = next_in(kind, document)
    return http.image_root() + link if link and kind.service == "image" else link


def walk(http: Http, kind: Kind, params, headers: dict | None = None,
         between: Callable[[], None] = lambda: None) -> tuple[list[list[dict]], list[str]]:
    """Every page from the first, following the next links; the pages and the links as the
    bodies gave them."""
    pages, links = [], []
    url: str | None = http.url(kind.service, kind.path)
    while url is not None:
        resp = http.get(url, params if not links else (), headers)
        assert resp.status_code == 200, resp.text
        pages.append(resp.json()[kind.key])
        url = next_link(kind, http, resp.json())
        if url is not None:
            links.append(next_in(kind, resp.json()))
        between()
        assert len(pages) < 50, "the next links do not end"
    return pages, links


def runs(sequence: list[str]) -> int:
    """How many stretches of equal neighbours: 3 for clouds listed one after the other."""
    return sum(1 for n, value in enumerate(sequence) if n == 0 or sequence[n - 1] != value)


def error_of(resp: requests.Response) -> tuple[int, str, str]:
    """What a client reads of an error: status, the body's format and the message."""
    body = resp.json()
    if "title" in body:  # Glance (WebOb); its own body adds WebOb's "<br /><br />" tail
        return resp.status_code, "webob", body["message"].split("<br />")[0].strip()
    (fault, inner), = body.items()
    if fault == "NeutronError":
        fault = f"{fault}: {inner['type']}"
    return resp.status_code, fault, inner["message"]


# -- what OCX asked the providers ---------------------------------------------------------------

@dataclass(frozen=True)
class Asked:
    provider: str
    query: list[tuple[str, str]]
    answered: list[str]           # ids in the provider's answer

    @property
    def limit(self) -> int | None:
        values = [int(v) for k, v in self.query if k == "limit"]
        return values[0] if values else None


@pytest.fixture
def asked(monkeypatch) -> list[Asked]:
    """Every listing call OCX sends a provider, as it leaves OCX, and the ids it gets back."""
    calls: list[Asked] = []
    send = OpenStackProvider.send

    async def recording(self, session, request, credentials, **kwargs):
        answer = await send(self, session, request, credentials, **kwargs)
        if request.listing and request.resource_id is None and answer.ok:
            document = json.loads(answer.body or b"{}")
            items = next((v for v in document.values() if isinstance(v, list)), [])
            calls.append(Asked(self.name, list(request.query.items()),
                               [i["id"] for i in items if "id" in i]))
        return answer

    monkeypatch.setattr(OpenStackProvider, "send", recording)
    return calls


# -- every collection lists every cloud ---------------------------------------------------------

SDK_LISTINGS = {
    "volumes": lambda c: c.block_storage.volumes(details=True),
    "volumes (summary)": lambda c: c.block_storage.volumes(details=False),
    "snapshots": lambda c: c.block_storage.snapshots(details=True),
    "servers": lambda c: c.compute.servers(details=True),
    "servers (summary)": lambda c: c.compute.servers(details=False),
    "images": lambda c: c.image.images(),
    "networks": lambda c: c.network.networks(),
    "subnets": lambda c: c.network.subnets(),
    "ports": lambda c: c.network.ports(),
    "routers": lambda c: c.network.routers(),
    "security groups": lambda c: c.network.security_groups(),
    "key pairs": lambda c: c.compute.keypairs(),
}


@pytest.mark.parametrize("what", SDK_LISTINGS)
def test_a_listing_shows_the_resources_of_all_three_clouds(ocx_env, spread, what):
    listing = SDK_LISTINGS[what]
    through = [r.id for r in listing(ocx_env.connect("ocx"))]
    # Each cloud's own listing; key pairs as the K2K user sees them (through OCX, naming it).
    connect = naming if what == "key pairs" else lambda env, cloud: env.connect(cloud)
    clouds = {cloud: [r.id for r in listing(connect(ocx_env, cloud))] for cloud in CLOUDS}
    assert all(clouds.values()), "every cloud holds some"
    assert len(through) == len(set(through)), "nothing twice"
    assert set(through) == {rid for found in clouds.values() for rid in found}


def test_a_key_pair_imported_alike_in_every_cloud_is_listed_once(ocx_env, spread):
    names = [k.name for k in ocx_env.connect("ocx").compute.keypairs()]
    assert sorted(names) == ["kp-everywhere", "kp-home", "kp-sp1", "kp-sp2"]


def test_flavors_every_cloud_holds_alike_are_listed_once(ocx_env, spread):
    through = [f.id for f in ocx_env.connect("ocx").compute.flavors()]
    home = [f.id for f in ocx_env.connect("home").compute.flavors()]
    assert through == home  # the same flavors, each once, in Nova's order


# -- sorting ------------------------------------------------------------------------------------

# (listing, the service's sort parameters, the full order they mean: sort keys, then the
# service's tie-breakers). Cinder breaks ties by created_at then id in the first direction,
# Neutron by id ascending; names are unique except the three "default" security groups.
SORTS = [
    pytest.param("volumes", {"sort": "name:asc"},
                 [("name", "asc"), ("created_at", "asc"), ("id", "asc")], id="volumes-name"),
    pytest.param("volumes", {"sort": "size:desc"},
                 [("size", "desc"), ("created_at", "desc"), ("id", "desc")], id="volumes-size"),
    pytest.param("volumes", {"sort": "size:asc,name:desc"},
                 [("size", "asc"), ("name", "desc"), ("created_at", "asc"), ("id", "asc")],
                 id="volumes-size-name"),
    pytest.param("servers", {"sort_key": "display_name", "sort_dir": "asc"},
                 [("name", "asc")], id="servers-name-asc"),
    pytest.param("servers", {"sort_key": "display_name", "sort_dir": "desc"},
                 [("name", "desc")], id="servers-name-desc"),
    pytest.param("images", {"sort_key": "name"}, [("name", "desc")], id="images-name"),
    pytest.param("images", {"sort": "name:asc"}, [("name", "asc")], id="images-sort-name"),
    pytest.param("networks", {"sort_key": "name", "sort_dir": "desc"},
                 [("name", "desc"), ("id", "asc")], id="networks-name-desc"),
    pytest.param("ports", {"sort_key": "name", "sort_dir": "asc"},
                 [("name", "asc"), ("id", "asc")], id="ports-name-asc"),
    pytest.param("security-groups", {"sort_key": "name", "sort_dir": "asc"},
                 [("name", "asc"), ("id", "asc")], id="security-groups-name-ties"),
]


@pytest.mark.parametrize("what, params, order", SORTS)
def test_a_sorted_listing_is_in_the_order_of_one_cloud_holding_all(ocx, direct, what, params,
                                                                 order):
    kind = KINDS[what]
    clouds = each_cloud(direct, kind, params)
    expected = ids(ordered(union(clouds), order))
    through = ids(listed(ocx, kind, params))
    assert through == expected
    assert runs([owners(clouds)[i] for i in through]) > len(CLOUDS), "the clouds interleave"


# -- paging -------------------------------------------------------------------------------------

@pytest.mark.parametrize("what, params, order", SORTS)
def test_walking_the_next_links_gives_the_union_without_gap_or_duplicate(
        ocx_env, ocx, direct, asked, what, params, order):
    kind, limit = KINDS[what], 2
    expected = ids(ordered(union(each_cloud(direct, kind, params)), order))
    per_page: list[list[Asked]] = []

    def page_done():
        per_page.append(list(asked))
        asked.clear()

    pages, links = walk(ocx, kind, {**params, "limit": limit}, between=page_done)
    assert [rid for page in pages for rid in ids(page)] == expected
    assert [len(page) for page in pages[:-1]] == [limit] * (len(pages) - 1)
    at_ocx = "/v2/images?" if kind.service == "image" else ocx.roots[kind.service] + kind.path
    for link in links:  # at OCX (Glance's are paths from its root), with OCX's marker
        assert link.startswith(at_ocx), link
        assert parse_qs(urlsplit(link).query)["marker"][0].startswith("ocx1.")
    # Each provider is asked for at most a page, and a deeper page never re-reads what the
    # earlier pages showed.
    assert all(call.limit is not None and call.limit <= limit
               for calls in per_page for call in calls)
    for n, calls in enumerate(per_page):
        shown = {rid for page in pages[:n] for rid in ids(page)}
        assert not shown & {rid for call in calls for rid in call.answered}, f"page {n + 1}"


SDK_PAGES = {
    "volumes": (lambda c, **q: c.block_storage.volumes(**q), {},
                [("created_at", "desc"), ("id", "desc")]),
    "servers": (lambda c, **q: c.compute.servers(**q),
                {"sort_key": "display_name", "sort_dir": "asc"}, [("name", "asc")]),
    "images": (lambda c, **q: c.image.images(**q), {"sort_key": "name", "sort_dir": "asc"},
               [("name", "asc")]),
    "networks": (lambda c, **q: c.network.networks(**q),
                 {"sort_key": "name", "sort_dir": "desc"}, [("name", "desc"), ("id", "asc")]),
}


@pytest.mark.parametrize("what", SDK_PAGES)
def test_openstacksdk_pages_through_every_cloud(ocx_env, spread, asked, what):
    listing, query, order = SDK_PAGES[what]
    direct = [r.to_dict() for cloud in CLOUDS for r in listing(ocx_env.connect(cloud), **query)]
    expected = ids(ordered(direct, order))
    asked.clear()
    through = [r.id for r in listing(ocx_env.connect("ocx"), limit=2, **query)]
    assert through == expected
    # Page by page: every provider asked for two at a time, more than once, and never for
    # more. The SDK pages with the last id it saw as marker (and asks once more after the last
    # page): OCX resumes from where that page ended, without reading any cloud from the start.
    assert all(sum(call.provider == cloud and call.limit == 2 for call in asked) > 1
               for cloud in CLOUDS)
    assert all(call.limit == 2 for call in asked)


# -- markers ------------------------------------------------------------------------------------

@pytest.mark.parametrize("what, params, order",
                         [s for s in SORTS if s.id in ("volumes-size", "servers-name-desc",
                                                       "images-name", "networks-name-desc")])
def test_a_plain_resource_id_as_marker_resumes_over_every_cloud(ocx, direct, what, params,
                                                                order):
    kind = KINDS[what]
    clouds = each_cloud(direct, kind, params)
    expected = ids(ordered(union(clouds), order))
    # A resource of sp1 well inside the order, given as a client gives a marker it read.
    at = next(n for n, rid in enumerate(expected) if n >= 2 and owners(clouds)[rid] == "sp1")
    pages, _ = walk(ocx, kind, {**params, "limit": 2, "marker": expected[at]})
    assert [rid for page in pages for rid in ids(page)] == expected[at + 1:]


def altered(marker: str) -> str:
    """An OCX marker with one character of its signed part changed."""
    at = len("ocx1.") + 3
    return marker[:at] + ("A" if marker[at] != "A" else "B") + marker[at + 1:]


@pytest.mark.parametrize("what", ["volumes", "snapshots", "servers", "images", "networks",
                                  "ports"])
def test_a_forged_or_unknown_marker_gets_the_services_own_error(ocx, direct, what):
    kind = KINDS[what]
    first = ocx.get(ocx.url(kind.service, kind.path), {"limit": 1})
    issued = parse_qs(urlsplit(next_link(kind, ocx, first.json())).query)["marker"][0]
    other = KINDS["ports" if what == "networks" else "networks"]  # a marker of another listing
    foreign = parse_qs(urlsplit(next_link(other, ocx, ocx.get(
        ocx.url(other.service, other.path), {"limit": 1}).json())).query)["marker"][0]
    for marker in (altered(issued), str(uuid.uuid4()), "ocx1.not-a-marker", foreign):
        params = {"limit": 1, "marker": marker}
        # What the service says of a marker it does not know, asked directly.
        expected = error_of(direct["home"].get(direct["home"].url(kind.service, kind.path),
                                               params))
        assert expected[0] in (400, 404)
        assert error_of(ocx.get(ocx.url(kind.service, kind.path), params)) == expected, marker


def test_a_neutron_marker_without_a_limit_is_ignored_as_neutron_ignores_it(ocx, direct):
    kind = KINDS["networks"]
    params = {"marker": str(uuid.uuid4()), "sort_key": "name", "sort_dir": "asc"}
    expected = ids(ordered(union(each_cloud(direct, kind, params)), [("name", "asc")]))
    assert ids(listed(ocx, kind, params)) == expected


# -- filters and fields -------------------------------------------------------------------------

# (listing, filter, headers, how many of each cloud's resources it keeps)
FILTERS = [
    pytest.param("volumes", {"size": "2"}, VOLUME_3_60, 1, id="cinder-size"),
    pytest.param("volumes", {"status": "available", "size": "3"}, VOLUME_3_60, 1,
                 id="cinder-status-size"),
    pytest.param("volumes", {"name": "vol-1-sp2"}, {}, None, id="cinder-name"),
    pytest.param("servers", {"name": "^srv-1-"}, {}, 1, id="nova-name-regex"),
    pytest.param("images", {"visibility": "private"}, {}, 1, id="glance-visibility"),
    pytest.param("networks", [("name", "net-0-home"), ("name", "net-1-sp2")], {}, None,
                 id="neutron-name-any-of"),
    pytest.param("ports", {"name": "port-0-sp1", "admin_state_up": "True"}, {}, None,
                 id="neutron-fields"),
]


@pytest.mark.parametrize("what, params, headers, per_cloud", FILTERS)
def test_filters_go_to_every_cloud(ocx, direct, asked, what, params, headers, per_cloud):
    kind = KINDS[what]
    clouds = each_cloud(direct, kind, params, headers)
    if per_cloud is not None:
        assert [len(found) for found in clouds.values()] == [per_cloud] * len(CLOUDS)
    everything = listed(ocx, kind, (), headers)
    asked.clear()
    through = ids(listed(ocx, kind, params, headers))
    assert sorted(through) == sorted(ids(union(clouds)))
    assert 0 < len(through) < len(everything), "the filter kept some"
    filters = list(params.items()) if isinstance(params, dict) else params
    assert {call.provider for call in asked} == set(CLOUDS)
    assert all(set(filters) <= set(call.query) for call in asked)


@pytest.mark.parametrize("fields", [["id", "name"], ["name"], ["status", "id"]])
def test_neutron_fields_give_only_the_fields_asked(ocx, direct, fields):
    kind = KINDS["networks"]
    params = [("sort_key", "name"), ("sort_dir", "asc"), *(("fields", f) for f in fields)]
    order = [("name", "asc"), ("id", "asc")]
    full = ordered(union(each_cloud(direct, kind, [("sort_key", "name"),
                                                   ("sort_dir", "asc")])), order)
    assert listed(ocx, kind, params) == [{f: item[f] for f in fields} for item in full]
    pages, _ = walk(ocx, kind, [*params, ("limit", "2")])
    assert [item for page in pages for item in page] == [{f: item[f] for f in fields}
                                                        for item in full]


# -- learning -----------------------------------------------------------------------------------

def test_a_resource_listed_through_ocx_is_then_reached_in_its_cloud_alone(ocx_env, spread):
    sp2, conn = ocx_env.connect("sp2"), ocx_env.connect("ocx")
    made = []
    try:
        made.append(sp2.block_storage.create_volume(size=1, name="learn-unlisted"))
        ocx_env.reset_calls()
        assert conn.block_storage.get_volume(made[0].id).name == "learn-unlisted"
        searched = {cloud for cloud in CLOUDS if "cinder" in ocx_env.calls(cloud)}
        assert searched == set(CLOUDS), "a volume OCX has not seen is searched for"

        made.append(sp2.block_storage.create_volume(size=1, name="learn-listed"))
        assert made[1].id in [v.id for v in conn.block_storage.volumes()]
        ocx_env.reset_calls()
        assert conn.block_storage.get_volume(made[1].id).name == "learn-listed"
        assert "cinder" in ocx_env.calls("sp2")
        assert not [cloud for cloud in ("home", "sp1") if "cinder" in ocx_env.calls(cloud)]
    finally:
        for volume in made:
            sp2.block_storage.wait_for_status(volume, "available", interval=0.05, wait=30)
            sp2.block_storage.delete_volume(volume)


# -- partial failure ----------------------------------------------------------------------------

@pytest.fixture
def faults(ocx_env) -> Iterator[Callable[..., None]]:
    """``faults(cloud, down=service | latency=(service, ms) | errors=(service, rate))``;
    every fault is cleared after the test."""
    sim, touched = ocx_env.sim, set()

    async def apply(cloud, down, latency, errors):
        if down:
            await cloud.set_down(down, True)
        if latency:
            cloud.faults.latency_ms[latency[0]] = latency[1]
        if errors:
            cloud.faults.error_rate[errors[0]] = errors[1]

    async def clear(cloud):
        cloud.faults.latency_ms.clear()
        cloud.faults.error_rate.clear()
        for service in list(cloud.faults.down):
            await cloud.set_down(service, False)

    def set_fault(name: str, *, down=None, latency=None, errors=None) -> None:
        touched.add(name)
        sim.call(apply(sim.cloud(name), down, latency, errors))

    yield set_fault
    for name in touched:
        sim.call(clear(sim.cloud(name)))
    ocx_env.until_up(*touched)  # a cloud that went down is skipped until OCX sees it back


PARTIAL = [
    pytest.param("volumes", "sp2", {"down": "cinder"}, id="down"),
    pytest.param("networks", "sp1", {"latency": ("neutron", SLOWER_MS)}, id="slow"),
    pytest.param("images", "sp1", {"errors": ("glance", 1.0)}, id="erring"),
    pytest.param("servers", "home", {"errors": ("nova", 1.0)}, id="home-erring"),
]


@pytest.mark.parametrize("what, cloud, fault", PARTIAL)
def test_a_cloud_that_cannot_answer_is_left_out_and_named(ocx, direct, faults, what, cloud,
                                                          fault):
    kind = KINDS[what]
    others = {c: http for c, http in direct.items() if c != cloud}
    expected = sorted(ids(union(each_cloud(others, kind))))
    faults(cloud, **fault)
    resp = ocx.get(ocx.url(kind.service, kind.path))
    assert resp.status_code == 200, resp.text
    assert resp.headers[MISSING] == cloud
    assert sorted(ids(resp.json()[kind.key])) == expected


def test_a_listing_of_every_cloud_names_no_missing_provider(ocx):
    resp = ocx.get(ocx.url("volume", "/volumes/detail"))
    assert resp.status_code == 200 and MISSING not in resp.headers


# Queries every cloud refuses: the answer is the service's own error.
REFUSED = [
    pytest.param("volumes", {"sort": "bogus:asc"}, id="cinder"),
    pytest.param("servers", {"sort_key": "bogus"}, id="nova"),
    pytest.param("images", {"sort_key": "bogus"}, id="glance"),
    pytest.param("networks", {"sort_key": "bogus", "sort_dir": "asc"}, id="neutron"),
]


@pytest.mark.parametrize("what, params", REFUSED)
def test_a_query_every_cloud_refuses_gets_the_services_own_400(ocx, direct, what, params):
    kind = KINDS[what]
    expected = direct["sp1"].get(direct["sp1"].url(kind.service, kind.path), params)
    assert expected.status_code == 400
    resp = ocx.get(ocx.url(kind.service, kind.path), params)
    assert error_of(resp) == error_of(expected)


# -- a named provider ---------------------------------------------------------------------------

@pytest.mark.parametrize("what", ["volumes", "servers", "images", "networks"])
def test_naming_a_provider_lists_that_cloud_alone(ocx_env, ocx, direct, what):
    kind = KINDS[what]
    ocx_env.reset_calls()
    through = listed(ocx, kind, headers={"X-OCX-Provider": "sp1"})
    assert ids(through) == ids(listed(direct["sp1"], kind))
    service = {"volume": "cinder", "compute": "nova", "image": "glance",
               "network": "neutron"}[kind.service]
    assert service not in ocx_env.calls("home") and service not in ocx_env.calls("sp2")
