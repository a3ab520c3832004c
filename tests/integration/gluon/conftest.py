"""Fixtures of the Gluon tests: a registry prefix of the test's own in the machine's etcd."""
from __future__ import annotations

import uuid

import aetcd
import pytest


@pytest.fixture
async def prefix():
    """A registry prefix of the test's own in the machine's etcd, emptied afterwards."""
    prefix = f"/ocx-test-{uuid.uuid4().hex[:8]}/gluon/port/"
    yield prefix
    async with aetcd.Client(host="127.0.0.1", port=2379) as etcd:
        await etcd.delete_prefix(prefix.encode())
