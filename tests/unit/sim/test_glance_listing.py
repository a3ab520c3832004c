"""How Glance reads a listing's query, who sees which image, and how it pages."""
from __future__ import annotations

import datetime as dt

import pytest

from ocx.sim.glance import (
    LIMIT_DEFAULT,
    LIMIT_MAX,
    Caller,
    Image,
    Member,
    WebobError,
    can_see,
    comes_after,
    full_sort,
    image_filters,
    in_listing,
    list_links,
    parse_list_query,
    sort_images,
    split_filter_op,
    split_in_values,
)

T0 = dt.datetime(2026, 1, 1, 12, 0, 0, tzinfo=dt.timezone.utc)
DEMO = Caller("demo", "u-demo", frozenset({"member", "reader"}))
OTHER = Caller("other", "u-other", frozenset({"member", "reader"}))
ADMIN = Caller("admin", "u-admin", frozenset({"admin", "member", "reader"}))


def image(id="i", owner="demo", visibility="private", minutes=0, **kw) -> Image:
    when = T0 + dt.timedelta(minutes=minutes)
    return Image(id=id, owner=owner, created_at=when, updated_at=when, visibility=visibility,
                 **kw)


def query(text: str = ""):
    pairs = [tuple(p.split("=", 1)) for p in text.split("&") if p]
    return parse_list_query(pairs)


def listed(caller, img, membership=None, text=""):
    q = query(text)
    return in_listing(caller, img, membership, q.visibility, q.member_status) and all(
        p(img) for p in image_filters(q))


# -- query parsing ---------------------------------------------------------------------------

def test_defaults_are_25_newest_first_with_created_at_and_id():
    q = query()
    assert q.limit == LIMIT_DEFAULT
    assert q.sort == [("created_at", "desc"), ("id", "desc")]
    assert q.member_status == "accepted" and q.os_hidden is False


def test_limit_is_capped_and_checked():
    assert query("limit=5000").limit == LIMIT_MAX
    with pytest.raises(WebobError, match="limit param must be an integer"):
        query("limit=two")
    with pytest.raises(WebobError, match="limit param must be positive"):
        query("limit=-1")


@pytest.mark.parametrize("text, sort", [
    ("sort_key=name", [("name", "desc"), ("created_at", "desc"), ("id", "desc")]),
    ("sort_key=name&sort_dir=asc", [("name", "asc"), ("created_at", "asc"), ("id", "asc")]),
    ("sort_key=name&sort_key=size&sort_dir=asc",
     [("name", "asc"), ("size", "asc"), ("created_at", "asc"), ("id", "asc")]),
    ("sort_key=name&sort_key=size&sort_dir=asc&sort_dir=desc",
     [("name", "asc"), ("size", "desc"), ("created_at", "desc"), ("id", "desc")]),
    ("sort=name:asc,size", [("name", "asc"), ("size", "desc"), ("created_at", "desc"),
                            ("id", "desc")]),
    ("sort=id:asc", [("id", "asc"), ("created_at", "asc")]),
])
def test_both_sorting_syntaxes_end_with_created_at_and_id(text, sort):
    assert query(text).sort == sort


@pytest.mark.parametrize("text, message", [
    ("sort_key=owner", "Invalid sort key: owner. It must be one of the following: name, "
                       "status, container_format, disk_format, size, id, created_at, "
                       "updated_at."),
    ("sort_dir=up", "Invalid sort direction: up"),
    ("sort=name&sort_key=size", "Old and new sorting syntax cannot be combined"),
    ("sort_key=name&sort_dir=asc&sort_dir=desc&sort_dir=asc",
     "Number of sort dirs does not match the number of sort keys"),
    ("visibility=everyone", "Invalid visibility value: everyone"),
    ("member_status=maybe", "Invalid status: maybe"),
    ("changes-since=2026-01-01", 'The "changes-since" filter is no longer available on v2.'),
    ("os_hidden=yes", "Invalid value 'yes' for 'os_hidden' filter. Valid values are 'true' "
                      "or 'false'."),
    ("protected=True", "Invalid value 'True' for 'protected' filter. Valid values are "
                       "'true' or 'false'."),
])
def test_bad_query_parameters_get_glances_400(text, message):
    with pytest.raises(WebobError) as err:
        query(text)
    assert err.value.status == 400 and err.value.explanation == message


@pytest.mark.parametrize("text, message", [
    ("size_min=big", "Unable to filter on a range with a non-numeric value."),
    ("created_at=gte:yesterday", 'Bad "created_at" query filter format. Use ISO 8601 '
                                 'DateTime notation.'),
    ("updated_at=around:2026-01-01T00:00:00Z", "Unable to filter on a unknown operator."),
    ("name=like:foo", "Unable to filter by unknown operator 'like'."),
    ('name=in:"a,b', 'Invalid filter value "a,b. The quote is not closed.'),
])
def test_bad_filter_values_get_glances_400(text, message):
    with pytest.raises(WebobError) as err:
        image_filters(query(text))
    assert err.value.status == 400 and err.value.explanation == message


