"""No token, password or SAML assertion appears in any line OCX logs, at any level (issue 3).

``ocx -v serve`` runs in a process of its own with the root logger at DEBUG, so every library it
uses (aiohttp, keystoneauth1, urllib3, SQLAlchemy, aiosqlite, alembic, ...) logs whatever it
would; all of it lands in the process's stdout and stderr. A full run goes through it: logins,
a search that makes K2K exchanges, shows and a listing in sp1, creates at home and in sp1, an
image's data both ways, refused tokens. Then the output is searched for every token any of the
three clouds issued, every password, and what a SAML assertion would leave.
"""
from __future__ import annotations

import hashlib
import re
import secrets

import pytest
import requests
from sqlalchemy.engine import make_url

from tests.conftest import start_sim
from tests.integration.gateway.test_streaming import OcxProcess

CLOUDS = ("home", "sp1", "sp2")
# A secret counts as leaked if any piece of it this long shows (a truncated token is a token).
PIECE = 16
# Fernet tokens and ciphertexts (remote tokens encrypted at rest) begin so, and so do the
# simulated clouds' token ids: not even an encrypted token belongs in a log.
FERNET = re.compile(r"gAAAAA[A-Za-z0-9_\-]{16,}")
# What a SAML assertion, or the ECP exchange around it, would leave in a log line.
SAML_MARKS = ("urn:oasis:names:tc:SAML", "SignatureValue", "X509Certificate", "saml2:Assertion",
              "_shibsession_", "ss:mem:")


@pytest.fixture(scope="module")
def clouds():
    yield from start_sim(",".join(CLOUDS))


@pytest.fixture(scope="module")
def issued(clouds) -> list[tuple[str, str]]:
    """(cloud, token id) of every token the clouds issue from now on: OCX's own, the
    callers', the K2K ones."""
    tokens: list[tuple[str, str]] = []
    for name in CLOUDS:
        registry = clouds.cloud(name).tokens
        add = registry.add

        def recording_add(token, name=name, add=add):
            tokens.append((name, token.id))
            return add(token)
        registry.add = recording_add
    return tokens


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def ocx_process(request, clouds, issued, tmp_path_factory):
    store_url = request.getfixturevalue("postgres_url") if request.param == "postgresql" \
        else None
    ocx = OcxProcess(clouds, tmp_path_factory.mktemp("ocx-verbose"), verbose=True,
                     store_url=store_url)
    try:
        yield ocx
    finally:
        ocx.stop()


def leaks(text: str, secrets_: dict[str, str]) -> list[str]:
    """The names of the secrets of which a piece (``PIECE`` characters) appears in ``text``."""
    pieces: dict[str, str] = {}
    for name, secret in secrets_.items():
        for i in range(max(1, len(secret) - PIECE + 1)):
            pieces.setdefault(secret[i:i + PIECE], name)
    found = {name for piece, name in pieces.items() if len(piece) < PIECE and piece in text}
    for i in range(len(text) - PIECE + 1):
        name = pieces.get(text[i:i + PIECE])
        if name is not None:
            found.add(name)
    return sorted(found)


