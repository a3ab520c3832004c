"""The simulated Neutron as the real clients see it: openstacksdk, the openstack CLI, raw HTTP."""
from __future__ import annotations

import asyncio
import ipaddress
import os
import urllib.parse
import uuid
from concurrent.futures import ThreadPoolExecutor

import orjson
import pytest
import requests
from openstack import exceptions as sdk_exc

from tests.conftest import start_sim

RABBIT = os.environ.get("OCX_TEST_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/")
CLOUD = "net"

pytestmark = pytest.mark.timeout(180)


@pytest.fixture(scope="module")
def sim():
    """One cloud with only Keystone and Neutron, shared by the tests of this module."""
    yield from start_sim(f"{CLOUD}=neutron")


@pytest.fixture(scope="module")
def demo(sim):
    return sim.connect(CLOUD)


@pytest.fixture(scope="module")
def admin(sim):
    return sim.connect(CLOUD, user="admin")


class Raw:
    """Plain HTTP to the Neutron endpoint with a user's token, to see the exact wire."""

    def __init__(self, sim, conn) -> None:
        self.base = sim.cloud(CLOUD).services["neutron"].base_url
        self.token = conn.session.get_token()

    def __call__(self, method: str, path: str, body=None, *, data=None, token=True):
        headers = {"X-Auth-Token": self.token} if token else {}
        if data is not None:
            headers["Content-Type"] = "application/json"
        return requests.request(method, self.base + path, json=body, data=data,
                                headers=headers, timeout=10, allow_redirects=False)


@pytest.fixture(scope="module")
def raw(sim, demo):
    return Raw(sim, demo)


@pytest.fixture(scope="module")
def raw_admin(sim, admin):
    return Raw(sim, admin)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def neutron_error(resp, status: int, kind: str, message: str | None = None) -> str:
    assert resp.status_code == status, resp.text
    assert resp.headers["Content-Type"].startswith("application/json")
    error = resp.json()["NeutronError"]
    assert error["type"] == kind and error["detail"] == ""
    if message is not None:
        assert error["message"] == message
    return error["message"]


# -- documents ---------------------------------------------------------------------------------

def test_the_root_lists_v2_without_a_token_and_v2_lists_resources_with_one(raw):
    resp = raw("GET", "/", token=False)
    assert resp.status_code == 200
    assert resp.json() == {"versions": [{"id": "v2.0", "status": "CURRENT", "links": [
        {"rel": "self", "href": raw.base + "/v2.0/"}]}]}
    assert raw("GET", "/v2.0/", token=False).status_code == 401
    resources = raw("GET", "/v2.0/").json()["resources"]
    assert {r["collection"] for r in resources} >= {"networks", "subnets", "ports"}
    assert {"rel": "self", "href": raw.base + "/v2.0/networks"} in next(
        r["links"] for r in resources if r["name"] == "network")
    # Without the slash there is nothing (no redirect).
    neutron_error(raw("GET", "/v2.0"), 404, "HTTPNotFound", "The resource could not be found.")


def test_a_trailing_slash_is_served_as_the_path_without_it(demo, raw):
    net = demo.network.create_network(name=unique("slash"))
    assert net.id in {n["id"] for n in raw("GET", "/v2.0/networks/").json()["networks"]}
    assert raw("GET", f"/v2.0/networks/{net.id}/").json()["network"]["id"] == net.id
    demo.network.delete_network(net)


def test_the_extensions_the_clients_look_for_are_listed(demo, raw):
    aliases = {e.alias for e in demo.network.extensions()}
    assert {"router", "external-net", "security-group", "port-security", "binding",
            "standard-attr-description", "standard-attr-tag", "pagination", "sorting",
            "project-id", "net-mtu"} <= aliases
    assert demo.network.find_extension("router").name == "Neutron L3 Router"
    neutron_error(raw("GET", "/v2.0/extensions/no-such-thing"), 404, "HTTPNotFound",
                  "Extension with alias no-such-thing does not exist")
    neutron_error(raw("GET", "/v2.0/floating-unicorns"), 404, "HTTPNotFound",
                  "The resource could not be found.")


