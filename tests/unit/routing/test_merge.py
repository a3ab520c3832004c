"""One listing over many clouds: sort orders, the merged page, and the marker OCX hands out."""
from __future__ import annotations

import base64
import hashlib
import hmac

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ocx.routing.merge import (
    MARKER_PREFIX,
    NOVA_SERVER_FIELDS,
    Batch,
    Cursor,
    InvalidMarker,
    SortError,
    SortSpec,
    cinder_sort,
    decode_marker,
    encode_marker,
    glance_sort,
    merge_page,
    neutron_sort,
    nova_sort,
)
from ocx.sim import cinder as cinder_sim
from ocx.sim import glance as glance_sim
from ocx.sim import nova as nova_sim
from ocx.sim.paging import page, sort_items

KEY = b"k" * 32


# -- sort specifications, as each service builds its order ----------------------------------

def test_nova_sorts_newest_first_by_default_and_pairs_directions_in_order():
    assert nova_sort([]).keys == (("created", "desc"), ("id", "desc"))
    spec = nova_sort([("sort_key", "display_name"), ("sort_key", "progress"),
                      ("sort_dir", "asc")])
    # the missing direction is the first one given; so are the tie-breakers'
    assert spec.keys == (("name", "asc"), ("progress", "asc"), ("created", "asc"),
                         ("id", "asc"))


def test_nova_drops_ignored_keys_and_refuses_more_directions_than_keys():
    assert nova_sort([("sort_key", "vcpus")], ignored=["vcpus"]).keys[0] == ("created", "desc")
    with pytest.raises(SortError):
        nova_sort([("sort_key", "display_name"), ("sort_dir", "asc"), ("sort_dir", "desc")])
    with pytest.raises(SortError):
        nova_sort([("sort_dir", "up")])


def test_cinder_sort_parameter_and_legacy_form():
    assert cinder_sort([]).keys == (("created_at", "desc"), ("id", "desc"))
    assert cinder_sort([("sort", "size:asc,name")]).keys == (
        ("size", "asc"), ("name", "desc"), ("created_at", "asc"), ("id", "asc"))
    assert cinder_sort([("sort_key", "status"), ("sort_dir", "asc")]).keys == (
        ("status", "asc"), ("created_at", "asc"), ("id", "asc"))
    with pytest.raises(SortError):
        cinder_sort([("sort", "name"), ("sort_key", "size")])


def test_glance_applies_one_direction_to_every_key():
    assert glance_sort([]).keys == (("created_at", "desc"), ("id", "desc"))
    assert glance_sort([("sort_key", "name"), ("sort_key", "size"), ("sort_dir", "asc")]).keys == (
        ("name", "asc"), ("size", "asc"), ("created_at", "asc"), ("id", "asc"))
    assert glance_sort([("sort", "name:asc,size")]).keys == (
        ("name", "asc"), ("size", "desc"), ("created_at", "desc"), ("id", "desc"))
    with pytest.raises(SortError):
        glance_sort([("sort", "name"), ("sort_dir", "asc")])


def test_neutron_pairs_keys_and_directions_and_breaks_ties_by_id_ascending():
    assert neutron_sort([]).keys == (("id", "asc"),)
    assert neutron_sort([("sort_key", "name"), ("sort_dir", "desc")]).keys == (
        ("name", "desc"), ("id", "asc"))
    with pytest.raises(SortError):
        neutron_sort([("sort_key", "name")])


def distinct(keys):
    seen: dict[str, str] = {}
    for key, direction in keys:
        seen.setdefault(key, direction)
    return list(seen.items())


@settings(max_examples=200, deadline=None)
@given(keys=st.lists(st.sampled_from(["display_name", "created_at", "progress", "uuid"]),
                     max_size=3),
       dirs=st.lists(st.sampled_from(["asc", "desc"]), max_size=3))
def test_nova_builds_the_order_the_simulated_nova_does(keys, dirs):
    if len(dirs) > max(len(keys), 1):
        return
    theirs = nova_sim._server_sort({"sort_key": keys, "sort_dir": dirs} if keys or dirs else {},
                                   nova_sim.v("2.1"), is_admin=False)
    ours = nova_sort([("sort_key", k) for k in keys] + [("sort_dir", d) for d in dirs])
    # The row id (seq), which no API shows, is stood for by the server's id; a key repeated
    # after its first use changes no order.
    assert distinct(ours.keys) == distinct(
        (NOVA_SERVER_FIELDS.get(k, "id" if k == "seq" else k), d) for k, d in theirs)


@settings(max_examples=200, deadline=None)
@given(keys=st.lists(st.sampled_from(["name", "size", "status", "created_at", "id"]),
                     min_size=1, max_size=3),
       dirs=st.lists(st.sampled_from(["asc", "desc", ""]), min_size=3, max_size=3),
       legacy=st.booleans())