def test_filter_operators_and_iso_times():
    assert split_filter_op("2026-01-01T10:00:00Z") == ("eq", "2026-01-01T10:00:00Z")
    assert split_filter_op("gte:2026-01-01T10:00:00Z") == ("gte", "2026-01-01T10:00:00Z")
    assert split_filter_op("in:a,b") == ("in", "a,b")
    assert split_in_values('a,"b,c",d') == ["a", "b,c", "d"]


# -- filters -------------------------------------------------------------------------------

def test_filters_on_attributes_tags_ranges_times_and_properties():
    img = image(name="cirros", status="active", size=100, tags=["x86", "small"],
                properties={"os_distro": "cirros"}, disk_format="qcow2", minutes=30)
    assert listed(DEMO, img, text="name=cirros&status=active&disk_format=qcow2")
    assert listed(DEMO, img, text="name=in:ubuntu,cirros")
    assert not listed(DEMO, img, text="name=ubuntu")
    assert listed(DEMO, img, text="tag=x86&tag=small")
    assert not listed(DEMO, img, text="tag=x86&tag=arm")
    assert listed(DEMO, img, text="size_min=100&size_max=100")
    assert not listed(DEMO, img, text="size_min=101")
    assert listed(DEMO, img, text="created_at=gte:2026-01-01T12:30:00Z")
    assert not listed(DEMO, img, text="created_at=lt:2026-01-01T12:30:00Z")
    assert listed(DEMO, img, text="os_distro=cirros&owner=demo")
    assert not listed(DEMO, img, text="os_distro=ubuntu")


def test_hidden_images_show_only_when_asked_for():
    img = image(os_hidden=True)
    assert not listed(DEMO, img)
    assert listed(DEMO, img, text="os_hidden=true")


# -- who sees what -------------------------------------------------------------------------

def test_private_images_are_their_projects_own():
    img = image(visibility="private")
    assert can_see(DEMO, img, None) and listed(DEMO, img)
    assert not can_see(OTHER, img, None) and not listed(OTHER, img)
    assert can_see(ADMIN, img, None) and listed(ADMIN, img)


def test_public_images_are_everyones():
    img = image(visibility="public")
    assert can_see(OTHER, img, None) and listed(OTHER, img)


def test_community_images_are_seen_by_all_but_listed_only_when_asked_for():
    img = image(visibility="community")
    assert can_see(OTHER, img, None)
    assert not listed(OTHER, img)
    assert listed(OTHER, img, text="visibility=community")
    assert listed(OTHER, img, text="visibility=all")
    assert listed(DEMO, img)  # the owner lists its own community images


def test_shared_images_reach_members_by_membership_status():
    img = image(visibility="shared")
    pending = Member("i", "other", T0, T0, "pending")
    accepted = Member("i", "other", T0, T0, "accepted")
    assert not can_see(OTHER, img, None)
    assert can_see(OTHER, img, pending)
    assert not listed(OTHER, img, pending)
    assert listed(OTHER, img, pending, "member_status=pending")
    assert listed(OTHER, img, pending, "member_status=all")
    assert listed(OTHER, img, accepted)
    assert listed(OTHER, img, accepted, "visibility=shared")
    assert not listed(OTHER, img, accepted, "visibility=private")


# -- order and pages -----------------------------------------------------------------------

def test_sorting_puts_missing_values_first_ascending_and_breaks_ties_by_id():
    images = [image(id="b", name="n", minutes=1), image(id="a", name=None, minutes=2),
              image(id="c", name="n", minutes=1)]
    ordered = sort_images(images, full_sort(["name"], ["asc"]))
    assert [i.id for i in ordered] == ["a", "b", "c"]
    newest = sort_images(images, full_sort(["created_at"], ["desc"]))
    assert [i.id for i in newest] == ["a", "c", "b"]


def test_the_marker_is_a_position_in_the_order_not_in_the_page():
    sort = full_sort(["name"], ["asc"])
    marker = image(id="m", name="m")
    assert comes_after(image(id="z", name="n"), marker, sort)
    assert not comes_after(image(id="a", name="l"), marker, sort)
    assert not comes_after(marker, marker, sort)


def test_links_keep_the_query_drop_the_old_marker_and_collapse_repeated_keys():
    pairs = [("limit", "2"), ("sort_key", "name"), ("marker", "old"), ("sort_key", "size")]
    links = list_links(pairs, "new")
    assert links == {"first": "/v2/images?limit=2&sort_key=size",
                     "next": "/v2/images?limit=2&sort_key=size&marker=new"}
    assert list_links([], None) == {"first": "/v2/images"}
    assert list_links([("name", "a b")], None) == {"first": "/v2/images?name=a+b"}
