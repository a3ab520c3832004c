"""An operator who wants all or nothing: with ``listing_partial = false`` a listing that would
leave a cloud out fails with the service's 503 naming the cloud."""
from __future__ import annotations

import requests

OCX_DEFAULTS = {"listing_partial": "false", "listing_timeout": "3"}


def test_a_cloud_that_is_down_fails_the_listing_instead_of_shortening_it(ocx_env):
    conn = ocx_env.connect("ocx")
    token = conn.session.get_token()
    url = f"{ocx_env.url}/volume/v3/volumes"
    assert requests.get(url, headers={"X-Auth-Token": token}, timeout=10).status_code == 200
    ocx_env.sim.call(ocx_env.sim.cloud("sp2").set_down("cinder", True))
    try:
        failed = requests.get(url, headers={"X-Auth-Token": token}, timeout=30)
    finally:
        ocx_env.sim.call(ocx_env.sim.cloud("sp2").set_down("cinder", False))
    assert failed.status_code == 503
    assert failed.headers["X-OCX-Missing-Providers"] == "sp2"
    assert "sp2" in failed.json()["serviceUnavailable"]["message"]
    # Back up (once OCX's probe has found it answering: skipped until then): the whole
    # listing again.
    ocx_env.until_up("sp2")
    assert requests.get(url, headers={"X-Auth-Token": token}, timeout=10).status_code == 200
