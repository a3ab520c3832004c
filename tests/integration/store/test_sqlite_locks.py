"""A second engine on a SQLite store that one process already has open must not drop that
process's locks on the file (POSIX locks are per process: closing any descriptor of the file
releases them). Otherwise another process (an ``ocx`` admin command beside a gateway) takes
the file for unused, removes its WAL on closing, and the first process reads or writes a
database that is no longer there."""
from __future__ import annotations

import subprocess
import sys

import sqlalchemy as sa

from ocx.store.engine import make_engine

WRITER = """
import asyncio, sys
import sqlalchemy as sa
from ocx.store.engine import make_engine

async def write():
    engine = make_engine(sys.argv[1])
    async with engine.begin() as c:
        await c.execute(sa.text("insert into t values (2)"))
    await engine.dispose()

asyncio.run(write())
"""


async def test_a_second_engine_keeps_the_first_ones_wal(tmp_path):
    url = f"sqlite:///{tmp_path}/ocx.sqlite"
    first = make_engine(url)
    try:
        async with first.begin() as c:
            await c.execute(sa.text("create table t (x int)"))
            await c.execute(sa.text("insert into t values (1)"))
        async with first.connect() as c:   # a reader holds the file open
            assert (await c.execute(sa.text("select count(*) from t"))).scalar() == 1
            second = make_engine(url)      # as a test or an admin command in-process does
            await second.dispose()
            subprocess.run([sys.executable, "-c", WRITER, url], check=True, timeout=60)
        async with first.begin() as c:
            await c.execute(sa.text("insert into t values (3)"))
        async with first.connect() as c:
            assert sorted((await c.execute(sa.text("select x from t"))).scalars()) == [1, 2, 3]
    finally:
        await first.dispose()