# -- a user's network, with the SDK --------------------------------------------------------------

def test_a_user_builds_a_network_a_subnet_and_a_port(demo):
    net = demo.network.create_network(name=unique("net"), description="for the web tier")
    assert net.status == "ACTIVE" and net.mtu == 1442 and net.is_admin_state_up
    assert net.project_id == demo.current_project_id and not net.is_shared
    assert net.revision_number >= 1 and net.created_at.endswith("Z")
    subnet = demo.network.create_subnet(network_id=net.id, ip_version=4, cidr="10.20.0.0/24",
                                        name=unique("sub"), dns_nameservers=["10.20.0.53"])
    assert subnet.gateway_ip == "10.20.0.1"
    assert subnet.allocation_pools == [{"start": "10.20.0.2", "end": "10.20.0.254"}]
    assert demo.network.get_network(net.id).subnet_ids == [subnet.id]
    port = demo.network.create_port(network_id=net.id, name="web-1", device_id="vm-1",
                                    device_owner="compute:nova")
    [fixed] = port.fixed_ips
    assert fixed["subnet_id"] == subnet.id
    assert ipaddress.ip_address(fixed["ip_address"]) in ipaddress.ip_network("10.20.0.0/24")
    assert fixed["ip_address"] != "10.20.0.1"
    assert port.mac_address.startswith("fa:16:3e:") and port.status == "DOWN"
    default = demo.network.find_security_group("default", project_id=demo.current_project_id)
    assert port.security_group_ids == [default.id] and port.is_port_security_enabled
    # OVN's metadata port holds an address on the subnet; it goes with the network.
    owners = {p.device_owner for p in demo.network.ports(network_id=net.id)}
    assert owners == {"compute:nova", "network:distributed"}
    demo.network.update_port(port, name="web-one")
    assert demo.network.get_port(port.id).name == "web-one"
    with pytest.raises(sdk_exc.ConflictException):
        demo.network.delete_network(net)
    demo.network.delete_port(port)
    demo.network.delete_network(net)
    assert demo.network.find_network(net.id) is None
    assert demo.network.find_subnet(subnet.id) is None


def test_a_port_asks_for_an_address_and_can_change_it(demo, raw):
    net = demo.network.create_network(name=unique("net"))
    subnet = demo.network.create_subnet(network_id=net.id, ip_version=4, cidr="10.21.0.0/24")
    port = demo.network.create_port(network_id=net.id,
                                    fixed_ips=[{"ip_address": "10.21.0.50"}])
    assert port.fixed_ips == [{"subnet_id": subnet.id, "ip_address": "10.21.0.50"}]
    taken = raw("POST", "/v2.0/ports", {"port": {"network_id": net.id, "fixed_ips": [
        {"subnet_id": subnet.id, "ip_address": "10.21.0.50"}]}})
    neutron_error(taken, 409, "IpAddressAlreadyAllocated",
                  f"IP address 10.21.0.50 already allocated in subnet {subnet.id}")
    outside = raw("POST", "/v2.0/ports", {"port": {"network_id": net.id, "fixed_ips": [
        {"subnet_id": subnet.id, "ip_address": "10.99.0.5"}]}})
    neutron_error(outside, 400, "InvalidIpForSubnet",
                  "IP address 10.99.0.5 is not a valid IP for the specified subnet.")
    port = demo.network.update_port(port, fixed_ips=[{"ip_address": "10.21.0.60"}])
    assert port.fixed_ips == [{"subnet_id": subnet.id, "ip_address": "10.21.0.60"}]
    again = demo.network.create_port(network_id=net.id, fixed_ips=[{"ip_address": "10.21.0.50"}])
    assert again.fixed_ips[0]["ip_address"] == "10.21.0.50"  # released by the update
    found = list(demo.network.ports(fixed_ips=["ip_address=10.21.0.60"]))
    assert [p.id for p in found] == [port.id]


