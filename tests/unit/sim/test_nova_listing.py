"""Server listings: Nova's query rules, filters, sorting and paging, without a server."""
from __future__ import annotations

import datetime as dt

import pytest

from ocx.sim.errors import SimError
from ocx.sim.nova import (
    FLAVORS,
    Instance,
    Vif,
    page_servers,
    parse_server_query,
    select_flavors,
    server_matches,
    status_of,
    v,
)

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)


def instance(seq: int, name: str, **attrs) -> Instance:
    created = T0 + dt.timedelta(minutes=seq)
    return Instance(uuid=f"00000000-0000-0000-0000-{seq:012d}", seq=seq, name=name,
                    project_id="p1", user_id="u1", flavor=FLAVORS[attrs.pop("flavor", "1")],
                    image_ref=attrs.pop("image_ref", "img"), host="compute-1",
                    created_at=created, updated_at=created,
                    **{"vm_state": "active", "task_state": None, **attrs})


def query(text: str, version: str = "2.1", admin: bool = False, detail: bool = True):
    params: dict[str, list[str]] = {}
    for part in filter(None, text.split("&")):
        key, _, value = part.partition("=")
        params.setdefault(key, []).append(value)
    return parse_server_query(params, v(version), is_admin=admin, detail=detail)


SERVERS = [instance(1, "web-1"), instance(2, "web-2", vm_state="stopped"),
           instance(3, "db-1", flavor="2"), instance(4, "web-3", task_state="rebooting")]


def names(q, servers=SERVERS, marker=None) -> list[str]:
    return [s.name for s in page_servers([s for s in servers if server_matches(s, q)], q,
                                         marker)]


def test_the_default_order_is_newest_first():
    assert names(query("")) == ["web-3", "db-1", "web-2", "web-1"]


def test_sort_keys_and_directions():
    assert names(query("sort_key=display_name&sort_dir=asc")) == [
        "db-1", "web-1", "web-2", "web-3"]
    assert names(query("sort_key=display_name")) == ["web-3", "web-2", "web-1", "db-1"]
    assert names(query("sort_key=id&sort_dir=asc")) == ["web-1", "web-2", "db-1", "web-3"]
    with pytest.raises(SimError) as bad:
        query("sort_key=colour")
    assert bad.value.message.startswith(
        "Invalid input for query parameters sort_key. Value: colour. 'colour' is not one of")
    with pytest.raises(SimError) as ignored_no_more:
        query("sort_key=id", version="2.75")
    assert ignored_no_more.value.status == 400
    with pytest.raises(SimError) as admin_only:
        query("sort_key=host")
    assert (admin_only.value.status, admin_only.value.message) == (
        403, "Only administrators can sort servers by host")
    assert query("sort_key=host", admin=True).sort[0] == ("host", "desc")
    with pytest.raises(SimError) as direction:
        query("sort_dir=sideways")
    assert direction.value.message == ("Invalid input received: Unknown sort direction, must "
                                       "be 'desc' or 'asc'")


def test_name_is_a_regular_expression_and_status_maps_to_states():
    assert names(query("name=^web-[12]$")) == ["web-2", "web-1"]
    assert names(query("status=SHUTOFF")) == ["web-2"]
    assert names(query("status=active&status=reboot")) == ["web-3", "db-1", "web-1"]
    assert names(query("flavor=2")) == ["db-1"]
    assert names(query("image=img&name=db")) == ["db-1"]
    assert status_of("active", "rebooting") == "REBOOT"
    assert status_of("building", "spawning") == "BUILD"


def test_an_unknown_status_is_empty_before_2_38_and_refused_from_then():
    assert names(query("status=SLEEPY")) == []
    with pytest.raises(SimError) as err:
        query("status=SLEEPY", version="2.38")
    assert err.value.message == "Invalid status value"


def test_admin_filters_are_dropped_for_users_and_unknown_ones_refused_from_2_75():
    assert names(query("host=elsewhere")) == ["web-3", "db-1", "web-2", "web-1"]
    assert names(query("host=elsewhere", admin=True)) == []
    assert names(query("whatever=1")) == ["web-3", "db-1", "web-2", "web-1"]
    with pytest.raises(SimError) as err:
        query("whatever=1", version="2.75")
    assert err.value.message == "Additional properties are not allowed ('whatever' was unexpected)"


def test_all_tenants_is_an_administrators():
    with pytest.raises(SimError) as err:
        query("all_tenants=1")
    assert (err.value.status, err.value.message) == (
        403, "Policy doesn't allow os_compute_api:servers:detail:get_all_tenants to be "
             "performed.")
    assert query("all_tenants=1", admin=True).all_tenants
    assert not query("all_tenants=0", admin=True).all_tenants


def test_changes_since_includes_deleted_servers_and_must_be_a_time():
    q = query("changes-since=2026-01-01T00:02:30Z")
    assert q.include_deleted
    assert names(q) == ["web-3", "db-1"]
    with pytest.raises(SimError) as err:
        query("changes-since=yesterday")
    assert err.value.message == ("Invalid input for query parameters changes-since. Value: "
                                 "yesterday. 'yesterday' is not a 'date-time'")
    with pytest.raises(SimError) as order:
        query("changes-since=2026-01-02T00:00:00Z&changes-before=2026-01-01T00:00:00Z",
              version="2.66")
    assert order.value.message == ("The value of changes-since must be less than or equal to "
                                   "changes-before.")


def test_ip_filters_match_fixed_addresses():
    with_ip = instance(5, "net", vifs=[Vif("p", "n", "private", "fa:16:3e:00:00:01",
                                           ["10.0.0.5", "fd00::5"], False)])
    assert names(query("ip=10.0.0"), servers=[with_ip]) == ["net"]
    assert names(query("ip=10.9"), servers=[with_ip]) == []
    assert names(query("ip6=fd00", version="2.5"), servers=[with_ip]) == ["net"]


def test_paging_after_a_marker_and_limits():
    q = query("limit=2&sort_key=display_name&sort_dir=asc")
    assert names(q) == ["db-1", "web-1"]
    assert names(q, marker=SERVERS[0]) == ["web-2", "web-3"]
    filtered_out = query("name=web&limit=5&sort_key=display_name&sort_dir=asc")
    assert names(filtered_out, marker=SERVERS[2]) == ["web-1", "web-2", "web-3"]
    assert query("limit=5000").limit == 1000
    with pytest.raises(SimError) as err:
        query("limit=-1")
    assert err.value.message == ("Invalid input for query parameters limit. Value: -1. '-1' "
                                 "does not match '^[0-9]*$'")


def test_flavor_listing_sorts_filters_and_pages():
    def ids(text: str, version: str = "2.1", admin: bool = False) -> list[str]:
        params = {}
        for part in filter(None, text.split("&")):
            key, _, value = part.partition("=")
            params[key] = [value]
        return [f.flavorid for f in select_flavors(params, v(version), admin).items]

    assert ids("") == ["1", "2", "3", "4", "42", "5", "84"]  # flavorid is a string column
    assert ids("sort_key=memory_mb&sort_dir=desc")[:2] == ["5", "4"]
    assert ids("minRam=8192") == ["4", "5"]
    assert ids("limit=2&marker=2") == ["3", "4"]
    assert ids("is_public=false", admin=True) == []
    for text, message in (("marker=9", "marker [9] not found"),
                          ("minRam=lots", "Invalid minRam filter [lots]")):
        with pytest.raises(SimError) as err:
            ids(text)
        assert err.value.message == message
    with pytest.raises(SimError):
        ids("colour=red", version="2.75")
