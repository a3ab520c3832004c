"""The real-cloud tier's fixtures: two real OpenStack clouds on loopback, federated with K2K,
and A's OCX.

On by default (`make test` runs them); OCX_REAL_CLOUDS=0 skips them, for a quick local run
(the real services take half a minute to two to come up; see README.md).
"""
from __future__ import annotations

import os
from collections.abc import Iterator

import openstack
import pytest
from keystoneauth1 import session as ks_session
from keystoneauth1.identity import v3

from .clouds import RealClouds
from .gateway import RealOcx, start_ocx_of_a
from .layout import REGION

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


@pytest.fixture(scope="module")
def in_a(real_clouds) -> openstack.connection.Connection:
    """A's demo user, straight to A's services."""
    return openstack.connection.Connection(region_name=REGION,
                                           **real_clouds.auth(real_clouds.a, "demo"))


@pytest.fixture(scope="module")
def in_b(real_clouds) -> openstack.connection.Connection:
    """A's demo user in B's project, straight to B through keystoneauth1's own K2K."""
    home = v3.Password(**real_clouds.auth(real_clouds.a, "demo"))
    k2k = v3.Keystone2Keystone(home, real_clouds.sp_id, project_id=real_clouds.b_project_id)
    return openstack.connection.Connection(session=ks_session.Session(auth=k2k),
                                           region_name=REGION)


@pytest.fixture(scope="module")
def network_of_a(in_a) -> Iterator[openstack.network.v2.network.Network]:
    """A network of A's demo user with one IPv4 subnet, for servers of A."""
    made = in_a.network.create_network(name="a-server-net")
    in_a.network.create_subnet(network_id=made.id, cidr="10.9.0.0/24", ip_version=4)
    try:
        yield made
    finally:
        for port in in_a.network.ports(network_id=made.id):
            in_a.network.delete_port(port, ignore_missing=True)
        in_a.network.delete_network(made, ignore_missing=True)
