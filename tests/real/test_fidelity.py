"""Through OCX a client sees what the service itself says.

Each call is made twice, straight to cloud A's service and through OCX, and the two answers are
compared: the status, the headers a client reads (content type, microversion, ``Vary``,
``Location``, ``WWW-Authenticate``) and the body field by field. URLs differ by nature (OCX's
own in place of the service's): the normaliser puts one placeholder for either root. Ids need
none: both calls reach the same service of A, for the same user and project.

Version documents through OCX are combined over A and B: the versions both serve, each with
the microversion range both serve. A and B run the same release, so that range is A's own and
the comparison is exact; ``test_a_and_b_serve_the_same_ranges`` holds that premise.
"""
from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import openstack
import pytest
import requests
from keystoneauth1 import session as ks_session
from keystoneauth1.identity import v3

from ocx.backends.catalog import service_root

from .layout import REGION

pytestmark = pytest.mark.timeout(1200)

# OCX's prefix → the type A's catalog lists the service under.
CATALOG_TYPES = {"image": "image", "volume": "volumev3", "network": "network",
                 "compute": "compute"}
COMPARED_HEADERS = ("Content-Type", "OpenStack-API-Version", "X-OpenStack-Nova-API-Version",
                    "Vary", "Location", "WWW-Authenticate")
ROOT = "<root>"
MISSING = "00000000-0000-4000-8000-000000000000"
BAD_TOKEN = "gAAAAABnot-a-token"


# -- the two answers and how they are compared -------------------------------------------------

@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]   # COMPARED_HEADERS the answer has
    body: Any                 # the JSON document, else the text


def normalised(value: Any, root: str) -> Any:
    """``value`` with the service's root URL (direct or OCX's) put as :data:`ROOT`."""
    if isinstance(value, str):
        return value.replace(root, ROOT)
    if isinstance(value, list):
        return [normalised(v, root) for v in value]
    if isinstance(value, dict):
        return {k: normalised(v, root) for k, v in value.items()}
    return value


def ask(root: str, method: str, path: str, token: str | None = None,
        headers: dict[str, str] | None = None, body: bytes | None = None) -> Answer:
    sent = dict(headers or {})
    if token:
        sent["X-Auth-Token"] = token
    response = requests.request(method, root + path, headers=sent, data=body, timeout=60,
                                allow_redirects=False)
    try:
        document = response.json()
    except ValueError:
        document = response.text
    kept = {name: response.headers[name] for name in COMPARED_HEADERS
            if name in response.headers}
    return Answer(response.status_code, normalised(kept, root), normalised(document, root))


@dataclass(frozen=True)
class Roots:
    """A's service root and OCX's, by OCX's prefix."""

    direct: dict[str, str]
    through: dict[str, str]

    def both(self, service: str, method: str, path: str, **kwargs) -> tuple[Answer, Answer]:
        return (ask(self.direct[service], method, path, **kwargs),
                ask(self.through[service], method, path, **kwargs))


def assert_same(roots: Roots, service: str, method: str, path: str, **kwargs) -> Answer:
    direct, through = roots.both(service, method, path, **kwargs)
    assert through == direct, f"{method} {service}{path} {kwargs.get('headers') or ''}"
    return direct


# -- fixtures ----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def roots(real_clouds, ocx) -> Roots:
    endpoints = real_clouds.a.endpoints()
    return Roots({s: service_root(endpoints[t]) for s, t in CATALOG_TYPES.items()},
                 {s: f"{ocx.url}/{s}" for s in CATALOG_TYPES})


@pytest.fixture(scope="module")
def demo(real_clouds) -> ks_session.Session:
    return ks_session.Session(auth=v3.Password(**real_clouds.auth(real_clouds.a, "demo")))


@pytest.fixture(scope="module")
def token(demo) -> str:
    return demo.get_token()


@pytest.fixture(scope="module")
def project(demo) -> str:
    return demo.get_project_id()


@pytest.fixture(scope="module")
def in_a(demo) -> openstack.connection.Connection:
    return openstack.connection.Connection(session=demo, region_name=REGION)


@pytest.fixture(scope="module")
def held(in_a) -> Iterator[dict[str, str]]:
    """An image of A with an id of our choosing, and a network of A with a port on it."""
    image_id = str(uuid.uuid4())
    in_a.image.post("/images", json={"id": image_id, "name": "fidelity-held",
                                     "disk_format": "raw", "container_format": "bare"}
                    ).raise_for_status()
    network = in_a.network.create_network(name="fidelity-in-use")
    port = in_a.network.create_port(network_id=network.id)
    try:
        yield {"image": image_id, "network": network.id}
    finally:
        in_a.network.delete_port(port.id, ignore_missing=True)
        in_a.network.delete_network(network.id, ignore_missing=True)
        in_a.image.delete_image(image_id, ignore_missing=True)


