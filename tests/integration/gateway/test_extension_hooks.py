"""Extensions join a call at the stages they name (seed 000, primitive 3)."""
from __future__ import annotations

import orjson
import requests
from multidict import CIMultiDict

from ocx.api.response import Shaped
from ocx.extensions.base import Extension

EXTENSIONS = {"quota-answer": f"{__name__}:QuotaAnswer", "tagger": f"{__name__}:Tagger"}


class QuotaAnswer(Extension):
    """Answers ``GET /compute/os-quota-sets/{project}`` itself: no provider is called."""

    name = "quota-answer"
    methods = frozenset({"GET"})
    paths = ("/compute/os-quota-sets/{project}",)

    async def on_request(self, call, params):
        body = {"quota_set": {"id": params["project"], "instances": 7}}
        call.response = Shaped(200, CIMultiDict({"Content-Type": "application/json"}),
                               orjson.dumps(body))


class Tagger(Extension):
    """Marks every volume answer, after shaping, with where it came from."""

    name = "tagger"
    methods = frozenset({"GET"})
    paths = ("/volume/volumes/{volume_id}",)

    async def on_response(self, call, params):
        call.response.headers["X-Answered-From"] = call.response.provider


def test_an_extension_answers_a_call_itself(ocx_env):
    conn = ocx_env.connect("ocx")
    ocx_env.reset_calls()
    resp = requests.get(f"{ocx_env.url}/compute/v2.1/os-quota-sets/p1",
                        headers={"X-Auth-Token": conn.session.get_token()}, timeout=10)
    assert resp.json() == {"quota_set": {"id": "p1", "instances": 7}}
    assert all("nova" not in ocx_env.calls(c) for c in ("home", "sp1", "sp2"))


def test_an_extension_reshapes_an_answer(ocx_env):
    sp2 = ocx_env.connect("sp2")
    volume = sp2.block_storage.create_volume(size=1, name="tagged")
    conn = ocx_env.connect("ocx")
    resp = requests.get(f"{ocx_env.url}/volume/v3/{conn.current_project_id}/volumes/{volume.id}",
                        headers={"X-Auth-Token": conn.session.get_token()}, timeout=10)
    assert resp.status_code == 200
    assert resp.headers["X-Answered-From"] == "sp2"
