"""Reading and rewriting a server create that asks OCX to make its volumes first."""
from __future__ import annotations

import pytest

from ocx.extensions.newvolumes import PARAMETER, BodyError, NewVolume, new_volumes, rewritten

PROVIDERS = ("home", "sp1", "sp2", "sp3")
IMAGE = "5f1c7e0e-0a6b-4c1e-9d53-54b8d6f0b2a1"
SNAPSHOT = "0b1ea0c4-1c0e-4a34-a3b4-8d3c2a8f9e10"
VOLUME = "6a5b7f2d-9b1c-4e0a-8f6e-0c6d1e2f3a4b"


def body(*mappings: dict, **top) -> dict:
    return {"server": {"name": "vm", "flavorRef": "42", "networks": "none",
                       "block_device_mapping_v2": list(mappings)}, **top}


def from_image(**extra) -> dict:
    return {"boot_index": 0, "source_type": "image", "uuid": IMAGE,
            "destination_type": "volume", "volume_size": 2, **extra}


def test_a_create_without_the_parameter_asks_nothing():
    assert new_volumes(body(from_image()), PROVIDERS) == []
    assert new_volumes({"server": {"name": "vm"}}, PROVIDERS) == []
    assert new_volumes(None, PROVIDERS) == []


def test_the_top_level_parameter_applies_to_every_mapping_nova_would_make_a_volume_for():
    wanted = new_volumes(body(
        from_image(volume_type="fast"),
        {"source_type": "blank", "destination_type": "volume", "volume_size": "1"},
        {"source_type": "snapshot", "uuid": SNAPSHOT, "destination_type": "volume"},
        {"source_type": "volume", "uuid": VOLUME, "destination_type": "volume"},  # attached
        {"source_type": "blank", "destination_type": "local", "volume_size": 1},  # ephemeral
        **{PARAMETER: "sp2"}), PROVIDERS)
    assert wanted == [NewVolume(0, "sp2", "image", IMAGE, 2, "fast"),
                      NewVolume(1, "sp2", "blank", None, 1),
                      NewVolume(2, "sp2", "snapshot", SNAPSHOT, None)]


@pytest.mark.parametrize("hints", ["os:scheduler_hints", "OS-SCH-HNT:scheduler_hints"])
@pytest.mark.parametrize("value", ["sp2", ["sp2"]])
def test_a_client_that_sends_only_hints_names_the_provider_with_one(hints, value):
    request = body(from_image(), **{hints: {PARAMETER: value, "group": "g"}})
    assert [v.provider for v in new_volumes(request, PROVIDERS)] == ["sp2"]
    out = rewritten(request, {0: "new-volume"})
    assert out[hints] == {"group": "g"}
    assert rewritten(body(from_image(), **{hints: {PARAMETER: value}}), {0: "v"}).keys() \
        == {"server"}


def test_a_mapping_of_its_own_names_its_provider_and_may_clone_a_volume():
    wanted = new_volumes(body(
        from_image(**{PARAMETER: "sp3"}),
        {"source_type": "volume", "uuid": VOLUME, "destination_type": "volume",
         PARAMETER: "sp1"},
        {"source_type": "blank", "destination_type": "volume", "volume_size": 1},
        **{PARAMETER: "sp2"}), PROVIDERS)
    assert [(v.index, v.provider, v.source_type) for v in wanted] == [
        (0, "sp3", "image"), (1, "sp1", "volume"), (2, "sp2", "blank")]


def test_what_cinder_is_asked_is_what_nova_would_ask():
    assert NewVolume(0, "sp2", "image", IMAGE, 2, "fast").create_body() == {
        "volume": {"name": "", "description": "", "size": 2, "imageRef": IMAGE,
                   "volume_type": "fast"}}
    assert NewVolume(1, "sp2", "snapshot", SNAPSHOT, None).create_body() == {
        "volume": {"name": "", "description": "", "snapshot_id": SNAPSHOT}}
    assert NewVolume(2, "sp2", "volume", VOLUME, 3).create_body() == {
        "volume": {"name": "", "description": "", "size": 3, "source_volid": VOLUME}}
    assert NewVolume(3, "sp2", "blank", None, 1).create_body() == {
        "volume": {"name": "", "description": "", "size": 1}}


@pytest.mark.parametrize(("request_body", "words"), [
    (body(from_image(), **{PARAMETER: "sp9"}), "'sp9'"),
    (body(from_image(), **{PARAMETER: ""}), "must name a provider"),
    (body(from_image(), **{PARAMETER: ["sp2"]}), "must name a provider"),
    (body(from_image(**{PARAMETER: "nowhere"})), "'nowhere'"),
    (body({"source_type": "image", "uuid": IMAGE, "boot_index": 0, PARAMETER: "sp2"}),
     "destination_type 'volume'"),
    (body({"source_type": "volume", "uuid": VOLUME}, **{PARAMETER: "sp2"}),
     "no block device mapping makes one"),
    (body(**{PARAMETER: "sp2"}), "no block device mapping makes one"),
    (body(from_image(), **{PARAMETER: "sp2", "os:scheduler_hints": {PARAMETER: "sp3"}}),
     "more than one provider"),
    (body(from_image(), **{"os:scheduler_hints": {PARAMETER: ["sp2", "sp3"]}}),
     "must name a provider"),
    (body(from_image(volume_size=None), **{PARAMETER: "sp2"}), "non-zero size"),
    (body(from_image(volume_size="0"), **{PARAMETER: "sp2"}), "positive integer"),
    (body(from_image(uuid=""), **{PARAMETER: "sp2"}), "Missing device UUID"),
    (body({"source_type": "blank", "uuid": IMAGE, "destination_type": "volume",
           "volume_size": 1}, **{PARAMETER: "sp2"}), "Invalid device UUID"),
    (body({"source_type": "blank", "destination_type": "volume"}, **{PARAMETER: "sp2"}),
     "Blank volumes"),
])
def test_what_cannot_be_served_is_refused_before_anything_is_made(request_body, words):
    with pytest.raises(BodyError) as refused:
        new_volumes(request_body, PROVIDERS)
    assert words in refused.value.message


def test_nova_gets_the_new_volumes_and_nothing_of_the_parameter():
    original = body(
        from_image(volume_type="fast", delete_on_termination=True, **{PARAMETER: "sp3"}),
        {"source_type": "volume", "uuid": VOLUME, "destination_type": "volume",
         "boot_index": 1},
        **{PARAMETER: "sp2", "os:scheduler_hints": {"group": "g"}})
    out = rewritten(original, {0: "new-volume"})
    assert out == {"server": {"name": "vm", "flavorRef": "42", "networks": "none",
                              "block_device_mapping_v2": [
                                  {"boot_index": 0, "source_type": "volume",
                                   "uuid": "new-volume", "destination_type": "volume",
                                   "delete_on_termination": True},
                                  {"source_type": "volume", "uuid": VOLUME,
                                   "destination_type": "volume", "boot_index": 1}]},
                   "os:scheduler_hints": {"group": "g"}}
    # The caller's body is left as it was.
    assert original["server"]["block_device_mapping_v2"][0]["uuid"] == IMAGE
    assert original[PARAMETER] == "sp2"
