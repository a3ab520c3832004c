"""A peer's injection while the mapping store cannot be reached: a 503 in OCX's error format
that says nothing was stored, and the same signed injection taken once the store is back."""
from __future__ import annotations

import asyncio
import datetime as dt

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from ocx.api.peering import PeerInjections
from ocx.config import PeerConfig
from ocx.learn.injection import PATH
from ocx.learn.peers import PeerClient, PeerRefused
from ocx.store import ResourceMapping

SECRET = "a-secret-both-peers-share"


class StoreAwayOnce:
    """A store whose database refuses the first connection, then takes what it is given."""

    def __init__(self) -> None:
        self.stored: list[ResourceMapping] = []
        self.away = True

    async def put_mappings(self, tokens, resources) -> None:
        if self.away:
            self.away = False
            raise ConnectionRefusedError(111, "Connection refused")
        self.stored.extend(resources)


def test_an_injection_during_a_store_outage_is_a_503_and_stores_nothing_until_sent_again():
    volume = ResourceMapping.learned("volumes", "v-1", "sp2", "p2", None, "peer")
    store = StoreAwayOnce()

    async def scenario() -> None:
        here = {"user-ocx": PeerConfig(name="user-ocx", url=None, fronts=(), secret=SECRET,
                                       auth="secret", accept_providers=("sp2",),
                                       accept_role=None)}
        app = web.Application()
        app.router.add_post(PATH, PeerInjections(here, validator=None, store=store,
                                                 types=("volumes",)).handle)
        async with TestServer(app, host="127.0.0.1") as server, \
                aiohttp.ClientSession() as session:
            there = PeerConfig(name="sp1-ocx", url=str(server.make_url("/")), fronts=("sp1",),
                               secret=SECRET, auth="secret", accept_providers=(),
                               accept_role=None)
            sent_at = dt.datetime.now(dt.UTC)  # one time: the very same signature, twice
            client = PeerClient(session, [there], me="user-ocx", timeout=10,
                                clock=lambda: sent_at)
            with pytest.raises(PeerRefused) as refused:
                await client.inject(there, [], [volume])
            assert refused.value.status == 503
            assert "nothing was stored" in refused.value.reason
            assert store.stored == []
            await client.inject(there, [], [volume])     # the store is back
            assert [(m.key, m.provider) for m in store.stored] == [(volume.key, "sp2")]

    asyncio.run(scenario())
