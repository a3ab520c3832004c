"""Seed 000, "Token Injection": the OCX in front of sp1's Cinder takes, from its peer only,
the mappings that let a call made with an sp1 token reach a volume in sp2."""
from __future__ import annotations

import datetime as dt
import time

import aiohttp
import orjson
import pytest
import requests
from keystoneauth1 import session as ks_session
from keystoneauth1.identity import v3

from ocx.config import PeerConfig
from ocx.learn.injection import PATH, encode, signature
from ocx.learn.peers import PeerClient, PeerRefused
from ocx.store import ResourceMapping, TokenMapping
from ocx.store.models import token_hash


class Login:
    """A fresh token of one cloud's demo user: its value, project, expiry and catalog."""

    def __init__(self, exchange, cloud: str, user: str = "demo") -> None:
        session = ks_session.Session(auth=v3.Password(**exchange.sim.auth_args(cloud, user)))
        self.token = session.get_token()
        access = session.auth.get_access(session)
        self.project = access.project_id
        self.expires_at = access.expires
        self.catalog = access.service_catalog.catalog


def mappings(sp1: Login, sp2: Login, volume_id: str, *, provider: str = "sp2"):
    tokens = [TokenMapping(local_token_hash=token_hash(sp1.token), local_project=sp1.project,
                           provider=provider, remote_token=sp2.token,
                           remote_project=sp2.project, expires_at=sp2.expires_at,
                           catalog=sp2.catalog)]
    resources = [ResourceMapping.learned("volumes", volume_id, provider, sp2.project, None,
                                         "peer")]
    return tokens, resources


def inject(exchange, tokens, resources, *, secret: str | None = None, auth: str = "secret",
           me: str = "user-ocx", service_token: str | None = None) -> None:
    """The user's OCX's own client, run on the clouds' loop, injecting into sp1's OCX."""

    peer = PeerConfig(name="sp1-ocx", url=exchange.sp1_ocx.url, fronts=("sp1",),
                      secret=exchange.secret if secret is None else secret, auth=auth,
                      accept_providers=(), accept_role=None)

    async def run():
        async def token() -> str:
            return service_token

        async with aiohttp.ClientSession() as session:
            client = PeerClient(session, [peer], me=me, timeout=10, service_token=token)
            await client.inject(peer, tokens, resources)

    exchange.sim.call(run())


def show_volume(exchange, login: Login, volume_id: str) -> requests.Response:
    """What sp1's Nova does: show the volume through sp1's OCX with its sp1 token."""
    return requests.get(f"{exchange.sp1_ocx.url}/volume/v3/{login.project}/volumes/{volume_id}",
                        headers={"X-Auth-Token": login.token}, timeout=30)


@pytest.fixture
def sp2_volume(exchange):
    conn = exchange.connect("sp2")
    volume = conn.block_storage.create_volume(size=1, name="bs1")
    yield conn.block_storage.wait_for_status(volume, "available", interval=0.2, wait=30)
    conn.block_storage.delete_volume(volume.id, ignore_missing=True)


def test_an_injected_mapping_takes_a_call_with_that_sp1_token_to_the_volume_in_sp2(
        exchange, sp2_volume):
    sp1, sp2 = Login(exchange, "sp1"), Login(exchange, "sp2")
    assert show_volume(exchange, sp1, sp2_volume.id).status_code == 404  # sp1 has no such one
    inject(exchange, *mappings(sp1, sp2, sp2_volume.id))
    shown = show_volume(exchange, sp1, sp2_volume.id)
    assert shown.status_code == 200, shown.text
    assert shown.json()["volume"]["name"] == "bs1"
    # Another sp1 token (another user's, or the same user's next one) has no mapping there.
    assert show_volume(exchange, Login(exchange, "sp1"), sp2_volume.id).status_code == 404
    assert show_volume(exchange, Login(exchange, "sp1", "admin"), sp2_volume.id).status_code \
        == 404


def test_an_injected_token_mapping_is_not_used_after_it_expires(exchange, sp2_volume):
    sp1, sp2 = Login(exchange, "sp1"), Login(exchange, "sp2")
    tokens, resources = mappings(sp1, sp2, sp2_volume.id)
    soon = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=2)
    tokens = [TokenMapping(**{**tokens[0].__dict__, "expires_at": soon})]
    inject(exchange, tokens, resources)
    assert show_volume(exchange, sp1, sp2_volume.id).status_code == 200
    time.sleep(2.5)
    assert show_volume(exchange, sp1, sp2_volume.id).status_code == 404


@pytest.mark.parametrize("how", ["wrong secret", "unknown peer", "no credential",
                                 "a member's token", "a bad token"])
