"""The GBP API on OCX, through real sockets with real Keystone tokens: every rule of seed 001's
PROXY_GROUP table (allowed, refused on POST or PUT, bad values), the defaults, the prefix
length bounds, errors in Neutron's form, tenant isolation, and the catalog entry."""
from __future__ import annotations

import itertools

import pytest
import requests

COUNTER = itertools.count(1)
UUID = "0b5c2f3e-7d6a-4e1b-9f3c-2a8d5e6f7a8b"


def l3_policy(gbp, user="demo", **attrs) -> dict:
    """An L3 policy whose pools overlap no other of the project (GBP refuses that)."""
    n = next(COUNTER)
    attrs.setdefault("ip_pool", f"10.{n}.0.0/16")
    attrs.setdefault("proxy_ip_pool", f"172.16.{n}.0/24")
    return gbp.create("l3_policies", "l3_policy", user=user, name=f"l3p{n}", **attrs)


def group(gbp, l3p: dict, **attrs) -> dict:
    l2p = gbp.create("l2_policies", "l2_policy", name="l2", l3_policy_id=l3p["id"])
    return gbp.create("policy_target_groups", "policy_target_group", name="g",
                      l2_policy_id=l2p["id"], **attrs)


def refused(resp: requests.Response, status: int, kind: str, message: str | None = None):
    assert resp.status_code == status, resp.text
    error = resp.json()["NeutronError"]
    assert error["type"] == kind and error["detail"] == ""
    if message is not None:
        assert error["message"] == message
    return error["message"]


# -- policy target groups: proxied_group_id, proxy_type, proxy_group_id ----------------------

def test_a_proxy_group_and_its_read_only_link(gbp):
    l3p = l3_policy(gbp)
    original = group(gbp, l3p)
    assert (original["proxied_group_id"], original["proxy_type"],
            original["proxy_group_id"]) == (None, None, None)
    proxy = gbp.create("policy_target_groups", "policy_target_group", name="p",
                       proxied_group_id=original["id"])
    assert proxy["proxied_group_id"] == original["id"]
    assert proxy["proxy_type"] == "l3"                     # the default type
    assert proxy["proxy_group_id"] is None
    shown = gbp.show("policy_target_groups", "policy_target_group", original["id"])
    assert shown["proxy_group_id"] == proxy["id"] and shown["proxied_group_id"] is None
    l2 = gbp.create("policy_target_groups", "policy_target_group", name="p2",
                    proxied_group_id=proxy["id"], proxy_type="l2")
    assert l2["proxy_type"] == "l2"
    # explicit None: not a proxy
    plain = gbp.create("policy_target_groups", "policy_target_group", name="n",
                       l2_policy_id=original["l2_policy_id"], proxied_group_id=None,
                       proxy_type=None)
    assert plain["proxied_group_id"] is None and plain["proxy_type"] is None


def test_proxy_group_attributes_refused(gbp):
    l3p = l3_policy(gbp)
    g = group(gbp, l3p)
    post = lambda **a: gbp.call("POST", "policy_target_groups",  # noqa: E731
                                {"policy_target_group": {"name": "x", **a}})
    put = lambda **a: gbp.call("PUT", f"policy_target_groups/{g['id']}",  # noqa: E731
                               {"policy_target_group": a})
    refused(post(proxy_group_id=UUID), 400, "HTTPBadRequest",
            "Attribute 'proxy_group_id' not allowed in POST")
    refused(put(proxy_group_id=UUID), 400, "HTTPBadRequest",
            "Cannot update read-only attribute proxy_group_id")
    refused(put(proxied_group_id=UUID), 400, "HTTPBadRequest",
            "Cannot update read-only attribute proxied_group_id")
    refused(put(proxy_type="l2"), 400, "HTTPBadRequest",
            "Cannot update read-only attribute proxy_type")
    refused(post(proxied_group_id="not-a-uuid"), 400, "HTTPBadRequest",
            "Invalid input for proxied_group_id. Reason: 'not-a-uuid' is not a valid UUID.")
    refused(post(proxied_group_id=g["id"], proxy_type="l4"), 400, "HTTPBadRequest",
            "Invalid input for proxy_type. Reason: l4 is not in valid_values.")
    refused(post(proxy_type="l2", l2_policy_id=g["l2_policy_id"]), 400,
            "ProxyTypeSetWithoutProxiedPTG", "Proxy type can't be set without a proxied PTG.")
    refused(post(proxied_group_id=UUID), 404, "PolicyTargetGroupNotFound")
    gbp.create("policy_target_groups", "policy_target_group", name="p", proxied_group_id=g["id"])
    refused(post(proxied_group_id=g["id"]), 400, "InvalidProxiedGroup",
            f"Proxied group {g['id']} already has a proxy.")
    # an L2 proxy on the proxied group's own L2 policy (GBP's InvalidProxiedGroupL2P)
    other = group(gbp, l3p)
    refused(post(proxied_group_id=other["id"], proxy_type="l2",
                 l2_policy_id=other["l2_policy_id"]), 400, "InvalidProxiedGroupL2P")
    # nothing of the refused requests was made
    names = [x["name"] for x in gbp.call("GET", "policy_target_groups").json()[
        "policy_target_groups"] if x["l2_policy_id"] in (g["l2_policy_id"],)]
    assert names == ["g"]


