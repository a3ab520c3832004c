"""The volume-create-on-boot extension against clouds faked in memory: what it makes, what it
tells Nova, and what it deletes again (or names, when a cloud will not delete it)."""
from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

import orjson
import pytest
from multidict import CIMultiDict, CIMultiDictProxy, MultiDict, MultiDictProxy

from ocx.backends.base import Credentials, ProviderResponse
from ocx.call import ApiRequest
from ocx.extensions.base import Call, ExtensionError
from ocx.extensions.bootvolume import BootVolume, refusal_status
from ocx.learn.peers import PeerRefused
from ocx.routing.plan import Kind, Plan

PROVIDERS = ("home", "sp1", "sp2")


class FakeCinders:
    """Each provider's Cinder: volumes made at once, a gigabytes quota, deletes that may fail."""

    def __init__(self, quota: int = 100, refuse_delete: bool = False,
                 made_as: str = "available") -> None:
        self.volumes: dict[str, dict[str, dict]] = {p: {} for p in PROVIDERS}
        self.quota = quota
        self.refuse_delete = refuse_delete
        self.made_as = made_as     # the state a new volume ends in
        self.count = 0

    async def send(self, provider, request: ApiRequest, credentials, body=None, method=None):
        assert credentials.token == f"token-at-{provider}"
        volumes = self.volumes[provider]
        if request.method == "POST":
            spec = orjson.loads(body)["volume"]
            if sum(v["size"] for v in volumes.values()) + spec["size"] > self.quota:
                return self._answer(provider, 413, {"overLimit": {
                    "code": 413, "message": "VolumeSizeExceedsAvailableQuota: Requested "
                                            "volume or snapshot exceeds allowed gigabytes "
                                            "quota."}})
            self.count += 1
            volume = {"id": f"vol-{self.count}", "size": spec["size"], "status": self.made_as}
            volumes[volume["id"]] = volume
            return self._answer(provider, 202, {"volume": volume})
        volume = volumes.get(request.resource_id)
        if volume is None:
            return self._answer(provider, 404, {"itemNotFound": {
                "code": 404, "message": "Volume could not be found."}})
        if request.method == "DELETE":
            if self.refuse_delete:
                return self._answer(provider, 400, {"badRequest": {
                    "code": 400, "message": "Invalid volume: Volume status must be available."}})
            del volumes[volume["id"]]
            return self._answer(provider, 202, None)
        return self._answer(provider, 200, {"volume": volume})

    @staticmethod
    def _answer(provider: str, status: int, doc) -> ProviderResponse:
        return ProviderResponse(provider, status, CIMultiDict(), "", None,
                                body=orjson.dumps(doc) if doc is not None else b"")


class FakeMapper:
    async def credentials(self, caller, provider):
        return Credentials(f"token-at-{provider}", f"project-at-{provider}", (),
                           dt.datetime.now(dt.UTC) + dt.timedelta(hours=1))


class FakeStore:
    def __init__(self) -> None:
        self.mappings = []

    async def put_resource_mappings(self, mappings):
        self.mappings.extend(mappings)


class RefusingPeer:
    """sp1's OCX, which refuses every injection."""

    def __init__(self) -> None:
        self.offered = []

    def fronting(self, provider):
        return SimpleNamespace(name="sp1-ocx") if provider == "sp1" else None

    async def inject(self, peer, tokens, resources):
        self.offered.append([r.resource_id for r in resources])
        raise PeerRefused(peer.name, 403, "the peer does not accept provider sp2")


def extension(cinders: FakeCinders, store: FakeStore | None = None, peers=None) -> BootVolume:
    peers = peers or SimpleNamespace(fronting=lambda provider: None)
    return BootVolume(FakeMapper(), peers, cinders, store or FakeStore(), PROVIDERS)


def boot_call(*mappings: dict, provider: str = "sp2") -> Call:
    body = {"server": {"name": "vm", "flavorRef": "42", "networks": "none",
                       "block_device_mapping_v2": list(mappings)},
            "ocx:volume_provider": provider}
    request = ApiRequest("POST", "compute", "v2.1", "p", "servers", None, (),
                         MultiDictProxy(MultiDict()), CIMultiDictProxy(CIMultiDict()),
                         body=orjson.dumps(body))

    async def nowhere(service, collection, resource_id):
        return None

    return Call(request, SimpleNamespace(project_id="p"), plan=Plan(Kind.SINGLE, ("sp1",)),
                locate=nowhere)


def blank(size: int, boot_index: int | None = None) -> dict:
    return {"source_type": "blank", "destination_type": "volume", "volume_size": size,
            "boot_index": boot_index}