def test_a_small_subnet_runs_out_of_addresses(demo, raw):
    net = demo.network.create_network(name=unique("net"))
    demo.network.create_subnet(network_id=net.id, ip_version=4, cidr="10.22.0.0/29")
    # 10.22.0.2-6 in the pool; OVN's metadata port holds one.
    for _ in range(4):
        demo.network.create_port(network_id=net.id)
    resp = raw("POST", "/v2.0/ports", {"port": {"network_id": net.id}})
    neutron_error(resp, 409, "IpAddressGenerationFailure",
                  f"No more IP addresses available on network {net.id}.")


def test_bulk_create_is_all_or_nothing(demo, raw):
    names = [unique("bulk") for _ in range(3)]
    created = demo.network.create_network(name=names[0]) and None
    resp = raw("POST", "/v2.0/networks", {"networks": [{"name": names[1]},
                                                       {"name": names[2]}]})
    assert resp.status_code == 201
    assert [n["name"] for n in resp.json()["networks"]] == names[1:]
    net_id = resp.json()["networks"][0]["id"]
    before = len(list(demo.network.ports()))
    resp = raw("POST", "/v2.0/ports", {"ports": [
        {"network_id": net_id, "name": "fine"},
        {"network_id": "6f3b5b76-3c8c-4f23-8d38-1b1b1d1b1b1b", "name": "lost"}]})
    neutron_error(resp, 404, "NetworkNotFound")
    assert len(list(demo.network.ports())) == before
    assert created is None
    resp = raw("POST", "/v2.0/routers", {"routers": [{"name": "r"}]})
    neutron_error(resp, 400, "HTTPBadRequest", "Bulk operation not supported")


# -- listings ------------------------------------------------------------------------------------

def test_the_sdk_pages_through_every_network(demo):
    prefix = unique("page")
    made = {demo.network.create_network(name=f"{prefix}-{n}").id for n in range(7)}
    seen = [n.id for n in demo.network.networks(limit=3) if n.name.startswith(prefix)]
    assert len(seen) == len(set(seen)) and set(seen) == made


def test_pages_carry_next_and_previous_links_as_neutron_builds_them(demo, raw):
    prefix = unique("links")
    for n in range(5):
        demo.network.create_network(name=f"{prefix}-{n}")
    query = "/v2.0/networks?sort_key=name&sort_dir=desc&limit=2&fields=name"
    first = raw("GET", query).json()
    assert list(first) == ["networks", "networks_links"]
    assert all(list(n) == ["name"] for n in first["networks"])
    links = {link["rel"]: link["href"] for link in first["networks_links"]}
    base, _, params = links["next"].partition("?")
    assert base == raw.base + "/v2.0/networks"
    ids = [n["id"] for n in raw("GET", query.replace("&fields=name", "")).json()["networks"]]
    assert urllib.parse.parse_qsl(params) == [("sort_key", "name"), ("sort_dir", "desc"),
                                              ("limit", "2"), ("fields", "name"),
                                              ("marker", ids[1])]
    assert urllib.parse.parse_qsl(links["previous"].partition("?")[2])[-2:] == [
        ("marker", ids[0]), ("page_reverse", "True")]
    second = raw("GET", links["next"].replace(raw.base, "")).json()
    back = raw("GET", {l["rel"]: l["href"] for l in second["networks_links"]}[
        "previous"].replace(raw.base, "")).json()
    assert back["networks"] == first["networks"]
    neutron_error(raw("GET", "/v2.0/networks?limit=2&marker=" + str(uuid.uuid4())), 404,
                  "NetworkNotFound")