def test_a_proxy_on_another_l3_policy_is_refused(gbp):
    g = group(gbp, l3_policy(gbp))
    elsewhere = gbp.create("l2_policies", "l2_policy", name="x",
                           l3_policy_id=l3_policy(gbp)["id"])
    refused(gbp.call("POST", "policy_target_groups", {"policy_target_group": {
        "proxied_group_id": g["id"], "l2_policy_id": elsewhere["id"]}}), 400,
        "InvalidProxiedGroupL3P")


# -- L3 policies: proxy_ip_pool, proxy_subnet_prefix_length ----------------------------------

def test_l3_policy_proxy_defaults_and_values(gbp):
    n = next(COUNTER)
    defaults = gbp.create("l3_policies", "l3_policy", name="d", ip_pool=f"10.{n}.0.0/16")
    assert defaults["proxy_ip_pool"] == "192.168.0.0/16"
    assert defaults["proxy_subnet_prefix_length"] == 29
    shown = gbp.show("l3_policies", "l3_policy", defaults["id"])
    assert (shown["proxy_ip_pool"], shown["proxy_subnet_prefix_length"]) == (
        "192.168.0.0/16", 29)
    gbp.delete("l3_policies", defaults["id"])
    given = l3_policy(gbp, proxy_ip_pool="172.31.0.0/20", proxy_subnet_prefix_length=26)
    assert (given["proxy_ip_pool"], given["proxy_subnet_prefix_length"]) == (
        "172.31.0.0/20", 26)
    updated = gbp.call("PUT", f"l3_policies/{given['id']}",
                       {"l3_policy": {"proxy_subnet_prefix_length": 28}})
    assert updated.status_code == 200 and updated.json()["l3_policy"][
        "proxy_subnet_prefix_length"] == 28
    refused(gbp.call("PUT", f"l3_policies/{given['id']}",
                     {"l3_policy": {"proxy_ip_pool": "172.30.0.0/20"}}), 400, "HTTPBadRequest",
            "Cannot update read-only attribute proxy_ip_pool")


@pytest.mark.parametrize("attrs,status,kind,message", [
    ({"proxy_ip_pool": "nonsense"}, 400, "HTTPBadRequest",
     "Invalid input for proxy_ip_pool. Reason: 'nonsense' is not a valid IP subnet."),
    ({"proxy_ip_pool": None}, 400, "HTTPBadRequest", None),
    ({"proxy_subnet_prefix_length": "big"}, 400, "InvalidInput",
     "Invalid input for operation: 'big' is not an integer."),
    ({"proxy_ip_pool": "fd00::/64"}, 400, "InvalidIpPoolVersion",
     "fd00::/64 is not a ipv4 address."),
    ({"proxy_ip_pool": "192.168.0.0/31"}, 400, "InvalidIpPoolSize", None),
    ({"proxy_ip_pool": "192.168.0.0/28", "proxy_subnet_prefix_length": 27}, 400,
     "SubnetPrefixLengthExceedsIpPool",
     "IP pool 192.168.0.0/28 prefix greater than subnet mask 27"),
])
def test_l3_policy_proxy_values_refused(gbp, attrs, status, kind, message):
    before = gbp.call("GET", "l3_policies").json()["l3_policies"]
    refused(gbp.call("POST", "l3_policies", {"l3_policy": {"ip_pool": "10.250.0.0/16",
                                                           **attrs}}), status, kind, message)
    assert gbp.call("GET", "l3_policies").json()["l3_policies"] == before


@pytest.mark.parametrize("version,length,ok", [
    (4, 1, False), (4, 2, True), (4, 30, True), (4, 31, False),
    (6, 1, False), (6, 2, True), (6, 127, True), (6, 128, False)])
