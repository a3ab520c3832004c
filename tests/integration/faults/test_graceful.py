"""``ocx serve --workers 2`` stopped with SIGTERM, as an orchestrator stops it, then started
again.

On SIGTERM the workers close their listening socket at once (a new connection is refused),
and the calls in flight go on: slow shows finish, an image download being read finishes
whole; a call slower than ``shutdown_grace_seconds`` is cut at that bound, and the process
exits soon after it. Started again on the same store, OCX knows where everything it
acknowledged lives: each show goes to that one cloud, without a search.
"""
from __future__ import annotations

import hashlib
import os
import socket
import threading
import time

from .conftest import OcxServe
from .services import wait_until

GRACE = 5            # shutdown_grace_seconds
SLOW = 3.0           # seconds sp2's Cinder takes: calls in flight that must finish
TOO_SLOW = 25.0      # seconds home's Cinder takes: a call the grace cuts
IMAGE = 48 << 20


class InFlight(threading.Thread):
    """One call in a thread of its own; ``result`` its answer (or the exception)."""

    def __init__(self, call) -> None:
        super().__init__(daemon=True)
        self.call = call
        self.result = None
        self.ended: float | None = None

    def run(self) -> None:
        try:
            self.result = self.call()
        except Exception as exc:  # noqa: BLE001 - looked at by the test
            self.result = exc
        self.ended = time.monotonic()


def refused(url: str) -> bool:
    host, port = url.split("//", 1)[1].rsplit(":", 1)
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex((host, int(port))) != 0


def test_sigterm_drains_calls_in_flight_refuses_new_ones_and_a_restart_keeps_every_mapping(
        world):
    ocx = world.serve("graceful", "--workers", "2", shutdown_grace_seconds=GRACE,
                      call_timeout=60, listen_notifications="false")
    again = None
    try:
        again = _stop_and_start(world, ocx)
    finally:
        world.clear_faults("sp2")
        world.clear_faults("home")
        ocx.kill()
        if again is not None:
            again.terminate()
        world.to_catalog(world.ocx)   # the folder's OCX back in home's catalog


def _stop_and_start(world, ocx: OcxServe) -> OcxServe:
    alice = world.users[0]
    conn = alice.connect()
    volumes = conn.block_storage
    made = {}
    for provider in ("home", "sp1", "sp2"):
        answer = volumes.post("/volumes", json={"volume": {"size": 1,
                                                           "name": f"kept@{provider}"}})
        made[provider] = answer.json()["volume"]["id"]
    data = os.urandom(IMAGE)
    image = conn.image.post("/images", json={"name": "streamed", "disk_format": "raw",
                                             "container_format": "bare"},
                            headers={"X-OCX-Provider": "sp1"}).json()["id"]
    conn.image.put(f"/images/{image}/file", data=data,
                   headers={"Content-Type": "application/octet-stream"})
    digest = hashlib.sha256(data).hexdigest()
    del data

    world.set_faults("sp2", latency_ms=SLOW * 1000, service="cinder")
    world.set_faults("home", latency_ms=TOO_SLOW * 1000, service="cinder")
    sp2_gets = world.sim.cloud("sp2").calls[("cinder", "GET")]
    home_gets = world.sim.cloud("home").calls[("cinder", "GET")]
    shows = [InFlight(lambda: alice.connect().block_storage.get(
        f"/volumes/{made['sp2']}", raise_exc=False).status_code) for _ in range(4)]
    cut = InFlight(lambda: alice.connect().block_storage.get(f"/volumes/{made['home']}",
                                                             raise_exc=False).status_code)
    first_chunk = threading.Event()

    def download() -> str:
        response = conn.image.get(f"/images/{image}/file", stream=True)
        sha = hashlib.sha256()
        for chunk in response.iter_content(1 << 20):
            first_chunk.set()
            sha.update(chunk)
            time.sleep(0.05)   # a slow reader: the stream lasts about 2.5 s
        return sha.hexdigest()

    reading = InFlight(download)
    for call in (*shows, cut, reading):
        call.start()
    # Every call has reached its cloud (the simulated clouds count them as they arrive).
    wait_until(lambda: world.sim.cloud("sp2").calls[("cinder", "GET")] >= sp2_gets + 4 and
               world.sim.cloud("home").calls[("cinder", "GET")] >= home_gets + 1 and
               first_chunk.is_set(), "the calls to be in flight", 30)

    stopped = time.monotonic()
    ocx.proc.send_signal(15)
    wait_until(lambda: refused(ocx.url), "new connections to be refused", SLOW / 2)
    assert all(call.is_alive() for call in shows), "the slow calls were still in flight"

    for call in (*shows, reading, cut):
        call.join(GRACE + 30)
    assert [call.result for call in shows] == [200] * 4
    assert reading.result == digest, f"the download did not finish whole: {reading.result!r}"
    assert isinstance(cut.result, Exception) and cut.ended - stopped < GRACE + 5, \
        (cut.result, cut.ended - stopped)
    assert ocx.proc.wait(GRACE + 15) == 0
    exited = time.monotonic() - stopped
    assert exited < GRACE + 10, f"exited {exited:.1f} s after SIGTERM"

    world.clear_faults("sp2")
    world.clear_faults("home")
    # Started again, it knows where everything lives.
    again = world.serve_again(ocx)
    found, _ = world.stored([("volumes", v) for v in made.values()] + [("images", image)])
    assert {key[1]: m.provider for key, m in found.items() if m} == {
        **{v: p for p, v in made.items()}, image: "sp1"}
    before = {c: dict(world.sim.cloud(c).calls) for c in ("home", "sp1", "sp2")}
    assert alice.connect().block_storage.get(f"/volumes/{made['sp2']}").json()[
        "volume"]["id"] == made["sp2"]
    asked = {c: world.sim.cloud(c).calls[("cinder", "GET")] - before[c].get(("cinder", "GET"), 0)
             for c in ("home", "sp1", "sp2")}
    assert asked == {"home": 0, "sp1": 0, "sp2": 1}, asked
    return again