def test_filters_fields_and_sorting(demo, raw):
    prefix = unique("filt")
    nets = [demo.network.create_network(name=f"{prefix}-{n}", is_admin_state_up=n != 1)
            for n in range(3)]
    resp = raw("GET", f"/v2.0/networks?name={prefix}-0&name={prefix}-2&fields=id&fields=name"
                      f"&sort_key=name&sort_dir=desc")
    assert resp.json() == {"networks": [{"id": nets[2].id, "name": nets[2].name},
                                        {"id": nets[0].id, "name": nets[0].name}]}
    down = raw("GET", "/v2.0/networks?admin_state_up=false&fields=name").json()["networks"]
    assert {"name": nets[1].name} in down and {"name": nets[0].name} not in down
    neutron_error(raw("GET", "/v2.0/networks?colour=red"), 400, "HTTPBadRequest",
                  "['colour'] is invalid attribute for filtering")
    neutron_error(raw("GET", "/v2.0/networks?sort_key=colour&sort_dir=asc"), 400,
                  "HTTPBadRequest", "['colour'] is invalid attribute for sort_keys")
    neutron_error(raw("GET", "/v2.0/networks?admin_state_up=perhaps"), 400, "InvalidInput",
                  "Invalid input for operation: 'perhaps' cannot be converted to boolean.")
    shown = raw("GET", f"/v2.0/networks/{nets[0].id}?fields=status").json()
    assert shown == {"network": {"status": "ACTIVE"}}


def test_tags_are_set_listed_and_filtered(demo, raw):
    net = demo.network.create_network(name=unique("tag"))
    demo.network.set_tags(net, ["blue", "prod"])
    assert sorted(demo.network.get_network(net.id).tags) == ["blue", "prod"]
    assert raw("PUT", f"/v2.0/networks/{net.id}/tags/green").status_code == 201
    assert raw("GET", f"/v2.0/networks/{net.id}/tags/green").status_code == 204
    neutron_error(raw("GET", f"/v2.0/networks/{net.id}/tags/red"), 404, "TagNotFound",
                  f"Tag red could not be found for network {net.id}.")
    tagged = raw("GET", "/v2.0/networks?tags=blue,green&fields=id").json()["networks"]
    assert tagged == [{"id": net.id}]
    assert net.id not in {n["id"] for n in raw("GET", "/v2.0/networks?not-tags-any=prod")
                          .json()["networks"]}
    assert raw("DELETE", f"/v2.0/networks/{net.id}/tags").status_code == 204
    assert raw("GET", f"/v2.0/networks/{net.id}/tags").json() == {"tags": []}


# -- who sees what -------------------------------------------------------------------------------

def test_projects_see_their_own_and_shared_networks_and_admin_sees_all(demo, admin, raw):
    private = admin.network.create_network(name=unique("adminonly"))
    shared = admin.network.create_network(name=unique("shared"), is_shared=True)
    mine = demo.network.create_network(name=unique("mine"))
    seen = {n.id for n in demo.network.networks()}
    assert shared.id in seen and mine.id in seen and private.id not in seen
    neutron_error(raw("GET", f"/v2.0/networks/{private.id}"), 404, "NetworkNotFound",
                  f"Network {private.id} could not be found.")
    assert mine.id in {n.id for n in admin.network.networks()}
    body = raw("GET", f"/v2.0/networks/{mine.id}").json()["network"]
    assert body["tenant_id"] == body["project_id"] == demo.current_project_id
    assert "provider:network_type" not in body
    assert admin.network.get_network(mine.id).provider_network_type == "geneve"
    neutron_error(raw("PUT", f"/v2.0/networks/{shared.id}", {"network": {"name": "mine now"}}),
                  403, "PolicyNotAuthorized", "rule:update_network is disallowed by policy")
    neutron_error(raw("POST", "/v2.0/networks", {"network": {"shared": True}}), 403,
                  "PolicyNotAuthorized",
                  "(rule:create_network and rule:create_network:shared) is disallowed by policy")
    port = demo.network.create_port(network_id=shared.id)
    assert port.project_id == demo.current_project_id
    neutron_error(raw("POST", "/v2.0/subnets", {"subnet": {
        "network_id": private.id, "ip_version": 4, "cidr": "10.30.0.0/24"}}), 404,
        "NetworkNotFound")