def run_everything_through(ocx: OcxProcess, clouds) -> list[str]:
    """A full run: every kind of call OCX handles. Returns the made-up tokens it presented."""
    sp1 = ocx.connect("sp1")
    in_sp1 = sp1.block_storage.create_volume(size=1, name="lives-in-sp1")
    sp1.block_storage.wait_for_status(in_sp1, "available", wait=30)

    conn = ocx.connect("ocx")
    # A volume OCX has not seen: searched at every cloud, with K2K exchanges; then mapped.
    assert conn.block_storage.get_volume(in_sp1.id).name == "lives-in-sp1"
    assert conn.block_storage.get_volume(in_sp1.id).name == "lives-in-sp1"
    at_home = conn.block_storage.create_volume(size=1, name="made-at-home")
    conn.block_storage.wait_for_status(at_home, "available", wait=30)
    conn.block_storage.delete_volume(at_home)

    # In a named service provider: a listing, a JSON create, an image's data up and down.
    named = ocx.connect("ocx", provider="sp1")
    assert in_sp1.id in {v.id for v in named.block_storage.volumes()}
    network = named.network.create_network(name="net-in-sp1")
    data = secrets.token_bytes(65536)
    image = named.image.create_image("small", data=data, disk_format="raw",
                                     container_format="bare", allow_duplicates=True)
    assert clouds.cloud("sp1").services["glance"].images[image.id].size == len(data)
    assert b"".join(named.image.download_image(image, stream=True).iter_content(4096)) == data
    named.image.delete_image(image)
    named.network.delete_network(network)
    sp1.block_storage.delete_volume(in_sp1)

    # Refused: a made-up token, the same again (a cached refusal), a token since revoked.
    made_up = "gAAAAA" + secrets.token_urlsafe(96)
    revoked = ocx.connect("ocx").session.get_token()
    requests.delete(clouds.cloud("home").keystone.endpoint + "/auth/tokens", timeout=10,
                    headers={"X-Auth-Token": revoked, "X-Subject-Token": revoked}
                    ).raise_for_status()
    for token in (made_up, made_up, revoked):
        resp = requests.get(f"{ocx.url}/volume/v3/volumes/{in_sp1.id}",
                            headers={"X-Auth-Token": token}, timeout=10)
        assert resp.status_code == 401
    return [made_up]


def test_no_token_password_or_assertion_appears_in_any_log_line(ocx_process, clouds, issued):
    made_up = run_everything_through(ocx_process, clouds)
    ocx_process.stop()  # what it logs on the way out counts too
    output = ocx_process.output()

    # It did log at DEBUG, from the libraries under OCX too, and OCX logged every call.
    assert re.search(r" DEBUG (keystoneauth|urllib3)\S* ", output)
    # (oslo.log's lines: the call's request ids, then the call; ocx/logs.py)
    ids = r"\[\S+ req-\S+ \S+ \S+\]"
    assert re.search(rf' INFO ocx\.api\.app {ids} "GET /volume/v3/\S+/volumes/\S+" status: 200 ',
                     output)
    assert re.search(rf' INFO ocx\.api\.app {ids} "GET /volume/v3/volumes/\S+" status: 401 ',
                     output)
    assert {cloud for cloud, _ in issued} == set(CLOUDS)  # K2K tokens of sp1 and sp2 among them

    secrets_ = {f"token #{i} of {cloud}": token for i, (cloud, token) in enumerate(issued)}
    secrets_.update({f"made-up token #{i}": token for i, token in enumerate(made_up)})
    secrets_.update({f"password of {user} at {cloud}": creds["password"] for cloud in CLOUDS
                     for user, creds in clouds.cloud(cloud).keystone.demo_credentials().items()})
    if ocx_process.store_url and make_url(ocx_process.store_url).password:
        secrets_["the store's password"] = make_url(ocx_process.store_url).password
    assert leaks(output, secrets_) == []
    assert FERNET.findall(output) == []
    certificate = "".join(
        clouds.cloud("home").keystone.federation.signing_cert_pem.splitlines()[1:-1])
    assert [mark for mark in (*SAML_MARKS, certificate[64:128]) if mark in output] == []


def test_a_leaked_token_would_be_found():
    token = "gAAAAA" + secrets.token_urlsafe(96)
    secrets_ = {"the token": token, "a password": "correct horse battery staple"}
    assert leaks(f"X-Auth-Token: {token}", secrets_) == ["the token"]
    assert leaks(f'{{"id": "{token[30:50]}..."}}', secrets_) == ["the token"]
    assert leaks("password=correct horse battery staple", secrets_) == ["a password"]
    assert leaks(f"token {hashlib.sha256(token.encode()).hexdigest()} refused", secrets_) == []
