"""OCX's own API is an operator's and a peer's, not a user's (issue 12, isolation).

``/ocx/v1/projects`` and ``/ocx/v1/providers`` show every project and provider: the admin role
only (a member is 403, no token or a bad one 401). ``/ocx/v1/quotas`` is each caller's own
(``test_two_users``), and wants a token. ``/ocx/v1/peer/mappings`` writes mappings every user's
calls follow: only a peer proves itself (its secret's signature, recent and not seen before,
or a token with the peer role); anything else is refused and stores nothing.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import time

import pytest
import requests

from ocx.learn.injection import PATH, encode, signature
from ocx.store import ResourceMapping, TokenMapping

from .conftest import PEER

ADMIN_PATHS = ("/ocx/v1/projects", "/ocx/v1/providers")


@pytest.mark.parametrize("path", ADMIN_PATHS)
def test_the_operators_api_needs_the_admin_role(env, path):
    assert env.get(path, env.token("admin")).status_code == 200
    for user in ("demo", "eve", "courier"):
        resp = env.get(path, env.token(user))
        assert resp.status_code == 403, (user, resp.text)
        assert resp.json()["error"]["code"] == 403
        assert "projects" not in resp.json() and "providers" not in resp.json()


@pytest.mark.parametrize("path", (*ADMIN_PATHS, "/ocx/v1/quotas"))
@pytest.mark.parametrize("token", [None, "", "gAAAAA" + "x" * 100, "not a token"])
def test_the_own_api_without_a_valid_token_is_401(env, path, token):
    headers = {} if token is None else {"X-Auth-Token": token}
    resp = requests.get(env.url + path, headers=headers, timeout=30)
    assert resp.status_code == 401, resp.text
    assert resp.json()["error"]["code"] == 401
    assert resp.headers["WWW-Authenticate"].startswith("Keystone uri=")


# -- injections -----------------------------------------------------------------------------------

def _injection(env) -> tuple[bytes, TokenMapping, ResourceMapping]:
    """A document of one token mapping (an unknown local token → sp1) and one resource
    mapping (a volume id → sp2), both new."""
    expires = dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=1)
    token = TokenMapping(local_token_hash=hashlib.sha256(secrets.token_bytes(16)).hexdigest(),
                         local_project=env.project_at("home", "demo"), provider="sp1",
                         remote_token="gAAAAA" + secrets.token_urlsafe(40),
                         remote_project=env.project_at("sp1", "demo"), expires_at=expires,
                         catalog=[])
    resource = ResourceMapping.learned("volumes", secrets.token_hex(16), "sp2",
                                       env.project_at("sp2", "demo"), None, "peer")
    return encode([token], [resource]), token, resource


def _stored(env, token: TokenMapping, resource: ResourceMapping) -> tuple[bool, bool]:
    store = env.gateway.s.store
    return (env.sim.call(store.get_token_mapping(token.local_token_hash, token.local_project,
                                                 token.provider)) is not None,
            env.sim.call(store.get_resource_mapping("volumes", resource.resource_id))
            is not None)


def _signed(secret: str, body: bytes, when: int | None = None) -> dict[str, str]:
    when = int(time.time()) if when is None else when
    return {"X-OCX-Peer": PEER, "X-OCX-Peer-Time": str(when),
            "X-OCX-Peer-Signature": signature(secret, when, "POST", PATH, body)}


def _post(env, body: bytes, headers: dict[str, str]) -> requests.Response:
    return requests.post(env.url + PATH, data=body, timeout=30,
                         headers={"Content-Type": "application/json", **headers})


REFUSALS = {
    # how the call is made → the status OCX answers
    "nothing": 401, "the peer's name alone": 401, "an unknown peer": 401,
    "another secret": 401, "a signature of another body": 401, "the time changed": 401,
    "a signature too old": 401, "a signature from the future": 401,
    "a member's token": 403, "an admin's token": 403, "a token made up": 401,
}


@pytest.mark.parametrize("how", REFUSALS)
def test_an_injection_without_a_peers_credential_is_refused_and_stores_nothing(env, how):
    body, token, resource = _injection(env)
    secret, now = env.peer_secret, int(time.time())
    headers = {
        "nothing": {},
        "the peer's name alone": {"X-OCX-Peer": PEER},
        "an unknown peer": {**_signed(secret, body), "X-OCX-Peer": "stranger"},
        "another secret": _signed(secrets.token_urlsafe(24), body),
        "a signature of another body": _signed(secret, body + b" "),
        "the time changed": {**_signed(secret, body, now), "X-OCX-Peer-Time": str(now + 1)},
        "a signature too old": _signed(secret, body, now - 3600),
        "a signature from the future": _signed(secret, body, now + 3600),
        "a member's token": {"X-OCX-Peer": PEER, "X-Auth-Token": env.token("demo")},
        "an admin's token": {"X-OCX-Peer": PEER, "X-Auth-Token": env.token("admin")},
        "a token made up": {"X-OCX-Peer": PEER, "X-Auth-Token": "gAAAAA" + "y" * 80},
    }[how]
    resp = _post(env, body, headers)
    assert resp.status_code == REFUSALS[how], resp.text
    assert resp.json()["error"]["code"] == REFUSALS[how]
    assert _stored(env, token, resource) == (False, False)


def test_a_peer_is_taken_with_its_signature_or_its_roles_token(env):
    for headers in (lambda body: _signed(env.peer_secret, body),
                    lambda body: {"X-OCX-Peer": PEER, "X-Auth-Token": env.token("courier")}):
        body, token, resource = _injection(env)
        resp = _post(env, body, headers(body))
        assert resp.status_code == 200, resp.text
        assert resp.json() == {"injected": {"token_mappings": 1, "resource_mappings": 1}}
        assert _stored(env, token, resource) == (True, True)


@pytest.mark.parametrize("case", ["as sent", "in capitals"])
def test_a_signed_injection_replayed_stores_nothing(env, case):
    """A signed injection is taken once: sent again (by someone who saw it pass), within the
    time its signature is good for, it changes nothing, so it cannot bring back mappings OCX
    has since dropped or replaced."""
    body, token, resource = _injection(env)
    headers = _signed(env.peer_secret, body)
    assert _post(env, body, headers).status_code == 200
    store = env.gateway.s.store
    env.sim.call(store.delete_token_mappings(local_token_hash=token.local_token_hash))
    env.sim.call(store.delete_resource_mapping("volumes", resource.resource_id))
    if case == "in capitals":
        headers["X-OCX-Peer-Signature"] = headers["X-OCX-Peer-Signature"].upper()
    resp = _post(env, body, headers)
    assert resp.status_code == 200, resp.text
    assert resp.json() == {"injected": {"token_mappings": 0, "resource_mappings": 0}}
    assert _stored(env, token, resource) == (False, False)
