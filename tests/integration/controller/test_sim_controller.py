"""The simulated network controllers over real sockets, as the OCX controller provider sees them.

Each test speaks the downstream REST API (``/networkService/v1.1``) with HTTP Basic
credentials, the deployment's ``Instance-ID`` and the consistency hash header.
"""
from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import time

import pytest
import requests

HASH = "X-BSN-BVS-HASH-MATCH"
MAC = "fa:16:3e:12:34:56"


class Client:
    """What the controller provider sends: Basic auth, Instance-ID, the last hash it got."""

    def __init__(self, url: str, auth: str, deployment: str = "ocx-test") -> None:
        self.url = url
        self.session = requests.Session()
        self.session.headers.update({
            "Authorization": "Basic " + base64.b64encode(auth.encode()).decode(),
            "Instance-ID": deployment, "Content-Type": "application/json"})
        self.hash: str | None = None

    def __call__(self, method: str, path: str, body=None, *, send_hash: bool = True,
                 expect: int | None = None) -> requests.Response:
        headers = {HASH: self.hash} if send_hash and self.hash is not None else {}
        resp = self.session.request(method, self.url + path, headers=headers, timeout=10,
                                    data=None if body is None else json.dumps(body))
        if resp.ok:
            self.hash = resp.headers[HASH]
        if expect is not None:
            assert resp.status_code == expect, resp.text
        return resp


def client_of(ctl, i: int = 0, **kwargs) -> Client:
    return Client(ctl.urls[i], ctl.auth, **kwargs)


def network(net_id: str, **fields) -> dict:
    return {"network": {"id": net_id, "name": net_id, "state": "UP", **fields}}


def test_networks_ports_and_attachments_are_created_updated_and_deleted(controllers):
    ctl = controllers(2)
    c = client_of(ctl)
    created = c("POST", "/tenants/t1/networks", network("n1", gateway="10.0.0.1"), expect=201)
    assert created.json()["network"]["tenant_id"] == "t1"
    c("PUT", "/tenants/t1/networks/n1", {"network": {
        "subnets": [{"id": "s1", "cidr": "10.0.0.0/24", "gateway_ip": "10.0.0.1"}]}}, expect=200)
    c("POST", "/tenants/t1/networks/n1/ports",
      {"port": {"id": "p1", "mac_address": MAC, "state": "UP"}}, expect=201)
    plugged = c("PUT", "/tenants/t1/networks/n1/ports/p1/attachment",
                {"attachment": {"id": "vm1", "mac": MAC}}, expect=200).json()["port"]
    assert plugged["attachment"] == {"id": "vm1", "mac": MAC}
    c("PUT", "/tenants/t1/networks/n1/ports/p1", {"port": {"name": "eth0"}}, expect=200)

    shown = c("GET", "/tenants/t1/networks/n1", expect=200).json()["network"]
    assert [s["id"] for s in shown["subnets"]] == ["s1"]
    assert shown["ports"][0]["name"] == "eth0" and shown["ports"][0]["attachment"]["id"] == "vm1"
    assert ctl.state(0)["networks"] == [shown]
    assert ctl.state(1)["networks"] == []  # servers are independent: the proxy keeps them in line

    unplugged = c("DELETE", "/tenants/t1/networks/n1/ports/p1/attachment", expect=200)
    assert unplugged.json()["port"]["attachment"] is None
    c("DELETE", "/tenants/t1/networks/n1/ports/p1", expect=200)
    assert c("GET", "/tenants/t1/networks/n1/ports", expect=200).json() == {"ports": []}
    c("DELETE", "/tenants/t1/networks/n1", expect=200)
    missing = c("GET", "/tenants/t1/networks/n1", expect=404).json()
    assert missing["reason"] == "NXVNS" and missing["code"] == 404


def test_routers_and_their_interfaces(controllers):
    c = client_of(ctl := controllers(1))
    c("POST", "/tenants/t1/networks", network("n1"), expect=201)
    c("POST", "/tenants/t1/routers", {"router": {"id": "r1", "name": "gw"}}, expect=201)
    c("PUT", "/tenants/t1/routers/r1", {"router": {"state": "DOWN"}}, expect=200)
    c("POST", "/tenants/t1/routers/r1/interfaces",
      {"interface": {"id": "rp1", "network": {"id": "n1"}, "subnet": {"id": "s1"}}}, expect=201)
    router = c("GET", "/tenants/t1/routers/r1", expect=200).json()["router"]
    assert router["state"] == "DOWN" and [i["id"] for i in router["interfaces"]] == ["rp1"]
    assert c("GET", "/tenants/t1/routers", expect=200).json()["routers"] == [router]
    c("DELETE", "/tenants/t1/routers/r1/interfaces/rp1", expect=200)
    assert c("DELETE", "/tenants/t1/routers/r1/interfaces/rp1").json()["reason"] == "NXINTF"
    c("DELETE", "/tenants/t1/routers/r1", expect=200)
    assert ctl.state(0)["routers"] == []