def test_cinder_and_glance_build_the_order_their_simulations_do(keys, dirs, legacy):
    sort = ",".join(f"{k}:{d}" if d else k for k, d in zip(keys, dirs))
    pairs = [("sort", sort)]
    if legacy:
        pairs = [("sort_key", keys[0])] + ([("sort_dir", dirs[0])] if dirs[0] else [])
    keys_c, dirs_c = cinder_sim.sort_params(dict(pairs))
    assert cinder_sort(pairs).keys == tuple(cinder_sim.full_sort(keys_c, dirs_c))
    assert glance_sort(pairs).keys == tuple(glance_sim.full_sort(*glance_sim._sorting(pairs)))


def test_none_sorts_first_ascending_and_numbers_before_text():
    items = [{"id": "a", "size": "x"}, {"id": "b", "size": 2}, {"id": "c", "size": None}]
    spec = neutron_sort([("sort_key", "size"), ("sort_dir", "asc")])
    assert [i["id"] for i in sorted(items, key=spec.key)] == ["c", "b", "a"]


# -- merging pages --------------------------------------------------------------------------

def full(pages: dict[str, list[dict]], limit: int) -> dict[str, Batch]:
    """Each provider's answer to "``limit`` items, please": a full page may have more."""
    return {name: Batch(items, more=len(items) == limit) for name, items in pages.items()}


def test_a_page_takes_the_first_items_and_resumes_each_cloud_after_its_last_used_item():
    spec = neutron_sort([("sort_key", "name"), ("sort_dir", "asc")])
    pages = {"bu": [{"id": "1", "name": "a"}, {"id": "2", "name": "d"}],
             "nu": [{"id": "3", "name": "b"}, {"id": "4", "name": "c"}]}
    first = merge_page(full(pages, 2), spec, limit=2)
    assert first.entries == [("bu", pages["bu"][0]), ("nu", pages["nu"][0])]
    assert first.next == Cursor({"bu": "1", "nu": "3"})
    assert first.next.requests(["bu", "nu"]) == {"bu": "1", "nu": "3"}


def test_a_cloud_with_nothing_more_is_not_asked_again_and_the_last_page_has_no_next():
    spec = neutron_sort([])
    page1 = merge_page(full({"bu": [{"id": "a"}], "nu": [{"id": "b"}, {"id": "c"}]}, 2), spec,
                       limit=2)
    assert page1.next == Cursor({"bu": "a", "nu": "b"}, frozenset({"bu"}))
    assert page1.next.requests(["bu", "nu"]) == {"nu": "b"}
    page2 = merge_page(full({"nu": [{"id": "c"}]}, 2), spec, limit=2, cursor=page1.next)
    assert page2.items == [{"id": "c"}] and page2.next is None


def test_a_cloud_that_did_not_answer_keeps_its_place():
    cursor = Cursor({"bu": "x", "nu": "y"})
    result = merge_page(full({"bu": [{"id": "z"}]}, 1), neutron_sort([]), 1, cursor)
    assert result.next == Cursor({"bu": "z", "nu": "y"})


def test_the_page_ends_where_a_cloud_with_more_runs_out_of_given_items():
    # "bu" has more after "b", unknown yet: "c" of "nu" may not come before them.
    spec = neutron_sort([])
    result = merge_page({"bu": Batch([{"id": "a"}, {"id": "b"}], more=True),
                         "nu": Batch([{"id": "c"}], more=False)}, spec, limit=5)
    assert result.items == [{"id": "a"}, {"id": "b"}]
    assert result.next == Cursor({"bu": "b"})


def test_the_same_flavor_in_every_cloud_is_shown_once_even_across_pages():
    spec = neutron_sort([])
    tiny = {"id": "1", "name": "m1.tiny", "ram": 512}
    other = {"id": "1", "name": "m1.tiny", "ram": 1024}  # same id, another flavor: both shown
    clouds = {"home": [dict(tiny, links=["h"])], "sp1": [dict(tiny, links=["s"])],
              "sp2": [other]}
    first = merge_page(full({"home": clouds["home"]}, 1), spec, 1, fold=True)
    assert first.items == clouds["home"]
    cursor = decode_marker(encode_marker(first.next, KEY), KEY)
    rest = merge_page(full({"sp1": clouds["sp1"], "sp2": clouds["sp2"]}, 2), spec, 2, cursor,
                      fold=True)
    assert rest.items == [other] and rest.next is None


# -- the marker ---------------------------------------------------------------------------

def test_a_marker_round_trips_and_is_url_safe():
    cursor = Cursor({"bu": "6f1c-42", "nu": "name with spaces/é"}, frozenset({"idp"}))
    marker = encode_marker(cursor, KEY)
    assert marker.startswith(MARKER_PREFIX)
    assert set(marker) <= set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")
    assert decode_marker(marker, KEY) == cursor


def test_a_provider_resource_id_is_not_an_ocx_marker():
    assert decode_marker("0d5c4f2a-7d0e-4a51-9b5e-1f6f0c1a2b3c", KEY) is None


def _flip(text: str, at: int) -> str:
    return text[:at] + ("A" if text[at] != "A" else "B") + text[at + 1:]


