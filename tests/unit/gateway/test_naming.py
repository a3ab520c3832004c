"""Name routing: ``name@provider`` picks the provider of a create; anything else is a name."""
from __future__ import annotations

import orjson
import pytest
from hypothesis import given, strategies as st
from multidict import CIMultiDict, CIMultiDictProxy, MultiDict, MultiDictProxy

from ocx.call import ApiRequest
from ocx.extensions.base import ExtensionError
from ocx.extensions.naming import routed, split_name

PROVIDERS = ("home", "sp1", "sp2")


def create(service: str, collection: str, body: object, **headers: str) -> ApiRequest:
    return ApiRequest("POST", service, "v3", "p1", collection, None, (),
                      MultiDictProxy(MultiDict()), CIMultiDictProxy(CIMultiDict(headers)),
                      body=orjson.dumps(body))


def test_a_known_provider_suffix_is_taken_off_and_names_the_provider():
    api = routed(create("volume", "volumes", {"volume": {"name": "data@sp2", "size": 1}}),
                 PROVIDERS)
    assert orjson.loads(api.body) == {"volume": {"name": "data", "size": 1}}
    assert api.headers["X-OCX-Provider"] == "sp2"


def test_glance_bodies_are_not_wrapped():
    api = routed(create("image", "images", {"name": "cirros@sp1", "disk_format": "raw"}),
                 PROVIDERS)
    assert orjson.loads(api.body) == {"name": "cirros", "disk_format": "raw"}
    assert api.headers["X-OCX-Provider"] == "sp1"


def test_a_server_is_found_beside_its_scheduler_hints():
    body = {"server": {"name": "vm@sp1", "flavorRef": "1"},
            "os:scheduler_hints": {"ocx:volume_provider": "sp2"}}
    api = routed(create("compute", "servers", body), PROVIDERS)
    assert orjson.loads(api.body)["server"]["name"] == "vm"
    assert api.headers["X-OCX-Provider"] == "sp1"


@pytest.mark.parametrize("name", ["backup@example.org", "data", "@sp2", "data@", "a@sp2@x"])
def test_other_names_stay_names(name):
    assert routed(create("volume", "volumes", {"volume": {"name": name}}), PROVIDERS) is None


@pytest.mark.parametrize("body", [b"not json", b"[1]", b'{"a": {"name": "x@sp1"}, "b": {"name": "y@sp2"}}', b""])
def test_bodies_without_one_name_are_left_to_the_service(body):
    api = create("network", "networks", {}).replace(body=body)
    assert routed(api, PROVIDERS) is None


def test_a_suffix_and_a_header_that_disagree_are_refused():
    api = create("volume", "volumes", {"volume": {"name": "data@sp2"}},
                 **{"X-OCX-Provider": "sp1"})
    with pytest.raises(ExtensionError) as refused:
        routed(api, PROVIDERS)
    assert refused.value.status == 400
    same = create("volume", "volumes", {"volume": {"name": "data@sp2"}},
                  **{"X-OCX-Provider": "sp2"})
    assert routed(same, PROVIDERS).headers["X-OCX-Provider"] == "sp2"


@given(st.text(min_size=1), st.sampled_from(PROVIDERS))
def test_the_base_name_is_kept_exactly(base, provider):
    assert split_name(f"{base}@{provider}", PROVIDERS) == (base, provider)
