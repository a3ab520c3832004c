"""etcd (the Gluon port registry, written by sp1's Proton server) restarted while users call
OCX, some of them showing a Gluon port through OCX's Neutron API.

While etcd is away OCX answers from what it last read: the known port is shown as before;
a port id it never heard of cannot be told from a Neutron port, so that call is a 503 naming
the registry (never a guess). When etcd is back OCX reads the registry again and watches it:
a port registered then is shown, without OCX being touched.
"""
from __future__ import annotations

import time
import uuid

import aiohttp

from . import checks
from .conftest import OCX_LIMITS
from .services import wait_until
from .traffic import Outcome, Traffic

API = "/proton/net-l3vpn/v1.0"


def proton(world, method: str, path: str, body: dict | None = None):
    """A call to sp1's Proton server, as its own users make them."""
    url = f"{world.sim.cloud('sp1').services['proton'].base_url}{API}/{path}"

    async def call():
        async with aiohttp.ClientSession() as http:
            async with http.request(method, url, json=body) as resp:
                text = await resp.read()
                assert resp.status < 300, (resp.status, text)
                return await resp.json() if text else None
    return world.sim.call(call())


def gluon_port(world, name: str, project: str) -> str:
    keystone = world.sim.cloud("home").keystone
    port = proton(world, "POST", "ports", {
        "tenant_id": keystone.project_id(project), "name": name,
        "mac_address": "fa:16:3e:%02x:%02x:%02x" % tuple(uuid.uuid4().bytes[:3]),
        "admin_state_up": True, "status": "ACTIVE", "vnic_type": "normal", "mtu": 1500,
        "vlan_transparency": False})
    return port["id"]


def registry_outage(outcome: Outcome) -> bool:
    return outcome.status == 503 and "Gluon port registry" in outcome.message


def test_an_etcd_restart_keeps_known_ports_served_and_new_ones_are_seen_after(world):
    alice = world.users[0]
    network = alice.connect().network
    known = gluon_port(world, "known", alice.project)
    shown = lambda port: network.get(f"/ports/{port}", raise_exc=False)  # noqa: E731
    wait_until(lambda: shown(known).status_code == 200, "OCX to see the Gluon port", 20)

    with Traffic(world.users, port=(known, alice.project)) as traffic:
        time.sleep(1)
        world.etcd.stop()
        # OCX notices; a port it never heard of is neither guessed a Neutron port nor lost.
        stranger = str(uuid.uuid4())
        refused = wait_until(lambda: (r := shown(stranger)).status_code == 503 and r.json(),
                             "the registry's outage to be noticed", 20)
        assert "Gluon port registry" in refused["NeutronError"]["message"]
        time.sleep(1)
        world.etcd.start()
        back = time.monotonic()
        fresh = gluon_port(world, "registered-after", alice.project)
        port = wait_until(lambda: (r := shown(fresh)).status_code == 200 and r.json()["port"],
                          "a port registered after etcd came back", 20)
        assert port["name"] == "registered-after"
        assert shown(stranger).status_code == 404   # Neutron's answer again
        time.sleep(1)
    ports = [o for o in traffic.outcomes if o.op == "show-port"]
    assert ports and all(o.status == 200 for o in ports), checks.summary(
        [o for o in ports if o.status != 200])
    checks.answered_in_time(traffic, OCX_LIMITS["call_timeout"])
    checks.only_explained(traffic, registry_outage)
    checks.recovered(traffic, back)
    checks.nothing_lost(world, traffic)
