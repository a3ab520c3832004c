"""What OCX keeps for one user never serves another (issue 12, isolation).

``demo`` and ``eve`` (projects ``demo`` and ``rival``) make resources of the same names at home,
at the service providers sp1 and sp2 and at the controller landlord ctl, at the same time. Each
then sees their own and only their own: through their token mappings (a remote token of their
own, scoped to their own remote project), in every listing (merged over every cloud, paged,
filtered), by id (another project's resource is not found, and the mapping OCX keeps of it is
left alone for its owner), with another's marker, and in their quotas.
"""
from __future__ import annotations

import concurrent.futures
import hashlib

import pytest
import requests

NAME = "twin"


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@pytest.fixture(scope="module")
def made(env) -> dict[str, dict[str, set[str]]]:
    """Per user, the ids of what they made through OCX: volumes at home, sp1 and sp2, networks
    at home, sp1 and ctl, all named alike."""
    made = {}
    for user in ("demo", "eve"):
        conn = env.connect(user)
        volumes = {conn.block_storage.create_volume(size=1, name=f"{NAME}{where}").id
                   for where in ("", "@sp1", "@sp2")}
        networks = {conn.network.create_network(name=f"{NAME}{where}").id
                    for where in ("", "@sp1", "@ctl")}
        made[user] = {"volumes": volumes, "networks": networks}
    assert not made["demo"]["volumes"] & made["eve"]["volumes"]
    return made


def _burst(env, tokens: dict[str, str], path: str, times: int = 6) -> list[tuple[str, dict]]:
    """``times`` calls per user at once, every user's interleaved; (user, answer) of each."""
    def one(user):
        resp = requests.get(env.url + path, headers={"X-Auth-Token": tokens[user]}, timeout=60)
        assert resp.status_code == 200, resp.text
        return user, resp.json()

    users = [user for _ in range(times) for user in tokens]
    with concurrent.futures.ThreadPoolExecutor(len(users)) as pool:
        return list(pool.map(one, users))


def test_new_tokens_of_both_users_at_once_each_get_their_own_mappings(env, made):
    # Tokens OCX has never seen: validated, exchanged (K2K) and mapped in one burst.
    tokens = {user: env.token(user) for user in ("demo", "eve")}
    for user, answer in _burst(env, tokens, "/volume/v3/volumes/detail"):
        ids = {v["id"] for v in answer["volumes"]}
        other = "eve" if user == "demo" else "demo"
        assert made[user]["volumes"] <= ids and not ids & made[other]["volumes"], user

    store = env.gateway.s.store
    remote = {}
    for user, project in (("demo", "demo"), ("eve", "rival")):
        local_project = env.project_at("home", project)
        for provider in ("sp1", "sp2"):
            mapping = env.sim.call(store.get_token_mapping(_hash(tokens[user]), local_project,
                                                           provider))
            assert mapping is not None, (user, provider)
            # The remote token is the user's own federated one, scoped to the project of the
            # user's project's name at that provider.
            token = env.sim.cloud(provider).tokens.validate(mapping.remote_token)
            assert (token.user_name, token.project_id) == (
                user, env.project_at(provider, project)), (user, provider)
            assert mapping.remote_project == token.project_id
            remote[user, provider] = mapping.remote_token
    assert len(set(remote.values())) == 4


def test_remote_tokens_made_anew_at_once_go_each_to_their_own_user(env, made):
    """sp1's Keystone forgets every token: both users' next calls, at once, are refused there
    and OCX makes each a fresh mapping (``identity.heal``), from their own home token."""
    tokens = {user: env.token(user) for user in ("demo", "eve")}
    _burst(env, tokens, "/volume/v3/volumes", times=1)          # mappings made at sp1

    async def restart():
        env.sim.cloud("sp1").tokens.forget_all()
    env.sim.call(restart())
    for user, answer in _burst(env, tokens, "/volume/v3/volumes/detail", times=4):
        ids = {v["id"] for v in answer["volumes"]}
        other = "eve" if user == "demo" else "demo"
        assert made[user]["volumes"] <= ids and not ids & made[other]["volumes"], user
    store = env.gateway.s.store
    for user, project in (("demo", "demo"), ("eve", "rival")):
        mapping = env.sim.call(store.get_token_mapping(
            _hash(tokens[user]), env.project_at("home", project), "sp1"))
        token = env.sim.cloud("sp1").tokens.validate(mapping.remote_token)
        assert (token.user_name, token.project_id) == (user, env.project_at("sp1", project))


def _all_pages(env, token: str, path: str, key: str) -> list[dict]:
    """Every item of a listing, page by page along the ``next`` links OCX gives."""
    items, url = [], env.url + path
    while url:
        resp = requests.get(url, headers={"X-Auth-Token": token}, timeout=60)
        assert resp.status_code == 200, resp.text
        body = resp.json()
        items += body[key]
        url = next((link["href"] for link in body.get(f"{key}_links", ())
                    if link["rel"] == "next"), None)
    return items


@pytest.mark.parametrize("path, key", [
    ("/volume/v3/volumes", "volumes"),
    ("/volume/v3/volumes/detail?limit=1", "volumes"),
    (f"/volume/v3/volumes/detail?name={NAME}&sort=name:asc", "volumes"),
    ("/network/v2.0/networks?limit=1", "networks"),
    (f"/network/v2.0/networks?name={NAME}", "networks"),
])
def test_a_listing_over_every_cloud_shows_only_the_callers_project(env, made, path, key):
    tokens = {user: env.token(user) for user in ("demo", "eve")}
    for user, other in (("demo", "eve"), ("eve", "demo")):
        ids = [item["id"] for item in _all_pages(env, tokens[user], path, key)]
        assert len(ids) == len(set(ids))
        assert not set(ids) & made[other][key], user
        if NAME in path:  # only what is named so: exactly the caller's own
            assert set(ids) == made[user][key], user
        else:
            assert made[user][key] <= set(ids), user