def test_nova_binds_a_port_with_its_service_user(sim, demo, raw):
    nova = sim.connect(CLOUD, user="ocx")  # a user with the service role, as Nova's is
    net = demo.network.create_network(name=unique("bind"))
    demo.network.create_subnet(network_id=net.id, ip_version=4, cidr="10.40.0.0/24")
    port = demo.network.create_port(network_id=net.id)
    neutron_error(raw("PUT", f"/v2.0/ports/{port.id}", {"port": {"binding:host_id": "c1"}}),
                  403, "PolicyNotAuthorized",
                  "(rule:update_port and rule:update_port:binding:host_id) is disallowed by "
                  "policy")
    bound = nova.network.update_port(port.id, binding_host_id="compute-1",
                                     device_id="vm-uuid", device_owner="compute:nova")
    assert bound.binding_host_id == "compute-1" and bound.binding_vif_type == "ovs"
    assert bound.status == "ACTIVE"
    seen = raw("GET", f"/v2.0/ports/{port.id}").json()["port"]
    assert seen["device_id"] == "vm-uuid" and seen["status"] == "ACTIVE"
    assert "binding:host_id" not in seen and seen["binding:vnic_type"] == "normal"
    made = nova.network.create_port(network_id=net.id, binding_host_id="compute-2",
                                    device_owner="compute:nova", project_id=demo.current_project_id)
    assert made.binding_vif_type == "ovs" and made.project_id == demo.current_project_id


# -- routers -------------------------------------------------------------------------------------

def test_a_router_joins_subnets_and_an_external_network(demo, admin, raw):
    public = admin.network.create_network(name=unique("public"), is_router_external=True)
    public_subnet = admin.network.create_subnet(network_id=public.id, ip_version=4,
                                                cidr="172.24.4.0/24", enable_dhcp=False)
    net = demo.network.create_network(name=unique("inside"))
    subnet = demo.network.create_subnet(network_id=net.id, ip_version=4, cidr="10.50.0.0/24")
    other = demo.network.create_network(name=unique("inside2"))
    other_subnet = demo.network.create_subnet(network_id=other.id, ip_version=4,
                                              cidr="10.51.0.0/24", gateway_ip="10.51.0.254")
    router = demo.network.create_router(name=unique("router"),
                                        external_gateway_info={"network_id": public.id})
    gateway = router.external_gateway_info
    assert gateway["network_id"] == public.id and gateway["enable_snat"] is True
    [external_ip] = gateway["external_fixed_ips"]
    assert external_ip["subnet_id"] == public_subnet.id
    answer = demo.network.add_interface_to_router(router, subnet=subnet.id)
    assert answer["id"] == router.id and answer["subnet_ids"] == [subnet.id]
    assert answer["tenant_id"] == answer["project_id"] == demo.current_project_id
    interface = demo.network.get_port(answer["port_id"])
    assert interface.device_owner == "network:router_interface"
    assert interface.device_id == router.id
    assert interface.fixed_ips == [{"subnet_id": subnet.id, "ip_address": "10.50.0.1"}]
    own_port = demo.network.create_port(network_id=other.id, fixed_ips=[
        {"subnet_id": other_subnet.id, "ip_address": "10.51.0.254"}])
    by_port = demo.network.add_interface_to_router(router, port=own_port.id)
    assert by_port["port_id"] == own_port.id and by_port["subnet_id"] == other_subnet.id
    # A floating IP reaches the subnet through the router's gateway.
    server_port = demo.network.create_port(network_id=net.id)
    fip = demo.network.create_ip(floating_network_id=public.id, port_id=server_port.id)
    assert ipaddress.ip_address(fip.floating_ip_address) in ipaddress.ip_network(
        "172.24.4.0/24")
    assert (fip.router_id, fip.fixed_ip_address, fip.status) == (
        router.id, server_port.fixed_ips[0]["ip_address"], "ACTIVE")
    neutron_error(raw("PUT", f"/v2.0/routers/{router.id}/remove_router_interface",
                      {"subnet_id": subnet.id}), 409, "RouterInterfaceInUseByFloatingIP")
    neutron_error(raw("PUT", f"/v2.0/routers/{router.id}", {"router": {
        "external_gateway_info": {}}}), 409, "RouterExternalGatewayInUseByFloatingIp")
    island = demo.network.create_network(name=unique("island"))
    demo.network.create_subnet(network_id=island.id, ip_version=4, cidr="10.52.0.0/24")
    stranded = demo.network.create_port(network_id=island.id)
    unreachable = raw("POST", "/v2.0/floatingips", {"floatingip": {
        "floating_network_id": public.id, "port_id": stranded.id}})
    neutron_error(unreachable, 404, "ExternalGatewayForFloatingIPNotFound")
    demo.network.delete_port(server_port)  # takes the floating IP's association with it
    fip = demo.network.get_ip(fip.id)
    assert (fip.port_id, fip.router_id, fip.status) == (None, None, "DOWN")
    demo.network.delete_ip(fip)
    again = raw("PUT", f"/v2.0/routers/{router.id}/add_router_interface",
                {"subnet_id": subnet.id})
    neutron_error(again, 400, "BadRequest",
                  f"Bad router request: Router already has a port on subnet {subnet.id}.")
    neutron_error(raw("PUT", f"/v2.0/routers/{router.id}/add_router_interface", {}), 400,
                  "BadRequest", "Bad router request: Either subnet_id or port_id must be "
                                "specified.")
    neutron_error(raw("DELETE", f"/v2.0/ports/{answer['port_id']}"), 409, "ServicePortInUse")
    neutron_error(raw("DELETE", f"/v2.0/routers/{router.id}"), 409, "RouterInUse",
                  f"Router {router.id} still has ports")
    neutron_error(raw("DELETE", f"/v2.0/subnets/{subnet.id}"), 409, "SubnetInUse")
    neutron_error(raw("PUT", f"/v2.0/routers/{router.id}/remove_router_interface",
                      {"subnet_id": public_subnet.id}), 404,
                  "RouterInterfaceNotFoundForSubnet")
    demo.network.remove_interface_from_router(router, subnet=subnet.id)
    demo.network.remove_interface_from_router(router, port=own_port.id)
    assert demo.network.find_port(own_port.id) is None
    demo.network.delete_router(router)
    assert not [p for p in admin.network.ports(device_id=router.id)]
    demo.network.delete_subnet(subnet)
    notexternal = raw("POST", "/v2.0/routers", {"router": {
        "external_gateway_info": {"network_id": net.id}}})
    neutron_error(notexternal, 400, "BadRequest",
                  f"Bad router request: Network {net.id} is not an external network.")


