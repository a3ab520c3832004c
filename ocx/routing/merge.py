"""Merge engine for listings over many clouds. Pure: no I/O.

One listing over several providers must read as if one cloud held every resource:

- ``*_sort(query)`` turns a service's own sort parameters into a ``SortSpec``: the full order the
  service's database applies, tie-breakers included, in terms of the fields of the items it
  returns.
- ``Cursor`` says where each provider stands; ``Cursor.requests`` gives, per provider, the marker
  to ask it with. Each provider is asked for ``limit`` items after its own marker, never more.
- ``merge_page`` merges the providers' batches (each already sorted by its provider) into the
  first ``limit`` items of the merged order, and the cursor that resumes after them.
- ``encode_marker``/``decode_marker`` turn a cursor into the opaque, signed ``marker`` of the
  ``next`` link OCX gives, and back.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import heapq
import hmac
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

Pairs = Iterable[tuple[str, str]]
DIRECTIONS = ("asc", "desc")


class SortError(ValueError):
    """Sort parameters the service itself would refuse (the caller answers the service's 400)."""


class InvalidMarker(ValueError):
    """A marker that looks like OCX's but is forged, altered or malformed."""


# -- the order ------------------------------------------------------------------------------

def _sort_value(value: Any) -> tuple:
    # As the services' databases order them: NULL first ascending, mixed types by their text.
    # ocx/sim/paging.py orders the simulated services the same way on purpose; the gateway may
    # not import the simulator, and a property test holds the two orders equal.
    if value is None:
        return (0, "")
    if isinstance(value, bool):
        return (1, int(value))
    if isinstance(value, (int, float)):
        return (1, value)
    return (2, str(value))


class _Descending:
    """A sort value that orders the other way round."""

    __slots__ = ("value",)

    def __init__(self, value: tuple) -> None:
        self.value = value

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Descending) and self.value == other.value

    def __lt__(self, other: _Descending) -> bool:
        return other.value < self.value


@dataclass(frozen=True)
class SortSpec:
    """The complete order of a listing: ``(field, "asc"|"desc")``, most significant first.

    The last keys are the service's tie-breakers (``created_at``, ``id``), so that two items
    compare equal only if the service itself could not tell them apart.
    """

    keys: tuple[tuple[str, str], ...]

    def key(self, item: Mapping[str, Any]) -> tuple:
        """A value that orders items as the service does (for ``sorted``, ``heapq.merge``)."""
        return tuple(_sort_value(item.get(f)) if d == "asc"
                     else _Descending(_sort_value(item.get(f))) for f, d in self.keys)


def _check_dirs(dirs: Sequence[str]) -> None:
    for direction in dirs:
        if direction not in DIRECTIONS:
            raise SortError(f"Unknown sort direction {direction!r}, must be 'desc' or 'asc'")


def _with_tiebreakers(keys: list[str], dirs: list[str], tiebreakers: Sequence[str],
                      default: str) -> list[tuple[str, str]]:
    pairs = list(zip(keys, dirs))
    pairs += [(key, default) for key in tiebreakers if key not in keys]
    return pairs


def _values(pairs: Pairs, name: str) -> list[str]:
    return [v.strip() for k, v in pairs if k == name]


# Nova sorts servers by database columns; the items it returns name them differently.
# ``id`` stands for Nova's own tie-breaker, the database row id, which no API shows: servers of
# one cloud equal on every other key keep that cloud's order (``heapq.merge`` never reorders
# a stream), so paging stays exact; only where they fall among another cloud's equals may differ.
NOVA_SERVER_FIELDS: Mapping[str, str] = {
    "display_name": "name", "uuid": "id", "created_at": "created", "updated_at": "updated",
    "display_description": "description", "access_ip_v4": "accessIPv4",
    "access_ip_v6": "accessIPv6", "project_id": "tenant_id",
    "host": "OS-EXT-SRV-ATTR:host", "hostname": "OS-EXT-SRV-ATTR:hostname",
    "node": "OS-EXT-SRV-ATTR:hypervisor_hostname",
    "availability_zone": "OS-EXT-AZ:availability_zone", "vm_state": "OS-EXT-STS:vm_state",
    "task_state": "OS-EXT-STS:task_state", "power_state": "OS-EXT-STS:power_state",
    "launched_at": "OS-SRV-USG:launched_at", "terminated_at": "OS-SRV-USG:terminated_at",
    "launch_index": "OS-EXT-SRV-ATTR:launch_index",
}


def nova_sort(pairs: Pairs, ignored: Iterable[str] = ()) -> SortSpec:
    """Nova's ``process_sort_params`` for servers: repeated ``sort_key``/``sort_dir``.

    Directions pair with keys in order; missing ones take the first direction (default
    ``desc``); ``created_at`` then the row id (here: ``id``) break ties in that direction.
    ``ignored`` are the keys the microversion accepts but drops.
    """
    pairs = list(pairs)
    skip = set(ignored)
    keys = [k for k in _values(pairs, "sort_key") if k not in skip]
    dirs = _values(pairs, "sort_dir")
    _check_dirs(dirs)
    if len(dirs) > max(len(keys), 1):
        raise SortError("Sort direction size exceeds sort key size")
    default = dirs[0] if dirs else "desc"
    dirs += [default] * (len(keys) - len(dirs))
    order = _with_tiebreakers(keys, dirs, ("created_at", "uuid"), default)
    return SortSpec(tuple((NOVA_SERVER_FIELDS.get(k, k), d) for k, d in order))