def test_another_projects_resource_is_not_found_and_its_mapping_stays(env, made):
    store = env.gateway.s.store
    eve = env.token("eve")
    demo_volumes = sorted(made["demo"]["volumes"])
    before = {v: env.sim.call(store.get_resource_mapping("volumes", v)) for v in demo_volumes}
    assert all(before.values())
    for volume in demo_volumes:
        for method, body in (("GET", None), ("PUT", {"volume": {"name": "mine-now"}}),
                             ("DELETE", None)):
            resp = requests.request(method, f"{env.url}/volume/v3/volumes/{volume}",
                                    headers={"X-Auth-Token": eve}, json=body, timeout=60)
            assert resp.status_code == 404, (method, resp.text)
            assert "itemNotFound" in resp.json()
    for network in made["demo"]["networks"]:
        resp = requests.delete(f"{env.url}/network/v2.0/networks/{network}",
                               headers={"X-Auth-Token": eve}, timeout=60)
        assert resp.status_code == 404, resp.text
        assert resp.json()["NeutronError"]["type"] == "NetworkNotFound"

    # What eve could not see says nothing about it: demo's mappings are as they were, and
    # demo's next call goes straight to the volume's cloud, searching nowhere.
    assert {v: env.sim.call(store.get_resource_mapping("volumes", v))
            for v in demo_volumes} == before
    demo = env.connect("demo")
    list(demo.block_storage.volumes())  # (openstacksdk's version discovery, before counting)
    for volume in demo_volumes:
        env.sim.call(_clear_calls(env))
        assert demo.block_storage.get_volume(volume).name.startswith(NAME)
        asked = {cloud for cloud in ("home", "sp1", "sp2")
                 if env.sim.cloud(cloud).call_counts().get("cinder")}
        assert asked == {before[volume].provider}
    assert {n.id for n in demo.network.networks(name=NAME)} == made["demo"]["networks"]


async def _clear_calls(env):
    for cloud in env.sim.exchange.clouds.values():
        cloud.calls.clear()


def test_one_projects_marker_is_refused_to_another(env, made):
    demo, eve = env.token("demo"), env.token("eve")
    query = "/volume/v3/volumes?limit=1&sort=name:asc"
    first = requests.get(env.url + query, headers={"X-Auth-Token": demo}, timeout=60).json()
    [next_link] = [link["href"] for link in first["volumes_links"] if link["rel"] == "next"]
    last = first["volumes"][-1]["id"]
    assert last in made["demo"]["volumes"]
    marker = next_link.partition("marker=")[2]
    # OCX's marker of demo's page (it holds where demo's listing stood at each cloud) is
    # signed for demo's project: to eve it is a marker Cinder does not know, as Cinder
    # answers it. So is demo's last id given as a client gives it (OCX keeps a recent cursor
    # for it, demo's own).
    for given in (marker, last):
        resp = requests.get(f"{env.url}{query}&marker={given}", headers={"X-Auth-Token": eve},
                            timeout=60)
        assert resp.status_code == 404, resp.text
        assert resp.json()["itemNotFound"]["message"] == f"Volume {given} could not be found."
        assert not any(v in resp.text for v in made["demo"]["volumes"] - {last})
    # And demo still pages on from there.
    resp = requests.get(next_link, headers={"X-Auth-Token": demo}, timeout=60)
    assert resp.status_code == 200
    assert {v["id"] for v in resp.json()["volumes"]} <= made["demo"]["volumes"]


def test_quotas_are_the_callers_projects_alone(env, made):
    for user, project in (("demo", "demo"), ("eve", "rival")):
        resp = env.get("/ocx/v1/quotas", env.token(user))
        assert resp.status_code == 200, resp.text
        body = resp.json()
        assert body["project_id"] == env.project_at("home", project)
        remote = {q["provider"]: q["remote_project"] for q in body["quotas"]}
        assert remote["sp1"] == env.project_at("sp1", project)
        assert remote["sp2"] == env.project_at("sp2", project)
        other = "rival" if project == "demo" else "demo"
        assert not any(env.project_at(cloud, other) in resp.text
                       for cloud in ("home", "sp1", "sp2"))


def test_a_version_document_kept_for_one_user_holds_nothing_of_theirs(env, made):
    demo = env.token("demo")
    for path in ("/volume/v3/", "/compute/v2.1/", "/network/v2.0/extensions"):
        resp = requests.get(env.url + path, headers={"X-Auth-Token": demo}, timeout=60)
        assert resp.status_code == 200
    # Kept combined documents are what a caller without a token, or another user, is given:
    # no project of the caller's is in them.
    names = {env.project_at(cloud, "demo") for cloud in ("home", "sp1", "sp2")}
    for path in ("/volume/v3/", "/compute/v2.1/", "/network/v2.0/extensions"):
        for token in (None, env.token("eve")):
            resp = env.get(path, token)
            # (Cinder's /v3/ and Neutron's extensions want a token: a 401 then.)
            assert resp.status_code == (200 if token or path == "/compute/v2.1/" else 401)
            assert not any(n in resp.text for n in names), path