# -- security groups -----------------------------------------------------------------------------

def test_security_groups_and_their_rules(sim, demo, raw):
    groups = list(demo.network.security_groups(project_id=demo.current_project_id))
    [default] = [g for g in groups if g.name == "default"]
    rules = default.security_group_rules
    assert {(r["direction"], r["ethertype"], r["remote_group_id"]) for r in rules} == {
        ("ingress", "IPv4", default.id), ("ingress", "IPv6", default.id),
        ("egress", "IPv4", None), ("egress", "IPv6", None)}
    web = demo.network.create_security_group(name=unique("web"), description="http in")
    assert {(r["direction"], r["ethertype"]) for r in web.security_group_rules} == {
        ("egress", "IPv4"), ("egress", "IPv6")}
    rule = demo.network.create_security_group_rule(
        security_group_id=web.id, direction="ingress", protocol="tcp", port_range_min=80,
        port_range_max=80, remote_ip_prefix="0.0.0.0/0")
    assert rule.protocol == "tcp" and rule.port_range_min == 80
    body = {"security_group_rule": {"security_group_id": web.id, "direction": "ingress",
                                    "protocol": "tcp", "port_range_min": 80,
                                    "port_range_max": 80, "remote_ip_prefix": "0.0.0.0/0"}}
    neutron_error(raw("POST", "/v2.0/security-group-rules", body), 409,
                  "SecurityGroupRuleExists",
                  f"Security group rule already exists. Rule id is {rule.id}.")
    body["security_group_rule"].update(port_range_min=90, port_range_max=81)
    neutron_error(raw("POST", "/v2.0/security-group-rules", body), 400,
                  "SecurityGroupInvalidPortRange",
                  "Invalid input for operation: For TCP/UDP protocols, port_range_min must be "
                  "<= port_range_max.")
    neutron_error(raw("POST", "/v2.0/security-groups", {"security_group": {"name": "default"}}),
                  409, "SecurityGroupDefaultAlreadyExists", "Default security group already "
                                                            "exists.")
    net = demo.network.create_network(name=unique("sg"))
    port = demo.network.create_port(network_id=net.id, security_group_ids=[web.id])
    assert port.security_group_ids == [web.id]
    neutron_error(raw("DELETE", f"/v2.0/security-groups/{web.id}"), 409, "SecurityGroupInUse",
                  f"Security Group {web.id} in use.")
    neutron_error(raw("DELETE", f"/v2.0/security-groups/{default.id}"), 409,
                  "SecurityGroupCannotRemoveDefault",
                  "Insufficient rights for removing default security group.")
    demo.network.delete_port(port)
    demo.network.delete_security_group_rule(rule)
    demo.network.delete_security_group(web)
    assert demo.network.find_security_group(web.id) is None