def test_a_bad_body_is_refused_with_a_clear_error_and_changes_nothing(controllers):
    ctl = controllers(1)
    c = client_of(ctl)
    before = ctl.state(0)["hash"]
    resp = c("POST", "/tenants/t1/networks", {"network": {"name": "no id"}}, expect=400)
    assert resp.json()["reason"] == "bad-request" and "'id'" in resp.json()["description"]
    resp = c.session.post(ctl.urls[0] + "/tenants/t1/networks", data="{not json", timeout=10)
    assert resp.status_code == 400
    assert ctl.state(0)["hash"] == before


@pytest.mark.parametrize("auth", ["ocx:wrong", "intruder:x", None])
def test_wrong_or_missing_credentials_are_refused_and_name_the_server(controllers, auth):
    ctl = controllers(1)
    c = client_of(ctl)
    if auth is None:
        del c.session.headers["Authorization"]
    else:
        c.session.headers["Authorization"] = "Basic " + base64.b64encode(auth.encode()).decode()
    resp = c("POST", "/tenants/t1/networks", network("n1"), expect=401)
    assert resp.json()["reason"] == "unauthorized" and "ctl-0" in resp.json()["description"]
    assert resp.headers["WWW-Authenticate"].startswith("Basic ")
    assert c("GET", "/health").status_code == 401
    assert ctl.state(0)["networks"] == []


def test_the_deployment_id_is_required_and_must_be_the_clusters(controllers):
    ctl = controllers(1, deployment_id="dep-a")
    assert client_of(ctl, deployment="dep-a")("GET", "/health").status_code == 200
    other = client_of(ctl, deployment="dep-b")("GET", "/health", expect=403)
    assert other.json()["reason"] == "wrong-instance-id"
    anonymous = client_of(ctl)
    del anonymous.session.headers["Instance-ID"]
    assert anonymous("GET", "/health", expect=400).json()["reason"] == "missing-instance-id"


def test_a_stale_consistency_hash_is_answered_409_until_the_topology_is_put(controllers):
    ctl = controllers(2)
    first, second = client_of(ctl, 0), client_of(ctl, 1)
    first("POST", "/tenants/t1/networks", network("n1"), expect=201)
    second.hash = first.hash  # failover: the proxy carries its last hash to the next server
    resp = second("POST", "/tenants/t1/networks", network("n2"), expect=409)
    assert resp.json()["reason"] == "hash-mismatch"
    assert second("GET", "/health", expect=409).json()["reason"] == "hash-mismatch"
    assert ctl.state(1)["networks"] == []

    topology = {k: ctl.state(0)[k] for k in ("networks", "routers")}
    second("PUT", "/topology", topology, expect=200)  # carries the stale hash: still accepted
    assert second.hash == first.hash  # the same state hashes alike on every server
    second("POST", "/tenants/t1/networks", network("n2"), expect=201)
    assert [n["id"] for n in ctl.state(1)["networks"]] == ["n1", "n2"]


def test_a_topology_put_replaces_everything(controllers):
    ctl = controllers(1)
    c = client_of(ctl)
    c("POST", "/tenants/t1/networks", network("old"), expect=201)
    c("POST", "/tenants/t1/routers", {"router": {"id": "r-old"}}, expect=201)
    topology = {
        "networks": [{"id": "n1", "tenant_id": "t2", "state": "UP", "gateway": "10.1.0.1",
                      "subnets": [{"id": "s1", "cidr": "10.1.0.0/24"}],
                      "ports": [{"id": "p1", "state": "UP",
                                 "attachment": {"id": "vm1", "mac": MAC}}]}],
        "routers": [{"id": "r1", "tenant_id": "t2", "state": "UP",
                     "interfaces": [{"id": "rp", "network": {"id": "n1"},
                                     "subnet": {"id": "s1"}}]}]}
    assert c("PUT", "/topology", topology, expect=200).json() == {"networks": 1, "routers": 1}
    state = ctl.state(0)
    assert state["networks"] == topology["networks"]
    # The interface shows its network and subnet as the controller holds them.
    assert state["routers"][0]["interfaces"] == [{
        "id": "rp", "network": {"id": "n1", "tenant_id": "t2", "state": "UP"},
        "subnet": {"id": "s1", "cidr": "10.1.0.0/24"}}]
    assert c("GET", "/tenants/t1/networks", expect=200).json() == {"networks": []}
    bad = {"networks": [{"id": "n9"}]}  # no tenant: refused whole, nothing changes
    assert c("PUT", "/topology", bad, expect=400).json()["reason"] == "bad-request"
    assert ctl.state(0)["hash"] == state["hash"]