@pytest.mark.parametrize("forge", [
    lambda m: _flip(m, len(MARKER_PREFIX) + 3),                   # payload altered
    lambda m: _flip(m, len(m) - 2),                               # signature altered
    lambda m: m.rpartition(".")[0],                               # signature cut off
    lambda m: m + "x",
    lambda m: m[:-1] + "é",                                       # not ASCII
    lambda m: encode_marker(Cursor({"bu": "a"}), b"another key"),  # signed by someone else
    lambda m: MARKER_PREFIX,
    lambda m: MARKER_PREFIX + "." + m.rpartition(".")[2],
    lambda m: m + "A" * 20000,
])
def test_a_forged_or_damaged_marker_is_refused(forge):
    marker = encode_marker(Cursor({"bu": "a"}, frozenset({"nu"})), KEY)
    with pytest.raises(InvalidMarker) as info:
        decode_marker(forge(marker), KEY)
    assert "k" * 8 not in str(info.value)  # never the key


@pytest.mark.parametrize("payload", [b"[]", b'{"a": {"bu": 1}, "d": []}', b'{"a": {}}',
                                     b"not json"])
def test_a_well_signed_marker_that_holds_no_cursor_is_refused(payload):
    body = MARKER_PREFIX + base64.urlsafe_b64encode(payload).rstrip(b"=").decode()
    sig = hmac.new(KEY, body.encode(), hashlib.sha256).digest()[:16]
    marker = body + "." + base64.urlsafe_b64encode(sig).rstrip(b"=").decode()
    with pytest.raises(InvalidMarker):
        decode_marker(marker, KEY)


# -- walking every page over random clouds ------------------------------------------------

# Sort keys each service accepts (as the client names them) and the item field each sorts on.
SERVICES = {
    "nova": (nova_sort, ["display_name", "created_at", "progress", "key_name", "uuid"]),
    "cinder": (cinder_sort, ["name", "size", "status", "created_at", "id"]),
    "glance": (glance_sort, ["name", "size", "status", "created_at", "id"]),
    "neutron": (neutron_sort, ["name", "size", "status", "id"]),
}
TIMES = ["2024-01-01T00:00:00Z", "2024-01-02T00:00:00Z", None]


@st.composite
def queries(draw):
    """A service and a valid sort query in its own syntax (ties and None values likely)."""
    service = draw(st.sampled_from(sorted(SERVICES)))
    parse, allowed = SERVICES[service]
    keys = draw(st.lists(st.sampled_from(allowed), max_size=3, unique=True))
    dirs = [draw(st.sampled_from(["asc", "desc"])) for _ in keys]
    new_syntax = service == "cinder" or service == "glance" and draw(st.booleans())
    if new_syntax and keys:
        pairs = [("sort", ",".join(f"{k}:{d}" for k, d in zip(keys, dirs)))]
    elif service == "cinder":  # the legacy form takes one key
        pairs = [("sort_key", k) for k in keys[:1]] + [("sort_dir", d) for d in dirs[:1]]
    else:
        pairs = [("sort_key", k) for k in keys] + [("sort_dir", d) for d in dirs]
    return parse(pairs)


@st.composite
def clouds(draw):
    """1-5 clouds, each with its share of resources whose fields have many ties."""
    n = draw(st.integers(1, 5))
    ids = draw(st.lists(st.text("0123456789abcdef", min_size=1, max_size=4), unique=True,
                        max_size=40))
    result: dict[str, list[dict]] = {f"cloud{i}": [] for i in range(n)}
    for rid in ids:
        created = draw(st.sampled_from(TIMES))
        item = {"id": rid, "name": draw(st.sampled_from([None, "a", "b", ""])),
                "size": draw(st.sampled_from([None, 1, 2, 10, "x"])),
                "status": draw(st.sampled_from(["available", "error"])),
                "progress": draw(st.sampled_from([None, 0, 100])),
                "key_name": draw(st.sampled_from([None, "k"])),
                "created_at": created, "created": created}
        result[f"cloud{draw(st.integers(0, n - 1))}"].append(item)
    return result


@settings(max_examples=300, deadline=None)
@given(spec=queries(), held=clouds(), limit=st.integers(1, 12))
def test_walking_next_markers_yields_exactly_the_sorted_union(spec: SortSpec, held, limit):
    ordered = {name: sort_items(items, spec.keys) for name, items in held.items()}
    home = {item["id"]: name for name, items in held.items() for item in items}
    walked: list[dict] = []

    def provider(name: str, marker: str | None) -> list[dict]:
        # Resumed right after what this cloud already gave: no earlier item is read again.
        mine = [i["id"] for i in walked if home[i["id"]] == name]
        assert marker == (mine[-1] if mine else None)
        return page(ordered[name], limit, marker)[0]  # asked for the page size, never more

    pages, cursor = 0, Cursor()
    while True:
        answers = {name: provider(name, marker) for name, marker in cursor.requests(held).items()}
        result = merge_page(full(answers, limit), spec, limit, cursor)
        walked += result.items
        pages += 1
        assert pages <= sum(map(len, held.values())) + 1, "the walk does not end"
        if result.next is None:
            break
        assert len(result.items) == limit  # only the last page is short
        cursor = decode_marker(encode_marker(result.next, KEY), KEY)

    union = sort_items([i for items in held.values() for i in items], spec.keys)
    assert [i["id"] for i in walked] == [i["id"] for i in union]
