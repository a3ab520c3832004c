"""Sorting, filtering and paging of resource lists, as the real services' databases do it.

Pure functions over lists of dicts; each service decides which keys and messages it uses.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any


class MarkerNotFound(LookupError):
    """The ``marker`` names no resource in the list."""


def _sort_value(value: Any) -> tuple:
    # Databases put NULL first in ascending order; mixed types compare by their text.
    if value is None:
        return (0, "")
    if isinstance(value, bool):
        return (1, int(value))
    if isinstance(value, (int, float)):
        return (1, value)
    return (2, str(value))


def sort_items(items: Iterable[dict], keys: Sequence[tuple[str, str]],
               tiebreak: str = "id") -> list[dict]:
    """Sort by ``[(key, "asc"|"desc"), ...]``; ties broken by ``tiebreak`` in the last direction.

    Real services append the primary key to the sort keys so that paging is stable; so do we.
    """
    keys = list(keys)
    if tiebreak not in [k for k, _ in keys]:
        keys.append((tiebreak, keys[-1][1] if keys else "asc"))
    result = list(items)
    for key, direction in reversed(keys):  # stable sort, least significant key first
        result.sort(key=lambda item, k=key: _sort_value(item.get(k)),
                    reverse=direction == "desc")
    return result


def page(items: Sequence[dict], limit: int | None, marker: str | None,
         key: str = "id") -> tuple[list[dict], bool]:
    """The items after ``marker`` (by ``key``), at most ``limit`` of them, and whether more follow."""
    start = 0
    if marker is not None:
        for i, item in enumerate(items):
            if item.get(key) == marker:
                start = i + 1
                break
        else:
            raise MarkerNotFound(marker)
    if limit is None:
        return list(items[start:]), False
    chunk = list(items[start:start + limit])
    return chunk, start + limit < len(items)


def matches(item: dict, filters: dict[str, Any]) -> bool:
    """Exact-match filtering; a list of accepted values matches any of them."""
    for key, wanted in filters.items():
        value = item.get(key)
        if isinstance(wanted, list):
            if value not in wanted and str(value) not in [str(w) for w in wanted]:
                return False
        elif value != wanted and str(value) != str(wanted):
            return False
    return True


def parse_sort_param(value: str, default_dir: str = "asc") -> list[tuple[str, str]]:
    """Cinder's and Glance's ``sort=key1:dir1,key2`` form."""
    result = []
    for part in value.split(","):
        part = part.strip()
        if not part:
            continue
        key, _, direction = part.partition(":")
        result.append((key.strip(), (direction.strip() or default_dir).lower()))
    return result