def test_proxy_prefix_length_bounds_on_post_and_put(gbp, version, length, ok):
    n = next(COUNTER)
    pools = {"ip_version": version, "ip_pool": f"10.{n}.0.0/16", "proxy_ip_pool": "64.0.0.0/2"
             } if version == 4 else {"ip_version": 6, "ip_pool": f"fd{n:02x}::/16",
                                     "proxy_ip_pool": "4000::/2"}
    resp = gbp.call("POST", "l3_policies", {"l3_policy": {
        **pools, "proxy_subnet_prefix_length": length}})
    if ok:
        assert resp.status_code == 201, resp.text
        gbp.delete("l3_policies", resp.json()["l3_policy"]["id"])
    else:
        refused(resp, 400, "InvalidDefaultSubnetPrefixLength",
                f"Default subnet prefix length {length} is invalid for ipv{version}")
    valid = gbp.create("l3_policies", "l3_policy", **pools)
    resp = gbp.call("PUT", f"l3_policies/{valid['id']}",
                    {"l3_policy": {"proxy_subnet_prefix_length": length}})
    if ok:
        assert resp.json()["l3_policy"]["proxy_subnet_prefix_length"] == length
    else:
        refused(resp, 400, "InvalidDefaultSubnetPrefixLength")
        assert gbp.show("l3_policies", "l3_policy", valid["id"])[
            "proxy_subnet_prefix_length"] == 29
    gbp.delete("l3_policies", valid["id"])


def test_an_l3_policy_renders_on_the_provider_its_create_names(gbp):
    before = gbp.call("GET", "l3_policies").json()["l3_policies"]
    message = refused(gbp.call("POST", "l3_policies", {"l3_policy": {
        "ip_pool": "10.251.0.0/16"}}, headers={"X-OCX-Provider": "nowhere"}), 400, "BadRequest")
    assert "Unknown provider 'nowhere'" in message     # OCX's own answer on its network path
    assert gbp.call("GET", "l3_policies").json()["l3_policies"] == before
    n = next(COUNTER)
    home = gbp.call(
        "POST", "l3_policies", {"l3_policy": {"ip_pool": f"10.{n}.0.0/16",
                                              "proxy_ip_pool": f"172.16.{n}.0/24"}},
        headers={"X-OCX-Provider": "home"})
    assert home.status_code == 201, home.text
    assert gbp.neutron.get_router(home.json()["l3_policy"]["routers"][0]).name == "l3p_"


def test_pools_of_one_project_never_overlap(gbp):
    first = l3_policy(gbp)
    refused(gbp.call("POST", "l3_policies", {"l3_policy": {
        "ip_pool": "10.200.0.0/16", "proxy_ip_pool": first["proxy_ip_pool"]}}), 400,
        "OverlappingIPPoolsInSameTenantNotAllowed")


# -- policy targets: proxy_gateway, group_default_gateway ------------------------------------

def test_proxy_gateway_and_group_default_gateway(gbp):
    l3p = l3_policy(gbp)
    original = group(gbp, l3p)
    proxy = gbp.create("policy_target_groups", "policy_target_group", name="p",
                       proxied_group_id=original["id"])
    plain = gbp.create("policy_targets", "policy_target", policy_target_group_id=proxy["id"])
    assert plain["proxy_gateway"] is False and plain["group_default_gateway"] is False
    gateway = gbp.create("policy_targets", "policy_target",
                         policy_target_group_id=proxy["id"], proxy_gateway=True)
    assert gbp.show("policy_targets", "policy_target", gateway["id"])["proxy_gateway"] is True
    refused(gbp.call("POST", "policy_targets", {"policy_target": {
        "policy_target_group_id": proxy["id"], "proxy_gateway": True}}), 400,
        "OnlyOneProxyGatewayAllowed")
    # The proxied group is off the router: its gateway address is free for a target.
    default = gbp.create("policy_targets", "policy_target",
                         policy_target_group_id=original["id"], group_default_gateway=True,
                         proxy_gateway="false")
    assert default["group_default_gateway"] is True and default["proxy_gateway"] is False
    port = gbp.neutron.get_port(default["port_id"])
    subnet = gbp.neutron.get_subnet(original["subnets"][0])
    assert [f["ip_address"] for f in port.fixed_ips] == [subnet.gateway_ip]
    refused(gbp.call("POST", "policy_targets", {"policy_target": {
        "policy_target_group_id": original["id"], "group_default_gateway": True}}), 400,
        "OnlyOneGroupDefaultGatewayAllowed")
    for name in ("proxy_gateway", "group_default_gateway"):
        refused(gbp.call("PUT", f"policy_targets/{plain['id']}",
                         {"policy_target": {name: True}}), 400, "HTTPBadRequest",
                f"Cannot update read-only attribute {name}")
        refused(gbp.call("POST", "policy_targets", {"policy_target": {
            "policy_target_group_id": proxy["id"], name: "maybe"}}), 400, "InvalidInput",
            "Invalid input for operation: 'maybe' cannot be converted to boolean.")