# -- version discovery -------------------------------------------------------------------------

VERSION_PATHS = {
    "image": ("", "/", "/versions", "/v2", "/v2/"),
    "volume": ("", "/", "/v3", "/v3/", "/v3/{project}", "/v3/{project}/"),
    "network": ("", "/", "/v2.0", "/v2.0/"),
    "compute": ("", "/", "/v2", "/v2/", "/v2.1", "/v2.1/", "/v2.1/{project}/"),
}


@pytest.mark.parametrize("service,path", [(s, p) for s, paths in VERSION_PATHS.items()
                                          for p in paths])
def test_version_documents_are_the_services_own(roots, token, project, service, path):
    path = path.format(project=project)
    # With a good token first: OCX then keeps the combined document, and what it gives callers
    # without a (valid) token afterwards must still be what the service gives them.
    for kind, sent in (("good", token), ("none", None), ("bad", BAD_TOKEN)):
        for method in ("GET", "HEAD"):
            direct, through = roots.both(service, method, path, token=sent)
            assert through == direct, f"{method} {service}{path} with {kind} token"


def test_a_and_b_serve_the_same_ranges(real_clouds, token):
    """The premise of the exact comparison above: B's ranges are A's (compute: A only)."""
    for service in ("image", "volumev3", "network"):
        found = [requests.get(service_root(cloud.endpoints()[service]) + "/", timeout=30
                              ).json()["versions"] for cloud in (real_clouds.a, real_clouds.b)]
        ranges = [{(v["id"], v["status"], v.get("version"), v.get("min_version")) for v in vs}
                  for vs in found]
        assert ranges[0] == ranges[1], service


def test_the_unauthenticated_first_call_of_keystoneauth(roots, token, project):
    """keystoneauth discovers Cinder at the catalog's URL without its project, with no token
    (``GET /v3/``): Cinder answers 401 and keystoneauth asks again with the token. Through OCX
    the same: a 200 there would be a document Cinder does not give."""
    anonymous = assert_same(roots, "volume", "GET", "/v3/", headers={"Accept":
                                                                      "application/json"})
    assert anonymous.status == 401 and "WWW-Authenticate" in anonymous.headers
    with_token = assert_same(roots, "volume", "GET", "/v3/", token=token,
                             headers={"Accept": "application/json"})
    assert with_token.status == 200 and with_token.body["versions"][0]["id"] == "v3.0"


# -- microversions -----------------------------------------------------------------------------

# A call that reads no resource, and the version root; then what is asked: in range, the
# newest, beyond the newest (406), below the oldest (406), malformed (400), another service's.
MICROVERSION_CALLS = {"volume": ("/v3/{project}/types", "/v3/"),
                      "compute": ("/v2.1/os-availability-zone", "/v2.1/")}
ASKED = {"volume": ("volume 3.0", "volume 3.59", "volume latest", "volume 3.9999",
                    "volume 2.0", "volume abc", "volume 3.0.1", "compute 2.5"),
         "compute": ("compute 2.1", "compute 2.79", "compute latest", "compute 2.9999",
                     "compute 1.0", "compute abc", "compute 2.1.1", "volume 3.5")}


@pytest.mark.parametrize("service,value", [(s, v) for s, values in ASKED.items()
                                           for v in values])
def test_microversions_are_negotiated_as_by_the_service(roots, token, project, service, value):
    for path in MICROVERSION_CALLS[service]:
        assert_same(roots, service, "GET", path.format(project=project), token=token,
                    headers={"OpenStack-API-Version": value})


@pytest.mark.parametrize("value", ["2.1", "2.50", "latest", "2.9999", "x"])
def test_novas_legacy_microversion_header(roots, token, value):
    assert_same(roots, "compute", "GET", "/v2.1/os-availability-zone", token=token,
                headers={"X-OpenStack-Nova-API-Version": value})
    assert_same(roots, "compute", "GET", "/v2.1/os-availability-zone", token=token,
                headers={"X-OpenStack-Nova-API-Version": value,
                         "OpenStack-API-Version": "compute 2.10"})


def test_openstacksdk_negotiates_the_same_microversions(real_clouds, ocx, in_a, held):
    through = ocx.connect()
    for proxy in ("block_storage", "compute", "image", "network"):
        direct_data = getattr(in_a, proxy).get_endpoint_data()
        through_data = getattr(through, proxy).get_endpoint_data()
        assert (through_data.api_version, through_data.min_microversion,
                through_data.max_microversion) == \
            (direct_data.api_version, direct_data.min_microversion,
             direct_data.max_microversion), proxy
    # Calls that need discovery first work through OCX and find what A has.
    assert held["image"] in {i.id for i in through.image.images()}
    assert held["network"] in {n.id for n in through.network.networks()}
    assert {s.id for s in in_a.compute.servers()} <= {s.id for s in through.compute.servers()}
    for conn in (in_a, through):
        with pytest.raises(openstack.exceptions.NotFoundException) as missing:
            conn.block_storage.get_volume(MISSING)
        assert f"Volume {MISSING} could not be found" in str(missing.value)