# -- errors on the wire --------------------------------------------------------------------------

def test_bad_requests_get_neutron_errors_and_change_nothing(demo, raw):
    missing = str(uuid.uuid4())
    neutron_error(raw("GET", f"/v2.0/networks/{missing}"), 404, "NetworkNotFound",
                  f"Network {missing} could not be found.")
    neutron_error(raw("GET", f"/v2.0/routers/{missing}"), 404, "RouterNotFound",
                  f"Router {missing} could not be found")
    for body in (b"{not json", b"null", b"[]"):  # not a JSON object: before any lookup
        neutron_error(raw("POST", "/v2.0/networks", data=body), 400, "HTTPBadRequest",
                      "Body contains invalid data")
        neutron_error(raw("PUT", f"/v2.0/networks/{missing}", data=body), 400,
                      "HTTPBadRequest", "Body contains invalid data")
    neutron_error(raw("POST", "/v2.0/networks", {}), 400, "HTTPBadRequest",
                  "Unable to find 'network' in request body")
    # An object without the resource: the network is looked up first.
    neutron_error(raw("PUT", f"/v2.0/networks/{missing}", {}), 404, "NetworkNotFound",
                  f"Network {missing} could not be found.")
    neutron_error(raw("POST", "/v2.0/networks", {"network": {"name": "n", "colour": "red"}}),
                  400, "HTTPBadRequest", "Unrecognized attribute(s) 'colour'")
    net = demo.network.create_network(name=unique("err"))
    neutron_error(raw("POST", "/v2.0/subnets", {"subnet": {
        "network_id": net.id, "ip_version": 4, "cidr": "10.60.0.0/33"}}), 400,
        "HTTPBadRequest", "Invalid input for cidr. Reason: '10.60.0.0/33' is not a valid IP "
                          "subnet.")
    neutron_error(raw("POST", "/v2.0/subnets", {"subnet": {
        "network_id": net.id, "ip_version": 6, "cidr": "10.60.0.0/24"}}), 400,
        "InvalidInput", "Invalid input for operation: cidr '10.60.0.0/24' does not match the "
                        "ip_version '6'.")
    demo.network.create_subnet(network_id=net.id, ip_version=4, cidr="10.60.0.0/24")
    neutron_error(raw("POST", "/v2.0/subnets", {"subnet": {
        "network_id": net.id, "ip_version": 4, "cidr": "10.60.0.128/25"}}), 400,
        "InvalidInput", f"Invalid input for operation: Requested subnet with cidr: "
                        f"10.60.0.128/25 for network: {net.id} overlaps with another subnet.")
    neutron_error(raw("POST", "/v2.0/subnets", {"subnet": {
        "network_id": net.id, "ip_version": 4, "cidr": "10.61.0.0/24",
        "gateway_ip": "10.61.0.5", "allocation_pools": [{"start": "10.61.0.2",
                                                         "end": "10.61.0.9"}]}}), 409,
        "GatewayConflictWithAllocationPools")
    ports = [demo.network.create_port(network_id=net.id).id for _ in range(2)]
    neutron_error(raw("DELETE", f"/v2.0/networks/{net.id}"), 409, "NetworkInUse",
                  f"Unable to complete operation on network {net.id}. There are one or more "
                  f"ports still in use on the network, id for these ports is: "
                  f"{','.join(ports)}.")
    assert demo.network.get_network(net.id).status == "ACTIVE"
    neutron_error(raw("PATCH", f"/v2.0/networks/{net.id}", {}), 405, "HTTPMethodNotAllowed")
    assert raw("GET", "/v2.0/networks", token=False).status_code == 401