def test_gateway_targets_where_they_cannot_be(gbp):
    g = group(gbp, l3_policy(gbp))
    refused(gbp.call("POST", "policy_targets", {"policy_target": {
        "policy_target_group_id": g["id"], "proxy_gateway": True}}), 400,
        "InvalidProxyGatewayGroup", f"Proxy gateway can't be set for non proxy PTG {g['id']}.")
    # A group on the router: the router holds its gateway address (GBP answers 409).
    ports = len(list(gbp.neutron.ports(network_id=gbp.neutron.get_subnet(
        g["subnets"][0]).network_id)))
    refused(gbp.call("POST", "policy_targets", {"policy_target": {
        "policy_target_group_id": g["id"], "group_default_gateway": True}}), 409,
        "IpAddressAlreadyAllocated")
    assert gbp.show("policy_target_groups", "policy_target_group", g["id"])[
        "policy_targets"] == []
    assert len(list(gbp.neutron.ports(network_id=gbp.neutron.get_subnet(
        g["subnets"][0]).network_id))) == ports


# -- the API itself ----------------------------------------------------------------------------

def test_errors_and_paths(gbp):
    unauthenticated = requests.get(f"{gbp.url}/policy/v2.0/l3_policies", timeout=30)
    assert unauthenticated.status_code == 401
    assert unauthenticated.headers["WWW-Authenticate"].startswith("Keystone uri=")
    refused(gbp.call("GET", f"l3_policies/{UUID}"), 404, "L3PolicyNotFound",
            f"L3Policy {UUID} could not be found")
    refused(gbp.call("GET", "nothing_like_it"), 404, "HTTPNotFound")
    refused(gbp.call("PATCH", "l3_policies"), 405, "HTTPMethodNotAllowed")
    malformed = requests.post(f"{gbp.url}/policy/v2.0/l3_policies", data=b"{",
                              headers={"X-Auth-Token": gbp.token(),
                                       "Content-Type": "application/json"}, timeout=30)
    refused(malformed, 400, "HTTPBadRequest", "Malformed JSON in request body.")
    l3p = l3_policy(gbp)
    # GBP's own paths and the .json suffix its client may send
    for path in (f"grouppolicy/l3_policies/{l3p['id']}", f"l3_policies/{l3p['id']}.json"):
        assert gbp.call("GET", path).json()["l3_policy"]["id"] == l3p["id"]
    versions = requests.get(f"{gbp.url}/policy", timeout=30).json()
    assert versions["versions"][0]["id"] == "v2.0"


def test_listing_filters_and_fields(gbp):
    l3p = l3_policy(gbp)
    original = group(gbp, l3p)
    proxy = gbp.create("policy_target_groups", "policy_target_group", name="p",
                       proxied_group_id=original["id"])
    gbp.create("policy_targets", "policy_target", policy_target_group_id=proxy["id"])
    gateway = gbp.create("policy_targets", "policy_target", policy_target_group_id=proxy["id"],
                         proxy_gateway=True)
    found = gbp.call("GET", f"policy_targets?proxy_gateway=True&policy_target_group_id="
                            f"{proxy['id']}").json()["policy_targets"]
    assert [t["id"] for t in found] == [gateway["id"]]
    only = gbp.call("GET", f"l3_policies?id={l3p['id']}&fields=id&fields=proxy_ip_pool").json()
    assert only == {"l3_policies": [{"id": l3p["id"], "proxy_ip_pool": l3p["proxy_ip_pool"]}]}


def test_a_project_sees_only_its_own_and_an_admin_all(gbp):
    mine = l3_policy(gbp)
    theirs = l3_policy(gbp, user="admin")
    demo_sees = {p["id"] for p in gbp.call("GET", "l3_policies").json()["l3_policies"]}
    assert mine["id"] in demo_sees and theirs["id"] not in demo_sees
    refused(gbp.call("GET", f"l3_policies/{theirs['id']}"), 404, "L3PolicyNotFound")
    refused(gbp.call("DELETE", f"l3_policies/{theirs['id']}"), 404, "L3PolicyNotFound")
    refused(gbp.call("POST", "l2_policies", {"l2_policy": {"l3_policy_id": theirs["id"]}}),
            404, "L3PolicyNotFound")
    refused(gbp.call("POST", "l3_policies", {"l3_policy": {"tenant_id": gbp.project("admin")}}),
            400, "HTTPBadRequest")
    admin_sees = {p["id"] for p in gbp.call("GET", "l3_policies", user="admin").json()[
        "l3_policies"]}
    assert {mine["id"], theirs["id"]} <= admin_sees
    assert gbp.call("GET", f"l3_policies/{mine['id']}", user="admin").status_code == 200


def test_the_home_catalog_lists_the_policy_service(gbp):
    catalog = gbp.connect("demo").session.auth.get_access(
        gbp.connect("demo").session).service_catalog.catalog
    policy = [s for s in catalog if s["type"] == "policy"]
    assert len(policy) == 1
    urls = {e["interface"]: e["url"] for e in policy[0]["endpoints"]}
    assert urls["public"] == f"{gbp.url}/policy"
    assert requests.get(urls["public"], timeout=30).json()["versions"][0]["id"] == "v2.0"