# -- errors ------------------------------------------------------------------------------------

def test_missing_resources_are_the_services_own_404(roots, token, project):
    volume = f"/v3/{project}/volumes/{MISSING}"
    calls = [("image", "GET", f"/v2/images/{MISSING}", {}),
             ("image", "GET", f"/v2/images/{MISSING}", {"Accept": "application/json"}),
             ("image", "GET", f"/v2/images/{MISSING}/file", {}),
             ("image", "DELETE", f"/v2/images/{MISSING}", {}),
             ("volume", "GET", volume, {}),
             ("volume", "DELETE", volume, {"OpenStack-API-Version": "volume 3.60"}),
             ("network", "GET", f"/v2.0/networks/{MISSING}", {}),
             ("network", "DELETE", f"/v2.0/networks/{MISSING}", {}),
             ("compute", "GET", f"/v2.1/servers/{MISSING}", {}),
             ("compute", "DELETE", f"/v2.1/servers/{MISSING}", {}),
             ("compute", "GET", f"/v2.1/flavors/{MISSING}", {})]
    for service, method, path, headers in calls:
        answer = assert_same(roots, service, method, path, token=token, headers=headers)
        assert answer.status == 404, (method, path)
    # A call that is not a plain GET: the service words its 404 for that very call.
    stop = assert_same(roots, "compute", "POST", f"/v2.1/servers/{MISSING}/action",
                       token=token, headers={"Content-Type": "application/json"},
                       body=b'{"os-stop": null}')
    assert stop.status == 404


def test_conflicts_are_the_services_own_409(roots, token, held):
    image = b'{"id": "%s", "name": "again"}' % held["image"].encode()
    created = assert_same(roots, "image", "POST", "/v2/images", token=token,
                          headers={"Content-Type": "application/json"}, body=image)
    assert created.status == 409
    in_use = assert_same(roots, "network", "DELETE", f"/v2.0/networks/{held['network']}",
                         token=token)
    assert in_use.status == 409 and in_use.body["NeutronError"]["type"] == "NetworkInUse"


def test_over_quota_is_the_services_own_413(roots, token, project):
    too_big = b'{"volume": {"size": 1000000, "name": "fidelity-too-big"}}'
    answer = assert_same(roots, "volume", "POST", f"/v3/{project}/volumes", token=token,
                         headers={"Content-Type": "application/json"}, body=too_big)
    assert answer.status == 413 and "overLimit" in answer.body


@pytest.mark.parametrize("service,path", [("image", "/v2/images"),
                                          ("volume", "/v3/{project}/volumes"),
                                          ("network", "/v2.0/networks"),
                                          ("compute", "/v2.1/servers")])
def test_a_body_that_is_not_json_is_the_services_own_400(roots, token, project, service, path):
    answer = assert_same(roots, service, "POST", path.format(project=project), token=token,
                         headers={"Content-Type": "application/json"}, body=b"{not json")
    assert answer.status == 400


@pytest.mark.parametrize("service,path", [("image", "/v2/images"),
                                          ("volume", "/v3/{project}/volumes"),
                                          ("network", "/v2.0/networks"),
                                          ("compute", "/v2.1/servers")])
@pytest.mark.parametrize("accept", [None, "*/*", "application/json", "text/plain"])
def test_no_or_a_bad_token_is_the_services_own_401(roots, project, service, path, accept):
    headers = {"Accept": accept}  # None: no Accept header at all (Glance then answers text)
    for sent in (None, BAD_TOKEN):
        answer = assert_same(roots, service, "GET", path.format(project=project), token=sent,
                             headers=headers)
        assert answer.status == 401


@pytest.mark.parametrize("service,path", [("image", "/v2/images/"),
                                          ("volume", "/v3/{project}/volumes/"),
                                          ("network", "/v2.0/networks/"),
                                          ("compute", "/v2.1/servers/")])
def test_a_trailing_slash_reaches_the_service(roots, token, project, service, path):
    """Services tell ``/servers/`` from ``/servers``: OCX passes the path on as it came."""
    direct, through = roots.both(service, "GET", path.format(project=project), token=token)
    assert (through.status, through.headers.get("Content-Type")) == \
        (direct.status, direct.headers.get("Content-Type"))