def test_an_injection_without_the_peers_credential_is_refused_and_stores_nothing(
        exchange, sp2_volume, how):
    sp1, sp2 = Login(exchange, "sp1"), Login(exchange, "sp2")
    tokens, resources = mappings(sp1, sp2, sp2_volume.id)
    body = _document(tokens, resources)
    url = exchange.sp1_ocx.url + PATH
    now = int(time.time())
    headers = {"Content-Type": "application/json", "X-OCX-Peer": "user-ocx"}
    if how == "wrong secret":
        headers.update({"X-OCX-Peer-Time": str(now),
                        "X-OCX-Peer-Signature": signature("not-the-secret", now, "POST", PATH,
                                                          body)})
    elif how == "unknown peer":
        headers.update({"X-OCX-Peer": "stranger", "X-OCX-Peer-Time": str(now),
                        "X-OCX-Peer-Signature": signature(exchange.secret, now, "POST", PATH,
                                                          body)})
    elif how == "a member's token":  # valid at sp1, but without the role the peer needs
        headers["X-Auth-Token"] = sp1.token
    elif how == "a bad token":
        headers["X-Auth-Token"] = "gAAAA-not-a-token"
    answer = requests.post(url, data=body, headers=headers, timeout=10)
    assert answer.status_code == (403 if how == "a member's token" else 401), answer.text
    assert answer.json()["error"]["code"] == answer.status_code
    assert show_volume(exchange, sp1, sp2_volume.id).status_code == 404


def test_a_signed_injection_that_was_changed_on_the_way_is_refused(exchange, sp2_volume):
    sp1, sp2 = Login(exchange, "sp1"), Login(exchange, "sp2")
    body = _document(*mappings(sp1, sp2, sp2_volume.id))
    now = int(time.time())
    headers = {"Content-Type": "application/json", "X-OCX-Peer": "user-ocx",
               "X-OCX-Peer-Time": str(now),
               "X-OCX-Peer-Signature": signature(exchange.secret, now, "POST", PATH, body)}
    forged = body.replace(sp1.project.encode(), b"0" * len(sp1.project))
    answer = requests.post(exchange.sp1_ocx.url + PATH, data=forged, headers=headers,
                           timeout=10)
    assert answer.status_code == 401
    stale = {**headers, "X-OCX-Peer-Time": str(now - 3600), "X-OCX-Peer-Signature": signature(
        exchange.secret, now - 3600, "POST", PATH, body)}
    assert requests.post(exchange.sp1_ocx.url + PATH, data=body, headers=stale,
                         timeout=10).status_code == 401
    assert show_volume(exchange, sp1, sp2_volume.id).status_code == 404


def test_a_peer_may_inject_only_for_the_providers_it_is_trusted_with(exchange, sp2_volume):
    sp1, sp2 = Login(exchange, "sp1"), Login(exchange, "sp2")
    tokens, resources = mappings(sp1, sp2, sp2_volume.id, provider="home")
    with pytest.raises(PeerRefused) as refused:
        inject(exchange, tokens, resources)
    assert refused.value.status == 403 and "'home'" in refused.value.reason
    # Half good, half not: none of it is stored.
    good_tokens, good_resources = mappings(sp1, sp2, sp2_volume.id)
    with pytest.raises(PeerRefused):
        inject(exchange, good_tokens + tokens, good_resources)
    assert show_volume(exchange, sp1, sp2_volume.id).status_code == 404


def test_a_peer_sharing_the_home_keystone_may_inject_with_its_service_token(
        exchange, sp2_volume):
    sp1, sp2 = Login(exchange, "sp1"), Login(exchange, "sp2")
    service = Login(exchange, "sp1", "admin")  # admin: the role sp1's OCX accepts
    inject(exchange, *mappings(sp1, sp2, sp2_volume.id), auth="token",
           service_token=service.token)
    assert show_volume(exchange, sp1, sp2_volume.id).status_code == 200


@pytest.mark.parametrize("change, message", [
    (lambda d: d["token_mappings"][0].update(local_token_hash="abc"), "local_token_hash"),
    (lambda d: d["token_mappings"][0].update(expires_at="2001-01-01T00:00:00Z"), "expired"),
    (lambda d: d["resource_mappings"][0].update(type="kittens"), "kittens"),
    (lambda d: d.update(extra=1), "extra"),
    (lambda d: d.update(token_mappings=[], resource_mappings=[]), "no mapping"),
])
def test_a_malformed_injection_is_a_400_that_says_what_is_wrong(exchange, sp2_volume, change,
                                                                 message):
    sp1, sp2 = Login(exchange, "sp1"), Login(exchange, "sp2")
    document = orjson.loads(_document(*mappings(sp1, sp2, sp2_volume.id)))
    change(document)
    body = orjson.dumps(document)
    now = int(time.time())
    answer = requests.post(exchange.sp1_ocx.url + PATH, data=body, timeout=10, headers={
        "Content-Type": "application/json", "X-OCX-Peer": "user-ocx",
        "X-OCX-Peer-Time": str(now),
        "X-OCX-Peer-Signature": signature(exchange.secret, now, "POST", PATH, body)})
    assert answer.status_code == 400 and message in answer.json()["error"]["message"]
    assert show_volume(exchange, sp1, sp2_volume.id).status_code == 404


def _document(tokens, resources) -> bytes:

    return encode(tokens, resources)