def cinder_sort(pairs: Pairs) -> SortSpec:
    """Cinder's ``get_sort_params`` + ``process_sort_params``.

    ``sort=key[:dir],...`` (a missing direction is ``desc``) or the legacy single
    ``sort_key``/``sort_dir`` (default ``created_at``, ``desc``), not both; ``created_at`` then
    ``id`` break ties in the first direction.
    """
    params = dict(pairs)  # Cinder reads one value per parameter
    if "sort" in params and ("sort_key" in params or "sort_dir" in params):
        raise SortError("The 'sort_key' and 'sort_dir' parameters are deprecated and cannot "
                        "be used with the 'sort' parameter.")
    keys, dirs = [], []
    if "sort" in params:
        for part in params["sort"].strip().split(","):
            key, _, direction = part.partition(":")
            keys.append(key.strip())
            dirs.append((direction or "desc").strip())
    else:
        keys.append(params.get("sort_key", "created_at").strip())
        dirs.append(params.get("sort_dir", "desc").strip())
    _check_dirs(dirs)
    keys = ["name" if k == "display_name" else k for k in keys]  # the column behind ``name``
    return SortSpec(tuple(_with_tiebreakers(keys, dirs, ("created_at", "id"), dirs[0])))


def glance_sort(pairs: Pairs) -> SortSpec:
    """Glance's ``_get_sorting_params`` and database order for images.

    ``sort=key[:dir],...`` (missing direction ``desc``) or repeated ``sort_key``/``sort_dir``
    (one direction applies to every key); default ``created_at desc``; ``created_at`` and
    ``id`` are appended in the single direction given, else ``desc``.
    """
    pairs = list(pairs)
    sorts = _values(pairs, "sort")
    keys: list[str] = []
    dirs: list[str] = []
    if sorts:
        if _values(pairs, "sort_key") or _values(pairs, "sort_dir"):
            raise SortError("Old and new sorting syntax cannot be combined")
        for part in sorts[0].split(","):
            key, _, direction = part.partition(":")
            keys.append(key.strip())
            dirs.append((direction or "desc").strip())
    else:
        keys, dirs = _values(pairs, "sort_key"), _values(pairs, "sort_dir")
        if len(dirs) > 1 and len(dirs) != len(keys):
            raise SortError("Number of sort dirs does not match the number of sort keys")
    keys, dirs = keys or ["created_at"], dirs or ["desc"]
    _check_dirs(dirs)
    default = dirs[0] if len(dirs) == 1 else "desc"
    if len(dirs) == 1:
        dirs = dirs * len(keys)
    return SortSpec(tuple(_with_tiebreakers(keys, dirs, ("created_at", "id"), default)))


def neutron_sort(pairs: Pairs) -> SortSpec:
    """Neutron's paired ``sort_key``/``sort_dir`` (as many of each); ``id asc`` breaks ties."""
    pairs = list(pairs)
    keys = [v for v in _values(pairs, "sort_key") if v]
    dirs = [v for v in _values(pairs, "sort_dir") if v]
    if len(keys) != len(dirs):
        raise SortError("The number of sort_keys and sort_dirs must be same")
    _check_dirs(dirs)
    return SortSpec(tuple(_with_tiebreakers(keys, dirs, ("id",), "asc")))


# -- paging over providers ------------------------------------------------------------------

@dataclass(frozen=True)
class Cursor:
    """Where a merged listing stands in each provider.

    ``after[p]`` is the id of the last item of provider ``p`` already returned (no entry: none
    yet); ``done`` are the providers known to have nothing after it. ``last`` is the fold
    signature of the last item returned, so that a duplicate of it opening the next page is
    folded too (see ``merge_page``).
    """

    after: Mapping[str, str] = field(default_factory=dict)
    done: frozenset[str] = frozenset()
    last: str | None = None

    def requests(self, providers: Iterable[str]) -> dict[str, str | None]:
        """Per provider still worth asking, the marker to ask it with (None: from the start)."""
        return {p: self.after.get(p) for p in providers if p not in self.done}


@dataclass(frozen=True)
class Batch:
    """What one provider answered: its next items in its own order.

    ``more``: the provider may hold items after these (it gave as many as it was asked for).
    """

    items: Sequence[dict]
    more: bool


@dataclass(frozen=True)
class Page:
    """One merged page: ``(provider, item)`` in order, and the cursor after it (None: the end).

    ``position`` is where every provider stands after the page, even the last one.
    """

    entries: list[tuple[str, dict]]
    next: Cursor | None
    position: Cursor = Cursor()

    @property
    def items(self) -> list[dict]:
        return [item for _, item in self.entries]