def test_a_controller_restarted_empty_forgets_everything_and_asks_for_a_sync(controllers):
    ctl = controllers(1)
    c = client_of(ctl)
    c("POST", "/tenants/t1/networks", network("n1"), expect=201)
    port = ctl.servers[0]
    ctl.restart(0)
    assert ctl.servers[0] == port and ctl.state(0)["networks"] == []
    assert c("GET", "/health", expect=409).json()["reason"] == "hash-mismatch"
    assert c("GET", "/health", send_hash=False, expect=200).json()["status"] == "ok"


def test_a_stopped_controller_refuses_connections_and_comes_back_on_its_port(controllers):
    ctl = controllers(2)
    c = client_of(ctl)
    c("POST", "/tenants/t1/networks", network("n1"), expect=201)
    ctl.stop(0)
    assert not ctl.state(0)["running"]
    with pytest.raises(requests.ConnectionError):
        c("GET", "/health")
    assert client_of(ctl, 1)("GET", "/health").status_code == 200
    ctl.start(0)
    assert c("GET", "/tenants/t1/networks/n1", expect=200).json()["network"]["id"] == "n1"


def test_forced_errors_and_latency(controllers):
    ctl = controllers(1)
    c = client_of(ctl)
    ctl.fail(0, 503, count=2)
    assert [c("GET", "/health").status_code for _ in range(3)] == [503, 503, 200]
    ctl.fail(0, 500)
    resp = c("POST", "/tenants/t1/networks", network("n1"), expect=500)
    assert resp.json()["reason"] == "server-error"
    assert ctl.state(0)["networks"] == []
    ctl.heal(0)
    ctl.slow(0, 200)
    started = time.monotonic()
    c("GET", "/health", expect=200)
    assert time.monotonic() - started >= 0.2
    ctl.heal(0)
    assert ctl.requests(0)[-1] == ("GET", "/health", 200)


def test_ocx_sim_runs_controllers_for_a_cloud_and_its_control_endpoint_drives_them(tmp_path):
    """``ocx sim --clouds home,ctl=controller --controllers 3``: the describe file names one
    URL per server and the credentials; the control endpoint stops, restarts and faults them."""
    ocx = os.path.join(os.path.dirname(sys.executable), "ocx")
    described = tmp_path / "sim.json"
    proc = subprocess.Popen([ocx, "sim", "--clouds", "idp=nova,ctl=controller", "--controllers",
                             "3", "--describe", str(described)], stdout=subprocess.DEVNULL)
    try:
        for _ in range(100):
            if described.exists() or proc.poll() is not None:
                break
            time.sleep(0.1)
        doc = json.loads(described.read_text())
        cloud = doc["clouds"]["ctl"]
        urls = cloud["endpoints"]["controller"]
        assert len(urls) == 3 and "controller" not in doc["clouds"]["idp"]["endpoints"]
        assert cloud["controller"]["servers"].count(",") == 2
        c = Client(urls[2], cloud["controller"]["auth"])
        c("POST", "/tenants/t1/networks", network("n1"), expect=201)

        control = doc["control"] + "/clouds/ctl/controllers"
        listed = requests.get(control, timeout=10).json()
        assert [len(s["networks"]) for s in listed] == [0, 0, 1]
        assert requests.post(f"{control}/2/stop", timeout=10).json()["running"] is False
        with pytest.raises(requests.ConnectionError):
            c("GET", "/health")
        assert requests.post(f"{control}/2/restart", timeout=10).json()["networks"] == []
        resp = requests.patch(f"{control}/1/faults", json={"status": 503, "count": 1},
                              timeout=10)
        assert resp.json()["faults"]["status"] == 503
        assert Client(urls[1], cloud["controller"]["auth"])("GET", "/health").status_code == 503
        bad = requests.patch(f"{control}/1/faults", json={"status": 404}, timeout=10)
        assert bad.status_code == 400
        assert requests.get(f"{control}/7", timeout=10).status_code == 404
        assert requests.get(doc["control"] + "/clouds/idp/controllers",
                            timeout=10).status_code == 404
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0