async def test_the_volumes_are_made_and_nova_is_asked_to_boot_from_them():
    cinders, store = FakeCinders(), FakeStore()
    call = boot_call(blank(1, 0), blank(2))
    await extension(cinders, store).on_plan(call, {})
    sent = orjson.loads(call.request.body)
    assert "ocx:volume_provider" not in sent
    assert [(m["source_type"], m["uuid"]) for m in sent["server"]["block_device_mapping_v2"]] \
        == [("volume", "vol-1"), ("volume", "vol-2")]
    assert sorted(cinders.volumes["sp2"]) == ["vol-1", "vol-2"]
    assert {(m.resource_id, m.provider) for m in store.mappings} == {("vol-1", "sp2"),
                                                                     ("vol-2", "sp2")}


async def test_a_refusal_half_way_deletes_what_was_made_and_says_why():
    cinders = FakeCinders(quota=1)
    call = boot_call(blank(1, 0), blank(1))
    with pytest.raises(ExtensionError) as refused:
        await extension(cinders).on_plan(call, {})
    assert refused.value.status == 413
    assert "sp2 did not make the volume of block device mapping 1" in refused.value.message
    assert cinders.volumes["sp2"] == {}


async def test_a_volume_that_cannot_be_deleted_is_named_in_the_answer(caplog):
    cinders = FakeCinders(quota=1, refuse_delete=True)
    with pytest.raises(ExtensionError) as refused:
        await extension(cinders).on_plan(boot_call(blank(1, 0), blank(1)), {})
    assert refused.value.status == 413
    assert "could not delete what it made for the boot: volume vol-1 in sp2" \
        in refused.value.message
    assert "vol-1" in caplog.text


async def test_the_peer_refusing_the_injection_deletes_the_volumes():
    cinders, peers = FakeCinders(), RefusingPeer()
    with pytest.raises(ExtensionError) as refused:
        await extension(cinders, peers=peers).on_plan(boot_call(blank(1, 0)), {})
    assert refused.value.status == 502
    assert "does not accept provider sp2" in refused.value.message
    assert peers.offered == [["vol-1"]]
    assert cinders.volumes["sp2"] == {}


async def test_a_volume_that_goes_to_error_is_deleted_with_the_others():
    cinders = FakeCinders(made_as="error")
    with pytest.raises(ExtensionError) as refused:
        await extension(cinders).on_plan(boot_call(blank(1, 0), blank(1)), {})
    assert refused.value.status == 502
    assert "is error, not available" in refused.value.message
    assert cinders.volumes["sp2"] == {}


async def test_a_volume_still_creating_when_the_wait_ends_is_named_in_the_answer():
    cinders = FakeCinders(made_as="creating")
    ext = extension(cinders)
    ext.wait = 0.2
    with pytest.raises(ExtensionError) as refused:
        await ext.on_plan(boot_call(blank(1, 0)), {})
    assert refused.value.status == 504
    assert "still creating" in refused.value.message
    # Cinder deletes a volume only once it is made: this one is named, not forgotten.
    assert "could not delete what it made for the boot: volume vol-1 in sp2" \
        in refused.value.message


async def test_nova_refusing_the_boot_deletes_the_volumes():
    cinders = FakeCinders()
    ext = extension(cinders)
    call = boot_call(blank(1, 0))
    await ext.on_plan(call, {})
    call.response = SimpleNamespace(status=400, body=orjson.dumps(
        {"badRequest": {"code": 400, "message": "Invalid flavorRef provided."}}))
    await ext.on_response(call, {})   # Nova's own answer goes to the caller
    assert cinders.volumes["sp2"] == {}


async def test_nova_refusing_with_a_volume_left_behind_names_it():
    cinders = FakeCinders()
    ext = extension(cinders)
    call = boot_call(blank(1, 0))
    await ext.on_plan(call, {})
    cinders.refuse_delete = True
    call.response = SimpleNamespace(status=400, body=orjson.dumps(
        {"badRequest": {"code": 400, "message": "Invalid flavorRef provided."}}))
    with pytest.raises(ExtensionError) as refused:
        await ext.on_response(call, {})
    assert refused.value.status == 400
    assert refused.value.message.startswith("Invalid flavorRef provided. OCX could not delete")
    assert "volume vol-1 in sp2" in refused.value.message


async def test_a_source_that_is_nowhere_is_refused_before_anything_is_made():
    cinders = FakeCinders()
    call = boot_call({"source_type": "image", "uuid": "img", "destination_type": "volume",
                      "volume_size": 1, "boot_index": 0})
    with pytest.raises(ExtensionError) as refused:
        await extension(cinders).on_plan(call, {})
    assert (refused.value.status, refused.value.message) == (400, "Image img could not be found.")
    assert cinders.count == 0


def test_a_clouds_refusal_is_given_as_nova_would_give_it():
    assert [refusal_status(s) for s in (400, 403, 404, 409, 413, 500, 503)] == \
        [400, 403, 400, 409, 413, 502, 502]
