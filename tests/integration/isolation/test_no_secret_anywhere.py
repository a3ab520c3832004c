"""No token, password, SAML assertion, peer secret or key in anything OCX writes (issue 12).

``tests/integration/gateway/test_no_secrets_in_logs.py`` holds OCX's log lines to it over a
run of a user's calls. This test widens both ends: the run also has an admin, OCX's own API
(admin and quotas), a home service's ``X-Service-Token``, a peer's injections (signed with the
shared secret, sent with a token, replayed, forged) carrying remote tokens of their own; and
what is searched is everything OCX wrote: every line it logged (``ocx -v serve``: every logger
at DEBUG; aiohttp's access log is off in ``serve``) and every byte it answered, status lines,
headers and bodies, recorded by a relay the clients reach OCX through, its Prometheus
metrics (``/metrics``) among them.

Searched for: every token any cloud issued during the run, the tokens made up or injected,
every user's password, the peer's secret and signatures, the store's encryption key, and what
a SAML assertion would leave; the store's own bytes are searched for the same.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import re
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

import openstack
import pytest
import requests

from ocx import config
from ocx.demo import free_port, gateway_config
from ocx.identity import ksa
from ocx.identity.catalog import register_ocx
from ocx.identity.validate import service_auth
from ocx.learn.injection import PATH as PEER_PATH, encode, signature
from ocx.store import ResourceMapping, TokenMapping
from tests.conftest import start_sim
from tests.integration.gateway.conftest import _describe
from tests.integration.gateway.test_no_secrets_in_logs import FERNET, SAML_MARKS, leaks

CLOUDS = ("home", "sp1", "sp2")
PEER = "friend"


class Relay:
    """A TCP relay in front of OCX that keeps every byte OCX sends back."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.answered = bytearray()
        self.server: asyncio.Server | None = None

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        return self.server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        self.server.close()
        await self.server.wait_closed()

    async def _relay(self, client_r, client_w) -> None:
        try:
            ocx_r, ocx_w = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            client_w.close()
            return

        async def pipe(reader, writer, keep: bool) -> None:
            try:
                while data := await reader.read(65536):
                    if keep:
                        self.answered += data
                    writer.write(data)
                    await writer.drain()
            except (ConnectionError, asyncio.CancelledError):
                pass
            finally:
                writer.close()

        await asyncio.gather(pipe(client_r, ocx_w, False), pipe(ocx_r, client_w, True))


@pytest.fixture(scope="module")
def clouds():
    yield from start_sim(",".join(CLOUDS))


@pytest.fixture(scope="module")
def issued(clouds) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    for name in CLOUDS:
        registry = clouds.cloud(name).tokens

        def add(token, name=name, add=registry.add):
            tokens.append((name, token.id))
            return add(token)
        registry.add = add
    return tokens


@pytest.fixture(scope="module")
def ocx(clouds, issued, tmp_path_factory):
    """``ocx -v serve`` in a process of its own, reached through a relay (in home's catalog)."""
    state = tmp_path_factory.mktemp("ocx-secrets")
    relay = Relay(free_port())
    relay_port = clouds.call(relay.start())
    url = f"http://127.0.0.1:{relay_port}"
    peer_secret = secrets.token_urlsafe(24)
    text = gateway_config(_describe(clouds), relay.target_port, state).replace(
        "[DEFAULT]\n", f"[DEFAULT]\npublic_url = {url}\npeers = {PEER}\n", 1)
    path = state / "ocx.conf"
    # The home service's role (the OCX service user has it) also proves the peer here.
    path.write_text(text + f"\n[peer:{PEER}]\nsecret = {peer_secret}\n"
                           f"accept_providers = sp1, sp2\naccept_role = service\n")
    conf = config.load(str(path))
    out, err = state / "stdout", state / "stderr"
    with open(out, "wb") as o, open(err, "wb") as e:
        proc = subprocess.Popen([sys.executable, "-m", "ocx.cli", "-v", "serve", "--config",
                                 str(path)], stdout=o, stderr=e)
    try:
        deadline = time.monotonic() + 60
        while b"OCX ready: " not in out.read_bytes():
            assert proc.poll() is None and time.monotonic() < deadline, err.read_text()
            time.sleep(0.05)
        clouds.call(register_ocx(ksa.session(10, service_auth(conf)), conf.keystone.auth_url,
                                 url))
        yield _Ocx(proc, url, conf, state, relay, peer_secret, out, err)
    finally:
        _stop(proc)
        clouds.call(relay.stop())


