"""Sessions that heal: a token OCX made at a K2K provider and the provider refused is made anew
(one exchange, however many calls were refused at once); a token OCX did not make is not."""
from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import itertools

import pytest
from multidict import CIMultiDict

from ocx.api.request import parse
from ocx.backends.base import Credentials, Provider, ProviderResponse
from ocx.identity.caller import Caller
from ocx.identity.heal import HealingMapper
from ocx.routing.execute import Executor, RenewedMidStream
from ocx.store import TokenMapping
from ocx.store.models import token_hash

EXPIRES = dt.datetime(2030, 1, 1, tzinfo=dt.timezone.utc)
USER = Caller(token="user-token", token_hash=token_hash("user-token"), user_id="u",
              user_name="demo", user_domain_id="default", project_id="p", project_name="demo",
              project_domain_id="default", roles=frozenset({"member"}), expires_at=EXPIRES)


class Store:
    def __init__(self) -> None:
        self.mappings: dict[tuple, TokenMapping] = {}

    async def get_token_mapping(self, token_hash_, project, provider):
        return self.mappings.get((token_hash_, project, provider))

    async def delete_token_mappings(self, *, local_token_hash=None, provider=None):
        gone = [k for k in self.mappings if k[0] == local_token_hash and k[2] == provider]
        for key in gone:
            del self.mappings[key]
        return len(gone)


class Mapper:
    """The token mapper's part: the stored mapping, else an exchange that makes a new one."""

    home = "home"

    def __init__(self, store: Store) -> None:
        self.store = store
        self.remotes = {"sp1": object()}
        self.exchanges = 0
        self._tokens = (f"sp1-token-{n}" for n in itertools.count(1))

    async def credentials(self, caller, provider):
        if provider == self.home:
            return Credentials(caller.token, caller.project_id)
        key = (caller.token_hash, caller.project_id, provider)
        if key not in self.store.mappings:
            await asyncio.sleep(0)
            self.exchanges += 1
            self.store.mappings[key] = TokenMapping(
                local_token_hash=key[0], local_project=key[1], provider=provider,
                remote_token=next(self._tokens), remote_project="rp", expires_at=EXPIRES,
                catalog=[])
        m = self.store.mappings[key]
        return Credentials(m.remote_token, m.remote_project)


@pytest.fixture
def healer():
    store = Store()
    return HealingMapper(Mapper(store), store)


async def test_a_refused_token_is_forgotten_and_made_anew_once_for_every_call_refused(healer):
    old = await healer.credentials(USER, "sp1")
    renewed = await asyncio.gather(*(healer.renew("sp1", old) for _ in range(5)))
    assert {c.token for c in renewed} == {"sp1-token-2"}
    assert healer.mapper.exchanges == 2 and healer.renewals == 1
    # A call refused late, with the old token, gets the new one without another exchange.
    assert (await healer.renew("sp1", old)).token == "sp1-token-2"
    assert healer.mapper.exchanges == 2


async def test_the_callers_own_token_and_tokens_ocx_did_not_make_are_not_renewed(healer):
    own = await healer.credentials(USER, "home")
    assert await healer.renew("home", own) is None
    assert await healer.renew("sp1", Credentials("injected-by-a-peer", "rp")) is None
    assert healer.mapper.exchanges == 0


class Refusing(Provider):
    """A provider that refuses every token but ``good``; counts what it was sent."""

    kind = "test"

    def __init__(self, good: str) -> None:
        super().__init__("sp1")
        self.good = good
        self.sent: list[str] = []

    def root(self, service, credentials):
        return "http://sp1.test"

    async def send(self, session, request, credentials, *, body, timeout, method=None):
        self.sent.append(credentials.token)
        status = 200 if credentials.token == self.good else 401
        return ProviderResponse("sp1", status, CIMultiDict(), "http://sp1.test", "rp", body=b"{}")


def volumes():
    return parse("POST", "/volume/v3/p/volumes", {}, {}, b"{}")


async def test_the_executor_sends_once_more_with_the_new_token(healer):
    old = await healer.credentials(USER, "sp1")
    provider = Refusing(good="sp1-token-2")
    executor = Executor(None, {"sp1": provider}, connect_timeout=1, call_timeout=1,
                        healer=healer)
    answer = await executor.send("sp1", volumes(), old, b"{}")
    assert answer.status == 200 and provider.sent == ["sp1-token-1", "sp1-token-2"]


async def test_a_401_that_persists_is_the_providers_answer_and_not_retried_again(healer):
    old = await healer.credentials(USER, "sp1")
    provider = Refusing(good="never")
    executor = Executor(None, {"sp1": provider}, connect_timeout=1, call_timeout=1,
                        healer=healer)
    assert (await executor.send("sp1", volumes(), old, b"{}")).status == 401
    assert len(provider.sent) == 2


async def test_a_streamed_body_is_not_sent_twice(healer):
    old = await healer.credentials(USER, "sp1")
    provider = Refusing(good="sp1-token-2")
    executor = Executor(None, {"sp1": provider}, connect_timeout=1, call_timeout=1,
                        healer=healer)

    async def chunks():
        yield b"data"

    with pytest.raises(RenewedMidStream):
        await executor.send("sp1", volumes(), old, chunks())
    assert provider.sent == ["sp1-token-1"]
    # The next call finds the new token.
    assert (await healer.credentials(USER, "sp1")).token == "sp1-token-2"


async def test_a_caller_whose_token_expired_is_forgotten_and_not_renewed():
    store = Store()
    healing = HealingMapper(Mapper(store), store)
    gone = dataclasses.replace(USER, token="old", token_hash=token_hash("old"),
                               expires_at=dt.datetime(2020, 1, 1, tzinfo=dt.timezone.utc))
    stale = await healing.credentials(gone, "sp1")
    await healing.credentials(USER, "sp1")  # the next credit drops the expired caller
    assert await healing.renew("sp1", stale) is None