# -- the openstack CLI ---------------------------------------------------------------------------

def test_the_openstack_cli_manages_networks_and_subnets(sim, demo):
    name = unique("cli")
    created = sim.osc("network", "create", "--description", "made by the CLI", name,
                      cloud=CLOUD)
    assert created["name"] == name and created["status"] == "ACTIVE"
    subnet = sim.osc("subnet", "create", "--network", name, "--subnet-range", "10.70.0.0/24",
                     f"{name}-sub", cloud=CLOUD)
    assert subnet["cidr"] == "10.70.0.0/24" and subnet["gateway_ip"] == "10.70.0.1"
    with ThreadPoolExecutor(2) as pool:  # two CLI processes at once: the test stays quick
        listing = pool.submit(sim.osc, "network", "list", "--name", name, cloud=CLOUD)
        showing = pool.submit(sim.osc, "network", "show", name, cloud=CLOUD)
    assert [(n["ID"], n["Subnets"]) for n in listing.result()] == [(created["id"],
                                                                   [subnet["id"]])]
    shown = showing.result()
    assert shown["description"] == "made by the CLI" and shown["mtu"] == 1442
    sim.osc("network", "delete", name, cloud=CLOUD)
    assert demo.network.find_network(created["id"]) is None
    assert demo.network.find_subnet(subnet["id"]) is None


# -- notifications -------------------------------------------------------------------------------

async def _events(queue, wanted: set[str], timeout: float = 15) -> dict[str, dict]:
    """The first message of each wanted event type, read in one pass over the queue."""
    found: dict[str, dict] = {}

    async def read():
        async with queue.iterator() as messages:
            async for message in messages:
                async with message.process():
                    envelope = orjson.loads(message.body)
                    inner = orjson.loads(envelope["oslo.message"])
                    inner["routing_key"] = message.routing_key
                    found.setdefault(inner["event_type"], inner)
                    if wanted <= set(found):
                        return found
    return await asyncio.wait_for(read(), timeout)


def test_creating_and_deleting_publish_oslo_notifications(make_sim):
    from tests.integration.sim.test_notifications import _listen
    sim = make_sim("n=neutron", notifications_url=RABBIT)
    connection, queue = sim.call(_listen("neutron", f"ocx-test-{uuid.uuid4().hex}"))
    try:
        conn = sim.connect("n")
        net = conn.network.create_network(name="notified")
        port = conn.network.create_port(network_id=net.id)
        conn.network.delete_port(port)
        events = sim.call(_events(queue, {"network.create.start", "network.create.end",
                                          "port.create.end", "port.delete.end"}))
    finally:
        sim.call(connection.close())
    end = events["network.create.end"]
    assert end["routing_key"] == "notifications.info" and end["priority"] == "INFO"
    assert end["publisher_id"].startswith("network.")
    assert end["payload"]["network"]["id"] == net.id
    assert end["_context_project_id"] == conn.current_project_id
    assert events["network.create.start"]["payload"]["network"]["name"] == "notified"
    assert events["port.create.end"]["payload"]["port"]["id"] == port.id
    assert events["port.delete.end"]["payload"]["port_id"] == port.id
    assert events["port.delete.end"]["payload"]["port"]["network_id"] == net.id
