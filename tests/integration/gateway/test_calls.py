"""How OCX treats calls: one K2K exchange for a burst, errors that name providers, headers."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from keystoneauth1 import session as ks_session
from keystoneauth1.identity import v3


def fresh_token(ocx_env) -> str:
    """A new home token for the demo user: OCX has no token mapping for it yet."""
    auth = ocx_env.clouds["ocx"]["auth"]
    return ks_session.Session(auth=v3.Password(**auth)).get_token()


@pytest.fixture
def exchanges(ocx_env, monkeypatch):
    """Counts the SAML assertions the home Keystone issues (one per K2K exchange)."""
    federation = ocx_env.sim.cloud("home").keystone.federation
    original = federation._assertion_for
    issued = []

    def counting(body):
        issued.append(body["auth"]["scope"]["service_provider"]["id"])
        return original(body)

    monkeypatch.setattr(federation, "_assertion_for", counting)
    return issued


def test_ten_concurrent_calls_from_a_new_token_make_one_k2k_exchange(ocx_env, exchanges):
    sp1 = ocx_env.connect("sp1")
    volume = sp1.block_storage.create_volume(size=1, name="burst")
    token = fresh_token(ocx_env)
    project = ocx_env.connect("ocx").current_project_id
    url = f"{ocx_env.url}/volume/v3/{project}/volumes/{volume.id}"

    def show(_):
        return requests.get(url, headers={"X-Auth-Token": token}, timeout=30)

    with ThreadPoolExecutor(10) as pool:
        answers = list(pool.map(show, range(10)))
    assert [a.status_code for a in answers] == [200] * 10
    assert all(a.json()["volume"]["id"] == volume.id for a in answers)
    assert exchanges.count("sp1") == 1 and exchanges.count("sp2") == 1


def test_answers_show_ocx_urls_with_the_local_project_never_a_providers(ocx_env):
    sp1 = ocx_env.connect("sp1")
    volume = sp1.block_storage.create_volume(size=1, name="linked")
    conn = ocx_env.connect("ocx")
    token, project = conn.session.get_token(), conn.current_project_id
    resp = requests.get(f"{ocx_env.url}/volume/v3/{project}/volumes/{volume.id}",
                        headers={"X-Auth-Token": token}, timeout=10)
    links = [link["href"] for link in resp.json()["volume"]["links"]]
    # The self link and Cinder's version-less bookmark link, both at OCX, both local.
    assert links and all(h.startswith(f"{ocx_env.url}/volume/") and f"/{project}/volumes/" in h
                         for h in links)
    sp1_cinder = ocx_env.sim.cloud("sp1").services["cinder"].base_url
    assert sp1_cinder not in resp.text


def test_version_documents_list_ocx_urls(ocx_env):
    for service, status in (("compute", 200), ("volume", 300), ("image", 300),
                            ("network", 200)):
        resp = requests.get(f"{ocx_env.url}/{service}/", timeout=10)
        assert resp.status_code == status, service
        hrefs = [link["href"] for v in resp.json()["versions"] for link in v.get("links", [])
                 if link["href"].startswith("http://127.0.0.1")]  # not the docs' links
        assert hrefs and all(h.startswith(f"{ocx_env.url}/{service}") for h in hrefs), service


def test_microversion_and_request_id_headers_pass_through(ocx_env):
    conn = ocx_env.connect("ocx")
    resp = requests.get(f"{ocx_env.url}/compute/v2.1/flavors",
                        headers={"X-Auth-Token": conn.session.get_token(),
                                 "OpenStack-API-Version": "compute 2.61"}, timeout=10)
    assert resp.status_code == 200
    assert resp.headers["OpenStack-API-Version"] == "compute 2.61"
    assert resp.headers["X-OpenStack-Request-ID"].startswith("req-")
    assert "description" in resp.json()["flavors"][0] or resp.json()["flavors"]


def test_a_provider_that_is_down_is_named_and_the_others_still_answer(ocx_env):
    sp1 = ocx_env.connect("sp1")
    volume = sp1.block_storage.create_volume(size=1, name="survivor")
    conn = ocx_env.connect("ocx")
    token, project = conn.session.get_token(), conn.current_project_id
    sim = ocx_env.sim
    sim.call(sim.cloud("sp2").set_down("cinder", True))
    try:
        found = requests.get(f"{ocx_env.url}/volume/v3/{project}/volumes/{volume.id}",
                             headers={"X-Auth-Token": token}, timeout=30)
        assert found.status_code == 200
        missing = requests.get(f"{ocx_env.url}/volume/v3/{project}/volumes/nowhere",
                               headers={"X-Auth-Token": token}, timeout=30)
        assert missing.status_code == 502
        message = missing.json()["computeFault"]["message"]
        assert "sp2" in message and "cannot be reached" in message
    finally:
        sim.call(sim.cloud("sp2").set_down("cinder", False))


def test_naming_an_unknown_provider_is_400(ocx_env):
    conn = ocx_env.connect("ocx")
    resp = requests.post(f"{ocx_env.url}/network/v2.0/networks",
                         json={"network": {"name": "x"}},
                         headers={"X-Auth-Token": conn.session.get_token(),
                                  "X-OCX-Provider": "mars"}, timeout=10)
    assert resp.status_code == 400
    assert "mars" in resp.json()["NeutronError"]["message"]


def test_a_call_that_comes_back_to_the_same_ocx_is_stopped(ocx_env):
    """Two gateways forwarding to each other would loop; OCX marks what it forwards."""
    conn = ocx_env.connect("ocx")
    headers = {"X-Auth-Token": conn.session.get_token()}
    other = requests.get(f"{ocx_env.url}/volume/v3/volumes",
                         headers={**headers, "X-OCX-Via": "another-ocx"}, timeout=10)
    assert other.status_code == 200  # another gateway's mark is no loop
    # The mark this OCX adds is what a peer would send back: it comes back as a loop.
    mark = _forwarded_mark(ocx_env, headers)
    looped = requests.get(f"{ocx_env.url}/volume/v3/volumes",
                          headers={**headers, "X-OCX-Via": mark}, timeout=10)
    assert looped.status_code == 508
    assert "loop" in looped.json()["computeFault"]["message"]


def _forwarded_mark(ocx_env, headers) -> str:
    """Make OCX forward one call to a recording server and return the X-OCX-Via it added."""
    from aiohttp import web

    marks = []

    async def record(request):
        marks.extend(request.headers.getall("X-OCX-Via", ()))
        return web.json_response({"versions": []})

    async def start():
        app = web.Application()
        app.router.add_get("/{tail:.*}", record)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        return runner, site._server.sockets[0].getsockname()[1]

    sim = ocx_env.sim
    runner, port = sim.call(start())
    keystone = sim.cloud("home").keystone
    endpoint = next(e for e in keystone.catalog_endpoints.values()
                    if e["interface"] == "internal"
                    and keystone.catalog_services[e["service_id"]]["type"] == "network")
    real = endpoint["url"]
    endpoint["url"] = f"http://127.0.0.1:{port}"
    try:
        token = ocx_env.connect("ocx").session.get_token()  # a token with the new catalog
        requests.get(f"{ocx_env.url}/network/v2.0/networks",
                     headers={"X-Auth-Token": token}, timeout=10)
    finally:
        endpoint["url"] = real
        sim.call(runner.cleanup())
    assert len(marks) == 1
    return marks[0]


def test_a_bad_token_is_refused_in_each_services_format(ocx_env):
    for service, path, key in (("compute", "/compute/v2.1/servers", "error"),
                               ("network", "/network/v2.0/networks", "error"),
                               ("volume", "/volume/v3/volumes", "error")):
        resp = requests.get(ocx_env.url + path, headers={"X-Auth-Token": "not-a-token"},
                            timeout=10)
        assert resp.status_code == 401, service
        assert resp.json()[key]["code"] == 401
