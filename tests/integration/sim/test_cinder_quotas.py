"""The simulated Cinder's quota sets, as openstacksdk uses them: an admin sets a project's
limits, and the project's volume creates are held to its ``gigabytes``."""
from __future__ import annotations

import pytest
from openstack import exceptions as sdk_exc

from tests.conftest import start_sim

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def sim():
    yield from start_sim("home=cinder")


def test_an_admin_lowers_a_projects_gigabytes_and_creates_over_it_are_refused(sim):
    demo = sim.connect("home").block_storage
    admin = sim.connect("home", user="admin").block_storage
    project = sim.connect("home").current_project_id
    assert demo.get_quota_set(project).gigabytes == 1000
    admin.update_quota_set(project, gigabytes=2)
    try:
        assert demo.get_quota_set(project).gigabytes == 2
        usage = demo.get_quota_set(project, usage=True).usage
        assert usage["gigabytes"] == 0
        first = demo.wait_for_status(demo.create_volume(size=2), "available", interval=0.1,
                                     wait=30)
        with pytest.raises(sdk_exc.HttpException) as refused:
            demo.create_volume(size=1)
        assert refused.value.status_code == 413
        assert "gigabytes quota" in str(refused.value)
        demo.delete_volume(first)
    finally:
        admin.update_quota_set(project, gigabytes=1000)


def test_only_an_admin_sets_quotas_and_only_known_ones(sim):
    demo = sim.connect("home").block_storage
    admin = sim.connect("home", user="admin").block_storage
    project = sim.connect("home").current_project_id
    with pytest.raises(sdk_exc.HttpException) as refused:
        demo.update_quota_set(project, gigabytes=1)
    assert refused.value.status_code == 403
    response = admin.put(f"/os-quota-sets/{project}", json={"quota_set": {"bananas": 1}},
                         raise_exc=False)
    assert response.status_code == 400
    assert "Bad key(s) in quota set: bananas" in response.text
    response = admin.put(f"/os-quota-sets/{project}", json={"quota_set": {"gigabytes": -2}},
                         raise_exc=False)
    assert response.status_code == 400
    assert demo.get_quota_set(project).gigabytes == 1000