class _Ocx:
    def __init__(self, proc, url, conf, state: Path, relay: Relay, peer_secret: str,
                 out: Path, err: Path) -> None:
        self.proc, self.url, self.conf, self.state = proc, url, conf, state
        self.relay, self.peer_secret, self.out, self.err = relay, peer_secret, out, err

    def logged(self) -> str:
        return self.out.read_text(errors="replace") + self.err.read_text(errors="replace")


def _stop(proc) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _connect(clouds, url: str, user: str, cloud: str = "home") -> openstack.connection.Connection:
    return openstack.connection.Connection(
        region_name=clouds.cloud(cloud).spec.region, identity_api_version="3",
        interface="public", **clouds.auth_args(cloud, user))


def _injection(clouds, home_token_hash: str) -> tuple[bytes, list[str]]:
    """A peer's document: a token mapping with a remote token of its own, a resource mapping."""
    remote = "gAAAAA" + secrets.token_urlsafe(96)
    tokens = [TokenMapping(local_token_hash=home_token_hash,
                           local_project=clouds.cloud("home").keystone.project_id("demo"),
                           provider="sp2", remote_token=remote,
                           remote_project=clouds.cloud("sp2").keystone.project_id("demo"),
                           expires_at=dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=1),
                           catalog=[])]
    resources = [ResourceMapping.learned("volumes", secrets.token_hex(16), "sp2", None, None,
                                         "peer")]
    return encode(tokens, resources), [remote]


def run_everything(ocx: _Ocx, clouds) -> tuple[list[str], list[str]]:
    """A full mixed run through OCX. Returns (made-up or injected tokens, peer signatures)."""
    url = ocx.url
    demo = _connect(clouds, url, "demo")
    # K2K at sp1 and sp2 (a listing over every cloud), creates at home and in sp1, a search.
    home_volume = demo.block_storage.create_volume(size=1, name="at-home")
    sp1_volume = demo.block_storage.create_volume(size=1, name="there@sp1")
    assert {home_volume.id, sp1_volume.id} <= {v.id for v in demo.block_storage.volumes()}
    direct = _connect(clouds, url, "demo", "sp2")
    in_sp2 = direct.block_storage.create_volume(size=1, name="found-by-search")
    assert demo.block_storage.get_volume(in_sp2.id).name == "found-by-search"
    network = demo.network.create_network(name="net@sp2")
    assert network.id in {n.id for n in demo.network.networks()}
    list(demo.compute.servers())
    list(demo.image.images())
    demo.network.delete_network(network)
    for volume in (home_volume, sp1_volume):
        demo.block_storage.wait_for_status(volume, "available", wait=30)
        demo.block_storage.delete_volume(volume)

    # A home service (its token has the role service) calling for the user: OCX vouches for
    # it at sp1 with its own service user's K2K token.
    token = demo.session.get_token()
    service = _connect(clouds, url, "ocx").session.get_token()
    requests.get(f"{url}/volume/v3/volumes/{sp1_volume.id}", timeout=30,
                 headers={"X-Auth-Token": token, "X-Service-Token": service})

    # OCX's own API: the operator's, the user's quotas, and what a metrics scraper would ask.
    admin = _connect(clouds, url, "admin").session.get_token()
    for path, who in (("/ocx/v1/projects", admin), ("/ocx/v1/providers", admin),
                      ("/ocx/v1/quotas", token), ("/ocx/v1/projects", token),
                      ("/metrics", None), ("/metrics", admin), ("/healthz", None),
                      ("/readyz", None)):
        requests.get(url + path, headers={"X-Auth-Token": who} if who else {}, timeout=30)

    # A peer's injections: signed, replayed, forged, and sent with a token of the peer role.
    made_up: list[str] = []
    signatures: list[str] = []
    token_hash = hashlib.sha256(token.encode()).hexdigest()
    for how in ("signed", "replayed", "forged", "token"):
        if how != "replayed":
            body, remote = _injection(clouds, token_hash)
            made_up += remote
            when = int(time.time())
            key = ocx.peer_secret if how != "forged" else secrets.token_urlsafe(24)
            signed = signature(key, when, "POST", PEER_PATH, body)
            signatures.append(signed)
            headers = {"X-OCX-Peer": PEER, "Content-Type": "application/json"}
            headers.update({"X-OCX-Peer-Time": str(when), "X-OCX-Peer-Signature": signed}
                           if how != "token" else {"X-Auth-Token": service})
        answer = requests.post(url + PEER_PATH, data=body, headers=headers, timeout=30)
        assert answer.status_code == (401 if how == "forged" else 200), answer.text

    # Refused: made-up tokens (one in the service token's place too), a revoked one.
    fake = "gAAAAA" + secrets.token_urlsafe(96)
    made_up.append(fake)
    revoked = _connect(clouds, url, "demo").session.get_token()
    requests.delete(clouds.cloud("home").keystone.endpoint + "/auth/tokens", timeout=10,
                    headers={"X-Auth-Token": revoked, "X-Subject-Token": revoked}
                    ).raise_for_status()
    for headers in ({"X-Auth-Token": fake}, {"X-Auth-Token": revoked},
                    {"X-Auth-Token": token, "X-Service-Token": fake}):
        requests.get(f"{url}/volume/v3/volumes", headers=headers, timeout=30)
    direct.block_storage.wait_for_status(in_sp2, "available", wait=30)
    direct.block_storage.delete_volume(in_sp2)
    return made_up, signatures