def fold_signature(item: Mapping[str, Any], id_field: str = "id") -> str:
    """Two items with the same signature are one resource every cloud has (a flavor).

    Links differ per cloud and are left out; everything else must be equal.
    """
    body = {k: v for k, v in item.items() if k != "links"}
    digest = hashlib.sha256(orjson.dumps(body, option=orjson.OPT_SORT_KEYS)).digest()
    return f"{item.get(id_field)}:{_b64(digest[:12])}"


def merge_page(batches: Mapping[str, Batch], spec: SortSpec, limit: int,
               cursor: Cursor = Cursor(), id_field: str = "id", fold: bool = False) -> Page:
    """The first ``limit`` items of the merged order after ``cursor``, and the next cursor.

    ``batches[p]`` is what provider ``p`` answered when asked (``Cursor.requests``) for the
    items after its marker, in its own order. The merge takes the smallest head among the
    providers, keeping each provider's own order and, among equals, the order of ``batches``;
    it stops when the page is full or when a provider that has ``more`` runs out of given items
    (what it holds next is unknown). The next cursor moves each provider to its last item taken;
    items it gave that were not taken are asked again next time, so nothing is skipped or
    repeated. A provider without ``more`` whose items were all taken is done. A provider absent
    from ``batches`` (down, too slow) keeps its position, but only the providers that answered
    decide whether there is a next page.

    ``fold``: an item with the same :func:`fold_signature` as the item taken just before it is
    the same resource seen in another cloud; it is passed over, not shown twice.
    """
    if limit < 1:
        raise ValueError("limit must be at least 1")
    order = list(batches)
    heads = [(spec.key(batch.items[0]), rank, 0) for rank, batch in
             enumerate(batches.values()) if batch.items]
    heapq.heapify(heads)
    entries: list[tuple[str, dict]] = []
    after = dict(cursor.after)
    used = dict.fromkeys(order, 0)
    last = cursor.last
    while heads and len(entries) < limit:
        _, rank, position = heapq.heappop(heads)
        provider = order[rank]
        batch = batches[provider]
        item = batch.items[position]
        after[provider] = str(item[id_field])
        used[provider] += 1
        signature = fold_signature(item, id_field) if fold else None
        if signature is None or signature != last:
            entries.append((provider, item))
        last = signature
        if position + 1 < len(batch.items):
            heapq.heappush(heads, (spec.key(batch.items[position + 1]), rank, position + 1))
        elif batch.more:
            break  # what this provider holds next is unknown: the page ends here
    done = set(cursor.done) | {p for p, batch in batches.items()
                               if not batch.more and used[p] == len(batch.items)}
    finished = all(p in done for p in batches)
    position = Cursor(after, frozenset(done), last)
    return Page(entries, None if finished else position, position)


# -- the marker OCX hands out ---------------------------------------------------------------

MARKER_PREFIX = "ocx1."
MAX_MARKER_LENGTH = 16384
_SIGNATURE_BYTES = 16


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _signature(key: bytes, body: str) -> str:
    return _b64(hmac.new(key, body.encode("ascii"), hashlib.sha256).digest()[:_SIGNATURE_BYTES])


def encode_marker(cursor: Cursor, key: bytes, context: str = "") -> str:
    """``cursor`` as an opaque, URL-safe marker signed with ``key`` (HMAC-SHA256).

    ``context`` (the listing it belongs to) is signed with it: a marker of one listing is
    refused by another.
    """
    payload = {"c": context, "a": dict(sorted(cursor.after.items())), "d": sorted(cursor.done)}
    if cursor.last is not None:
        payload["l"] = cursor.last
    body = MARKER_PREFIX + _b64(orjson.dumps(payload))
    return f"{body}.{_signature(key, body)}"


def decode_marker(marker: str, key: bytes, context: str = "") -> Cursor | None:
    """The cursor in a marker OCX issued; None if ``marker`` is not an OCX marker at all.

    A plain provider resource id (from a client that listed one cloud) gives None: the caller
    resolves it. Raises ``InvalidMarker`` for anything with OCX's prefix that was not signed
    with ``key`` or does not hold a cursor.
    """
    if not marker.startswith(MARKER_PREFIX):
        return None
    body, _, signature = marker.rpartition(".")
    if (len(marker) > MAX_MARKER_LENGTH or not marker.isascii()
            or body == MARKER_PREFIX.rstrip(".") or not signature):
        raise InvalidMarker("malformed marker")
    if not hmac.compare_digest(signature, _signature(key, body)):
        raise InvalidMarker("marker signature does not match")
    try:
        payload = orjson.loads(_unb64(body[len(MARKER_PREFIX):]))
    except (binascii.Error, ValueError) as exc:
        raise InvalidMarker("malformed marker") from exc
    if not isinstance(payload, dict):
        raise InvalidMarker("malformed marker")
    after, done, last = payload.get("a"), payload.get("d"), payload.get("l")
    if not (isinstance(after, dict) and all(isinstance(v, str) for v in after.values())
            and isinstance(done, list) and all(isinstance(p, str) for p in done)
            and (last is None or isinstance(last, str))):
        raise InvalidMarker("malformed marker")
    if payload.get("c", "") != context:
        raise InvalidMarker("marker of another listing")
    return Cursor(after, frozenset(done), last)
