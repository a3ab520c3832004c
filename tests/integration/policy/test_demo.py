"""``ocx demo`` serves the GBP API at /policy, listed in the home catalog as service type
``policy``, rendered onto the home cloud's simulated Neutron: a user finds it in the catalog
and builds a proxied group by hand, as with curl."""
from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from tests.integration.gateway.demo_fixture import Demo, run_demo


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Iterator[Demo]:
    with run_demo(tmp_path_factory.mktemp("demo")) as running:
        yield running


def test_the_catalog_leads_to_gbp_on_ocx_rendered_in_home(demo):
    ocx = demo.connect("ocx")
    url = ocx.session.get_endpoint(service_type="policy", interface="public")
    assert url == f"{demo.url}/policy"
    headers = {"X-Auth-Token": ocx.session.get_token()}

    def post(collection: str, resource: str, **attrs) -> dict:
        resp = requests.post(f"{url}/v2.0/{collection}", json={resource: attrs},
                             headers=headers, timeout=60)
        assert resp.status_code == 201, resp.text
        return resp.json()[resource]

    l3p = post("l3_policies", "l3_policy", name="demo", ip_pool="10.77.0.0/16",
               proxy_ip_pool="192.168.77.0/24")
    l2p = post("l2_policies", "l2_policy", name="demo", l3_policy_id=l3p["id"])
    web = post("policy_target_groups", "policy_target_group", name="web",
               l2_policy_id=l2p["id"])
    proxy = post("policy_target_groups", "policy_target_group", name="fw",
                 proxied_group_id=web["id"])
    home = demo.connect("home").network          # straight to home's Neutron
    assert home.get_network(l2p["network_id"]).name == "l2p_demo"
    assert home.get_subnet(web["subnets"][0]).cidr == "10.77.0.0/24"
    assert home.get_subnet(proxy["subnets"][0]).cidr == "192.168.77.0/29"
    attached = {f["subnet_id"] for p in home.ports(device_id=l3p["routers"][0])
                for f in p.fixed_ips}
    assert attached == set(proxy["subnets"])
    resp = requests.delete(f"{url}/v2.0/policy_target_groups/{web['id']}", headers=headers,
                           timeout=60)
    assert resp.status_code == 204, resp.text
    attached = {f["subnet_id"] for p in home.ports(device_id=l3p["routers"][0])
                for f in p.fixed_ips}
    assert attached == set()
