"""The real-cloud tier's fixtures: two real OpenStack clouds on loopback, federated with K2K,
and A's OCX.

On by default (`make test` runs them); OCX_REAL_CLOUDS=0 skips them, for a quick local run
(the real services take half a minute to two to come up; see README.md).
"""
from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from .clouds import RealClouds
from .gateway import RealOcx, start_ocx_of_a

ENABLED = os.environ.get("OCX_REAL_CLOUDS", "1") != "0"


@pytest.fixture(scope="session")
def real_clouds(request) -> Iterator[RealClouds]:
    """Cloud A (K2K identity provider) and cloud B (service provider), running.

    `.a` / `.b`: the clouds (`.auth_url`, `.endpoints()`, `.keystone_url`); `.auth(cloud,
    "admin"|"demo")`: password arguments (demo exists in A only); `.sp_id`: B's id at A;
    `.b_project_id`: the project of B that A's users get through K2K.
    """
    if not ENABLED:
        pytest.skip("the real-cloud tier is off (OCX_REAL_CLOUDS=0; tests/real/README.md)")
    clouds = RealClouds()
    clouds.start()
    report(request.config, clouds)
    try:
        yield clouds
    finally:
        clouds.stop()


@pytest.fixture(scope="session")
def ocx(real_clouds) -> Iterator[RealOcx]:
    """A's OCX: home A's Keystone, provider B through K2K. A's users reach it through A's
    catalog (region `OCX`: `.connect(user)`, `.url`), A's Nova reaches Glance and Cinder
    only through it: every test that has Nova read an image or touch a volume needs it.
    `.log_size()`, then `.calls(since)`: the calls it answered in between."""
    gateway = start_ocx_of_a(real_clouds)
    try:
        yield gateway
    finally:
        gateway.stop()


def report(config, clouds: RealClouds) -> None:
    """The tier's figures in pytest's output: how long the clouds took, how much memory."""
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    capture = config.pluginmanager.get_plugin("capturemanager")
    if reporter is None or capture is None:
        return
    with capture.global_and_fixture_disabled():  # past the capture of the fixture's output
        reporter.write_line("")
        reporter.write_line(clouds.summary())
