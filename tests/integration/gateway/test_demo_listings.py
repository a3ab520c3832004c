"""``ocx demo`` with the real ``openstack`` command: one listing shows every cloud's resources.

A server, a volume, an image, a network and a port are made directly in each of the three
clouds; ``openstack --os-cloud ocx ... list`` with the command's own paging flags (``--limit``,
``--marker``, ``--max-items``) then lists those of all three, each once, as the clouds list them
directly.
"""
from __future__ import annotations

from collections.abc import Iterator

import pytest

from .demo_fixture import Demo, run_demo
from .test_demo_cli import CLOUDS, Made, make_everywhere


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Iterator[Demo]:
    with run_demo(tmp_path_factory.mktemp("demo")) as running:
        yield running


@pytest.fixture(scope="module")
def made(demo) -> dict[str, Made]:
    return make_everywhere(demo, "listed")


def directly(demo: Demo) -> dict[str, set[str]]:
    """The ids each kind has in any cloud, as the clouds list them themselves."""
    found: dict[str, set[str]] = {"server": set(), "volume": set(), "image": set(), "port": set()}
    for cloud in CLOUDS:
        conn = demo.connect(cloud)
        found["server"] |= {s.id for s in conn.compute.servers()}
        found["volume"] |= {v.id for v in conn.block_storage.volumes()}
        found["image"] |= {i.id for i in conn.image.images()}
        found["port"] |= {p.id for p in conn.network.ports()}
    return found


def ids(rows: list[dict]) -> list[str]:
    return [row["ID"] for row in rows]


def test_cli_listings_page_through_the_resources_of_all_three_clouds(demo, made):
    expected = directly(demo)
    for kind, every in expected.items():
        assert {m.ids[kind] for m in made.values()} <= every, kind
    (volumes, ports, servers, servers_first, images, images_first, ports_first) = demo.openstack(
        "ocx",
        "volume list --limit 1 -f json",       # pages of one, all of them
        "port list --limit 1 -f json",
        "server list -f json",
        "server list --limit 2 -f json",       # the first two only
        # ``image list`` sorts what it gets by name unless told the order the service used.
        "image list --sort created_at:desc -f json",
        "image list --sort created_at:desc --limit 2 -f json",
        "port list --limit 1 --max-items 2 -f json")
    servers_rest, images_rest, ports_rest = demo.openstack(
        "ocx",
        f"server list --limit 2 --marker {ids(servers_first)[-1]} -f json",
        f"image list --sort created_at:desc --limit 2 --marker {ids(images_first)[-1]} "
        "-f json",
        f"port list --limit 1 --marker {ids(ports_first)[-1]} -f json")

    for kind, rows in (("volume", volumes), ("port", ports), ("server", servers),
                       ("image", images)):
        assert len(ids(rows)) == len(set(ids(rows))), f"a {kind} listed twice"
        assert set(ids(rows)) == expected[kind], kind
    assert [len(servers_first), len(images_first), len(ports_first)] == [2, 2, 2]
    # Resuming after an id the listing gave goes on in the same order over every cloud.
    assert ids(servers_first + servers_rest) == ids(servers)
    assert ids(images_first + images_rest) == ids(images)
    assert ids(ports_first + ports_rest) == ids(ports)
