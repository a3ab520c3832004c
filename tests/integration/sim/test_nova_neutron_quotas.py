"""The simulated Nova's and Neutron's quota sets, read as openstacksdk reads them: each limit
and, in the detailed form, what the project uses of it; another project's only by an admin."""
from __future__ import annotations

import pytest
from openstack import exceptions as sdk_exc

from tests.conftest import start_sim

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def sim():
    yield from start_sim("home=nova+neutron+glance+cinder")


def test_nova_shows_limits_and_usage(sim):
    conn = sim.connect("home")
    project = conn.current_project_id
    assert conn.compute.get_quota_set(project).cores == 20
    conn.compute.create_keypair(name="counted")
    try:
        detail = conn.compute.get_quota_set(project, usage=True)
        assert detail.usage["key_pairs"] == 1 and detail.usage["instances"] == 0
        assert detail.instances == 10
    finally:
        conn.compute.delete_keypair("counted")


def test_neutron_shows_limits_and_usage(sim):
    conn = sim.connect("home")
    project = conn.current_project_id
    assert conn.network.get_quota(project).networks == 100
    network = conn.network.create_network(name="counted")
    try:
        details = conn.network.get_quota(project, details=True)
        assert details.networks == {"limit": 100, "used": 1, "reserved": 0}
    finally:
        conn.network.delete_network(network)


def test_another_projects_quotas_are_an_admins(sim):
    demo = sim.connect("home")
    admin_project = sim.connect("home", user="admin").current_project_id
    with pytest.raises(sdk_exc.HttpException) as refused:
        demo.compute.get_quota_set(admin_project)
    assert refused.value.status_code == 403
    with pytest.raises(sdk_exc.HttpException) as refused:
        demo.network.get_quota(admin_project, details=True)
    assert refused.value.status_code == 403
    assert sim.connect("home", user="admin").network.get_quota(
        demo.current_project_id).ports == 500