def test_nothing_ocx_logs_or_answers_holds_a_secret(ocx, clouds, issued):
    made_up, signatures = run_everything(ocx, clouds)
    _stop(ocx.proc)  # what it logs on the way out counts too
    logged = ocx.logged()
    answered = bytes(ocx.relay.answered).decode("latin-1")

    # It logged at DEBUG, OCX's calls and the libraries under it; it answered every call.
    assert re.search(r" DEBUG (keystoneauth|urllib3|aiohttp|asyncio)\S* ", logged)
    assert re.search(r" INFO ocx\.api\.app .*GET /volume/v3/", logged)
    assert "peer friend injected" in logged
    # Every answer went through the relay: the volumes' bodies, the quotas, the injections'.
    assert answered.count("HTTP/1.1 ") > 20
    # (The metrics too, in Prometheus's text format.)
    assert [part for part in ('"at-home"', '"quotas"', '"injected"', "HTTP/1.1 401 ",
                              "# TYPE ")
            if part not in answered] == []
    assert {cloud for cloud, _ in issued} == set(CLOUDS)  # K2K tokens of sp1 and sp2 too

    secrets_ = {f"token #{i} of {cloud}": token for i, (cloud, token) in enumerate(issued)}
    secrets_.update({f"made-up or injected token #{i}": t for i, t in enumerate(made_up)})
    secrets_.update({f"password of {user} at {cloud}": creds["password"] for cloud in CLOUDS
                     for user, creds in clouds.cloud(cloud).keystone.demo_credentials().items()})
    secrets_["the peer's secret"] = ocx.peer_secret
    secrets_.update({f"peer signature #{i}": s for i, s in enumerate(signatures)})
    secrets_["the store's encryption key"] = (ocx.state / "encryption.key").read_text().strip()
    certificate = "".join(
        clouds.cloud("home").keystone.federation.signing_cert_pem.splitlines()[1:-1])
    for what, text in (("logged", logged), ("answered", answered)):
        assert leaks(text, secrets_) == [], what
        assert FERNET.findall(text) == [], what
        assert [m for m in (*SAML_MARKS, certificate[64:128]) if m in text] == [], what
    # And at rest (tests/integration/hardening/test_keys.py reads a run of K2K mappings;
    # here the injected and vouched ones too): the store's bytes hold no token in clear
    # (remote tokens are Fernet ciphertexts there, local ones hashes).
    stored = b"".join(path.read_bytes() for path in ocx.state.glob("ocx.sqlite*"))
    assert stored and leaks(stored.decode("latin-1"), secrets_) == []
